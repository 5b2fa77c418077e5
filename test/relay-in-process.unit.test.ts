// The in-process event bus (the embedded default) has the JetStream adapter's semantics, shown here without
// any service: publish order, duplicates dropped by event id within the window, durable consumers that
// resume after their last ack, redelivery with backoff, dead-letter after maxDeliver, bounded memory.
// Then the relay over it, against a store fake: order, re-sent tail dropped, a failing bus or checkpoint
// store retried without a gap and with the re-sent tail bounded.
import { describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../src/adapters/event-bus/in-process/in-process-event-bus.js';
import { MemoryRelayCheckpoints, OutboxRelay, RelayPositionLostError } from '../src/application/relay.js';
import type { RelayCheckpointStore } from '../src/ports/relay-checkpoints.js';
import { eventSubject, type Delivery, type EventPublisher, type SubscribeOptions } from '../src/ports/event-bus.js';
import type { EventStore, RecordedEvent } from '../src/ports/event-store.js';

const event = (n: number, type = 'MoneyDeposited', aggregateType = 'Account'): RecordedEvent => ({
  eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  streamId: `account-A${n % 3}`,
  streamVersion: Math.floor(n / 3) + 1,
  globalPosition: n,
  transactionId: String(1000 + n),
  aggregateType,
  type,
  data: { amount: String(n) },
  schemaVersion: 1,
  recordedAt: new Date(1_700_000_000_000 + n).toISOString(),
  createdBy: 'test',
  metadata: {},
});
const events = (count: number, from = 1) => Array.from({ length: count }, (_, i) => event(from + i));
const ids = (list: RecordedEvent[]) => list.map((e) => e.eventId);

const base: SubscribeOptions = { maxDeliver: 3, maxAckPending: 1, backoffMs: [5, 10] };

describe('in-process event bus', () => {
  it('keeps publish order and drops a re-published event id within the duplicate window, not after it', async () => {
    let now = 0;
    const bus = new InProcessEventBus({ duplicateWindowMs: 1_000, now: () => now });
    const list = events(5);
    for (const e of list) await bus.publish(e);
    for (const e of list) await bus.publish(e);
    expect(ids(bus.storedEvents())).toEqual(ids(list));
    expect(await bus.lastPublished()).toEqual(list.at(-1));
    now = 999;
    await bus.publish(list[0]!);
    expect(bus.storedEvents()).toHaveLength(5);
    now = 1_001; // past the window, as JetStream: stored again
    await bus.publish(list[0]!);
    expect(bus.storedEvents()).toHaveLength(6);
    await bus.close();
  });

  it('names subjects events.<aggregate>.<EventType>, aggregate lower-cased, unsafe characters replaced', () => {
    expect(eventSubject('events', event(1))).toBe('events.account.MoneyDeposited');
    expect(eventSubject('events', event(1, 'Order.Placed', 'my shop'))).toBe('events.my_shop.Order_Placed');
    expect(eventSubject('x.events', event(1, 'A>*', ''))).toBe('x.events._.A__');
  });

  it('delivers to a durable consumer in order, and a new subscription resumes after the last ack', async () => {
    const bus = new InProcessEventBus();
    const list = events(10);
    for (const e of list) await bus.publish(e);
    const seen: RecordedEvent[] = [];
    const first = await bus.subscribe('proc', async (e) => { seen.push(e); }, { ...base, maxAckPending: 4 });
    await expect.poll(() => seen.length, { timeout: 5_000, interval: 2, message: 'six events' }).toBeGreaterThanOrEqual(6);
    await first.stop();
    const stoppedAt = seen.length;
    expect(ids(seen)).toEqual(ids(list.slice(0, stoppedAt)));
    for (const e of events(2, 11)) await bus.publish(e);
    const second = await bus.subscribe('proc', async (e) => { seen.push(e); }, base);
    await expect.poll(() => seen.length, { timeout: 5_000, interval: 2, message: 'every event' }).toBe(12);
    await second.stop();
    expect(ids(seen)).toEqual(ids(events(12)));
    await bus.close();
  });

  it('redelivers a failed event after its backoff; maxAckPending 1 holds later events back, more lets them pass', async () => {
    for (const maxAckPending of [1, 8]) {
      const bus = new InProcessEventBus();
      const list = events(6);
      for (const e of list) await bus.publish(e);
      const handled: number[] = [];
      const deliveries: Delivery[] = [];
      const started = Date.now();
      let retriedAt = 0;
      const sub = await bus.subscribe('proc', async (e, delivery) => {
        if (e.globalPosition === 2) {
          deliveries.push(delivery);
          if (delivery.attempt === 2) retriedAt = Date.now();
          if (delivery.attempt < 3) throw new Error('not yet');
        }
        handled.push(e.globalPosition);
      }, { ...base, maxAckPending, backoffMs: [40, 40] });
      await expect.poll(() => handled.length, { timeout: 5_000, interval: 2, message: 'every event' }).toBe(6);
      await sub.stop();
      expect(deliveries).toEqual([{ redelivered: false, attempt: 1 }, { redelivered: true, attempt: 2 }, { redelivered: true, attempt: 3 }]);
      expect(retriedAt - started).toBeGreaterThanOrEqual(35);
      expect(handled).toEqual(maxAckPending === 1 ? [1, 2, 3, 4, 5, 6] : [1, 3, 4, 5, 6, 2]);
      await bus.close();
    }
  });

  it('dead-letters an event after maxDeliver and goes on; a failing dead-letter store is retried without the handler', async () => {
    const bus = new InProcessEventBus();
    for (const e of events(4)) await bus.publish(e);
    const handled: number[] = [];
    let handlerCalls = 0;
    let deadLetterCalls = 0;
    const dead: { position: number; attempt: number; error: string }[] = [];
    const errors: unknown[] = [];
    const sub = await bus.subscribe('proc', async (e) => {
      if (e.globalPosition === 2) {
        handlerCalls += 1;
        throw new Error('poison');
      }
      handled.push(e.globalPosition);
    }, {
      ...base,
      deadLetter: async (e, error, delivery) => {
        deadLetterCalls += 1;
        if (deadLetterCalls === 1) throw new Error('dead-letter store down');
        dead.push({ position: e.globalPosition, attempt: delivery.attempt, error: (error as Error).message });
      },
      onError: (error) => errors.push(error),
    });
    await expect.poll(() => handled.length, { timeout: 5_000, interval: 2, message: 'the rest' }).toBe(3);
    await sub.stop();
    expect(handled).toEqual([1, 3, 4]);
    expect(handlerCalls).toBe(3); // maxDeliver, never more
    expect(dead).toEqual([{ position: 2, attempt: 4, error: 'poison' }]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['dead-letter store down']);

    // Without a dead-letter store the event is dropped, said through onError, and the consumer goes on.
    const dropped: unknown[] = [];
    const got: number[] = [];
    const other = await bus.subscribe('other', async (e) => {
      if (e.globalPosition === 1) throw new Error('poison');
      got.push(e.globalPosition);
    }, { ...base, maxDeliver: 2, onError: (error) => dropped.push(error) });
    await expect.poll(() => got.length, { timeout: 5_000, interval: 2, message: 'the rest' }).toBe(3);
    await other.stop();
    expect(got).toEqual([2, 3, 4]);
    expect(dropped).toHaveLength(1);
    expect((dropped[0] as Error).name).toBe('RedeliveryLimitError');
    await bus.close();
  });

  it('filters by subject as a JetStream consumer does', async () => {
    const bus = new InProcessEventBus();
    await bus.publish(event(1));
    await bus.publish(event(2, 'OrderPlaced', 'Order'));
    await bus.publish(event(3, 'MoneyWithdrawn'));
    const seen: number[] = [];
    const sub = await bus.subscribe('accounts', async (e) => { seen.push(e.globalPosition); }, { ...base, filter: ['account.*'] });
    await expect.poll(() => seen.length, { timeout: 5_000, interval: 2, message: 'account events' }).toBe(2);
    await sub.stop();
    expect(seen).toEqual([1, 3]);
    await expect(bus.subscribe('bad', async () => {}, { ...base, filter: ['a.>.b'] })).rejects.toThrow(/not a NATS subject/);
    await expect(bus.subscribe('bad name', async () => {}, base)).rejects.toThrow(/durable name/);
    await bus.close();
  });

  it('is bounded: past messagesMax a publish waits while a durable still needs the oldest message', async () => {
    const bus = new InProcessEventBus({ messagesMax: 3 });
    const consumer = await bus.subscribe('slow', async () => {}, base);
    await consumer.stop(); // registered, not consuming
    for (const e of events(3)) await bus.publish(e);
    let fourthStored = false;
    const fourth = bus.publish(event(4)).then(() => (fourthStored = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(fourthStored).toBe(false);
    const seen: number[] = [];
    const resumed = await bus.subscribe('slow', async (e) => { seen.push(e.globalPosition); }, base);
    await fourth;
    await expect.poll(() => seen.length, { timeout: 5_000, interval: 2, message: 'all four' }).toBe(4);
    await resumed.stop();
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(bus.storedEvents().map((e) => e.globalPosition)).toEqual([2, 3, 4]);

    // Nobody needs the oldest: dropped, as limits retention would.
    const free = new InProcessEventBus({ messagesMax: 2 });
    for (const e of events(3)) await free.publish(e);
    expect(free.storedEvents().map((e) => e.globalPosition)).toEqual([2, 3]);
    await free.close();
    await bus.close();
  });
});

/** readAll and readStream over an array: all the relay uses. Positions are 1..n. */
function storeOf(list: RecordedEvent[]): EventStore {
  const store: Partial<EventStore> = {
    async readAll(after, count) {
      if (after > list.length) return null;
      const page = list.slice(after, after + count);
      return { events: page, lastPosition: page.at(-1)?.globalPosition ?? after };
    },
    async readStream(streamId, options) {
      const found = list.filter((e) => e.streamId === streamId && e.streamVersion >= (options.fromVersion ?? 1)).slice(0, options.count);
      return { streamId, version: 0, events: found };
    },
  };
  return store as EventStore;
}

async function relayUntil(relay: OutboxRelay, done: () => boolean): Promise<void> {
  const abort = new AbortController();
  const running = relay.run(abort.signal);
  try {
    await expect.poll(done, { timeout: 5_000, interval: 2, message: 'the relay' }).toBe(true);
  } finally {
    abort.abort();
    await running;
  }
}

describe('outbox relay over the in-process bus', () => {
  it('publishes $all in order; restarted from a stale checkpoint, the bus drops the re-sent tail', async () => {
    const list = events(50);
    const store = storeOf(list);
    const bus = new InProcessEventBus();
    const checkpoints = new MemoryRelayCheckpoints();
    const options = { name: 'in-process', pageSize: 7, pollIntervalMs: 1, checkpointEveryEvents: 10 };
    await relayUntil(new OutboxRelay({ store, publisher: bus, checkpoints }, options), () => bus.storedEvents().length === 50);
    expect(ids(bus.storedEvents())).toEqual(ids(list));
    expect(await checkpoints.load('in-process')).toBe(50);

    await checkpoints.save('in-process', 20); // as if it died before saving
    let resent = 0;
    await relayUntil(new OutboxRelay({ store, publisher: bus, checkpoints }, { ...options, resumeFromBus: false, onPublished: () => (resent += 1) }), () => resent === 30);
    expect(ids(bus.storedEvents())).toEqual(ids(list));

    // A fresh (volatile) bus knows nothing: the relay resumes from the checkpoint alone.
    const fresh = new InProcessEventBus();
    await checkpoints.save('in-process', 45);
    await relayUntil(new OutboxRelay({ store, publisher: fresh, checkpoints }, options), () => fresh.storedEvents().length === 5);
    expect(ids(fresh.storedEvents())).toEqual(ids(list.slice(45)));
    await bus.close();
    await fresh.close();
  });

  it('retries a failing bus without skipping or repeating an event', async () => {
    const list = events(40);
    const bus = new InProcessEventBus();
    let calls = 0;
    const flaky: EventPublisher = {
      async publish(e) {
        calls += 1;
        if (calls % 4 === 0) throw new Error('bus unavailable');
        await bus.publish(e);
      },
      close: () => bus.close(),
    };
    const errors: unknown[] = [];
    const relay = new OutboxRelay({ store: storeOf(list), publisher: flaky, checkpoints: new MemoryRelayCheckpoints() }, {
      name: 'flaky', pollIntervalMs: 1, retryMinMs: 1, retryMaxMs: 2, onError: (e) => errors.push(e),
    });
    await relayUntil(relay, () => bus.storedEvents().length === 40);
    expect(ids(bus.storedEvents())).toEqual(ids(list));
    expect(errors.length).toBeGreaterThan(5);
    const lag = await relay.lag();
    expect(lag).toMatchObject({ publishedPosition: 40, eventsBehind: 0, publishedTotal: 40 });
    await bus.close();
  });

  it('stops publishing while a due checkpoint cannot be saved: the re-sent tail stays bounded', async () => {
    const list = events(100);
    const bus = new InProcessEventBus();
    let failing = true;
    const inner = new MemoryRelayCheckpoints();
    const checkpoints: RelayCheckpointStore = {
      load: (name) => inner.load(name),
      save: async (name, position) => {
        if (failing && position >= 20) throw new Error('database down');
        await inner.save(name, position);
      },
    };
    const relay = new OutboxRelay({ store: storeOf(list), publisher: bus, checkpoints }, {
      name: 'bounded', pollIntervalMs: 1, checkpointEveryEvents: 10, checkpointIntervalMs: 60_000, retryMinMs: 1, retryMaxMs: 2,
    });
    const abort = new AbortController();
    const running = relay.run(abort.signal);
    await expect.poll(() => bus.storedEvents().length, { timeout: 5_000, interval: 2, message: 'the checkpoint to fail' }).toBeGreaterThanOrEqual(20);
    await new Promise((r) => setTimeout(r, 50));
    const saved = (await inner.load('bounded'))!;
    expect(saved).toBeLessThan(20);
    expect(bus.storedEvents().length - saved).toBeLessThanOrEqual(10);
    expect((await relay.lag()).lastError).toBe('database down');
    failing = false;
    await expect.poll(() => bus.storedEvents().length, { timeout: 5_000, interval: 2, message: 'every event' }).toBe(100);
    abort.abort();
    await running;
    expect(await inner.load('bounded')).toBe(100);
    expect(ids(bus.storedEvents())).toEqual(ids(list));
    await bus.close();
  });

  it('refuses to start from a checkpoint the store does not hold (another database, a restored backup)', async () => {
    const bus = new InProcessEventBus();
    const relay = new OutboxRelay({ store: storeOf(events(5)), publisher: bus, checkpoints: new MemoryRelayCheckpoints({ lost: 99 }) }, { name: 'lost' });
    await expect(relay.run(new AbortController().signal)).rejects.toBeInstanceOf(RelayPositionLostError);
    expect(bus.storedEvents()).toEqual([]);
    await bus.close();
  });
});
