// The outbox relay on the real services: PostgreSQL event store, NATS JetStream at 127.0.0.1:4222.
// How each case proves its claim:
// - order and payloads: every message of the stream, read back by sequence, equals the event at the same
//   index of GET $all (readAll from 0): same payload, subject events.<aggregate>.<EventType>, Nats-Msg-Id.
// - no duplicate, no gap: the stream's message count equals the number of events in $all, and the ids
//   read back are exactly $all's ids in order.
// - re-publishes are dropped: a relay restarted with its checkpoint set back re-sends a tail (its own
//   count says so) and the stream still holds each event once.
// - a crash at any instant: the relay runs as a child process killed with SIGKILL at random points while
//   commands keep arriving, and is started again each time.
// Every test uses a stream and subject prefix of its own, deleted at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNatsEventBus, type NatsEventBus } from '../src/adapters/event-bus/nats/nats-event-bus.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from '../src/adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { OutboxRelay, type RelayOptions } from '../src/application/relay.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { Delivery } from '../src/ports/event-bus.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import {
  deleteStreams, freePort, natsAdmin, natsAvailable, natsServerBinaryAvailable, NATS_TEST_URL, readStreamMessages,
  startPrivateNatsServer, uniqueBusNames,
} from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { allEvents } from './support/read-model-expectations.js';
import { testRandom } from './support/seeded-random.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!servicesUp)('outbox relay: PostgreSQL → NATS JetStream', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let sql: SqlClient;
  let checkpoints: SqlRelayCheckpoints;
  let admin: Awaited<ReturnType<typeof natsAdmin>>;
  const streams: string[] = [];
  const buses: NatsEventBus[] = [];
  const children: ChildProcess[] = [];
  let accounts = 0;

  const post = async (url: string, payload: object) => {
    const response = await ledger.app.inject({ method: 'POST', url, payload });
    if (response.statusCode !== 201) throw new Error(`${url}: ${response.statusCode} ${response.body}`);
  };

  /** Two new accounts, deposits and transfers between them: `rounds * 4 + 2` events or so. */
  async function someCommands(rounds: number): Promise<void> {
    const a = `R${++accounts}`;
    const b = `R${++accounts}`;
    await post('/commands/create-account', { accountId: a, owner: 'Relay', currency: 'EUR' });
    await post('/commands/create-account', { accountId: b, owner: 'Relay', currency: 'EUR' });
    for (let i = 0; i < rounds; i += 1) {
      await post('/commands/deposit', { accountId: a, amount: '100' });
      await post('/commands/transfer', { fromAccountId: a, toAccountId: b, amount: '30' });
      await post('/commands/withdraw', { accountId: b, amount: '10' });
    }
  }

  async function newBus(): Promise<{ bus: NatsEventBus; subjectPrefix: string; streamName: string }> {
    const names = uniqueBusNames();
    streams.push(names.streamName);
    const bus = await connectNatsEventBus({ servers: NATS_TEST_URL, ...names, connectionName: 'chronicle-relay-test' });
    buses.push(bus);
    return { bus, ...names };
  }

  function startRelay(bus: NatsEventBus, options: RelayOptions) {
    const relay = new OutboxRelay({ store: ledger.store, publisher: bus, checkpoints, countEventsAfter: sqlCountEventsAfter(sql) }, {
      pollIntervalMs: 10, ...options,
    });
    const abort = new AbortController();
    const done = relay.run(abort.signal);
    return { relay, stop: async () => { abort.abort(); await done; } };
  }

  const caughtUp = async (bus: NatsEventBus) => {
    await expect.poll(async () => (await bus.streamState()).messages === (await allEvents(ledger.store)).length,
      { timeout: 15_000, interval: 25, message: 'the stream to hold every event' }).toBe(true);
  };

  /** The stream holds exactly $all: same events, same order, each once, with subject and Nats-Msg-Id. */
  async function expectStreamEqualsAll(streamName: string, subjectPrefix: string, jsm = admin.jsm): Promise<RecordedEvent[]> {
    const all = await allEvents(ledger.store);
    const messages = await readStreamMessages(jsm, streamName);
    expect(messages.map((m) => m.event.eventId)).toEqual(all.map((e) => e.eventId));
    expect(new Set(messages.map((m) => m.event.eventId)).size).toBe(messages.length);
    expect(messages.map((m) => m.seq)).toEqual(all.map((_, i) => i + 1));
    expect(messages.map((m) => m.event)).toEqual(all);
    expect(messages.map((m) => m.subject)).toEqual(all.map((e) => `${subjectPrefix}.account.${e.type}`));
    expect(messages.map((m) => m.msgId)).toEqual(all.map((e) => e.eventId));
    return all;
  }

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = await createLedger({ store: { kind: 'postgres', url: db.url, poolMax: 8 }, processMetrics: false, roles: ['ledger-api'] });
    sql = createPostgresClient({ connectionString: db.url, poolMax: 2 });
    checkpoints = await SqlRelayCheckpoints.open(sql);
    admin = await natsAdmin();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const bus of buses) await bus.close();
    if (admin) {
      await deleteStreams(admin.jsm, streams);
      await admin.close();
    }
    await ledger?.close();
    await sql?.close();
    await db?.drop();
  });

  it('publishes the events of commands in $all order, on events.<aggregate>.<EventType>, payload = the recorded event', async () => {
    const { bus, streamName, subjectPrefix } = await newBus();
    await someCommands(5);
    const { relay, stop } = startRelay(bus, { name: 'relay-a' });
    await someCommands(5); // while it runs
    await caughtUp(bus);
    const all = await expectStreamEqualsAll(streamName, subjectPrefix);
    expect(all.length).toBe(2 * (2 + 5 * 4)); // create ×2, then deposit, transfer (sent + received), withdraw
    const subjects = new Set((await readStreamMessages(admin.jsm, streamName)).map((m) => m.subject));
    expect(subjects).toEqual(new Set(['AccountCreated', 'MoneyDeposited', 'TransferSent', 'TransferReceived', 'MoneyWithdrawn']
      .map((type) => `${subjectPrefix}.account.${type}`)));
    const lag = await relay.lag();
    expect(lag).toMatchObject({ eventsBehind: 0, lagMs: 0, publishedPosition: all.at(-1)!.globalPosition, publishedTotal: all.length });
    await stop();
    expect(await checkpoints.load('relay-a')).toBe(all.at(-1)!.globalPosition);
  });

  it('restarted from its checkpoint: re-sends the unsaved tail, JetStream drops it, no duplicate and no gap', async () => {
    const { bus, streamName, subjectPrefix } = await newBus();
    const first = startRelay(bus, { name: 'relay-b' });
    await someCommands(3);
    await caughtUp(bus);
    await first.stop();
    const before = await allEvents(ledger.store);
    expect(await checkpoints.load('relay-b')).toBe(before.at(-1)!.globalPosition);

    // A crash after publishing but before saving: the checkpoint is behind what the stream holds.
    await someCommands(3);
    const tailFrom = 10;
    await checkpoints.save('relay-b', before[tailFrom - 1]!.globalPosition);
    const resent = startRelay(bus, { name: 'relay-b', resumeFromBus: false });
    await caughtUp(bus);
    const all = await expectStreamEqualsAll(streamName, subjectPrefix);
    // It really did publish the tail again (and JetStream stored none of it a second time).
    expect((await resent.relay.lag()).publishedTotal).toBe(all.length - tailFrom);
    await resent.stop();

    // Asked first, the bus says where it is: the same stale checkpoint re-sends nothing.
    await checkpoints.save('relay-b', before[tailFrom - 1]!.globalPosition);
    await someCommands(1);
    const exact = startRelay(bus, { name: 'relay-b' });
    await caughtUp(bus);
    const after = await expectStreamEqualsAll(streamName, subjectPrefix);
    expect((await exact.relay.lag()).publishedTotal).toBe(after.length - all.length);
    await exact.stop();

    // And the bus itself: publishing a stored event again stores nothing.
    await bus.publish(after[0]!);
    await bus.publish(after.at(-1)!);
    expect((await bus.streamState()).messages).toBe(after.length);
  });

  it('killed with SIGKILL at random points under a stream of commands and restarted: every event of $all once, in order', async () => {
    const { bus, streamName, subjectPrefix } = await newBus();
    await someCommands(20); // a backlog, so the first relay is killed while catching up

    let writing = true;
    const writers = Promise.all(Array.from({ length: 3 }, async () => {
      while (writing) await someCommands(2);
    }));

    const spawnRelay = (resumeFromBus: boolean) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/relay-process.ts'], {
        env: {
          ...process.env, DATABASE_URL: db.url, NATS_URL: NATS_TEST_URL, STREAM_NAME: streamName, SUBJECT_PREFIX: subjectPrefix,
          RELAY_NAME: 'relay-c', RESUME_FROM_BUS: resumeFromBus ? '1' : '0', CHECKPOINT_EVERY: '40', CHECKPOINT_INTERVAL_MS: '150',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let output = '';
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return { child, output: () => output, exited };
    };

    try {
      for (let round = 0; round < 3; round += 1) {
        // Odd rounds resume from the checkpoint alone, so the re-sent tail goes through Nats-Msg-Id dedupe.
        const relay = spawnRelay(round % 2 === 0);
        await expect.poll(async () => /published \d+/.test(relay.output()), { timeout: 20_000, interval: 25, message: `relay ${round} to publish` }).toBe(true);
        await sleep(testRandom().int(20, 319));
        relay.child.kill('SIGKILL');
        await relay.exited;
        expect(relay.child.signalCode).toBe('SIGKILL');
      }
    } finally {
      writing = false;
      await writers;
    }

    const last = spawnRelay(false);
    await caughtUp(bus);
    last.child.kill('SIGTERM');
    await last.exited;
    expect(last.child.exitCode).toBe(0);
    const all = await expectStreamEqualsAll(streamName, subjectPrefix);
    expect(all.length).toBeGreaterThan(200);
  }, 60_000); // typically 7 s (four child starts under tsx); the margin is for a loaded machine

  // A server of its own (never the shared one): stopped and started again on the same port and store.
  it.skipIf(!natsServerBinaryAvailable())('survives a NATS outage: commands go on, the relay retries, then catches up without a gap or a duplicate', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'chronicle-nats-'));
    const port = await freePort();
    let server = await startPrivateNatsServer(storeDir, port);
    const names = uniqueBusNames();
    const bus = await connectNatsEventBus({ servers: server.url, ...names, publishTimeoutMs: 1_000, apiTimeoutMs: 1_000 });
    const errors: unknown[] = [];
    const { relay, stop } = startRelay(bus, { name: 'relay-outage', retryMaxMs: 200, onError: (e) => errors.push(e) });
    try {
      await someCommands(3);
      await caughtUp(bus);
      await server.stop();
      await someCommands(5); // the command path never touches NATS
      await expect.poll(async () => (await relay.lag()).state, { timeout: 15_000, interval: 25, message: 'the relay to notice' }).toBe('retrying');
      expect((await relay.lag()).eventsBehind).toBeGreaterThan(0);
      server = await startPrivateNatsServer(storeDir, port);
      // (Asking the stream while the client still reconnects would wait out a request timeout: ask the relay.)
      await expect.poll(async () => (await relay.lag()).eventsBehind, { timeout: 15_000, interval: 25, message: 'the relay to catch up' }).toBe(0);
      await caughtUp(bus);
      await stop();
      const own = await natsAdmin(server.url);
      try {
        await expectStreamEqualsAll(names.streamName, names.subjectPrefix, own.jsm);
      } finally {
        await own.close();
      }
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await stop();
      await bus.close();
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    }
  });

  it('a durable JetStream consumer: in order, explicit ack, redelivery with backoff, dead-letter after maxDeliver, resumes after its ack', async () => {
    const { bus } = await newBus();
    await someCommands(2);
    const events = (await allEvents(ledger.store)).slice(0, 12);
    for (const event of events) await bus.publish(event);

    const flaky = events[2]!.eventId; // fails twice, then succeeds
    const poison = events[5]!.eventId; // always fails
    const handled: string[] = [];
    const attempts = new Map<string, Delivery[]>();
    const deadLetters: { eventId: string; attempt: number; error: string }[] = [];
    const handler = async (event: RecordedEvent, delivery: Delivery) => {
      attempts.set(event.eventId, [...(attempts.get(event.eventId) ?? []), { redelivered: delivery.redelivered, attempt: delivery.attempt }]);
      if (event.eventId === poison) throw new Error('poison');
      if (event.eventId === flaky && delivery.attempt < 3) throw new Error('flaky');
      handled.push(event.eventId);
    };
    const options = {
      maxDeliver: 3, maxAckPending: 1, backoffMs: [30, 60],
      deadLetter: async (event: RecordedEvent, error: unknown, delivery: Delivery) => {
        deadLetters.push({ eventId: event.eventId, attempt: delivery.attempt, error: (error as Error).message });
      },
    };
    const first = await bus.subscribe('processor-test', handler, options);
    await expect.poll(async () => handled.length, { timeout: 15_000, interval: 25, message: 'every event handled' }).toBe(events.length - 1);
    await first.stop();

    // maxAckPending 1: strict order, the flaky event held the others back until it went through.
    expect(handled).toEqual(events.map((e) => e.eventId).filter((id) => id !== poison));
    expect(attempts.get(flaky)).toEqual([{ redelivered: false, attempt: 1 }, { redelivered: true, attempt: 2 }, { redelivered: true, attempt: 3 }]);
    expect(attempts.get(poison)!.map((d) => d.attempt)).toEqual([1, 2, 3]);
    expect(deadLetters).toEqual([{ eventId: poison, attempt: 3, error: 'poison' }]);

    // The same durable again: nothing redelivered (all acknowledged), new events arrive.
    await someCommands(0);
    const more = (await allEvents(ledger.store)).slice(-2);
    for (const event of more) await bus.publish(event);
    const resumed: string[] = [];
    const second = await bus.subscribe('processor-test', async (event) => { resumed.push(event.eventId); }, options);
    await expect.poll(async () => resumed.length, { timeout: 15_000, interval: 25, message: 'the new events' }).toBe(2);
    await sleep(100);
    await second.stop();
    expect(resumed).toEqual(more.map((e) => e.eventId));
  });
});
