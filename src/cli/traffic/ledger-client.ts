// HTTP to a ledger given several URLs: an attempt that gets no definite answer moves to the next URL, and a
// command is retried with the same Idempotency-Key until its outcome is definite or the bound runs out.
// Definite: 2xx (applied; the receipt says what) and a 4xx that means "refused, nothing written". Not
// definite: a timeout, a connection error, a 5xx (503 unavailable / outcome_unknown / overloaded), and the
// 4xx that ask for a retry (408, 429, 409 concurrency_conflict).
import { setTimeout as sleep } from 'node:timers/promises';

export type Answer =
  | { kind: 'answer'; url: string; status: number; body: any; replayed: boolean }
  | { kind: 'no_answer'; url: string; error: string };

/** No URL gave an answer to a read within its bound. */
export class NoAnswerError extends Error {
  override name = 'NoAnswerError';
}

export interface LedgerClientOptions {
  urls: string[];
  key: string | undefined;
  attemptTimeoutMs: number;
  /** Index of the URL to start with (spreads clients over the URLs). */
  startAt?: number;
}

export class LedgerClient {
  private current: number;

  constructor(private readonly options: LedgerClientOptions) {
    if (options.urls.length === 0) throw new Error('no URL');
    this.current = (options.startAt ?? 0) % options.urls.length;
  }

  get url(): string {
    return this.options.urls[this.current]!;
  }

  /** The next URL, after an attempt without a definite answer. */
  failOver(): void {
    this.current = (this.current + 1) % this.options.urls.length;
  }

  /** One attempt on the current URL. */
  async send(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Answer> {
    const url = this.url;
    const timeout = AbortSignal.timeout(this.options.attemptTimeoutMs);
    try {
      const response = await fetch(new URL(path, url), {
        method,
        headers: {
          ...(this.options.key === undefined ? {} : { authorization: `Bearer ${this.options.key}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch { /* not JSON: keep the text */ }
      return { kind: 'answer', url, status: response.status, body: parsed, replayed: response.headers.get('idempotent-replayed') === 'true' };
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      return { kind: 'no_answer', url, error: timeout.aborted ? 'timeout' : cause ?? (error as Error).message };
    }
  }

  /**
   * A read that must succeed: tried on every URL in turn, with backoff, for at most `giveUpMs`; throws then.
   * 2xx and 4xx are answers; anything else is tried again.
   */
  async read(path: string, giveUpMs: number, backoffMs: readonly number[]): Promise<{ status: number; body: any }> {
    const end = Date.now() + giveUpMs;
    let last = '';
    for (let n = 0; ; n++) {
      const answer = await this.send('GET', path);
      if (answer.kind === 'answer' && answer.status < 500) return answer;
      last = answer.kind === 'answer' ? `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` : answer.error;
      this.failOver();
      if (Date.now() >= end) throw new NoAnswerError(`GET ${path}: no answer from ${this.options.urls.join(', ')} (${last})`);
      await sleep(backoffMs[Math.min(n, backoffMs.length - 1)]!);
    }
  }
}

export type Resolution =
  | { outcome: 'acknowledged'; attempts: number; status: number; receipt: Receipt; replayed: boolean; url: string }
  | { outcome: 'refused'; attempts: number; status: number; code: string; url: string }
  | { outcome: 'unknown'; attempts: number; error: string };

export interface Receipt {
  commandId: string;
  eventIds: string[];
  globalPosition: number;
}

/** Whether an answer settles the command's outcome. */
export function isDefinite(status: number, code: string | undefined): boolean {
  if (status >= 200 && status < 300) return true;
  if (status === 408 || status === 429) return false;
  if (status === 409 && code === 'concurrency_conflict') return false;
  return status >= 400 && status < 500;
}

export interface ResolveOptions {
  giveUpMs: number;
  backoffMs: readonly number[];
  /** Stop retrying (SIGINT): the outcome stays unknown. */
  signal?: AbortSignal;
  /** Called with every answer and non-answer, for the figures. */
  onAttempt?: (answer: Answer) => void;
}

/**
 * Sends a command with its Idempotency-Key (also its X-Correlation-Id, so its events can be found in $all by
 * it) until its outcome is definite, each attempt on the next URL after one without an answer.
 */
export async function resolveCommand(client: LedgerClient, path: string, body: unknown, key: string, options: ResolveOptions): Promise<Resolution> {
  const end = Date.now() + options.giveUpMs;
  let error = '';
  for (let attempts = 1; ; attempts++) {
    const answer = await client.send('POST', path, body, { 'idempotency-key': key, 'x-correlation-id': key }, options.signal);
    options.onAttempt?.(answer);
    if (answer.kind === 'answer') {
      const code = typeof answer.body?.error?.code === 'string' ? answer.body.error.code as string : undefined;
      if (isDefinite(answer.status, code)) {
        if (answer.status < 300) {
          const { commandId, eventIds, globalPosition } = answer.body as Receipt;
          return { outcome: 'acknowledged', attempts, status: answer.status, receipt: { commandId, eventIds, globalPosition }, replayed: answer.replayed, url: answer.url };
        }
        return { outcome: 'refused', attempts, status: answer.status, code: code ?? `http_${answer.status}`, url: answer.url };
      }
      error = `${answer.status} ${code ?? ''}`.trim();
      // A refusal that asks for a retry (429, 409 conflict) stays on this URL; no answer or a 5xx moves on.
      if (answer.status >= 500) client.failOver();
    } else {
      error = answer.error;
      client.failOver();
    }
    if (options.signal?.aborted || Date.now() >= end) return { outcome: 'unknown', attempts, error };
    try {
      await sleep(options.backoffMs[Math.min(attempts - 1, options.backoffMs.length - 1)]!, undefined, options.signal ? { signal: options.signal } : {});
    } catch {
      return { outcome: 'unknown', attempts, error };
    }
  }
}
