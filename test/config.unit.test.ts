// The configuration and its documentation agree: README.md's table lists exactly the variables src/config.ts
// reads (found in its source text), each with the default loadConfig({}) gives it (a default comes from
// src/domain/limits.ts); and the ranges config.ts enforces are the module's.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import * as limits from '../src/domain/limits.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const configSource = readFileSync(new URL('../src/config.ts', import.meta.url), 'utf8');

/** The Configuration section's table: variable → the default column's text. */
function documented(): Map<string, string> {
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
  return new Map([...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| `?([^`|]*?)`? \|/gm)].map((m) => [m[1]!, m[2]!.trim()]));
}

/** Every variable config.ts reads: env['NAME'] and the helpers' integer(env, 'NAME', …) / onOff(env, 'NAME', …). */
function read(): Set<string> {
  return new Set([...configSource.matchAll(/env\[['"]([A-Z][A-Z0-9_]*)['"]\]|\b(?:integer|onOff)\(env, ['"]([A-Z][A-Z0-9_]*)['"]/g)].map((m) => (m[1] ?? m[2])!));
}

/** Which Config field each variable sets; a variable missing here fails the test below. */
const FIELD: Record<string, keyof Config> = {
  PORT: 'port', HOST: 'host', DATABASE_URL: 'databaseUrl', READ_DATABASE_URL: 'readDatabaseUrl', READ_REPLICA_URL: 'readReplicaUrl', PATRONI_URLS: 'patroniUrls', CHRONICLE_CLUSTER_DIR: 'clusterDir', CHRONICLE_DATA_DIR: 'dataDir',
  PG_POOL_MAX: 'pgPoolMax', SNAPSHOT_EVERY: 'snapshotEvery', AGGREGATE_CACHE_MAX: 'aggregateCacheMax', ACCOUNT_QUEUE_MAX: 'accountQueueMax',
  READ_WAIT_MAX_MS: 'readWaitMaxMs', APPEND_STALL_WARN_MS: 'appendStallWarnMs', NATS_URL: 'natsUrl', NATS_STREAM: 'natsStream', NATS_STREAM_REPLICAS: 'natsStreamReplicas',
  NATS_SUBJECT_PREFIX: 'natsSubjectPrefix', NATS_ACK_WAIT_MS: 'natsAckWaitMs', CORS_ORIGINS: 'corsOrigins', LOG_LEVEL: 'logLevel',
  CHRONICLE_SIGNING_KEY: 'signingKeyPem', CHRONICLE_SIGNING_KEY_FILE: 'signingKeyFile', CHRONICLE_SIGNING_KEY_ROTATE: 'signingKeyRotate', CHRONICLE_CHECKPOINT_INTERVAL_MS: 'checkpointIntervalMs',
  CHRONICLE_SEALER: 'sealer', CHRONICLE_BOOTSTRAP_KEY: 'bootstrapKey', CHRONICLE_AUTH_DISABLED_INSECURE: 'authDisabledInsecure',
  RATE_LIMIT_PER_MINUTE: 'rateLimitPerMinute', SUBSCRIPTIONS_PER_KEY_MAX: 'subscriptionsPerKeyMax', AUTH_FAILURES_PER_MINUTE: 'authFailuresPerMinute',
  REQUEST_TIMEOUT_MS: 'requestTimeoutMs', HEADERS_TIMEOUT_MS: 'headersTimeoutMs', CONNECTION_TIMEOUT_MS: 'connectionTimeoutMs',
  SHUTDOWN_TIMEOUT_MS: 'shutdownTimeoutMs', DASHBOARD: 'dashboard', DASHBOARD_PORT: 'dashboardPort', DASHBOARD_API_URL: 'dashboardApiUrl',
  DASHBOARD_DIR: 'dashboardDir',
};

/** A default as the README writes it. */
function shown(variable: string, value: Config[keyof Config]): string {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return 'unset';
  if (variable === 'CHRONICLE_AUTH_DISABLED_INSECURE') return value ? '1' : '0';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return String(value);
}

describe('configuration', () => {
  it('README.md lists exactly the variables src/config.ts reads', () => {
    const variables = read();
    // Finding only a few would mean the scanner is broken.
    expect(variables.size).toBeGreaterThanOrEqual(30);
    expect([...documented().keys()].sort()).toStrictEqual([...variables].sort());
    expect(Object.keys(FIELD).sort()).toStrictEqual([...variables].sort());
  });

  it('README.md shows each variable\'s default as loadConfig gives it', () => {
    const config = loadConfig({});
    const expected = new Map([...documented().keys()].map((variable) => {
      const value = config[FIELD[variable]!];
      // Paths are shown relative (the data dir to the working directory, the dashboard to the package).
      if (variable === 'CHRONICLE_DATA_DIR') return [variable, resolve(documented().get(variable)!) === value ? documented().get(variable)! : String(value)];
      if (variable === 'DASHBOARD_DIR') return [variable, String(value).endsWith(`/${documented().get(variable)!}`) ? documented().get(variable)! : String(value)];
      return [variable, shown(variable, value)];
    }));
    expect(documented()).toStrictEqual(expected);
  });

  it('the defaults are the limits module\'s', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: limits.HTTP_PORT_DEFAULT, host: limits.HTTP_HOST_DEFAULT, dataDir: resolve(limits.DATA_DIR_DEFAULT),
      pgPoolMax: limits.PG_POOL_CONNECTIONS_DEFAULT, snapshotEvery: limits.SNAPSHOT_EVERY_EVENTS_DEFAULT,
      aggregateCacheMax: limits.AGGREGATE_CACHE_ACCOUNTS_DEFAULT, accountQueueMax: limits.ACCOUNT_QUEUE_COMMANDS_DEFAULT,
      readWaitMaxMs: limits.READ_WAIT_MS_DEFAULT, appendStallWarnMs: limits.APPEND_STALL_WARN_MS_DEFAULT,
      natsStream: limits.NATS_STREAM_DEFAULT, natsSubjectPrefix: limits.EVENT_SUBJECT_PREFIX_DEFAULT, natsAckWaitMs: limits.NATS_ACK_WAIT_MS_DEFAULT,
      natsStreamReplicas: limits.NATS_STREAM_REPLICAS_DEFAULT, logLevel: limits.LOG_LEVEL_DEFAULT, checkpointIntervalMs: limits.CHECKPOINT_INTERVAL_MS_DEFAULT,
      rateLimitPerMinute: limits.RATE_LIMIT_PER_MINUTE_DEFAULT, subscriptionsPerKeyMax: limits.SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT,
      authFailuresPerMinute: limits.AUTH_FAILURES_PER_MINUTE_DEFAULT, requestTimeoutMs: limits.HTTP_REQUEST_TIMEOUT_MS_DEFAULT,
      headersTimeoutMs: limits.HTTP_HEADERS_TIMEOUT_MS_DEFAULT, connectionTimeoutMs: limits.HTTP_CONNECTION_TIMEOUT_MS_DEFAULT,
      shutdownTimeoutMs: limits.SHUTDOWN_TIMEOUT_MS_DEFAULT, dashboardPort: limits.DASHBOARD_PORT_DEFAULT,
    });
    // One ack wait everywhere: the adapter's default is the configuration's.
    expect(limits.NATS_BUS_DEFAULTS.ackWaitMs).toBe(limits.NATS_ACK_WAIT_MS_DEFAULT);
  });

  it('refuses a value just outside each range the limits module sets, and takes the bounds themselves', () => {
    const ranges: [variable: string, min: number, max: number][] = [
      ['PORT', 0, limits.PORT_MAX],
      ['PG_POOL_MAX', 1, limits.PG_POOL_CONNECTIONS_MAX],
      ['SNAPSHOT_EVERY', 0, limits.SNAPSHOT_EVERY_EVENTS_MAX],
      ['AGGREGATE_CACHE_MAX', 0, limits.AGGREGATE_CACHE_ACCOUNTS_MAX],
      ['ACCOUNT_QUEUE_MAX', 1, limits.ACCOUNT_QUEUE_COMMANDS_MAX],
      ['READ_WAIT_MAX_MS', 0, limits.READ_WAIT_MS_MAX],
      ['APPEND_STALL_WARN_MS', limits.APPEND_STALL_WARN_MS_MIN, limits.SETTING_MS_MAX],
      ['NATS_ACK_WAIT_MS', limits.NATS_ACK_WAIT_MS_MIN, limits.SETTING_MS_MAX],
      ['NATS_STREAM_REPLICAS', 1, limits.NATS_STREAM_REPLICAS_MAX],
      ['CHRONICLE_CHECKPOINT_INTERVAL_MS', limits.CHECKPOINT_INTERVAL_MS_MIN, limits.SETTING_MS_MAX],
      ['RATE_LIMIT_PER_MINUTE', 1, limits.PER_MINUTE_MAX],
      ['SUBSCRIPTIONS_PER_KEY_MAX', 1, limits.SUBSCRIPTIONS_MAX],
      ['AUTH_FAILURES_PER_MINUTE', 1, limits.PER_MINUTE_MAX],
      ['CONNECTION_TIMEOUT_MS', limits.HTTP_CONNECTION_TIMEOUT_MS_MIN, limits.HTTP_TIMEOUT_MS_MAX],
      ['SHUTDOWN_TIMEOUT_MS', limits.SHUTDOWN_TIMEOUT_MS_MIN, limits.SHUTDOWN_TIMEOUT_MS_MAX],
    ];
    for (const [variable, min, max] of ranges) {
      const field = FIELD[variable]!;
      expect(loadConfig({ [variable]: String(min) })[field], variable).toBe(min);
      expect(loadConfig({ [variable]: String(max) })[field], variable).toBe(max);
      expect(() => loadConfig({ [variable]: String(min - 1) }), variable).toThrow(ConfigError);
      expect(() => loadConfig({ [variable]: String(max + 1) }), variable).toThrow(ConfigError);
    }
    // The request and headers timeouts (headers at most the request's).
    for (const variable of ['REQUEST_TIMEOUT_MS', 'HEADERS_TIMEOUT_MS']) {
      expect(() => loadConfig({ [variable]: String(limits.HTTP_TIMEOUT_MS_MIN - 1) }), variable).toThrow(ConfigError);
      expect(() => loadConfig({ REQUEST_TIMEOUT_MS: String(limits.HTTP_TIMEOUT_MS_MAX + 1) })).toThrow(ConfigError);
    }
  });

  it('NATS_URL takes one server or a comma-separated list of them, and refuses anything else', () => {
    expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:4222' }).natsServers).toStrictEqual(['nats://127.0.0.1:4222']);
    expect(loadConfig({ NATS_URL: 'nats://127.0.0.1:1, nats://127.0.0.1:2,tls://h:3' }).natsServers)
      .toStrictEqual(['nats://127.0.0.1:1', 'nats://127.0.0.1:2', 'tls://h:3']);
    expect(loadConfig({}).natsServers).toStrictEqual([]);
    for (const bad of ['127.0.0.1:4222', 'nats://a:1,http://b:2', ',', 'nats://a:1,,nats://b 2']) {
      expect(() => loadConfig({ NATS_URL: bad }), bad).toThrow(ConfigError);
    }
  });
});
