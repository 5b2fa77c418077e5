// Group commit: appends that arrive while a flush is in flight wait and go together in the next one, as one
// statement and one transaction (one WAL flush instead of one per command). A flush starts after the event
// loop's turn (src/lib/turn-batch.ts, afterThisTurn), once the requests read in this turn have all submitted:
// a lone command waits for nothing but the rest of this turn, and a burst goes as one batch, not as one flush
// for its first request and another for the rest. This matters most on PGlite, whose statements run on the
// event loop's own thread: no request is read while one runs, so without it every flush took one append.
// Appends in one batch touch disjoint streams: one that shares a stream with an append already in the batch
// waits for the next (the command handler serialises each account, so for it this never happens; any other
// caller may race). A batch is all-or-none: when it does not apply (one stream was not at its expected
// version, an event id was already stored) each request goes again on its own, and only that one gets its
// exact answer.
import type { AppendRequest, AppendSuccess } from '../../../ports/event-store.js';
import { afterThisTurn } from '../../../lib/turn-batch.js';

export interface GroupCommitOptions {
  /** Requests in one batch. */
  readonly batchRequestsMax: number;
  /** Events in one batch (bounds the statement's size). */
  readonly batchEventsMax: number;
  /** Batches in flight at once; each uses one connection. */
  readonly flushesMax: number;
  /** Called with the number of appends in each flush (metrics). */
  readonly onFlush?: (appends: number) => void;
}

/** The defaults: src/domain/limits.ts. */
export { GROUP_COMMIT_DEFAULTS } from '../../../domain/limits.js';

type Flush = (batch: readonly AppendRequest[]) => Promise<AppendSuccess[] | null>;

interface Waiting {
  request: AppendRequest;
  streamIds: string[];
  events: number;
  resolve: (result: AppendSuccess | null) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private readonly schedulePump = afterThisTurn(() => this.pump());

  constructor(private readonly flush: Flush, private readonly options: GroupCommitOptions) {}

  /** The append's result, or null when it must be answered by the general path. */
  submit(request: AppendRequest): Promise<AppendSuccess | null> {
    return new Promise((resolve, reject) => {
      const events = request.streams.reduce((n, s) => n + s.events.length, 0);
      this.queue.push({ request, streamIds: request.streams.map((s) => s.streamId), events, resolve, reject });
      this.schedulePump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.flushesMax && this.queue.length > 0) {
      const batch: Waiting[] = [];
      const streams = new Set<string>();
      let events = 0;
      for (let i = 0; i < this.queue.length && batch.length < this.options.batchRequestsMax;) {
        const next = this.queue[i]!;
        if (batch.length > 0 && events + next.events > this.options.batchEventsMax) break;
        if (next.streamIds.some((id) => streams.has(id))) {
          i += 1; // shares a stream with this batch: the next one
          continue;
        }
        this.queue.splice(i, 1);
        batch.push(next);
        for (const id of next.streamIds) streams.add(id);
        events += next.events;
      }
      this.inFlight += 1;
      void this.run(batch).finally(() => {
        this.inFlight -= 1;
        this.schedulePump();
      });
    }
  }

  private async run(batch: Waiting[]): Promise<void> {
    this.options.onFlush?.(batch.length);
    try {
      const results = await this.flush(batch.map((w) => w.request));
      if (results) {
        batch.forEach((w, i) => w.resolve(results[i]!));
      } else if (batch.length === 1) {
        batch[0]!.resolve(null);
      } else {
        // Someone in the batch was stale: everyone else still appends, each on its own.
        await Promise.all(batch.map(async (w) => {
          try {
            w.resolve((await this.flush([w.request]))?.[0] ?? null);
          } catch (error) {
            w.reject(error);
          }
        }));
      }
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }
}
