#!/usr/bin/env node
// chronicle <command>: the only place that reads the environment, picks adapters and listens.
import { ConfigError, loadConfig, type Config } from '../config.js';
import type { StoreTarget } from '../adapters/event-store/open-store.js';
import { launcherClusterControl } from './cluster/cluster-control.js';
import { createLedger, type BusTarget, type Ledger, type Role } from '../ledger.js';
import type { SigningKeyRegistry } from '../ports/merkle-log.js';
import { chooseSigningKey, type SigningKeyChoice } from './signing-key-choice.js';
import { acquireDataDirLock, advertiseApi, DataDirLockedError, hasEmbeddedStore, noEmbeddedStoreMessage } from './data-dir-lock.js';
import { describeFailure, listenFailure } from './failures.js';
import { adminKeyFile, generatedKeyBanner, keepGeneratedKey } from './first-key.js';
import { callLedger, throughRunningLedger, type RunningLedger } from './running-ledger.js';
import { existsSync } from 'node:fs';
import { verifyCommand, VERIFY_USAGE } from './verify.js';
import { keysCommand, KEYS_USAGE } from './keys-command.js';
import { trafficCommand } from './traffic/command.js';
import { SIMULATE_USAGE } from './traffic/simulate.js';
import { VERIFY_CONSISTENCY_USAGE } from './traffic/verify-consistency.js';
import { clusterCommand, CLUSTER_USAGE } from './cluster/cluster-command.js';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildDashboardServer, DashboardNotBuiltError } from '../http/dashboard-server.js';
import { stdoutDestination } from './stdout-destination.js';

const USAGE = `usage: chronicle <command>

commands:
  start            the whole ledger in one process: command and query API, relay, read processor, and
                   the dashboard on DASHBOARD_PORT (3000)
                   (embedded PGlite and an in-process bus unless DATABASE_URL / NATS_URL say otherwise)
  ledger-api       commands, raw streams, $all and subscriptions          (needs DATABASE_URL)
  query-api        balances, accounts, history, time travel, projections  (needs DATABASE_URL)
  relay            event store -> NATS JetStream, in commit order         (needs DATABASE_URL, NATS_URL)
  read-processor   NATS JetStream -> read model                            (needs DATABASE_URL, NATS_URL)
  dashboard        the dashboard alone on DASHBOARD_PORT, calling the API at DASHBOARD_API_URL
  projections list               the projections, their position, lag and status
  projections rebuild <name>     drop a projection's read model and replay it from position 0
                   both on the database, or through a running ledger's API with --url <API> --api-key <admin key>
                   (at once while chronicle start holds the data directory)
  migrate          apply the event store's schema migrations and exit
  verify           check every hash chain, Merkle leaf and signed checkpoint; name what was altered
                   ${VERIFY_USAGE.replace('\n', '\n                   ')}
${KEYS_USAGE}
  simulate-traffic     concurrent deposits, withdrawals and transfers against a running ledger, every outcome journaled
                   ${SIMULATE_USAGE.replace(/\n\s*/g, '\n                     ')}
  verify-consistency   check a traffic journal against the ledger: nothing acknowledged lost or doubled, money
                       conserved, read model and JetStream equal to $all, \`chronicle verify\` clean
                   ${VERIFY_CONSISTENCY_USAGE.replace(/\n\s*/g, '\n                     ')}
${CLUSTER_USAGE}

Every long-running command serves /health and /metrics on PORT. The API needs an API key
(Authorization: Bearer <key>): the first start prints an admin key once and keeps it in <data dir>/admin-key,
or set CHRONICLE_BOOTSTRAP_KEY.
environment: PORT, HOST, DATABASE_URL, READ_DATABASE_URL, READ_REPLICA_URL, PATRONI_URLS, CHRONICLE_CLUSTER_DIR, CHRONICLE_DATA_DIR, PG_POOL_MAX, SNAPSHOT_EVERY,
             AGGREGATE_CACHE_MAX, ACCOUNT_QUEUE_MAX, READ_WAIT_MAX_MS, APPEND_STALL_WARN_MS, NATS_URL, NATS_STREAM, NATS_STREAM_REPLICAS, NATS_SUBJECT_PREFIX,
             NATS_ACK_WAIT_MS, CORS_ORIGINS, LOG_LEVEL, CHRONICLE_SIGNING_KEY(_FILE, _ROTATE),
             CHRONICLE_CHECKPOINT_INTERVAL_MS, CHRONICLE_BOOTSTRAP_KEY, CHRONICLE_AUTH_DISABLED_INSECURE,
             RATE_LIMIT_PER_MINUTE, AUTH_FAILURES_PER_MINUTE, SUBSCRIPTIONS_PER_KEY_MAX, REQUEST_TIMEOUT_MS, HEADERS_TIMEOUT_MS,
             CONNECTION_TIMEOUT_MS, SHUTDOWN_TIMEOUT_MS, DASHBOARD, DASHBOARD_PORT, DASHBOARD_API_URL, DASHBOARD_DIR
             (see README)`;

const SERVER_ROLES: Record<string, readonly Role[]> = {
  start: ['ledger-api', 'query-api', 'relay', 'read-processor'],
  'ledger-api': ['ledger-api'],
  'query-api': ['query-api'],
  relay: ['relay'],
  'read-processor': ['read-processor'],
};

interface Opened {
  ledger: Ledger;
  release: () => void;
}

/** The dashboard's origins as a browser on this machine names them: the API must allow them (CORS). */
function dashboardOrigins(config: Config): string[] {
  return [`http://localhost:${config.dashboardPort}`, `http://127.0.0.1:${config.dashboardPort}`];
}

/**
 * The ledger for `roles` from the configuration; PGlite only for a process that plays every role.
 * `serving`: the process listens, so its API is guarded by keys (unless CHRONICLE_AUTH_DISABLED_INSECURE);
 * one-shots (migrate, projections) only call their own app in-process.
 */
async function open(config: Config, command: string, roles: readonly Role[], logTo?: { write(line: string): void }, serving = false): Promise<Opened> {
  const single = command === 'start' || command === 'migrate' || command === 'projections';
  if (config.databaseUrl === undefined && !single) {
    throw new ConfigError(`${command} needs DATABASE_URL: the embedded PGlite store belongs to one process (use chronicle start)`);
  }
  if ((roles.includes('relay') || roles.includes('read-processor')) && command !== 'start' && config.natsUrl === undefined) {
    throw new ConfigError(`${command} needs NATS_URL: the in-process bus only connects parts of one process (use chronicle start)`);
  }
  const store: StoreTarget = config.databaseUrl === undefined
    ? { kind: 'pglite', dataDir: config.dataDir }
    : { kind: 'postgres', url: config.databaseUrl, poolMax: config.pgPoolMax };
  // PGlite is one process's database: a second process on the same directory would corrupt it.
  const release = store.kind === 'pglite' ? acquireDataDirLock(config.dataDir) : () => {};
  const bus: BusTarget = config.natsUrl === undefined ? { kind: 'in-process' } : { kind: 'nats', servers: config.natsServers, stream: config.natsStream, subjectPrefix: config.natsSubjectPrefix, ackWaitMs: config.natsAckWaitMs, replicas: config.natsStreamReplicas };
  try {
    // The checkpoint signing key, picked once the store says which key it records (signing-key-choice.ts):
    // only a serving ledger API signs; other roles and one-shots (migrate, projections) load no key at all.
    const signs = serving && roles.includes('ledger-api');
    let key: SigningKeyChoice | undefined;
    const ledger = await createLedger({
      store,
      audit: {
        ...(signs ? { signer: async (keys: SigningKeyRegistry) => (key = await chooseSigningKey(config, keys)).signer } : {}),
        sealer: signs && config.sealer ? { checkpointIntervalMs: config.checkpointIntervalMs } : false,
      },
      ...(config.readDatabaseUrl === undefined ? {} : { readStore: { kind: 'postgres', url: config.readDatabaseUrl, poolMax: config.pgPoolMax } }),
      ...(config.patroniUrls.length === 0 ? {} : { patroniUrls: config.patroniUrls }),
      // Under `chronicle cluster up`: GET /cluster lists its nodes and may kill or restart them.
      ...(config.clusterDir === undefined || !serving ? {} : { clusterControl: launcherClusterControl(config.clusterDir) }),
      ...(config.readReplicaUrl === undefined ? {} : { readReplica: { kind: 'postgres', url: config.readReplicaUrl, poolMax: config.pgPoolMax } }),
      bus,
      roles,
      snapshotEvery: config.snapshotEvery,
      aggregateCacheMax: config.aggregateCacheMax,
      accountQueueMax: config.accountQueueMax,
      readWaitMaxMs: config.readWaitMaxMs,
      appendStall: { warnMs: config.appendStallWarnMs },
      // `start` serves the dashboard, whose pages call this API from another port: allow them.
      corsOrigins: command === 'start' && config.dashboard ? [...new Set([...config.corsOrigins, ...dashboardOrigins(config)])] : config.corsOrigins,
      logger: { level: config.logLevel },
      ...(logTo ? { logStream: logTo } : {}),
      ...(serving && config.authDisabledInsecure ? { insecureNoAuth: true } : {}),
      ...(serving && !config.authDisabledInsecure ? {
        auth: {
          ...(config.bootstrapKey === undefined ? {} : { bootstrapKey: config.bootstrapKey }),
          // Processes that serve the API store the first key; a relay or read processor serves none. A chosen
          // key (CHRONICLE_BOOTSTRAP_KEY) at once, so a client that waits for /health may use it; a generated
          // one only once the ports are bound (main calls bootstrapKeys()): a start that fails on a taken port
          // must not leave a key behind that was never shown.
          bootstrap: servesApi(roles) && config.bootstrapKey !== undefined,
          onKeyGenerated: (key: string, id: string) => {
            const kept = keepGeneratedKey(config.dataDir, key, id);
            (logTo ?? process.stdout).write(generatedKeyBanner(key, kept, command === 'start' && config.dashboard ? dashboardOrigins(config)[0] : undefined));
          },
          rateLimitPerMinute: config.rateLimitPerMinute,
          subscriptionsPerKeyMax: config.subscriptionsPerKeyMax,
          authFailuresPerMinute: config.authFailuresPerMinute,
        },
      } : {}),
      httpTimeouts: { requestTimeoutMs: config.requestTimeoutMs, headersTimeoutMs: config.headersTimeoutMs, connectionTimeoutMs: config.connectionTimeoutMs },
    });
    if (key) ledger.log.info({ keyId: key.signer.keyId, source: key.source, recorded: key.outcome }, 'checkpoint signing key');
    return { ledger, release };
  } catch (error) {
    release();
    throw error;
  }
}

/** Processes that serve the API (and so store the first key); a relay or read processor serves none. */
const servesApi = (roles: readonly Role[]) => roles.includes('ledger-api') || roles.includes('query-api');

/** The address a client on this machine reaches a server bound to `host` at. */
const localUrl = (host: string, port: number) => `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * One command's part of USAGE: its lines (those that start with the command's name) and the lines indented
 * under them, then where the environment is described. Null: no such command.
 */
function commandUsage(command: string): string | null {
  const lines = USAGE.split('\n');
  const picked: string[] = [];
  let within = false;
  for (const line of lines) {
    const starts = line.startsWith(`  ${command} `) || line === `  ${command}`;
    if (starts) within = true;
    else if (!/^ {4,}\S/.test(line)) within = false;
    if (within) picked.push(line);
  }
  if (picked.length === 0) return null;
  return `usage: chronicle ${command} …\n\n${picked.join('\n')}\n\nconfiguration: environment variables (chronicle --help lists them; README "Configuration")`;
}

/** The configuration, once read: the failure message names the settings it came from. */
let loaded: Config | null = null;

async function main(argv: string[]): Promise<number> {
  const command = argv[0];
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  // `chronicle <command> --help`: that command's usage and nothing else (no configuration read, nothing
  // started or created). traffic and cluster commands print their own.
  const selfHelped = command === 'simulate-traffic' || command === 'verify-consistency' || command === 'cluster';
  if (!selfHelped && argv.slice(1).some((arg) => arg === '--help' || arg === '-h')) {
    const usage = commandUsage(command);
    if (usage === null) {
      console.error(`chronicle: unknown command ${command}\n\n${USAGE}`);
      return 2;
    }
    console.log(usage);
    return 0;
  }
  // Clients of a running ledger: they read no ledger configuration.
  if (command === 'simulate-traffic' || command === 'verify-consistency') {
    let sigint: (() => void) | null = null;
    return trafficCommand(command, argv.slice(1), { out: (line) => console.log(line), err: (line) => console.error(line), env: process.env }, (handler) => {
      if (sigint) process.off('SIGINT', sigint);
      sigint = handler;
      if (handler) process.on('SIGINT', handler);
    });
  }
  // Servers, migrate and dashboard take no arguments (their settings are environment variables): a stray or
  // misspelt flag is refused before anything starts, rather than ignored.
  if ((command in SERVER_ROLES || command === 'migrate' || command === 'dashboard') && argv.length > 1) {
    console.error(`chronicle: ${command} takes no arguments (given: ${argv.slice(1).join(' ')}); its settings are environment variables: chronicle ${command} --help`);
    return 2;
  }
  const config = loadConfig();
  loaded = config;
  if (command === 'migrate') {
    const { ledger, release } = await open(config, command, ['ledger-api']);
    await ledger.close();
    release();
    console.log('migrations applied');
    return 0;
  }
  if (command === 'projections') return projections(config, argv.slice(1));
  if (command === 'verify') return verifyCommand(config, argv.slice(1), (line) => console.log(line));
  if (command === 'keys') return keysCommand(config, argv.slice(1));
  if (command === 'cluster') return clusterCommand(argv.slice(1), config.dataDir);
  if (command === 'dashboard') return dashboardOnly(config);
  const roles = SERVER_ROLES[command];
  if (!roles) {
    console.error(`chronicle: unknown command ${command}\n\n${USAGE}`);
    return 2;
  }
  if (command === 'start' && config.dashboard && config.dashboardPort === config.port) {
    throw new ConfigError(`DASHBOARD_PORT and PORT are both ${config.port}: give the dashboard a port of its own (or DASHBOARD=off)`);
  }
  // Logs to stdout that never block the event loop (a stalled or closed stdout pipe cannot stop a SIGTERM).
  const out = stdoutDestination();
  const { ledger, release } = await open(config, command, roles, out, true);
  let dashboard: FastifyInstance | null = null;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // A second signal: the operator will not wait.
      ledger.log.warn({ signal }, 'stopping now, before the shutdown finished');
      process.exit(1);
    }
    stopping = true;
    ledger.log.info({ signal, shutdownTimeoutMs: config.shutdownTimeoutMs }, 'stopping');
    // Bounded: a request that never completes (a client dripping its body), a hung database call or
    // anything else that holds close() up cannot keep the process alive past SHUTDOWN_TIMEOUT_MS.
    setTimeout(() => {
      ledger.log.error({ shutdownTimeoutMs: config.shutdownTimeoutMs }, 'shutdown did not finish in time: exiting anyway');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    await dashboard?.close();
    await ledger.close();
    release();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  // Every port first: a start that cannot have them stops here, cleanly, before any key is generated.
  try {
    await ledger.app.listen({ port: config.port, host: config.host }).catch((error: unknown) => {
      throw listenFailure(error, 'PORT', config.port, config.host);
    });
    if (command === 'start' && config.dashboard) dashboard = await serveDashboard(config, ledger);
  } catch (error) {
    await ledger.close();
    release();
    throw error;
  }
  // `chronicle keys` / `projections` run meanwhile find this API in the data directory's lock.
  if (config.databaseUrl === undefined) advertiseApi(config.dataDir, localUrl(config.host, config.port));
  ledger.log.info({
    roles, store: config.databaseUrl === undefined ? 'pglite' : 'postgres', bus: config.natsUrl === undefined ? 'in-process' : 'nats',
    readStore: config.readDatabaseUrl === undefined ? 'event store database' : 'READ_DATABASE_URL',
    ...(config.databaseUrl === undefined ? { dataDir: config.dataDir } : {}),
  }, `ChronicleLedger ${command} listening on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.port}`);
  // Last: a generated key's banner (src/cli/first-key.ts), after every "listening" line.
  if (servesApi(roles) && config.bootstrapKey === undefined && (await ledger.bootstrapKeys()) === 'existing') {
    if (existsSync(adminKeyFile(config.dataDir))) {
      ledger.log.info({ file: adminKeyFile(config.dataDir) }, 'the admin key generated at the first start is kept in this file; make more with chronicle keys create');
    }
  }
  return -1; // keep running
}

/**
 * The dashboard next to the API (`start`). Not built (a checkout run with tsx, DASHBOARD_DIR wrong): the
 * ledger runs on and says how to get it; a dashboard port already taken stops the start like PORT would.
 */
async function serveDashboard(config: Config, ledger: Ledger): Promise<FastifyInstance | null> {
  let dashboard: FastifyInstance;
  try {
    dashboard = await buildDashboardServer({
      dir: config.dashboardDir, apiPort: config.port, logger: ledger.log,
      ...(config.dashboardApiUrl === undefined ? {} : { apiUrl: config.dashboardApiUrl }),
    });
  } catch (error) {
    if (!(error instanceof DashboardNotBuiltError)) throw error;
    ledger.log.warn({ dir: config.dashboardDir }, `${error.message}; the ledger runs without it (DASHBOARD=off silences this)`);
    return null;
  }
  try {
    await dashboard.listen({ port: config.dashboardPort, host: config.host });
  } catch (error) {
    await dashboard.close();
    throw listenFailure(error, 'DASHBOARD_PORT', config.dashboardPort, config.host);
  }
  ledger.log.info({ dir: config.dashboardDir }, `dashboard on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.dashboardPort}`);
  return dashboard;
}

/**
 * `chronicle dashboard`: the dashboard alone, for a split deployment. Its pages call the API at
 * DASHBOARD_API_URL, whose CORS_ORIGINS must name this dashboard's origin.
 */
async function dashboardOnly(config: Config): Promise<number> {
  if (config.dashboardApiUrl === undefined) {
    throw new ConfigError('dashboard needs DASHBOARD_API_URL: the origin of the ledger API its pages call (e.g. http://localhost:4000)');
  }
  const log = pino({ level: config.logLevel }, stdoutDestination());
  const server = await buildDashboardServer({ dir: config.dashboardDir, apiPort: config.port, apiUrl: config.dashboardApiUrl, logger: log });
  const stop = () => {
    setTimeout(() => process.exit(1), config.shutdownTimeoutMs).unref();
    void server.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  await server.listen({ port: config.dashboardPort, host: config.host });
  log.info({ api: config.dashboardApiUrl, dir: config.dashboardDir }, `dashboard on http://${config.host === '0.0.0.0' ? 'localhost' : config.host}:${config.dashboardPort}`);
  return -1; // keep running
}

/**
 * `projections list` and `projections rebuild <name>`: one-shot, against the stores directly; through a
 * running ledger's API with --url, or at once while a `chronicle start` holds the data directory.
 */
async function projections(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const name = sub === 'rebuild' && rest[0] !== undefined && !rest[0].startsWith('--') ? rest.shift() : undefined;
  const api: { url?: string; apiKey?: string } = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (value === undefined || (flag !== '--url' && flag !== '--api-key')) {
      console.error(`chronicle: projections list | projections rebuild <name>, with [--url <API> --api-key <admin key>]\n\n${USAGE}`);
      return 2;
    }
    api[flag === '--url' ? 'url' : 'apiKey'] = value;
  }
  if (sub !== 'list' && sub !== 'rebuild') {
    console.error(`chronicle: projections list | projections rebuild <name>\n\n${USAGE}`);
    return 2;
  }
  if (sub === 'rebuild' && name === undefined) {
    console.error('chronicle: projections rebuild <name> (e.g. accounts)');
    return 2;
  }
  const path = sub === 'list' ? '/projections' : `/projections/${encodeURIComponent(name!)}/reset?wait=true`;
  if (api.url !== undefined) {
    if (api.apiKey === undefined) {
      console.error('chronicle: --url needs --api-key <admin key>');
      return 2;
    }
    return projectionsThroughApi({ url: api.url, apiKey: api.apiKey }, sub, path);
  }
  if (config.databaseUrl === undefined && !hasEmbeddedStore(config.dataDir)) {
    console.error(`chronicle: ${noEmbeddedStoreMessage(config.dataDir)}`);
    return 2;
  }
  // The answer is JSON on stdout; log lines go to stderr so they never mix with it.
  let opened: Opened;
  try {
    opened = await open(config, 'projections', ['query-api'], process.stderr);
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    return throughRunningLedger(error, api, (running) => projectionsThroughApi(running, sub, path));
  }
  const { ledger, release } = opened;
  try {
    if (sub === 'list') await ledger.readQueries!.measureLag();
    const response = await ledger.app.inject({ method: sub === 'list' ? 'GET' : 'POST', url: path });
    console.log(JSON.stringify(response.json(), null, 2));
    return response.statusCode === 200 ? 0 : 1;
  } finally {
    await ledger.close();
    release();
  }
}

async function projectionsThroughApi(ledger: RunningLedger, sub: 'list' | 'rebuild', path: string): Promise<number> {
  const { json } = await callLedger(ledger, sub === 'list' ? 'GET' : 'POST', path);
  console.log(JSON.stringify(json, null, 2));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    // One line that says what to do next, never a stack trace (src/cli/failures.ts); LOG_LEVEL=debug adds it.
    console.error(`chronicle: ${describeFailure(error, loaded)}`);
    if (loaded?.logLevel === 'debug' || loaded?.logLevel === 'trace') console.error(error);
    process.exit(1);
  },
);
