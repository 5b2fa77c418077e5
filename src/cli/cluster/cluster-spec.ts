// The cluster's plan: every node of `chronicle cluster up`, its ports (OS-assigned free loopback ports, chosen
// once at the first `up`), its command line, environment, files and log, and the generated configuration of
// etcd, Patroni, HAProxy and NATS. All of it is written to <dir>/cluster.json so that status, kill, restart,
// down and a later `up` act on exactly what was started, and several clusters (different dirs) coexist.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';

export const CLUSTER_FILE = 'cluster.json';
export const CLUSTER_FILE_VERSION = 1;

export type NodeKind = 'etcd' | 'postgres' | 'haproxy' | 'nats' | 'ledger-api' | 'query-api' | 'relay' | 'read-processor' | 'dashboard';

export interface ClusterNode {
  name: string;
  kind: NodeKind;
  /** argv[0] and its arguments, as spawned. */
  command: string[];
  /** Added to the launcher's environment (secrets are not here: see `secretEnv`). */
  env: Record<string, string>;
  /** Environment variables filled in at spawn time from files in the dir (never written to cluster.json). */
  secretEnv?: Record<string, 'admin-key'>;
  /** Run as this user (PostgreSQL refuses root): `setpriv` switches to it before exec. */
  user?: string;
  /** The node's own folder (data, configuration), absolute. */
  home: string;
  /** Working directory (default: home). */
  cwd?: string;
  log: string;
  ports: Record<string, number>;
  /** The process group leader's pid from the last start (null: never started or stopped by `down`). */
  pid: number | null;
  startedAt: string | null;
}

export interface ClusterFile {
  version: number;
  /** Distinguishes this cluster's etcd token, Patroni scope and NATS cluster name from another's. */
  id: string;
  dir: string;
  createdAt: string;
  superuserPassword: string;
  replicationPassword: string;
  adminKeyFile: string;
  signingKeyFile: string;
  databaseUrl: string;
  readReplicaUrl: string;
  natsUrls: string[];
  haproxyStatsUrl: string;
  nodes: ClusterNode[];
}

/** Patroni's timing (bootstrap.dcs): ttl 20 s is its floor; loop_wait + 2 × retry_timeout ≤ ttl. */
export const PATRONI_TIMING = Object.freeze({ ttl: 20, loopWait: 2, retryTimeout: 9 });

export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';
export const PG_DATABASE = 'chronicle';

/** How the launcher runs the ledger's processes: as it was run itself (dist with node, or src with tsx). */
export interface LedgerRunner {
  /** e.g. [process.execPath, '/repo/dist/cli/main.js'] or [process.execPath, '--import', 'tsx', '/repo/src/cli/main.ts']. */
  argv: string[];
  cwd: string;
}

/** `count` distinct free loopback ports: every listener stays open until all are chosen, so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      ports.push((server.address() as { port: number }).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** The ports of `node` that something else listens on now (a stopped cluster's ports may have been taken meanwhile). */
export async function portsTaken(node: ClusterNode): Promise<number[]> {
  const taken: number[] = [];
  for (const port of Object.values(node.ports)) {
    const server = createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
    else taken.push(port);
  }
  return taken;
}

const secret = (): string => randomBytes(18).toString('base64url');

/** The ledger processes: two writers (the sealer runs in each under a lease: a hot standby), one query API, two of each follower. */
export const LEDGER_NODES: readonly { name: string; kind: NodeKind; role: string }[] = [
  { name: 'api-1', kind: 'ledger-api', role: 'ledger-api' },
  { name: 'api-2', kind: 'ledger-api', role: 'ledger-api' },
  { name: 'query-1', kind: 'query-api', role: 'query-api' },
  { name: 'relay-1', kind: 'relay', role: 'relay' },
  { name: 'relay-2', kind: 'relay', role: 'relay' },
  { name: 'reader-1', kind: 'read-processor', role: 'read-processor' },
  { name: 'reader-2', kind: 'read-processor', role: 'read-processor' },
];

export const MEMBERS = [1, 2, 3] as const;

/** The whole plan for a new cluster in `dir` (absolute). Ports are chosen now and kept for good. */
export async function planCluster(dir: string, runner: LedgerRunner): Promise<ClusterFile> {
  const id = randomBytes(4).toString('hex');
  // etcd: client + peer; pg: postgres + Patroni REST; nats: client + route + monitoring; haproxy: 3; ledger: 1 each.
  const ports = await freePorts(3 * 2 + 3 * 2 + 3 * 3 + 3 + LEDGER_NODES.length + 1);
  const take = (): number => ports.shift()!;
  const etcd = MEMBERS.map((i) => ({ name: `etcd-${i}`, client: take(), peer: take() }));
  const pg = MEMBERS.map((i) => ({ name: `pg-${i}`, pg: take(), rest: take() }));
  const nats = MEMBERS.map((i) => ({ name: `nats-${i}`, client: take(), route: take(), monitor: take() }));
  const haproxy = { primary: take(), replica: take(), stats: take() };
  const superuserPassword = secret();
  const replicationPassword = secret();
  const log = (name: string) => join(dir, 'logs', `${name}.log`);
  const nodes: ClusterNode[] = [];

  const initialCluster = etcd.map((e) => `${e.name}=http://127.0.0.1:${e.peer}`).join(',');
  for (const e of etcd) {
    const home = join(dir, e.name);
    nodes.push({
      name: e.name, kind: 'etcd', home, log: log(e.name), ports: { client: e.client, peer: e.peer }, pid: null, startedAt: null, env: {},
      command: [
        'etcd', '--name', e.name, '--data-dir', join(home, 'data'),
        '--listen-client-urls', `http://127.0.0.1:${e.client}`, '--advertise-client-urls', `http://127.0.0.1:${e.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${e.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${e.peer}`,
        // Only read at the first start (an existing data dir knows its cluster).
        '--initial-cluster', initialCluster, '--initial-cluster-token', `chronicle-${id}`, '--initial-cluster-state', 'new',
      ],
    });
  }
  for (const p of pg) {
    const home = join(dir, p.name);
    nodes.push({
      name: p.name, kind: 'postgres', home, log: log(p.name), user: 'postgres', ports: { postgres: p.pg, rest: p.rest }, pid: null, startedAt: null,
      env: { HOME: home, PATRONI_LOG_LEVEL: 'INFO' },
      command: ['patroni', join(home, 'patroni.yml')],
    });
  }
  for (const n of nats) {
    const home = join(dir, n.name);
    nodes.push({
      name: n.name, kind: 'nats', home, log: log(n.name), ports: { client: n.client, route: n.route, monitor: n.monitor }, pid: null, startedAt: null, env: {},
      command: ['nats-server', '-c', join(home, 'nats.conf')],
    });
  }
  nodes.push({
    name: 'haproxy', kind: 'haproxy', home: join(dir, 'haproxy'), log: log('haproxy'), ports: haproxy, pid: null, startedAt: null, env: {},
    // -db: stay in the foreground (the launcher detaches it), logs to stderr.
    command: ['haproxy', '-db', '-f', join(dir, 'haproxy', 'haproxy.cfg')],
  });

  const databaseUrl = `postgres://postgres:${superuserPassword}@127.0.0.1:${haproxy.primary}/${PG_DATABASE}`;
  const readReplicaUrl = `postgres://postgres:${superuserPassword}@127.0.0.1:${haproxy.replica}/${PG_DATABASE}`;
  const natsUrls = nats.map((n) => `nats://127.0.0.1:${n.client}`);
  const dashboardPort = take();
  // The dashboard's pages call api-1 from their own origin: the API processes allow it (CORS).
  const dashboardOrigins = `http://127.0.0.1:${dashboardPort},http://localhost:${dashboardPort}`;
  const ledgerPorts = LEDGER_NODES.map(() => take());
  for (const [i, l] of LEDGER_NODES.entries()) {
    const port = ledgerPorts[i]!;
    nodes.push({
      name: l.name, kind: l.kind, home: join(dir, 'ledger'), cwd: runner.cwd, log: log(l.name), ports: { http: port }, pid: null, startedAt: null,
      command: [...runner.argv, l.role],
      env: {
        PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: databaseUrl, NATS_URL: natsUrls.join(','), NATS_STREAM_REPLICAS: '3',
        // /health lists the database nodes; query-api serves balances from the replicas (HAProxy's replica port).
        PATRONI_URLS: pg.map((p) => `http://127.0.0.1:${p.rest}`).join(','),
        ...(l.kind === 'query-api' ? { READ_REPLICA_URL: readReplicaUrl } : {}),
        ...(l.kind === 'ledger-api' || l.kind === 'query-api' ? { CORS_ORIGINS: dashboardOrigins } : {}),
        // GET /cluster lists this cluster's nodes, and the Cluster page's buttons kill and restart them.
        CHRONICLE_CLUSTER_DIR: dir,
        CHRONICLE_DATA_DIR: join(dir, 'ledger'), CHRONICLE_SIGNING_KEY_FILE: join(dir, 'signing-key.pem'), DASHBOARD: 'off', PG_POOL_MAX: '8',
        // Lower than the 10 s default: a pool client stuck on a dead primary is given up sooner on shutdown.
        SHUTDOWN_TIMEOUT_MS: '5000',
      },
      secretEnv: { CHRONICLE_BOOTSTRAP_KEY: 'admin-key' },
    });
  }
  // The dashboard (`chronicle dashboard`), its pages calling api-1. Started only when it is built (dashboard/out).
  nodes.push({
    name: 'dashboard-1', kind: 'dashboard', home: join(dir, 'ledger'), cwd: runner.cwd, log: log('dashboard-1'), ports: { http: dashboardPort }, pid: null, startedAt: null,
    command: [...runner.argv, 'dashboard'],
    env: {
      DASHBOARD_PORT: String(dashboardPort), HOST: '127.0.0.1', DASHBOARD_API_URL: `http://127.0.0.1:${ledgerPorts[0]}`, CHRONICLE_DATA_DIR: join(dir, 'ledger'),
    },
  });
  const file: ClusterFile = {
    version: CLUSTER_FILE_VERSION, id, dir, createdAt: new Date().toISOString(), superuserPassword, replicationPassword,
    adminKeyFile: join(dir, 'admin-key'), signingKeyFile: join(dir, 'signing-key.pem'),
    databaseUrl, readReplicaUrl, natsUrls, haproxyStatsUrl: `http://127.0.0.1:${haproxy.stats}/`, nodes,
  };
  return file;
}

export function nodeByName(file: ClusterFile, name: string): ClusterNode | undefined {
  return file.nodes.find((n) => n.name === name);
}

const nodesOf = (file: ClusterFile, kind: NodeKind) => file.nodes.filter((n) => n.kind === kind);

/** The Unix socket folder: the node's own when its path fits PostgreSQL's 107-byte socket path limit. */
function socketDir(home: string): string {
  return home.length <= 80 ? home : '/tmp';
}

/**
 * Patroni's configuration of one pg node, as JSON (YAML is a superset of JSON, Patroni reads it as YAML).
 * synchronous_mode_strict: every acknowledged commit is on two nodes; with both replicas gone writes stop
 * rather than silently going asynchronous.
 */
export function patroniConfig(file: ClusterFile, node: ClusterNode): string {
  const etcdHosts = nodesOf(file, 'etcd').map((e) => `127.0.0.1:${e.ports['client']}`);
  const config = {
    scope: `chronicle-${file.id}`,
    namespace: '/chronicle/',
    name: node.name,
    log: { level: 'INFO' },
    restapi: { listen: `127.0.0.1:${node.ports['rest']}`, connect_address: `127.0.0.1:${node.ports['rest']}` },
    etcd3: { hosts: etcdHosts, protocol: 'http' },
    bootstrap: {
      dcs: {
        ttl: PATRONI_TIMING.ttl,
        loop_wait: PATRONI_TIMING.loopWait,
        retry_timeout: PATRONI_TIMING.retryTimeout,
        maximum_lag_on_failover: 1_048_576,
        synchronous_mode: true,
        synchronous_mode_strict: true,
        // A postmaster that crashed under a live Patroni: fail over at once rather than wait for its restart.
        master_start_timeout: 0,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            wal_level: 'replica', hot_standby: 'on', wal_log_hints: 'on', max_connections: 200, max_wal_senders: 10,
            max_replication_slots: 10, wal_keep_size: '256MB', password_encryption: 'scram-sha-256',
            // After a failover the surviving replica's walreceiver first finds no slot on the new primary (Patroni
            // makes it on its next loop); retrying every second instead of every 5 s shortens the time, under
            // strict synchronous mode, before the new primary has a synchronous standby and takes writes again.
            wal_retrieve_retry_interval: '1s',
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }, { auth: 'scram-sha-256' }],
    },
    postgresql: {
      listen: `127.0.0.1:${node.ports['postgres']}`,
      connect_address: `127.0.0.1:${node.ports['postgres']}`,
      data_dir: join(node.home, 'data'),
      bin_dir: PG_BIN_DIR,
      pgpass: join(node.home, 'pgpass'),
      authentication: {
        superuser: { username: 'postgres', password: file.superuserPassword },
        replication: { username: 'replicator', password: file.replicationPassword },
        rewind: { username: 'postgres', password: file.superuserPassword },
      },
      parameters: { unix_socket_directories: socketDir(node.home) },
      // Loopback only, passwords everywhere (scram); replication for the replicator, and the superuser (pg_rewind).
      pg_hba: [
        'local all all scram-sha-256',
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication replicator 127.0.0.1/32 scram-sha-256',
        'host replication postgres 127.0.0.1/32 scram-sha-256',
      ],
    },
    tags: { nofailover: false, noloadbalance: false, clonefrom: false, nosync: false },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** One NATS server of the JetStream cluster: its name, its routes to all three, its own store, a monitoring port. */
export function natsConfig(file: ClusterFile, node: ClusterNode): string {
  const routes = nodesOf(file, 'nats').map((n) => `    "nats-route://127.0.0.1:${n.ports['route']}"`).join('\n');
  return `server_name: "${node.name}"
listen: "127.0.0.1:${node.ports['client']}"
http: "127.0.0.1:${node.ports['monitor']}"
jetstream {
  store_dir: ${JSON.stringify(join(node.home, 'store'))}
}
cluster {
  name: "chronicle-${file.id}"
  listen: "127.0.0.1:${node.ports['route']}"
  routes: [
${routes}
  ]
}
`;
}

/**
 * HAProxy: the primary port goes to the one node whose Patroni answers GET /primary 200, the replica port to
 * those answering GET /replica 200. A node marked down has its sessions cut (a demoted primary's clients
 * must not keep writing into a read-only server); checks every second, down after 2 failures, up after 1.
 */
export function haproxyConfig(file: ClusterFile, node: ClusterNode): string {
  const servers = nodesOf(file, 'postgres')
    .map((p) => `  server ${p.name} 127.0.0.1:${p.ports['postgres']} check port ${p.ports['rest']}`).join('\n');
  return `global
  maxconn 2000

defaults
  mode tcp
  timeout connect 2s
  timeout client 30m
  timeout server 30m
  timeout check 2s

listen primary
  bind 127.0.0.1:${node.ports['primary']}
  option httpchk GET /primary
  http-check expect status 200
  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
${servers}

listen replicas
  bind 127.0.0.1:${node.ports['replica']}
  balance roundrobin
  option httpchk GET /replica
  http-check expect status 200
  default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
${servers}

listen stats
  mode http
  bind 127.0.0.1:${node.ports['stats']}
  stats enable
  stats uri /
  stats refresh 2s
`;
}
