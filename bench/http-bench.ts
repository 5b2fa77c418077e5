// End-to-end HTTP benchmark of the ledger on PostgreSQL: `npm run bench`.
//
// 1. Recreates a scratch database (BENCH_DB_NAME, default chronicle_bench) through an admin connection.
// 2. Compiles src/ into bench/results/dist (gitignored; dist/ is left alone) and starts the ledger as a
//    separate child process (its own event loop), on a free loopback port, PG_POOL_MAX connections.
// 3. Phase 0: creates BENCH_ACCOUNTS accounts and deposits an opening balance into each.
//    Warm-up: BENCH_WARMUP_SECONDS of the command mix, not counted.
//    Phase 1: BENCH_CONNECTIONS clients issue a command mix for BENCH_SECONDS:
//             10% create-account, 35% deposit, 30% withdraw, 25% transfer (same currency, distinct accounts),
//             amounts 1..1000 minor units. Accounts opened during the run join the pool (empty), so a share of
//             withdrawals and transfers end in 422 insufficient_funds: counted as a business outcome.
//    Phase 2: BENCH_CONNECTIONS clients read balances for BENCH_READ_SECONDS.
// 4. Prints a human summary and one JSON line, also written to bench/results/latest.json; stops the child.
//
// Environment (all optional):
//   BENCH_DATABASE_URL   admin/base URL (default postgres://postgres@127.0.0.1:5432/postgres); the bench
//                        database is created next to it
//   BENCH_DB_NAME        scratch database name (default chronicle_bench); dropped and recreated
//   BENCH_ACCOUNTS (1000) BENCH_SECONDS (20) BENCH_READ_SECONDS (10) BENCH_WARMUP_SECONDS (2)
//   BENCH_CONNECTIONS (48: the most throughput with p99 under 50 ms here) PG_POOL_MAX (16)
//   BENCH_SKIP_BUILD=1   reuse bench/results/dist as it is
//   BENCH_CPU_PROF=dir   run the server with --cpu-prof into dir (summarise with bench/cpuprofile-top.ts)
//   BENCH_PG_SAMPLE=1    sample pg_stat_activity every 100 ms during phase 1 and tally wait events
//   BENCH_SERVER_ENV     extra env for the server, "K=V,K=V" (e.g. SNAPSHOT_EVERY=0)
//   BENCH_OUT            where to write the JSON (default bench/results/latest.json)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

// ---------------------------------------------------------------------------------------------- settings

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const BUILD_DIR = join(RESULTS, 'dist');

function intEnv(name: string, fallback: number, min: number, max: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return value;
}

const ADMIN_URL = process.env['BENCH_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_NAME = process.env['BENCH_DB_NAME'] || 'chronicle_bench';
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(DB_NAME)) throw new Error('BENCH_DB_NAME must be a plain lower-case identifier');
const ACCOUNTS = intEnv('BENCH_ACCOUNTS', 1_000, 2, 1_000_000);
const SECONDS = intEnv('BENCH_SECONDS', 20, 1, 3_600);
const READ_SECONDS = intEnv('BENCH_READ_SECONDS', 10, 0, 3_600);
const WARMUP_SECONDS = intEnv('BENCH_WARMUP_SECONDS', 2, 0, 600);
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 48, 1, 1_024);
const POOL_MAX = intEnv('PG_POOL_MAX', 16, 1, 1_000);
const CPU_PROF_DIR = process.env['BENCH_CPU_PROF'] || undefined;
const PG_SAMPLE = process.env['BENCH_PG_SAMPLE'] === '1';
const SKIP_BUILD = process.env['BENCH_SKIP_BUILD'] === '1';
const OUT_FILE = process.env['BENCH_OUT'] || join(RESULTS, 'latest.json');
const SERVER_EXTRA_ENV: Record<string, string> = Object.fromEntries(
  (process.env['BENCH_SERVER_ENV'] ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => {
    const at = kv.indexOf('=');
    return [kv.slice(0, at).trim(), kv.slice(at + 1).trim()];
  }),
);

const HOST = '127.0.0.1';
const REQUEST_TIMEOUT_MS = 10_000;
const HEALTH_WAIT_MS = 60_000;
/** Hard cap on requests recorded per phase (memory bound: 9 bytes each). */
const RECORD_MAX = 20_000_000;
const INITIAL_BALANCE = 1_000_000n; // minor units
const CURRENCIES = ['EUR', 'USD'] as const;

// ---------------------------------------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const rand = (n: number) => Math.floor(Math.random() * n);
const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function dbUrl(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------- CPU accounting

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in seconds, or 0 if it is gone. */
function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/**
 * Summed CPU seconds of the PostgreSQL processes that work for this run: backends connected to the bench
 * database and the shared background processes (walwriter, checkpointer, ...); backends of other
 * databases (someone else's tests on this shared machine) are left out.
 */
function postgresCpuSeconds(): number {
  let total = 0;
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (comm !== 'postgres') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      // "postgres: 15/main: <user> <database> <host>(<port>) <state>" for a client backend.
      const backend = /^postgres: [^:]+: \S+ (\S+) \S+\(\d+\)/.exec(cmdline);
      if (backend && backend[1] !== DB_NAME) continue;
      if (/autovacuum worker/.test(cmdline) && !cmdline.includes(DB_NAME)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
    } catch {
      // raced with an exiting process
    }
  }
  return total;
}

/** Machine-wide busy and total CPU seconds from /proc/stat. */
function systemCpu(): { busy: number; total: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0);
    return { busy: (total - idle) / CLK_TCK, total: total / CLK_TCK };
  } catch {
    return { busy: 0, total: 0 };
  }
}

/** Seconds the process spent runnable but waiting for a CPU (/proc/<pid>/schedstat, second field). */
function runQueueWaitSeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return 0;
  }
}

interface CpuMark { wall: number; client: number; server: number; serverWait: number; postgres: number; sys: { busy: number; total: number } }

function cpuMark(serverPid: number): CpuMark {
  const usage = process.cpuUsage();
  return {
    wall: performance.now() / 1000,
    client: (usage.user + usage.system) / 1e6,
    server: procCpuSeconds(serverPid),
    serverWait: runQueueWaitSeconds(serverPid),
    postgres: postgresCpuSeconds(),
    sys: systemCpu(),
  };
}

/** CPU used between two marks, in cores (1.0 = one core busy all the time). */
function cpuBetween(a: CpuMark, b: CpuMark) {
  const wall = b.wall - a.wall;
  const cores = (x: number) => Math.round((x / wall) * 100) / 100;
  return {
    clientCores: cores(b.client - a.client),
    serverCores: cores(b.server - a.server),
    /** Share of wall time the server's event loop was ready to run but had no CPU (machine oversubscribed). */
    serverRunQueueWait: cores(b.serverWait - a.serverWait),
    postgresCores: cores(b.postgres - a.postgres),
    machineBusyCores: cores(b.sys.busy - a.sys.busy),
    machineCores: cores(b.sys.total - a.sys.total),
    /** Busy CPU not explained by the three above: other work on this (shared) machine (incl. its own PostgreSQL backends), kernel threads. */
    otherCores: cores((b.sys.busy - a.sys.busy) - (b.client - a.client) - (b.server - a.server) - (b.postgres - a.postgres)),
  };
}

/** CPU milliseconds spent per operation by each side: what caps throughput once the cores are full. */
function cpuPerOp(cpu: ReturnType<typeof cpuBetween>, opsPerSecond: number) {
  const ms = (cores: number) => (opsPerSecond > 0 ? Math.round((cores / opsPerSecond) * 1000 * 1000) / 1000 : 0);
  return {
    serverMs: ms(cpu.serverCores), postgresMs: ms(cpu.postgresCores), clientMs: ms(cpu.clientCores),
    /** Ops/s the machine's cores would allow for server + PostgreSQL alone, if nothing else ran. */
    ceilingPerSecond: Math.round(cpu.machineCores / Math.max(1e-9, (cpu.serverCores + cpu.postgresCores) / Math.max(1e-9, opsPerSecond))),
  };
}

// ---------------------------------------------------------------------------------------------- HTTP client

interface Reply { status: number; body: string }

class Client {
  readonly agent: http.Agent;
  constructor(readonly port: number, sockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'fifo' });
  }

  /** Body text is decoded only when wantBody is set or the status is not the expected one. */
  send(method: 'GET' | 'POST', path: string, payload: unknown, expect: readonly number[], wantBody = false): Promise<Reply> {
    return new Promise((resolveReply) => {
      const data = payload === undefined ? undefined : JSON.stringify(payload);
      const request = http.request({
        host: HOST, port: this.port, method, path, agent: this.agent,
        headers: data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      }, (response) => {
        const status = response.statusCode ?? 0;
        const keep = wantBody || !expect.includes(status);
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => { if (keep) chunks.push(chunk); });
        response.on('end', () => resolveReply({ status, body: keep ? Buffer.concat(chunks).toString('utf8') : '' }));
        response.on('error', (error) => resolveReply({ status: 0, body: `response error: ${error.message}` }));
      });
      request.setTimeout(REQUEST_TIMEOUT_MS, () => request.destroy(new Error(`timeout after ${REQUEST_TIMEOUT_MS} ms`)));
      request.on('error', (error) => resolveReply({ status: 0, body: `request error: ${error.message}` }));
      request.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------------------------------------- recording

const KINDS = ['create-account', 'deposit', 'withdraw', 'transfer', 'balance'] as const;
type Kind = (typeof KINDS)[number];

class Recorder {
  private readonly latencies: Float64Array;
  private readonly kinds: Uint8Array;
  private n = 0;
  readonly statuses = new Map<string, number>(); // "kind status" -> count
  readonly errors = new Map<string, { count: number; sample: string }>();

  constructor(capacity: number) {
    this.latencies = new Float64Array(capacity);
    this.kinds = new Uint8Array(capacity);
  }

  get count(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n >= this.latencies.length;
  }

  record(kind: Kind, ms: number, reply: Reply, expected: readonly number[]): void {
    if (this.n < this.latencies.length) {
      this.latencies[this.n] = ms;
      this.kinds[this.n] = KINDS.indexOf(kind);
      this.n++;
    }
    const key = `${kind} ${reply.status}`;
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
    if (!expected.includes(reply.status)) {
      let code = '';
      try {
        code = (JSON.parse(reply.body) as { error?: { code?: string } }).error?.code ?? '';
      } catch {
        code = reply.body.slice(0, 80);
      }
      const errorKey = `${kind} ${reply.status} ${code}`;
      const entry = this.errors.get(errorKey);
      if (entry) entry.count++;
      else this.errors.set(errorKey, { count: 1, sample: reply.body.slice(0, 300) });
    }
  }

  statusCount(predicate: (kind: string, status: number) => boolean): number {
    let total = 0;
    for (const [key, count] of this.statuses) {
      const [kind, status] = key.split(' ');
      if (predicate(kind ?? '', Number(status))) total += count;
    }
    return total;
  }

  latency(kind?: Kind): LatencySummary {
    let values: Float64Array;
    if (kind === undefined) {
      values = this.latencies.slice(0, this.n);
    } else {
      const index = KINDS.indexOf(kind);
      let m = 0;
      for (let i = 0; i < this.n; i++) if (this.kinds[i] === index) m++;
      values = new Float64Array(m);
      m = 0;
      for (let i = 0; i < this.n; i++) if (this.kinds[i] === index) values[m++] = this.latencies[i]!;
    }
    return summarise(values);
  }
}

interface LatencySummary { count: number; mean: number; p50: number; p95: number; p99: number; p999: number; max: number }

function summarise(values: Float64Array): LatencySummary {
  const n = values.length;
  if (n === 0) return { count: 0, mean: 0, p50: 0, p95: 0, p99: 0, p999: 0, max: 0 };
  values.sort();
  const at = (q: number) => round2(values[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  return { count: n, mean: round2(sum / n), p50: at(0.5), p95: at(0.95), p99: at(0.99), p999: at(0.999), max: round2(values[n - 1]!) };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

// ---------------------------------------------------------------------------------------------- workload

interface Pools { byCurrency: string[][]; all: string[] }

const amount = () => String(1 + rand(1_000));

function pickAccount(pools: Pools): string {
  return pools.all[rand(pools.all.length)]!;
}

function pickPair(pools: Pools): [string, string] {
  const group = pools.byCurrency[rand(pools.byCurrency.length)]!;
  const a = rand(group.length);
  let b = rand(group.length - 1);
  if (b >= a) b++;
  return [group[a]!, group[b]!];
}

interface CommandState { pools: Pools; runId: string; created: number }

/** One command of the mix; returns the kind, the request and the statuses counted as success. */
function nextCommand(state: CommandState): { kind: Kind; path: string; body: Record<string, unknown>; expect: readonly number[]; onCreated?: () => void } {
  const r = Math.random();
  if (r < 0.10) {
    const currencyIndex = rand(CURRENCIES.length);
    const accountId = `n-${state.runId}-${state.created++}`;
    return {
      kind: 'create-account', path: '/commands/create-account',
      body: { accountId, owner: `Bench Owner ${accountId}`, currency: CURRENCIES[currencyIndex] },
      expect: [201],
      onCreated: () => {
        state.pools.byCurrency[currencyIndex]!.push(accountId);
        state.pools.all.push(accountId);
      },
    };
  }
  if (r < 0.45) return { kind: 'deposit', path: '/commands/deposit', body: { accountId: pickAccount(state.pools), amount: amount() }, expect: [201] };
  if (r < 0.75) return { kind: 'withdraw', path: '/commands/withdraw', body: { accountId: pickAccount(state.pools), amount: amount() }, expect: [201, 422] };
  const [fromAccountId, toAccountId] = pickPair(state.pools);
  return { kind: 'transfer', path: '/commands/transfer', body: { fromAccountId, toAccountId, amount: amount() }, expect: [201, 422] };
}

/** Runs `connections` sequential workers until the deadline or the request cap; returns the elapsed seconds. */
async function runPhase(connections: number, seconds: number, recorder: Recorder, step: () => Promise<void>): Promise<number> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && !recorder.full) await step();
  };
  await Promise.all(Array.from({ length: connections }, worker));
  return (performance.now() - started) / 1000;
}

// ---------------------------------------------------------------------------------------------- PostgreSQL side

async function resetDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, application_name: 'chronicle-bench-admin' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DB_NAME}`);
  } finally {
    await admin.end();
  }
}

interface PgCounters { xactCommit: number; xactRollback: number; tupInserted: number; tupUpdated: number; walRecords: number; walBytes: number; walSync: number }

async function pgCounters(db: pg.Client): Promise<PgCounters> {
  const d = await db.query<{ xact_commit: string; xact_rollback: string; tup_inserted: string; tup_updated: string }>(
    'SELECT xact_commit, xact_rollback, tup_inserted, tup_updated FROM pg_stat_database WHERE datname = $1', [DB_NAME]);
  const w = await db.query<{ wal_records: string; wal_bytes: string; wal_sync: string }>(
    'SELECT wal_records, wal_bytes::bigint AS wal_bytes, wal_sync FROM pg_stat_wal');
  const row = d.rows[0];
  const wal = w.rows[0];
  return {
    xactCommit: Number(row?.xact_commit ?? 0), xactRollback: Number(row?.xact_rollback ?? 0),
    tupInserted: Number(row?.tup_inserted ?? 0), tupUpdated: Number(row?.tup_updated ?? 0),
    walRecords: Number(wal?.wal_records ?? 0), walBytes: Number(wal?.wal_bytes ?? 0), walSync: Number(wal?.wal_sync ?? 0),
  };
}

/** Tallies what the ledger's backends are doing, every 100 ms until the deadline. */
async function samplePgActivity(db: pg.Client, until: number): Promise<{ samples: number; states: Record<string, number>; queries: Record<string, number> }> {
  const states = new Map<string, number>();
  const queries = new Map<string, number>();
  let samples = 0;
  while (performance.now() < until && samples < 100_000) {
    const rows = await db.query<{ state: string | null; wait: string | null; query: string }>(
      `SELECT state, wait_event_type || ':' || wait_event AS wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query
         FROM pg_stat_activity WHERE datname = $1 AND application_name = 'chronicle-ledger'`, [DB_NAME]);
    samples++;
    for (const row of rows.rows) {
      const key = `${row.state ?? '?'} ${row.wait ?? 'CPU'}`;
      states.set(key, (states.get(key) ?? 0) + 1);
      if (row.state === 'active') queries.set(row.query, (queries.get(row.query) ?? 0) + 1);
    }
    await sleep(100);
  }
  const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort((a, b) => b[1] - a[1]).slice(0, 15));
  return { samples, states: sorted(states), queries: sorted(queries) };
}

// ---------------------------------------------------------------------------------------------- server child

function build(): void {
  if (SKIP_BUILD) {
    console.log(`build: skipped (BENCH_SKIP_BUILD=1), using ${BUILD_DIR}`);
    return;
  }
  const started = performance.now();
  // Compiled to bench/results/dist, not dist/, so a concurrent `npm run build` is never clobbered.
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD_DIR], {
    cwd: ROOT, stdio: 'inherit',
  });
  console.log(`build: tsc -p tsconfig.build.json --outDir bench/results/dist (${fmt((performance.now() - started) / 1000, 1)} s)`);
}

function startServer(port: number, databaseUrl: string): ChildProcess {
  const flags: string[] = [];
  if (CPU_PROF_DIR) {
    mkdirSync(CPU_PROF_DIR, { recursive: true });
    flags.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`);
  }
  const child = spawn(process.execPath, [...flags, join(BUILD_DIR, 'cli', 'main.js'), 'start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl, PORT: String(port), HOST, LOG_LEVEL: 'warn', PG_POOL_MAX: String(POOL_MAX),
      ...SERVER_EXTRA_ENV,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const relay = (stream: NodeJS.ReadableStream | null) => stream?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') console.log(`  [server] ${line.slice(0, 400)}`);
  });
  relay(child.stdout);
  relay(child.stderr);
  return child;
}

async function waitForHealth(client: Client, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + HEALTH_WAIT_MS;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before it was healthy`);
    const reply = await client.send('GET', '/health', undefined, [200], true);
    if (reply.status === 200) return;
    await sleep(100);
  }
  throw new Error(`server not healthy after ${HEALTH_WAIT_MS} ms`);
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(child.pid, 'SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
  if (timedOut && child.exitCode === null) {
    console.log(`server ${child.pid} did not stop within 15 s of SIGTERM; sending SIGKILL`);
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

function gitDescribe(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty-src` : head;
  } catch {
    return 'unknown';
  }
}

// ---------------------------------------------------------------------------------------------- main

function printLatency(label: string, l: LatencySummary): void {
  console.log(`  ${label.padEnd(16)} n=${String(l.count).padStart(8)}  p50 ${fmt(l.p50, 2).padStart(7)} ms  p95 ${fmt(l.p95, 2).padStart(7)} ms  p99 ${fmt(l.p99, 2).padStart(7)} ms  max ${fmt(l.max, 1).padStart(7)} ms`);
}

function printErrors(recorder: Recorder): void {
  if (recorder.errors.size === 0) return;
  console.log('  unexpected responses:');
  for (const [key, { count, sample }] of recorder.errors) console.log(`    ${String(count).padStart(7)} × ${key}   e.g. ${sample}`);
}

async function main(): Promise<void> {
  const runId = Date.now().toString(36);
  const databaseUrl = dbUrl(ADMIN_URL, DB_NAME);
  console.log(`ChronicleLedger HTTP bench: accounts=${ACCOUNTS} connections=${CONNECTIONS} pgPoolMax=${POOL_MAX} ` +
    `commands=${SECONDS}s (+${WARMUP_SECONDS}s warm-up) reads=${READ_SECONDS}s db=${DB_NAME}` +
    (Object.keys(SERVER_EXTRA_ENV).length ? ` serverEnv=${JSON.stringify(SERVER_EXTRA_ENV)}` : ''));

  // The machines are shared: say how busy this one was just before the run, so a figure can be judged.
  const idle0 = systemCpu();
  const wall0 = performance.now();
  await sleep(1_000);
  const idle1 = systemCpu();
  const busyBefore = round2((idle1.busy - idle0.busy) / ((performance.now() - wall0) / 1000));
  console.log(`machine: ${busyBefore} cores busy in the second before the run${busyBefore > 0.3 ? ' (noisy: other work is running)' : ''}`);

  build();
  await resetDatabase();
  console.log(`database: ${DB_NAME} recreated`);

  const port = await freePort();
  const child = startServer(port, databaseUrl);
  const client = new Client(port, CONNECTIONS);
  const stats = new pg.Client({ connectionString: databaseUrl, application_name: 'chronicle-bench-stats' });
  let cleanedUp = false;
  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    client.close();
    await stats.end().catch(() => {});
    await stopServer(child);
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await waitForHealth(client, child);
    const serverPid = child.pid!;
    console.log(`server: pid ${serverPid} on http://${HOST}:${port}${CPU_PROF_DIR ? ` (cpu profile → ${CPU_PROF_DIR})` : ''}`);
    await stats.connect();

    // ------------------------------------------------------------------ phase 0: setup
    const pools: Pools = { byCurrency: CURRENCIES.map(() => []), all: [] };
    const setupIds = Array.from({ length: ACCOUNTS }, (_, i) => `a-${runId}-${i}`);
    const setup = new Recorder(ACCOUNTS * 2);
    const setupStarted = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: Math.min(CONNECTIONS, ACCOUNTS) }, async () => {
      while (next < ACCOUNTS) {
        const i = next++;
        const accountId = setupIds[i]!;
        const currencyIndex = i % CURRENCIES.length;
        let t = performance.now();
        let reply = await client.send('POST', '/commands/create-account', { accountId, owner: `Bench Owner ${i}`, currency: CURRENCIES[currencyIndex] }, [201]);
        setup.record('create-account', performance.now() - t, reply, [201]);
        if (reply.status !== 201) continue;
        t = performance.now();
        reply = await client.send('POST', '/commands/deposit', { accountId, amount: INITIAL_BALANCE.toString() }, [201]);
        setup.record('deposit', performance.now() - t, reply, [201]);
        if (reply.status !== 201) continue;
        pools.byCurrency[currencyIndex]!.push(accountId);
        pools.all.push(accountId);
      }
    }));
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    console.log(`\nphase 0 (setup): ${pools.all.length}/${ACCOUNTS} accounts opened and funded in ${fmt(setupSeconds, 1)} s ` +
      `(${fmt(setup.count / setupSeconds)} commands/s)`);
    printErrors(setup);
    if (pools.byCurrency.some((g) => g.length < 2)) throw new Error('setup failed: too few accounts per currency to run transfers');

    // ------------------------------------------------------------------ phase 1: commands
    const state: CommandState = { pools, runId, created: 0 };
    const commandStep = (recorder: Recorder) => async () => {
      const command = nextCommand(state);
      const t = performance.now();
      const reply = await client.send('POST', command.path, command.body, command.expect);
      recorder.record(command.kind, performance.now() - t, reply, command.expect);
      if (reply.status === 201) command.onCreated?.();
    };
    if (WARMUP_SECONDS > 0) {
      const warm = new Recorder(RECORD_MAX);
      await runPhase(CONNECTIONS, WARMUP_SECONDS, warm, commandStep(warm));
      console.log(`warm-up: ${fmt(warm.count)} commands in ${WARMUP_SECONDS} s, not counted`);
    }

    const commands = new Recorder(RECORD_MAX);
    const pgBefore = await pgCounters(stats);
    const cpu0 = cpuMark(serverPid);
    let activity: Awaited<ReturnType<typeof samplePgActivity>> | undefined;
    let samplerDone: Promise<void> = Promise.resolve();
    let samplerClient: pg.Client | undefined;
    if (PG_SAMPLE) {
      samplerClient = new pg.Client({ connectionString: databaseUrl, application_name: 'chronicle-bench-sampler' });
      await samplerClient.connect();
      const c = samplerClient;
      samplerDone = samplePgActivity(c, performance.now() + SECONDS * 1000).then((a) => { activity = a; });
    }
    const commandSeconds = await runPhase(CONNECTIONS, SECONDS, commands, commandStep(commands));
    const cpu1 = cpuMark(serverPid);
    await samplerDone;
    await samplerClient?.end();
    await sleep(1_500); // backends flush their statistics at most once a second
    const pgAfter = await pgCounters(stats);

    const ok = commands.statusCount((_k, s) => s === 201);
    const business422 = commands.statusCount((_k, s) => s === 422);
    const errors = commands.count - ok - business422;
    const commandLatency = commands.latency();
    const commandsPerSecond = commands.count / commandSeconds;
    const pgDelta = {
      commits: pgAfter.xactCommit - pgBefore.xactCommit,
      rollbacks: pgAfter.xactRollback - pgBefore.xactRollback,
      tuplesInserted: pgAfter.tupInserted - pgBefore.tupInserted,
      tuplesUpdated: pgAfter.tupUpdated - pgBefore.tupUpdated,
      walRecords: pgAfter.walRecords - pgBefore.walRecords,
      walBytes: pgAfter.walBytes - pgBefore.walBytes,
      walSyncs: pgAfter.walSync - pgBefore.walSync,
    };
    const commandCpu = cpuBetween(cpu0, cpu1);

    console.log(`\nphase 1 (commands, ${CONNECTIONS} connections, ${fmt(commandSeconds, 1)} s): ${fmt(commandsPerSecond)} commands/s ` +
      `(${fmt(commands.count)} total: ${fmt(ok)} × 201, ${fmt(business422)} × 422, ${fmt(errors)} errors)`);
    printLatency('all commands', commandLatency);
    for (const kind of ['create-account', 'deposit', 'withdraw', 'transfer'] as const) printLatency(kind, commands.latency(kind));
    printErrors(commands);
    console.log(`  cpu (cores): server ${commandCpu.serverCores} (+${commandCpu.serverRunQueueWait} waiting for a CPU), postgres ${commandCpu.postgresCores}, bench client ${commandCpu.clientCores}, ` +
      `other ${commandCpu.otherCores}, machine busy ${commandCpu.machineBusyCores} of ${commandCpu.machineCores}`);
    const commandCpuPerOp = cpuPerOp(commandCpu, commandsPerSecond);
    console.log(`  cpu per command: server ${commandCpuPerOp.serverMs} ms, postgres ${commandCpuPerOp.postgresMs} ms, client ${commandCpuPerOp.clientMs} ms ` +
      `→ server+postgres CPU ceiling ≈ ${fmt(commandCpuPerOp.ceilingPerSecond)} commands/s on ${commandCpu.machineCores} cores`);
    console.log(`  postgres: ${fmt(pgDelta.commits / commandSeconds)} commits/s (${fmt(pgDelta.commits / Math.max(1, commands.count), 2)} per command), ` +
      `${fmt(pgDelta.walSyncs / commandSeconds)} WAL syncs/s, ${fmt(pgDelta.walBytes / Math.max(1, commands.count))} WAL bytes per command`);
    if (activity) {
      console.log(`  pg_stat_activity (${activity.samples} samples of the ledger's backends):`);
      for (const [key, count] of Object.entries(activity.states)) console.log(`    ${fmt(count / activity.samples, 2).padStart(6)}  ${key}`);
      console.log('  active queries:');
      for (const [key, count] of Object.entries(activity.queries)) console.log(`    ${fmt(count / activity.samples, 2).padStart(6)}  ${key}`);
    }

    // ------------------------------------------------------------------ phase 2: reads
    const reads = new Recorder(RECORD_MAX);
    let readSeconds = 0;
    let readCpu: ReturnType<typeof cpuBetween> | undefined;
    if (READ_SECONDS > 0) {
      const cpu2 = cpuMark(serverPid);
      readSeconds = await runPhase(CONNECTIONS, READ_SECONDS, reads, async () => {
        const accountId = pickAccount(pools);
        const t = performance.now();
        const reply = await client.send('GET', `/accounts/${encodeURIComponent(accountId)}/balance`, undefined, [200]);
        reads.record('balance', performance.now() - t, reply, [200]);
      });
      readCpu = cpuBetween(cpu2, cpuMark(serverPid));
    }
    const readLatency = reads.latency();
    const readsOk = reads.statusCount((_k, s) => s === 200);
    const readsPerSecond = readSeconds > 0 ? reads.count / readSeconds : 0;
    if (READ_SECONDS > 0) {
      console.log(`\nphase 2 (balance reads, ${CONNECTIONS} connections, ${fmt(readSeconds, 1)} s): ${fmt(readsPerSecond)} reads/s ` +
        `(${fmt(reads.count)} total, ${fmt(reads.count - readsOk)} errors)`);
      printLatency('balance', readLatency);
      printErrors(reads);
      if (readCpu) {
        console.log(`  cpu (cores): server ${readCpu.serverCores} (+${readCpu.serverRunQueueWait} waiting for a CPU), postgres ${readCpu.postgresCores}, bench client ${readCpu.clientCores}, ` +
          `other ${readCpu.otherCores}, machine busy ${readCpu.machineBusyCores} of ${readCpu.machineCores}`);
        const p = cpuPerOp(readCpu, readsPerSecond);
        console.log(`  cpu per read: server ${p.serverMs} ms, postgres ${p.postgresMs} ms, client ${p.clientMs} ms ` +
          `→ server+postgres CPU ceiling ≈ ${fmt(p.ceilingPerSecond)} reads/s`);
      }
    }

    const storeRows = await stats.query<{ events: string; streams: string }>(
      'SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM streams) AS streams');

    // ------------------------------------------------------------------ summary
    const summary = {
      bench: 'chronicle-http',
      at: new Date().toISOString(),
      git: gitDescribe(),
      node: process.version,
      machineBusyCoresBefore: busyBefore,
      settings: {
        accounts: ACCOUNTS, connections: CONNECTIONS, pgPoolMax: POOL_MAX, commandSeconds: SECONDS, readSeconds: READ_SECONDS,
        warmupSeconds: WARMUP_SECONDS, cpuProfile: CPU_PROF_DIR !== undefined, pgSample: PG_SAMPLE, serverEnv: SERVER_EXTRA_ENV,
        mix: { createAccount: 0.10, deposit: 0.35, withdraw: 0.30, transfer: 0.25 },
      },
      setup: { accounts: pools.all.length - state.created, seconds: round2(setupSeconds), commandsPerSecond: Math.round(setup.count / setupSeconds) },
      commands: {
        total: commands.count, seconds: round2(commandSeconds), perSecond: Math.round(commandsPerSecond),
        ok201: ok, rejected422: business422, errors,
        latencyMs: commandLatency,
        byKind: Object.fromEntries((['create-account', 'deposit', 'withdraw', 'transfer'] as const).map((k) => [k, {
          count: commands.statusCount((kind) => kind === k),
          ok201: commands.statusCount((kind, s) => kind === k && s === 201),
          rejected422: commands.statusCount((kind, s) => kind === k && s === 422),
          latencyMs: commands.latency(k),
        }])),
        statuses: Object.fromEntries(commands.statuses),
        unexpected: Object.fromEntries([...commands.errors].map(([k, v]) => [k, v.count])),
        cpuCores: commandCpu,
        cpuPerCommand: commandCpuPerOp,
        postgres: { ...pgDelta, commitsPerCommand: round2(pgDelta.commits / Math.max(1, commands.count)) },
        ...(activity ? { pgActivity: activity } : {}),
      },
      reads: {
        total: reads.count, seconds: round2(readSeconds), perSecond: Math.round(readsPerSecond), ok200: readsOk,
        errors: reads.count - readsOk, latencyMs: readLatency, cpuCores: readCpu ?? null,
        cpuPerRead: readCpu ? cpuPerOp(readCpu, readsPerSecond) : null,
        unexpected: Object.fromEntries([...reads.errors].map(([k, v]) => [k, v.count])),
      },
      store: { events: Number(storeRows.rows[0]?.events ?? 0), streams: Number(storeRows.rows[0]?.streams ?? 0) },
    };
    mkdirSync(dirname(OUT_FILE), { recursive: true });
    writeFileSync(OUT_FILE, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`\nsummary written to ${OUT_FILE}`);
    console.log(`BENCH_JSON ${JSON.stringify(summary)}`);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('bench failed:', error);
    process.exit(1);
  },
);
