// The long chaos run of issue 12 (items 3 and 10): `npm run chaos -- --kills 10 [--victims primary|random]
// [--dir D] [--seed S] [--clients C] [--keep]`.
//
// Brings a cluster up with `chronicle cluster up` (or uses the one running in D), runs `chronicle
// simulate-traffic` against both ledger-api processes for the whole run, and kills nodes one at a time with
// SIGKILL: by default the current primary PostgreSQL node (Patroni and its postgres together); with `--victims
// random` a seeded choice among a pg primary, a pg replica, an etcd member, a NATS server and a ledger-api.
// Each kill waits for a healthy cluster with writes flowing first; then it records when the kill landed, how
// long until `cluster status` shows another primary (pg primary kills), and, after `cluster restart` of the
// victim, how long until it answers again (a pg node as a replica). The write outage of each kill is measured
// afterwards from the journal: last acknowledgement at or before the kill -> first one after it.
// At the end the traffic is stopped (SIGINT: in-flight commands are journaled unknown, and the checker
// resolves them), `chronicle verify-consistency` runs over every API URL, the query URL and the NATS URLs,
// and the figures are printed (a table, p50/max of the primary-kill outages, lost and doubled) and written to
// bench/results/chaos-<time>.json. Exit 1 when verify-consistency fails.
//
// It runs the compiled CLI (dist/): `npm run build:api` first. Not a CI test: 10 primary kills take about
// ten minutes. A cluster it started is stopped at the end (`cluster down`) unless --keep.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterStatus, notReady, type ClusterStatus } from '../src/cli/cluster/cluster-probes.js';
import { CLUSTER_FILE, type ClusterFile } from '../src/cli/cluster/cluster-spec.js';
import { killNode } from '../src/cli/cluster/node-processes.js';
import { seededRandom } from '../src/lib/seeded-random.js';
import { ackTimesOf, longestGapAfter, markdownTable, outageAround, summarise, victimKindOf, type KillRecord, type VictimKind } from './chaos-figures.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(REPO, 'dist/cli/main.js');

/** Bounds of each phase (a phase that overruns fails the run with its name). */
const HEALTHY_WAIT_MS = 240_000;
const NEW_PRIMARY_WAIT_MS = 120_000;
const WRITES_RESUME_WAIT_MS = 180_000;
/** Writes must have flowed this long since the cluster was whole again before the next kill. */
const FLOWING_BEFORE_KILL_MS = 5_000;
/** After writes resume, this long before the victim is restarted (so the outage is the failover alone). */
const HOLD_BEFORE_RESTART_MS = 3_000;
const POLL_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (line: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 23)}] ${line}`);

interface Verdict { ok: boolean; commands: number; events: number; retried?: unknown; checks: { name: string; status: string; summary: string; failures: string[] }[] }

interface Args { kills: number; victims: 'primary' | 'random'; dir: string; seed: number; clients: number; keep: boolean }

function parseArgs(argv: string[]): Args {
  const args: Args = { kills: 10, victims: 'primary', dir: resolve('.chronicle/chaos-cluster'), seed: Date.now() % 2 ** 31, clients: 4, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const int = (min: number, max: number) => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new Error(`${flag} must be an integer from ${min} to ${max}`);
      return Number(v);
    };
    if (flag === '--kills') args.kills = int(1, 1000);
    else if (flag === '--victims') {
      const v = value();
      if (v !== 'primary' && v !== 'random') throw new Error('--victims is primary or random');
      args.victims = v;
    } else if (flag === '--dir') args.dir = resolve(value());
    else if (flag === '--seed') args.seed = int(0, 2 ** 32 - 1);
    else if (flag === '--clients') args.clients = int(1, 200);
    else if (flag === '--keep') args.keep = true;
    else throw new Error(`unknown argument ${flag} (usage: npm run chaos -- --kills N [--victims primary|random] [--dir D] [--seed S] [--clients C] [--keep])`);
  }
  return args;
}

/** `chronicle cluster <sub> …` with the compiled CLI; its output goes to our stdout, prefixed. */
function cluster(dir: string, ...sub: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, 'cluster', ...sub, '--dir', dir], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('exit', (code) => resolvePromise({ code: code ?? 1, out }));
  });
}

const readClusterFile = (dir: string) => JSON.parse(readFileSync(join(dir, CLUSTER_FILE), 'utf8')) as ClusterFile;

/**
 * `cluster status` of the cluster as its file says now. The file is read again each time: `cluster restart`
 * records the node's new pid there, and the probes ask only Patroni processes whose recorded pid is alive, so a
 * copy read at the start goes blind once every pg node has been restarted once.
 */
const statusOf = (dir: string) => clusterStatus(readClusterFile(dir));

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | null = null;
  while (Date.now() < end) {
    last = await probe();
    if (last !== null) return last;
    await sleep(POLL_MS);
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
}

/** Follows the journal as simulate-traffic writes it: the acknowledgement times seen so far. */
class JournalTail {
  private offset = 0;
  private partial = '';
  readonly acks: number[] = [];

  constructor(private readonly path: string) {}

  poll(): void {
    if (!existsSync(this.path)) return;
    const fd = openSync(this.path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return;
      const buffer = Buffer.alloc(size - this.offset);
      readSync(fd, buffer, 0, buffer.length, this.offset);
      this.offset = size;
      const text = this.partial + buffer.toString('utf8');
      const cut = text.lastIndexOf('\n');
      this.partial = text.slice(cut + 1);
      for (const t of ackTimesOf(text.slice(0, cut + 1))) this.acks.push(t);
    } finally {
      closeSync(fd);
    }
  }

  lastAck(): number | null {
    this.poll();
    return this.acks.length === 0 ? null : Math.max(...this.acks.slice(-64));
  }

  firstAckAfter(at: number): number | null {
    this.poll();
    let first: number | null = null;
    for (let i = this.acks.length - 1; i >= 0 && i >= this.acks.length - 5_000; i--) if (this.acks[i]! > at && (first === null || this.acks[i]! < first)) first = this.acks[i]!;
    return first;
  }
}

function pickVictim(kind: VictimKind, status: ClusterStatus, roll: () => number): string {
  const of = (pred: (n: ClusterStatus['nodes'][number]) => boolean) => status.nodes.filter(pred).map((n) => n.name);
  const candidates: Record<VictimKind, string[]> = {
    'pg-primary': of((n) => n.kind === 'postgres' && n.role === 'primary'),
    'pg-replica': of((n) => n.kind === 'postgres' && n.role === 'replica'),
    etcd: of((n) => n.kind === 'etcd'),
    nats: of((n) => n.kind === 'nats'),
    'ledger-api': of((n) => n.kind === 'ledger-api'),
  };
  const names = candidates[kind];
  if (names.length === 0) throw new Error(`no ${kind} to kill: ${status.nodes.map((n) => `${n.name} ${n.role}`).join(', ')}`);
  return names[Math.min(names.length - 1, Math.floor(roll() * names.length))]!;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build:api first`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = join(REPO, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  const journalPath = join(outDir, `chaos-${stamp}.journal.ndjson`);
  const random = seededRandom(args.seed);
  log(`seed ${args.seed}, ${args.kills} kills, victims ${args.victims}, cluster in ${args.dir}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  let startedByUs = false;
  let file: ClusterFile | null = existsSync(join(args.dir, CLUSTER_FILE)) ? readClusterFile(args.dir) : null;
  if (file === null || notReady(await clusterStatus(file)) !== null) {
    const t0 = Date.now();
    const upResult = await cluster(args.dir, 'up');
    if (upResult.code !== 0) throw new Error(`cluster up failed:\n${upResult.out}`);
    startedByUs = true;
    log(`cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    file = readClusterFile(args.dir);
  }
  const key = readFileSync(file.adminKeyFile, 'utf8').trim();
  let status = await clusterStatus(file);

  const trafficLog = join(outDir, `chaos-${stamp}.traffic.log`);
  const trafficFd = openSync(trafficLog, 'w');
  const traffic: ChildProcess = spawn(process.execPath, [CLI, 'simulate-traffic', '--url', status.api.join(','), '--key', key, '--clients', String(args.clients),
    '--seconds', '86400', '--journal', journalPath, '--seed', String(args.seed), '--accounts', '40'], { cwd: REPO, stdio: ['ignore', trafficFd, trafficFd] });
  const trafficExit = new Promise<number>((r) => traffic.on('exit', (code) => r(code ?? 1)));
  const tail = new JournalTail(journalPath);
  await waitUntil('the first acknowledgement', 60_000, async () => tail.lastAck());
  log(`traffic running (${args.clients} clients over ${status.api.join(', ')}), journal ${journalPath}`);

  const kills: KillRecord[] = [];
  const killTimes: number[] = [];
  const startedAt = Date.now();
  let failure: string | null = null;
  try {
    for (let n = 1; n <= args.kills; n++) {
      // A whole cluster (a primary, two streaming replicas, one synchronous; every other node up), then writes flowing.
      const waitStart = Date.now();
      const reasons = new Set<string>();
      const wholeAt = await waitUntil('a whole cluster', HEALTHY_WAIT_MS, async () => {
        status = await statusOf(args.dir);
        const reason = notReady(status);
        if (reason !== null) reasons.add(reason);
        return reason === null ? Date.now() : null;
      });
      // A long wait says why (on a loaded machine, a probe's 3 s timeout counts as the node not answering).
      if (wholeAt - waitStart > 15_000) log(`  waited ${((wholeAt - waitStart) / 1000).toFixed(0)} s for a whole cluster: ${[...reasons].join('; ')}`);
      await waitUntil('writes flowing', HEALTHY_WAIT_MS, async () => {
        const last = tail.lastAck();
        return last !== null && Date.now() - last < 1_000 && Date.now() - wholeAt >= FLOWING_BEFORE_KILL_MS ? true : null;
      });
      const kind: VictimKind = args.victims === 'primary' ? 'pg-primary' : victimKindOf(random.next());
      const victim = pickVictim(kind, status, () => random.next());
      const current = readClusterFile(args.dir);
      const node = current.nodes.find((x) => x.name === victim)!;
      const load1 = loadavg()[0]!;
      const wasSync = status.nodes.find((x) => x.name === victim)?.sync === true;
      const pids = await killNode(current, node);
      const killAt = Date.now();
      killTimes.push(killAt);
      log(`kill ${n}/${args.kills}: ${victim} (${kind}${wasSync ? ', the synchronous standby' : ''}), SIGKILL to ${pids.length} processes; load ${load1.toFixed(2)}`);

      let newPrimary: string | null = null;
      let newPrimaryMs: number | null = null;
      if (kind === 'pg-primary') {
        newPrimary = await waitUntil('a new primary', NEW_PRIMARY_WAIT_MS, async () => {
          const s = await statusOf(args.dir);
          return s.nodes.find((x) => x.kind === 'postgres' && x.role === 'primary' && x.name !== victim)?.name ?? null;
        });
        newPrimaryMs = Date.now() - killAt;
        log(`  ${newPrimary} is primary after ${(newPrimaryMs / 1000).toFixed(1)} s`);
      }
      const resumed = await waitUntil('writes resuming', WRITES_RESUME_WAIT_MS, async () => tail.firstAckAfter(killAt));
      log(`  writes resumed ${((resumed - killAt) / 1000).toFixed(1)} s after the kill`);
      await sleep(HOLD_BEFORE_RESTART_MS);

      const restartAt = Date.now();
      const restarted = await cluster(args.dir, 'restart', victim);
      const backMs = Date.now() - restartAt;
      if (restarted.code !== 0) throw new Error(`cluster restart ${victim} failed:\n${restarted.out}`);
      const back = (await statusOf(args.dir)).nodes.find((x) => x.name === victim)!;
      const backAs = `${back.role}${back.sync ? ', sync' : ''}`;
      log(`  ${victim} back in ${(backMs / 1000).toFixed(1)} s as ${backAs}${/pg_rewind|rewind/i.test(restarted.out) ? ' (rewound)' : ''}`);
      kills.push({ n, victim, kind, killedAt: new Date(killAt).toISOString(), wasSync, outageMs: null, longestGapMs: null, newPrimaryMs, newPrimary, backMs, backAs, load1 });
    }
    // Writes flowing on a whole cluster once more before the traffic stops (the last restart's node included).
    await waitUntil('a whole cluster at the end', HEALTHY_WAIT_MS, async () => (notReady(await statusOf(args.dir)) === null ? true : null));
    await sleep(FLOWING_BEFORE_KILL_MS);
  } catch (error) {
    failure = (error as Error).message;
    log(`the run stopped early: ${failure}`);
  }

  traffic.kill('SIGINT');
  const trafficCode = await trafficExit;
  closeSync(trafficFd);
  const runMs = Date.now() - startedAt;
  log(`traffic stopped (exit ${trafficCode}); ${readFileSync(trafficLog, 'utf8').split('\n').filter((l) => !l.startsWith('[')).join(' | ')}`);

  // The outages, from the whole journal.
  const acks = ackTimesOf(readFileSync(journalPath, 'utf8')).sort((a, b) => a - b);
  kills.forEach((k, i) => {
    k.outageMs = outageAround(acks, killTimes[i]!)?.ms ?? null;
    k.longestGapMs = longestGapAfter(acks, killTimes[i]!, killTimes[i + 1] ?? Date.now());
  });

  status = await statusOf(args.dir);
  const nodeNames = (kind: string) => status.nodes.filter((x) => x.kind === kind).map((x) => x.url!).join(',');
  const verify = spawnSync(process.execPath, [CLI, 'verify-consistency', '--url', status.api.join(','), '--query-url', status.query.join(','),
    '--nats', nodeNames('nats'), '--key', key, '--journal', journalPath, '--json'], { cwd: REPO, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  let verdict: Verdict | null = null;
  try {
    verdict = JSON.parse(verify.stdout) as Verdict;
  } catch {
    log(`verify-consistency gave no JSON (exit ${verify.status}): ${verify.stdout.slice(0, 2000)} ${verify.stderr.slice(0, 2000)}`);
  }
  const checkOf = (name: string) => verdict?.checks.find((c) => c.name === name);

  const primaryOutages = kills.filter((k) => k.kind === 'pg-primary' && k.outageMs !== null).map((k) => k.outageMs!);
  const byKind = Object.fromEntries(['pg-primary', 'pg-replica', 'etcd', 'nats', 'ledger-api'].map((kind) => {
    const o = kills.filter((k) => k.kind === kind && k.outageMs !== null).map((k) => k.outageMs!);
    return [kind, summarise(o)];
  }));
  const newPrimary = summarise(kills.filter((k) => k.newPrimaryMs !== null).map((k) => k.newPrimaryMs!));
  const summary = {
    startedAt: new Date(startedAt).toISOString(), runSeconds: Math.round(runMs / 1000), seed: args.seed, victims: args.victims, clients: args.clients,
    killsAsked: args.kills, killsDone: kills.length, stoppedEarly: failure, loadAverageAtKills: kills.map((k) => k.load1),
    primaryOutage: summarise(primaryOutages), outageByKind: byKind, newPrimary,
    acknowledged: acks.length,
    verify: verdict === null ? { ok: false, exit: verify.status } : {
      ok: verdict.ok, exit: verify.status, commands: verdict.commands, events: verdict.events, retried: verdict.retried,
      checks: verdict.checks.map((c) => ({ name: c.name, status: c.status, summary: c.summary, failures: c.failures.slice(0, 20) })),
    },
    kills,
  };
  const resultPath = join(outDir, `chaos-${stamp}.json`);
  writeFileSync(resultPath, `${JSON.stringify(summary, null, 2)}\n`);

  const s = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);
  console.log('');
  for (const line of markdownTable(kills)) console.log(line);
  console.log('');
  console.log(`primary kills: ${primaryOutages.length}; write outage p50 ${s(summary.primaryOutage.p50Ms)}, max ${s(summary.primaryOutage.maxMs)}, min ${s(summary.primaryOutage.minMs)}; ` +
    `new primary in status p50 ${s(newPrimary.p50Ms)}, max ${s(newPrimary.maxMs)}`);
  for (const [kind, o] of Object.entries(byKind)) if (o.kills > 0 && kind !== 'pg-primary') {
    const gaps = kills.filter((k) => k.kind === kind && k.longestGapMs !== null).map((k) => k.longestGapMs!);
    console.log(`${kind} kills: ${o.kills}; outage max ${s(o.maxMs)}; longest gap from a kill to the next: max ${s(gaps.length ? Math.max(...gaps) : null)}`);
  }
  console.log(`acknowledged ${acks.length} commands over ${(runMs / 1000).toFixed(0)} s; load average at the kills ${Math.min(...summary.loadAverageAtKills).toFixed(1)}-${Math.max(...summary.loadAverageAtKills).toFixed(1)}`);
  console.log(`acknowledged lost / doubled: ${checkOf('acknowledged_once')?.status === 'pass' ? '0 / 0' : 'see below'} (${checkOf('acknowledged_once')?.summary ?? 'not checked'})`);
  for (const c of verdict?.checks ?? []) {
    console.log(`${c.status.toUpperCase()} ${c.name}: ${c.summary}`);
    for (const f of c.failures.slice(0, 10)) console.log(`    - ${f}`);
  }
  console.log(`verify-consistency: ${verdict?.ok ? 'OK' : 'FAILED'} (exit ${verify.status}); results ${resultPath}`);

  if (startedByUs && !args.keep) {
    const downResult = await cluster(args.dir, 'down');
    log(`cluster down (exit ${downResult.code}): ${downResult.out.trim().split('\n').at(-1)}`);
  }
  return failure === null && verdict?.ok === true && verify.status === 0 ? 0 : 1;
}

main().then((code) => process.exit(code), (error: unknown) => {
  console.error(`chaos: ${(error as Error).stack ?? String(error)}`);
  process.exit(2);
});
