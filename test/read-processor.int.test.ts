// The read processor end to end: ledger → event store → OutboxRelay → bus → ReadProcessor → read store.
// Run twice with the same flow:
// - on the real services: PostgreSQL event store in one test database, NATS JetStream (a stream and subject
//   prefix of this run, deleted at the end), PostgreSQL read store in a SECOND test database;
// - on the embedded pieces (in-process bus, PGlite event and read stores), fast.
// How each claim is shown:
// - the live model equals the store: after a few hundred random commands (4 writers at once, the processor
//   stopped and resumed half way), the model's every balance and transaction row equals a model computed
//   from $all independently, and a rebuild from the event store; transaction rows are unique by event id.
// - poison: the processor is configured to throw for one specific event (the deposit into account POISON).
//   It is delivered maxDeliver times, lands in dead_letters, and the events after it (other accounts) still
//   apply. Replaying it afterwards (the fault gone) completes the model.
// - rebuild: truncate + replay of $all from position 0 gives the identical model; events/s is reported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../src/adapters/event-bus/in-process/in-process-event-bus.js';
import { connectNatsEventBus, type NatsEventBus } from '../src/adapters/event-bus/nats/nats-event-bus.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from '../src/adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { pgliteClient } from '../src/adapters/event-store/pglite/pglite-client.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { SqlReadModel } from '../src/adapters/read-model/sql-read-model.js';
import { ReadProcessor } from '../src/application/read-processor.js';
import { MemoryRelayCheckpoints, OutboxRelay, type RelayDeps } from '../src/application/relay.js';
import type { RelayCheckpointStore } from '../src/ports/relay-checkpoints.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { EventBus } from '../src/ports/event-bus.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { deleteStreams, natsAdmin, natsAvailable, NATS_TEST_URL, uniqueBusNames } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { postCommand, randomCommands as randomCommandsOn } from './support/random-commands.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';
import { freshPglite, pgliteTarget } from './support/stores.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());

interface Rig {
  ledger: Ledger;
  bus: EventBus;
  readDb: SqlClient;
  relayDeps: Omit<RelayDeps, 'store' | 'publisher'>;
  checkpoints: RelayCheckpointStore;
}

const isPoison = (e: RecordedEvent) => e.type === 'MoneyDeposited' && e.streamId === 'account-POISON';

/** The whole flow on one rig; returns the measured rebuild for the report. */
async function theFlow(rig: Rig, commandCount: number): Promise<void> {
  const { ledger, bus } = rig;
  let accounts = 0;
  const post = (url: string, payload: object) => postCommand(ledger, url, payload);
  const randomCommands = (count: number, commands: number) =>
    randomCommandsOn(ledger, Array.from({ length: count }, () => `RP${++accounts}`), commands);

  const readModel = await SqlReadModel.open(rig.readDb);
  const handled = new Set<string>();
  const deadLettered = new Set<string>();
  const deliveries = new Map<string, number>();
  const errors: unknown[] = [];
  const processor = new ReadProcessor({ bus, store: ledger.store, readModel }, {
    maxDeliver: 3, backoffMs: [10, 20],
    beforeApply: (event, delivery) => {
      deliveries.set(event.eventId, delivery.attempt);
      if (isPoison(event)) throw new Error('poison (injected by the test)');
    },
    onHandled: (event) => handled.add(event.eventId),
    onDeadLetter: (event) => deadLettered.add(event.eventId),
    onError: (error) => errors.push(error),
  });
  const relayAbort = new AbortController();
  const relay = new OutboxRelay({ ...rig.relayDeps, store: ledger.store, publisher: bus }, { name: 'rp-relay', pollIntervalMs: 10 });
  const relayDone = relay.run(relayAbort.signal);
  const allDone = async () => {
    const all = await allEvents(ledger.store);
    await expect.poll(() => all.every((e) => handled.has(e.eventId) || deadLettered.has(e.eventId)), { timeout: 20_000, interval: 20, message: `the processor to handle all ${all.length} events` }).toBe(true);
    return all;
  };

  try {
    await processor.start();
    await randomCommands(8, commandCount / 2);
    // The poison: a deposit into an account that gets no later event, then more traffic on the others.
    expect(await post('/commands/create-account', { accountId: 'POISON', owner: 'Poison', currency: 'EUR' })).toBe(201);
    expect(await post('/commands/deposit', { accountId: 'POISON', amount: '77' })).toBe(201);
    await allDone();
    // Stopped and resumed: the durable consumer picks up after its last ack.
    await processor.stop();
    await randomCommands(8, commandCount / 2);
    await processor.start();
    const all = await allDone();
    expect(all.length).toBeGreaterThan(commandCount / 2); // some withdrawals and transfers are refused

    const poison = all.find(isPoison)!;
    expect(deadLettered).toEqual(new Set([poison.eventId]));
    expect(deliveries.get(poison.eventId)).toBe(3);
    const letters = await processor.listDeadLetters();
    expect(letters.map((l) => ({ eventId: l.eventId, attempts: l.attempts, event: l.event }))).toEqual([{ eventId: poison.eventId, attempts: 3, event: poison }]);
    expect(letters[0]!.error).toContain('poison (injected by the test)');
    // Later events still applied: the whole model but the poison.
    const live = await readModel.contents();
    expect(live).toEqual(expectedModel(all.filter((e) => e !== poison)));
    // Every event after the poison was handled, most of them on their first delivery.
    expect(all.slice(all.indexOf(poison) + 1).every((e) => handled.has(e.eventId))).toBe(true);

    // The operator replays it (the fault is injected only on the bus path): complete, and once only.
    expect(await processor.replayDeadLetter(poison.eventId)).toBe('applied');
    expect(await processor.listDeadLetters()).toEqual([]);
    await expect(processor.replayDeadLetter(poison.eventId)).rejects.toThrow(/no dead letter/);
    const complete = await readModel.contents();
    expect(complete).toEqual(expectedModel(all));
    expect(new Set(complete.transactions.map((t) => t.eventId)).size).toBe(complete.transactions.length);
    const status = await processor.status();
    expect(status).toMatchObject({ name: 'accounts', eventsApplied: all.length, running: true, deadLetters: 0 });
    expect(all.map((e) => e.globalPosition)).toContain(status.position);
    expect(Date.parse(status.lastAppliedAt!)).toBeGreaterThan(Date.now() - 60_000);

    // Rebuild from the event store: identical, and its speed reported.
    const report = await processor.rebuild();
    expect(await readModel.contents()).toEqual(complete);
    expect(report).toMatchObject({ events: all.length, applied: all.length, ignored: 0, deadLettered: 0, position: all.at(-1)!.globalPosition });
    expect(report.eventsPerSecond).toBeGreaterThan(0);
    console.log(`[read-processor] rebuild: ${report.events} events in ${report.durationMs} ms = ${report.eventsPerSecond} events/s`);

    // Still live after the rebuild: redeliveries are no-ops, new events apply.
    await randomCommands(2, 8);
    const after = await allDone();
    expect(await readModel.contents()).toEqual(expectedModel(after));
    expect(errors).toEqual([]);
  } finally {
    relayAbort.abort();
    await relayDone;
    await processor.stop();
  }
}

describe('read processor on the embedded pieces: in-process bus, PGlite event and read stores', () => {
  let rig: Rig;
  beforeAll(async () => {
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, roles: ['ledger-api'] });
    const checkpoints = new MemoryRelayCheckpoints();
    rig = { ledger, bus: new InProcessEventBus(), readDb: pgliteClient(await freshPglite('empty')), checkpoints, relayDeps: { checkpoints } };
  });
  afterAll(async () => {
    await rig?.bus.close();
    await rig?.readDb.close();
    await rig?.ledger.close();
  });

  it('live model = store, poison dead-lettered and later events applied, replay, rebuild identical', async () => {
    await theFlow(rig, 200);
  });
});

describe.skipIf(!servicesUp)('read processor on PostgreSQL (events) → NATS JetStream → PostgreSQL (read store, another database)', () => {
  let eventDb: TestDatabase;
  let readDatabase: TestDatabase;
  let rig: Rig;
  let storeSql: SqlClient;
  let streamName: string;

  beforeAll(async () => {
    [eventDb, readDatabase] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const ledger = await createLedger({ store: { kind: 'postgres', url: eventDb.url, poolMax: 8 }, processMetrics: false, roles: ['ledger-api'] });
    storeSql = createPostgresClient({ connectionString: eventDb.url, poolMax: 2 });
    const names = uniqueBusNames();
    streamName = names.streamName;
    const bus: NatsEventBus = await connectNatsEventBus({ servers: NATS_TEST_URL, ...names, connectionName: 'chronicle-read-processor-test' });
    const checkpoints = await SqlRelayCheckpoints.open(storeSql);
    rig = {
      ledger, bus, checkpoints,
      readDb: createPostgresClient({ connectionString: readDatabase.url, poolMax: 4 }),
      relayDeps: { checkpoints, countEventsAfter: sqlCountEventsAfter(storeSql) },
    };
  });
  afterAll(async () => {
    await rig?.bus.close();
    if (streamName) {
      const admin = await natsAdmin();
      await deleteStreams(admin.jsm, [streamName]);
      await admin.close();
    }
    await rig?.readDb.close();
    await rig?.ledger.close();
    await storeSql?.close();
    await eventDb?.drop();
    await readDatabase?.drop();
  });

  it('live model = store, poison dead-lettered and later events applied, replay, rebuild identical', async () => {
    await theFlow(rig, 300);
  });
});

describe('read processor with maxAckPending > 1: a redelivered event arrives after later ones (a gap)', () => {
  it('later events of the same account are refused as a gap and redelivered until the earlier one is in; the model ends exact', async () => {
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, roles: ['ledger-api'] });
    const readDb = pgliteClient(await freshPglite('empty'));
    const bus = new InProcessEventBus();
    try {
      for (const id of ['G1', 'G2']) await ledger.app.inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: id, owner: id, currency: 'EUR' } });
      for (let i = 1; i <= 10; i += 1) {
        await ledger.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: 'G1', amount: String(i) } });
        await ledger.app.inject({ method: 'POST', url: '/commands/transfer', payload: { fromAccountId: 'G1', toAccountId: 'G2', amount: '1' } });
      }
      const all = await allEvents(ledger.store);
      const flaky = all.find((e) => e.streamId === 'account-G1' && e.streamVersion === 3)!;
      const readModel = await SqlReadModel.open(readDb);
      const handled = new Set<string>();
      let gaps = 0;
      const processor = new ReadProcessor({ bus, store: ledger.store, readModel }, {
        maxAckPending: 16, maxDeliver: 20, backoffMs: [5, 10, 20], rebuildWhenEmpty: false,
        beforeApply: (event, delivery) => {
          if (event.eventId === flaky.eventId && delivery.attempt < 3) throw new Error('flaky (injected)');
        },
        onHandled: (event) => handled.add(event.eventId),
      });
      const original = processor.projection.apply.bind(processor.projection);
      processor.projection.apply = async (event, also) => {
        try {
          return await original(event, also);
        } catch (error) {
          if ((error as Error).name === 'ProjectionGapError') gaps += 1;
          throw error;
        }
      };
      await processor.start();
      for (const event of all) await bus.publish(event);
      await expect.poll(() => handled.size, { timeout: 20_000, interval: 20, message: 'every event applied' }).toBe(all.length);
      await processor.stop();
      expect(gaps).toBeGreaterThan(0);
      expect(await readModel.contents()).toEqual(expectedModel(all));
      expect(await processor.listDeadLetters()).toEqual([]);
      expect((await processor.status()).eventsApplied).toBe(all.length);
    } finally {
      await bus.close();
      await readDb.close();
      await ledger.close();
    }
  });
});
