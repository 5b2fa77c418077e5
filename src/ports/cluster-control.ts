// What the Cluster page and `GET /cluster` read and do: the nodes of the high-availability stack and, under
// the cluster launcher (`chronicle cluster up`), killing and restarting them. The http layer is handed these
// (src/composition builds them: Patroni's REST API, the NATS stream, the launcher's cluster.json), so it never
// sees the launcher or a driver.

/** primary/replica/starting/down for database nodes; up/degraded/down for the rest. */
export type ClusterNodeRole = 'primary' | 'replica' | 'starting' | 'up' | 'degraded' | 'down';

export interface ClusterNodeView {
  name: string;
  /** postgres, etcd, nats, haproxy, ledger-api, query-api, relay, read-processor, dashboard. */
  kind: string;
  role: ClusterNodeRole;
  /** A synchronous standby: every acknowledged commit is on it too. */
  sync: boolean;
  /** Bytes of WAL behind the primary (0 on the primary); null when unknown or not PostgreSQL. */
  lagBytes: number | null;
  url?: string;
  detail?: string;
}

/** A PostgreSQL node as Patroni tells it. */
export interface PostgresNodeView {
  name: string;
  role: 'primary' | 'replica' | 'down';
  sync: boolean;
  state: string | null;
  lagBytes: number | null;
  timeline: number | null;
}

/** The NATS side: the event stream's leader and replicas (from JetStream), or the servers (from the launcher). */
export interface NatsView {
  stream?: string;
  leader?: string | null;
  replicas?: { name: string; current: boolean; offline: boolean; lag: number }[];
  servers?: { name: string; role: ClusterNodeRole; detail?: string }[];
  degraded: boolean;
}

export type ClusterActionOutcome = { kind: 'done'; detail: string } | { kind: 'node_not_found'; nodes: string[] };

/** The launcher's nodes (only when this process was started by `chronicle cluster up`). */
export interface ClusterControl {
  status(): Promise<ClusterNodeView[]>;
  /** SIGKILL to every process of the node. */
  kill(name: string): Promise<ClusterActionOutcome>;
  /** Starts the node again (in the background: the answer does not wait for it to be ready). */
  restart(name: string): Promise<ClusterActionOutcome>;
  /** Whether `name` is this very process (its kill must wait until the answer is sent). */
  isSelf(name: string): boolean;
}

/** Everything `GET /cluster` reads; each part absent when this process has no way to know it. */
export interface ClusterSource {
  postgres?: () => Promise<PostgresNodeView[]>;
  nats?: () => Promise<NatsView>;
  control?: ClusterControl;
}
