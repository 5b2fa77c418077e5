// A small Server-Sent Events client over fetch, for the subscription tests: parses the stream as EventSource
// would (id, event, data, comments) and lets a test wait for a condition on what has arrived.
import type { RecordedEvent } from '../../src/ports/event-store.js';

export interface SseMessage { id: string | undefined; event: string; data: string }

export class SseReader {
  readonly messages: SseMessage[] = [];
  readonly comments: string[] = [];
  ended = false;
  private buffer = '';
  private fields: { id?: string; event?: string; data: string[] } = { data: [] };
  private readonly decoder = new TextDecoder();
  private waiters: (() => void)[] = [];

  constructor(readonly response: Response) {
    void this.pump();
  }

  private async pump() {
    const reader = this.response.body!.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.feed(this.decoder.decode(value, { stream: true }));
      }
    } catch {
      // aborted
    } finally {
      this.ended = true;
      this.wake();
    }
  }

  private feed(text: string) {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (match[0] === '\r' && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
    this.wake();
  }

  private line(line: string) {
    if (line === '') {
      if (this.fields.data.length > 0) {
        this.messages.push({ id: this.fields.id, event: this.fields.event ?? 'message', data: this.fields.data.join('\n') });
      }
      this.fields = { data: [] };
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).trim());
      return;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') this.fields.data.push(value);
    else if (name === 'id') this.fields.id = value;
    else if (name === 'event') this.fields.event = value;
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `predicate` holds (re-checked on every chunk), or fails after timeoutMs. */
  async until(predicate: () => boolean, timeoutMs = 5_000, what = 'condition') {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (this.ended) throw new Error(`stream ended before ${what} (${this.messages.length} messages)`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${this.messages.length} messages)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }

  /** Waits for at least n messages in all; returns all of them parsed. */
  async take(n: number, timeoutMs = 5_000): Promise<{ id: string | undefined; event: string; body: RecordedEvent }[]> {
    await this.until(() => this.messages.length >= n, timeoutMs, `${n} messages`);
    return this.events();
  }

  events() {
    return this.messages.map((m) => ({ id: m.id, event: m.event, body: JSON.parse(m.data) as RecordedEvent }));
  }
}
