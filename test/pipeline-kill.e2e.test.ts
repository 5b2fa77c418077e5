// The CQRS pipeline survives crashes of its parts: the relay and the read processor run as separate
// processes of the real CLI (`chronicle relay`, `chronicle read-processor`: node --import tsx src/cli/main.ts),
// on PostgreSQL (event store in one test database, read store in a SECOND one) and NATS JetStream (a stream
// and subject prefix of this run). An in-test ledger (ledger-api role) writes batches of random commands
// while, at a random instant of each batch, the relay, the read processor or both get SIGKILL and are
// started again. How each claim is shown:
// - killed while events flow: just before each kill the test records whether the round's commands were
//   still being sent, whether that role was behind the store (stream shorter than the events table;
//   projection short of it) and how many events that process had carried since the round began (its own
//   /metrics counter). At least one kill of each role must have all three.
// - read model = a fresh replay: once both are restarted and caught up, every balance row and every
//   transaction row equals a model computed from $all without the projection's code
//   (test/support/read-model-expectations.ts); transaction rows are unique by event id; the projection's
//   checkpoint is $all's last event and its applied-count equals the number of events (each applied once);
//   no dead letter.
// - the bus: the JetStream stream holds every event of $all exactly once, in $all's order (Nats-Msg-Id =
//   event id).
// - both children stop cleanly on SIGTERM (exit 0), the relay saving its checkpoint at $all's end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlRelayCheckpoints } from '../src/adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import { SqlReadModel } from '../src/adapters/read-model/sql-read-model.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { spawnCli, type CliProcess } from './support/cli-process.js';
import { deleteStreams, freePort, natsAdmin, natsAvailable, NATS_TEST_URL, readStreamMessages, uniqueBusNames } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { postCommand, randomCommands } from './support/random-commands.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';
import { testRandom } from './support/seeded-random.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());

type PipelineRole = 'relay' | 'read-processor';
type KillChoice = PipelineRole | 'both';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const random = testRandom();

/** The sum of a counter's samples in a Prometheus text page (all label sets). */
function counterValue(page: string, name: string): number {
  let sum = 0;
  for (const line of page.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`).exec(line);
    if (match) sum += Number(match[1]);
  }
  return sum;
}

interface Kill {
  round: number;
  role: PipelineRole;
  delayMs: number;
  /** The round's commands were still being sent. */
  commandsInFlight: boolean;
  /** That role had not yet carried every event of $all (stream / projection behind the store). */
  behind: boolean;
  /** Events that process had published (relay) or handled (read processor) since this round's batch began. */
  workDone: number;
}

describe.skipIf(!servicesUp)('pipeline: relay and read processor as CLI processes, SIGKILLed under load and restarted', () => {
  let eventDb: TestDatabase;
  let readDb: TestDatabase;
  let ledger: Ledger;
  let readSql: SqlClient;
  let eventSql: SqlClient;
  let readModel: SqlReadModel;
  let admin: Awaited<ReturnType<typeof natsAdmin>>;
  const { streamName, subjectPrefix } = uniqueBusNames();
  const spawned: CliProcess[] = [];
  const current: Partial<Record<PipelineRole, CliProcess>> = {};

  beforeAll(async () => {
    [eventDb, readDb] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    ledger = await createLedger({ store: { kind: 'postgres', url: eventDb.url, poolMax: 8 }, roles: ['ledger-api'], processMetrics: false });
    readSql = createPostgresClient({ connectionString: readDb.url, poolMax: 2 });
    readModel = await SqlReadModel.open(readSql);
    eventSql = createPostgresClient({ connectionString: eventDb.url, poolMax: 1 });
    admin = await natsAdmin();
  });
  afterAll(async () => {
    // Only the processes this file started, by their own handles.
    await Promise.all(spawned.map((p) => p.signal('SIGKILL')));
    if (admin) {
      await deleteStreams(admin.jsm, [streamName]);
      await admin.close();
    }
    await ledger?.close();
    await readSql?.close();
    await eventSql?.close();
    await eventDb?.drop();
    await readDb?.drop();
  });

  async function start(role: PipelineRole): Promise<CliProcess> {
    const proc = spawnCli(role, await freePort(), {
      DATABASE_URL: eventDb.url,
      READ_DATABASE_URL: role === 'read-processor' ? readDb.url : '',
      NATS_URL: NATS_TEST_URL,
      NATS_STREAM: streamName,
      NATS_SUBJECT_PREFIX: subjectPrefix,
      LOG_LEVEL: 'warn',
      PG_POOL_MAX: '4',
    });
    spawned.push(proc);
    current[role] = proc;
    await proc.healthy();
    return proc;
  }

  /** Events in the store: counted in its table, which (unlike $all) no open transaction elsewhere in the cluster holds back. */
  async function storedEvents(): Promise<number> {
    return Number((await eventSql.query<{ n: string }>('SELECT count(*)::text AS n FROM events'))[0]!.n);
  }

  /**
   * $all with every stored event: $all stops below the oldest transaction open anywhere in the PostgreSQL
   * cluster (another test run's, say), so read it until it holds them all.
   */
  async function completeAll(): Promise<RecordedEvent[]> {
    const total = await storedEvents();
    let all: RecordedEvent[] = [];
    await expect.poll(async () => (all = await allEvents(ledger.store)).length === total, { timeout: 30_000, interval: 50, message: `$all to hold all ${total} stored events` }).toBe(true);
    return all;
  }

  async function behind(role: PipelineRole): Promise<boolean> {
    const events = await storedEvents();
    if (role === 'relay') return (await admin.jsm.streams.info(streamName)).state.messages < events;
    return ((await readModel.checkpoint('accounts'))?.eventsApplied ?? 0) < events;
  }

  async function workDone(proc: CliProcess): Promise<number> {
    const page = await (await fetch(`${proc.base}/metrics`)).text();
    return counterValue(page, proc.command === 'relay' ? 'chronicle_relay_events_published_total' : 'chronicle_projection_events_total');
  }

  it('the read model equals a fresh replay of the event store, the stream holds every event once', async () => {
    const started = Date.now();
    await Promise.all([start('relay'), start('read-processor')]);
    // The pipeline works before any kill: three accounts, seen by the read model.
    const accounts = await randomCommands(ledger, ['S1', 'S2', 'S3'], 0);
    await expect.poll(async () => ((await readModel.checkpoint('accounts'))?.eventsApplied ?? 0), { timeout: 20_000, interval: 50, message: 'the first accounts in the read model' }).toBeGreaterThanOrEqual(3);

    // Every kind at least once, the rest at random, in random order.
    const schedule: KillChoice[] = ['relay', 'read-processor', 'both'];
    const choices: KillChoice[] = ['relay', 'read-processor', 'both'];
    while (schedule.length < 5) schedule.push(choices[random.int(0, 2)]!);
    for (let i = schedule.length - 1; i > 0; i -= 1) {
      const j = random.int(0, i);
      [schedule[i], schedule[j]] = [schedule[j]!, schedule[i]!];
    }

    const kills: Kill[] = [];
    let commandsSent = 3;
    for (const [round, choice] of schedule.entries()) {
      const workBefore = { relay: await workDone(current['relay']!), 'read-processor': await workDone(current['read-processor']!) };
      // The batch: two new accounts with random traffic among them (randomCommands), and a paced stream of 60
      // deposits and transfers across all the earlier accounts (over a second: it outlasts the kill delay).
      const fresh = [1, 2].map((n) => `K${round}-${n}`);
      const earlier = [...accounts];
      let batchDone = false;
      const batch = Promise.all([
        randomCommands(ledger, fresh, 32),
        (async () => {
          for (let i = 0; i < 60; i += 1) {
            const from = earlier[random.int(0, earlier.length - 1)]!;
            let to = from;
            while (to === from) to = earlier[random.int(0, earlier.length - 1)]!;
            if (random.next() < 0.3) await postCommand(ledger, '/commands/deposit', { accountId: from, amount: String(random.int(1, 300)) });
            else await postCommand(ledger, '/commands/transfer', { fromAccountId: from, toAccountId: to, amount: String(random.int(1, 300)) });
            commandsSent += 1;
            await sleep(20);
          }
        })(),
      ]).finally(() => (batchDone = true));
      commandsSent += fresh.length + 32;

      const delayMs = random.int(200, 500);
      await sleep(delayMs);
      const victims: PipelineRole[] = choice === 'both' ? ['relay', 'read-processor'] : [choice];
      // The evidence, taken just before the kill. A role that keeps up (the relay often does) is behind the
      // store only for moments, so the kill waits, while the batch still runs and for at most a second, for
      // an instant at which every victim is behind and has worked this round; then it strikes at once.
      const sample = () => Promise.all(victims.map(async (role) => ({
        role, behind: await behind(role), workDone: (await workDone(current[role]!)) - workBefore[role],
      })));
      let evidence = await sample();
      const waitUntil = Date.now() + 1_000;
      while (!batchDone && Date.now() < waitUntil && !evidence.every((e) => e.behind && e.workDone > 0)) evidence = await sample();
      const commandsInFlight = !batchDone;
      await Promise.all(victims.map(async (role) => {
        const victim = current[role]!;
        await victim.signal('SIGKILL');
        expect(victim.child.signalCode).toBe('SIGKILL');
      }));
      for (const e of evidence) kills.push({ round, delayMs, commandsInFlight, ...e });
      // Started again at once (the batch may still be running).
      await Promise.all(victims.map((role) => start(role)));
      await batch;
      accounts.push(...fresh);
    }

    // Both running; wait until the read model has caught up with the store.
    const all = await completeAll();
    const last = all.at(-1)!;
    const killsDoneAt = Date.now();
    const progress: string[] = [];
    // Polls 'reached', else where things stand (for a post-mortem, shown when it times out).
    await expect.poll(async () => {
      const checkpoint = await readModel.checkpoint('accounts');
      const line = `${Date.now() - killsDoneAt} ms: applied ${checkpoint?.eventsApplied ?? 0}, position ${checkpoint?.position ?? 0}`;
      if (progress.at(-1)?.replace(/^\d+ ms: /, '') !== line.replace(/^\d+ ms: /, '')) progress.push(line);
      if (checkpoint !== null && checkpoint.position === last.globalPosition && checkpoint.eventsApplied >= all.length) return 'reached';
      const consumer = await admin.jsm.consumers.info(streamName, 'accounts').catch((e: Error) => e.message);
      const stream = (await admin.jsm.streams.info(streamName)).state;
      return [
        `last event ${last.globalPosition}; stream ${stream.messages} messages; kills ${JSON.stringify(kills)}`,
        `consumer: ${typeof consumer === 'string' ? consumer : JSON.stringify({ delivered: consumer.delivered, ack_floor: consumer.ack_floor, num_ack_pending: consumer.num_ack_pending, num_pending: consumer.num_pending, num_redelivered: consumer.num_redelivered, num_waiting: consumer.num_waiting })}`,
        `progress: ${progress.join('; ')}`,
        `relay output: ${current['relay']?.output()}`, `read-processor output: ${current['read-processor']?.output()}`,
      ].join('\n');
    }, { timeout: 90_000, interval: 100, message: `the read model to reach all ${all.length} events` }).toBe('reached');
    const caughtUpMs = Date.now() - killsDoneAt;

    // Read model = a fresh replay of the event store: every balance, every transaction row.
    expect(all.length).toBeGreaterThan(300);
    expect(new Set(all.map((e) => e.eventId)).size).toBe(all.length);
    const contents = await readModel.contents();
    const expected = expectedModel(all);
    expect(contents.balances).toHaveLength(accounts.length);
    expect(contents.balances).toEqual(expected.balances);
    expect(contents.transactions).toEqual(expected.transactions);
    // No duplicates: one row per money event, each event applied exactly once.
    expect(new Set(contents.transactions.map((t) => t.eventId)).size).toBe(contents.transactions.length);
    expect(contents.transactions.length).toBe(all.filter((e) => e.type !== 'AccountCreated').length);
    expect(await readModel.checkpoint('accounts')).toMatchObject({ position: last.globalPosition, transactionId: last.transactionId, eventsApplied: all.length });
    expect(await readModel.deadLetterCount('accounts')).toBe(0);

    // The stream: every event of $all exactly once, in $all's order.
    const messages = await readStreamMessages(admin.jsm, streamName);
    expect(messages.map((m) => m.msgId)).toEqual(all.map((e) => e.eventId));
    expect(messages.map((m) => m.event.eventId)).toEqual(all.map((e) => e.eventId));
    expect(new Set(messages.map((m) => m.msgId)).size).toBe(messages.length);

    // Killed while events flowed, each role at least once: commands still arriving, the role behind the
    // store, and that process busy with this round's batch.
    const underLoad = (role: PipelineRole) => kills.filter((k) => k.role === role && k.commandsInFlight && k.behind && k.workDone > 0);
    expect(underLoad('relay').length).toBeGreaterThanOrEqual(1);
    expect(underLoad('read-processor').length).toBeGreaterThanOrEqual(1);

    // A clean stop: SIGTERM, exit 0; the relay saves its checkpoint at $all's end on the way out.
    const relay = current['relay']!;
    const processor = current['read-processor']!;
    await Promise.all([relay.signal('SIGTERM'), processor.signal('SIGTERM')]);
    expect({ relay: relay.child.exitCode, processor: processor.child.exitCode }).toEqual({ relay: 0, processor: 0 });
    expect(await (await SqlRelayCheckpoints.open(eventSql)).load(`nats:${streamName}`)).toBe(last.globalPosition);

    console.log(`[pipeline-kill] ${commandsSent} commands, ${all.length} events, ${schedule.length} rounds, kills: ${kills
      .map((k) => `r${k.round}:${k.role}@${k.delayMs}ms${k.commandsInFlight ? '' : '(commands done)'}${k.behind ? '' : '(not behind)'} work=${k.workDone}`)
      .join(', ')}; caught up ${caughtUpMs} ms after the last restart; total ${Date.now() - started} ms`);
  }, 150_000); // typically 40-50 s, 30 s of it the ack wait after a read processor was killed holding a message
});
