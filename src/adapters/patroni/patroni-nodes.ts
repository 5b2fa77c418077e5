// The PostgreSQL nodes of a Patroni cluster as its REST API tells them (PATRONI_URLS): each node is asked
// for itself (GET /patroni), so a node whose Patroni is gone shows as down at once, not after its member key
// expires; lag comes from the cluster view (GET /cluster) of any node that answers. Used by /health and by
// `chronicle cluster status`.
import { PATRONI_REQUEST_TIMEOUT_MS } from '../../domain/limits.js';

export interface PatroniNode {
  /** Patroni's member name (or the URL when the node does not answer). */
  name: string;
  url: string;
  role: 'primary' | 'replica' | 'down';
  /** A synchronous standby (every acknowledged commit is on it too). */
  sync: boolean;
  /** Patroni's state: running, streaming, starting, stopped, … ; null when down. */
  state: string | null;
  /** Bytes of WAL behind the primary (0 for the primary); null when unknown. */
  lagBytes: number | null;
  timeline: number | null;
}

export interface PatroniClusterState {
  nodes: PatroniNode[];
  /** One primary and every other node a streaming replica, with a synchronous one among them. */
  healthy: boolean;
}

interface PatroniSelf { state?: string; role?: string; timeline?: number; patroni?: { name?: string }; replication_state?: string; sync_standby?: boolean }
interface PatroniMember { name: string; role: string; state: string; lag?: number | string; timeline?: number; api_url?: string }

async function getJson<T>(url: string, timeoutMs: number): Promise<T | null> {
  try {
    // Health checks answer with a JSON body whatever their status (503 on a replica asked /primary, …).
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return (await response.json()) as T;
  } catch {
    return null;
  }
}

const PRIMARY_ROLES = new Set(['leader', 'master', 'primary', 'standby_leader']);

/** Asks every node (in parallel, each bounded by timeoutMs) and puts the answers together. */
export async function patroniClusterState(urls: readonly string[], timeoutMs = PATRONI_REQUEST_TIMEOUT_MS): Promise<PatroniClusterState> {
  const base = urls.map((u) => u.replace(/\/+$/, ''));
  const selves = await Promise.all(base.map((url) => getJson<PatroniSelf>(`${url}/patroni`, timeoutMs)));
  const live = base.filter((_, i) => selves[i] !== null);
  let members: PatroniMember[] = [];
  for (const url of live) {
    const cluster = await getJson<{ members?: PatroniMember[] }>(`${url}/cluster`, timeoutMs);
    if (cluster?.members) {
      members = cluster.members;
      break;
    }
  }
  const nodes = base.map((url, i): PatroniNode => {
    const self = selves[i];
    // A node that does not answer is named by the cluster view while its member key lives (api_url is its REST API).
    const name = self?.patroni?.name ?? members.find((m) => m.api_url?.startsWith(`${url}/`))?.name ?? url;
    const member = members.find((m) => m.name === name);
    const running = self !== null && self !== undefined && (self.state === 'running' || self.state === 'streaming');
    if (!running) return { name, url, role: 'down', sync: false, state: self?.state ?? null, lagBytes: null, timeline: self?.timeline ?? null };
    const primary = PRIMARY_ROLES.has(self.role ?? '') || PRIMARY_ROLES.has(member?.role ?? '');
    const lag = primary ? 0 : typeof member?.lag === 'number' ? member.lag : null;
    return {
      name, url, role: primary ? 'primary' : 'replica', sync: !primary && (member?.role === 'sync_standby' || self.sync_standby === true),
      state: member?.state ?? self.state ?? null, lagBytes: lag, timeline: self.timeline ?? null,
    };
  });
  const primaries = nodes.filter((n) => n.role === 'primary').length;
  const healthy = primaries === 1 && nodes.every((n) => n.role !== 'down') && (nodes.length === 1 || nodes.some((n) => n.sync));
  return { nodes, healthy };
}
