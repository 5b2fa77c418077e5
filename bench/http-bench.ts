// End-to-end HTTP benchmark of the ledger on PostgreSQL, then on its embedded default (PGlite), each figure
// quoted beside the machine's own ceilings measured in the same run: `npm run bench`.
//
// Order: build and scratch database; anchors before; the PostgreSQL run (2. and 3. below); its servers stopped;
// anchors after; the embedded run (5.); the final table (6.).
//
// 0. Anchors (BENCH_ANCHORS, default `run` when ../shared/anchors/run.sh exists beside the checkout, else `off`):
//    the team's anchors script (pgbench one-row and ten-row inserts, primary-key selects and a minimal SQL
//    double-entry transfer on the local PostgreSQL, Emmett's event store appending and reading, a bare Fastify
//    server under autocannon; README "Benchmark") runs right before the PostgreSQL run's servers start and
//    right after they stop, DURATION=BENCH_ANCHORS_DURATION seconds per anchor (about 12 × that in all, each
//    time). Its lines are parsed by bench/anchors.ts (a line missing or changed fails loudly). A failure before
//    stops the bench; a failure after is reported and the ratios use the run before alone. BENCH_ANCHORS=off
//    skips them; BENCH_ANCHORS=<file>[,<file>] uses saved outputs of the script (before, after) as they are.
// 1. Recreates a scratch database (BENCH_DB_NAME, default chronicle_bench) through an admin connection.
// 2. Compiles src/ into bench/results/dist (gitignored; dist/ is left alone) and starts the ledger as child
//    processes (their own event loops) on free loopback ports, PG_POOL_MAX connections each:
//    - BENCH_TOPOLOGY=single (default): one `chronicle start`, the whole write-to-read pipeline in one process
//      (command API → event store → outbox relay → in-process bus → read processor → read model → query API);
//    - BENCH_TOPOLOGY=split: `ledger-api`, `query-api`, `read-processor` and `relay`, four processes joined by
//      NATS JetStream (BENCH_NATS_URL) on a stream and subject prefix of this run's own, deleted at the end.
//      Commands go to ledger-api, balance reads and projection calls to query-api. The relay and the read
//      processor get min(PG_POOL_MAX, 4) connections.
//    Authentication is on, as in any CLI start: every request carries an admin key of the run's own (the
//    servers' CHRONICLE_BOOTSTRAP_KEY), and RATE_LIMIT_PER_MINUTE is set far above the bench's rate.
//    Inherited DATABASE_URL, READ_DATABASE_URL, NATS_* and READ_WAIT_MAX_MS are not passed on: the bench
//    chooses the topology (BENCH_SERVER_ENV can still set READ_DATABASE_URL, NATS_URL, READ_WAIT_MAX_MS; a
//    NATS stream and subject prefix are always the run's own).
// 3. Phase 0: creates BENCH_ACCOUNTS accounts and deposits an opening balance into each, plus the prober's
//             own account (untouched by the load).
//    Warm-up: BENCH_WARMUP_SECONDS of the command mix, not counted.
//    Catch-up: waits (at most BENCH_CATCHUP_SECONDS) until the read model has applied every event, so that
//             phase 1 starts with no backlog.
//    Phase 1: BENCH_CONNECTIONS clients issue a command mix for BENCH_SECONDS:
//             10% create-account, 35% deposit, 30% withdraw, 25% transfer (same currency, distinct accounts),
//             amounts 1..1000 minor units. Accounts opened during the run join the pool (empty), so a share of
//             withdrawals and transfers end in 422 insufficient_funds: counted as a business outcome.
//             Meanwhile, write→read visibility (end-to-end projection lag under that load):
//             - a prober, on connections of its own, loops: deposits 1 into its own account, notes when the
//               201 arrived and its globalPosition P, then GETs /accounts/<own>/balance?minPosition=P&maxWaitMs=W
//               (W = the server's READ_WAIT_MAX_MS, at most 5000), asking again while the answer is 'stale',
//               for at most BENCH_PROBE_MAX_SECONDS, and records the time from the 201 arriving to the
//               'reached' answer arriving. A first answer 'stale' is counted (it should not happen: the
//               event was not visible within W). The time includes one balance round trip, and the 201 leaves
//               the server just after the commit, so commit → visible ≈ this time − about one round trip; the
//               floor quoted beside it is the round trip of a plain balance read (no minPosition), issued
//               every 10 ms on one more connection meanwhile. Also kept: the server's own wait (freshness.
//               waitedMs, summed over a probe's answers). The 'reached' balance is checked against the
//               deposit's receipt (read-your-writes). A probe is sequential, so a lag of L seconds allows
//               about one probe per L seconds: n is small when the read model falls behind. In the split
//               topology the query API has no read processor to wake it and polls the model (2 ms doubling
//               to 50 ms between looks), which adds up to 50 ms.
//             - the server's histogram chronicle_projection_visibility_seconds (event recorded_at → applied in
//               the read model, every event the projection applied) is scraped before and after phase 1: the
//               delta gives the exact mean and p50/p95/p99 at bucket resolution (linear within a bucket, as
//               PromQL histogram_quantile; above the last finite bucket only "> 30 s" can be said).
//             - /metrics is scraped every second: projection lag (events, from the server's lag monitor, itself
//               refreshed every second) and relay lag (events, measured at the scrape): max and end of phase 1.
//             - counters before/after give the pipeline's rates: events appended, published by the relay,
//               applied by the projection (and its duplicates, redeliveries, dead letters).
//             Phase 1's CPU and PostgreSQL figures include the read side's work (relay, read processor and its
//             transactions, in the same processes and database), and the prober's few requests.
//    Catch-up again (at most BENCH_CATCHUP_SECONDS): the backlog left by phase 1 and how fast the read model
//             drains it with no load (its live apply rate). Phase 2 reads the read model, so it waits for it.
//    Phase 2: BENCH_CONNECTIONS clients read balances (from the read model) for BENCH_READ_SECONDS.
//    Rebuild: POST /projections/accounts/reset?wait=true drops the read model and replays the event store into
//             it; reported: the server's report (events, durationMs, eventsPerSecond) and the wall time. When the
//             live model had caught up, its /projections/accounts/state (accounts, transactions, sums per
//             currency) is compared with the rebuilt one's; the account count with the store's account streams.
// 4. Prints a human summary of each phase; stops the children (and deletes the NATS stream). Should the bench
//    die without doing so (tsx SIGKILLs a child that does not acknowledge a Ctrl-C within 30 ms), a detached
//    watchdog it started does it.
// 5. The embedded default (unless BENCH_EMBEDDED=0): `chronicle start` with no DATABASE_URL, i.e. PGlite in a
//    fresh temporary CHRONICLE_DATA_DIR (deleted at the end) and the in-process bus, the same key and rate
//    limit; BENCH_SERVER_ENV without its topology settings (DATABASE_URL, READ_DATABASE_URL, NATS_*, ...).
//    The same phase 0, warm-up and catch-up, phase 1 for BENCH_EMBEDDED_SECONDS (no prober, no /metrics
//    sampling) and phase 2 for min(BENCH_READ_SECONDS, BENCH_EMBEDDED_SECONDS); no rebuild or sealing.
// 6. The final table (bench/bench-table.ts), issue 14's "what must be true", one row per target: commands/s
//    against pg-transfer and Emmett append, the command p99, balance reads/s against http-get, the prober's
//    write→read visibility p99 (measured at the full load of phase 1, not at half the maximum rate as the
//    issue asks), rebuild and sealing events/s against pg-insert10 × 10, and the embedded run's commands/s,
//    p99 and reads/s against this PostgreSQL run's. Columns: measured | anchor (range) | ratio (range) |
//    target | met?. An anchor's range is min..max over the runs before and after; the ratio's range is the
//    measured figure over it (low end: against the higher anchor); met? is yes when the whole range meets
//    the target, partly when the target lies inside it. Printed as markdown (as pasted into the README),
//    then the whole JSON (each phase, both anchors runs with their raw output, the embedded run, the table
//    under `table`) as one line and into bench/results/latest.json.
//
// Environment (all optional):
//   BENCH_DATABASE_URL   admin/base URL (default postgres://postgres@127.0.0.1:5432/postgres); the bench
//                        database is created next to it
//   BENCH_DB_NAME        scratch database name (default chronicle_bench); dropped and recreated
//   BENCH_ACCOUNTS (1000) BENCH_SECONDS (20) BENCH_READ_SECONDS (10) BENCH_WARMUP_SECONDS (2)
//   BENCH_CONNECTIONS (48: the most throughput with p99 under 50 ms here) PG_POOL_MAX (16)
//   BENCH_HALF_RATE_SECONDS (10) phase 1b: half phase 1's command rate, paced (open loop), with the prober
//                        beside it: write→read visibility at half the maximum rate (issue 14); 0 skips it
//   BENCH_IDEMPOTENCY_PERCENT (100) share of phase 1's commands sent with an Idempotency-Key (a fresh one
//                        each), as a careful client sends every command
//   BENCH_TOPOLOGY       single (default) or split (see 2.)
//   BENCH_NATS_URL       NATS for the split topology (default nats://127.0.0.1:4222)
//   BENCH_CATCHUP_SECONDS (120) longest wait for the read model to catch up, before and after phase 1
//   BENCH_PROBE_MAX_SECONDS (60) longest a probe waits for its deposit to become visible
//   BENCH_REBUILD=0      skip the rebuild
//   BENCH_SEAL=0         skip the sealing measurement (a fresh Merkle log of every event, into BENCH_DB_NAME_seal)
//   BENCH_SKIP_BUILD=1   reuse bench/results/dist as it is
//   BENCH_CPU_PROF=dir   run the server(s) with --cpu-prof into dir (summarise with bench/cpuprofile-top.ts)
//   BENCH_PG_SAMPLE=1    sample pg_stat_activity every 100 ms during phase 1 and tally wait events
//   BENCH_SERVER_ENV     extra env for the server(s), "K=V,K=V" (e.g. SNAPSHOT_EVERY=0)
//   BENCH_OUT            where to write the JSON (default bench/results/latest.json)
//   BENCH_ANCHORS        run (default if ../shared/anchors/run.sh exists), off, or <file>[,<file>] (see 0.)
//   BENCH_ANCHORS_DURATION (15) seconds per anchor, passed to the script as DURATION
//   BENCH_EMBEDDED=0     skip the embedded run; BENCH_EMBEDDED_SECONDS (10) its command phase
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import pg from 'pg';
import { SqlMerkleLog } from '../src/adapters/audit/sql-merkle-log.js';
import { generateSigner } from '../src/adapters/audit/signing-key.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { migrate } from '../src/adapters/event-store/sql/migrate.js';
import { sha256, SqlEventStore } from '../src/adapters/event-store/sql/sql-event-store.js';
import { Sealer } from '../src/application/sealer.js';
import { freePort } from './bench-support.js';
import { histogramDelta, histogramOf, histogramQuantile, metricValue, parseMetrics, type MetricSample } from '../src/adapters/metrics/prometheus-text.js';
import { parseAnchors, type AnchorRun } from './anchors.js';
import { buildTable, describeAnchorRun, type Figure } from './bench-table.js';

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
/** Phase 1b: write→read visibility at half phase 1's command rate, paced; 0 skips it. */
const HALF_RATE_SECONDS = intEnv('BENCH_HALF_RATE_SECONDS', 10, 0, 3_600);
/** Share of phase 1's commands (and the warm-up's) sent with an Idempotency-Key, in percent. */
const IDEMPOTENCY_SHARE = intEnv('BENCH_IDEMPOTENCY_PERCENT', 100, 0, 100) / 100;
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

const TOPOLOGY = process.env['BENCH_TOPOLOGY'] || 'single';
if (TOPOLOGY !== 'single' && TOPOLOGY !== 'split') throw new Error('BENCH_TOPOLOGY must be single or split');
/** NATS for this run: always in the split topology; in the single one only when BENCH_SERVER_ENV asks for it. */
const NATS_URL = TOPOLOGY === 'split'
  ? process.env['BENCH_NATS_URL'] || SERVER_EXTRA_ENV['NATS_URL'] || 'nats://127.0.0.1:4222'
  : SERVER_EXTRA_ENV['NATS_URL'] || undefined;
const CATCHUP_SECONDS = intEnv('BENCH_CATCHUP_SECONDS', 120, 0, 3_600);
const PROBE_MAX_SECONDS = intEnv('BENCH_PROBE_MAX_SECONDS', 60, 1, 3_600);
const REBUILD = process.env['BENCH_REBUILD'] !== '0';
const SEAL = process.env['BENCH_SEAL'] !== '0';
/** The team's anchors script, beside the checkout (README, Benchmark). */
const ANCHORS_SCRIPT = resolve(ROOT, '..', 'shared', 'anchors', 'run.sh');
/**
 * BENCH_ANCHORS: 'run' (the default when ANCHORS_SCRIPT exists) runs it right before and right after the
 * measurement; 'off' skips it; anything else is one saved output of it, or two separated by a comma (before,
 * after), used as they are.
 */
const ANCHORS: { mode: 'run' } | { mode: 'off'; why: string } | { mode: 'files'; paths: string[] } = (() => {
  const text = (process.env['BENCH_ANCHORS'] ?? '').trim();
  if (text === '') return existsSync(ANCHORS_SCRIPT) ? { mode: 'run' } : { mode: 'off', why: `${ANCHORS_SCRIPT} not found` };
  if (text === 'run') {
    if (!existsSync(ANCHORS_SCRIPT)) throw new Error(`BENCH_ANCHORS=run: ${ANCHORS_SCRIPT} not found`);
    return { mode: 'run' };
  }
  if (text === 'off') return { mode: 'off', why: 'BENCH_ANCHORS=off' };
  const paths = text.split(',').map((p) => resolve(p.trim()));
  if (paths.length > 2) throw new Error('BENCH_ANCHORS: at most two saved outputs (before,after)');
  for (const path of paths) if (!existsSync(path)) throw new Error(`BENCH_ANCHORS: ${path} not found (expected run, off, or saved anchors output)`);
  return { mode: 'files', paths };
})();
/** DURATION of each anchor in the anchors script (seconds). */
const ANCHORS_DURATION = intEnv('BENCH_ANCHORS_DURATION', 15, 1, 600);
/** The embedded default (`chronicle start` on PGlite) after the PostgreSQL run, unless BENCH_EMBEDDED=0. */
const EMBEDDED = process.env['BENCH_EMBEDDED'] !== '0';
const EMBEDDED_SECONDS = intEnv('BENCH_EMBEDDED_SECONDS', 10, 1, 3_600);
/** Server settings that choose a topology other than the embedded one: not passed to the embedded run. */
const NOT_EMBEDDED_ENV = ['DATABASE_URL', 'READ_DATABASE_URL', 'READ_REPLICA_URL', 'PATRONI_URLS', 'NATS_URL', 'NATS_STREAM', 'NATS_SUBJECT_PREFIX'];
/** maxWaitMs of the prober's reads: the server's bound (READ_WAIT_MAX_MS, default 5000), at most 5000. */
const PROBE_WAIT_MS = (() => {
  const text = SERVER_EXTRA_ENV['READ_WAIT_MAX_MS'];
  const value = Number(text);
  return text !== undefined && text !== '' && Number.isInteger(value) && value >= 0 ? Math.min(5_000, value) : 5_000;
})();
/** Pause between two floor reads. */
const FLOOR_PAUSE_MS = 10;
/** How often lag is scraped from /metrics during phase 1. */
const LAG_SAMPLE_MS = 1_000;
/** The projection the ledger has. */
const PROJECTION = 'accounts';

const HOST = '127.0.0.1';
/**
 * The servers run with authentication on, as the CLI does by default: this admin key is their
 * CHRONICLE_BOOTSTRAP_KEY and every request of the bench carries it, so its cost (a cached key lookup, a
 * SHA-256, a token bucket) is in every figure.
 */
const API_KEY = `chr_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
const AUTHORIZATION = `Bearer ${API_KEY}`;
/**
 * Far above the bench's own rate from its one key (~5,000 requests/s): the limiter runs on every request,
 * it just never refuses one. RATE_LIMIT_PER_MINUTE in BENCH_SERVER_ENV overrides it.
 */
const BENCH_RATE_LIMIT_PER_MINUTE = 100_000_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** A rebuild answers when it is done: allow it long. */
const REBUILD_TIMEOUT_MS = 30 * 60_000;
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

interface CpuMark {
  wall: number; client: number; server: number; serverWait: number; postgres: number; sys: { busy: number; total: number };
  /** CPU seconds of each server process, by role (the split topology has four). */
  byRole: Record<string, number>;
}

function cpuMark(servers: readonly { role: string; pid: number }[]): CpuMark {
  const usage = process.cpuUsage();
  const byRole = Object.fromEntries(servers.map((s) => [s.role, procCpuSeconds(s.pid)]));
  return {
    wall: performance.now() / 1000,
    client: (usage.user + usage.system) / 1e6,
    server: Object.values(byRole).reduce((a, b) => a + b, 0),
    serverWait: servers.reduce((a, s) => a + runQueueWaitSeconds(s.pid), 0),
    postgres: postgresCpuSeconds(),
    sys: systemCpu(),
    byRole,
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
    // A backend that exits in between (an idle pool connection closed) takes its CPU time with it: the sum
    // can drop. Then the figure is a lower bound, never below 0.
    postgresCores: cores(Math.max(0, b.postgres - a.postgres)),
    machineBusyCores: cores(b.sys.busy - a.sys.busy),
    machineCores: cores(b.sys.total - a.sys.total),
    /** Busy CPU not explained by the three above: other work on this (shared) machine (incl. its own PostgreSQL backends), kernel threads. */
    otherCores: cores((b.sys.busy - a.sys.busy) - (b.client - a.client) - (b.server - a.server) - (b.postgres - a.postgres)),
    /** serverCores by process (role); one entry in the single topology. */
    serverCoresByRole: Object.fromEntries(Object.keys(b.byRole).map((role) => [role, cores((b.byRole[role] ?? 0) - (a.byRole[role] ?? 0))])),
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
  send(
    method: 'GET' | 'POST', path: string, payload: unknown, expect: readonly number[], wantBody = false, timeoutMs = REQUEST_TIMEOUT_MS,
    extraHeaders: Record<string, string> = {},
  ): Promise<Reply> {
    return new Promise((resolveReply) => {
      const data = payload === undefined ? undefined : JSON.stringify(payload);
      const request = http.request({
        host: HOST, port: this.port, method, path, agent: this.agent,
        headers: data === undefined
          ? { authorization: AUTHORIZATION, ...extraHeaders }
          : { authorization: AUTHORIZATION, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...extraHeaders },
      }, (response) => {
        const status = response.statusCode ?? 0;
        const keep = wantBody || !expect.includes(status);
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => { if (keep) chunks.push(chunk); });
        response.on('end', () => resolveReply({ status, body: keep ? Buffer.concat(chunks).toString('utf8') : '' }));
        response.on('error', (error) => resolveReply({ status: 0, body: `response error: ${error.message}` }));
      });
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`timeout after ${timeoutMs} ms`)));
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

interface CommandState { pools: Pools; runId: string; created: number; keys: number }

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

/**
 * The server's chronicle_projection_visibility_seconds between two scrapes of the read processor, and its
 * quantiles in ms (bucket resolution, linear within a bucket, as PromQL's histogram_quantile).
 */
function visibilityBetween(before: MetricSample[] | null, after: MetricSample[] | null) {
  const histogram = histogramDelta(
    histogramOf(before, 'chronicle_projection_visibility_seconds', { projection: PROJECTION }),
    histogramOf(after, 'chronicle_projection_visibility_seconds', { projection: PROJECTION }),
  );
  const quantile = (q: number) => {
    const r = histogram ? histogramQuantile(histogram, q) : null;
    return r === null ? null : { ms: round2(r.value * 1000), above: r.above };
  };
  return { histogram, quantile };
}

/**
 * Open loop: starts `step` `rate` times a second for `seconds` (at most `connections` at once: past that the
 * schedule slips, and the achieved rate says so); returns the elapsed seconds.
 */
async function runPaced(rate: number, connections: number, seconds: number, recorder: Recorder, step: () => Promise<void>): Promise<number> {
  const started = performance.now();
  const end = started + seconds * 1000;
  const interval = 1000 / rate;
  const inFlight = new Set<Promise<void>>();
  for (let next = started; ;) {
    const now = performance.now();
    if (now >= end || recorder.full) break;
    if (now < next) {
      await sleep(Math.min(next - now, end - now));
      continue;
    }
    next += interval;
    if (inFlight.size >= connections) await Promise.race(inFlight);
    const run: Promise<void> = step().finally(() => inFlight.delete(run));
    inFlight.add(run);
  }
  await Promise.all(inFlight);
  return (performance.now() - started) / 1000;
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

// ---------------------------------------------------------------------------------------------- /metrics

// Parsing and histogram arithmetic: src/adapters/metrics/prometheus-text.ts (shared with the dashboard).

/** Scrapes /metrics of the processes, one Client per port (ports repeat in the single topology). */
class Scraper {
  private readonly clients = new Map<number, Client>();

  async scrape(port: number): Promise<MetricSample[] | null> {
    let client = this.clients.get(port);
    if (!client) {
      client = new Client(port, 2);
      this.clients.set(port, client);
    }
    const reply = await client.send('GET', '/metrics', undefined, [200], true);
    return reply.status === 200 ? parseMetrics(reply.body) : null;
  }

  /** Each distinct port once. */
  async scrapeAll(ports: Record<string, number>): Promise<Record<string, MetricSample[] | null>> {
    const distinct = [...new Set(Object.values(ports))];
    const scraped = new Map(await Promise.all(distinct.map(async (port) => [port, await this.scrape(port)] as const)));
    return Object.fromEntries(Object.entries(ports).map(([role, port]) => [role, scraped.get(port) ?? null]));
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}

// ---------------------------------------------------------------------------------------------- write→read visibility

interface ProjectionView {
  name: string; status: string; position: number; eventsApplied: number; updatedAt: string | null;
  lag: { events: number; capped: boolean; ms: number; measuredAt: string } | null;
}

async function projectionView(read: Client): Promise<ProjectionView | null> {
  const reply = await read.send('GET', '/projections', undefined, [200], true);
  if (reply.status !== 200) return null;
  try {
    return (JSON.parse(reply.body) as { projections: ProjectionView[] }).projections.find((p) => p.name === PROJECTION) ?? null;
  } catch {
    return null;
  }
}

interface CatchUp {
  caughtUp: boolean;
  /** Events the read model was behind when the wait began (the lag monitor's last count; null: not measured). */
  backlogEvents: number | null;
  /** From the wait's start to the read model's last apply (caught up), or the whole wait (not caught up). */
  seconds: number;
  /** Events the read model applied meanwhile. */
  appliedEvents: number;
  /** appliedEvents / seconds; null under a second (the checkpoint's time is its batch's start: too coarse). */
  eventsPerSecond: number | null;
  /** Events still behind when the wait gave up. */
  remainingEvents: number | null;
}

/**
 * Waits until the read model has applied every event (the server's lag monitor reports 0 events behind, in a
 * measurement taken after `since`), at most maxSeconds after `since`; nothing is written meanwhile. `since`
 * is when the writes stopped (default now), `first` the projection as it stood then.
 */
async function waitForCatchUp(
  read: Client, label: string, maxSeconds: number,
  since: { wall: number; mono: number; first: ProjectionView | null } | undefined = undefined,
): Promise<CatchUp> {
  const startedWall = since?.wall ?? Date.now();
  const started = since?.mono ?? performance.now();
  const first = since ? since.first : await projectionView(read);
  const applied0 = first?.eventsApplied ?? 0;
  const backlog = first?.lag?.events ?? null;
  let view = since ? (await projectionView(read)) ?? first : first;
  let lastReport = performance.now();
  for (;;) {
    const fresh = view?.lag != null && Date.parse(view.lag.measuredAt) >= startedWall;
    if (fresh && view!.lag!.events === 0) {
      // Caught up when the model last moved (or at once, if it had nothing to apply).
      const appliedAt = view!.updatedAt === null ? startedWall : Math.max(startedWall, Date.parse(view!.updatedAt));
      const seconds = Math.max(0, (appliedAt - startedWall) / 1000);
      const applied = view!.eventsApplied - applied0;
      return { caughtUp: true, backlogEvents: backlog, seconds: round2(seconds), appliedEvents: applied, eventsPerSecond: seconds >= 1 ? Math.round(applied / seconds) : null, remainingEvents: 0 };
    }
    const elapsed = (performance.now() - started) / 1000;
    if (elapsed >= maxSeconds) {
      const applied = (view?.eventsApplied ?? applied0) - applied0;
      return {
        caughtUp: false, backlogEvents: backlog, seconds: round2(elapsed), appliedEvents: applied,
        eventsPerSecond: elapsed >= 1 ? Math.round(applied / elapsed) : null, remainingEvents: view?.lag?.events ?? null,
      };
    }
    if (performance.now() - lastReport >= 10_000) {
      lastReport = performance.now();
      console.log(`  ${label}: read model ${view?.lag ? `${fmt(view.lag.events)} events behind` : 'lag not measured yet'} after ${fmt(elapsed)} s`);
    }
    await sleep(200);
    view = (await projectionView(read)) ?? view;
  }
}

interface Freshness { status?: string; waitedMs?: number }
/** A 200 has the balance and freshness; a 404 (the account not in the read model yet) has freshness in its details. */
interface BalanceAnswer { balance?: string; freshness?: Freshness; error?: { code?: string; details?: { freshness?: Freshness } } }
interface Receipt { globalPosition?: number; balances?: Record<string, string> }

interface ProbeResults {
  probes: number;
  /** From the deposit's 201 arriving to the 'reached' answer arriving, ms. */
  visibleMs: number[];
  /** freshness.waitedMs summed over a probe's answers (the server's own wait). */
  serverWaitedMs: number[];
  /** The prober's deposits, request to response. */
  depositMs: number[];
  /** Round trips of a plain balance read (no minPosition), issued meanwhile. */
  floorMs: number[];
  /** Probes whose first answer was 'stale' (not visible within maxWaitMs). */
  staleFirst: number;
  /** Every 'stale' answer (a probe asks again until reached). */
  staleAnswers: number;
  /** Probes still not visible after BENCH_PROBE_MAX_SECONDS. */
  unresolved: number;
  /** 'reached' answers whose balance is not the deposit's: read-your-writes broken. */
  wrongBalance: number;
  /** 'reached' answers whose balance was checked (the receipt had it). */
  balanceChecked: number;
  errors: Record<string, number>;
}

/**
 * Until `until`: deposit 1 into `accountId`, then read its balance with ?minPosition= until 'reached'
 * (see the header). One request at a time on each of its clients; `floor` runs beside it.
 */
async function runProber(cmd: Client, read: Client, floor: Client, accountId: string, until: number): Promise<ProbeResults> {
  const results: ProbeResults = {
    probes: 0, visibleMs: [], serverWaitedMs: [], depositMs: [], floorMs: [], staleFirst: 0, staleAnswers: 0, unresolved: 0,
    wrongBalance: 0, balanceChecked: 0, errors: {},
  };
  const error = (key: string) => { results.errors[key] = (results.errors[key] ?? 0) + 1; };
  const path = `/accounts/${encodeURIComponent(accountId)}/balance`;

  const floorLoop = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      const reply = await floor.send('GET', path, undefined, [200]);
      if (reply.status === 200) results.floorMs.push(performance.now() - t);
      else error(`floor ${reply.status}`);
      await sleep(FLOOR_PAUSE_MS);
    }
  };

  const probeLoop = async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      const deposit = await cmd.send('POST', '/commands/deposit', { accountId, amount: '1' }, [201], true);
      const t1 = performance.now();
      let receipt: Receipt = {};
      try {
        receipt = JSON.parse(deposit.body) as Receipt;
      } catch { /* counted below */ }
      if (deposit.status !== 201 || typeof receipt.globalPosition !== 'number') {
        error(`deposit ${deposit.status}`);
        await sleep(50);
        continue;
      }
      results.probes++;
      results.depositMs.push(t1 - t0);
      const expected = receipt.balances?.[accountId];
      let first = true;
      let waited = 0;
      for (;;) {
        const reply = await read.send('GET', `${path}?minPosition=${receipt.globalPosition}&maxWaitMs=${PROBE_WAIT_MS}`, undefined, [200], true);
        const t2 = performance.now();
        let answer: BalanceAnswer = {};
        try {
          answer = JSON.parse(reply.body) as BalanceAnswer;
        } catch { /* counted below */ }
        const freshness = answer.freshness ?? answer.error?.details?.freshness;
        const status = freshness?.status;
        waited += freshness?.waitedMs ?? 0;
        if (reply.status === 200 && status === 'reached') {
          results.visibleMs.push(t2 - t1);
          results.serverWaitedMs.push(waited);
          if (expected !== undefined) {
            results.balanceChecked++;
            if (answer.balance !== expected) results.wrongBalance++;
          }
          break;
        }
        if ((reply.status === 200 || reply.status === 404) && status === 'stale') {
          results.staleAnswers++;
          if (first) results.staleFirst++;
          first = false;
          if (t2 - t1 >= PROBE_MAX_SECONDS * 1000) {
            results.unresolved++;
            break;
          }
          if (PROBE_WAIT_MS < 50) await sleep(5); // the server answers at once: do not spin
          continue;
        }
        error(`balance ${reply.status}${status ? ` ${status}` : ''}`);
        break;
      }
    }
  };

  await Promise.all([probeLoop(), floorLoop()]);
  return results;
}

/** Lag sampled from /metrics every LAG_SAMPLE_MS until `until`. */
interface LagSamples { samples: number; projectionEventsMax: number | null; projectionSecondsMax: number | null; relayEventsMax: number | null }

async function sampleLag(scraper: Scraper, ports: { processor: number; relay: number }, until: number): Promise<LagSamples> {
  const result: LagSamples = { samples: 0, projectionEventsMax: null, projectionSecondsMax: null, relayEventsMax: null };
  const max = (a: number | null, b: number | undefined) => (b === undefined ? a : a === null ? b : Math.max(a, b));
  while (performance.now() < until) {
    const next = performance.now() + LAG_SAMPLE_MS;
    const scraped = await scraper.scrapeAll(ports);
    result.samples++;
    result.projectionEventsMax = max(result.projectionEventsMax, metricValue(scraped['processor'] ?? null, 'chronicle_projection_lag_events', { projection: PROJECTION }));
    result.projectionSecondsMax = max(result.projectionSecondsMax, metricValue(scraped['processor'] ?? null, 'chronicle_projection_lag_seconds', { projection: PROJECTION }));
    result.relayEventsMax = max(result.relayEventsMax, metricValue(scraped['relay'] ?? null, 'chronicle_relay_lag_events'));
    await sleep(Math.max(0, Math.min(next, until) - performance.now()));
  }
  return result;
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
  // The SQL adapters read their .sql files beside their modules: copy them as `npm run build:api` does.
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'copy-sql.mjs'), BUILD_DIR], { cwd: ROOT, stdio: 'inherit' });
  console.log(`build: tsc -p tsconfig.build.json --outDir bench/results/dist, scripts/copy-sql.mjs (${fmt((performance.now() - started) / 1000, 1)} s)`);
}

/** One server child: its role (`start` in the single topology), port and process. */
interface ServerProcess { role: string; port: number; child: ChildProcess }

/** Where to send what: every port is the one process's in the single topology. */
interface Ports { commands: number; reads: number; relay: number; processor: number }

interface NatsBus { url: string; stream: string; subjectPrefix: string }

/** Environment names the bench sets itself, not inherited from its own environment. */
const TOPOLOGY_ENV = ['DATABASE_URL', 'READ_DATABASE_URL', 'NATS_URL', 'NATS_STREAM', 'NATS_SUBJECT_PREFIX', 'READ_WAIT_MAX_MS', 'CHRONICLE_DATA_DIR', 'PORT', 'HOST',
  'CHRONICLE_BOOTSTRAP_KEY', 'CHRONICLE_AUTH_DISABLED_INSECURE'];

/**
 * A server's environment: on PostgreSQL (`store.databaseUrl`) or on the embedded PGlite in `store.dataDir`
 * (BENCH_SERVER_ENV's topology settings, NOT_EMBEDDED_ENV, left out).
 */
function serverEnv(store: { databaseUrl: string } | { dataDir: string }, port: number, poolMax: number, nats: NatsBus | null): NodeJS.ProcessEnv {
  const inherited = { ...process.env };
  for (const name of TOPOLOGY_ENV) delete inherited[name];
  const extra = { ...SERVER_EXTRA_ENV };
  if ('dataDir' in store) for (const name of NOT_EMBEDDED_ENV) delete extra[name];
  return {
    ...inherited,
    ...('databaseUrl' in store ? { DATABASE_URL: store.databaseUrl } : { CHRONICLE_DATA_DIR: store.dataDir }),
    PORT: String(port), HOST, LOG_LEVEL: 'warn', PG_POOL_MAX: String(poolMax),
    RATE_LIMIT_PER_MINUTE: String(BENCH_RATE_LIMIT_PER_MINUTE),
    // The dashboard is static files on a port of its own; the bench measures the API.
    DASHBOARD: 'off',
    ...extra,
    // The bench's own key on its fresh database, whatever BENCH_SERVER_ENV says.
    CHRONICLE_BOOTSTRAP_KEY: API_KEY,
    // This run's own stream and subjects, whatever BENCH_SERVER_ENV says: the stream is deleted at the end.
    ...(nats ? { NATS_URL: nats.url, NATS_STREAM: nats.stream, NATS_SUBJECT_PREFIX: nats.subjectPrefix } : {}),
  };
}

function startServer(command: string, _port: number, env: NodeJS.ProcessEnv, label = command === 'start' ? 'server' : command): ChildProcess {
  const flags: string[] = [];
  if (CPU_PROF_DIR) {
    mkdirSync(CPU_PROF_DIR, { recursive: true });
    flags.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`);
  }
  const child = spawn(process.execPath, [...flags, join(BUILD_DIR, 'cli', 'main.js'), command], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const relay = (stream: NodeJS.ReadableStream | null) => stream?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') console.log(`  [${label}] ${line.slice(0, 400)}`);
  });
  relay(child.stdout);
  relay(child.stderr);
  return child;
}

async function waitForHealth(server: ServerProcess): Promise<void> {
  const client = new Client(server.port, 1);
  try {
    const deadline = performance.now() + HEALTH_WAIT_MS;
    let last = '';
    while (performance.now() < deadline) {
      if (server.child.exitCode !== null || server.child.signalCode !== null) {
        throw new Error(`${server.role} exited (${server.child.exitCode ?? server.child.signalCode}) before it was healthy`);
      }
      const reply = await client.send('GET', '/health', undefined, [200], true);
      if (reply.status === 200) return;
      last = `${reply.status} ${reply.body.slice(0, 200)}`;
      await sleep(100);
    }
    throw new Error(`${server.role} not healthy after ${HEALTH_WAIT_MS} ms (last answer: ${last})`);
  } finally {
    client.close();
  }
}

/**
 * Starts the servers of the topology, one after the other, each healthy before the next (the first runs
 * the event store's migrations, the query API the read model's). Each is handed to `onSpawn` as soon as it
 * is spawned, so the caller can stop what started even when a later one fails.
 */
async function startTopology(databaseUrl: string, nats: NatsBus | null, onSpawn: (server: ServerProcess) => void): Promise<Ports> {
  const servers: ServerProcess[] = [];
  const roles = TOPOLOGY === 'single'
    ? [{ command: 'start', poolMax: POOL_MAX }]
    : [
        { command: 'ledger-api', poolMax: POOL_MAX },
        { command: 'query-api', poolMax: POOL_MAX },
        { command: 'read-processor', poolMax: Math.min(POOL_MAX, 4) },
        { command: 'relay', poolMax: Math.min(POOL_MAX, 4) },
      ];
  for (const { command, poolMax } of roles) {
    const port = await freePort();
    const server = { role: command, port, child: startServer(command, port, serverEnv({ databaseUrl }, port, poolMax, nats)) };
    servers.push(server);
    onSpawn(server);
    await waitForHealth(server);
  }
  const portOf = (role: string) => servers.find((s) => s.role === role || s.role === 'start')!.port;
  return { commands: portOf('ledger-api'), reads: portOf('query-api'), relay: portOf('relay'), processor: portOf('read-processor') };
}

async function stopServer(server: ServerProcess): Promise<void> {
  const { child } = server;
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  const timedOut = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
  if (timedOut && child.exitCode === null && child.signalCode === null) {
    console.log(`${server.role} ${child.pid} did not stop within 15 s of SIGTERM; sending SIGKILL`);
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }
}

/**
 * A detached watchdog (its own process group: a Ctrl-C does not reach it) for the case this process dies
 * without its cleanup: tsx SIGKILLs a child that does not acknowledge a Ctrl-C within 30 ms, which a busy
 * bench may not. When its IPC channel to this process closes, it stops the servers it was told about
 * (SIGTERM, SIGKILL after 15 s) and deletes the NATS stream (or the embedded run's data directory). The normal
 * cleanup does both itself and then ends the watchdog.
 */
const REAPER_SCRIPT = `
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { rmSync } from 'node:fs';
const [natsUrl, stream, dataDir] = process.argv.slice(1);
const pids = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
const signal = (pid, name) => { try { process.kill(pid, name); } catch {} };
process.on('SIGINT', () => {});
process.on('message', (m) => { if (typeof m?.pid === 'number') pids.add(m.pid); });
process.on('disconnect', async () => {
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGTERM');
  for (let i = 0; i < 150 && [...pids].some(alive); i++) await sleep(100);
  for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL');
  if (dataDir) { try { rmSync(dataDir, { recursive: true, force: true }); } catch {} }
  if (natsUrl && stream) {
    const nc = await connect({ servers: natsUrl, name: 'chronicle-bench-reaper', timeout: 5000 });
    try { await (await jetstreamManager(nc, { timeout: 5000 })).streams.delete(stream); } catch {} finally { await nc.close(); }
  }
  process.exit(0);
});
`;

function startReaper(nats: NatsBus | null, dataDir = ''): ChildProcess {
  const reaper = spawn(process.execPath, ['--input-type=module', '-e', REAPER_SCRIPT, nats?.url ?? '', nats?.stream ?? '', dataDir], {
    cwd: ROOT, detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  reaper.on('error', (error) => console.log(`bench watchdog: ${error.message} (an interrupted run may leave its servers or NATS stream behind)`));
  reaper.unref();
  reaper.channel?.unref();
  return reaper;
}

/** Deletes this run's JetStream stream (its consumers go with it); false when there was none. */
async function deleteStream(nats: NatsBus): Promise<boolean> {
  const nc = await natsConnect({ servers: nats.url, name: 'chronicle-bench-cleanup', timeout: 5_000 });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    try {
      return await jsm.streams.delete(nats.stream);
    } catch (error) {
      if (/not found/i.test((error as Error).message)) return false;
      throw error;
    }
  } finally {
    await nc.close();
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

function printCpu(cpu: ReturnType<typeof cpuBetween>): void {
  const byRole = Object.keys(cpu.serverCoresByRole).length > 1
    ? ` [${Object.entries(cpu.serverCoresByRole).map(([role, cores]) => `${role} ${cores}`).join(', ')}]` : '';
  console.log(`  cpu (cores): server ${cpu.serverCores}${byRole} (+${cpu.serverRunQueueWait} waiting for a CPU), postgres ${cpu.postgresCores}, bench client ${cpu.clientCores}, ` +
    `other ${cpu.otherCores}, machine busy ${cpu.machineBusyCores} of ${cpu.machineCores}`);
}

function printCatchUp(label: string, c: CatchUp): void {
  const backlog = c.backlogEvents === null ? 'backlog not measured' : `${fmt(c.backlogEvents)} events behind (lag monitor, ≤ 1 s old)`;
  const rate = c.eventsPerSecond === null ? '' : `, ${fmt(c.eventsPerSecond)} events/s with no load`;
  if (c.caughtUp) {
    console.log(`${label}: ${backlog} → caught up in ${fmt(c.seconds, 1)} s (${fmt(c.appliedEvents)} events applied${rate})`);
  } else {
    console.log(`${label}: ${backlog} → NOT caught up after ${fmt(c.seconds, 1)} s (BENCH_CATCHUP_SECONDS): ` +
      `${c.remainingEvents === null ? '?' : fmt(c.remainingEvents)} events still behind, ${fmt(c.appliedEvents)} applied meanwhile${rate}`);
  }
}

const summariseMs = (values: number[]) => summarise(Float64Array.from(values));
const perSecond = (delta: number | null, seconds: number) => (delta === null || seconds <= 0 ? null : Math.round(delta / seconds));
const counterDelta = (before: number | undefined, after: number | undefined) => (before === undefined || after === undefined ? null : after - before);
const orDash = (n: number | null | undefined, digits = 0) => (n === null || n === undefined ? '–' : fmt(n, digits));

/**
 * The servers, clients and cleanup of one measured run (the PostgreSQL topology's, the embedded one's). The
 * cleanup runs once, whoever asks (a signal, the finally block): closes the clients, runs `beforeStop`, stops the
 * servers, deletes the NATS stream and the data directory, ends the watchdog.
 */
function openSession(nats: NatsBus | null, dataDir?: string) {
  const servers: ServerProcess[] = [];
  const clients: Client[] = [];
  const beforeStop: (() => Promise<unknown>)[] = [];
  const scraper = new Scraper();
  const reaper = startReaper(nats, dataDir);
  const clientFor = (port: number, sockets: number) => {
    const client = new Client(port, sockets);
    clients.push(client);
    return client;
  };
  /** A spawned server: stopped by the cleanup, and by the watchdog should this process die first. */
  const track = (server: ServerProcess) => {
    servers.push(server);
    if (reaper.connected && server.child.pid !== undefined) reaper.send({ pid: server.child.pid });
  };
  let cleaning: Promise<void> | null = null;
  const cleanupOnce = async () => {
    for (const client of clients) client.close();
    scraper.close();
    for (const hook of beforeStop) await hook().catch(() => {});
    await Promise.all(servers.map(stopServer));
    if (nats) {
      await deleteStream(nats).then(
        (deleted) => console.log(`nats: stream ${nats.stream} ${deleted ? 'deleted' : 'was not there'}`),
        (error: unknown) => console.log(`nats: stream ${nats.stream} NOT deleted: ${(error as Error).message}`),
      );
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (reaper.exitCode === null && reaper.signalCode === null) reaper.kill('SIGTERM'); // nothing left for it to do
  };
  /** Once; every caller waits for the same cleanup (a signal's and the finally block's). */
  const cleanup = () => (cleaning ??= cleanupOnce());
  // Ctrl-C reaches this process twice (from the terminal, and relayed by tsx): the second must not kill it
  // before the cleanup (children stopped, NATS stream deleted) is done.
  let signalled = false;
  const onSignal = () => {
    if (signalled) return;
    signalled = true;
    void cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const close = async () => {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return { servers, clientFor, track, scraper, beforeStop, close };
}

/** Opens BENCH_ACCOUNTS accounts with an opening balance each, and the prober's own account (phase 0). */
async function setupAccounts(client: Client, runId: string, label: string) {
  const pools: Pools = { byCurrency: CURRENCIES.map(() => []), all: [] };
  const setupIds = Array.from({ length: ACCOUNTS }, (_, i) => `a-${runId}-${i}`);
  const setup = new Recorder(ACCOUNTS * 2 + 2);
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
  // The prober's account: only the prober writes to it (not in the pools).
  const proberAccount = `p-${runId}`;
  for (const [path, body] of [
    ['/commands/create-account', { accountId: proberAccount, owner: 'Bench Prober', currency: CURRENCIES[0] }],
    ['/commands/deposit', { accountId: proberAccount, amount: INITIAL_BALANCE.toString() }],
  ] as const) {
    const reply = await client.send('POST', path, body, [201]);
    if (reply.status !== 201) throw new Error(`setup failed: prober account ${path}: ${reply.status} ${reply.body.slice(0, 300)}`);
  }
  const seconds = (performance.now() - setupStarted) / 1000;
  console.log(`\n${label}: ${pools.all.length}/${ACCOUNTS} accounts opened and funded in ${fmt(seconds, 1)} s ` +
    `(${fmt(setup.count / seconds)} commands/s)`);
  printErrors(setup);
  if (pools.byCurrency.some((g) => g.length < 2)) throw new Error('setup failed: too few accounts per currency to run transfers');
  return { pools, setup, seconds, proberAccount };
}

/** One worker step of phase 1: a command of the mix, recorded. */
function commandStep(client: Client, state: CommandState, recorder: Recorder): () => Promise<void> {
  return async () => {
    const command = nextCommand(state);
    const t = performance.now();
    const keyed = Math.random() < IDEMPOTENCY_SHARE;
    const reply = await client.send('POST', command.path, command.body, command.expect, false, REQUEST_TIMEOUT_MS,
      keyed ? { 'idempotency-key': `b-${state.runId}-${state.keys++}` } : {});
    recorder.record(command.kind, performance.now() - t, reply, command.expect);
    if (reply.status === 201) command.onCreated?.();
  };
}

/** BENCH_WARMUP_SECONDS of the command mix, not counted. */
async function warmUp(client: Client, state: CommandState): Promise<void> {
  if (WARMUP_SECONDS <= 0) return;
  const warm = new Recorder(RECORD_MAX);
  await runPhase(CONNECTIONS, WARMUP_SECONDS, warm, commandStep(client, state, warm));
  console.log(`warm-up: ${fmt(warm.count)} commands in ${WARMUP_SECONDS} s, not counted`);
}

/** One worker step of phase 2: a balance read of a random account, recorded. */
function readStep(readClient: Client, pools: Pools, reads: Recorder): () => Promise<void> {
  return async () => {
    const accountId = pickAccount(pools);
    const t = performance.now();
    const reply = await readClient.send('GET', `/accounts/${encodeURIComponent(accountId)}/balance`, undefined, [200]);
    reads.record('balance', performance.now() - t, reply, [200]);
  };
}

// ---------------------------------------------------------------------------------------------- anchors

/** One anchors run: where it came from, when, and its figures (null with the reason when it failed). */
interface AnchorsTaken {
  label: 'before' | 'after';
  source: string;
  startedAt: string;
  endedAt: string;
  run: AnchorRun | null;
  error: string | null;
  /** The script's stdout as printed (what was parsed). */
  output: string;
}

/** Runs the anchors script (its own process group, ended on a signal), printing its lines as they come. */
async function runAnchors(label: 'before' | 'after'): Promise<AnchorsTaken> {
  const startedAt = new Date().toISOString();
  console.log(`\nanchors ${label}: bash ${ANCHORS_SCRIPT} (DURATION=${ANCHORS_DURATION} s per anchor; BENCH_ANCHORS=off skips)`);
  const child = spawn('bash', [ANCHORS_SCRIPT], {
    cwd: ROOT, env: { ...process.env, DURATION: String(ANCHORS_DURATION) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const stop = () => { if (child.pid !== undefined && child.exitCode === null) try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ } };
  const onSignal = () => { stop(); process.exit(130); };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let stdout = '';
  const echo = (stream: NodeJS.ReadableStream | null, keep: boolean) => {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (keep) stdout += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') console.log(`  [anchors ${label}] ${line}`);
    });
    stream?.on('end', () => { if (partial.trim() !== '') console.log(`  [anchors ${label}] ${partial}`); });
  };
  echo(child.stdout, true);
  echo(child.stderr, false);
  const code = await new Promise<number | string>((r) => {
    child.once('error', (error) => r(error.message));
    child.once('close', (exitCode, signal) => r(exitCode ?? signal ?? 'unknown'));
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const endedAt = new Date().toISOString();
  let run: AnchorRun | null = null;
  let error: string | null = null;
  try {
    run = parseAnchors(stdout);
  } catch (e) {
    error = (e as Error).message;
  }
  if (code !== 0) error = `the anchors script ended with ${code}${error ? `; ${error}` : ''}`;
  if (error) run = null;
  return { label, source: ANCHORS_SCRIPT, startedAt, endedAt, run, error, output: stdout };
}

/** A saved anchors output (BENCH_ANCHORS=<file>), parsed now: a bad file fails before anything is measured. */
function readAnchors(label: 'before' | 'after', path: string): AnchorsTaken {
  const output = readFileSync(path, 'utf8');
  const run = parseAnchors(output);
  const at = new Date(statMtime(path)).toISOString();
  return { label, source: path, startedAt: at, endedAt: at, run, error: null, output };
}

function statMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

// ---------------------------------------------------------------------------------------------- the embedded default

interface EmbeddedResult {
  dataDir: string;
  setup: { accounts: number; seconds: number; commandsPerSecond: number };
  catchUpBeforeCommands: CatchUp;
  commands: {
    total: number; seconds: number; perSecond: number; ok201: number; rejected422: number; errors: number;
    latencyMs: LatencySummary; cpuCores: ReturnType<typeof cpuBetween>; cpuPerCommand: ReturnType<typeof cpuPerOp>;
    unexpected: Record<string, number>;
  };
  catchUpAfterCommands: CatchUp;
  reads: { total: number; seconds: number; perSecond: number; ok200: number; errors: number; latencyMs: LatencySummary; unexpected: Record<string, number> } | null;
}

/**
 * The embedded default: `chronicle start` with no DATABASE_URL (PGlite in a fresh temporary CHRONICLE_DATA_DIR,
 * the in-process bus), the same key, setup, warm-up, command phase (BENCH_EMBEDDED_SECONDS) and balance-read
 * phase (at most as long) as the PostgreSQL run; the data directory is deleted at the end.
 */
async function runEmbedded(runId: string): Promise<EmbeddedResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chronicle-bench-embedded-'));
  const session = openSession(null, dataDir);
  try {
    const port = await freePort();
    const server: ServerProcess = { role: 'start', port, child: startServer('start', port, serverEnv({ dataDir }, port, POOL_MAX, null), 'embedded') };
    session.track(server);
    await waitForHealth(server);
    const pids = [{ role: 'start', pid: server.child.pid! }];
    console.log(`\n==== the embedded default: chronicle start on PGlite (CHRONICLE_DATA_DIR=${dataDir}), pid ${server.child.pid} on http://${HOST}:${port}`);
    const client = session.clientFor(port, CONNECTIONS);
    const admin = session.clientFor(port, 1);
    const id = `${runId}e`;
    const { pools, setup, seconds: setupSeconds } = await setupAccounts(client, id, 'embedded phase 0 (setup)');
    const state: CommandState = { pools, runId: id, created: 0, keys: 0 };
    await warmUp(client, state);
    const catchUpBefore = await waitForCatchUp(admin, 'embedded catch-up before phase 1', CATCHUP_SECONDS);
    printCatchUp('embedded catch-up before phase 1', catchUpBefore);

    const commands = new Recorder(RECORD_MAX);
    const cpu0 = cpuMark(pids);
    const commandSeconds = await runPhase(CONNECTIONS, EMBEDDED_SECONDS, commands, commandStep(client, state, commands));
    const commandCpu = cpuBetween(cpu0, cpuMark(pids));
    const ok = commands.statusCount((_k, s) => s === 201);
    const business422 = commands.statusCount((_k, s) => s === 422);
    const commandsPerSecond = commands.count / commandSeconds;
    const commandLatency = commands.latency();
    console.log(`\nembedded phase 1 (commands, ${CONNECTIONS} connections, ${fmt(commandSeconds, 1)} s): ${fmt(commandsPerSecond)} commands/s ` +
      `(${fmt(commands.count)} total: ${fmt(ok)} × 201, ${fmt(business422)} × 422, ${fmt(commands.count - ok - business422)} errors)`);
    printLatency('all commands', commandLatency);
    printErrors(commands);
    printCpu(commandCpu);
    const cpuPerCommand = cpuPerOp(commandCpu, commandsPerSecond);
    console.log(`  cpu per command: server (with PGlite in it) ${cpuPerCommand.serverMs} ms, client ${cpuPerCommand.clientMs} ms`);

    const catchUpAfter = await waitForCatchUp(admin, 'embedded catch-up after phase 1', CATCHUP_SECONDS);
    printCatchUp('embedded catch-up after phase 1', catchUpAfter);

    let readsResult: EmbeddedResult['reads'] = null;
    const readFor = Math.min(READ_SECONDS, EMBEDDED_SECONDS);
    if (readFor > 0) {
      const reads = new Recorder(RECORD_MAX);
      const readSeconds = await runPhase(CONNECTIONS, readFor, reads, readStep(client, pools, reads));
      const readsOk = reads.statusCount((_k, s) => s === 200);
      const readLatency = reads.latency();
      console.log(`\nembedded phase 2 (balance reads, ${CONNECTIONS} connections, ${fmt(readSeconds, 1)} s): ${fmt(reads.count / readSeconds)} reads/s ` +
        `(${fmt(reads.count)} total, ${fmt(reads.count - readsOk)} errors)`);
      printLatency('balance', readLatency);
      printErrors(reads);
      readsResult = {
        total: reads.count, seconds: round2(readSeconds), perSecond: Math.round(reads.count / readSeconds), ok200: readsOk,
        errors: reads.count - readsOk, latencyMs: readLatency, unexpected: Object.fromEntries([...reads.errors].map(([k, v]) => [k, v.count])),
      };
    }
    return {
      dataDir,
      setup: { accounts: pools.all.length - state.created, seconds: round2(setupSeconds), commandsPerSecond: Math.round(setup.count / setupSeconds) },
      catchUpBeforeCommands: catchUpBefore,
      commands: {
        total: commands.count, seconds: round2(commandSeconds), perSecond: Math.round(commandsPerSecond), ok201: ok, rejected422: business422,
        errors: commands.count - ok - business422, latencyMs: commandLatency, cpuCores: commandCpu, cpuPerCommand,
        unexpected: Object.fromEntries([...commands.errors].map(([k, v]) => [k, v.count])),
      },
      catchUpAfterCommands: catchUpAfter,
      reads: readsResult,
    };
  } finally {
    await session.close();
    console.log(`embedded: server stopped, ${dataDir} deleted`);
  }
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const runId = Date.now().toString(36);
  const databaseUrl = dbUrl(ADMIN_URL, DB_NAME);
  const nats: NatsBus | null = NATS_URL === undefined ? null : { url: NATS_URL, stream: `chronicle-bench-${runId}`, subjectPrefix: `bench-${runId}` };
  console.log(`ChronicleLedger HTTP bench: topology=${TOPOLOGY} accounts=${ACCOUNTS} connections=${CONNECTIONS} pgPoolMax=${POOL_MAX} ` +
    `idempotencyKeys=${Math.round(IDEMPOTENCY_SHARE * 100)}% ` +
    `commands=${SECONDS}s (+${WARMUP_SECONDS}s warm-up) reads=${READ_SECONDS}s db=${DB_NAME}` +
    (nats ? ` nats=${nats.url} stream=${nats.stream}` : '') +
    (Object.keys(SERVER_EXTRA_ENV).length ? ` serverEnv=${JSON.stringify(SERVER_EXTRA_ENV)}` : ''));
  console.log(`anchors: ${ANCHORS.mode === 'run' ? `run ${ANCHORS_SCRIPT} before and after (DURATION=${ANCHORS_DURATION})` : ANCHORS.mode === 'off' ? `none (${ANCHORS.why})` : `saved: ${ANCHORS.paths.join(', ')}`}; ` +
    `embedded: ${EMBEDDED ? `${EMBEDDED_SECONDS} s of commands, ${Math.min(READ_SECONDS, EMBEDDED_SECONDS)} s of reads on PGlite after the PostgreSQL run` : 'off (BENCH_EMBEDDED=0)'}`);

  // Saved anchors are read first: a file that does not parse fails the bench before it measures anything.
  const anchorsBefore: AnchorsTaken | null = ANCHORS.mode === 'files' ? readAnchors('before', ANCHORS.paths[0]!) : null;
  const anchorsAfterSaved: AnchorsTaken | null = ANCHORS.mode === 'files' && ANCHORS.paths[1] ? readAnchors('after', ANCHORS.paths[1]) : null;

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

  // Anchors right before the measurement: a failure here stops the bench (nothing measured yet).
  let before = anchorsBefore;
  if (ANCHORS.mode === 'run') {
    before = await runAnchors('before');
    if (before.error) throw new Error(`anchors before: ${before.error} (BENCH_ANCHORS=off runs the bench without them)`);
  }

  const postgres = await runPostgres(runId, databaseUrl, nats, busyBefore);

  // Anchors right after (the PostgreSQL run's servers are stopped): a failure here is reported, and the
  // ratios use the anchors from before alone.
  let after = anchorsAfterSaved;
  if (ANCHORS.mode === 'run') {
    after = await runAnchors('after');
    if (after.error) console.log(`\nanchors after FAILED: ${after.error}; the ratios use the anchors from before alone`);
  }

  let embedded: EmbeddedResult | { error: string } | null = null;
  if (EMBEDDED) {
    try {
      embedded = await runEmbedded(runId);
    } catch (error) {
      embedded = { error: (error as Error).message };
      console.log(`\nembedded run FAILED: ${(error as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ the table
  const runs = [before, after].filter((a): a is AnchorsTaken => a?.run != null);
  const e: string | EmbeddedResult = embedded === null ? 'BENCH_EMBEDDED=0' : 'error' in embedded ? `failed: ${embedded.error.slice(0, 120)}` : embedded;
  const table = buildTable({
    connections: CONNECTIONS,
    ...postgres.figures,
    embedded: typeof e === 'string'
      ? { commandsPerSecond: e, commandP99Ms: e, readsPerSecond: e }
      : { commandsPerSecond: e.commands.perSecond, commandP99Ms: e.commands.latencyMs.p99, readsPerSecond: e.reads ? e.reads.perSecond : 'BENCH_READ_SECONDS=0' },
    anchors: runs.map((a) => a.run!),
    ...(runs.length === 0 ? { anchorsNote: ANCHORS.mode === 'off' ? ANCHORS.why : 'the anchors run failed' } : {}),
  });
  const hhmm = (iso: string) => iso.slice(11, 16);
  const anchorLines = [before, after].filter((a): a is AnchorsTaken => a !== null).map((a) =>
    a.run ? describeAnchorRun(`${a.label} (${ANCHORS.mode === 'run' ? `${hhmm(a.startedAt)}–${hhmm(a.endedAt)} UTC` : a.source})`, a.run) : `${a.label}: FAILED (${a.error})`);
  const notes = [
    `PostgreSQL run finished ${postgres.summary.at} (git ${postgres.summary.git}), topology ${TOPOLOGY}, ${CONNECTIONS} clients, commands ${SECONDS} s, reads ${READ_SECONDS} s; ` +
      `machine busy before the run: ${busyBefore} cores`,
    ...(anchorLines.length ? anchorLines.map((l) => `anchors ${l}`) : [`anchors: none (${ANCHORS.mode === 'off' ? ANCHORS.why : 'failed'})`]),
    'ratio (range): the measured figure over the anchor\'s range (its low end against the higher anchor); met?: yes when the whole range meets the target, partly when the target lies inside it',
    'write→read visibility: the prober\'s time from a deposit\'s 201 to its balance read answering \'reached\' (one balance round trip included), at half phase 1\'s rate (phase 1b, paced) and at full load (phase 1)',
    EMBEDDED ? `embedded: the same phases on PGlite (${EMBEDDED_SECONDS} s of commands), compared with this run's PostgreSQL figures` : 'embedded: not run (BENCH_EMBEDDED=0)',
  ];
  console.log(`\n==== ChronicleLedger against its anchors (issue 14, "what must be true")\n`);
  console.log(table.markdown);
  for (const note of notes) console.log(`- ${note}`);

  const summary = {
    ...postgres.summary,
    anchors: {
      mode: ANCHORS.mode, script: ANCHORS.mode === 'run' ? ANCHORS_SCRIPT : null, durationSeconds: ANCHORS.mode === 'run' ? ANCHORS_DURATION : null,
      before: before && { ...before }, after: after && { ...after },
    },
    embedded,
    table: { columns: table.columns, rows: table.rows, notes, markdown: table.markdown },
  };
  mkdirSync(dirname(OUT_FILE), { recursive: true });
  writeFileSync(OUT_FILE, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`\nsummary written to ${OUT_FILE}`);
  console.log(`BENCH_JSON ${JSON.stringify(summary)}`);
  if (embedded !== null && 'error' in embedded) throw new Error(`the embedded run failed: ${embedded.error}`);
}

/**
 * The PostgreSQL topology's run: servers, phases 0-2, rebuild, sealing. Returns its summary (the JSON's
 * top-level keys) and the figures the final table takes from it; its servers are stopped when it returns.
 */
async function runPostgres(runId: string, databaseUrl: string, nats: NatsBus | null, busyBefore: number) {
  const session = openSession(nats);
  const { servers, clientFor, scraper } = session;
  const stats = new pg.Client({ connectionString: databaseUrl, application_name: 'chronicle-bench-stats' });
  session.beforeStop.push(() => stats.end());

  try {
    const ports = await startTopology(databaseUrl, nats, session.track);
    const pids = servers.map((s) => ({ role: s.role, pid: s.child.pid! }));
    for (const s of servers) console.log(`${s.role === 'start' ? 'server' : s.role}: pid ${s.child.pid} on http://${HOST}:${s.port}${CPU_PROF_DIR ? ` (cpu profile → ${CPU_PROF_DIR})` : ''}`);
    const client = clientFor(ports.commands, CONNECTIONS);
    const readClient = ports.reads === ports.commands ? client : clientFor(ports.reads, CONNECTIONS);
    /** Projection calls and catch-up polling: a connection of their own. */
    const admin = clientFor(ports.reads, 1);
    const metricPorts = { commands: ports.commands, relay: ports.relay, processor: ports.processor };
    await stats.connect();

    // ------------------------------------------------------------------ phase 0: setup
    const { pools, setup, seconds: setupSeconds, proberAccount } = await setupAccounts(client, runId, 'phase 0 (setup)');

    // ------------------------------------------------------------------ phase 1: commands
    const state: CommandState = { pools, runId, created: 0, keys: 0 };
    await warmUp(client, state);
    const catchUpBefore = await waitForCatchUp(admin, 'catch-up before phase 1', CATCHUP_SECONDS);
    printCatchUp('catch-up before phase 1 (read model applies setup and warm-up)', catchUpBefore);

    const commands = new Recorder(RECORD_MAX);
    const pgBefore = await pgCounters(stats);
    const metricsBefore = await scraper.scrapeAll(metricPorts);
    const cpu0 = cpuMark(pids);
    let activity: Awaited<ReturnType<typeof samplePgActivity>> | undefined;
    let samplerDone: Promise<void> = Promise.resolve();
    let samplerClient: pg.Client | undefined;
    if (PG_SAMPLE) {
      samplerClient = new pg.Client({ connectionString: databaseUrl, application_name: 'chronicle-bench-sampler' });
      await samplerClient.connect();
      const c = samplerClient;
      samplerDone = samplePgActivity(c, performance.now() + SECONDS * 1000).then((a) => { activity = a; });
    }
    const phaseEnd = performance.now() + SECONDS * 1000;
    const loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
    const prober = runProber(clientFor(ports.commands, 1), clientFor(ports.reads, 1), clientFor(ports.reads, 1), proberAccount, phaseEnd);
    const lagSampler = sampleLag(scraper, { processor: ports.processor, relay: ports.relay }, phaseEnd);
    const commandSeconds = await runPhase(CONNECTIONS, SECONDS, commands, commandStep(client, state, commands));
    const cpu1 = cpuMark(pids);
    const loadStopped = { wall: Date.now(), mono: performance.now() };
    loopDelay.disable();
    const [metricsAfter, viewAtEnd] = await Promise.all([scraper.scrapeAll(metricPorts), projectionView(admin)]); // also the end-of-phase lag sample
    const lagSamples = await lagSampler;
    await samplerDone;
    await samplerClient?.end();
    await sleep(1_500); // backends flush their statistics at most once a second
    const pgAfter = await pgCounters(stats);
    // The last probe may still wait for its deposit to become visible (at most BENCH_PROBE_MAX_SECONDS).
    const probes = await prober;

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

    // Write→read visibility.
    const visibilityWall = cpu1.wall - cpu0.wall;
    const { histogram, quantile } = visibilityBetween(metricsBefore['processor'] ?? null, metricsAfter['processor'] ?? null);
    const lagEnd = {
      projectionEvents: metricValue(metricsAfter['processor'] ?? null, 'chronicle_projection_lag_events', { projection: PROJECTION }) ?? null,
      projectionSeconds: metricValue(metricsAfter['processor'] ?? null, 'chronicle_projection_lag_seconds', { projection: PROJECTION }) ?? null,
      relayEvents: metricValue(metricsAfter['relay'] ?? null, 'chronicle_relay_lag_events') ?? null,
    };
    const maxOf = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));
    const counter = (role: string, name: string, labels: Record<string, string> = {}) =>
      counterDelta(metricValue(metricsBefore[role] ?? null, name, labels), metricValue(metricsAfter[role] ?? null, name, labels));
    const pipeline = {
      eventsAppended: counter('commands', 'chronicle_events_appended_total'),
      relayPublished: counter('relay', 'chronicle_relay_events_published_total'),
      projectionApplied: counter('processor', 'chronicle_projection_events_total', { projection: PROJECTION, outcome: 'applied' }),
      projectionDuplicates: counter('processor', 'chronicle_projection_events_total', { projection: PROJECTION, outcome: 'duplicate' }),
      projectionRedeliveries: counter('processor', 'chronicle_projection_redeliveries_total', { projection: PROJECTION }),
      projectionDeadLetters: counter('processor', 'chronicle_projection_dead_letters_total', { projection: PROJECTION }),
      groupCommitFlushes: counter('commands', 'chronicle_group_commit_batch_appends_count'),
      groupCommitAppends: counter('commands', 'chronicle_group_commit_batch_appends_sum'),
    };
    const visibility = {
      method: `prober: deposit 1 into its own account, then GET /accounts/{own}/balance?minPosition=<globalPosition>&maxWaitMs=${PROBE_WAIT_MS} ` +
        `(again while stale, up to ${PROBE_MAX_SECONDS} s); time from the deposit's 201 arriving to the 'reached' answer arriving`,
      probes: probes.probes,
      visibleMs: summariseMs(probes.visibleMs),
      serverWaitedMs: summariseMs(probes.serverWaitedMs),
      floorBalanceReadMs: summariseMs(probes.floorMs),
      proberDepositMs: summariseMs(probes.depositMs),
      staleFirstAnswers: probes.staleFirst,
      staleAnswers: probes.staleAnswers,
      unresolved: probes.unresolved,
      wrongBalance: probes.wrongBalance,
      balanceChecked: probes.balanceChecked,
      errors: probes.errors,
      benchEventLoopDelayMs: { p99: round2(loopDelay.percentile(99) / 1e6), max: round2(loopDelay.max / 1e6) },
      serverHistogram: histogram === null ? null : {
        metric: 'chronicle_projection_visibility_seconds',
        resolution: 'bucket (linear within a bucket); mean exact',
        events: histogram.count,
        meanMs: histogram.count > 0 ? round2((histogram.sum / histogram.count) * 1000) : null,
        p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99),
        bucketsMs: Object.fromEntries(histogram.buckets.map((b) => [b.le === Infinity ? '+Inf' : String(round2(b.le * 1000)), b.count])),
      },
      lag: {
        atEndOfPhase: lagEnd,
        sampledEverySeconds: LAG_SAMPLE_MS / 1000,
        samples: lagSamples.samples + 1,
        projectionEventsMax: maxOf(lagSamples.projectionEventsMax, lagEnd.projectionEvents),
        projectionSecondsMax: maxOf(lagSamples.projectionSecondsMax, lagEnd.projectionSeconds),
        relayEventsMax: maxOf(lagSamples.relayEventsMax, lagEnd.relayEvents),
      },
      pipelineEvents: pipeline,
      pipelinePerSecond: {
        eventsAppended: perSecond(pipeline.eventsAppended, visibilityWall),
        relayPublished: perSecond(pipeline.relayPublished, visibilityWall),
        projectionApplied: perSecond(pipeline.projectionApplied, visibilityWall),
      },
    };

    console.log(`\nphase 1 (commands, ${CONNECTIONS} connections, ${fmt(commandSeconds, 1)} s): ${fmt(commandsPerSecond)} commands/s ` +
      `(${fmt(commands.count)} total: ${fmt(ok)} × 201, ${fmt(business422)} × 422, ${fmt(errors)} errors)`);
    printLatency('all commands', commandLatency);
    for (const kind of ['create-account', 'deposit', 'withdraw', 'transfer'] as const) printLatency(kind, commands.latency(kind));
    printErrors(commands);
    printCpu(commandCpu);
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
    console.log(`  write→read visibility under this load (prober on 2 connections of its own: deposit, then balance?minPosition=<its position>&maxWaitMs=${PROBE_WAIT_MS}):`);
    printLatency('  visible after', visibility.visibleMs);
    console.log('                     (deposit 201 arrived → balance answered \'reached\'; includes one balance round trip)');
    printLatency('  server waited', visibility.serverWaitedMs);
    printLatency('  floor: read', visibility.floorBalanceReadMs);
    console.log(`                     (plain balance read round trip, every ${FLOOR_PAUSE_MS} ms meanwhile)`);
    printLatency('  prober deposit', visibility.proberDepositMs);
    console.log(`    ${fmt(probes.probes)} probes: ${probes.staleFirst} first answers 'stale' (${probes.staleAnswers} stale answers in all), ` +
      `${probes.unresolved} not visible within ${PROBE_MAX_SECONDS} s, ${probes.wrongBalance} of ${probes.balanceChecked} 'reached' balances wrong` +
      `${Object.keys(probes.errors).length ? `, errors ${JSON.stringify(probes.errors)}` : ''}; ` +
      `bench event-loop delay p99 ${fmt(visibility.benchEventLoopDelayMs.p99, 1)} ms, max ${fmt(visibility.benchEventLoopDelayMs.max, 1)} ms`);
    const h = visibility.serverHistogram;
    const q = (x: { ms: number; above: boolean } | null) => (x === null ? '–' : `${x.above ? '> ' : '≈ '}${fmt(x.ms, x.ms < 10 ? 1 : 0)} ms`);
    console.log(h === null
      ? '  server histogram chronicle_projection_visibility_seconds: not found in /metrics'
      : `  server histogram chronicle_projection_visibility_seconds over phase 1 (recorded_at → applied, every event; bucket resolution): ` +
        `${fmt(h.events)} events, mean ${orDash(h.meanMs, 1)} ms (exact), p50 ${q(h.p50)}, p95 ${q(h.p95)}, p99 ${q(h.p99)}`);
    console.log(`  lag (events): end of phase 1 projection ${orDash(lagEnd.projectionEvents)} (oldest waiting ${orDash(lagEnd.projectionSeconds, 1)} s), ` +
      `relay ${orDash(lagEnd.relayEvents)}; max over ${visibility.lag.samples} samples (every ${LAG_SAMPLE_MS / 1000} s) ` +
      `projection ${orDash(visibility.lag.projectionEventsMax)}, relay ${orDash(visibility.lag.relayEventsMax)}`);
    console.log(`  pipeline (events/s): appended ${orDash(visibility.pipelinePerSecond.eventsAppended)}, published by the relay ${orDash(visibility.pipelinePerSecond.relayPublished)}, ` +
      `applied to the read model ${orDash(visibility.pipelinePerSecond.projectionApplied)}; projection in phase 1: ${orDash(pipeline.projectionDuplicates)} duplicates, ` +
      `${orDash(pipeline.projectionRedeliveries)} redeliveries, ${orDash(pipeline.projectionDeadLetters)} dead letters`);
    console.log(`  group commit: ${orDash(pipeline.groupCommitFlushes)} flushes for ${orDash(pipeline.groupCommitAppends)} appends` +
      (pipeline.groupCommitFlushes ? ` (${orDash((pipeline.groupCommitAppends ?? 0) / pipeline.groupCommitFlushes, 1)} appends per flush)` : ''));

    // ------------------------------------------------------------------ catch-up after phase 1
    // Counted from the end of the load (the last probe may have waited past it).
    const catchUpAfter = await waitForCatchUp(admin, 'catch-up after phase 1', CATCHUP_SECONDS, { ...loadStopped, first: viewAtEnd });
    printCatchUp('\ncatch-up after phase 1 (load stopped)', catchUpAfter);

    // ------------------------------------------------------------------ phase 1b: visibility at half the rate
    // Issue 14 asks for write→read visibility at half the maximum command rate: phase 1's rate, halved, paced
    // (open loop), with the prober beside it and the server's histogram around it.
    let halfRate: Record<string, unknown> | null = null;
    if (HALF_RATE_SECONDS > 0 && commandsPerSecond > 2) {
      const rate = Math.round(commandsPerSecond / 2);
      const paced = new Recorder(RECORD_MAX);
      const before = await scraper.scrapeAll(metricPorts);
      const end = performance.now() + HALF_RATE_SECONDS * 1000;
      const halfProber = runProber(clientFor(ports.commands, 1), clientFor(ports.reads, 1), clientFor(ports.reads, 1), proberAccount, end);
      const pacedSeconds = await runPaced(rate, CONNECTIONS, HALF_RATE_SECONDS, paced, commandStep(client, state, paced));
      const after = await scraper.scrapeAll(metricPorts);
      const halfProbes = await halfProber;
      const { histogram: h, quantile: q } = visibilityBetween(before['processor'] ?? null, after['processor'] ?? null);
      const visible = summariseMs(halfProbes.visibleMs);
      const latency = paced.latency();
      halfRate = {
        targetPerSecond: rate, achievedPerSecond: Math.round(paced.count / pacedSeconds), seconds: round2(pacedSeconds),
        commandLatencyMs: latency, probes: halfProbes.probes, visibleMs: visible, staleFirstAnswers: halfProbes.staleFirst,
        wrongBalance: halfProbes.wrongBalance, unresolved: halfProbes.unresolved,
        serverHistogram: h === null ? null : { events: h.count, p50: q(0.5), p99: q(0.99) },
      };
      console.log(`\nphase 1b (write→read visibility at half phase 1's rate: ${fmt(rate)} commands/s paced, ${HALF_RATE_SECONDS} s): ` +
        `achieved ${fmt(paced.count / pacedSeconds)} commands/s, command p99 ${orDash(latency.p99, 1)} ms`);
      printLatency('  visible after', visible);
      console.log(`  ${halfProbes.probes} probes: ${halfProbes.staleFirst} first answers 'stale', ${halfProbes.unresolved} not visible within ${PROBE_MAX_SECONDS} s, ` +
        `${halfProbes.wrongBalance} 'reached' balances wrong; server histogram (recorded_at → applied): ` +
        `p50 ≈ ${orDash(q(0.5)?.ms, 1)} ms, p99 ≈ ${orDash(q(0.99)?.ms, 1)} ms over ${h ? fmt(h.count) : '–'} events`);
      const drained = await waitForCatchUp(admin, 'catch-up after phase 1b', CATCHUP_SECONDS);
      printCatchUp('catch-up after phase 1b', drained);
    }

    // ------------------------------------------------------------------ phase 2: reads
    const reads = new Recorder(RECORD_MAX);
    let readSeconds = 0;
    let readCpu: ReturnType<typeof cpuBetween> | undefined;
    if (READ_SECONDS > 0) {
      const cpu2 = cpuMark(pids);
      readSeconds = await runPhase(CONNECTIONS, READ_SECONDS, reads, readStep(readClient, pools, reads));
      readCpu = cpuBetween(cpu2, cpuMark(pids));
    }
    const readLatency = reads.latency();
    const readsOk = reads.statusCount((_k, s) => s === 200);
    const readsPerSecond = readSeconds > 0 ? reads.count / readSeconds : 0;
    if (READ_SECONDS > 0) {
      console.log(`\nphase 2 (balance reads, ${CONNECTIONS} connections, ${fmt(readSeconds, 1)} s): ${fmt(readsPerSecond)} reads/s ` +
        `(${fmt(reads.count)} total, ${fmt(reads.count - readsOk)} errors)`);
      printLatency('balance', readLatency);
      printErrors(reads);
      if (!catchUpAfter.caughtUp) console.log('  (the read model had not caught up: accounts it lacks answer 404, counted as errors)');
      if (readCpu) {
        printCpu(readCpu);
        const p = cpuPerOp(readCpu, readsPerSecond);
        console.log(`  cpu per read: server ${p.serverMs} ms, postgres ${p.postgresMs} ms, client ${p.clientMs} ms ` +
          `→ server+postgres CPU ceiling ≈ ${fmt(p.ceilingPerSecond)} reads/s`);
      }
    }

    const storeRows = await stats.query<{ events: string; streams: string; accounts: string }>(
      `SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM streams) AS streams,
              (SELECT count(*) FROM streams WHERE aggregate_type = 'Account') AS accounts`);
    const store = {
      events: Number(storeRows.rows[0]?.events ?? 0), streams: Number(storeRows.rows[0]?.streams ?? 0),
      accountStreams: Number(storeRows.rows[0]?.accounts ?? 0),
    };

    // ------------------------------------------------------------------ rebuild
    let rebuild: Record<string, unknown> | null = null;
    if (REBUILD) {
      const stateOf = async () => {
        const reply = await admin.send('GET', `/projections/${PROJECTION}/state`, undefined, [200], true);
        return reply.status === 200 ? (JSON.parse(reply.body) as { state: { accounts: number; transactions: number; balancesByCurrency: Record<string, string> } }).state : null;
      };
      // Only a caught-up live model can be compared with the rebuilt one (phase 2 wrote nothing).
      const liveState = catchUpAfter.caughtUp ? await stateOf() : null;
      const t = performance.now();
      const reply = await admin.send('POST', `/projections/${PROJECTION}/reset?wait=true`, undefined, [200], true, REBUILD_TIMEOUT_MS);
      const wallMs = Math.round(performance.now() - t);
      if (reply.status === 200) {
        const report = (JSON.parse(reply.body) as { report: { events: number; applied: number; ignored: number; deadLettered: number; durationMs: number; eventsPerSecond: number; position: number } }).report;
        const rebuiltState = await stateOf();
        const sameAsLive = liveState && rebuiltState ? JSON.stringify(liveState) === JSON.stringify(rebuiltState) : null;
        rebuild = {
          events: report.events, applied: report.applied, ignored: report.ignored, deadLettered: report.deadLettered,
          durationMs: report.durationMs, eventsPerSecond: report.eventsPerSecond, wallMs, position: report.position,
          accounts: rebuiltState?.accounts ?? null, accountStreams: store.accountStreams, sameAsLive, liveState, rebuiltState,
        };
        console.log(`\nrebuild (POST /projections/${PROJECTION}/reset?wait=true): ${fmt(report.events)} events in ${fmt(report.durationMs)} ms = ` +
          `${fmt(report.eventsPerSecond)} events/s (server's report; ${fmt(wallMs)} ms round trip), ${fmt(report.deadLettered)} dead-lettered`);
        console.log(`  read model after: ${orDash(rebuiltState?.accounts)} accounts (event store: ${fmt(store.accountStreams)} account streams, ${fmt(store.events)} events); ` +
          `state ${sameAsLive === null ? 'not compared (live model not caught up)' : sameAsLive ? 'identical to the live model\'s' : `DIFFERS from the live model's: live ${JSON.stringify(liveState)}, rebuilt ${JSON.stringify(rebuiltState)}`}`);
      } else {
        rebuild = { error: `${reply.status} ${reply.body.slice(0, 300)}`, wallMs };
        console.log(`\nrebuild FAILED after ${fmt(wallMs)} ms: ${reply.status} ${reply.body.slice(0, 300)}`);
      }
    }

    // ------------------------------------------------------------------ sealing
    // How fast the Merkle log can be built: a fresh sealer reads every event of the bench store ($all, commit
    // order) and writes leaves, subtrees and checkpoints into a scratch database of its own (BENCH_DB_NAME_seal),
    // while the server's own sealer keeps the live log. The two roots at the live checkpoint's size must agree.
    let sealing: Record<string, unknown> | null = null;
    if (SEAL) {
      const scratch = `${DB_NAME}_seal`;
      const adminDb = new pg.Client({ connectionString: ADMIN_URL, application_name: 'chronicle-bench-admin' });
      await adminDb.connect();
      await adminDb.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
      await adminDb.query(`CREATE DATABASE ${scratch}`);
      await adminDb.end();
      const reader = createPostgresClient({ connectionString: databaseUrl, poolMax: 2 });
      const writer = createPostgresClient({ connectionString: dbUrl(ADMIN_URL, scratch), poolMax: 2 });
      try {
        const eventStore = await SqlEventStore.open(reader, { groupCommit: false });
        await migrate(writer);
        const log = new SqlMerkleLog(writer, sha256);
        const sealer = new Sealer({ store: eventStore, log, signer: generateSigner().signer, sha256 }, { checkpointIntervalMs: 1_000 });
        const live = await admin.send('GET', '/audit/checkpoint', undefined, [200], true);
        const liveCheckpoint = live.status === 200 ? (JSON.parse(live.body) as { treeSize: number; rootHash: string }) : null;
        const liveStatus = await scraper.scrape(ports.commands);
        const metric = (name: string) => liveStatus?.find((m) => m.name === name)?.value ?? null;
        const stop = new AbortController();
        const t = performance.now();
        const running = sealer.run(stop.signal);
        await sealer.waitForSize(store.events);
        const ms = performance.now() - t;
        stop.abort();
        await running;
        const sameRoot = liveCheckpoint ? (await log.rootAt(liveCheckpoint.treeSize)) === liveCheckpoint.rootHash : null;
        sealing = {
          events: store.events, ms: Math.round(ms), eventsPerSecond: Math.round(store.events / (ms / 1000)),
          checkpoints: sealer.status().checkpointsTotal, liveCheckpointSize: liveCheckpoint?.treeSize ?? null,
          liveLogSize: metric('chronicle_merkle_log_size'), sameRootAsLive: sameRoot,
        };
        console.log(`\nsealing (a fresh sealer, bench store -> scratch database): ${fmt(store.events)} events in ${fmt(Math.round(ms))} ms = ` +
          `${fmt(Math.round(store.events / (ms / 1000)))} events/s; live log ${orDash(metric('chronicle_merkle_log_size'))} leaves, ` +
          `live checkpoint at ${orDash(liveCheckpoint?.treeSize)}; root at that size ${sameRoot === null ? 'not compared' : sameRoot ? 'identical' : 'DIFFERS'}`);
      } finally {
        await reader.close();
        await writer.close();
        const dropDb = new pg.Client({ connectionString: ADMIN_URL });
        await dropDb.connect();
        await dropDb.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`).finally(() => dropDb.end());
      }
    }

    // ------------------------------------------------------------------ summary
    const summary = {
      bench: 'chronicle-http',
      at: new Date().toISOString(),
      git: gitDescribe(),
      node: process.version,
      machineBusyCoresBefore: busyBefore,
      settings: {
        topology: TOPOLOGY, accounts: ACCOUNTS, connections: CONNECTIONS, pgPoolMax: POOL_MAX, commandSeconds: SECONDS, readSeconds: READ_SECONDS,
        warmupSeconds: WARMUP_SECONDS, cpuProfile: CPU_PROF_DIR !== undefined, pgSample: PG_SAMPLE, serverEnv: SERVER_EXTRA_ENV,
        catchupSecondsMax: CATCHUP_SECONDS, probeWaitMs: PROBE_WAIT_MS, probeMaxSeconds: PROBE_MAX_SECONDS,
        ...(nats ? { nats: { url: nats.url, stream: nats.stream, subjectPrefix: nats.subjectPrefix } } : {}),
        mix: { createAccount: 0.10, deposit: 0.35, withdraw: 0.30, transfer: 0.25 }, idempotencyKeyShare: IDEMPOTENCY_SHARE,
      },
      setup: { accounts: pools.all.length - state.created, seconds: round2(setupSeconds), commandsPerSecond: Math.round(setup.count / setupSeconds) },
      catchUpBeforeCommands: catchUpBefore,
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
      visibility,
      catchUpAfterCommands: catchUpAfter,
      reads: {
        total: reads.count, seconds: round2(readSeconds), perSecond: Math.round(readsPerSecond), ok200: readsOk,
        errors: reads.count - readsOk, latencyMs: readLatency, cpuCores: readCpu ?? null,
        cpuPerRead: readCpu ? cpuPerOp(readCpu, readsPerSecond) : null,
        unexpected: Object.fromEntries([...reads.errors].map(([k, v]) => [k, v.count])),
        readModelCaughtUp: catchUpAfter.caughtUp,
      },
      rebuild,
      sealing,
      store: { events: store.events, streams: store.streams },
    };
    const figures = {
      commandsPerSecond: Math.round(commandsPerSecond) as Figure,
      commandP99Ms: commandLatency.p99 as Figure,
      readsPerSecond: (READ_SECONDS > 0 ? Math.round(readsPerSecond) : 'BENCH_READ_SECONDS=0') as Figure,
      visibilityP99Ms: (probes.visibleMs.length > 0 ? visibility.visibleMs.p99 : 'no probe became visible') as Figure,
      visibilityHalfRateP99Ms: (halfRate === null ? 'BENCH_HALF_RATE_SECONDS=0'
        : (halfRate['visibleMs'] as LatencySummary).count > 0 ? (halfRate['visibleMs'] as LatencySummary).p99 : 'no probe became visible') as Figure,
      rebuildEventsPerSecond: (!REBUILD ? 'BENCH_REBUILD=0' : typeof rebuild?.['eventsPerSecond'] === 'number' ? rebuild['eventsPerSecond'] : 'rebuild failed') as Figure,
      sealingEventsPerSecond: (!SEAL ? 'BENCH_SEAL=0' : typeof sealing?.['eventsPerSecond'] === 'number' ? sealing['eventsPerSecond'] : 'sealing failed') as Figure,
    };
    return { summary, figures };
  } finally {
    await session.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('bench failed:', error);
    process.exit(1);
  },
);
