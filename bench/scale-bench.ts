// How cost grows with the size of the store (issue 14, points 6 and 7): `npm run bench:scale`.
//
// For each store size in BENCH_SCALE_SIZES (default 0 and BENCH_SCALE_EVENTS, itself 1,000,000 by default):
// 1. Creates a scratch database chronicle_scale_<size>, runs the ledger's migrations on it (migrate(), as
//    `chronicle start` does) and, for a size > 0, seeds that many account events (bench/scale-seed.ts: a
//    replayed command mix over min(100,000, size/10) accounts, one of which, "scale-hot", has min(100,000,
//    size/10) events, with valid per-stream hash chains, snapshots and the log head; rows by COPY). Reported:
//    seeding events/s.
// 2. Starts the ledger as http-bench.ts does (`chronicle start` on PostgreSQL: command API, relay, read
//    processor, read model, query API and the sealer in one process, auth on, PG_POOL_MAX connections) and
//    waits until the read model has applied and the sealer has signed every seeded event: the store is then
//    what the ledger would have left had it written those events itself. Reported: time to healthy, the two
//    catch-up rates (the read model's from the spawn: it is rebuilt before the API listens; the sealer's from
//    healthy: it starts with the API), and a check of the read model against the seed (accounts, sum of
//    balances per currency, no negative balance).
// 3. Opens BENCH_SCALE_ACCOUNTS_OWN accounts of its own (1,000, each funded) and measures, in this order:
//    - command latency at a light fixed load: BENCH_SCALE_LIGHT_RATE commands/s (open loop) for
//      BENCH_SCALE_LIGHT_SECONDS, a mix of 40 % deposit, 35 % withdraw, 25 % transfer on its own accounts;
//    - a deposit into each of BENCH_SCALE_COLD seeded accounts no command has touched since the start (the
//      aggregate is not cached: latest snapshot + the stream's tail from the store), one at a time;
//    - commands/s and p99 with 1, 8, 48 and 128 closed-loop clients (BENCH_SCALE_CLIENTS), the same mix,
//      BENCH_SCALE_SECONDS each;
//    then waits for the read model and the sealer to catch up with that load, and one at a time (REPEATS):
//    - time travel GET /accounts/scale-hot/balance?at=<instant>, instants spread over its history (100,000
//      events), and the same on one of its own accounts (a few hundred events);
//    - GET /streams/$all?from=<p>&count=100 at the start (p = 0), the middle and the end of the log;
//    - GET /accounts?limit=100, first page and a page after the middle of the account ids;
//    - a rebuild, POST /projections/accounts/reset?wait=true (the server's own events/s);
//    - RSS (VmRSS) of the `chronicle start` process after the catch-up, after the load and after the reads
//      and rebuild, and its peak (VmHWM);
//    then stops the ledger, starts it again (time to healthy on a caught-up store, RSS) and stops it, and
//    times `chronicle verify` on the database (every chain, leaf and checkpoint).
// 4. Prints one table (rows: measures; columns: store sizes) and writes bench/results/scale-latest.json
//    (BENCH_OUT), then drops the databases (BENCH_SCALE_KEEP=1 keeps them).
// Latencies are round trips from this process on the same machine (2 cores shared with the server and
// PostgreSQL); p50/p99 are nearest-rank.
//
// Environment (all optional):
//   BENCH_DATABASE_URL      admin URL (default postgres://postgres@127.0.0.1:5432/postgres)
//   BENCH_SCALE_EVENTS      the large size (1000000; 10000000 works too, allow about an hour)
//   BENCH_SCALE_SIZES       sizes to measure, comma-separated (default 0,BENCH_SCALE_EVENTS)
//   BENCH_SCALE_ACCOUNTS    seeded accounts (default min(100000, size/10))
//   BENCH_SCALE_HOT_EVENTS  events of the hot account (default min(100000, size/10))
//   BENCH_SCALE_LIGHT_RATE (100) BENCH_SCALE_LIGHT_SECONDS (10) BENCH_SCALE_SECONDS (10) BENCH_SCALE_CLIENTS (1,8,48,128)
//   BENCH_SCALE_COLD (200)  BENCH_SCALE_REPEATS (100)  BENCH_SCALE_ACCOUNTS_OWN (1000)  PG_POOL_MAX (16)
//   BENCH_SCALE_CATCHUP_SECONDS (1800) longest wait for the read model and the sealer
//   BENCH_SKIP_BUILD=1      reuse bench/results/dist    BENCH_SCALE_KEEP=1 keep the databases    BENCH_OUT
//   BENCH_SCALE_REPORT=file only print the table of an earlier run's JSON
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { migrate } from '../src/adapters/event-store/sql/migrate.js';
import { HOT_ACCOUNT_ID, seedStore, type SeedResult } from './scale-seed.js';
import {
  build, Client, dbUrl, dropDatabase, fmt, intEnv, intListEnv, latency, memoryMiB, recreateDatabase, RESULTS, round2, runVerify,
  sleep, startLedger, stopLedger, type Latency, type Server,
} from './bench-support.js';

// ---------------------------------------------------------------------------------------------- settings

const ADMIN_URL = process.env['BENCH_DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/postgres';
const DB_PREFIX = 'chronicle_scale';
const EVENTS = intEnv('BENCH_SCALE_EVENTS', 1_000_000, 1_000, 100_000_000);
const SIZES = intListEnv('BENCH_SCALE_SIZES', [0, EVENTS], 0, 100_000_000);
const LIGHT_RATE = intEnv('BENCH_SCALE_LIGHT_RATE', 100, 1, 10_000);
const LIGHT_SECONDS = intEnv('BENCH_SCALE_LIGHT_SECONDS', 10, 1, 600);
const SECONDS = intEnv('BENCH_SCALE_SECONDS', 10, 1, 600);
const CLIENTS = intListEnv('BENCH_SCALE_CLIENTS', [1, 8, 48, 128], 1, 1_024);
/** At most the 1,000 seeded accounts the seed names (SeedResult.accountIds). */
const COLD = intEnv('BENCH_SCALE_COLD', 200, 0, 1_000);
const REPEATS = intEnv('BENCH_SCALE_REPEATS', 100, 1, 100_000);
const OWN_ACCOUNTS = intEnv('BENCH_SCALE_ACCOUNTS_OWN', 1_000, 2, 100_000);
const POOL_MAX = intEnv('PG_POOL_MAX', 16, 1, 1_000);
const CATCHUP_SECONDS = intEnv('BENCH_SCALE_CATCHUP_SECONDS', 1_800, 1, 86_400);
const KEEP = process.env['BENCH_SCALE_KEEP'] === '1';
const OUT_FILE = process.env['BENCH_OUT'] || join(RESULTS, 'scale-latest.json');
const PAGE = 100;
const SEED_BATCH_EVENTS = 5_000;
const FUNDING = '1000000';
const CURRENCIES = ['EUR', 'USD'] as const;
const REBUILD_TIMEOUT_MS = 60 * 60_000;

const seedPlan = (size: number) => {
  const accounts = intEnv('BENCH_SCALE_ACCOUNTS', Math.min(100_000, Math.floor(size / 10)), 1, size);
  const hotEvents = intEnv('BENCH_SCALE_HOT_EVENTS', Math.min(100_000, Math.floor(size / 10)), 1, size);
  return { events: size, accounts, hotEvents, batchEvents: SEED_BATCH_EVENTS, seed: 14 };
};

// ---------------------------------------------------------------------------------------------- the ledger's state

/** The last global position, from the newest event of $all (0: none). */
async function headPosition(api: Client): Promise<number> {
  const reply = await api.send('GET', '/streams/$all?direction=backward&count=1');
  if (reply.status !== 200) throw new Error(`$all: ${reply.status} ${reply.body.slice(0, 200)}`);
  return (JSON.parse(reply.body) as { events: { globalPosition: number }[] }).events[0]?.globalPosition ?? 0;
}

interface CatchUp { projectionSeconds: number | null; sealerSeconds: number | null; events: number }

/**
 * Waits until the read model has applied (projection position) and the sealer has signed (latest checkpoint's
 * tree size) every event up to the head; the seconds are counted from `since` (performance.now()).
 */
async function waitForPipeline(api: Client, since: number, label: string): Promise<CatchUp> {
  const head = await headPosition(api);
  let projectionSeconds: number | null = null;
  let sealerSeconds: number | null = null;
  let lastReport = performance.now();
  while ((projectionSeconds === null || sealerSeconds === null) && performance.now() - since < CATCHUP_SECONDS * 1000) {
    const elapsed = () => round2((performance.now() - since) / 1000);
    const projections = await api.send('GET', '/projections');
    const position = projections.status === 200
      ? (JSON.parse(projections.body) as { projections: { name: string; position: number }[] }).projections.find((p) => p.name === 'accounts')?.position ?? 0 : 0;
    if (projectionSeconds === null && position >= head) projectionSeconds = elapsed();
    const checkpoint = await api.send('GET', '/audit/checkpoint');
    const treeSize = checkpoint.status === 200 ? (JSON.parse(checkpoint.body) as { treeSize: number }).treeSize : 0;
    if (sealerSeconds === null && (treeSize >= head || head === 0)) sealerSeconds = elapsed();
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      console.log(`  ${label}: read model at ${fmt(position)}, sealed ${fmt(treeSize)} of ${fmt(head)} events after ${fmt(elapsed())} s`);
    }
    await sleep(250);
  }
  return { projectionSeconds, sealerSeconds, events: head };
}

/** The read model against the seed: every account there, the same money per currency, nothing negative. */
async function checkReadModel(databaseUrl: string, seed: SeedResult): Promise<{ ok: boolean; detail: string }> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const rows = (await db.query<{ currency: string; accounts: string; total: string; negative: string }>(
      `SELECT currency, count(*)::text AS accounts, sum(balance)::text AS total, count(*) FILTER (WHERE balance < 0)::text AS negative
         FROM account_balance GROUP BY currency ORDER BY currency`)).rows;
    const accounts = rows.reduce((n, r) => n + Number(r.accounts), 0);
    const negative = rows.reduce((n, r) => n + Number(r.negative), 0);
    const totals = Object.fromEntries(rows.map((r) => [r.currency, r.total]));
    const ok = accounts === seed.accounts && negative === 0 && JSON.stringify(totals) === JSON.stringify(seed.totals);
    return { ok, detail: `${fmt(accounts)} accounts (seeded ${fmt(seed.accounts)}), ${negative} negative, totals ${JSON.stringify(totals)} (seeded ${JSON.stringify(seed.totals)})` };
  } finally {
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------------- commands

interface Accounts { ids: string[]; byCurrency: string[][] }

const rand = (n: number) => Math.floor(Math.random() * n);

/** Opens and funds the bench's own accounts (16 at a time). */
async function openAccounts(api: Client, count: number): Promise<Accounts> {
  const run = Math.random().toString(36).slice(2, 8);
  const accounts: Accounts = { ids: [], byCurrency: CURRENCIES.map(() => []) };
  const open = async (i: number) => {
    const accountId = `bench-${run}-${String(i).padStart(6, '0')}`;
    const currency = CURRENCIES[i % CURRENCIES.length]!;
    const created = await api.send('POST', '/commands/create-account', { accountId, owner: `Bench Owner ${i}`, currency });
    const funded = await api.send('POST', '/commands/deposit', { accountId, amount: FUNDING });
    if (created.status !== 201 || funded.status !== 201) throw new Error(`opening ${accountId}: ${created.status} / ${funded.status} ${funded.body.slice(0, 200)}`);
    accounts.ids.push(accountId);
    accounts.byCurrency[i % CURRENCIES.length]!.push(accountId);
  };
  for (let i = 0; i < count; i += 16) await Promise.all(Array.from({ length: Math.min(16, count - i) }, (_, k) => open(i + k)));
  accounts.ids.sort();
  return accounts;
}

/** One command of the mix: 40 % deposit, 35 % withdraw, 25 % transfer (one currency, two accounts). */
function nextCommand(accounts: Accounts): { path: string; body: Record<string, unknown> } {
  const r = Math.random();
  const amount = String(1 + rand(1_000));
  if (r < 0.40) return { path: '/commands/deposit', body: { accountId: accounts.ids[rand(accounts.ids.length)], amount } };
  if (r < 0.75) return { path: '/commands/withdraw', body: { accountId: accounts.ids[rand(accounts.ids.length)], amount } };
  const group = accounts.byCurrency[rand(accounts.byCurrency.length)]!;
  const a = rand(group.length);
  const b = (a + 1 + rand(group.length - 1)) % group.length;
  return { path: '/commands/transfer', body: { fromAccountId: group[a], toAccountId: group[b], amount } };
}

/** 201, or 422 for a withdrawal or transfer the account cannot cover: both are answers; anything else an error. */
const answered = (status: number) => status === 201 || status === 422;

interface LoadResult { commands: number; perSecond: number; latency: Latency; errors: number }

/** Open loop: `rate` commands/s for `seconds`, each sent on schedule whatever the previous ones are doing. */
async function fixedRate(api: Client, accounts: Accounts, rate: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const { path, body } = nextCommand(accounts);
    inFlight.push(api.timed('POST', path, body).then((reply) => {
      if (answered(reply.status)) latencies.push(reply.ms); else errors++;
    }));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - started) / 1000;
  return { commands: latencies.length, perSecond: Math.round(latencies.length / elapsed), latency: latency(latencies), errors };
}

/** Closed loop: `clients` workers, each sending its next command when the previous one is answered. */
async function closedLoop(api: Client, accounts: Accounts, clients: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const { path, body } = nextCommand(accounts);
      const reply = await api.timed('POST', path, body);
      if (answered(reply.status)) latencies.push(reply.ms); else errors++;
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const elapsed = (performance.now() - started) / 1000;
  return { commands: latencies.length, perSecond: Math.round(latencies.length / elapsed), latency: latency(latencies), errors };
}

/** One deposit into each account, one at a time: accounts no command has touched, so none is cached. */
async function coldDeposits(api: Client, accountIds: readonly string[]): Promise<Latency & { errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  for (const accountId of accountIds) {
    const reply = await api.timed('POST', '/commands/deposit', { accountId, amount: '1' });
    if (reply.status === 201) latencies.push(reply.ms); else errors++;
  }
  return { ...latency(latencies), errors };
}

// ---------------------------------------------------------------------------------------------- reads

/** GETs each path in turn, one at a time; every answer must be a 200. */
async function timedGets(api: Client, paths: readonly string[]): Promise<Latency & { errors: number; sample: string }> {
  const latencies: number[] = [];
  let errors = 0;
  let sample = '';
  for (const path of paths) {
    const reply = await api.timed('GET', path);
    if (reply.status === 200) latencies.push(reply.ms);
    else {
      errors++;
      sample ||= `${path}: ${reply.status} ${reply.body.slice(0, 200)}`;
    }
  }
  return { ...latency(latencies), errors, sample };
}

/** `count` instants spread evenly over [fromIso, toIso]. */
function instants(fromIso: string, toIso: string, count: number): string[] {
  const from = Date.parse(fromIso);
  const to = Date.parse(toIso);
  return Array.from({ length: count }, (_, i) => new Date(from + ((to - from) * (i + 0.5)) / count).toISOString());
}

async function rebuild(api: Client): Promise<{ events: number; eventsPerSecond: number; durationMs: number } | { error: string }> {
  const reply = await api.send('POST', '/projections/accounts/reset?wait=true', undefined, REBUILD_TIMEOUT_MS);
  if (reply.status !== 200) return { error: `${reply.status} ${reply.body.slice(0, 300)}` };
  const { report } = JSON.parse(reply.body) as { report: { events: number; eventsPerSecond: number; durationMs: number } };
  return { events: report.events, eventsPerSecond: report.eventsPerSecond, durationMs: report.durationMs };
}

// ---------------------------------------------------------------------------------------------- one store size

async function measureSize(size: number): Promise<Record<string, unknown>> {
  const name = `${DB_PREFIX}_${size}`;
  const databaseUrl = dbUrl(ADMIN_URL, name);
  console.log(`\n=== store size ${fmt(size)} events: database ${name}`);
  await recreateDatabase(ADMIN_URL, name);
  const sql = createPostgresClient({ connectionString: databaseUrl, poolMax: 1, applicationName: 'chronicle-scale-migrate' });
  try {
    await migrate(sql);
  } finally {
    await sql.close();
  }
  let seed: SeedResult | null = null;
  if (size > 0) {
    const db = new pg.Client({ connectionString: databaseUrl, application_name: 'chronicle-scale-seed' });
    await db.connect();
    try {
      seed = await seedStore(db, seedPlan(size), (line) => console.log(line));
    } finally {
      await db.end();
    }
    console.log(`seed: ${fmt(seed.events)} events, ${fmt(seed.accounts)} accounts, ${fmt(seed.snapshots)} snapshots in ${fmt(seed.seconds, 1)} s = ` +
      `${fmt(seed.eventsPerSecond)} events/s (index rebuild ${fmt(seed.indexSeconds, 1)} s included; VACUUM ANALYZE ${fmt(seed.vacuumSeconds, 1)} s after)`);
  }

  const spawned = performance.now();
  const server: Server = await startLedger(databaseUrl, POOL_MAX);
  const pid = server.child.pid!;
  const result: Record<string, unknown> = { size, database: name, seed: seed && { ...seed, accountIds: undefined } };
  const api = new Client(server.port, 256);
  try {
    result['healthySeconds'] = round2((performance.now() - spawned) / 1000);
    const initial = await waitForPipeline(api, spawned, 'start-up catch-up');
    result['startCatchUp'] = initial;
    console.log(`start: healthy after ${result['healthySeconds']} s; read model caught up after ${initial.projectionSeconds ?? 'NOT'} s, sealer after ${initial.sealerSeconds ?? 'NOT'} s`);
    if (seed) {
      const check = await checkReadModel(databaseUrl, seed);
      result['readModelCheck'] = check;
      console.log(`read model ${check.ok ? 'matches' : 'DOES NOT MATCH'} the seed: ${check.detail}`);
    }
    const memory: Record<string, unknown> = { afterCatchUp: memoryMiB(pid) };

    // This machine is shared: how busy it was around the measures (1-minute load average, 2 cores).
    result['loadAverage'] = { beforeLoad: round2(loadavg()[0]!) };
    const own = await openAccounts(api, OWN_ACCOUNTS);
    const ownOpenedAt = new Date().toISOString();
    const light = await fixedRate(api, own, LIGHT_RATE, LIGHT_SECONDS);
    result['light'] = light;
    console.log(`light load ${LIGHT_RATE}/s: p50 ${light.latency.p50} ms, p99 ${light.latency.p99} ms (${fmt(light.commands)} commands, ${light.errors} errors)`);
    if (seed && COLD > 0) {
      const cold = await coldDeposits(api, seed.accountIds.slice(0, COLD));
      result['coldDeposit'] = cold;
      console.log(`deposit into an untouched seeded account: p50 ${cold.p50} ms, p99 ${cold.p99} ms (${cold.count}, ${cold.errors} errors)`);
    }
    const throughput: Record<string, LoadResult> = {};
    for (const clients of CLIENTS) {
      throughput[clients] = await closedLoop(api, own, clients, SECONDS);
      console.log(`${clients} clients: ${fmt(throughput[clients]!.perSecond)} commands/s, p50 ${throughput[clients]!.latency.p50} ms, p99 ${throughput[clients]!.latency.p99} ms, ${throughput[clients]!.errors} errors`);
    }
    result['throughput'] = throughput;
    memory['afterLoad'] = memoryMiB(pid);
    (result['loadAverage'] as Record<string, number>)['afterLoad'] = round2(loadavg()[0]!);
    result['loadCatchUp'] = await waitForPipeline(api, performance.now(), 'catch-up after the load');

    const reads: Record<string, unknown> = {};
    const now = new Date().toISOString();
    if (seed) reads['timeTravelHot'] = await timedGets(api, instants(seed.hotFirstAt, seed.hotLastAt, REPEATS).map((at) => `/accounts/${HOT_ACCOUNT_ID}/balance?at=${at}`));
    reads['timeTravelOwn'] = await timedGets(api, instants(ownOpenedAt, now, REPEATS)
      .map((at, i) => `/accounts/${own.ids[i % own.ids.length]}/balance?at=${at}`));
    const head = await headPosition(api);
    const allPage = (from: number) => timedGets(api, Array.from({ length: REPEATS }, () => `/streams/$all?from=${from}&count=${PAGE}`));
    reads['allStart'] = await allPage(0);
    reads['allMiddle'] = await allPage(Math.floor(head / 2));
    reads['allEnd'] = await allPage(Math.max(0, head - PAGE));
    const middleId = seed ? `scale-${String(Math.floor(seed.accounts / 2)).padStart(8, '0')}` : own.ids[Math.floor(own.ids.length / 2)]!;
    reads['accountsFirst'] = await timedGets(api, Array.from({ length: REPEATS }, () => `/accounts?limit=${PAGE}`));
    reads['accountsLater'] = await timedGets(api, Array.from({ length: REPEATS }, () => `/accounts?limit=${PAGE}&after=${encodeURIComponent(middleId)}`));
    result['reads'] = reads;
    result['head'] = head;
    for (const [label, r] of Object.entries(reads) as [string, Latency & { errors: number; sample: string }][]) {
      console.log(`${label}: p50 ${r.p50} ms, p99 ${r.p99} ms${r.errors ? `, ${r.errors} errors (${r.sample})` : ''}`);
    }
    result['rebuild'] = await rebuild(api);
    console.log(`rebuild: ${JSON.stringify(result['rebuild'])}`);
    memory['end'] = memoryMiB(pid);
    result['memoryMiB'] = memory;
    console.log(`RSS: ${JSON.stringify(memory)}`);
  } finally {
    api.close();
    await stopLedger(server);
  }
  // A restart on the store as it is now (read model caught up, log sealed): what an operator waits for.
  const restarted = performance.now();
  const again = await startLedger(databaseUrl, POOL_MAX);
  result['restartHealthySeconds'] = round2((performance.now() - restarted) / 1000);
  (result['memoryMiB'] as Record<string, unknown>)['afterRestart'] = memoryMiB(again.child.pid!);
  await stopLedger(again);
  console.log(`restart: healthy after ${result['restartHealthySeconds']} s`);
  const verify = await runVerify(databaseUrl);
  const verifiedEvents = Number(/events (\d+)/.exec(verify.output)?.[1] ?? 0);
  result['verify'] = { ok: verify.code === 0, code: verify.code, seconds: round2(verify.seconds), events: verifiedEvents, eventsPerSecond: Math.round(verifiedEvents / verify.seconds), output: verify.output.trim().split('\n').slice(-3) };
  console.log(`verify: exit ${verify.code} in ${fmt(verify.seconds, 1)} s (${fmt(verifiedEvents)} events): ${verify.output.trim().split('\n').at(-1)}`);
  if (!KEEP) await dropDatabase(ADMIN_URL, name);
  return result;
}

// ---------------------------------------------------------------------------------------------- the table

type Row = [string, (r: Record<string, any>) => string];

const ms = (l: Latency | undefined) => (l && l.count > 0 ? `${l.p50} / ${l.p99}` : '—');
const perSecond = (n: number | null | undefined) => (n == null || !Number.isFinite(n) ? '—' : fmt(n));
const rate = (events: number, seconds: number | null) => (seconds ? perSecond(Math.round(events / seconds)) : '—');

const ROWS: Row[] = [
  ['events in the store at start', (r) => fmt(r['seed']?.events ?? 0)],
  ['seeding, events/s', (r) => perSecond(r['seed']?.eventsPerSecond)],
  ['first start → healthy, s (an empty read model is rebuilt first)', (r) => fmt(r['healthySeconds'], 1)],
  ['restart → healthy, s (read model caught up)', (r) => (r['restartHealthySeconds'] != null ? fmt(r['restartHealthySeconds'], 1) : '—')],
  ['read model catch-up at start, events/s', (r) => (r['seed'] ? rate(r['startCatchUp'].events, r['startCatchUp'].projectionSeconds) : '—')],
  // The sealer starts with the API, once the read model's rebuild is done: its rate is counted from then.
  ['sealer catch-up after start, events/s', (r) => (r['seed'] && r['startCatchUp'].sealerSeconds != null
    ? rate(r['startCatchUp'].events, r['startCatchUp'].sealerSeconds - r['healthySeconds']) : '—')],
  [`command p50 / p99 ms at ${LIGHT_RATE}/s`, (r) => ms(r['light']?.latency)],
  ['deposit into an untouched seeded account, p50 / p99 ms', (r) => ms(r['coldDeposit'])],
  ...CLIENTS.map((c): Row => [`commands/s at ${c} client${c === 1 ? '' : 's'} (p99 ms)`, (r) => `${perSecond(r['throughput']?.[c]?.perSecond)} (${r['throughput']?.[c]?.latency.p99 ?? '—'})`]),
  ['time travel ?at=, 10^5-event account, p50 / p99 ms', (r) => ms(r['reads']?.timeTravelHot)],
  ['time travel ?at=, a bench account, p50 / p99 ms', (r) => ms(r['reads']?.timeTravelOwn)],
  [`$all page (${PAGE}) at the start, p50 / p99 ms`, (r) => ms(r['reads']?.allStart)],
  [`$all page (${PAGE}) in the middle, p50 / p99 ms`, (r) => ms(r['reads']?.allMiddle)],
  [`$all page (${PAGE}) at the end, p50 / p99 ms`, (r) => ms(r['reads']?.allEnd)],
  [`account list, first page (${PAGE}), p50 / p99 ms`, (r) => ms(r['reads']?.accountsFirst)],
  [`account list, page after the middle, p50 / p99 ms`, (r) => ms(r['reads']?.accountsLater)],
  ['rebuild, events/s (events)', (r) => (r['rebuild']?.eventsPerSecond != null ? `${perSecond(r['rebuild'].eventsPerSecond)} (${fmt(r['rebuild'].events)})` : '—')],
  ['chronicle verify, events/s (s)', (r) => `${perSecond(r['verify']?.eventsPerSecond)} (${fmt(r['verify']?.seconds ?? 0, 1)})${r['verify']?.ok ? '' : ' FAILED'}`],
  ['machine load average (1 min) before / after the command load', (r) => `${r['loadAverage']?.beforeLoad ?? '—'} / ${r['loadAverage']?.afterLoad ?? '—'}`],
  ['RSS MiB: after catch-up / after load / end (peak)', (r) => {
    const m = r['memoryMiB'] ?? {};
    return `${m.afterCatchUp?.rss ?? '—'} / ${m.afterLoad?.rss ?? '—'} / ${m.end?.rss ?? '—'} (${m.end?.peak ?? '—'})`;
  }],
  ['RSS MiB right after a restart', (r) => String(r['memoryMiB']?.afterRestart?.rss ?? '—')],
];

function table(results: readonly Record<string, any>[]): string {
  const header = ['measure', ...results.map((r) => `${fmt(r['size'])} events`)];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const [label, cell] of ROWS) lines.push(`| ${label} | ${results.map((r) => cell(r)).join(' | ')} |`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  // BENCH_SCALE_REPORT=<a scale-latest.json>: print its table again (with this version's rows) and stop.
  const report = process.env['BENCH_SCALE_REPORT'];
  if (report) {
    console.log(table((JSON.parse(readFileSync(report, 'utf8')) as { results: Record<string, unknown>[] }).results));
    return;
  }
  const started = new Date();
  build(process.env['BENCH_SKIP_BUILD'] === '1');
  const results: Record<string, unknown>[] = [];
  for (const size of SIZES) results.push(await measureSize(size));
  const text = table(results);
  console.log(`\n${text}`);
  mkdirSync(RESULTS, { recursive: true });
  const settings = { sizes: SIZES, lightRate: LIGHT_RATE, lightSeconds: LIGHT_SECONDS, seconds: SECONDS, clients: CLIENTS, cold: COLD, repeats: REPEATS, ownAccounts: OWN_ACCOUNTS, poolMax: POOL_MAX };
  writeFileSync(OUT_FILE, `${JSON.stringify({ startedAt: started.toISOString(), finishedAt: new Date().toISOString(), settings, table: text, results }, null, 2)}\n`);
  console.log(`\nwritten: ${OUT_FILE}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
