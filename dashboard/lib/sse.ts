// Server-Sent Events over fetch: EventSource cannot send an Authorization header, and the API wants the key
// there (never in a URL, where logs keep it). Reconnects with Last-Event-ID after a drop, so the timeline
// resumes exactly where it stopped (the API replays from that id, in commit order).
import { apiUrl, authHeaders } from './api';

export interface SseHandlers {
  onEvent: (id: string | null, data: string) => void;
  /** `stopped`: refused for good (a revoked key, a wrong role): no more attempts. */
  onState?: (state: 'connecting' | 'live' | 'retrying' | 'stopped', detail?: string) => void;
}

const RETRY_MS_DEFAULT = 1_000;
const RETRY_MS_MAX = 15_000;

export function subscribe(path: string, handlers: SseHandlers, signal: AbortSignal): void {
  let lastEventId: string | null = null;
  let retryMs = RETRY_MS_DEFAULT;
  void (async () => {
    while (!signal.aborted) {
      handlers.onState?.('connecting');
      try {
        const headers: Record<string, string> = { ...(await authHeaders()), accept: 'text/event-stream' };
        if (lastEventId !== null) headers['last-event-id'] = lastEventId;
        const response = await fetch(await apiUrl(path), { headers, signal, cache: 'no-store' });
        if (!response.ok || !response.body) {
          const text = await response.text().catch(() => '');
          let message = `${response.status}`;
          try {
            message = (JSON.parse(text) as { error: { message: string } }).error.message;
          } catch { /* not the error shape */ }
          // A 4xx will not heal by itself (a revoked key, a wrong role): say so and stop.
          if (response.status >= 400 && response.status < 500 && response.status !== 429) {
            handlers.onState?.('stopped', `refused: ${message}`);
            return;
          }
          throw new Error(message);
        }
        handlers.onState?.('live');
        retryMs = RETRY_MS_DEFAULT;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let id: string | null = null;
        let data: string[] = [];
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let newline: number;
          while ((newline = buffer.search(/\r?\n/)) >= 0) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + (buffer[newline] === '\r' ? 2 : 1));
            if (line === '') {
              if (data.length > 0) {
                if (id !== null) lastEventId = id;
                handlers.onEvent(id, data.join('\n'));
              }
              id = null;
              data = [];
            } else if (line.startsWith(':')) {
              // a heartbeat
            } else {
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'data') data.push(text);
              else if (field === 'id') id = text;
              else if (field === 'retry' && /^\d+$/.test(text)) retryMs = Math.min(Number(text), RETRY_MS_MAX);
            }
          }
        }
        handlers.onState?.('retrying', 'the stream ended');
      } catch (error) {
        if (signal.aborted) return;
        handlers.onState?.('retrying', (error as Error).message);
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, RETRY_MS_MAX);
    }
  })();
}
