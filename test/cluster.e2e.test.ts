// Issue 12, items 1, 6, 8 and 9: the CI cluster test. `chronicle cluster up` starts a three-node stack on
// loopback (etcd ×3, PostgreSQL 15 under Patroni ×3 with strict synchronous replication, HAProxy, NATS
// JetStream ×3, two ledger-api, query-api, two relays, two read processors, the dashboard), and it keeps
// moving money when a node dies. ONE cluster lifetime, a few minutes:
// - `status --json` has the documented shape (every node with its kind, one primary and two replicas, one
//   synchronous; two API URLs and a query URL);
// - `chronicle simulate-traffic` (the real CLI, its journal in the temp dir) runs for the whole test;
// - (a) the primary is killed FROM THE CLUSTER PAGE in headless Chromium (Kill, then confirm): the page shows
//   the node down, a new primary, and its write rate above 0 again; during the no-primary window an API request
//   answers 503 (never 500) within the request timeout; /health says degraded with postgresNodes showing the
//   node down; no ledger process was restarted; the outage (last acknowledgement before → first after, from
//   the journal) is printed;
// - (b) one NATS server is SIGKILLed with the CLI: a relay's /health says the bus is degraded, writes and the
//   read model go on; both nodes are restarted (the old primary rejoins as a replica);
// - traffic stops; `verify-consistency` with every API URL, --query-url and --nats exits 0 (all 9 checks);
// - `down` leaves no process of the cluster running.
// Skips unless patroni, etcd, haproxy, nats-server, PostgreSQL 15 and Chromium are installed; fails instead
// of skipping under CHRONICLE_REQUIRE_SERVICES=1.
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/application/api-keys.js';
import { parseJournal, type JournalCommand } from '../src/cli/traffic/journal.js';
import { screenshotPath } from './support/screenshots.js';
import { expectEveryCheckPassed } from './support/consistency.js';
import { testRandom } from './support/seeded-random.js';
import { CLI_MAIN } from './support/cli-main.js';

const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const TOOLS = ['patroni', 'etcd', 'haproxy', 'nats-server', 'setpriv'];
const missing = [
  ...TOOLS.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0),
  ...(existsSync('/usr/lib/postgresql/15/bin/postgres') ? [] : ['PostgreSQL 15 (/usr/lib/postgresql/15/bin)']),
  ...(spawnSync('id', ['postgres']).status === 0 ? [] : ['the postgres user']),
  ...(existsSync(CHROMIUM) ? [] : [`Chromium (${CHROMIUM})`]),
];
if (REQUIRED && missing.length > 0) throw new Error(`the cluster test needs (CHRONICLE_REQUIRE_SERVICES=1) ${missing.join(', ')}: .ci/run installs them`);
if (REQUIRED && process.platform !== 'linux') throw new Error('the cluster launcher needs Linux');

const ADMIN_KEY = generateApiKey().key;
const AUTHORIZATION = `Bearer ${ADMIN_KEY}`;
/** Patroni's ttl is 20 s: a killed node's leader key expires after it, then a replica takes over. */
const FAILOVER_OUTAGE_MS_MAX = 45_000;
/** The ledger's REQUEST_TIMEOUT_MS default is far above this: a request in the no-primary window must answer well within it. */
const OUTAGE_REQUEST_MS_MAX = 15_000;

interface NodeStatus { name: string; kind: string; role: string; lagBytes: number | null; sync: boolean; pids: number[]; ports: Record<string, number> }
interface Status { api: string[]; query: string[]; nodes: NodeStatus[]; databaseUrl: string; readReplicaUrl: string; natsUrls: string[]; adminKeyFile: string }
interface ClusterJson { nodes: { name: string; kind: string; pid: number | null }[] }

describe.skipIf(missing.length > 0 || process.platform !== 'linux')('chronicle cluster: three nodes, one command, the primary killed from the Cluster page and a NATS server killed under traffic', () => {
  // PostgreSQL runs as the postgres user: it must be able to pass through the temp dir (0700 from mkdtemp).
  const parent = mkdtempSync(join(tmpdir(), 'chronicle-cluster-'));
  chmodSync(parent, 0o711);
  const dir = join(parent, 'c');
  const journal = join(parent, 'traffic.jsonl');
  let status: Status;
  let browser: Browser | undefined;
  let page: Page;
  let traffic: ChildProcess | undefined;
  let trafficExit: Promise<number | null>;
  let trafficOut = '';
  let upOut = '';
  /** Every pid any node ever had (from cluster.json and status), checked after down. */
  const everyPid = new Set<number>();

  const cluster = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI_MAIN, 'cluster', ...args, '--dir', dir], {
      cwd: REPO_ROOT, env: { ...process.env, CHRONICLE_BOOTSTRAP_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' }, maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
  const chronicle = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT, env: { ...process.env, CHRONICLE_KEY: ADMIN_KEY, LOG_LEVEL: 'warn' }, maxBuffer: 64 * 1024 * 1024,
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
  const nodeUrl = (name: string) => `http://127.0.0.1:${status.nodes.find((n) => n.name === name)!.ports['http']}`;
  const ledgerPids = () => Object.fromEntries(clusterFile().nodes.filter((n) => /^(api|query|relay|reader)-/.test(n.name)).map((n) => [n.name, n.pid]));

  const call = async (base: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: AUTHORIZATION, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    return { status: response.status, json: () => JSON.parse(text) as Record<string, unknown>, text };
  };
  const health = async (base: string) => {
    const answer = await call(base, '/health').catch(() => null);
    if (answer === null) return null;
    const body = answer.json() as { status?: string; components?: Record<string, Record<string, unknown>>; error?: { details?: { components?: Record<string, Record<string, unknown>> } } };
    return { http: answer.status, status: body.status ?? 'down', components: body.components ?? body.error?.details?.components ?? {} };
  };
  /** The traffic journal as written so far (the last line may be half written). */
  const journalSoFar = (): JournalCommand[] => {
    try {
      const text = readFileSync(journal, 'utf8');
      return parseJournal(text.slice(0, text.lastIndexOf('\n') + 1)).commands;
    } catch {
      return [];
    }
  };
  const acks = () => journalSoFar().filter((c) => c.outcome === 'acknowledged' && c.client >= 0);
  const acksAfter = (t: number) => acks().filter((c) => Date.parse(c.endedAt) > t).length;

  beforeAll(async () => {
    // The dashboard's static export: dashboard-1 serves it (built unless it matches the sources).
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'build-dashboard.mjs')], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    const started = Date.now();
    const result = await cluster('up');
    upOut = result.stdout;
    console.log(`[cluster] up took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (result.code !== 0) {
      const logs = join(dir, 'logs');
      const tails = existsSync(logs) ? readdirSync(logs).map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8').slice(-1500)}`).join('\n') : '';
      throw new Error(`cluster up failed (${result.code}):\n${result.stdout}\n${result.stderr}\n${tails}`);
    }
    expect(result.stdout).toMatch(/the cluster is up in/);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 400_000);

  afterAll(async () => {
    if (traffic && traffic.exitCode === null) traffic.kill('SIGKILL');
    await browser?.close();
    if (existsSync(join(dir, 'cluster.json'))) await cluster('down');
    if (process.env['CHRONICLE_TEST_KEEP_CLUSTER'] !== '1') rmSync(parent, { recursive: true, force: true });
  }, 120_000);

  it('up: status --json lists every node with its kind, one primary and two replicas (one synchronous); the dashboard URL is printed', async () => {
    status = await readStatus();
    const kinds = Object.fromEntries(status.nodes.map((n) => [n.name, n.kind]));
    expect(kinds).toStrictEqual({
      'etcd-1': 'etcd', 'etcd-2': 'etcd', 'etcd-3': 'etcd', 'pg-1': 'postgres', 'pg-2': 'postgres', 'pg-3': 'postgres',
      'nats-1': 'nats', 'nats-2': 'nats', 'nats-3': 'nats', haproxy: 'haproxy',
      'api-1': 'ledger-api', 'api-2': 'ledger-api', 'query-1': 'query-api', 'relay-1': 'relay', 'relay-2': 'relay',
      'reader-1': 'read-processor', 'reader-2': 'read-processor', 'dashboard-1': 'dashboard',
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
    expect(status.natsUrls).toHaveLength(3);
    expect(readFileSync(status.adminKeyFile, 'utf8').trim()).toBe(ADMIN_KEY);
    expect(upOut).toContain(`${nodeUrl('dashboard-1')}/cluster/`);
    // A second `up` on a running cluster says so and starts nothing; an unknown node name: exit 2.
    const again = await cluster('up');
    expect(again.stdout).toMatch(/already running/);
    const unknown = await cluster('kill', 'pg-9');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no node pg-9; the nodes: etcd-1, .*pg-1, .*reader-2/);
    // GET /cluster: managed, every node; the API answers 404 node_not_found for a name that is none.
    const view = (await call(status.api[0]!, '/cluster')).json() as { managed: boolean; nodes: { name: string; role: string }[]; postgres: { role: string }[]; nats: unknown };
    expect(view.managed).toBe(true);
    expect(view.nodes.map((n) => n.name).sort()).toStrictEqual(Object.keys(kinds).sort());
    expect(view.postgres.filter((n) => n.role === 'primary')).toHaveLength(1);
    const none = await call(status.api[0]!, '/cluster/nodes/pg-9/kill', {});
    expect([none.status, (none.json()['error'] as { code: string }).code]).toStrictEqual([404, 'node_not_found']);

    // Traffic for the rest of the test: the real CLI, its journal in the temp dir.
    traffic = spawn(process.execPath, [CLI_MAIN, 'simulate-traffic', '--url', status.api.join(','),
      '--clients', '4', '--seconds', '900', '--accounts', '6', '--journal', journal, '--seed', String(testRandom().int(1, 1e9))], {
      cwd: REPO_ROOT, env: { ...process.env, CHRONICLE_KEY: ADMIN_KEY }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    traffic.stdout!.on('data', (d) => (trafficOut += d));
    traffic.stderr!.on('data', (d) => (trafficOut += d));
    trafficExit = new Promise((resolve) => traffic!.once('exit', (code) => resolve(code)));
    await expect.poll(() => acks().length, { timeout: 60_000, interval: 250 }).toBeGreaterThan(30);
  }, 180_000);

  it('(a) the primary killed from the Cluster page: the page shows it down, a new primary and writes again; 503 (never 500) meanwhile; /health degraded', async () => {
    const before = ledgerPids();
    const primary = status.nodes.find((n) => n.kind === 'postgres' && n.role === 'primary')!.name;
    const context = await browser!.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript((key) => window.sessionStorage.setItem('chronicle.apiKey', key), ADMIN_KEY);
    page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${nodeUrl('dashboard-1')}/cluster/`);
    const row = (name: string) => page.locator(`[data-testid=node-row][data-node="${name}"]`);
    await expect.poll(() => row(primary).getAttribute('data-role'), { timeout: 30_000 }).toBe('primary');
    await expect.poll(async () => Number(await page.getByTestId('write-rate').textContent()), { timeout: 30_000 }).toBeGreaterThan(0);
    await page.getByRole('link', { name: 'Cluster' }).waitFor();
    await page.screenshot({ path: screenshotPath('cluster'), fullPage: false });

    await page.getByTestId(`kill-${primary}`).click();
    await page.getByTestId(`confirm-kill-${primary}`).click();
    await expect.poll(() => page.getByTestId('action-message').textContent(), { timeout: 20_000 }).toMatch(new RegExp(`${primary}: SIGKILL to \\d+ processes`));
    const killedAt = Date.now();

    // The no-primary window: a command answers 503 (never a 500, never a hang). A deposit to an account that
    // does not exist writes nothing whatever happens (404 once a primary answers).
    const during: number[] = [];
    let slowest = 0;
    for (let i = 0; i < 8; i += 1) {
      const t0 = Date.now();
      const answer = await call(status.api[i % 2]!, '/commands/deposit', { accountId: 'NO-SUCH-ACCOUNT', amount: '1' }, { 'idempotency-key': `probe-${i}` }).catch(() => null);
      slowest = Math.max(slowest, Date.now() - t0);
      during.push(answer?.status ?? 0);
      if (answer?.status === 503) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(during).toContain(503);
    expect(during.filter((s) => s === 500 || s === 0)).toStrictEqual([]);
    expect(slowest).toBeLessThan(OUTAGE_REQUEST_MS_MAX);

    // The page: the node down, a new primary, writes again.
    await expect.poll(() => row(primary).getAttribute('data-role'), { timeout: 30_000 }).toBe('down');
    await expect.poll(async () => page.getByTestId('primary').textContent(), { timeout: 90_000, interval: 1_000 }).toMatch(/^pg-\d$/);
    const newPrimary = await page.getByTestId('primary').textContent();
    expect(newPrimary).not.toBe(primary);
    await expect.poll(async () => Number(await page.getByTestId('write-rate').textContent()), { timeout: 60_000, interval: 1_000 }).toBeGreaterThan(0);
    await page.screenshot({ path: screenshotPath('cluster-failover'), fullPage: false });
    expect(pageErrors).toStrictEqual([]);

    await expect.poll(() => acksAfter(killedAt), { timeout: 90_000, interval: 500 }).toBeGreaterThan(20);
    const times = acks().map((c) => Date.parse(c.endedAt));
    const outageMs = Math.min(...times.filter((t) => t > killedAt)) - Math.max(...times.filter((t) => t <= killedAt));
    console.log(`[cluster] primary ${primary} killed from the Cluster page: write outage ${(outageMs / 1000).toFixed(1)} s (last ack before the kill -> first after, from the simulate-traffic journal); new primary ${newPrimary}; probes during the window answered ${during.join(', ')} (slowest ${slowest} ms)`);
    expect(outageMs).toBeLessThan(FAILOVER_OUTAGE_MS_MAX);

    // /health: degraded, with the database node down.
    await expect.poll(async () => {
      const h = await health(status.api[0]!);
      const nodes = (h?.components['postgresNodes']?.['nodes'] ?? []) as { name: string; role: string }[];
      return { status: h?.status, postgresNodes: h?.components['postgresNodes']?.['status'], killed: nodes.find((n) => n.name === primary || n.name.includes(String(status.nodes.find((x) => x.name === primary)!.ports['rest'])))?.role };
    }, { timeout: 30_000, interval: 1_000 }).toStrictEqual({ status: 'degraded', postgresNodes: 'degraded', killed: 'down' });

    const after = await readStatus();
    expect(after.nodes.find((n) => n.name === primary)!.role).toBe('down');
    expect(Object.values(pgRoles(after)).filter((r) => r === 'primary')).toHaveLength(1);
    // No ledger process was restarted: the same pids, all still running.
    expect(ledgerPids()).toStrictEqual(before);
    for (const n of after.nodes.filter((x) => /^(api|query|relay|reader)-/.test(x.name))) expect(['up', 'degraded'], n.name).toContain(n.role);
    (globalThis as { killedPrimary?: string }).killedPrimary = primary;
  }, 300_000);

  it('(b) one NATS server SIGKILLed: the bus is degraded, writes and the read model go on; both nodes restarted (the old primary as a replica)', async () => {
    const killed = await cluster('kill', 'nats-1');
    expect(killed.code, killed.stderr).toBe(0);
    const killedAt = Date.now();
    await expect.poll(async () => (await health(nodeUrl('relay-1')))?.components['bus']?.['status'], { timeout: 30_000, interval: 500 }).toBe('degraded');
    await expect.poll(() => acksAfter(killedAt), { timeout: 30_000 }).toBeGreaterThan(30);
    const position = Math.max(...acks().map((c) => c.globalPosition ?? 0));
    const account = acks().find((c) => c.body['accountId'] !== undefined)!.body['accountId']!;
    await expect.poll(async () => {
      const answer = await call(status.query[0]!, `/accounts/${account}/balance?minPosition=${position}&maxWaitMs=2000`).catch(() => null);
      return answer?.status === 200 ? (answer.json()['freshness'] as { status: string }).status : answer?.status;
    }, { timeout: 60_000, interval: 500 }).toBe('reached');
    console.log(`[cluster] nats-1 SIGKILLed: the read model reached the then-latest position ${((Date.now() - killedAt) / 1000).toFixed(1)} s after the kill`);

    const primary = (globalThis as { killedPrimary?: string }).killedPrimary!;
    const restarted = await cluster('restart', primary);
    expect(restarted.code, `${restarted.stdout}\n${restarted.stderr}`).toBe(0);
    expect(restarted.stdout).toMatch(new RegExp(`${primary} is back in .*: replica`));
    const nats = await cluster('restart', 'nats-1');
    expect(nats.code, `${nats.stdout}\n${nats.stderr}`).toBe(0);
    await expect.poll(async () => pgRoles(await readStatus())[primary], { timeout: 30_000, interval: 1_000 }).toBe('replica');
    await expect.poll(async () => (await health(nodeUrl('relay-1')))?.components['bus']?.['status'], { timeout: 60_000, interval: 1_000 }).toBe('up');
    await expect.poll(() => page.locator(`[data-testid=node-row][data-node="${primary}"]`).getAttribute('data-role'), { timeout: 30_000 }).toBe('replica');
    const n = acks().length;
    await expect.poll(() => acks().length, { timeout: 30_000 }).toBeGreaterThan(n + 20);
  }, 240_000);

  it('traffic stops; verify-consistency with every API, the query API and NATS: all 9 checks pass', async () => {
    traffic!.kill('SIGINT');
    expect(await trafficExit).toBe(130);
    const written = parseJournal(readFileSync(journal, 'utf8'));
    expect(written.commands.filter((c) => c.status === 500)).toStrictEqual([]);
    console.log(trafficOut.split('\n').slice(-6).join('\n'));
    const run = await chronicle('verify-consistency', '--url', status.api.join(','), '--query-url', status.query.join(','),
      '--nats', status.natsUrls.join(','), '--journal', journal, '--key', ADMIN_KEY);
    console.log(run.stdout);
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    expectEveryCheckPassed(run.stdout);
  }, 240_000);

  it('down: nothing of the cluster is left running (every recorded pid), and the data stays', async () => {
    await browser?.close();
    browser = undefined;
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
