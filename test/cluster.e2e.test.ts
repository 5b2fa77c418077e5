// Issue 12, items 1 and 9: `chronicle cluster up|status|kill|restart|down` starts a three-node stack on
// loopback (etcd ×3, PostgreSQL 15 under Patroni ×3 with strict synchronous replication, HAProxy, NATS
// JetStream ×3, two ledger-api, query-api, two relays, two read processors), and it keeps moving money when a
// node dies.
//
// How it is shown. The real CLI (`node --import tsx src/cli/main.ts cluster … --dir <temp dir>`) starts a
// cluster of the test's own (every port OS-assigned; the shared servers on 5432 and 4222 are never touched).
// Then:
// - `status --json` has the documented shape: every node listed with its kind, one primary and two replicas
//   (one of them the synchronous standby), two API URLs and a query URL; commands through both APIs succeed;
// - under a small write loop (4 clients, 1..1000-unit deposits, each retried with its own Idempotency-Key on a
//   503 or a broken connection, alternating between the two APIs), the primary node is SIGKILLed (Patroni and
//   every postgres process): writes resume with no ledger process restarted (the same pids, all alive), and
//   the outage (last acknowledgement before the kill → first after) is printed and bounded;
// - `cluster restart` of the old primary brings it back as a replica (pg_rewind when needed);
// - one NATS server is SIGKILLed: writes go on and the read model keeps up;
// - every acknowledged deposit is in the balances, read on query-api at the last acknowledged position, and
//   each exactly once: the balance equals the sum of the amounts acknowledged (an independent model);
// - `down` leaves no process of the cluster running: every pid ever recorded is gone, and no process on
//   the machine carries the cluster's mark.
// Skips unless patroni, etcd, haproxy, nats-server and PostgreSQL 15 are installed; fails instead of skipping
// under CHRONICLE_REQUIRE_SERVICES=1.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/application/api-keys.js';
import { testRandom } from './support/seeded-random.js';

const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOOLS = ['patroni', 'etcd', 'haproxy', 'nats-server', 'setpriv'];
const missing = [
  ...TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0),
  ...(existsSync('/usr/lib/postgresql/15/bin/postgres') ? [] : ['PostgreSQL 15 (/usr/lib/postgresql/15/bin)']),
  ...(spawnSync('id', ['postgres']).status === 0 ? [] : ['the postgres user']),
];
if (REQUIRED && missing.length > 0) throw new Error(`the cluster test needs (CHRONICLE_REQUIRE_SERVICES=1) ${missing.join(', ')}: .ci/run installs them`);
if (REQUIRED && process.platform !== 'linux') throw new Error('the cluster launcher needs Linux');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ADMIN_KEY = generateApiKey().key;
const AUTHORIZATION = `Bearer ${ADMIN_KEY}`;
const ACCOUNTS = ['HA1', 'HA2', 'HA3', 'HA4'];
const CLIENTS = 4;
/** Patroni's ttl is 20 s: a killed node's leader key expires after it, then a replica takes over. */
const FAILOVER_OUTAGE_MS_MAX = 45_000;

interface NodeStatus { name: string; kind: string; role: string; lagBytes: number | null; sync: boolean; pids: number[] }
interface Status { api: string[]; query: string[]; nodes: NodeStatus[]; databaseUrl: string; readReplicaUrl: string; natsUrls: string[]; adminKeyFile: string }
interface ClusterJson { nodes: { name: string; kind: string; pid: number | null }[] }

describe.skipIf(missing.length > 0 || process.platform !== 'linux')('chronicle cluster: three nodes, one command, a node killed under writes', () => {
  // PostgreSQL runs as the postgres user: it must be able to pass through the temp dir (0700 from mkdtemp).
  const parent = mkdtempSync(join(tmpdir(), 'chronicle-cluster-'));
  chmodSync(parent, 0o711);
  const dir = join(parent, 'c');
  let upMs = 0;
  let status: Status;
  /** Every pid any node ever had (from cluster.json and status), checked after down. */
  const everyPid = new Set<number>();

  const cluster = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'cluster', ...args, '--dir', dir], {
      cwd: REPO_ROOT, env: { ...process.env, CHRONICLE_BOOTSTRAP_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' }, maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
  const readStatus = async (): Promise<Status> => {
    const result = await cluster('status', '--json');
    expect(result.code, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout) as Status;
    for (const node of parsed.nodes) for (const pid of node.pids) everyPid.add(pid);
    return parsed;
  };
  const clusterFile = (): ClusterJson => JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
  const pgRoles = (s: Status) => Object.fromEntries(s.nodes.filter((n) => n.kind === 'postgres').map((n) => [n.name, n.role]));

  const call = async (base: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: AUTHORIZATION, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    return { status: response.status, json: () => JSON.parse(text) as Record<string, unknown>, text };
  };

  beforeAll(async () => {
    const started = Date.now();
    const result = await cluster('up');
    upMs = Date.now() - started;
    console.log(`[cluster] up took ${(upMs / 1000).toFixed(1)} s`);
    if (result.code !== 0) {
      const logs = join(dir, 'logs');
      const tails = existsSync(logs) ? readdirSync(logs).map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8').slice(-1500)}`).join('\n') : '';
      throw new Error(`cluster up failed (${result.code}):\n${result.stdout}\n${result.stderr}\n${tails}`);
    }
    expect(result.stdout).toMatch(/the cluster is up in/);
  }, 300_000);

  afterAll(async () => {
    if (existsSync(join(dir, 'cluster.json'))) await cluster('down');
    if (process.env['CHRONICLE_TEST_KEEP_CLUSTER'] !== '1') rmSync(parent, { recursive: true, force: true });
  }, 120_000);

  // The write loop's independent model: what was acknowledged, per account, and when.
  const acked = new Map<string, bigint>(ACCOUNTS.map((a) => [a, 0n]));
  const ackTimes: number[] = [];
  const unexpected: string[] = [];
  let lastPosition = 0;
  let writing = false;
  let loops: Promise<void>[] = [];
  const random = testRandom();

  const startWrites = () => {
    writing = true;
    loops = Array.from({ length: CLIENTS }, (_, n) => (async () => {
      const rng = random.fork();
      for (let i = 0; writing; i += 1) {
        const accountId = rng.pick(ACCOUNTS);
        const amount = BigInt(rng.int(1, 1000));
        const key = `ha-${n}-${i}-${rng.int(0, 1e9)}`;
        for (let attempt = 0; ; attempt += 1) {
          const base = status.api[(n + i + attempt) % status.api.length]!;
          let answer: Awaited<ReturnType<typeof call>> | null = null;
          try {
            answer = await call(base, '/commands/deposit', { accountId, amount: amount.toString() }, { 'idempotency-key': key });
          } catch {
            // A broken connection or a timeout: the outcome is unknown; the same key finds out.
          }
          if (answer?.status === 201) {
            acked.set(accountId, acked.get(accountId)! + amount);
            ackTimes.push(Date.now());
            lastPosition = Math.max(lastPosition, Number(answer.json()['globalPosition']));
            break;
          }
          if (answer !== null && answer.status !== 503) unexpected.push(`${answer.status} ${answer.text.slice(0, 200)}`);
          await sleep(200);
        }
      }
    })());
  };
  const stopWrites = async () => {
    writing = false;
    await Promise.all(loops);
  };
  const acksAfter = (t: number) => ackTimes.filter((x) => x > t).length;

  it('up: status --json lists every node with its kind, one primary and two replicas (one synchronous); both APIs take commands', async () => {
    status = await readStatus();
    const kinds = Object.fromEntries(status.nodes.map((n) => [n.name, n.kind]));
    expect(kinds).toStrictEqual({
      'etcd-1': 'etcd', 'etcd-2': 'etcd', 'etcd-3': 'etcd', 'pg-1': 'postgres', 'pg-2': 'postgres', 'pg-3': 'postgres',
      'nats-1': 'nats', 'nats-2': 'nats', 'nats-3': 'nats', haproxy: 'haproxy',
      'api-1': 'ledger-api', 'api-2': 'ledger-api', 'query-1': 'query-api', 'relay-1': 'relay', 'relay-2': 'relay',
      'reader-1': 'read-processor', 'reader-2': 'read-processor',
    });
    const pgNodes = status.nodes.filter((n) => n.kind === 'postgres');
    expect(pgNodes.filter((n) => n.role === 'primary')).toHaveLength(1);
    expect(pgNodes.filter((n) => n.role === 'replica')).toHaveLength(2);
    expect(pgNodes.filter((n) => n.sync)).toHaveLength(1);
    for (const n of pgNodes) expect(typeof n.lagBytes === 'number' || n.lagBytes === null).toBe(true);
    expect(status.nodes.filter((n) => n.kind !== 'postgres').every((n) => n.role === 'up')).toBe(true);
    expect(status.api).toHaveLength(2);
    expect(status.query).toHaveLength(1);
    for (const url of [...status.api, ...status.query]) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(status.databaseUrl).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/chronicle$/);
    expect(status.readReplicaUrl).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/chronicle$/);
    expect(status.natsUrls).toHaveLength(3);
    expect(readFileSync(status.adminKeyFile, 'utf8').trim()).toBe(ADMIN_KEY);

    for (const [i, accountId] of ACCOUNTS.entries()) {
      const answer = await call(status.api[i % 2]!, '/commands/create-account', { accountId, owner: 'HA', currency: 'EUR' }, { 'idempotency-key': `open-${accountId}` });
      expect(answer.status, answer.text).toBe(201);
    }
    // A second `up` on a running cluster says so and starts nothing.
    const again = await cluster('up');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already running/);
    // An unknown node name: one line naming the nodes, exit 2.
    const unknown = await cluster('kill', 'pg-9');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no node pg-9; the nodes: etcd-1, .*pg-1, .*reader-2/);
  }, 120_000);

  it('SIGKILL of the primary node under writes: writes resume on a new primary with no ledger process restarted; restart brings it back as a replica', async () => {
    const ledgerPids = () => Object.fromEntries(clusterFile().nodes.filter((n) => /^(api|query|relay|reader)-/.test(n.name)).map((n) => [n.name, n.pid]));
    const before = ledgerPids();
    const primary = status.nodes.find((n) => n.kind === 'postgres' && n.role === 'primary')!.name;
    startWrites();
    await expect.poll(() => ackTimes.length, { timeout: 20_000 }).toBeGreaterThan(20);
    const killed = await cluster('kill', primary);
    const killedAt = Date.now();
    expect(killed.code, killed.stderr).toBe(0);
    expect(killed.stdout).toMatch(new RegExp(`^${primary}: SIGKILL to \\d+ processes`));
    await expect.poll(() => acksAfter(killedAt), { timeout: 90_000, interval: 500 }).toBeGreaterThan(20);
    const lastBefore = Math.max(...ackTimes.filter((t) => t <= killedAt));
    const firstAfter = Math.min(...ackTimes.filter((t) => t > killedAt));
    const outageMs = firstAfter - lastBefore;
    console.log(`[cluster] primary ${primary} SIGKILLed: write outage ${(outageMs / 1000).toFixed(1)} s (last ack before the kill -> first after)`);
    expect(outageMs).toBeLessThan(FAILOVER_OUTAGE_MS_MAX);

    const after = await readStatus();
    expect(after.nodes.find((n) => n.name === primary)!.role).toBe('down');
    expect(Object.values(pgRoles(after)).filter((r) => r === 'primary')).toHaveLength(1);
    // No ledger process was restarted: the same pids, all still running.
    expect(ledgerPids()).toStrictEqual(before);
    for (const n of after.nodes.filter((x) => /^(api|query|relay|reader)-/.test(x.name))) expect(n.role, n.name).toBe('up');

    const restarted = await cluster('restart', primary);
    expect(restarted.code, `${restarted.stdout}\n${restarted.stderr}`).toBe(0);
    expect(restarted.stdout).toMatch(new RegExp(`${primary} is back in .*: replica`));
    await expect.poll(async () => pgRoles(await readStatus())[primary], { timeout: 30_000, interval: 1_000 }).toBe('replica');
    const n = ackTimes.length;
    await expect.poll(() => ackTimes.length, { timeout: 20_000 }).toBeGreaterThan(n + 20);
  }, 240_000);

  it('SIGKILL of one NATS server: writes and the read model go on', async () => {
    const killed = await cluster('kill', 'nats-1');
    expect(killed.code, killed.stderr).toBe(0);
    const killedAt = Date.now();
    await expect.poll(() => acksAfter(killedAt), { timeout: 30_000 }).toBeGreaterThan(50);
    const writesGoOnMs = Date.now() - killedAt;
    // The read model follows through the two servers left: a balance at the latest acknowledged position.
    const position = lastPosition;
    await expect.poll(async () => {
      const answer = await call(status.query[0]!, `/accounts/${ACCOUNTS[0]}/balance?minPosition=${position}&maxWaitMs=2000`).catch(() => null);
      return answer?.status === 200 ? (answer.json()['freshness'] as { status: string }).status : answer?.status;
    }, { timeout: 60_000, interval: 500 }).toBe('reached');
    console.log(`[cluster] nats-1 SIGKILLed: 50 writes acknowledged after ${(writesGoOnMs / 1000).toFixed(1)} s; the read model reached the then-latest position ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);
    const s = await readStatus();
    expect(s.nodes.find((n) => n.name === 'nats-1')!.role).toBe('down');
    expect(s.nodes.filter((n) => /^(relay|reader)-/.test(n.name)).every((n) => n.role === 'up')).toBe(true);
  }, 120_000);

  it('every acknowledged deposit is in the balances exactly once (sum of what was acknowledged, per account)', async () => {
    await stopWrites();
    expect(unexpected).toStrictEqual([]);
    const position = lastPosition;
    for (const accountId of ACCOUNTS) {
      await expect.poll(async () => {
        const answer = await call(status.query[0]!, `/accounts/${accountId}/balance?minPosition=${position}&maxWaitMs=2000`).catch(() => null);
        if (answer?.status !== 200) return answer?.status;
        const body = answer.json();
        return { balance: body['balance'], freshness: (body['freshness'] as { status: string }).status };
      }, { timeout: 60_000, interval: 500 }).toStrictEqual({ balance: acked.get(accountId)!.toString(), freshness: 'reached' });
    }
    console.log(`[cluster] ${ackTimes.length} deposits acknowledged, every one in the balances once`);
  }, 120_000);

  it('down: nothing of the cluster is left running (every recorded pid), and the data stays', async () => {
    for (const node of clusterFile().nodes) if (node.pid !== null) everyPid.add(node.pid);
    await readStatus();
    const result = await cluster('down');
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/nothing of it is running/);
    const alive = (pid: number) => {
      try {
        return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    expect([...everyPid].filter(alive)).toStrictEqual([]);
    const marked = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/environ`, 'latin1').includes(`CHRONICLE_CLUSTER_NODE=${dir}#`) || readFileSync(`/proc/${p}/cmdline`, 'latin1').includes(`${dir}/`);
      } catch {
        return false;
      }
    });
    expect(marked).toStrictEqual([]);
    expect(existsSync(join(dir, 'pg-1', 'data', 'PG_VERSION'))).toBe(true);
  }, 120_000);
});
