#!/usr/bin/env node
// chronicle <command>: the only place that reads the environment, picks adapters and listens.
import pino from 'pino';
import { connectNatsEventBus } from '../adapters/event-bus/nats/nats-event-bus.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from '../adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { openEventStore } from '../adapters/event-store/open-store.js';
import { OutboxRelay } from '../application/relay.js';
import { ConfigError, loadConfig } from '../config.js';
import { createLedger } from '../ledger.js';
import { acquireDataDirLock } from './data-dir-lock.js';

const USAGE = `usage: chronicle <command>

commands:
  start     run the ledger (event store, command and query API) in one process
  relay     publish every event, in commit order, to NATS JetStream (needs DATABASE_URL and NATS_URL)
  migrate   apply the event store's schema migrations and exit

environment: PORT, HOST, DATABASE_URL, CHRONICLE_DATA_DIR, PG_POOL_MAX, SNAPSHOT_EVERY,
             AGGREGATE_CACHE_MAX, ACCOUNT_QUEUE_MAX, NATS_URL, NATS_STREAM, LOG_LEVEL (see README)`;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'relay') return runRelay();
  if (command !== 'start' && command !== 'migrate') {
    console.error(`chronicle: unknown command ${command}\n\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  const store = config.databaseUrl === undefined
    ? { kind: 'pglite' as const, dataDir: config.dataDir }
    : { kind: 'postgres' as const, url: config.databaseUrl, poolMax: config.pgPoolMax };
  // PGlite is one process's database: a second process on the same directory would corrupt it.
  const releaseLock = store.kind === 'pglite' ? acquireDataDirLock(config.dataDir) : () => {};

  const ledger = await createLedger({
    store,
    snapshotEvery: config.snapshotEvery,
    aggregateCacheMax: config.aggregateCacheMax,
    accountQueueMax: config.accountQueueMax,
    logger: { level: config.logLevel },
  });
  if (command === 'migrate') {
    await ledger.close();
    releaseLock();
    console.log('migrations applied');
    return 0;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ledger.app.log.info({ signal }, 'stopping');
    await ledger.close();
    releaseLock();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  await ledger.app.listen({ port: config.port, host: config.host });
  ledger.app.log.info({
    store: store.kind, ...(store.kind === 'pglite' ? { dataDir: config.dataDir } : {}),
  }, `ChronicleLedger listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`);
  return -1; // keep running
}

/** The outbox relay as a process of its own: one per JetStream stream (nothing enforces that yet). */
async function runRelay(): Promise<number> {
  const config = loadConfig();
  if (config.databaseUrl === undefined || config.natsUrl === undefined) {
    throw new ConfigError('relay needs DATABASE_URL (PostgreSQL: PGlite belongs to one process) and NATS_URL');
  }
  const log = pino({ level: config.logLevel }).child({ role: 'relay' });
  const store = await openEventStore({ kind: 'postgres', url: config.databaseUrl, poolMax: 2 });
  const bus = await connectNatsEventBus({ servers: config.natsUrl, streamName: config.natsStream, connectionName: 'chronicle-relay' });
  const relay = new OutboxRelay(
    { store, publisher: bus, checkpoints: await SqlRelayCheckpoints.open(store.sql), countEventsAfter: sqlCountEventsAfter(store.sql) },
    { name: `nats:${config.natsStream}`, onError: (err) => log.warn({ err }, 'relay retrying') },
  );
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  log.info({ stream: config.natsStream }, 'relay running');
  await relay.run(stop.signal);
  log.info(await relay.lag(), 'relay stopped');
  await bus.close();
  await store.close();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    console.error(error instanceof ConfigError ? `chronicle: ${error.message}` : error);
    process.exit(1);
  },
);
