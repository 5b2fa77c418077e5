// A PostgreSQL server of a test's own, to stop and restart under load: never the shared one on 5432. Made
// with initdb in a temporary directory owned by the `postgres` user (PostgreSQL refuses to run as root, and
// tests here run as root: every pg_ctl call goes through `runuser -u postgres --`), listening on loopback
// on a port of the test's choosing, with fsync off (a test's data need not survive a power cut, only a server crash: so synchronous_commit stays on, or -m immediate would lose acknowledged commits; a restart
// with -m immediate still runs crash recovery). Only ever signals its own postmaster (pg_ctl -D <its dir>).
//
// Missing binaries skip the tests that need it, unless CHRONICLE_REQUIRE_SERVICES=1: then they fail.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { testRandom } from './seeded-random.js';

export const PG_BIN_DIR = process.env['CHRONICLE_TEST_PG_BIN_DIR'] ?? '/usr/lib/postgresql/15/bin';
const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';
const RUNUSER = '/usr/sbin/runuser';

/** Whether initdb, pg_ctl, runuser and the `postgres` user are here; throws instead of false when required. */
export function privatePostgresAvailable(): boolean {
  const missing = [join(PG_BIN_DIR, 'initdb'), join(PG_BIN_DIR, 'pg_ctl'), RUNUSER].filter((bin) => !existsSync(bin));
  const user = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const problem = missing.length > 0 ? `missing ${missing.join(', ')}` : user.status !== 0 ? 'no `postgres` user' : null;
  if (problem === null) return true;
  if (REQUIRED) throw new Error(`a private PostgreSQL is required (CHRONICLE_REQUIRE_SERVICES=1) but ${problem} (CHRONICLE_TEST_PG_BIN_DIR=${PG_BIN_DIR})`);
  return false;
}

export interface PrivatePostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  createDatabase(name: string): Promise<string>;
  /** pg_ctl restart -m <mode>: the server stops (ending every session) and starts again; waits until it accepts connections. */
  restart(mode: 'fast' | 'immediate'): void;
  stop(mode: 'fast' | 'immediate'): void;
  start(): void;
  /** Stops it (immediate) and removes its directory. */
  destroy(): void;
  /** The server's log so far. */
  log(): string;
}

const uid = (user: string) => Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
const gid = (user: string) => Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());

/** A fresh temporary directory owned by the `postgres` user. */
export function postgresOwnedTempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chronicle-pg-'));
  chownSync(dir, uid('postgres'), gid('postgres'));
  return dir;
}

/** Runs a PostgreSQL binary as the `postgres` user and returns its stdout; throws with its output when it fails. */
export function asPostgres(bin: string, args: string[]): string {
  const result = spawnSync(RUNUSER, ['-u', 'postgres', '--', join(PG_BIN_DIR, bin), ...args], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${result.status ?? result.signal}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

export async function startPrivatePostgres(port: number): Promise<PrivatePostgres> {
  const dir = postgresOwnedTempDir();
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const start = () => asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-o', serverOptions, '-w', '-t', '60', 'start']);
  start();
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name) {
      const admin = new pg.Client({ connectionString: url() });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    restart: (mode) => asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-o', serverOptions, '-m', mode, '-w', '-t', '60', 'restart']),
    stop: (mode) => asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']),
    start,
    destroy() {
      spawnSync(RUNUSER, ['-u', 'postgres', '--', join(PG_BIN_DIR, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => spawnSync('cat', [logFile], { encoding: 'utf8' }).stdout ?? '',
  };
}

/** A free loopback port from 55432 up (a random start, so parallel files rarely collide), for a private server. */
export async function freePostgresPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const free = (port: number) => new Promise<boolean>((resolve) => {
    const server = createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
  for (let port = 55432 + testRandom().int(0, 1_999), tries = 0; tries < 200; port += 1, tries += 1) {
    if (await free(port)) return port;
  }
  throw new Error('no free port from 55432 up');
}

export interface PrivateStandby {
  port: number;
  url(database?: string): string;
  /** Stops replaying WAL (it keeps receiving it): the replica falls behind on purpose. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  destroy(): void;
}

/**
 * A hot standby of `primary` on `port`, streaming from it (pg_basebackup -R): a read replica. initdb's trust
 * rules already let loopback connect for replication, and PostgreSQL 15's defaults (wal_level replica,
 * max_wal_senders 10, hot_standby on) are what streaming needs; a hot standby needs max_connections at
 * least the primary's.
 */
export async function startPrivateStandby(primary: PrivatePostgres, port: number): Promise<PrivateStandby> {
  const dir = postgresOwnedTempDir();
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  asPostgres('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', data, '-R', '-X', 'stream', '--no-sync']);
  asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`, '-w', '-t', '60', 'start']);
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const run = async (sql: string) => {
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    port,
    url,
    pauseReplay: () => run('SELECT pg_wal_replay_pause()'),
    resumeReplay: () => run('SELECT pg_wal_replay_resume()'),
    destroy() {
      spawnSync(RUNUSER, ['-u', 'postgres', '--', join(PG_BIN_DIR, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
