// Queries served from the read model (balances, the account list), each with its freshness: where the
// model is, when it last moved, how far behind the event store it is; and read-your-writes.
//
// Read-your-writes. A command's response carries the global position of its last event. A query with
// `minPosition=N` waits (bounded) until the model has applied the event at N, then answers:
// - the checkpoint has reached N (positions are in commit order, event store migration 7, and the
//   projection moves its checkpoint only forward);
// - and, for an account event, the account's row holds that event's stream version: an event that was
//   dead-lettered was passed but not applied, and does not count. (The event is looked up once: it never
//   changes.)
// Because the processor applies in commit order, reaching N also means reaching every event that committed
// before it: a client's earlier writes, whatever account they touched. (For events stored before migration 7
// whose positions were not in commit order, the account check above still holds; a non-account event among
// them may be reported reached a little early while a rebuild replays them.)
//
// Lag is measured by a monitor, not per request (counting the store on every read would cost more than the
// read): every `intervalMs` it compares the checkpoint with the event store.
import { POSITION_KEY_CACHE_ENTRIES_MAX, PROJECTION_LAG_COUNT_EVENTS_MAX, PROJECTION_LAG_INTERVAL_MS_DEFAULT } from '../domain/limits.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import type { BalanceRow, Checkpoint, ReadModel } from '../ports/read-model.js';
import type { CountEventsAfter } from '../ports/relay-checkpoints.js';
import { accountOf } from '../projections/account-projection.js';
import { abortableSleep } from '../lib/abortable-sleep.js';
import { ChangeSignal } from './change-signal.js';

export interface ProjectionLag {
  /** Events committed in the store and not yet applied (counted up to a cap). */
  events: number;
  capped: boolean;
  /** How long the oldest unapplied event has waited; 0 when caught up. */
  ms: number;
  /** When this was measured (ISO-8601). */
  measuredAt: string;
}

export interface Freshness {
  /**
   * `eventual`: no minPosition asked, the model as it is; `reached`: the event at minPosition is in this
   * answer; `stale`: it is not, the wait ran out (the data is the model's current state).
   */
  status: 'eventual' | 'reached' | 'stale';
  /** Global position of the last event the model applied (commit order); 0: none yet. */
  position: number;
  /** When the model last applied an event; null: never. */
  updatedAt: string | null;
  /** From the lag monitor; null until its first measurement. */
  lag: ProjectionLag | null;
  minPosition?: number;
  waitedMs?: number;
}

export class PositionUnknownError extends Error {
  override readonly name = 'PositionUnknownError';
  constructor(readonly position: number) {
    super(`no event at global position ${position}`);
  }
}

interface EventKey {
  position: number;
  accountId: string | null;
  streamVersion: number;
}

interface ReadModelQueriesOptions {
  projection: string;
  /** How often lag is measured. */
  lagIntervalMs?: number;
  /** Unapplied events counted at most. */
  lagCountMax?: number;
  /** Positions whose event (account, stream version) is remembered. */
  keyCacheMax?: number;
}

export class ReadModelQueries {
  /** Notified when the model moves (by the read processor of this process): waiting queries look again at once. */
  readonly changes = new ChangeSignal();
  private lag: ProjectionLag | null = null;
  private readonly keys = new Map<number, EventKey>();
  private readonly stopMonitor = new AbortController();
  private monitor: Promise<void> | null = null;
  private readonly lagIntervalMs: number;
  private readonly lagCountMax: number;
  private readonly keyCacheMax: number;
  readonly projection: string;

  constructor(
    private readonly deps: {
      model: ReadModel;
      store: EventStore;
      /** Events of $all after a position, counted up to max (the SQL adapter counts without reading). */
      countEventsAfter: CountEventsAfter;
    },
    options: ReadModelQueriesOptions,
  ) {
    this.projection = options.projection;
    this.lagIntervalMs = options.lagIntervalMs ?? PROJECTION_LAG_INTERVAL_MS_DEFAULT;
    this.lagCountMax = options.lagCountMax ?? PROJECTION_LAG_COUNT_EVENTS_MAX;
    this.keyCacheMax = options.keyCacheMax ?? POSITION_KEY_CACHE_ENTRIES_MAX;
  }

  /** Starts measuring lag every lagIntervalMs (first measurement at once). */
  startLagMonitor(onError?: (error: unknown) => void): void {
    if (this.monitor) return;
    const signal = this.stopMonitor.signal;
    this.monitor = (async () => {
      while (!signal.aborted) {
        try {
          await this.measureLag();
        } catch (error) {
          onError?.(error);
        }
        await abortableSleep(this.lagIntervalMs, signal);
      }
    })();
  }

  async close(): Promise<void> {
    this.stopMonitor.abort();
    await this.monitor;
    this.changes.notify();
  }

  /** The last lag measurement (null before the first). */
  currentLag(): ProjectionLag | null {
    return this.lag;
  }

  /** Measures lag now: events after the checkpoint and the age of the oldest of them. */
  async measureLag(): Promise<ProjectionLag> {
    const checkpoint = await this.deps.model.checkpoint(this.projection);
    const position = checkpoint?.position ?? 0;
    const [events, next] = await Promise.all([
      this.deps.countEventsAfter(position, this.lagCountMax),
      this.deps.store.readAll(position, 1),
    ]);
    const oldest = next?.events[0];
    const ms = oldest && events > 0 ? Math.max(0, Date.now() - Date.parse(oldest.recordedAt)) : 0;
    this.lag = { events, capped: events >= this.lagCountMax, ms, measuredAt: new Date().toISOString() };
    return this.lag;
  }

  async balance(accountId: string, wait?: { minPosition: number; maxWaitMs: number }): Promise<{ account: BalanceRow | null; freshness: Freshness }> {
    const read = () => this.deps.model.balanceWithCheckpoint(accountId, this.projection);
    return this.withFreshness(read, (r) => r.checkpoint, (r, target) => (target.accountId === accountId ? r.account : undefined), wait);
  }

  async list(after: string | undefined, limit: number, wait?: { minPosition: number; maxWaitMs: number }, search?: string): Promise<{ accounts: BalanceRow[]; freshness: Freshness }> {
    const read = () => this.deps.model.listWithCheckpoint(this.projection, after, limit, search);
    const result = await this.withFreshness(read, (r) => r.checkpoint, () => undefined, wait);
    return { accounts: result.accounts, freshness: result.freshness };
  }

  /**
   * Reads with `read` until the model has reached `wait.minPosition` or the wait runs out. `rowFor` may hand
   * over the row of the target event's account when the read already holds it (saves a query).
   */
  private async withFreshness<R>(
    read: () => Promise<R>,
    checkpointOf: (result: R) => Checkpoint | null,
    rowFor: (result: R, target: EventKey) => BalanceRow | null | undefined,
    wait: { minPosition: number; maxWaitMs: number } | undefined,
  ): Promise<R & { freshness: Freshness }> {
    const base = (result: R): Freshness => {
      const checkpoint = checkpointOf(result);
      return { status: 'eventual', position: checkpoint?.position ?? 0, updatedAt: checkpoint?.updatedAt ?? null, lag: this.lag };
    };
    if (wait === undefined) {
      const result = await read();
      return { ...result, freshness: base(result) };
    }
    const target = await this.keyOf(wait.minPosition);
    const started = performance.now();
    let pauseMs = 2;
    for (;;) {
      const result = await read();
      const reached = await this.reached(target, checkpointOf(result), rowFor(result, target));
      const waitedMs = Math.round(performance.now() - started);
      if (reached || waitedMs >= wait.maxWaitMs) {
        return { ...result, freshness: { ...base(result), status: reached ? 'reached' : 'stale', minPosition: wait.minPosition, waitedMs } };
      }
      await this.changes.next(Math.min(pauseMs, wait.maxWaitMs - waitedMs));
      pauseMs = Math.min(pauseMs * 2, 50);
    }
  }

  /** Whether the model has applied the event `target` (see the header). */
  private async reached(target: EventKey, checkpoint: Checkpoint | null, row: BalanceRow | null | undefined): Promise<boolean> {
    if (!checkpoint) return false;
    if (target.position > checkpoint.position) return false;
    if (target.accountId === null) return true;
    const account = row === undefined ? await this.deps.model.balance(target.accountId) : row;
    return account !== null && account.version >= target.streamVersion;
  }

  private async keyOf(position: number): Promise<EventKey> {
    const cached = this.keys.get(position);
    if (cached) return cached;
    const event: RecordedEvent | null = await this.deps.store.readEventAt(position);
    if (!event) throw new PositionUnknownError(position);
    const key = { position, accountId: accountOf(event), streamVersion: event.streamVersion };
    if (this.keys.size >= this.keyCacheMax) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(position, key);
    return key;
  }
}
