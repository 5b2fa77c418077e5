// Starting, finding and stopping a cluster node's processes. A node is spawned detached (its own session, so
// its pid is its session id), stdio to its log file, and marked with CHRONICLE_CLUSTER_NODE=<dir>#<name> in
// its environment. Its processes are then: that session, anything carrying the mark or whose command line
// names the node's folder, the PostgreSQL postmaster named by <data>/postmaster.pid (Patroni starts it in a
// session of its own, with setsid), every process in those sessions and every descendant of any of them.
// Only Linux (/proc); everything is signalled by pid, never by name.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterFile, ClusterNode } from './cluster-spec.js';

export const nodeMark = (file: ClusterFile, node: ClusterNode): string => `${file.dir}#${node.name}`;

/** The variables a node inherits from the launcher's environment; everything else comes from its own `env`. */
const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'LOG_LEVEL'];

export class NodeStartError extends Error {
  override readonly name = 'NodeStartError';
}

/** Spawns the node detached, in the background; returns its pid. The launcher may exit at once afterwards. */
export async function spawnNode(file: ClusterFile, node: ClusterNode, secrets: Record<string, string>): Promise<number> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) if (process.env[name] !== undefined) env[name] = process.env[name]!;
  Object.assign(env, node.env);
  for (const [name, source] of Object.entries(node.secretEnv ?? {})) {
    const value = secrets[source];
    if (value !== undefined) env[name] = value;
  }
  env['CHRONICLE_CLUSTER_NODE'] = nodeMark(file, node);
  const argv = node.user === undefined
    ? node.command
    // setpriv execs (no extra process in between, unlike runuser): the recorded pid is Patroni's own.
    : ['setpriv', `--reuid=${node.user}`, `--regid=${node.user}`, '--init-groups', '--', ...node.command];
  const log = openSync(node.log, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: node.cwd ?? node.home, env, detached: true, stdio: ['ignore', log, log] });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (error) => reject(new NodeStartError(`${node.name}: cannot start ${argv[0]}: ${error.message}`)));
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    return pid;
  } finally {
    closeSync(log);
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  session: number;
  state: string;
}

function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (2nd field) is in parentheses and may contain spaces: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: rest[0]!, ppid: Number(rest[1]), session: Number(rest[3]) };
  } catch {
    return null;
  }
}

function readProc(pid: number, what: 'cmdline' | 'environ'): string {
  try {
    return readFileSync(`/proc/${pid}/${what}`, 'latin1');
  } catch {
    return '';
  }
}

/** A process that exists and is not a zombie. */
export function alive(pid: number | null): boolean {
  if (pid === null) return false;
  const info = procInfo(pid);
  return info !== null && info.state !== 'Z';
}

/**
 * The machine's processes at one instant, with their command lines and environments read at most once: a
 * status of every node reads /proc once, not once per node (a full scan per node blocked the API process
 * serving GET /cluster long enough for its own probes to time out).
 */
export interface ProcessTable {
  readonly processes: readonly ProcInfo[];
  cmdline(pid: number): string;
  environ(pid: number): string;
}

export function processTable(): ProcessTable {
  const processes: ProcInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = procInfo(Number(entry));
    if (info !== null && info.state !== 'Z') processes.push(info);
  }
  const cache = new Map<string, string>();
  const read = (pid: number, what: 'cmdline' | 'environ') => {
    const key = `${what}:${pid}`;
    let value = cache.get(key);
    if (value === undefined) {
      value = readProc(pid, what);
      cache.set(key, value);
    }
    return value;
  };
  return { processes, cmdline: (pid) => read(pid, 'cmdline'), environ: (pid) => read(pid, 'environ') };
}

/** The postmaster's pid from <home>/data/postmaster.pid, if that process runs PostgreSQL on that data dir. */
function postmasterPid(node: ClusterNode): number | null {
  const pidFile = join(node.home, 'data', 'postmaster.pid');
  if (!existsSync(pidFile)) return null;
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 && readProc(pid, 'cmdline').includes(join(node.home, 'data')) ? pid : null;
  } catch {
    return null;
  }
}

/** Every live process of the node (see the file's comment). */
export function nodeProcesses(file: ClusterFile, node: ClusterNode, table: ProcessTable = processTable()): number[] {
  const { processes } = table;
  const mark = `CHRONICLE_CLUSTER_NODE=${nodeMark(file, node)}\0`;
  const folder = `${node.home}/`;
  const own = new Set<number>();
  const sessions = new Set<number>();
  if (node.pid !== null && alive(node.pid) && table.environ(node.pid).includes(mark)) sessions.add(node.pid);
  const postmaster = node.kind === 'postgres' ? postmasterPid(node) : null;
  if (postmaster !== null) sessions.add(postmaster);
  for (const p of processes) {
    if (p.pid === process.pid) continue;
    // Ledger processes share a folder: only the mark tells them apart.
    const byFolder = node.kind !== 'ledger-api' && node.kind !== 'query-api' && node.kind !== 'relay' && node.kind !== 'read-processor'
      && table.cmdline(p.pid).includes(folder);
    if (byFolder || table.environ(p.pid).includes(mark)) {
      own.add(p.pid);
      // Its session too, but only when it leads it (never the shell's session of whoever ran it).
      if (p.session === p.pid) sessions.add(p.pid);
    }
  }
  for (const p of processes) if (sessions.has(p.session)) own.add(p.pid);
  for (const s of sessions) if (alive(s)) own.add(s);
  // Descendants, to a fixed point (a child that left the session is still the node's).
  for (let grew = true; grew;) {
    grew = false;
    for (const p of processes) {
      if (!own.has(p.pid) && own.has(p.ppid)) {
        own.add(p.pid);
        grew = true;
      }
    }
  }
  own.delete(process.pid);
  return [...own].filter(alive).sort((a, b) => a - b);
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // Gone already.
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until none of the node's processes is left; returns those still running after `timeoutMs`. */
async function waitGone(file: ClusterFile, node: ClusterNode, timeoutMs: number): Promise<number[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const left = nodeProcesses(file, node);
    if (left.length === 0 || Date.now() >= end) return left;
    await sleep(100);
  }
}

/** SIGKILL to every process of the node, at once; resolves when they are all gone (else throws). Returns the pids killed. */
export async function killNode(file: ClusterFile, node: ClusterNode): Promise<number[]> {
  const killed = new Set<number>();
  for (let round = 0; round < 20; round += 1) {
    const pids = nodeProcesses(file, node);
    if (pids.length === 0) return [...killed];
    // The whole set in one pass: Patroni and its postmaster die in the same instant, as a crashed machine would.
    signal(pids, 'SIGKILL');
    for (const pid of pids) killed.add(pid);
    await sleep(100);
  }
  const left = await waitGone(file, node, 2_000);
  if (left.length > 0) throw new Error(`${node.name}: processes ${left.join(', ')} survived SIGKILL`);
  return [...killed];
}

/** SIGTERM to the node's main process (Patroni stops its PostgreSQL itself), SIGKILL to whatever is left after `timeoutMs`. */
export async function stopNode(file: ClusterFile, node: ClusterNode, timeoutMs: number): Promise<'stopped' | 'killed' | 'not running'> {
  const pids = nodeProcesses(file, node);
  if (pids.length === 0) return 'not running';
  const main = node.pid !== null && pids.includes(node.pid) ? [node.pid] : pids;
  signal(main, 'SIGTERM');
  const left = await waitGone(file, node, timeoutMs);
  if (left.length === 0) return 'stopped';
  await killNode(file, node);
  return 'killed';
}
