// A PostgreSQL primary with one synchronous standby, on free loopback ports, for the quorum tests: initdb
// as the `postgres` user (runuser; PostgreSQL refuses root), pg_basebackup -R from the running primary, the
// standby named by cluster_name, then synchronous_standby_names set on the primary only (ALTER SYSTEM after
// the base backup, so a promoted standby does not wait for a standby of its own). And a small TCP proxy in
// front of it (what HAProxy is to the cluster): the ledger connects through it, so a test can cut one
// client's connection while its backend keeps waiting, and point the ledger at the new primary after a
// failover without restarting it. Every process here is this file's own, ended by its pid.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { asPostgres, postgresOwnedTempDir } from './private-postgres.js';

export interface PgNode {
  readonly name: string;
  readonly port: number;
  url(database?: string): string;
  start(): void;
  stop(mode: 'fast' | 'immediate'): void;
  /** SIGKILL to the postmaster and every child of it (by pid): a crash, no shutdown of any kind. */
  kill9(): void;
  /** pg_ctl promote -w: a standby becomes a primary. */
  promote(): void;
  log(): string;
}

export interface SyncPair {
  primary: PgNode;
  standby: PgNode;
  /** synchronous_standby_names on the primary. */
  readonly syncNames: string;
  destroy(): void;
}

function node(dir: string, name: string, port: number, extra: string): PgNode {
  const data = join(dir, name);
  const logFile = join(dir, `${name}.log`);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100 ${extra}`;
  return {
    name,
    port,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    start: () => { asPostgres('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '60', 'start']); },
    stop: (mode) => { asPostgres('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']); },
    kill9() {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      // Only our own postmaster: a stale postmaster.pid (a server already killed) may name a reused pid.
      let cmdline = '';
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return; // gone already
      }
      if (!cmdline.includes(data)) return;
      const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number);
      for (const p of [pid, ...children]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    },
    promote: () => { asPostgres('pg_ctl', ['-D', data, '-w', '-t', '60', 'promote']); },
    log: () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } },
  };
}

/** Starts a primary on `ports[0]` and a synchronous standby on `ports[1]`; `databases` are created first. */
export async function startSyncPair(ports: [number, number], databases: readonly string[]): Promise<SyncPair> {
  const dir = postgresOwnedTempDir();
  // initdb --auth=trust: its pg_hba.conf lets replication connections in from 127.0.0.1 too.
  asPostgres('initdb', ['-D', join(dir, 'pg-1'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const primary = node(dir, 'pg-1', ports[0], '-c wal_level=replica -c max_wal_senders=5');
  const standby = node(dir, 'pg-2', ports[1], '-c cluster_name=pg2');
  primary.start();
  const admin = new pg.Client({ connectionString: primary.url() });
  await admin.connect();
  try {
    for (const db of databases) await admin.query(`CREATE DATABASE ${db}`);
    asPostgres('pg_basebackup', ['-h', '127.0.0.1', '-p', String(ports[0]), '-U', 'postgres', '-D', join(dir, 'pg-2'), '-R', '-X', 'stream', '--no-sync', '--checkpoint=fast']);
    standby.start();
    const syncNames = 'FIRST 1 (pg2)';
    await admin.query(`ALTER SYSTEM SET synchronous_standby_names = '${syncNames}'`);
    await admin.query('SELECT pg_reload_conf()');
    // Synchronous once the standby is streaming and the primary has reloaded.
    for (let i = 0; ; i++) {
      const rows = (await admin.query<{ sync_state: string }>('SELECT sync_state FROM pg_stat_replication')).rows;
      if (rows.some((r) => r.sync_state === 'sync')) break;
      if (i > 300) throw new Error(`the standby never became synchronous: ${JSON.stringify(rows)}\n${standby.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return {
      primary, standby, syncNames,
      destroy() {
        for (const n of [primary, standby]) {
          try {
            n.stop('immediate');
          } catch {
            n.kill9(); // kills only a live postmaster of this pair's own data directory
          }
        }
        if (process.env['CHRONICLE_TEST_KEEP_PG'] !== '1') rmSync(dir, { recursive: true, force: true });
      },
    };
  } finally {
    await admin.end();
  }
}

export interface TcpProxy {
  readonly port: number;
  /** Where new connections go from now on. */
  setTarget(port: number): void;
  /**
   * Cuts the connection whose upstream side has this local port (pg_stat_activity.client_port of its
   * backend): the client sees its connection end; the server side is closed too, but a backend waiting for
   * synchronous replication does not notice until it finishes. False: no such connection.
   */
  cut(upstreamLocalPort: number): boolean;
  cutAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  const pairs = new Map<Socket, Socket>(); // upstream -> client
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    pairs.set(upstream, client);
    const end = () => {
      pairs.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const cutAll = () => {
    for (const [upstream, client] of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    setTarget: (p) => { target = p; },
    cut(upstreamLocalPort) {
      for (const [upstream, client] of pairs) {
        if (upstream.localPort === upstreamLocalPort) {
          pairs.delete(upstream);
          client.destroy();
          upstream.destroy();
          return true;
        }
      }
      return false;
    },
    cutAll,
    async close() {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
