// `chronicle cluster up|status|kill|restart|down [--dir D]`: a three-node high-availability stack on loopback
// (README, "High availability"): etcd ×3, PostgreSQL 15 under Patroni ×3 (synchronous, strict), HAProxy,
// NATS JetStream ×3, and the ledger's processes over them. An operator tool, not part of the ledger's layers.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { chosenKeyProblem, generateApiKey } from '../../application/api-keys.js';
import { generateSigner } from '../../adapters/audit/signing-key.js';
import {
  CLUSTER_FILE, CLUSTER_FILE_VERSION, PG_DATABASE, haproxyConfig, natsConfig, nodeByName, patroniConfig, planCluster, portsTaken,
  type ClusterFile, type ClusterNode, type LedgerRunner, type NodeKind,
} from './cluster-spec.js';
import { clusterStatus, dashboardAnswers, etcdHealthy, isLedgerKind, ledgerHealthy, natsState, notReady, patroniState, primaryAcceptsSql, type ClusterStatus } from './cluster-probes.js';
import { alive, killNode, nodeProcesses, processTable, spawnNode, stopNode } from './node-processes.js';

export const CLUSTER_USAGE = `  cluster up [--dir D]          a three-node HA stack in the background: etcd x3, PostgreSQL x3 (Patroni,
                                synchronous), HAProxy, NATS JetStream x3, and the ledger's processes on top;
                                returns once every node answers (D: <CHRONICLE_DATA_DIR>/cluster)
  cluster status [--dir D] [--json]   every node: role (primary/replica/down), lag, synchronous standby
  cluster kill <name> [--dir D]       SIGKILL every process of one node (pg-2, nats-1, api-1, ...)
  cluster restart <name> [--dir D]    start that node again with the same configuration
  cluster down [--dir D]        stop everything (data stays in D; up brings it back)`;

const USAGE = `usage: chronicle cluster <up|status|kill|restart|down> [name] [--dir D] [--json]

${CLUSTER_USAGE}`;

/** Bounds: how long `up` and `restart` wait for the nodes to answer, and `down` for a node to stop before SIGKILL. */
const UP_TIMEOUT_MS = 180_000;
const RESTART_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = { postgres: 30_000, other: 10_000 } as const;
const POLL_MS = 250;
const LEDGER_START_RETRIES = 2;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Args {
  sub: string;
  name: string | undefined;
  dir: string;
  json: boolean;
  help: boolean;
}

function parseArgs(argv: string[], dataDir: string): Args {
  let dir = join(dataDir, 'cluster');
  let json = false;
  let help = false;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === '--dir') {
      const value = argv[++i];
      if (value === undefined || value === '') throw new UsageError('--dir needs a folder');
      dir = value;
    } else if (arg.startsWith('--dir=')) dir = arg.slice('--dir='.length);
    else if (arg === '--json') json = true;
    else if (arg === '--help' || arg === '-h') help = true;
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  const [sub = '', name, ...extra] = positional;
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
  return { sub, name, dir: resolve(dir), json, help };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** How this launcher was run is how it runs the ledger: compiled (node dist/cli/main.js) or from source (tsx). */
function ledgerRunner(): LedgerRunner {
  const here = fileURLToPath(import.meta.url);
  const repo = fileURLToPath(new URL('../../../', import.meta.url));
  return here.endsWith('.ts')
    ? { argv: [process.execPath, '--import', 'tsx', join(repo, 'src/cli/main.ts')], cwd: repo }
    : { argv: [process.execPath, join(repo, 'dist/cli/main.js')], cwd: repo };
}

function readClusterFile(dir: string): ClusterFile | null {
  const path = join(dir, CLUSTER_FILE);
  if (!existsSync(path)) return null;
  const file = JSON.parse(readFileSync(path, 'utf8')) as ClusterFile;
  if (file.version !== CLUSTER_FILE_VERSION) throw new UsageError(`${path}: version ${file.version}, this chronicle reads ${CLUSTER_FILE_VERSION}`);
  return file;
}

/** Atomically (rename), mode 0600: it holds the database passwords. */
function writeClusterFile(file: ClusterFile): void {
  const path = join(file.dir, CLUSTER_FILE);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function requireClusterFile(dir: string): ClusterFile {
  const file = readClusterFile(dir);
  if (file === null) throw new UsageError(`no cluster in ${dir} (start one with: chronicle cluster up --dir ${dir})`);
  return file;
}

function requireNode(file: ClusterFile, name: string | undefined): ClusterNode {
  const node = name === undefined ? undefined : nodeByName(file, name);
  if (node === undefined) {
    throw new UsageError(`${name === undefined ? 'a node name is needed' : `no node ${name}`}; the nodes: ${file.nodes.map((n) => n.name).join(', ')}`);
  }
  return node;
}

function userIds(user: string): { uid: number; gid: number } {
  const run = (flag: string) => Number(spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim());
  const uid = run('-u');
  const gid = run('-g');
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || spawnSync('id', [user]).status !== 0) throw new UsageError(`no user ${user} on this machine (PostgreSQL runs as it)`);
  return { uid, gid };
}

/** Every node's folders and generated configuration; pg folders owned by postgres (PostgreSQL refuses root). */
function prepareFiles(file: ClusterFile): void {
  mkdirSync(join(file.dir, 'logs'), { recursive: true });
  const postgres = userIds('postgres');
  for (const node of file.nodes) {
    mkdirSync(node.home, { recursive: true, mode: 0o700 });
    if (node.kind === 'postgres') {
      chownSync(node.home, postgres.uid, postgres.gid);
      chmodSync(node.home, 0o700);
      writeFileSync(join(node.home, 'patroni.yml'), patroniConfig(file, node), { mode: 0o600 });
      chownSync(join(node.home, 'patroni.yml'), postgres.uid, postgres.gid);
    }
    if (node.kind === 'nats') writeFileSync(join(node.home, 'nats.conf'), natsConfig(file, node));
    if (node.kind === 'haproxy') writeFileSync(join(node.home, 'haproxy.cfg'), haproxyConfig(file, node));
  }
  // PostgreSQL (as postgres) must reach its folder through the cluster folder and every parent of it.
  const reach = spawnSync('setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', 'test', '-w', file.nodes.find((n) => n.kind === 'postgres')!.home]);
  if (reach.status !== 0) {
    throw new UsageError(`the postgres user cannot reach ${file.dir}: make it and every folder above it traversable (chmod o+x), or choose another --dir`);
  }
}

/** The admin key the API processes bootstrap with: CHRONICLE_BOOTSTRAP_KEY, else the one kept in the dir, else a new one (printed once). */
function adminKey(file: ClusterFile, out: (line: string) => void): string {
  const fromEnv = process.env['CHRONICLE_BOOTSTRAP_KEY'] || undefined;
  const stored = existsSync(file.adminKeyFile) ? readFileSync(file.adminKeyFile, 'utf8').trim() : undefined;
  if (fromEnv !== undefined) {
    const problem = chosenKeyProblem(fromEnv);
    if (problem) throw new UsageError(`CHRONICLE_BOOTSTRAP_KEY ${problem}`);
    if (stored !== undefined && stored !== fromEnv) {
      out(`note: this cluster was bootstrapped with the key in ${file.adminKeyFile}; CHRONICLE_BOOTSTRAP_KEY only counts on an empty database`);
      return stored;
    }
    if (stored === undefined) writeFileSync(file.adminKeyFile, `${fromEnv}\n`, { mode: 0o600 });
    return fromEnv;
  }
  if (stored !== undefined) return stored;
  const { key } = generateApiKey();
  writeFileSync(file.adminKeyFile, `${key}\n`, { mode: 0o600 });
  out(`
================================================================================
No CHRONICLE_BOOTSTRAP_KEY was set, so the cluster's admin API key was
generated. It is shown this once and kept (mode 0600) in
${file.adminKeyFile}:

    ${key}

Send it as "Authorization: Bearer <key>".
================================================================================
`);
  return key;
}

function ensureSigningKey(file: ClusterFile): void {
  if (!existsSync(file.signingKeyFile)) writeFileSync(file.signingKeyFile, generateSigner().pem, { mode: 0o600, flag: 'wx' });
}

async function startNode(file: ClusterFile, node: ClusterNode, secrets: Record<string, string>): Promise<void> {
  const taken = await portsTaken(node);
  if (taken.length > 0) {
    throw new Error(`${node.name}: port ${taken.join(', ')} is taken by another process; this cluster's ports were chosen at its first up and are kept (see ${join(file.dir, CLUSTER_FILE)})`);
  }
  node.pid = await spawnNode(file, node, secrets);
  node.startedAt = new Date().toISOString();
  writeClusterFile(file);
}

/** Polls `check` until it answers null (ready) or the deadline; throws with the last reason. */
async function waitFor(what: string, deadline: number, check: () => Promise<string | null>): Promise<void> {
  let reason: string | null = 'not checked yet';
  while (Date.now() < deadline) {
    reason = await check();
    if (reason === null) return;
    await sleep(POLL_MS);
  }
  throw new Error(`${what}: not ready in time (${reason})`);
}

/** Whether one node answers as it should (for restart); null when it does. */
async function nodeNotReady(file: ClusterFile, node: ClusterNode): Promise<string | null> {
  if (nodeProcesses(file, node).length === 0) return `${node.name} is not running (see ${node.log})`;
  switch (node.kind) {
    case 'etcd':
      return (await etcdHealthy(node)) ? null : `${node.name} not healthy`;
    case 'postgres': {
      const member = (await patroniState(file)).nodes[ofKind(file, 'postgres').indexOf(node)];
      return member !== undefined && member.role !== 'down' ? null : `${node.name}: ${member?.state ?? 'not answering'}`;
    }
    case 'nats': {
      const state = await natsState(node);
      return state.up && state.metaLeader !== null ? null : `${node.name}: ${state.up ? 'no JetStream meta leader' : 'not answering'}`;
    }
    case 'dashboard':
      return (await dashboardAnswers(node)) ? null : `${node.name}: its first page does not answer 200`;
    case 'haproxy':
      return (await primaryAcceptsSql(file)) ? null : 'HAProxy primary port does not reach a primary';
    default:
      return (await ledgerHealthy(node)) ? null : `${node.name} /health not 200`;
  }
}

/** The dashboard node runs the static export: started only when it is built. */
const dashboardBuilt = (node: ClusterNode): boolean => existsSync(join(node.cwd ?? '', 'dashboard', 'out', 'index.html'));

const ofKind = (file: ClusterFile, ...kinds: NodeKind[]) => file.nodes.filter((n) => kinds.includes(n.kind));

async function createDatabase(file: ClusterFile): Promise<void> {
  const url = new URL(file.databaseUrl);
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [PG_DATABASE]);
    if (rowCount === 0) await client.query(`create database ${PG_DATABASE}`);
  } finally {
    await client.end().catch(() => {});
  }
}

async function up(args: Args, out: (line: string) => void): Promise<number> {
  const startedMs = Date.now();
  mkdirSync(args.dir, { recursive: true });
  // PostgreSQL runs as postgres: it must be able to pass through the cluster folder (not list it).
  const mode = statSync(args.dir).mode & 0o777;
  if ((mode & 0o001) === 0) chmodSync(args.dir, mode | 0o011);
  let file = readClusterFile(args.dir);
  if (file !== null) {
    const f = file;
    const table = processTable();
    const stopped = file.nodes.filter((n) => nodeProcesses(f, n, table).length === 0 && (n.kind !== 'dashboard' || dashboardBuilt(n)));
    if (stopped.length === 0) {
      out(`the cluster in ${args.dir} is already running`);
      printStatus(await clusterStatus(file), args.json, out);
      return 0;
    }
    out(`starting the cluster in ${args.dir} again from its data (${stopped.length} of ${file.nodes.length} nodes not running)`);
  } else {
    file = await planCluster(args.dir, ledgerRunner());
    writeClusterFile(file);
    out(`a new cluster in ${args.dir} (id ${file.id})`);
  }
  const cluster = file;
  prepareFiles(cluster);
  const keyGenerated = !existsSync(cluster.adminKeyFile) && !process.env['CHRONICLE_BOOTSTRAP_KEY'];
  const secrets = { 'admin-key': adminKey(cluster, out) };
  ensureSigningKey(cluster);
  const deadline = startedMs + UP_TIMEOUT_MS;
  const startAll = async (nodes: ClusterNode[]) => {
    for (const node of nodes) if (nodeProcesses(cluster, node).length === 0) await startNode(cluster, node, secrets);
  };
  try {
    await startAll(ofKind(cluster, 'etcd'));
    await waitFor('etcd', deadline, async () => {
      const sick = [];
      for (const node of ofKind(cluster, 'etcd')) if (!(await etcdHealthy(node))) sick.push(node.name);
      return sick.length === 0 ? null : `not healthy: ${sick.join(', ')}`;
    });
    out(`etcd: 3 members healthy (${seconds(Date.now() - startedMs)})`);
    await startAll(ofKind(cluster, 'postgres', 'nats', 'haproxy'));
    await waitFor('PostgreSQL (Patroni)', deadline, async () => {
      const state = await patroniState(cluster);
      return state.healthy ? null : state.nodes.map((n) => `${n.name} ${n.role}${n.sync ? ' (sync)' : ''} ${n.state ?? 'not answering'}`).join(', ');
    });
    out(`PostgreSQL: a primary and two replicas, one synchronous (${seconds(Date.now() - startedMs)})`);
    await waitFor('HAProxy', deadline, async () => ((await primaryAcceptsSql(cluster)) ? null : 'its primary port does not reach a primary yet'));
    await createDatabase(cluster);
    await waitFor('NATS', deadline, async () => {
      const states = await Promise.all(ofKind(cluster, 'nats').map((n) => natsState(n)));
      return states.every((s) => s.up && s.metaLeader !== null && s.clusterSize === 3) ? null : 'JetStream cluster not formed yet';
    });
    out(`HAProxy and NATS (JetStream meta leader elected) up (${seconds(Date.now() - startedMs)})`);
    // The first writer alone first: it migrates the schema and stores the admin key; then the rest together.
    // A ledger process that exits while the cluster settles (say, JetStream still electing for longer than its
    // start-up retries) is started again, a bounded number of times, then `up` fails at once naming its log.
    const [first, ...rest] = ofKind(cluster, 'ledger-api', 'query-api', 'relay', 'read-processor');
    const starts = new Map<string, number>();
    const waitLedger = async (nodes: ClusterNode[]) => {
      await startAll(nodes);
      await waitFor('the ledger processes', deadline, async () => {
        for (const node of nodes) {
          if (nodeProcesses(cluster, node).length === 0) {
            const n = (starts.get(node.name) ?? 0) + 1;
            if (n > LEDGER_START_RETRIES) throw new Error(`${node.name} exited during start ${n} times; see ${node.log}`);
            starts.set(node.name, n);
            out(`${node.name} exited during start (see ${node.log}); starting it again`);
            await startNode(cluster, node, secrets);
            return `${node.name} starting again`;
          }
          const reason = await nodeNotReady(cluster, node);
          if (reason !== null) return reason;
        }
        return null;
      });
    };
    await waitLedger([first!]);
    await waitLedger(rest);
    // The dashboard, when it is built (a checkout run from source may not be: npm run build).
    const dashboardNode = ofKind(cluster, 'dashboard')[0];
    const built = dashboardNode !== undefined && dashboardBuilt(dashboardNode);
    if (dashboardNode !== undefined && built) {
      await startAll([dashboardNode]);
      await waitFor('the dashboard', deadline, () => nodeNotReady(cluster, dashboardNode));
    } else if (dashboardNode !== undefined) {
      out(`note: the dashboard is not built (${join(dashboardNode.cwd ?? '', 'dashboard', 'out')} is missing): dashboard-1 is not started. Build it (npm run build) and run chronicle cluster restart dashboard-1 --dir ${args.dir}`);
    }
    const status = await clusterStatus(cluster);
    const reason = notReady(status, built ? [] : ['dashboard-1']);
    if (reason !== null) throw new Error(reason);
    out(`the cluster is up in ${seconds(Date.now() - startedMs)}`);
    printStatus(status, args.json, out);
    out(`
Writes are synchronous and strict: every acknowledged commit is on two PostgreSQL nodes; with both replicas
down, writes stop (503) rather than silently going asynchronous.
Admin key: ${cluster.adminKeyFile}. Watch: chronicle cluster status --dir ${args.dir}${dashboardNode !== undefined && built ? `
Dashboard (its Cluster page shows every node, and kills or restarts them): http://127.0.0.1:${dashboardNode.ports['http']}/cluster/${keyGenerated
    ? `
open it signed in with the admin key (this link holds the key: keep it to yourself):
    http://127.0.0.1:${dashboardNode.ports['http']}/cluster/#key=${secrets['admin-key']}`
    : ` (sign in with the admin key, or open .../cluster/#key=<the key in ${cluster.adminKeyFile}>)`}` : ''}
Kill a node: chronicle cluster kill pg-1 --dir ${args.dir}; bring it back: chronicle cluster restart pg-1 --dir ${args.dir}`);
    return 0;
  } catch (error) {
    out(`chronicle cluster up: ${(error as Error).message}`);
    out(`the nodes started so far keep running; logs in ${join(args.dir, 'logs')}; stop them with: chronicle cluster down --dir ${args.dir}`);
    return 1;
  }
}

function printStatus(status: ClusterStatus, json: boolean, out: (line: string) => void): void {
  if (json) {
    out(JSON.stringify(status, null, 2));
    return;
  }
  const rows = status.nodes.map((n) => [
    n.name, n.kind, n.role, n.lagBytes === null ? '-' : String(n.lagBytes), n.sync ? 'sync' : '', n.pids.length === 0 ? '-' : n.pids.slice(0, 3).join(',') + (n.pids.length > 3 ? ',…' : ''), n.url ?? '', n.detail ?? '',
  ]);
  const header = ['NAME', 'KIND', 'ROLE', 'LAG(B)', 'SYNC', 'PIDS', 'ADDRESS', 'DETAIL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  out(`
API (commands):   ${status.api.join(' ')}
queries:          ${status.query.join(' ')}
DATABASE_URL:     ${status.databaseUrl.replace(/:[^:@/]+@/, ':***@')}   (HAProxy -> the primary; password in ${join(status.dir, CLUSTER_FILE)})
read replicas:    ${status.readReplicaUrl.replace(/:[^:@/]+@/, ':***@')}
NATS_URL:         ${status.natsUrls.join(',')}
HAProxy stats:    ${status.haproxyStatsUrl}
admin key file:   ${status.adminKeyFile}`);
}

async function status(args: Args, out: (line: string) => void): Promise<number> {
  const file = requireClusterFile(args.dir);
  printStatus(await clusterStatus(file), args.json, out);
  return 0;
}

async function kill(args: Args, out: (line: string) => void): Promise<number> {
  const file = requireClusterFile(args.dir);
  const node = requireNode(file, args.name);
  const pids = await killNode(file, node);
  out(pids.length === 0 ? `${node.name} was not running` : `${node.name}: SIGKILL to ${pids.length} processes (${pids.join(', ')})`);
  return 0;
}

async function restart(args: Args, out: (line: string) => void): Promise<number> {
  const file = requireClusterFile(args.dir);
  const node = requireNode(file, args.name);
  const startedMs = Date.now();
  if (nodeProcesses(file, node).length > 0) {
    const how = await stopNode(file, node, node.kind === 'postgres' ? STOP_TIMEOUT_MS.postgres : STOP_TIMEOUT_MS.other);
    out(`${node.name}: ${how}`);
  }
  if (node.kind === 'postgres') prepareFiles(file);
  const secrets: Record<string, string> = isLedgerKind(node.kind) ? { 'admin-key': readFileSync(file.adminKeyFile, 'utf8').trim() } : {};
  try {
    await startNode(file, node, secrets);
    await waitFor(node.name, startedMs + RESTART_TIMEOUT_MS, async () => {
      // Exited at once (a ledger process whose database is unreachable at start does): say so now, not in 2 minutes.
      if (nodeProcesses(file, node).length === 0) throw new Error(`${node.name} exited`);
      return nodeNotReady(file, node);
    });
  } catch (error) {
    out(`chronicle cluster restart: ${(error as Error).message}; see ${node.log}`);
    return 1;
  }
  const mine = (await clusterStatus(file)).nodes.find((n) => n.name === node.name)!;
  out(`${node.name} is back in ${seconds(Date.now() - startedMs)}: ${mine.role}${mine.sync ? ' (synchronous standby)' : ''}`);
  return 0;
}

async function down(args: Args, out: (line: string) => void): Promise<number> {
  const file = requireClusterFile(args.dir);
  // Clients first, the coordination service last: Patroni needs etcd while it stops (it releases the leader key).
  const waves: NodeKind[][] = [['dashboard', 'ledger-api', 'query-api', 'relay', 'read-processor'], ['haproxy'], ['postgres'], ['nats'], ['etcd']];
  for (const kinds of waves) {
    const results = await Promise.all(ofKind(file, ...kinds).map(async (node) => {
      const how = await stopNode(file, node, node.kind === 'postgres' ? STOP_TIMEOUT_MS.postgres : STOP_TIMEOUT_MS.other);
      return `${node.name} ${how}`;
    }));
    out(results.join(', '));
  }
  const table = processTable();
  const left = file.nodes.flatMap((node) => nodeProcesses(file, node, table).map((pid) => `${node.name}:${pid}`));
  const recorded = file.nodes.filter((n) => alive(n.pid) && nodeProcesses(file, n, table).includes(n.pid!));
  if (left.length > 0 || recorded.length > 0) {
    out(`chronicle cluster down: still running: ${left.join(', ')}`);
    return 1;
  }
  for (const node of file.nodes) node.pid = null;
  writeClusterFile(file);
  out(`the cluster in ${args.dir} is stopped; nothing of it is running. Its data stays there: chronicle cluster up --dir ${args.dir} brings it back.`);
  return 0;
}

/** `chronicle cluster …`; returns the exit status (2: usage). */
export async function clusterCommand(argv: string[], dataDir: string, out: (line: string) => void = (l) => console.log(l)): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv, dataDir);
    if (args.help || args.sub === '') {
      out(USAGE);
      return args.help ? 0 : 2;
    }
    if (process.platform !== 'linux') throw new UsageError('the cluster launcher needs Linux (/proc)');
    switch (args.sub) {
      case 'up': return await up(args, out);
      case 'status': return await status(args, out);
      case 'kill': return await kill(args, out);
      case 'restart': return await restart(args, out);
      case 'down': return await down(args, out);
      default: throw new UsageError(`unknown subcommand ${args.sub}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`chronicle cluster: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

