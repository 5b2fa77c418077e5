// What each node says about itself: etcd's /health, Patroni's REST API (roles, lag, the synchronous standby:
// src/adapters/patroni/patroni-nodes.ts, which /health uses too), NATS's monitoring /jsz (the JetStream meta leader), a SQL connection through HAProxy's primary
// port, the ledger processes' /health. Every probe is bounded by a short timeout and answers, never throws.
import pg from 'pg';
import { patroniClusterState, type PatroniClusterState } from '../../adapters/patroni/patroni-nodes.js';
import type { ClusterFile, ClusterNode, NodeKind } from './cluster-spec.js';
import { nodeProcesses, processTable } from './node-processes.js';

// etcd answers /health with a quorum read: on a busy two-core machine that takes over a second now and then.
const PROBE_TIMEOUT_MS = 3_000;

async function getJson(url: string): Promise<{ status: number; body: unknown } | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    const text = await response.text();
    let body: unknown = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  } catch {
    return null;
  }
}

export async function etcdHealthy(node: ClusterNode): Promise<boolean> {
  const answer = await getJson(`http://127.0.0.1:${node.ports['client']}/health`);
  return answer?.status === 200 && (answer.body as { health?: string }).health === 'true';
}

/** The cluster's PostgreSQL nodes as Patroni tells them: the same reading as /health's postgresNodes (one copy). */
export async function patroniState(file: ClusterFile): Promise<PatroniClusterState> {
  return patroniClusterState(file.nodes.filter((n) => n.kind === 'postgres').map((n) => `http://127.0.0.1:${n.ports['rest']}`), PROBE_TIMEOUT_MS);
}

export interface NatsState {
  up: boolean;
  metaLeader: string | null;
  clusterSize: number | null;
}

export async function natsState(node: ClusterNode): Promise<NatsState> {
  const answer = await getJson(`http://127.0.0.1:${node.ports['monitor']}/jsz`);
  if (answer?.status !== 200) return { up: false, metaLeader: null, clusterSize: null };
  const meta = (answer.body as { meta_cluster?: { leader?: string; cluster_size?: number } }).meta_cluster;
  return { up: true, metaLeader: meta?.leader || null, clusterSize: meta?.cluster_size ?? null };
}

/** The dashboard's server answers its first page. */
export async function dashboardAnswers(node: ClusterNode): Promise<boolean> {
  return (await getJson(`http://127.0.0.1:${node.ports['http']}/`))?.status === 200;
}

export async function ledgerHealthy(node: ClusterNode): Promise<boolean> {
  const answer = await getJson(`http://127.0.0.1:${node.ports['http']}/health`);
  return answer?.status === 200;
}

/** A SQL session through HAProxy's primary port lands on a server that takes writes. */
export async function primaryAcceptsSql(file: ClusterFile, database = 'postgres'): Promise<boolean> {
  const url = new URL(file.databaseUrl);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ recovery: boolean }>('select pg_is_in_recovery() as recovery');
    return rows[0]?.recovery === false;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** postgres: primary, replica, starting or down; the rest: up, degraded (running, /health not 200: a ledger process whose database or bus is away) or down. */
export type NodeRole = 'primary' | 'replica' | 'down' | 'up' | 'starting' | 'degraded';

export interface NodeStatus {
  name: string;
  kind: NodeKind;
  role: NodeRole;
  /** Bytes of WAL behind the primary (replicas; 0 on the primary; null when unknown or not PostgreSQL). */
  lagBytes: number | null;
  /** A synchronous standby (Patroni's sync_standby): every acknowledged commit is also on it. */
  sync: boolean;
  pids: number[];
  ports: Record<string, number>;
  url?: string;
  log: string;
  /** Patroni's own state word (running, streaming, starting, …), or the NATS meta leader seen from this server. */
  detail?: string;
}

export interface ClusterStatus {
  dir: string;
  api: string[];
  query: string[];
  databaseUrl: string;
  readReplicaUrl: string;
  natsUrls: string[];
  adminKeyFile: string;
  haproxyStatsUrl: string;
  nodes: NodeStatus[];
}

const LEDGER_KINDS: readonly NodeKind[] = ['ledger-api', 'query-api', 'relay', 'read-processor'];
export const isLedgerKind = (kind: NodeKind): boolean => LEDGER_KINDS.includes(kind);

export async function clusterStatus(file: ClusterFile): Promise<ClusterStatus> {
  const patroni = await patroniState(file);
  const pgNodes = file.nodes.filter((n) => n.kind === 'postgres');
  const table = processTable();
  const nodes = await Promise.all(file.nodes.map(async (node): Promise<NodeStatus> => {
    const pids = nodeProcesses(file, node, table);
    const base = { name: node.name, kind: node.kind, pids, ports: node.ports, log: node.log, lagBytes: null, sync: false };
    const running = pids.length > 0;
    switch (node.kind) {
      case 'postgres': {
        // patroniState asks the nodes in this order.
        const member = patroni.nodes[pgNodes.indexOf(node)]!;
        const detail = member.state === null ? {} : { detail: member.state };
        // Running, but Patroni not (yet) running PostgreSQL: starting, stopped, creating replica, …
        if (member.role === 'down') return { ...base, role: running && member.state !== null ? 'starting' : 'down', ...detail };
        return {
          ...base, role: member.role, lagBytes: member.lagBytes, sync: member.sync, ...detail, url: `postgres://127.0.0.1:${node.ports['postgres']}`,
        };
      }
      case 'etcd':
        return { ...base, role: running && (await etcdHealthy(node)) ? 'up' : 'down', url: `http://127.0.0.1:${node.ports['client']}` };
      case 'nats': {
        const state = running ? await natsState(node) : { up: false, metaLeader: null };
        return {
          ...base, role: state.up ? 'up' : 'down', url: `nats://127.0.0.1:${node.ports['client']}`,
          ...(state.metaLeader ? { detail: `meta leader ${state.metaLeader}` } : {}),
        };
      }
      case 'dashboard':
        return { ...base, role: running && (await dashboardAnswers(node)) ? 'up' : 'down', url: `http://127.0.0.1:${node.ports['http']}` };
      case 'haproxy':
        return { ...base, role: running ? 'up' : 'down', url: `postgres://127.0.0.1:${node.ports['primary']} (replicas :${node.ports['replica']})` };
      default:
        return { ...base, role: !running ? 'down' : (await ledgerHealthy(node)) ? 'up' : 'degraded', url: `http://127.0.0.1:${node.ports['http']}` };
    }
  }));
  const urlsOf = (kind: NodeKind) => file.nodes.filter((n) => n.kind === kind).map((n) => `http://127.0.0.1:${n.ports['http']}`);
  return {
    dir: file.dir,
    api: urlsOf('ledger-api'),
    // Balances, history and time travel are the query API's (README, Process roles).
    query: urlsOf('query-api'),
    databaseUrl: file.databaseUrl,
    readReplicaUrl: file.readReplicaUrl,
    natsUrls: file.natsUrls,
    adminKeyFile: file.adminKeyFile,
    haproxyStatsUrl: file.haproxyStatsUrl,
    nodes,
  };
}

/** Why the cluster is not (yet) fully up, or null when every node answers as it should. */
export function notReady(status: ClusterStatus, optional: readonly string[] = []): string | null {
  const pg = status.nodes.filter((n) => n.kind === 'postgres');
  const primaries = pg.filter((n) => n.role === 'primary');
  const replicas = pg.filter((n) => n.role === 'replica');
  const down = status.nodes.filter((n) => n.kind !== 'postgres' && n.role !== 'up' && !optional.includes(n.name));
  if (down.length > 0) return `not answering: ${down.map((n) => n.name).join(', ')}`;
  if (primaries.length !== 1) return `PostgreSQL primaries: ${primaries.length} (${pg.map((n) => `${n.name} ${n.role}`).join(', ')})`;
  if (replicas.length !== 2) return `PostgreSQL replicas: ${replicas.length} of 2 (${pg.map((n) => `${n.name} ${n.role}`).join(', ')})`;
  if (!replicas.some((n) => n.sync)) return 'no synchronous standby yet';
  return null;
}
