// The event bus port: how recorded events leave the event store (the relay publishes) and reach the read
// side (a read processor subscribes). Two adapters: NATS JetStream (src/adapters/event-bus/nats/) and an
// in-process bus for the embedded default (src/adapters/event-bus/in-process/), with the same semantics:
//
// - Publishing is at-least-once and idempotent by event id: publishing an event again within the
//   duplicate window stores nothing (JetStream: Nats-Msg-Id). Events are stored in the order published.
// - A subscription is a durable consumer: it resumes after its last acknowledged event. The handler is
//   called in stored order, one call at a time unless `concurrency` allows more; resolving acknowledges the
//   event, throwing asks for a redelivery after a backoff. After `maxDeliver` failed attempts the event goes to `deadLetter` (when given) and is dropped
//   from the consumer, which keeps going.
// - A redelivery may come after later events (at most `maxAckPending` events are unacknowledged at once);
//   `maxAckPending: 1` keeps strict order at the price of throughput. Handlers must be idempotent.
import type { RecordedEvent } from './event-store.js';

export interface EventPublisher {
  /** Resolves once the bus has stored the event (or already had it). Rejects when it could not. */
  publish(event: RecordedEvent): Promise<void>;
  /**
   * Optional pipelining: sends several events at once and resolves with how many of them, from the first,
   * the bus has stored in this order right after what it held (0 to events.length). Never stores one out of
   * order: an event not stored leaves every later one unstored too. The caller publishes the rest again.
   */
  publishMany?(events: readonly RecordedEvent[]): Promise<number>;
  /**
   * The last event the bus holds, when it can tell (a durable bus can; a volatile one after a restart
   * cannot: null). Lets the relay resume exactly where the bus is, whatever its own checkpoint says.
   */
  lastPublished?(): Promise<RecordedEvent | null>;
  close(): Promise<void>;
}

export interface Delivery {
  /** True from the second delivery of the same event on. */
  redelivered: boolean;
  /** 1 for the first delivery. */
  attempt: number;
  /**
   * Tells the bus the handler is still at work, so it does not redeliver the event meanwhile (JetStream:
   * resets the ack wait). For a handler that may wait long (a projection paused by a rebuild). Optional:
   * a bus without an ack timeout has nothing to reset.
   */
  working?: () => void;
}

export type EventHandler = (event: RecordedEvent, delivery: Delivery) => Promise<void>;

export interface SubscribeOptions {
  /** Deliveries of one event before it is given up (dead-lettered). At least 1. */
  maxDeliver: number;
  /** Unacknowledged events at once: in the handler or waiting for a redelivery. At least 1. */
  maxAckPending: number;
  /**
   * Handler calls running at once (default 1, at most maxAckPending). Calls start in stored order; with more
   * than one, a handler may group the events it is given (a projection commits them in one transaction).
   */
  concurrency?: number;
  /**
   * Wait before redelivery `n` (n = 1 for the first retry); the last entry repeats. Empty: redeliver at once.
   */
  backoffMs: readonly number[];
  /**
   * Subjects below the bus prefix to receive, e.g. `['account.*']`; default: everything (`['>']`).
   */
  filter?: readonly string[];
  /**
   * Called with an event the handler failed on `maxDeliver` times, then the event is dropped from the
   * consumer. Throwing here leaves the event unacknowledged: the bus tries the handler again later.
   */
  deadLetter?: (event: RecordedEvent, error: unknown, delivery: Delivery) => Promise<void>;
  /** Operating errors the subscription survives (a message that is not an event, a lost connection). */
  onError?: (error: unknown) => void;
}

export interface EventSubscription {
  /** Lets the handler call in progress finish, acknowledges it, and stops. Unacknowledged events stay. */
  stop(): Promise<void>;
}

export interface EventSubscriber {
  /** A durable consumer named `durableName`; created on first use, resumed afterwards. */
  subscribe(durableName: string, handler: EventHandler, options: SubscribeOptions): Promise<EventSubscription>;
}

export interface EventBus extends EventPublisher, EventSubscriber {}

export class EventBusClosedError extends Error {
  override readonly name = 'EventBusClosedError';
}

/**
 * Handed to `deadLetter` (as the `cause` chain's head) when an event is given up: delivered `maxDeliver`
 * times, or more often without the handler getting to throw (the consumer crashed while handling it).
 */
export class RedeliveryLimitError extends Error {
  override readonly name = 'RedeliveryLimitError';
}

/**
 * `<prefix>.<aggregate>.<EventType>`, aggregate lower-cased: `events.account.MoneyDeposited`.
 * Event types and aggregate types from the raw stream API may hold characters a subject token cannot
 * (`.`, `*`, `>`, white space): those become `_`. The subject only routes; the payload keeps the exact names.
 */
export function eventSubject(prefix: string, event: Pick<RecordedEvent, 'aggregateType' | 'type'>): string {
  return `${prefix}.${subjectToken(event.aggregateType.toLowerCase())}.${subjectToken(event.type)}`;
}

function subjectToken(text: string): string {
  return text === '' ? '_' : text.replace(/[.*>\s]/g, '_');
}

/** The wait before redelivery after `attempt` failed deliveries (attempt >= 1). */
export function redeliveryDelayMs(backoffMs: readonly number[], attempt: number): number {
  if (backoffMs.length === 0) return 0;
  return backoffMs[Math.min(attempt, backoffMs.length) - 1] ?? 0;
}
