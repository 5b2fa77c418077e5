// The event bus in memory, for the embedded default (one process, no NATS). Same semantics as the JetStream
// adapter (see src/ports/event-bus.ts): a log of messages in publish order, duplicates by event id dropped
// within a window, durable consumers that resume after their last acknowledgement, one handler call at a
// time, redelivery with backoff after a failure, dead-letter after maxDeliver.
//
// Two differences, both because memory is not a disk:
// - It is volatile: after a restart it holds nothing, and `lastPublished()` says null, so the relay resumes
//   from a checkpoint. In the embedded flow that checkpoint must not be ahead of what the read side has
//   applied (see the report on wiring: start the relay from the read processor's position).
// - It is bounded by `messagesMax`, and instead of dropping the oldest message (JetStream's limits
//   retention, which has a disk to spill to) a publish waits while the oldest message is still needed by a
//   durable consumer: a slow consumer slows the relay down, it never loses an event.
import type {
  Delivery, EventBus, EventHandler, EventSubscription, SubscribeOptions,
} from '../../../ports/event-bus.js';
import { EVENT_SUBJECT_PREFIX_DEFAULT, IN_PROCESS_BUS_DEFAULTS } from '../../../domain/limits.js';
import { EventBusClosedError, eventSubject } from '../../../ports/event-bus.js';
import type { RecordedEvent } from '../../../ports/event-store.js';
import { checkSubscribeOptions, handleDelivery, subjectMatches } from '../consumer-rules.js';

interface InProcessEventBusOptions {
  /** Default `events`. */
  subjectPrefix?: string;
  /** A publish of an event id stored less than this long ago is dropped. Default 2 minutes (as JetStream). */
  duplicateWindowMs?: number;
  /** Event ids remembered for the window at most; the oldest are forgotten first. */
  duplicateIdsMax?: number;
  /** Messages held in memory; past it a publish waits until no durable needs the oldest. */
  messagesMax?: number;
  /** Milliseconds since the epoch; injected so tests can move time (the duplicate window, backoffs). */
  now?: () => number;
}

interface StoredMessage {
  seq: number;
  subject: string;
  event: RecordedEvent;
}

interface Pending {
  /** Deliveries so far. */
  attempt: number;
  /** When it may be delivered (again). */
  dueAt: number;
  lastError?: unknown;
}

interface Durable {
  filter: string[];
  /** Every sequence at or below it is done (acknowledged, dead-lettered, or not for this consumer). */
  ackFloor: number;
  /** The next sequence never delivered to this consumer. */
  nextSeq: number;
  /** Delivered and not done, by sequence. */
  pending: Map<number, Pending>;
  active: boolean;
}

export class InProcessEventBus implements EventBus {
  readonly subjectPrefix: string;
  private readonly duplicateWindowMs: number;
  private readonly duplicateIdsMax: number;
  private readonly messagesMax: number;
  private readonly now: () => number;

  /** By sequence; a Map keeps insertion order and deletes the oldest in O(1). */
  private readonly messages = new Map<number, StoredMessage>();
  private firstSeq = 1;
  private lastSeq = 0;
  /** Event id to the time it was stored, oldest first. */
  private readonly storedIds = new Map<string, number>();
  private readonly durables = new Map<string, Durable>();
  private readonly subscriptions = new Set<EventSubscription>();
  /** Publishes run one after another, in call order: the log order is the call order. */
  private publishTail: Promise<void> = Promise.resolve();
  private readonly changed = new Changed();
  private closed = false;

  constructor(options: InProcessEventBusOptions = {}) {
    this.subjectPrefix = options.subjectPrefix ?? EVENT_SUBJECT_PREFIX_DEFAULT;
    this.duplicateWindowMs = options.duplicateWindowMs ?? IN_PROCESS_BUS_DEFAULTS.duplicateWindowMs;
    this.duplicateIdsMax = options.duplicateIdsMax ?? IN_PROCESS_BUS_DEFAULTS.duplicateIdsMax;
    this.messagesMax = options.messagesMax ?? IN_PROCESS_BUS_DEFAULTS.messagesMax;
    this.now = options.now ?? Date.now;
    if (!(this.messagesMax >= 1 && this.duplicateIdsMax >= 1 && this.duplicateWindowMs >= 0)) {
      throw new RangeError('messagesMax and duplicateIdsMax must be at least 1, duplicateWindowMs at least 0');
    }
  }

  publish(event: RecordedEvent): Promise<void> {
    if (this.closed) return Promise.reject(new EventBusClosedError('the event bus is closed'));
    const stored = this.publishTail.then(() => this.store(event));
    this.publishTail = stored.catch(() => {});
    return stored;
  }

  async lastPublished(): Promise<RecordedEvent | null> {
    return this.messages.get(this.lastSeq)?.event ?? null;
  }

  /** What the log holds, oldest first: for tests and diagnostics. */
  storedEvents(): RecordedEvent[] {
    return [...this.messages.values()].map((m) => m.event);
  }

  async subscribe(durableName: string, handler: EventHandler, options: SubscribeOptions): Promise<EventSubscription> {
    const filter = checkSubscribeOptions(durableName, options);
    if (this.closed) throw new EventBusClosedError('the event bus is closed');
    let durable = this.durables.get(durableName);
    if (durable?.active) throw new Error(`durable consumer ${durableName} already has a subscriber in this process`);
    if (!durable) {
      // A new consumer starts at the oldest message held (JetStream: deliver policy "all").
      durable = { filter, ackFloor: this.firstSeq - 1, nextSeq: this.firstSeq, pending: new Map(), active: true };
      this.durables.set(durableName, durable);
    } else {
      durable.filter = filter;
      durable.active = true;
    }
    const state = durable;
    const concurrency = options.concurrency ?? 1;
    const inFlight = new Set<Promise<void>>();
    let stopped = false;
    const loop = (async () => {
      try {
        while (!stopped && !this.closed) {
          if (inFlight.size >= concurrency) {
            await this.changed.wait(undefined);
            continue;
          }
          const seq = this.nextDelivery(state, options.maxAckPending);
          if (seq === null) {
            await this.changed.wait(this.msUntilNextDue(state));
            continue;
          }
          if (concurrency === 1) {
            await this.deliver(state, seq, handler, options);
            continue;
          }
          const call: Promise<void> = this.deliver(state, seq, handler, options)
            .catch((error: unknown) => options.onError?.(error))
            .finally(() => {
              inFlight.delete(call);
              this.changed.notify();
            });
          inFlight.add(call);
        }
        await Promise.all(inFlight);
      } catch (error) {
        // Only a bug gets here (handler errors are caught in deliver): say so, and stop this consumer.
        options.onError?.(error);
      } finally {
        state.active = false;
      }
    })();
    const subscription: EventSubscription = {
      stop: async () => {
        stopped = true;
        this.changed.notify();
        await loop;
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.changed.notify();
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    await this.publishTail;
  }

  private async store(event: RecordedEvent): Promise<void> {
    this.forgetExpiredIds();
    if (this.storedIds.has(event.eventId)) return; // a re-publish: stored once already
    while (this.messages.size >= this.messagesMax) {
      if (this.closed) throw new EventBusClosedError('the event bus closed while a publish waited for room');
      if (this.oldestIsNeeded()) {
        await this.changed.wait(undefined);
        continue;
      }
      this.messages.delete(this.firstSeq);
      this.firstSeq += 1;
    }
    if (this.closed) throw new EventBusClosedError('the event bus is closed');
    this.lastSeq += 1;
    this.messages.set(this.lastSeq, { seq: this.lastSeq, subject: eventSubject(this.subjectPrefix, event), event });
    this.storedIds.set(event.eventId, this.now());
    if (this.storedIds.size > this.duplicateIdsMax) this.storedIds.delete(this.storedIds.keys().next().value!);
    this.changed.notify();
  }

  private forgetExpiredIds(): void {
    const horizon = this.now() - this.duplicateWindowMs;
    for (const [id, storedAt] of this.storedIds) {
      if (storedAt > horizon) break;
      this.storedIds.delete(id);
    }
  }

  private oldestIsNeeded(): boolean {
    const oldest = this.messages.get(this.firstSeq);
    if (!oldest) return false;
    for (const durable of this.durables.values()) {
      if (durable.pending.has(oldest.seq)) return true;
      if (oldest.seq >= durable.nextSeq && durable.filter.some((f) => subjectMatches(`${this.subjectPrefix}.${f}`, oldest.subject))) return true;
    }
    return false;
  }

  /** A redelivery that is due (lowest sequence first), else the next new message if there is room. */
  private nextDelivery(durable: Durable, maxAckPending: number): number | null {
    const now = this.now();
    let due: number | null = null;
    for (const [seq, pending] of durable.pending) if (pending.dueAt <= now && (due === null || seq < due)) due = seq;
    if (due !== null) return due;
    if (durable.pending.size >= maxAckPending) return null;
    while (durable.nextSeq <= this.lastSeq) {
      // Dropped before this consumer existed (never while a consumer needs it): skip to what is held.
      if (durable.nextSeq < this.firstSeq) durable.nextSeq = this.firstSeq;
      const message = this.messages.get(durable.nextSeq)!;
      durable.nextSeq += 1;
      if (durable.filter.some((f) => subjectMatches(`${this.subjectPrefix}.${f}`, message.subject))) {
        durable.pending.set(message.seq, { attempt: 0, dueAt: now });
        return message.seq;
      }
    }
    this.advanceAckFloor(durable);
    return null;
  }

  private msUntilNextDue(durable: Durable): number | undefined {
    let earliest: number | undefined;
    for (const pending of durable.pending.values()) {
      if (pending.dueAt !== Infinity) earliest = Math.min(earliest ?? Infinity, pending.dueAt);
    }
    return earliest === undefined ? undefined : Math.max(1, earliest - this.now());
  }

  private async deliver(durable: Durable, seq: number, handler: EventHandler, options: SubscribeOptions): Promise<void> {
    const pending = durable.pending.get(seq)!;
    const { event } = this.messages.get(seq)!;
    pending.attempt += 1;
    pending.dueAt = Infinity; // in the handler: not due again until it fails
    const delivery: Delivery = { redelivered: pending.attempt > 1, attempt: pending.attempt };
    const outcome = await handleDelivery(event, delivery, handler, options, pending.lastError);
    if (outcome.kind === 'retry') {
      pending.lastError = outcome.error;
      pending.dueAt = this.now() + outcome.delayMs;
    } else {
      this.done(durable, seq);
    }
  }

  private done(durable: Durable, seq: number): void {
    durable.pending.delete(seq);
    this.advanceAckFloor(durable);
    this.changed.notify(); // a publish may be waiting for room
  }

  private advanceAckFloor(durable: Durable): void {
    while (durable.ackFloor + 1 < durable.nextSeq && !durable.pending.has(durable.ackFloor + 1)) durable.ackFloor += 1;
  }
}

/** Wakes everything waiting on it when something changed (a message stored, acknowledged, a stop). */
class Changed {
  private waiters: (() => void)[] = [];

  wait(timeoutMs: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== wake);
          resolve();
        }, timeoutMs);
      }
      this.waiters.push(wake);
    });
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
