// The event bus on NATS JetStream. Publishing: one message per event on `<prefix>.<aggregate>.<EventType>`,
// the RecordedEvent as JSON, the event id as Nats-Msg-Id so that JetStream stores a re-published event
// once (within the stream's duplicate window). Each publish waits for the stream's acknowledgement: the
// relay advances its checkpoint only past what JetStream has stored.
//
// Consuming: a durable pull consumer with explicit ack and `max_ack_pending` = the subscription's bound.
// The handler runs on one message at a time; resolve → ack, throw → nak with the backoff delay, and after
// maxDeliver deliveries → deadLetter, then ack. maxDeliver is enforced here rather than by the server
// (the consumer's `max_deliver` is -1): the server would drop an exhausted message with nothing but an
// advisory, while counting here lets a message that crashed its consumer past the limit still reach the
// dead-letter store on its next delivery. A subscriber that finds messages left unacknowledged by a
// crashed one restarts the consumer at its ack floor, so they are redelivered at once, in order, instead of
// after `ack_wait` and behind later ones.
import {
  AckPolicy, DeliverPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager,
  type ConsumerConfig, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg,
} from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import type { EventBus, EventHandler, EventSubscription, SubscribeOptions } from '../../../ports/event-bus.js';
import {
  EVENT_SUBJECT_PREFIX_DEFAULT, NATS_BUS_DEFAULTS, NATS_DRAIN_TIMEOUT_MS, NATS_RECONNECT_WAIT_MS, NATS_STARTUP_STREAM_ATTEMPTS, NATS_STARTUP_STREAM_RETRY_MS,
} from '../../../domain/limits.js';
import { EventBusClosedError, eventSubject } from '../../../ports/event-bus.js';
import type { RecordedEvent } from '../../../ports/event-store.js';
import { checkSubscribeOptions, handleDelivery } from '../consumer-rules.js';
import { ensureStream, STREAM_NAME_PATTERN, SUBJECT_PREFIX_PATTERN, type StreamSettings } from './jetstream-stream.js';

interface NatsEventBusOptions {
  /** e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Default `chronicle-events`. */
  streamName?: string;
  /** Default `events`: subjects `events.account.MoneyDeposited`, stream subjects `events.>`. */
  subjectPrefix?: string;
  /** Default 2 minutes. Must exceed the longest a relay can be down holding an unsaved checkpoint tail. */
  duplicateWindowMs?: number;
  /** Default 0: keep every message (limits retention with no limit). */
  maxAgeMs?: number;
  /** Default 1. */
  replicas?: number;
  /** How long a publish waits for the stream's acknowledgement. Default 5 s. */
  publishTimeoutMs?: number;
  /** How long a JetStream API request (stream and consumer info, create) waits. Default 5 s. */
  apiTimeoutMs?: number;
  /** A delivered message not acknowledged within this is delivered again. Default NATS_ACK_WAIT_MS_DEFAULT (10 s). */
  ackWaitMs?: number;
  /** Shown by the server (connz). */
  connectionName?: string;
}

export class EventPublishError extends Error {
  override readonly name = 'EventPublishError';
}

class InvalidEventMessageError extends Error {
  override readonly name = 'InvalidEventMessageError';
}

/** Connects (reconnecting forever once connected) and makes sure the stream exists. */
export async function connectNatsEventBus(options: NatsEventBusOptions): Promise<NatsEventBus> {
  const nc = await connect({
    servers: options.servers,
    name: options.connectionName ?? 'chronicle',
    // A relay outlives NATS outages: it keeps retrying and its checkpoint waits; never give up on the server.
    maxReconnectAttempts: -1,
    reconnectTimeWait: NATS_RECONNECT_WAIT_MS,
  });
  try {
    const jsm = await jetstreamManager(nc, { timeout: options.apiTimeoutMs ?? NATS_BUS_DEFAULTS.apiTimeoutMs });
    const bus = new NatsEventBus(nc, jsm, options);
    for (let attempt = 1; ; attempt += 1) {
      try {
        await bus.ready();
        break;
      } catch (error) {
        // JetStream's own refusals (a bad setting, 4xx) stop the start at once; a timeout, no responders or
        // "temporarily unavailable" (503) while a cluster forms or elects is asked again, a bounded number of times.
        const transient = !(error instanceof JetStreamApiError) || error.status === 503;
        if (!transient || attempt >= NATS_STARTUP_STREAM_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, NATS_STARTUP_STREAM_RETRY_MS));
      }
    }
    return bus;
  } catch (error) {
    await nc.close();
    throw error;
  }
}

export class NatsEventBus implements EventBus {
  readonly streamName: string;
  readonly subjectPrefix: string;
  private readonly js: JetStreamClient;
  private readonly settings: StreamSettings;
  private readonly publishTimeoutMs: number;
  private readonly ackWaitMs: number;
  /** The stream's last sequence as this publisher knows it (undefined: ask the stream). */
  private lastSeq: number | undefined;
  private readonly subscriptions = new Set<EventSubscription>();
  /** The stream is known to exist; reset after a failed publish, so the next one checks again. */
  private streamReady: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly nc: NatsConnection, private readonly jsm: JetStreamManager, options: NatsEventBusOptions) {
    this.streamName = options.streamName ?? NATS_BUS_DEFAULTS.streamName;
    this.subjectPrefix = options.subjectPrefix ?? EVENT_SUBJECT_PREFIX_DEFAULT;
    if (!STREAM_NAME_PATTERN.test(this.streamName)) throw new RangeError(`invalid JetStream stream name ${JSON.stringify(this.streamName)}`);
    if (!SUBJECT_PREFIX_PATTERN.test(this.subjectPrefix)) throw new RangeError(`invalid subject prefix ${JSON.stringify(this.subjectPrefix)}`);
    this.settings = {
      streamName: this.streamName,
      subjectPrefix: this.subjectPrefix,
      duplicateWindowMs: options.duplicateWindowMs ?? NATS_BUS_DEFAULTS.duplicateWindowMs,
      maxAgeMs: options.maxAgeMs ?? NATS_BUS_DEFAULTS.maxAgeMs,
      replicas: options.replicas ?? NATS_BUS_DEFAULTS.replicas,
    };
    this.publishTimeoutMs = options.publishTimeoutMs ?? NATS_BUS_DEFAULTS.publishTimeoutMs;
    this.ackWaitMs = options.ackWaitMs ?? NATS_BUS_DEFAULTS.ackWaitMs;
    this.js = jetstream(nc, { timeout: this.publishTimeoutMs });
  }

  /** Resolves once the stream exists with the configured settings. */
  ready(): Promise<void> {
    this.streamReady ??= ensureStream(this.jsm, this.settings).catch((error: unknown) => {
      this.streamReady = undefined;
      throw error;
    });
    return this.streamReady;
  }

  async publish(event: RecordedEvent): Promise<void> {
    if (this.closed) throw new EventBusClosedError('the event bus is closed');
    try {
      await this.ready();
      const ack = await this.js.publish(eventSubject(this.subjectPrefix, event), JSON.stringify(event), {
        msgID: event.eventId,
        timeout: this.publishTimeoutMs,
        // Refused unless it lands in our stream: another stream listening on the subject is a misconfiguration.
        expect: { streamName: this.streamName },
      });
      this.lastSeq = ack.duplicate ? undefined : ack.seq;
    } catch (error) {
      // The stream may be gone (deleted, JetStream lost its store): check again before the next publish.
      this.streamReady = undefined;
      this.lastSeq = undefined;
      throw new EventPublishError(`publishing event ${event.eventId} to ${this.streamName} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Pipelined publishing: every event is sent at once, each with the stream sequence it must follow
   * (Nats-Expected-Last-Sequence = the previous one's), so JetStream stores them in this order or not at
   * all: when one is refused or lost, every later one is refused too (its expected predecessor is missing).
   * Returns how many, from the first, were stored. A re-published event (a duplicate) is reported as not
   * stored, and the caller goes on one by one: the duplicate window still drops it there. Assumes the relay
   * is the stream's only publisher (its lease ensures it); the last sequence is learnt from the stream once,
   * then from the acknowledgements.
   */
  async publishMany(events: readonly RecordedEvent[]): Promise<number> {
    if (this.closed) throw new EventBusClosedError('the event bus is closed');
    if (events.length === 0) return 0;
    await this.ready();
    const base = this.lastSeq ?? (await this.jsm.streams.info(this.streamName)).state.last_seq;
    const acks = await Promise.allSettled(events.map((event, i) => this.js.publish(eventSubject(this.subjectPrefix, event), JSON.stringify(event), {
      msgID: event.eventId,
      timeout: this.publishTimeoutMs,
      expect: { streamName: this.streamName, lastSequence: base + i },
    })));
    let stored = 0;
    for (const ack of acks) {
      if (ack.status !== 'fulfilled' || ack.value.duplicate || ack.value.seq !== base + stored + 1) break;
      stored += 1;
    }
    this.lastSeq = stored === events.length ? base + stored : undefined;
    return stored;
  }

  async lastPublished(): Promise<RecordedEvent | null> {
    await this.ready();
    const info = await this.jsm.streams.info(this.streamName);
    if (info.state.messages === 0) return null;
    try {
      const message = await this.jsm.streams.getMessage(this.streamName, { seq: info.state.last_seq });
      return message ? parseEvent(message.json<unknown>()) : null;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound) return null;
      // Not an event (someone else published into the stream): say we cannot tell.
      if (error instanceof InvalidEventMessageError || error instanceof SyntaxError) return null;
      throw error;
    }
  }

  /** Messages held and the last sequence: for the relay's tests and an operator's check. */
  /**
   * The stream's messages and, in a JetStream cluster, its servers: the leader and each replica, current or
   * not. `degraded`: a replica is offline or behind, or the stream has no leader.
   */
  async streamState(): Promise<{ messages: number; lastSeq: number; leader: string | null; replicas: { name: string; current: boolean; offline: boolean; lag: number }[]; degraded: boolean }> {
    const info = await this.jsm.streams.info(this.streamName);
    const replicas = (info.cluster?.replicas ?? []).map((r) => ({ name: r.name, current: r.current, offline: r.offline === true, lag: r.lag ?? 0 }));
    const leader = info.cluster?.leader ?? null;
    const degraded = (info.config.num_replicas > 1 && leader === null) || replicas.some((r) => !r.current || r.offline)
      || replicas.length + 1 < info.config.num_replicas;
    return { messages: info.state.messages, lastSeq: info.state.last_seq, leader, replicas, degraded };
  }

  async subscribe(durableName: string, handler: EventHandler, options: SubscribeOptions): Promise<EventSubscription> {
    const filter = checkSubscribeOptions(durableName, options).map((f) => `${this.subjectPrefix}.${f}`);
    if (this.closed) throw new EventBusClosedError('the event bus is closed');
    await this.ready();
    await this.ensureConsumer(durableName, filter, options.maxAckPending);
    const consumer = await this.js.consumers.get(this.streamName, durableName);
    const messages = await consumer.consume({ max_messages: Math.min(options.maxAckPending, NATS_BUS_DEFAULTS.pullBatchMax) });
    let stopped = false;
    void this.watchStatus(messages, options);
    const concurrency = options.concurrency ?? 1;
    const inFlight = new Set<Promise<void>>();
    let slotFreed: (() => void) | null = null;
    const loop = (async () => {
      try {
        for await (const message of messages) {
          if (stopped) {
            message.nak(); // pulled but not handled: let the next subscriber have it now, not after ack_wait
            continue;
          }
          if (concurrency === 1) {
            await this.handle(message, handler, options).catch((error: unknown) => options.onError?.(error));
            continue;
          }
          while (inFlight.size >= concurrency) await new Promise<void>((resolve) => { slotFreed = resolve; });
          const call: Promise<void> = this.handle(message, handler, options)
            .catch((error: unknown) => options.onError?.(error))
            .finally(() => {
              inFlight.delete(call);
              slotFreed?.();
              slotFreed = null;
            });
          inFlight.add(call);
        }
      } catch (error) {
        // The consumer ended under us (deleted, stream gone): say so; stop() still resolves.
        options.onError?.(error);
      } finally {
        await Promise.all(inFlight);
      }
    })();
    const subscription: EventSubscription = {
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await messages.close();
        await loop;
        await this.nc.flush().catch(() => {}); // the last acks leave before we return
        this.subscriptions.delete(subscription);
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    // drain() flushes what is buffered; it can wait for a reconnect that never comes, so bound it.
    const drained = this.nc.drain().catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, NATS_DRAIN_TIMEOUT_MS)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async ensureConsumer(durableName: string, filter: string[], maxAckPending: number): Promise<void> {
    const settings: Partial<ConsumerConfig> = {
      ack_wait: nanos(this.ackWaitMs),
      max_deliver: -1,
      max_ack_pending: maxAckPending,
      // filter_subjects (several) needs nats-server 2.10; one filter works everywhere.
      ...(filter.length === 1 ? { filter_subject: filter[0]! } : { filter_subjects: filter }),
    };
    try {
      const info = await this.jsm.consumers.info(this.streamName, durableName);
      if (info.num_ack_pending > 0) {
        // Delivered to a subscriber that is gone (a crash: a clean stop leaves nothing pending) and not
        // acknowledged. JetStream would hold them back until ack_wait runs out, while delivering later
        // events now: a projection would see those as gaps. Start the consumer again right after its ack
        // floor instead, so they come first and at once; events acknowledged past the floor come again
        // and are duplicates to an idempotent handler. One subscriber per durable, as everywhere here.
        await this.jsm.consumers.delete(this.streamName, durableName);
        await this.jsm.consumers.add(this.streamName, {
          ...settings,
          durable_name: durableName,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: info.ack_floor.stream_seq + 1,
        });
        return;
      }
      const c = info.config;
      const same = c.ack_wait === settings.ack_wait && c.max_deliver === settings.max_deliver && c.max_ack_pending === maxAckPending
        && (filter.length === 1 ? c.filter_subject === filter[0] : JSON.stringify(c.filter_subjects) === JSON.stringify(filter));
      if (!same) await this.jsm.consumers.update(this.streamName, durableName, settings);
      return;
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)) throw error;
    }
    await this.jsm.consumers.add(this.streamName, {
      ...settings,
      durable_name: durableName,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
    });
  }

  private async handle(message: JsMsg, handler: EventHandler, options: SubscribeOptions): Promise<void> {
    let event: RecordedEvent;
    try {
      event = parseEvent(message.json<unknown>());
    } catch (error) {
      options.onError?.(new InvalidEventMessageError(`message ${message.seq} on ${message.subject} is not a recorded event`, { cause: error }));
      message.term('not a recorded event');
      return;
    }
    const attempt = message.info.deliveryCount;
    const outcome = await handleDelivery(event, { redelivered: attempt > 1, attempt, working: () => message.working() }, handler, options);
    if (outcome.kind === 'ack') message.ack();
    else if (outcome.kind === 'drop') message.term('gave up after maxDeliver');
    else message.nak(outcome.delayMs);
  }

  private async watchStatus(messages: ConsumerMessages, options: SubscribeOptions): Promise<void> {
    try {
      for await (const status of messages.status()) {
        if (status.type === 'consumer_deleted' || status.type === 'consumer_not_found' || status.type === 'stream_not_found'
          || status.type === 'heartbeats_missed') {
          options.onError?.(new Error(`JetStream consumer on ${this.streamName}: ${status.type}`));
        }
      }
    } catch {
      // the iterator ends with the subscription
    }
  }
}

/** The payload back to a RecordedEvent; throws InvalidEventMessageError when it is not one. */
function parseEvent(value: unknown): RecordedEvent {
  const e = value as Partial<RecordedEvent> | null;
  if (typeof e !== 'object' || e === null || typeof e.eventId !== 'string' || typeof e.streamId !== 'string'
    || typeof e.globalPosition !== 'number' || typeof e.streamVersion !== 'number' || typeof e.type !== 'string'
    || typeof e.aggregateType !== 'string' || typeof e.transactionId !== 'string') {
    throw new InvalidEventMessageError('payload is not a recorded event');
  }
  return e as RecordedEvent;
}
