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
// rebuild() stops the subscription, replays $all into an emptied model (read-processor-rebuild.ts) and
// starts it again; events the bus then delivers that the rebuild already applied are duplicates to the
// projection. A processor that starts on an empty model (a new read store, a schema change) rebuilds first.
import type { DeadLetter, ReadModel } from '../ports/read-model.js';
import type { Delivery, EventSubscriber, EventSubscription, SubscribeOptions } from '../ports/event-bus.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import { AccountProjection, type ApplyOutcome } from '../projections/account-projection.js';
import { OUTAGE_RETRY_MAX_MS, OUTAGE_RETRY_MIN_MS, READ_PROCESSOR_DEFAULTS, READ_PROCESSOR_WORKING_INTERVAL_MS } from '../domain/limits.js';
import { isUnavailableError } from '../ports/unavailable.js';
import { abortableSleep } from '../lib/abortable-sleep.js';
import { rebuildReadModel, type RebuildReport } from './read-processor-rebuild.js';

interface ReadProcessorDeps {
  /** Null: this process only rebuilds and replays dead letters (a query API); start() refuses. */
  bus: EventSubscriber | null;
  /** The event store: for rebuild only. */
  store: EventStore;
  readModel: ReadModel;
}

export interface ReadProcessorOptions {
  /** Durable consumer name, and the projection's checkpoint name. Default `read-processor`. */
  name?: string;
  maxDeliver?: number;
  /**
   * Events delivered and not yet acknowledged. Also how many handler calls run at once: concurrent
   * deliveries are applied together, in delivery order, in one transaction per batch (group commit), which
   * is what lets one processor keep up with many writers. Delivery order is stored order except for a
   * redelivery, which the projection's gap rule handles. 1: one event per transaction, strictly in order.
   */
  maxAckPending?: number;
  /** Events applied per transaction at most. */
  batchMax?: number;
  backoffMs?: readonly number[];
  /** Events read from the store per page (and applied per transaction) in rebuild. */
  rebuildPageSize?: number;
  /**
   * Runs before each event delivered by the bus is applied; throwing counts as a failed delivery. For fault
   * injection in tests (a poison event); not used by rebuild or replay.
   */
  beforeApply?: (event: RecordedEvent, delivery: Delivery) => void | Promise<void>;
  onError?: (error: unknown) => void;
  /** Each delivery by the bus, before it is applied (redeliveries included): for metrics. */
  onDelivered?: (event: RecordedEvent, delivery: Delivery) => void;
  /** After each event the bus delivered is handled: for metrics and tests. */
  onHandled?: (event: RecordedEvent, outcome: ApplyOutcome, delivery: Delivery) => void;
  /** On start, rebuild from the event store when the model has no checkpoint and the store has events (default true). */
  rebuildWhenEmpty?: boolean;
  onDeadLetter?: (event: RecordedEvent, error: unknown) => void;
}

interface Queued {
  event: RecordedEvent;
  resolve: (outcome: ApplyOutcome) => void;
  reject: (error: unknown) => void;
}

interface ReadProcessorStatus {
  name: string;
  /** Global position of the last event applied; 0: none. */
  position: number;
  eventsApplied: number;
  /** When the checkpoint last moved (ISO-8601), null: never. */
  lastAppliedAt: string | null;
  running: boolean;
  /** This process is rebuilding the model: events replayed so far. */
  rebuilding: { startedAt: string; events: number } | null;
  deadLetters: number;
  /** The last rebuild this process ran. */
  lastRebuild: RebuildReport | null;
}

export class ReadProcessor {
  readonly projection: AccountProjection;
  private readonly options: Required<Omit<ReadProcessorOptions, 'beforeApply' | 'onError' | 'onHandled' | 'onDeadLetter' | 'onDelivered'>>
    & Pick<ReadProcessorOptions, 'beforeApply' | 'onError' | 'onHandled' | 'onDeadLetter' | 'onDelivered'>;
  private subscription: EventSubscription | null = null;
  private rebuilding: { startedAt: string; events: number } | null = null;
  /** Deliveries waiting for the next batch, in delivery order. */
  private queue: Queued[] = [];
  private flushing: Promise<void> | null = null;
  private lastRebuild: RebuildReport | null = null;
  /** Aborted by stop(): handlers waiting out an outage give up, so that stop() does not wait for the database. */
  private stopping: AbortController | null = null;

  constructor(private readonly deps: ReadProcessorDeps, options: ReadProcessorOptions = {}) {
    this.options = { ...READ_PROCESSOR_DEFAULTS, ...options };
    this.projection = new AccountProjection(deps.readModel, this.options.name);
  }

  get name(): string {
    return this.options.name;
  }

  isRebuilding(): boolean {
    return this.rebuilding !== null;
  }

  /** Whether this processor can consume (has a bus); one without only rebuilds and replays. */
  hasBus(): boolean {
    return this.deps.bus !== null;
  }

  /** Subscribes the durable consumer; events flow until stop(). */
  async start(): Promise<void> {
    if (this.subscription) return;
    const o = this.options;
    if (o.rebuildWhenEmpty && !(await this.deps.readModel.checkpoint(o.name))) {
      const first = await this.deps.store.readAll(0, 1);
      if (first && first.events.length > 0) await this.rebuild();
      if (this.subscription) return; // rebuild() started it
    }
    const subscribeOptions: SubscribeOptions = {
      maxDeliver: o.maxDeliver,
      maxAckPending: o.maxAckPending,
      concurrency: o.maxAckPending,
      backoffMs: o.backoffMs,
      deadLetter: async (event, error, delivery) => {
        await this.deps.readModel.recordDeadLetter(o.name, event, error, delivery.attempt);
        o.onDeadLetter?.(event, error);
      },
      ...(o.onError ? { onError: o.onError } : {}),
    };
    if (!this.deps.bus) throw new Error(`read processor ${o.name} has no event bus to consume`);
    const stopping = new AbortController();
    this.stopping = stopping;
    this.subscription = await this.deps.bus.subscribe(o.name, async (event, delivery) => {
      o.onDelivered?.(event, delivery);
      if (o.beforeApply) await o.beforeApply(event, delivery);
      // Waiting for the batch and the projection lock (a rebuild elsewhere) may take long: keep it alive.
      const working = delivery.working ? setInterval(delivery.working, READ_PROCESSOR_WORKING_INTERVAL_MS) : undefined;
      let outcome: ApplyOutcome;
      try {
        outcome = await this.applyThroughOutages(event, stopping.signal);
      } finally {
        clearInterval(working);
      }
      o.onHandled?.(event, outcome, delivery);
    }, subscribeOptions);
  }

  /**
   * Applies the event, waiting out an outage of the read store (src/ports/unavailable.ts): retried here with
   * backoff, the delivery kept alive, instead of failing the delivery, which would count towards maxDeliver
   * and dead-letter a good event after a database restart. Any other failure, or a stop, fails it.
   */
  private async applyThroughOutages(event: RecordedEvent, stopping: AbortSignal): Promise<ApplyOutcome> {
    let delayMs = OUTAGE_RETRY_MIN_MS;
    for (;;) {
      try {
        return await this.enqueue(event);
      } catch (error) {
        if (!isUnavailableError(error) || stopping.aborted) throw error;
        this.options.onError?.(error);
        await abortableSleep(delayMs, stopping);
        if (stopping.aborted) throw error;
        delayMs = Math.min(delayMs * 2, OUTAGE_RETRY_MAX_MS);
      }
    }
  }

  /** Resolves once the event is applied (or found a duplicate) in the next batch; rejects if it cannot be. */
  private enqueue(event: RecordedEvent): Promise<ApplyOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ event, resolve, reject });
      this.kick();
    });
  }

  /** One flusher at a time; deliveries that arrive while it commits form the next batch. */
  private kick(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
      this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchMax);
      if (batch.length > 1) {
        try {
          const { outcomes } = await this.projection.applyBatch(batch.map((q) => q.event));
          batch.forEach((q, i) => q.resolve(outcomes[i]!));
          continue;
        } catch {
          // One event spoils the batch (a gap, a malformed event): apply them one by one, so each gets its own
          // outcome and only the bad ones are redelivered.
        }
      }
      for (const q of batch) {
        try {
          q.resolve(await this.projection.apply(q.event));
        } catch (error) {
          q.reject(error);
        }
      }
    }
  }

  /** Finishes the event in hand, acknowledges it, and stops consuming. */
  async stop(): Promise<void> {
    this.stopping?.abort();
    this.stopping = null;
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
      rebuilding: this.rebuilding ? { ...this.rebuilding } : null,
      deadLetters,
      lastRebuild: this.lastRebuild,
    };
  }

  deadLetter(eventId: string): Promise<DeadLetter | null> {
    return this.deps.readModel.deadLetter(this.options.name, eventId);
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
   * Empties the read model and replays the event store's $all from position 0 (read-processor-rebuild.ts).
   * The bus subscription, if running, is stopped meanwhile and resumed after.
   */
  async rebuild(): Promise<RebuildReport> {
    if (this.rebuilding) throw new RebuildInProgressError(`projection ${this.options.name} is already being rebuilt`);
    const wasRunning = this.subscription !== null;
    const rebuilding = { startedAt: new Date().toISOString(), events: 0 };
    this.rebuilding = rebuilding;
    try {
      await this.stop();
      const report = await rebuildReadModel({
        store: this.deps.store, readModel: this.deps.readModel, projection: this.projection, pageSize: this.options.rebuildPageSize,
        onProgress: (events) => { rebuilding.events = events; },
        ...(this.options.onDeadLetter ? { onDeadLetter: this.options.onDeadLetter } : {}),
      });
      this.lastRebuild = report;
      return report;
    } finally {
      this.rebuilding = null;
      if (wasRunning) await this.start();
    }
  }
}

export class RebuildInProgressError extends Error {
  override readonly name = 'RebuildInProgressError';
}
