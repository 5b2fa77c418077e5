// The read processor: a durable bus consumer (`read-processor`) that applies each event to the read model
// through the account projection, whose transaction also moves the checkpoint, so a redelivered event
// changes nothing (src/projections/account-projection.ts). The bus acknowledges only after the handler
// resolves, i.e. after the read store committed: a crash between the commit and the ack means one
// redelivery, which the projection's version guard turns into a no-op.
//
// An event the projection cannot apply is redelivered with backoff; after `maxDeliver` deliveries it goes
// to the read store's dead_letters table and the consumer moves on (the bus's dead-letter callback; if
// recording it fails, the bus keeps the event and tries again). An operator lists dead letters and
// replays one once the cause is fixed.
//
// rebuild(): the model from scratch, from the event store's $all (position 0, commit order) directly, not
// through the bus: the subscription is stopped meanwhile and started again afterwards; events the bus then
// delivers that the rebuild already applied are duplicates to the projection.
import type { DeadLetter, SqlReadModel } from '../adapters/read-model/sql-read-model.js';
import type { Delivery, EventSubscriber, EventSubscription, SubscribeOptions } from '../ports/event-bus.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import { AccountProjection, type ApplyOutcome } from '../projections/account-projection.js';

export interface ReadProcessorDeps {
  bus: EventSubscriber;
  /** The event store: for rebuild only. */
  store: EventStore;
  readModel: SqlReadModel;
}

export interface ReadProcessorOptions {
  /** Durable consumer name, and the projection's checkpoint name. Default `read-processor`. */
  name?: string;
  maxDeliver?: number;
  /** Default 1: strict order, so gaps (see the projection) only follow a dead letter. */
  maxAckPending?: number;
  backoffMs?: readonly number[];
  /** Events read from the store per page (and applied per transaction) in rebuild. */
  rebuildPageSize?: number;
  /**
   * Runs before each event delivered by the bus is applied; throwing counts as a failed delivery. For fault
   * injection in tests (a poison event); not used by rebuild or replay.
   */
  beforeApply?: (event: RecordedEvent, delivery: Delivery) => void | Promise<void>;
  onError?: (error: unknown) => void;
  /** After each event the bus delivered is handled: for metrics and tests. */
  onHandled?: (event: RecordedEvent, outcome: ApplyOutcome) => void;
  onDeadLetter?: (event: RecordedEvent, error: unknown) => void;
}

export const READ_PROCESSOR_DEFAULTS = {
  name: 'read-processor',
  maxDeliver: 5,
  maxAckPending: 1,
  backoffMs: [100, 500, 2_000, 5_000] as readonly number[],
  rebuildPageSize: 1_000,
} as const;

export interface ReadProcessorStatus {
  name: string;
  /** Global position of the last event applied; 0: none. */
  position: number;
  eventsApplied: number;
  /** When the checkpoint last moved (ISO-8601), null: never. */
  lastAppliedAt: string | null;
  running: boolean;
  deadLetters: number;
}

export interface RebuildReport {
  events: number;
  applied: number;
  ignored: number;
  deadLettered: number;
  durationMs: number;
  eventsPerSecond: number;
  /** The checkpoint after the rebuild. */
  position: number;
}

export class ReadProcessor {
  readonly projection: AccountProjection;
  private readonly options: Required<Omit<ReadProcessorOptions, 'beforeApply' | 'onError' | 'onHandled' | 'onDeadLetter'>>
    & Pick<ReadProcessorOptions, 'beforeApply' | 'onError' | 'onHandled' | 'onDeadLetter'>;
  private subscription: EventSubscription | null = null;

  constructor(private readonly deps: ReadProcessorDeps, options: ReadProcessorOptions = {}) {
    this.options = { ...READ_PROCESSOR_DEFAULTS, ...options };
    this.projection = new AccountProjection(deps.readModel, this.options.name);
  }

  get name(): string {
    return this.options.name;
  }

  /** Subscribes the durable consumer; events flow until stop(). */
  async start(): Promise<void> {
    if (this.subscription) return;
    const o = this.options;
    const subscribeOptions: SubscribeOptions = {
      maxDeliver: o.maxDeliver,
      maxAckPending: o.maxAckPending,
      backoffMs: o.backoffMs,
      deadLetter: async (event, error, delivery) => {
        await this.deps.readModel.recordDeadLetter(o.name, event, error, delivery.attempt);
        o.onDeadLetter?.(event, error);
      },
      ...(o.onError ? { onError: o.onError } : {}),
    };
    this.subscription = await this.deps.bus.subscribe(o.name, async (event, delivery) => {
      await o.beforeApply?.(event, delivery);
      const outcome = await this.projection.apply(event);
      o.onHandled?.(event, outcome);
    }, subscribeOptions);
  }

  /** Finishes the event in hand, acknowledges it, and stops consuming. */
  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = null;
    await subscription?.stop();
  }

  async status(): Promise<ReadProcessorStatus> {
    const [checkpoint, deadLetters] = await Promise.all([
      this.deps.readModel.checkpoint(this.options.name),
      this.deps.readModel.deadLetterCount(this.options.name),
    ]);
    return {
      name: this.options.name,
      position: checkpoint?.position ?? 0,
      eventsApplied: checkpoint?.eventsApplied ?? 0,
      lastAppliedAt: checkpoint?.updatedAt ?? null,
      running: this.subscription !== null,
      deadLetters,
    };
  }

  listDeadLetters(limit = 100): Promise<DeadLetter[]> {
    return this.deps.readModel.deadLetters(this.options.name, limit);
  }

  /**
   * Applies a dead-lettered event again (the cause fixed) and removes it from the store, in one
   * transaction. Throws (and keeps the dead letter) when it still cannot be applied, e.g. a gap because an
   * earlier dead letter of the same account must be replayed first.
   */
  async replayDeadLetter(eventId: string): Promise<ApplyOutcome> {
    const letter = await this.deps.readModel.deadLetter(this.options.name, eventId);
    if (!letter) throw new Error(`no dead letter ${eventId} for ${this.options.name}`);
    return this.projection.apply(letter.event, (tx) => this.deps.readModel.removeDeadLetter(this.options.name, eventId, tx));
  }

  /**
   * Empties the read model and replays the event store's $all from position 0, a page per transaction
   * (one by one for a page that fails, dead-lettering what still fails). The bus subscription, if running,
   * is stopped meanwhile and resumed after.
   */
  async rebuild(): Promise<RebuildReport> {
    const wasRunning = this.subscription !== null;
    await this.stop();
    try {
      const started = performance.now();
      await this.deps.readModel.reset(this.options.name);
      const report = { events: 0, applied: 0, ignored: 0, deadLettered: 0 };
      let position = 0;
      for (;;) {
        const page = await this.deps.store.readAll(position, this.options.rebuildPageSize);
        if (!page) throw new Error(`rebuild: position ${position} vanished from the event store`);
        if (page.events.length === 0) break;
        try {
          const counts = await this.projection.applyBatch(page.events);
          report.applied += counts.applied;
          report.ignored += counts.ignored;
        } catch {
          for (const event of page.events) {
            try {
              const outcome = await this.projection.apply(event);
              if (outcome === 'applied') report.applied += 1;
              else if (outcome === 'ignored') report.ignored += 1;
            } catch (error) {
              await this.deps.readModel.recordDeadLetter(this.options.name, event, error, 1);
              report.deadLettered += 1;
              this.options.onDeadLetter?.(event, error);
            }
          }
        }
        report.events += page.events.length;
        position = page.lastPosition;
        if (page.events.length < this.options.rebuildPageSize) break;
      }
      const durationMs = performance.now() - started;
      const checkpoint = await this.deps.readModel.checkpoint(this.options.name);
      return {
        ...report,
        durationMs: Math.round(durationMs),
        eventsPerSecond: durationMs > 0 ? Math.round((report.events * 1_000) / durationMs) : report.events,
        position: checkpoint?.position ?? 0,
      };
    } finally {
      if (wasRunning) await this.start();
    }
  }
}
