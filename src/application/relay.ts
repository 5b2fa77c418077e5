// The outbox relay: the only way events leave the event store for the bus. The command path never
// publishes (no dual write); the relay follows `$all` in commit order and publishes each event, in that
// order, waiting for the bus to store it: up to 100 at once when the bus can pipeline without losing the
// order (JetStream: each message names the sequence it must follow), else one at a time.
//
// Why nothing is lost and nothing shows twice, whenever the process dies:
// - `$all` is read with followAllPages (src/application/subscription.ts): commit order, positions handed out
//   gap-free in that order, so no late commit is skipped.
// - The checkpoint (the global position of the last event the bus acknowledged) is saved only after the
//   acknowledgement, every `checkpointEveryEvents` events or `checkpointIntervalMs`, whichever comes first,
//   and publishing stops while a due save fails: at most checkpointEveryEvents events are ever published
//   past the saved checkpoint.
// - A restart resumes after the checkpoint and publishes that unsaved tail again; the bus drops those
//   re-publishes by event id (JetStream: Nats-Msg-Id within the duplicate window). No gap, no visible
//   duplicate.
// - Better still, a bus that can tell its last stored event (JetStream can) is asked first, and the relay
//   resumes right after that event when the store holds it: the tail is not even re-sent, which also
//   covers a relay that stayed down longer than the duplicate window.
//
// Only one relay may run per checkpoint name (two would publish everything twice, dropped as duplicates,
// and fight over the checkpoint row).
import { retryWithBackoff } from '../lib/abortable-sleep.js';
import { READ_PAGE_MAX, RELAY_DEFAULTS, RELAY_PIPELINE_EVENTS_MAX } from '../domain/limits.js';
import type { EventPublisher } from '../ports/event-bus.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import type { CountEventsAfter, RelayCheckpointStore } from '../ports/relay-checkpoints.js';
import type { ChangeSignal } from './change-signal.js';
import { followAllPages } from './subscription.js';

export interface RelayDeps {
  store: EventStore;
  publisher: EventPublisher;
  checkpoints: RelayCheckpointStore;
  /**
   * Events in `$all` after `position`, counting at most `max`. Default: one readAll page (so at most
   * READ_PAGE_MAX); the SQL adapter counts without reading the events.
   */
  countEventsAfter?: CountEventsAfter;
}

export interface RelayOptions {
  /** The checkpoint's name. Name it after the bus it feeds: a different bus needs its own checkpoint. */
  name: string;
  /** Save the checkpoint after this many published events at most. Also the bound on the re-sent tail. */
  checkpointEveryEvents?: number;
  /** ... and at least this often while events are published. */
  checkpointIntervalMs?: number;
  /** Events read from the store per query. */
  pageSize?: number;
  /** How long a caught-up relay waits before asking the store again. */
  pollIntervalMs?: number;
  /** Ask the bus for its last event and resume after it (default true). */
  resumeFromBus?: boolean;
  /** Wait after a failure (publish, read, checkpoint), doubling up to the max. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Counted at most this far when reporting lag. */
  lagCountMax?: number;
  /** Notified after appends in this process: the relay looks at once instead of at its next poll. */
  wake?: ChangeSignal;
  /** Operating errors the relay survives (it retries): for logs. */
  onError?: (error: unknown) => void;
  /** Each event once the bus has acknowledged it: for metrics. */
  onPublished?: (event: RecordedEvent) => void;
}

export type RelayState = 'idle' | 'starting' | 'running' | 'retrying' | 'stopped';

export interface RelayLag {
  name: string;
  state: RelayState;
  /** Global position of the last event the bus acknowledged; 0: none yet. */
  publishedPosition: number;
  /** The position saved in the checkpoint store. */
  checkpointPosition: number;
  /** Events in `$all` not yet published, counted up to `lagCountMax` (then: at least that many). */
  eventsBehind: number;
  eventsBehindCapped: boolean;
  /** Since when the oldest unpublished event waits (ms; 0 when caught up). */
  lagMs: number;
  /** Published by this run. */
  publishedTotal: number;
  lastError: string | null;
}

/** The checkpoint names a position the store does not hold: another database, or a restored backup. */
export class RelayPositionLostError extends Error {
  override readonly name = 'RelayPositionLostError';
}

export class OutboxRelay {
  private readonly options: Required<Omit<RelayOptions, 'onError' | 'onPublished' | 'wake'>> & Pick<RelayOptions, 'onError' | 'onPublished' | 'wake'>;
  private state: RelayState = 'idle';
  private publishedPosition = 0;
  private checkpointPosition = 0;
  private publishedTotal = 0;
  /** publishedTotal when the checkpoint was last saved. */
  private savedTotal = 0;
  private lastError: string | null = null;
  /** Checkpoint saves, one after another (the timer's and the loop's), so an older one never lands last. */
  private saveTail: Promise<void> = Promise.resolve();

  constructor(private readonly deps: RelayDeps, options: RelayOptions) {
    this.options = { ...RELAY_DEFAULTS, resumeFromBus: true, ...options };
    const o = this.options;
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(o.name)) throw new RangeError(`invalid relay name ${JSON.stringify(o.name)}`);
    for (const [key, value] of Object.entries({ checkpointEveryEvents: o.checkpointEveryEvents, checkpointIntervalMs: o.checkpointIntervalMs, pageSize: o.pageSize, retryMinMs: o.retryMinMs, retryMaxMs: o.retryMaxMs, lagCountMax: o.lagCountMax })) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`relay option ${key} must be a positive integer`);
    }
  }

  /**
   * Relays until the signal aborts: then lets a publish in flight finish, saves the checkpoint and returns.
   * Failures of the bus, the store or the checkpoint store are retried with backoff, never skipped; only a
   * checkpoint the store does not know (RelayPositionLostError) ends it.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.state !== 'idle' && this.state !== 'stopped') throw new Error(`relay ${this.options.name} is already running`);
    this.state = 'starting';
    this.publishedTotal = 0;
    this.savedTotal = 0;
    const timer = setInterval(() => {
      if (this.publishedTotal > this.savedTotal) this.saveCheckpoint().catch((error: unknown) => this.failed(error));
    }, this.options.checkpointIntervalMs);
    timer.unref();
    try {
      const resumed = await this.retrying(signal, () => this.resume());
      if (!resumed) return;
      // follow() returns only when the signal aborts; each success starts the backoff afresh.
      while (!signal.aborted) await this.retrying(signal, () => this.follow(signal), (error) => error instanceof RelayPositionLostError);
    } finally {
      clearInterval(timer);
      if (this.publishedTotal > this.savedTotal) await this.saveCheckpoint().catch((error: unknown) => this.failed(error));
      this.state = 'stopped';
    }
  }

  async lag(): Promise<RelayLag> {
    const position = this.publishedPosition;
    // Without a counting query the count is one readAll page, so its cap is the page bound.
    const max = this.deps.countEventsAfter ? this.options.lagCountMax : Math.min(this.options.lagCountMax, READ_PAGE_MAX);
    const count = this.deps.countEventsAfter ?? (async (p: number, m: number) => (await this.deps.store.readAll(p, m))?.events.length ?? 0);
    const [eventsBehind, next] = await Promise.all([count(position, max), this.deps.store.readAll(position, 1)]);
    const oldest = next?.events[0];
    return {
      name: this.options.name,
      state: this.state,
      publishedPosition: position,
      checkpointPosition: this.checkpointPosition,
      eventsBehind,
      eventsBehindCapped: eventsBehind >= max,
      lagMs: oldest ? Math.max(0, Date.now() - Date.parse(oldest.recordedAt)) : 0,
      publishedTotal: this.publishedTotal,
      lastError: this.lastError,
    };
  }

  /** The position to follow from: the checkpoint, or the bus's last event when the bus can tell. */
  private async resume(): Promise<void> {
    const saved = await this.deps.checkpoints.load(this.options.name);
    this.checkpointPosition = saved ?? 0;
    let start = this.checkpointPosition;
    if (this.options.resumeFromBus && this.deps.publisher.lastPublished) {
      const last = await this.deps.publisher.lastPublished();
      if (last && (await this.storeHolds(last))) start = last.globalPosition;
    }
    this.publishedPosition = start;
    if (start !== this.checkpointPosition) {
      await this.deps.checkpoints.save(this.options.name, start);
      this.checkpointPosition = start;
    }
  }

  /** The bus's event is this store's (same id at the same stream version), not another database's. */
  private async storeHolds(event: RecordedEvent): Promise<boolean> {
    const slice = await this.deps.store.readStream(event.streamId, { fromVersion: event.streamVersion, count: 1, direction: 'forward' });
    const stored = slice.events[0];
    return stored !== undefined && stored.eventId === event.eventId && stored.globalPosition === event.globalPosition;
  }

  private async follow(signal: AbortSignal): Promise<void> {
    const from = this.publishedPosition;
    const pages = await followAllPages(this.deps.store, from, {
      signal, pageSize: this.options.pageSize, pollIntervalMs: this.options.pollIntervalMs, ...(this.options.wake ? { wake: this.options.wake } : {}),
    });
    if (!pages) throw new RelayPositionLostError(`relay ${this.options.name}: position ${from} is not an event of this store`);
    this.state = 'running';
    const pipelined = this.deps.publisher.publishMany?.bind(this.deps.publisher);
    for await (const page of pages) {
      let next = 0;
      while (next < page.length) {
        if (signal.aborted) return;
        // The bound on the re-sent tail: publish nothing more until a due checkpoint is saved.
        if (this.publishedTotal - this.savedTotal >= this.options.checkpointEveryEvents) await this.saveCheckpoint();
        const room = this.options.checkpointEveryEvents - (this.publishedTotal - this.savedTotal);
        const chunk = page.slice(next, next + Math.min(RELAY_PIPELINE_EVENTS_MAX, room));
        let stored = 0;
        if (pipelined && chunk.length > 1) {
          try {
            stored = await pipelined(chunk);
          } catch (error) {
            this.failed(error);
          }
        }
        // Not pipelined, or the pipeline stored nothing (a duplicate first, an outage): one at a time, with
        // retries, as ever.
        if (stored === 0) {
          if (!(await this.publish(chunk[0]!, signal))) return;
          stored = 1;
        }
        if ((this.state as RelayState) === 'retrying') this.state = 'running';
        for (const event of chunk.slice(0, stored)) {
          this.publishedPosition = event.globalPosition;
          this.publishedTotal += 1;
          this.options.onPublished?.(event);
        }
        next += stored;
      }
    }
  }

  /** Publishes until the bus acknowledges; false when the signal aborted first. */
  private publish(event: RecordedEvent, signal: AbortSignal): Promise<boolean> {
    return this.retrying(signal, async () => {
      await this.deps.publisher.publish(event);
      if (this.state === 'retrying') this.state = 'running';
    });
  }

  private saveCheckpoint(): Promise<void> {
    const saved = this.saveTail.then(async () => {
      const position = this.publishedPosition;
      const total = this.publishedTotal;
      if (total === this.savedTotal) return;
      await this.deps.checkpoints.save(this.options.name, position);
      this.checkpointPosition = position;
      this.savedTotal = total;
    });
    this.saveTail = saved.catch(() => {});
    return saved;
  }

  /** fn until it resolves (true) or the signal aborts (false), with the relay's backoff; `isFatal` failures end it. */
  private retrying(signal: AbortSignal, fn: () => Promise<void>, isFatal?: (error: unknown) => boolean): Promise<boolean> {
    return retryWithBackoff(signal, fn, {
      minMs: this.options.retryMinMs, maxMs: this.options.retryMaxMs, onFailure: (error) => this.failed(error), ...(isFatal ? { isFatal } : {}),
    });
  }

  private failed(error: unknown): void {
    this.state = 'retrying';
    this.lastError = error instanceof Error ? error.message : String(error);
    this.options.onError?.(error);
  }
}

/** A checkpoint store in memory: tests, and a bus that is itself volatile (the in-process bus). */
export class MemoryRelayCheckpoints implements RelayCheckpointStore {
  private readonly positions = new Map<string, number>();

  constructor(initial: Record<string, number> = {}) {
    for (const [name, position] of Object.entries(initial)) this.positions.set(name, position);
  }

  async load(name: string): Promise<number | null> {
    return this.positions.get(name) ?? null;
  }

  async save(name: string, position: number): Promise<void> {
    this.positions.set(name, position);
  }
}
