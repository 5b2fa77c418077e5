// All configuration, read from the environment once at start-up, validated, frozen and passed down.
// Units go last in names; defaults are the embedded single-process ledger. Every default and range comes
// from src/domain/limits.ts; README's configuration table lists these variables with the same defaults
// (test/config.unit.test.ts).
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chosenKeyProblem } from './application/api-keys.js';
import {
  ACCOUNT_QUEUE_COMMANDS_DEFAULT, ACCOUNT_QUEUE_COMMANDS_MAX, AGGREGATE_CACHE_ACCOUNTS_DEFAULT, AGGREGATE_CACHE_ACCOUNTS_MAX,
  APPEND_STALL_WARN_MS_DEFAULT, APPEND_STALL_WARN_MS_MIN, AUTH_FAILURES_PER_MINUTE_DEFAULT, CHECKPOINT_INTERVAL_MS_DEFAULT, CHECKPOINT_INTERVAL_MS_MIN,
  DASHBOARD_PORT_DEFAULT, DATA_DIR_DEFAULT, EVENT_SUBJECT_PREFIX_DEFAULT, HTTP_CONNECTION_TIMEOUT_MS_DEFAULT,
  HTTP_CONNECTION_TIMEOUT_MS_MIN, HTTP_HEADERS_TIMEOUT_MS_DEFAULT, HTTP_HOST_DEFAULT, HTTP_PORT_DEFAULT,
  HTTP_REQUEST_TIMEOUT_MS_DEFAULT, HTTP_TIMEOUT_MS_MAX, HTTP_TIMEOUT_MS_MIN, LOG_LEVEL_DEFAULT, NATS_ACK_WAIT_MS_DEFAULT,
  NATS_ACK_WAIT_MS_MIN, NATS_STREAM_DEFAULT, NATS_STREAM_REPLICAS_DEFAULT, NATS_STREAM_REPLICAS_MAX, PER_MINUTE_MAX, PG_POOL_CONNECTIONS_DEFAULT, PG_POOL_CONNECTIONS_MAX, PORT_MAX,
  RATE_LIMIT_PER_MINUTE_DEFAULT, READ_WAIT_MS_DEFAULT, READ_WAIT_MS_MAX, SETTING_MS_MAX, SHUTDOWN_TIMEOUT_MS_DEFAULT,
  SHUTDOWN_TIMEOUT_MS_MAX, SHUTDOWN_TIMEOUT_MS_MIN, SNAPSHOT_EVERY_EVENTS_DEFAULT, SNAPSHOT_EVERY_EVENTS_MAX, SUBSCRIPTIONS_MAX,
  SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT,
} from './domain/limits.js';

export interface Config {
  /** HTTP port (PORT). */
  readonly port: number;
  /** Interface to bind (HOST). Loopback by default: expose it on purpose. */
  readonly host: string;
  /** postgres://… to use PostgreSQL (DATABASE_URL); unset: embedded PGlite under dataDir. */
  readonly databaseUrl: string | undefined;
  /** postgres://… of the read store (READ_DATABASE_URL); unset: the event store's database. */
  readonly readDatabaseUrl: string | undefined;
  /** Patroni's REST API of each database node (PATRONI_URLS, comma-separated): /health reports their roles and lag. */
  readonly patroniUrls: readonly string[];
  /** The folder of the cluster this process belongs to (CHRONICLE_CLUSTER_DIR, set by `chronicle cluster up`): GET /cluster lists its nodes and may kill or restart them. */
  readonly clusterDir: string | undefined;
  /** postgres://… of a streaming replica of the read store (READ_REPLICA_URL): query-api serves balances from it. */
  readonly readReplicaUrl: string | undefined;
  /** PGlite's directory (CHRONICLE_DATA_DIR). */
  readonly dataDir: string;
  /** PostgreSQL pool size (PG_POOL_MAX). */
  readonly pgPoolMax: number;
  /** Snapshot an account every N events (SNAPSHOT_EVERY); 0 turns snapshots off. */
  readonly snapshotEvery: number;
  /** Accounts cached in memory by the write side (AGGREGATE_CACHE_MAX); 0 turns the cache off. */
  readonly aggregateCacheMax: number;
  /** Commands allowed to queue behind one account before new ones get 503 (ACCOUNT_QUEUE_MAX). */
  readonly accountQueueMax: number;
  /** Longest a read-your-writes query (?minPosition=) waits for the read model (READ_WAIT_MAX_MS). */
  readonly readWaitMaxMs: number;
  /** PostgreSQL: a transaction holding the event log head longer than this is reported (APPEND_STALL_WARN_MS). */
  readonly appendStallWarnMs: number;
  /**
   * nats://… (NATS_URL): the bus between relay and read processor; unset: in-process (one process). Several
   * servers of one cluster, comma-separated: the client knows them all and reconnects to any.
   */
  readonly natsUrl: string | undefined;
  /** The servers of NATS_URL, one URL each (empty when unset). */
  readonly natsServers: readonly string[];
  /** JetStream keeps this many copies of the stream (NATS_STREAM_REPLICAS; 3 on a three-server cluster). */
  readonly natsStreamReplicas: number;
  /** JetStream stream the relay feeds (NATS_STREAM). */
  readonly natsStream: string;
  /** Subjects are `<prefix>.<aggregate>.<EventType>` (NATS_SUBJECT_PREFIX, default `events`: the spec's events.account.*). */
  readonly natsSubjectPrefix: string;
  /**
   * How long JetStream waits for a read processor's ack before redelivering (NATS_ACK_WAIT_MS): after a
   * crash, its unacknowledged events come back this late. A working processor renews it every 3 s.
   */
  readonly natsAckWaitMs: number;
  /** Browser origins allowed by CORS (CORS_ORIGINS, comma-separated, e.g. http://localhost:3000). */
  readonly corsOrigins: readonly string[];
  /** pino level (LOG_LEVEL): fatal, error, warn, info, debug, trace, silent. */
  readonly logLevel: string;
  /** The checkpoint signing key, PKCS#8 PEM text (CHRONICLE_SIGNING_KEY); else the file, else the data dir's. */
  readonly signingKeyPem: string | undefined;
  /** A PEM file holding it (CHRONICLE_SIGNING_KEY_FILE). */
  readonly signingKeyFile: string | undefined;
  /**
   * Make that key the ledger's signing key from now on although the store records another
   * (CHRONICLE_SIGNING_KEY_ROTATE=on; README "Audit"). Off: a key other than the recorded one is refused.
   */
  readonly signingKeyRotate: boolean;
  /** The sealer signs at most one checkpoint per this interval (CHRONICLE_CHECKPOINT_INTERVAL_MS). */
  readonly checkpointIntervalMs: number;
  /** Whether a ledger API process runs the sealer (CHRONICLE_SEALER=on|off); off: another process seals. */
  readonly sealer: boolean;
  /**
   * The first admin key (CHRONICLE_BOOTSTRAP_KEY), stored if no key exists yet; `chr_<16 hex>_<43+ base64url>`
   * (`chronicle keys generate` makes one). Unset: the first start generates one and prints it once.
   */
  readonly bootstrapKey: string | undefined;
  /** No authentication at all (CHRONICLE_AUTH_DISABLED_INSECURE=1); warned at start. Off by default. */
  readonly authDisabledInsecure: boolean;
  /** Requests per minute per API key, or per client address without a valid key (RATE_LIMIT_PER_MINUTE). */
  readonly rateLimitPerMinute: number;
  /** Subscriptions (/subscribe/…) open at once per API key (SUBSCRIPTIONS_PER_KEY_MAX); beyond, 429. */
  readonly subscriptionsPerKeyMax: number;
  /** Failed authentications per client address a minute (AUTH_FAILURES_PER_MINUTE); then 429, no query. */
  readonly authFailuresPerMinute: number;
  /** The whole request, headers and body, must arrive within this (REQUEST_TIMEOUT_MS); else 408 and closed. */
  readonly requestTimeoutMs: number;
  /** The request headers must arrive within this (HEADERS_TIMEOUT_MS, at most REQUEST_TIMEOUT_MS). */
  readonly headersTimeoutMs: number;
  /** A connection silent both ways this long is closed (CONNECTION_TIMEOUT_MS; above the SSE heartbeat, 15 s). */
  readonly connectionTimeoutMs: number;
  /** SIGTERM/SIGINT: a shutdown not finished within this exits anyway, with status 1 (SHUTDOWN_TIMEOUT_MS). */
  readonly shutdownTimeoutMs: number;
  /** Whether `chronicle start` serves the dashboard (DASHBOARD=on|off). */
  readonly dashboard: boolean;
  /** The dashboard's HTTP port (DASHBOARD_PORT). */
  readonly dashboardPort: number;
  /** The API base URL the dashboard's browser calls (DASHBOARD_API_URL); unset: the page's host name, PORT. */
  readonly dashboardApiUrl: string | undefined;
  /** The dashboard's static export (DASHBOARD_DIR); default dashboard/out of this package. */
  readonly dashboardDir: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const text = env[name];
  if (text === undefined || text === '') return fallback;
  if (text !== 'on' && text !== 'off') throw new ConfigError(`${name} must be on or off, got ${JSON.stringify(text)}`);
  return text === 'on';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const databaseUrl = env['DATABASE_URL'] || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// or postgresql://');
  }
  const readDatabaseUrl = env['READ_DATABASE_URL'] || undefined;
  if (readDatabaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(readDatabaseUrl)) {
    throw new ConfigError('READ_DATABASE_URL must start with postgres:// or postgresql://');
  }
  const readReplicaUrl = env['READ_REPLICA_URL'] || undefined;
  if (readReplicaUrl !== undefined && !/^postgres(ql)?:\/\//.test(readReplicaUrl)) {
    throw new ConfigError('READ_REPLICA_URL must start with postgres:// or postgresql://');
  }
  const patroniUrls = (env['PATRONI_URLS'] ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  for (const url of patroniUrls) {
    if (!/^https?:\/\/[^\s/]+/.test(url)) throw new ConfigError(`PATRONI_URLS: ${url} is not an http:// or https:// URL`);
  }
  const natsUrl = env['NATS_URL'] || undefined;
  const natsServers = (natsUrl ?? '').split(',').map((u) => u.trim()).filter(Boolean);
  if (natsUrl !== undefined && (natsServers.length === 0 || natsServers.some((u) => !/^(nats|tls):\/\/\S+$/.test(u)))) {
    throw new ConfigError('NATS_URL must be one or more comma-separated URLs, each starting with nats:// or tls://');
  }
  const natsStream = env['NATS_STREAM'] || NATS_STREAM_DEFAULT;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(natsStream)) throw new ConfigError('NATS_STREAM must be 1-64 letters, digits, _ or -');
  const natsSubjectPrefix = env['NATS_SUBJECT_PREFIX'] || EVENT_SUBJECT_PREFIX_DEFAULT;
  if (!/^[A-Za-z0-9_-]{1,32}(\.[A-Za-z0-9_-]{1,32}){0,3}$/.test(natsSubjectPrefix)) {
    throw new ConfigError('NATS_SUBJECT_PREFIX must be 1-4 dot-separated tokens of letters, digits, _ or -');
  }
  const corsOrigins = (env['CORS_ORIGINS'] ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of corsOrigins) {
    if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(origin)) throw new ConfigError(`CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin like http://localhost:3000`);
  }
  const logLevel = env['LOG_LEVEL'] || LOG_LEVEL_DEFAULT;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);
  const bootstrapKey = env['CHRONICLE_BOOTSTRAP_KEY'] || undefined;
  if (bootstrapKey !== undefined) {
    const problem = chosenKeyProblem(bootstrapKey);
    // The message never repeats the value: it is a secret, and this may end up in a log.
    if (problem) throw new ConfigError(`CHRONICLE_BOOTSTRAP_KEY ${problem}`);
  }
  const insecure = env['CHRONICLE_AUTH_DISABLED_INSECURE'] ?? '';
  if (!['', '0', '1'].includes(insecure)) throw new ConfigError('CHRONICLE_AUTH_DISABLED_INSECURE must be 1 (no authentication at all) or 0');
  const authDisabledInsecure = insecure === '1';
  if (authDisabledInsecure && bootstrapKey !== undefined) {
    throw new ConfigError('CHRONICLE_AUTH_DISABLED_INSECURE=1 and CHRONICLE_BOOTSTRAP_KEY together: a key is pointless without authentication');
  }
  const dashboardApiUrl = env['DASHBOARD_API_URL'] || undefined;
  if (dashboardApiUrl !== undefined && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(dashboardApiUrl)) {
    throw new ConfigError(`DASHBOARD_API_URL: ${JSON.stringify(dashboardApiUrl)} is not an origin like http://localhost:4000`);
  }
  const signingKeyRotate = onOff(env, 'CHRONICLE_SIGNING_KEY_ROTATE', false);
  if (signingKeyRotate && !env['CHRONICLE_SIGNING_KEY'] && !env['CHRONICLE_SIGNING_KEY_FILE']) {
    throw new ConfigError('CHRONICLE_SIGNING_KEY_ROTATE=on rotates to the key in CHRONICLE_SIGNING_KEY or CHRONICLE_SIGNING_KEY_FILE: set one of them');
  }
  const port = integer(env, 'PORT', HTTP_PORT_DEFAULT, 0, PORT_MAX);
  const dashboardPort = integer(env, 'DASHBOARD_PORT', DASHBOARD_PORT_DEFAULT, 1, PORT_MAX);
  const dashboard = onOff(env, 'DASHBOARD', true);
  const requestTimeoutMs = integer(env, 'REQUEST_TIMEOUT_MS', HTTP_REQUEST_TIMEOUT_MS_DEFAULT, HTTP_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX);
  const headersTimeoutMs = integer(env, 'HEADERS_TIMEOUT_MS', Math.min(HTTP_HEADERS_TIMEOUT_MS_DEFAULT, requestTimeoutMs), HTTP_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX);
  // Node refuses a headers bound above the request's (ERR_OUT_OF_RANGE); say so at start, by name.
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError(`HEADERS_TIMEOUT_MS (${headersTimeoutMs}) must not exceed REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  return Object.freeze({
    port,
    host: env['HOST'] || HTTP_HOST_DEFAULT,
    databaseUrl,
    readDatabaseUrl,
    readReplicaUrl,
    patroniUrls,
    clusterDir: env['CHRONICLE_CLUSTER_DIR'] ? resolve(env['CHRONICLE_CLUSTER_DIR']) : undefined,
    dataDir: resolve(env['CHRONICLE_DATA_DIR'] || DATA_DIR_DEFAULT),
    pgPoolMax: integer(env, 'PG_POOL_MAX', PG_POOL_CONNECTIONS_DEFAULT, 1, PG_POOL_CONNECTIONS_MAX),
    snapshotEvery: integer(env, 'SNAPSHOT_EVERY', SNAPSHOT_EVERY_EVENTS_DEFAULT, 0, SNAPSHOT_EVERY_EVENTS_MAX),
    aggregateCacheMax: integer(env, 'AGGREGATE_CACHE_MAX', AGGREGATE_CACHE_ACCOUNTS_DEFAULT, 0, AGGREGATE_CACHE_ACCOUNTS_MAX),
    accountQueueMax: integer(env, 'ACCOUNT_QUEUE_MAX', ACCOUNT_QUEUE_COMMANDS_DEFAULT, 1, ACCOUNT_QUEUE_COMMANDS_MAX),
    readWaitMaxMs: integer(env, 'READ_WAIT_MAX_MS', READ_WAIT_MS_DEFAULT, 0, READ_WAIT_MS_MAX),
    appendStallWarnMs: integer(env, 'APPEND_STALL_WARN_MS', APPEND_STALL_WARN_MS_DEFAULT, APPEND_STALL_WARN_MS_MIN, SETTING_MS_MAX),
    natsUrl,
    natsServers: Object.freeze(natsServers),
    natsStreamReplicas: integer(env, 'NATS_STREAM_REPLICAS', NATS_STREAM_REPLICAS_DEFAULT, 1, NATS_STREAM_REPLICAS_MAX),
    natsStream,
    natsSubjectPrefix,
    natsAckWaitMs: integer(env, 'NATS_ACK_WAIT_MS', NATS_ACK_WAIT_MS_DEFAULT, NATS_ACK_WAIT_MS_MIN, SETTING_MS_MAX),
    corsOrigins: Object.freeze(corsOrigins),
    logLevel,
    signingKeyPem: env['CHRONICLE_SIGNING_KEY'] || undefined,
    signingKeyFile: env['CHRONICLE_SIGNING_KEY_FILE'] ? resolve(env['CHRONICLE_SIGNING_KEY_FILE']) : undefined,
    signingKeyRotate,
    checkpointIntervalMs: integer(env, 'CHRONICLE_CHECKPOINT_INTERVAL_MS', CHECKPOINT_INTERVAL_MS_DEFAULT, CHECKPOINT_INTERVAL_MS_MIN, SETTING_MS_MAX),
    sealer: onOff(env, 'CHRONICLE_SEALER', true),
    bootstrapKey,
    authDisabledInsecure,
    rateLimitPerMinute: integer(env, 'RATE_LIMIT_PER_MINUTE', RATE_LIMIT_PER_MINUTE_DEFAULT, 1, PER_MINUTE_MAX),
    subscriptionsPerKeyMax: integer(env, 'SUBSCRIPTIONS_PER_KEY_MAX', SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT, 1, SUBSCRIPTIONS_MAX),
    authFailuresPerMinute: integer(env, 'AUTH_FAILURES_PER_MINUTE', AUTH_FAILURES_PER_MINUTE_DEFAULT, 1, PER_MINUTE_MAX),
    requestTimeoutMs,
    headersTimeoutMs,
    // Above the SSE heartbeat (15 s), or idle subscriptions would be cut.
    connectionTimeoutMs: integer(env, 'CONNECTION_TIMEOUT_MS', HTTP_CONNECTION_TIMEOUT_MS_DEFAULT, HTTP_CONNECTION_TIMEOUT_MS_MIN, HTTP_TIMEOUT_MS_MAX),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', SHUTDOWN_TIMEOUT_MS_DEFAULT, SHUTDOWN_TIMEOUT_MS_MIN, SHUTDOWN_TIMEOUT_MS_MAX),
    dashboard,
    dashboardPort,
    dashboardApiUrl,
    // dist/config.js and src/config.ts both sit one level below the package root.
    dashboardDir: env['DASHBOARD_DIR'] ? resolve(env['DASHBOARD_DIR']) : fileURLToPath(new URL('../dashboard/out', import.meta.url)),
  });
}
