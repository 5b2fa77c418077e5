// The composition root: wires store, write side, bus, relay, read processor, read model, queries and the
// HTTP app for the roles this process plays. Used by the CLI, the tests and the benchmark, so all three run
// the same assembly. Each role's wiring is a function of src/composition/roles.ts; the lease, standby and
// health of the roles that run once per store is src/composition/run-under-lease.ts.
//
// Roles (the spec's deployment picture; `chronicle start` plays all four in one process):
// - ledger-api:     commands, raw streams, $all, subscriptions (writes and reads the event store); the sealer
// - query-api:      balances and the account list (read model), history and time travel (event store),
//                   projection management
// - relay:          event store → bus, in commit order (src/application/relay.ts)
// - read-processor: bus → read model (src/application/read-processor.ts)
// Every process serves /health and /metrics. The in-process bus lives in memory, so it needs the relay
// and the read processor in the same process; NATS JetStream lets each run anywhere.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { StoreTarget } from './adapters/event-store/open-store.js';
import { LedgerMetrics } from './adapters/metrics/prometheus.js';
import type { AccountQueries } from './application/account-queries.js';
import type { AppendStallMonitorOptions } from './application/append-stall-monitor.js';
import type { ApiKeys } from './application/api-keys.js';
import type { CommandHandler } from './application/command-handler.js';
import type { ReadModelQueries } from './application/read-model-queries.js';
import type { ReadProcessor, ReadProcessorOptions } from './application/read-processor.js';
import type { OutboxRelay, RelayOptions } from './application/relay.js';
import type { Sealer, SealerOptions } from './application/sealer.js';
import {
  openAudit, openKeys, openStore, wireBus, wireLedgerApi, wireQueryApi, wireReadProcessor, wireRelay, wireSealer,
  type ReadSide, type Wiring,
} from './composition/roles.js';
import { RATE_LIMIT_PER_MINUTE_DEFAULT, READ_WAIT_MS_DEFAULT } from './domain/limits.js';
import { buildApp, type HttpTimeouts } from './http/build-app.js';
import type { ClusterControl } from './ports/cluster-control.js';
import type { EventBus } from './ports/event-bus.js';
import type { EventStore } from './ports/event-store.js';
import type { IdGenerator } from './ports/ids.js';
import type { CheckpointSigner, MerkleLog, SigningKeyRegistry } from './ports/merkle-log.js';
import type { ReadModel } from './ports/read-model.js';

export const ROLES = ['ledger-api', 'query-api', 'relay', 'read-processor'] as const;
export type Role = (typeof ROLES)[number];

export type BusTarget =
  | { kind: 'in-process' }
  | { kind: 'nats'; servers: string | readonly string[]; stream: string; subjectPrefix?: string; ackWaitMs?: number; replicas?: number };

/** Access control (README, "Access control"): API keys with roles, checked on every route. */
export interface AuthOptions {
  /** CHRONICLE_BOOTSTRAP_KEY: the first admin key, stored if no key exists yet. */
  bootstrapKey?: string;
  /**
   * Without bootstrapKey and with no key stored yet, an admin key is generated and handed to this, once
   * (the CLI prints it). Default: logged at warn level. Absent or false `bootstrap`: neither happens.
   */
  onKeyGenerated?: (key: string, id: string) => void;
  /**
   * Whether createLedger stores (or generates) the first key. Default true. false: it does not; the caller
   * may call `ledger.bootstrapKeys()` when it chooses (the CLI: once its ports are bound, so a start that
   * fails on a taken port never generates a key it cannot show), or never (a relay serves no API).
   */
  bootstrap?: boolean;
  /** Requests per minute per key (RATE_LIMIT_PER_MINUTE). Default RATE_LIMIT_PER_MINUTE_DEFAULT. */
  rateLimitPerMinute?: number;
  /** How long a verified key is trusted without asking the database: the revocation latency. Default KEY_CACHE_TTL_MS. */
  keyCacheTtlMs?: number;
  /** Subscriptions open at once per key (SUBSCRIPTIONS_PER_KEY_MAX). Default SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT. */
  subscriptionsPerKeyMax?: number;
  /** Failed authentications per client address a minute (AUTH_FAILURES_PER_MINUTE). Default AUTH_FAILURES_PER_MINUTE_DEFAULT. */
  authFailuresPerMinute?: number;
}

export interface LedgerOptions {
  store: StoreTarget;
  /** The read store (READ_DATABASE_URL). Default: the event store's own database. */
  readStore?: StoreTarget;
  /** A streaming replica of the read store (READ_REPLICA_URL): query-api serves balances and the account list from it. */
  readReplica?: StoreTarget;
  /** Patroni REST API of each database node (PATRONI_URLS): /health reports their roles and lag. */
  patroniUrls?: readonly string[];
  /** Default: the in-process bus. */
  bus?: BusTarget;
  /** Default: all four. */
  roles?: readonly Role[];
  /** Defaults (all of them: src/domain/limits.ts): SNAPSHOT_EVERY_EVENTS_DEFAULT, AGGREGATE_CACHE_ACCOUNTS_DEFAULT, ACCOUNT_QUEUE_COMMANDS_DEFAULT. */
  snapshotEvery?: number;
  aggregateCacheMax?: number;
  accountQueueMax?: number;
  /** Browser origins allowed by CORS (the dashboard's). Default none. */
  corsOrigins?: readonly string[];
  /** Bound on a read-your-writes wait (?minPosition=). Default READ_WAIT_MS_DEFAULT. */
  readWaitMaxMs?: number;
  /** PostgreSQL: how a transaction holding the event log head too long is noticed (defaults: APPEND_STALL_DEFAULTS). */
  appendStall?: Partial<AppendStallMonitorOptions>;
  /** How often projection lag is measured. Default PROJECTION_LAG_INTERVAL_MS_DEFAULT. */
  lagIntervalMs?: number;
  logger?: FastifyServerOptions['logger'];
  /** Where log lines go (default stdout): tests capture them. */
  logStream?: DestinationStream;
  ids?: IdGenerator;
  /** Node process metrics (CPU, memory, event loop) in /metrics; off in tests that build many ledgers. */
  processMetrics?: boolean;
  relay?: Partial<Omit<RelayOptions, 'name'>>;
  readProcessor?: Partial<ReadProcessorOptions>;
  /**
   * Tamper evidence (docs/audit.md), with the ledger API role: the key that signs checkpoints (default: a
   * fresh key for this process only; the CLI passes a function that picks the ledger's persistent key once
   * the store is open: src/cli/signing-key-choice.ts) and the sealer's options, or false for no sealer in
   * this process (another process seals; proofs are still served from the store).
   */
  audit?: { signer?: CheckpointSigner | ((keys: SigningKeyRegistry) => Promise<CheckpointSigner>); sealer?: Partial<SealerOptions> | false };
  /** API keys and roles. Absent: no authentication (the library's default, for tests; the CLI turns it on). */
  auth?: AuthOptions;
  /** Acknowledges running without authentication on purpose (CHRONICLE_AUTH_DISABLED_INSECURE): warned at start. */
  insecureNoAuth?: boolean;
  /** How long a client may take to send a request, and stay silent (src/http/build-app.ts). Default HTTP_TIMEOUTS_DEFAULT. */
  httpTimeouts?: HttpTimeouts;
  /** The cluster launcher's nodes (the CLI builds it from CHRONICLE_CLUSTER_DIR): GET /cluster lists them, and kill and restart act on them. */
  clusterControl?: ClusterControl;
}

export interface Ledger {
  app: FastifyInstance;
  /** The event store. (Raw SQL on its database, for tests: test/support/sql-access.ts.) */
  store: EventStore;
  roles: readonly Role[];
  /** Built in every process; its routes are served only by the ledger-api role. */
  commands: CommandHandler;
  /** Event-store reads: history, time travel. */
  queries: AccountQueries;
  /** Present with query-api or read-processor. */
  readModel: ReadModel | null;
  readQueries: ReadModelQueries | null;
  processor: ReadProcessor | null;
  relay: OutboxRelay | null;
  /** The Merkle log's sealer, with the ledger API role (may be a standby: see /health). */
  sealer: Sealer | null;
  merkleLog: MerkleLog;
  signer: CheckpointSigner;
  bus: EventBus | null;
  metrics: LedgerMetrics;
  log: Logger;
  /** Present with `auth`. */
  keys: ApiKeys | null;
  /**
   * Stores or generates the first admin key (AuthOptions.bootstrap), at most once: what it did ('none'
   * without `auth`; 'existing' when a key was stored already).
   */
  bootstrapKeys(): Promise<'stored' | 'generated' | 'existing' | 'none'>;
  close(): Promise<void>;
}

export class LedgerConfigError extends Error {
  override readonly name = 'LedgerConfigError';
}

function loggerOf(option: FastifyServerOptions['logger'], stream?: DestinationStream): Logger {
  if (option === undefined || option === false) return pino({ level: 'silent' });
  const options = option === true ? {} : (option as pino.LoggerOptions);
  return stream ? pino(options, stream) : pino(options);
}

export async function createLedger(options: LedgerOptions): Promise<Ledger> {
  const roles = [...new Set(options.roles ?? ROLES)];
  const has = (role: Role) => roles.includes(role);
  const busTarget: BusTarget = options.bus ?? { kind: 'in-process' };
  if (busTarget.kind === 'in-process' && has('relay') !== has('read-processor')) {
    throw new LedgerConfigError('the in-process bus is memory: the relay and the read processor must run in the same process (or set NATS_URL)');
  }
  if (options.auth && options.insecureNoAuth) throw new LedgerConfigError('auth and insecureNoAuth together: choose one');
  const log = loggerOf(options.logger, options.logStream);
  const metrics = new LedgerMetrics({ processMetrics: options.processMetrics ?? true });
  const cleanup: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => log.warn({ err: error }, 'closing'));
  };
  try {
    const w = await openStore({ options, roles, has, busTarget, log, metrics, cleanup });
    // First: a signing key the store refuses stops the start before anything else connects or is created.
    const audit = await openAudit(w);
    const { commands, queries } = wireLedgerApi(w);
    const bus = has('relay') || has('read-processor') ? await wireBus(w) : null;
    const read = has('query-api') || has('read-processor') ? await wireQueryApi(w, bus) : null;
    if (read && has('read-processor')) await wireReadProcessor(w, read);
    const relay = has('relay') ? await wireRelay(w, bus!, read) : null;
    const sealer = has('ledger-api') && options.audit?.sealer !== false ? wireSealer(w, audit) : null;
    const keys = openKeys(w);
    let bootstrapped: ReturnType<Ledger['bootstrapKeys']> | null = null;
    const bootstrap = () => (bootstrapped ??= keys ? bootstrapKeys(keys, options.auth!, log) : Promise.resolve('none' as const));
    if (keys) {
      if (options.auth!.bootstrap ?? true) await bootstrap();
    } else if (options.insecureNoAuth) {
      log.warn('AUTHENTICATION IS OFF (CHRONICLE_AUTH_DISABLED_INSECURE): anyone who reaches this port may move money, read every event and reset projections');
    }
    const app = await serve(w, { commands, queries, read, sealer, keys, ...audit });
    let closing: Promise<void> | null = null;
    return {
      app, store: w.store, roles, commands, queries, readModel: read?.readModel ?? null, readQueries: read?.readQueries ?? null,
      processor: read?.processor ?? null, relay, sealer, merkleLog: audit.merkleLog, signer: audit.signer, bus, metrics, log, keys,
      bootstrapKeys: bootstrap,
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** The HTTP app of this process's roles: commands and audit with ledger-api, accounts and projections with query-api. */
async function serve(w: Wiring, parts: {
  commands: CommandHandler; queries: AccountQueries; read: ReadSide | null; sealer: Sealer | null; keys: ApiKeys | null;
  merkleLog: MerkleLog; signer: CheckpointSigner;
}): Promise<FastifyInstance> {
  const { options, has } = w;
  const { auth } = options;
  const { read, keys } = parts;
  const app = await buildApp({
    store: w.store, ids: w.ids, metrics: w.metrics, storeKind: options.store.kind, loggerInstance: w.log, components: w.components, appended: w.appended,
    cluster: w.cluster,
    ...(keys && auth ? { auth: {
      keys, rateLimitPerMinute: auth.rateLimitPerMinute ?? RATE_LIMIT_PER_MINUTE_DEFAULT,
      ...(auth.subscriptionsPerKeyMax === undefined ? {} : { subscriptionsPerKeyMax: auth.subscriptionsPerKeyMax }),
      ...(auth.authFailuresPerMinute === undefined ? {} : { authFailuresPerMinute: auth.authFailuresPerMinute }),
    } } : {}),
    ...(options.httpTimeouts ? { timeouts: options.httpTimeouts } : {}),
    ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
    ...(has('ledger-api') ? { commands: parts.commands, audit: { store: w.store, log: parts.merkleLog, signer: parts.signer, sealer: parts.sealer } } : {}),
    ...(has('query-api') && read ? {
      accounts: { queries: parts.queries, readQueries: read.readQueries, readWaitMaxMs: options.readWaitMaxMs ?? READ_WAIT_MS_DEFAULT },
      projections: {
        projections: [{ processor: read.processor, queries: read.readQueries, model: read.readModel }],
        onRebuildError: (error: unknown) => w.log.error({ err: error }, 'projection rebuild failed'),
      },
    } : {}),
  });
  w.cleanup.push(() => app.close());
  return app;
}

async function bootstrapKeys(keys: ApiKeys, auth: AuthOptions, log: Logger): Promise<'stored' | 'generated' | 'existing'> {
  const outcome = await keys.bootstrap(auth.bootstrapKey);
  switch (outcome.kind) {
    case 'stored':
      log.info({ keyId: outcome.id }, 'stored CHRONICLE_BOOTSTRAP_KEY as the first admin key');
      break;
    case 'generated':
      log.info({ keyId: outcome.id }, 'no API key existed: generated the first admin key');
      if (auth.onKeyGenerated) auth.onKeyGenerated(outcome.key, outcome.id);
      else log.warn({ keyId: outcome.id }, `generated the first admin key, shown this once: ${outcome.key}`);
      break;
    case 'existing':
      // A restart: nothing to do. A chosen key that is not among the stored ones is not added (it may have
      // been revoked on purpose): make keys with POST /keys or `chronicle keys create`.
      if (auth.bootstrapKey !== undefined && !outcome.known) log.warn('CHRONICLE_BOOTSTRAP_KEY is not a stored key and keys exist already: it was not added');
  }
  return outcome.kind;
}
