// A relay as a process of its own, for the crash test (test/relay.int.test.ts): PostgreSQL event store,
// checkpoint in the same database, JetStream. Configured by environment; prints `published <n>` as it goes
// so the test can kill it (SIGKILL) in the middle of the stream. SIGTERM stops it cleanly.
import { openEventStore } from '../../src/adapters/event-store/open-store.js';
import { createPostgresClient } from '../../src/adapters/event-store/postgres/postgres-client.js';
import { connectNatsEventBus } from '../../src/adapters/event-bus/nats/nats-event-bus.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from '../../src/adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { OutboxRelay } from '../../src/application/relay.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const url = env('DATABASE_URL');
const store = await openEventStore({ kind: 'postgres', url, poolMax: 2 });
const sql = createPostgresClient({ connectionString: url, poolMax: 2, applicationName: 'chronicle-relay-test' });
const checkpoints = await SqlRelayCheckpoints.open(sql);
const bus = await connectNatsEventBus({
  servers: env('NATS_URL'), streamName: env('STREAM_NAME'), subjectPrefix: env('SUBJECT_PREFIX'), connectionName: 'chronicle-relay-test',
});
let published = 0;
const relay = new OutboxRelay({ store, publisher: bus, checkpoints, countEventsAfter: sqlCountEventsAfter(sql) }, {
  name: env('RELAY_NAME'),
  resumeFromBus: process.env['RESUME_FROM_BUS'] !== '0',
  checkpointEveryEvents: Number(process.env['CHECKPOINT_EVERY'] ?? 50),
  checkpointIntervalMs: Number(process.env['CHECKPOINT_INTERVAL_MS'] ?? 200),
  pageSize: 50,
  pollIntervalMs: 10,
  onError: (error) => process.stderr.write(`relay error: ${(error as Error).message}\n`),
  onPublished: () => {
    published += 1;
    if (published % 10 === 0) process.stdout.write(`published ${published}\n`);
  },
});
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.stdout.write(`ready, checkpoint ${await checkpoints.load(env('RELAY_NAME'))}\n`);
await relay.run(stop.signal);
await bus.close();
await store.close();
await sql.close();
