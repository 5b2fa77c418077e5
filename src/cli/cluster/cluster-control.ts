// The launcher's side of the Cluster page (src/ports/cluster-control.ts): a ledger process started by
// `chronicle cluster up` is given CHRONICLE_CLUSTER_DIR, and the CLI hands createLedger this control over that
// cluster.json. Status is `chronicle cluster status`'s; kill is the launcher's own killNode (the process
// serving the request answers first, then goes with the rest of its node); restart runs
// `chronicle cluster restart <name>` in a session of its own, outside every node (setsid -f: its parent exits
// at once), so that it survives whichever process asked for it, this one included.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterActionOutcome, ClusterControl, ClusterNodeView } from '../../ports/cluster-control.js';
import { CLUSTER_FILE, CLUSTER_FILE_VERSION, nodeByName, type ClusterFile } from './cluster-spec.js';
import { clusterStatus } from './cluster-probes.js';
import { killNode, nodeMark } from './node-processes.js';

function readFile(dir: string): ClusterFile {
  const file = JSON.parse(readFileSync(join(dir, CLUSTER_FILE), 'utf8')) as ClusterFile;
  if (file.version !== CLUSTER_FILE_VERSION) throw new Error(`${join(dir, CLUSTER_FILE)}: version ${file.version}, this chronicle reads ${CLUSTER_FILE_VERSION}`);
  return file;
}

/** How to run the CLI: a ledger node's own command line, without its role. */
function cliArgv(file: ClusterFile): { argv: string[]; cwd: string } {
  const ledger = file.nodes.find((n) => n.kind === 'ledger-api')!;
  return { argv: ledger.command.slice(0, -1), cwd: ledger.cwd ?? ledger.home };
}

const notFound = (file: ClusterFile): ClusterActionOutcome => ({ kind: 'node_not_found', nodes: file.nodes.map((n) => n.name) });

export function launcherClusterControl(dir: string): ClusterControl {
  // Read now: a process given a dir without a cluster in it fails at start, not at its first request.
  readFile(dir);
  const selfMark = process.env['CHRONICLE_CLUSTER_NODE'];
  const isSelf = (name: string) => selfMark === `${dir}#${name}`;
  return {
    isSelf,
    async status(): Promise<ClusterNodeView[]> {
      const status = await clusterStatus(readFile(dir));
      return status.nodes.map((n) => ({
        name: n.name, kind: n.kind, role: n.role, sync: n.sync, lagBytes: n.lagBytes,
        ...(n.url === undefined ? {} : { url: n.url.replace(/\/\/[^@/]*@/, '//') }), ...(n.detail === undefined ? {} : { detail: n.detail }),
      }));
    },
    async kill(name) {
      const file = readFile(dir);
      const node = nodeByName(file, name);
      if (node === undefined) return notFound(file);
      // killNode leaves out the calling process: the route kills it after its answer is sent.
      const pids = await killNode(file, node);
      return { kind: 'done', detail: pids.length === 0 && !isSelf(name) ? `${name} was not running` : `${name}: SIGKILL to ${pids.length + (isSelf(name) ? 1 : 0)} processes` };
    },
    async restart(name) {
      const file = readFile(dir);
      const node = nodeByName(file, name);
      if (node === undefined) return notFound(file);
      const { argv, cwd } = cliArgv(file);
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'CHRONICLE_CLUSTER_NODE') env[k] = v;
      // Not this process's node: nothing of the helper may look like it belongs to a node (see node-processes.ts).
      if (env['CHRONICLE_CLUSTER_NODE'] === nodeMark(file, node)) delete env['CHRONICLE_CLUSTER_NODE'];
      const log = openSync(join(dir, 'logs', `restart-${name}.log`), 'a');
      try {
        const child = spawn('setsid', ['-f', ...argv, 'cluster', 'restart', name, '--dir', dir], { cwd, env, detached: true, stdio: ['ignore', log, log] });
        await new Promise<void>((resolve, reject) => {
          child.once('error', reject);
          child.once('exit', () => resolve());
        });
      } finally {
        closeSync(log);
      }
      return { kind: 'done', detail: `${name}: restarting (chronicle cluster restart ${name}; its output in ${join(dir, 'logs', `restart-${name}.log`)})` };
    },
  };
}
