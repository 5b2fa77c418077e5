// The composition root: wires store, write side, bus, relay, read processor, read model, queries and the
// HTTP app for the roles this process plays. Used by the CLI, the tests and the benchmark, so all three run
// the same assembly.
//
// Roles (the spec's deployment picture; `chronicle start` plays all four in one process):
// - ledger-api:     commands, raw streams, $all, subscriptions (writes and reads the event store)
// - query-api:      balances and the account list (read model), history and time travel (event store),
//                   projection management
// - relay:          event store → bus, in commit order (src/application/relay.ts)
// - read-processor: bus → read model (src/application/read-processor.ts)
// Every process serves /health and /metrics. The in-process bus lives in memory, so it needs the relay
// and the read processor in the same process; NATS JetStream lets each run anywhere.
import { APPEND_STALL_DEFAULTS, AppendStallMonitor, type AppendStallMonitorOptions } from './application/append-stall-monitor.js';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import pino, { type DestinationStream, type Logger } from 'pino';
import { InProcessEventBus } from './adapters/event-bus/in-process/in-process-event-bus.js';
import { connectNatsEventBus } from './adapters/event-bus/nats/nats-event-bus.js';
import { SqlApiKeyStore } from './adapters/api-keys/sql-api-key-store.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from './adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { openEventStore, openSqlClient, type StoreTarget } from './adapters/event-store/open-store.js';
import { keepLease } from './adapters/event-store/sql/lease.js';
import type { SqlClient } from './adapters/event-store/sql/sql-client.js';
import type { SqlEventStore } from './adapters/event-store/sql/sql-event-store.js';
import { randomIds } from './adapters/ids/random-ids.js';
import { SqlMerkleLog } from './adapters/audit/sql-merkle-log.js';
import { generateSigner, type CheckpointSigner } from './adapters/audit/signing-key.js';
import { sha256 } from './adapters/event-store/sql/sql-event-store.js';
import { Sealer, type SealerOptions } from './application/sealer.js';
import { LedgerMetrics } from './adapters/metrics/prometheus.js';
import { SqlReadModel } from './adapters/read-model/sql-read-model.js';
import { AccountQueries } from './application/account-queries.js';
import { AccountRepository } from './application/account-repository.js';
import { ApiKeys } from './application/api-keys.js';
import { ChangeSignal } from './application/change-signal.js';
import { CommandHandler } from './application/command-handler.js';
import { ReadModelQueries } from './application/read-model-queries.js';
import { ReadProcessor, type ReadProcessorOptions } from './application/read-processor.js';
import { MemoryRelayCheckpoints, OutboxRelay, type RelayOptions } from './application/relay.js';
import { buildApp, type HealthCheck, type HttpTimeouts } from './http/build-app.js';
import { RATE_LIMIT_PER_MINUTE_DEFAULT } from './http/rate-limit.js';
import type { EventBus } from './ports/event-bus.js';
import type { RecordedEvent } from './ports/event-store.js';
import type { IdGenerator } from './ports/ids.js';
import { isUnavailableError } from './ports/unavailable.js';
import { abortableSleep } from './application/abortable-sleep.js';
import { OUTAGE_RETRY_MAX_MS, OUTAGE_RETRY_MIN_MS } from './domain/limits.js';

export const ROLES = ['ledger-api', 'query-api', 'relay', 'read-processor'] as const;
export type Role = (typeof ROLES)[number];

export type BusTarget =
  | { kind: 'in-process' }
  | { kind: 'nats'; servers: string; stream: string; subjectPrefix?: string; ackWaitMs?: number };

/** Access control (README, "Access control"): API keys with roles, checked on every route. */
export interface AuthOptions {
  /** CHRONICLE_BOOTSTRAP_KEY: the first admin key, stored if no key exists yet. */
  bootstrapKey?: string;
  /**
   * Without bootstrapKey and with no key stored yet, an admin key is generated and handed to this, once
   * (the CLI prints it). Default: logged at warn level. Absent or false `bootstrap`: neither happens.
   */
  onKeyGenerated?: (key: string, id: string) => void;
  /** Whether this process stores the first key (the CLI: processes that serve the API). Default true. */
  bootstrap?: boolean;
  /** Requests per minute per key (RATE_LIMIT_PER_MINUTE). Default RATE_LIMIT_PER_MINUTE_DEFAULT. */
  rateLimitPerMinute?: number;
  /** How long a verified key is trusted without asking the database: the revocation latency. Default 2 s. */
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
  /** Default: the in-process bus. */
  bus?: BusTarget;
  /** Default: all four. */
  roles?: readonly Role[];
  snapshotEvery?: number;
  aggregateCacheMax?: number;
  accountQueueMax?: number;
  /** Browser origins allowed by CORS (the dashboard's). Default none. */
  corsOrigins?: readonly string[];
  /** Bound on a read-your-writes wait (?minPosition=). Default 5 s. */
  readWaitMaxMs?: number;
  /** PostgreSQL: how a transaction holding the event log head too long is noticed (defaults: APPEND_STALL_DEFAULTS). */
  appendStall?: Partial<AppendStallMonitorOptions>;
  /** How often projection lag is measured. Default 1 s. */
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
   * fresh key for this process only; the CLI loads a persistent one) and the sealer's options, or false for
   * no sealer in this process (another process seals; proofs are still served from the store).
   */
  audit?: { signer?: CheckpointSigner; sealer?: Partial<SealerOptions> | false };
  /** API keys and roles. Absent: no authentication (the library's default, for tests; the CLI turns it on). */
  auth?: AuthOptions;
  /** Acknowledges running without authentication on purpose (CHRONICLE_AUTH_DISABLED_INSECURE): warned at start. */
  insecureNoAuth?: boolean;
  /** How long a client may take to send a request, and stay silent (src/http/build-app.ts). Default HTTP_TIMEOUTS_DEFAULT. */
  httpTimeouts?: HttpTimeouts;
}

export interface Ledger {
  app: FastifyInstance;
  /** The SQL event store (its `sql` client too: tests and tools read the tables directly). */
  store: SqlEventStore;
  roles: readonly Role[];
  /** Built in every process; its routes are served only by the ledger-api role. */
  commands: CommandHandler;
  /** Event-store reads: history, time travel. */
  queries: AccountQueries;
  /** Present with query-api or read-processor. */
  readModel: SqlReadModel | null;
  readQueries: ReadModelQueries | null;
  processor: ReadProcessor | null;
  relay: OutboxRelay | null;
  /** The Merkle log's sealer, with the ledger API role (may be a standby: see /health). */
  sealer: Sealer | null;
  merkleLog: SqlMerkleLog;
  signer: CheckpointSigner;
  bus: EventBus | null;
  metrics: LedgerMetrics;
  log: Logger;
  /** Present with `auth`. */
  keys: ApiKeys | null;
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
  const busTarget = options.bus ?? { kind: 'in-process' };
  if (busTarget.kind === 'in-process' && has('relay') !== has('read-processor')) {
    throw new LedgerConfigError('the in-process bus is memory: the relay and the read processor must run in the same process (or set NATS_URL)');
  }
  const log = loggerOf(options.logger, options.logStream);
  const metrics = new LedgerMetrics({ processMetrics: options.processMetrics ?? true });
  const cleanup: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const step of cleanup.reverse()) await step().catch((error: unknown) => log.warn({ err: error }, 'closing'));
  };
  try {
    const store = await openEventStore(options.store, { onGroupCommitFlush: (n) => metrics.groupCommitFlush(n) });
    cleanup.push(() => store.close());
    const ids = options.ids ?? randomIds;
    const accounts = new AccountRepository(store, {
      snapshotEvery: options.snapshotEvery ?? 100,
      cacheEntriesMax: options.aggregateCacheMax ?? 100_000,
      readPageSize: 1_000,
    });
    const appended = new ChangeSignal();
    const commands = new CommandHandler({
      store, accounts, ids, lockWaitersMax: options.accountQueueMax ?? 10_000,
      observe: (type, outcome, durationMs) => {
        metrics.command(type, outcome, durationMs);
        if (outcome.kind === 'accepted') appended.notify();
      },
    });
    const queries = new AccountQueries(store);
    const components: Record<string, HealthCheck> = {};
    if (options.store.kind === 'postgres') {
      const stalls = new AppendStallMonitor(() => store.appendBlocker(), log.child({ component: 'append-stall-monitor' }), {
        ...APPEND_STALL_DEFAULTS, ...options.appendStall,
      });
      stalls.start();
      cleanup.push(() => stalls.close());
      metrics.watchAppendStall(() => stalls.current());
      components['appendLock'] = async () => {
        const stalled = stalls.stalled();
        return stalled
          ? { status: 'degraded', blockingPid: stalled.pid, heldMs: stalled.ageMs, applicationName: stalled.applicationName }
          : { heldMs: stalls.current()?.ageMs ?? 0 };
      };
    }

    let bus: EventBus | null = null;
    if (has('relay') || has('read-processor')) {
      if (busTarget.kind === 'in-process') {
        bus = new InProcessEventBus();
        components['bus'] = async () => ({ kind: 'in-process' });
      } else {
        const nats = await connectNatsEventBus({
          servers: busTarget.servers, streamName: busTarget.stream, connectionName: `chronicle-${roles.join('+')}`,
          ...(busTarget.subjectPrefix === undefined ? {} : { subjectPrefix: busTarget.subjectPrefix }),
          ...(busTarget.ackWaitMs === undefined ? {} : { ackWaitMs: busTarget.ackWaitMs }),
        });
        bus = nats;
        components['bus'] = async () => ({ kind: 'nats', stream: busTarget.stream, ...(await nats.streamState()) });
      }
      cleanup.push(() => bus!.close());
    }

    let readModel: SqlReadModel | null = null;
    let readQueries: ReadModelQueries | null = null;
    let processor: ReadProcessor | null = null;
    if (has('query-api') || has('read-processor')) {
      let readDb: SqlClient = store.sql;
      if (options.readStore) {
        readDb = await openSqlClient(options.readStore);
        cleanup.push(() => readDb.close());
      }
      readModel = await SqlReadModel.open(readDb);
      const model = readModel;
      components['readStore'] = async () => {
        await model.ping();
        return { kind: readDb.dialect, separate: options.readStore !== undefined };
      };
      const name = options.readProcessor?.name ?? 'accounts';
      readQueries = new ReadModelQueries(
        { model, store, countEventsAfter: sqlCountEventsAfter(store.sql) },
        { projection: name, lagIntervalMs: options.lagIntervalMs ?? 1_000 },
      );
      const queriesOfModel = readQueries;
      readQueries.startLagMonitor((error) => log.warn({ err: error }, 'projection lag not measured'));
      cleanup.push(() => queriesOfModel.close());
      metrics.watchProjection(name, () => queriesOfModel.currentLag());
      const plog = log.child({ role: 'read-processor', projection: name });
      processor = new ReadProcessor({ bus: has('read-processor') ? bus : null, store, readModel }, {
        ...options.readProcessor,
        onDelivered: (event, delivery) => {
          metrics.projectionDelivered(name, delivery);
          options.readProcessor?.onDelivered?.(event, delivery);
        },
        onHandled: (event, outcome, delivery) => {
          metrics.projectionHandled(name, event, outcome);
          queriesOfModel.changes.notify();
          options.readProcessor?.onHandled?.(event, outcome, delivery);
          if (plog.isLevelEnabled('debug')) {
            plog.debug({ eventId: event.eventId, globalPosition: event.globalPosition, type: event.type, outcome, correlationId: event.metadata.correlationId }, 'projected');
          }
        },
        onDeadLetter: (event, error) => {
          metrics.projectionDeadLettered(name);
          plog.error({ eventId: event.eventId, globalPosition: event.globalPosition, correlationId: event.metadata.correlationId, err: error }, 'event dead-lettered');
          options.readProcessor?.onDeadLetter?.(event, error);
        },
        onError: (error) => {
          plog.warn({ err: error }, 'read processor retrying');
          options.readProcessor?.onError?.(error);
        },
      });
      if (has('read-processor')) {
        const started = processor;
        if (busTarget.kind === 'nats') {
          // One consumer per projection: a second read-processor process waits as a hot standby. The lease is
          // kept through database restarts: lost with its connection, it is competed for again.
          const stop = new AbortController();
          const leaseDb = readModel.db;
          let lease: LeaseState = 'starting';
          const held = keepLease(leaseDb, `read-processor:${name}`, {
            signal: stop.signal,
            onStandby: () => {
              lease = 'standby';
              plog.info('another process runs this projection: standing by');
            },
            onAcquired: () => {
              lease = 'held';
              plog.info('holding the projection lease: consuming');
            },
            onLost: (error) => {
              lease = 'lost';
              plog.warn({ err: error }, 'projection lease lost or not reachable: competing again');
            },
          }, async (leaseHeld) => {
            // Starting needs the read store and JetStream: retried while either is down, until the lease goes.
            if (!(await retryUnavailable(leaseHeld, () => started.start(), (error) => plog.warn({ err: error }, 'read processor not started: retrying')))) return;
            await untilAborted(leaseHeld);
            await started.stop(); // before the lease goes: a standby must not start while this one still applies
          }).catch((error: unknown) => plog.fatal({ err: error }, 'read processor stopped'));
          components['readProcessor'] = async () => {
            if (lease === 'standby') return { state: 'standby' };
            if (lease === 'lost') throw new Error('its lease was lost with the database connection: taking it again');
            return { state: (await started.status()).running ? 'running' : 'starting' };
          };
          cleanup.push(async () => {
            stop.abort();
            await held;
          });
        } else {
          await started.start();
          // In one process there is no lease to wait for: it runs from the start (health says so, as with NATS).
          components['readProcessor'] = async () => ({ state: (await started.status()).running ? 'running' : 'stopped' });
          cleanup.push(() => started.stop());
        }
      }
    }

    let relay: OutboxRelay | null = null;
    if (has('relay')) {
      const rlog = log.child({ role: 'relay' });
      const relayOptions = {
        ...options.relay,
        onError: (error: unknown) => rlog.warn({ err: error }, 'relay retrying'),
        onPublished: (event: RecordedEvent) => {
          metrics.relayPublishedEvent();
          if (rlog.isLevelEnabled('debug')) {
            rlog.debug({ eventId: event.eventId, globalPosition: event.globalPosition, type: event.type, correlationId: event.metadata.correlationId }, 'published');
          }
        },
        wake: appended,
      };
      if (busTarget.kind === 'in-process') {
        // The bus forgets everything at a restart: publish again from where the read model stands.
        const from = (await readModel!.checkpoint(processor!.name))?.position ?? 0;
        relay = new OutboxRelay(
          { store, publisher: bus!, checkpoints: new MemoryRelayCheckpoints({ 'in-process': from }), countEventsAfter: sqlCountEventsAfter(store.sql) },
          { ...relayOptions, name: 'in-process', resumeFromBus: false },
        );
      } else {
        relay = new OutboxRelay(
          { store, publisher: bus!, checkpoints: await SqlRelayCheckpoints.open(store.sql), countEventsAfter: sqlCountEventsAfter(store.sql) },
          { ...relayOptions, name: `nats:${busTarget.stream}` },
        );
      }
      const running = relay;
      metrics.watchRelay(() => running.lag());
      const stop = new AbortController();
      let lease: LeaseState = 'starting';
      // One relay per JetStream stream: a second relay process waits as a hot standby, and a relay whose lease
      // went with its connection (a database restart) stops and competes again. (The in-process bus belongs
      // to this process alone, so its relay needs no lease.)
      const run = busTarget.kind === 'nats'
        ? keepLease(store.sql, `relay:nats:${busTarget.stream}`, {
          signal: stop.signal,
          onStandby: () => {
            lease = 'standby';
            rlog.info('another process relays this stream: standing by');
          },
          onAcquired: () => {
            lease = 'held';
            rlog.info('holding the relay lease: relaying');
          },
          onLost: (error) => {
            lease = 'lost';
            rlog.warn({ err: error }, 'relay lease lost or not reachable: competing again');
          },
        }, (held) => running.run(held))
        : running.run(stop.signal);
      const done = run.catch((error: unknown) => rlog.fatal({ err: error }, 'relay stopped'));
      cleanup.push(async () => {
        stop.abort();
        await done;
      });
      components['relay'] = async () => {
        if (lease === 'standby') return { state: 'standby' };
        if (lease === 'lost') throw new Error('its lease was lost with the database connection: taking it again');
        const lag = await running.lag();
        if (lag.state === 'stopped') throw new Error(`relay stopped: ${lag.lastError ?? 'unknown'}`);
        return { state: lag.state, eventsBehind: lag.eventsBehind, lagMs: lag.lagMs };
      };
    }

    // The sealer: one per store (a lease; others stand by), in the processes that take commands.
    const merkleLog = new SqlMerkleLog(store.sql, sha256);
    const signer = options.audit?.signer ?? generateSigner().signer;
    let sealer: Sealer | null = null;
    if (has('ledger-api') && options.audit?.sealer !== false) {
      const slog = log.child({ role: 'sealer' });
      const running = new Sealer({ store, log: merkleLog, signer, sha256 }, {
        ...options.audit?.sealer,
        onError: (error: unknown) => slog.warn({ err: error }, 'sealer retrying'),
      });
      sealer = running;
      metrics.watchSealer(() => running.status());
      const stop = new AbortController();
      let lease: LeaseState = 'starting';
      const done = keepLease(store.sql, 'sealer', {
        signal: stop.signal,
        onStandby: () => {
          lease = 'standby';
          slog.info('another process seals this store: standing by');
        },
        onAcquired: () => {
          lease = 'held';
          slog.info('holding the sealer lease: sealing');
        },
        onLost: (error) => {
          lease = 'lost';
          slog.warn({ err: error }, 'sealer lease lost or not reachable: competing again');
        },
      }, (held) => running.run(held)).catch((error: unknown) => slog.fatal({ err: error }, 'sealer stopped'));
      cleanup.push(async () => {
        stop.abort();
        await done;
      });
      components['sealer'] = async () => {
        if (lease === 'standby') return { state: 'standby' };
        if (lease === 'lost') throw new Error('its lease was lost with the database connection: taking it again');
        const status = running.status();
        if (status.state === 'stopped') throw new Error(`sealer stopped: ${status.lastError ?? 'unknown'}`);
        return { state: status.state, size: status.size, checkpointSize: status.checkpointSize, keyId: signer.keyId };
      };
    }

    if (options.auth && options.insecureNoAuth) throw new LedgerConfigError('auth and insecureNoAuth together: choose one');
    let keys: ApiKeys | null = null;
    if (options.auth) {
      keys = new ApiKeys(new SqlApiKeyStore(store.sql), {
        ...(options.auth.keyCacheTtlMs === undefined ? {} : { cacheTtlMs: options.auth.keyCacheTtlMs }),
      });
      if (options.auth.bootstrap ?? true) await bootstrapKeys(keys, options.auth, log);
    } else if (options.insecureNoAuth) {
      log.warn('AUTHENTICATION IS OFF (CHRONICLE_AUTH_DISABLED_INSECURE): anyone who reaches this port may move money, read every event and reset projections');
    }

    const readWaitMaxMs = options.readWaitMaxMs ?? 5_000;
    const app = await buildApp({
      store, ids, metrics, storeKind: options.store.kind, loggerInstance: log, components, appended,
      ...(keys ? { auth: {
        keys, rateLimitPerMinute: options.auth!.rateLimitPerMinute ?? RATE_LIMIT_PER_MINUTE_DEFAULT,
        ...(options.auth!.subscriptionsPerKeyMax === undefined ? {} : { subscriptionsPerKeyMax: options.auth!.subscriptionsPerKeyMax }),
        ...(options.auth!.authFailuresPerMinute === undefined ? {} : { authFailuresPerMinute: options.auth!.authFailuresPerMinute }),
      } } : {}),
      ...(options.httpTimeouts ? { timeouts: options.httpTimeouts } : {}),
      ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}),
      ...(has('ledger-api') ? { commands, audit: { store, log: merkleLog, signer, sealer } } : {}),
      ...(has('query-api') && readQueries && processor && readModel ? {
        accounts: { queries, readQueries, readWaitMaxMs },
        projections: {
          projections: [{ processor, queries: readQueries, model: readModel }],
          onRebuildError: (error: unknown) => log.error({ err: error }, 'projection rebuild failed'),
        },
      } : {}),
    });
    cleanup.push(() => app.close());
    let closing: Promise<void> | null = null;
    return {
      app, store, roles, commands, queries, readModel, readQueries, processor, relay, sealer, merkleLog, signer, bus, metrics, log, keys,
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** Where a lease-holding role stands: asking for the first time, waiting behind another holder, holding, or lost with its connection. */
type LeaseState = 'starting' | 'standby' | 'held' | 'lost';

/** Resolves when the signal aborts. */
const untilAborted = (signal: AbortSignal) => new Promise<void>((resolve) => {
  if (signal.aborted) resolve();
  else signal.addEventListener('abort', () => resolve(), { once: true });
});

/**
 * Runs fn until it succeeds (true) or the signal aborts (false), retrying outages of the database or the bus
 * (src/ports/unavailable.ts) with backoff; any other error is thrown.
 */
async function retryUnavailable(signal: AbortSignal, fn: () => Promise<void>, onError: (error: unknown) => void): Promise<boolean> {
  let delayMs = OUTAGE_RETRY_MIN_MS;
  while (!signal.aborted) {
    try {
      await fn();
      return true;
    } catch (error) {
      if (!isUnavailableError(error)) throw error;
      onError(error);
      await abortableSleep(delayMs, signal);
      delayMs = Math.min(delayMs * 2, OUTAGE_RETRY_MAX_MS);
    }
  }
  return false;
}

async function bootstrapKeys(keys: ApiKeys, auth: AuthOptions, log: Logger): Promise<void> {
  const outcome = await keys.bootstrap(auth.bootstrapKey);
  switch (outcome.kind) {
    case 'stored':
      log.info({ keyId: outcome.id }, 'stored CHRONICLE_BOOTSTRAP_KEY as the first admin key');
      return;
    case 'generated':
      log.info({ keyId: outcome.id }, 'no API key existed: generated the first admin key');
      if (auth.onKeyGenerated) auth.onKeyGenerated(outcome.key, outcome.id);
      else log.warn({ keyId: outcome.id }, `generated the first admin key, shown this once: ${outcome.key}`);
      return;
    case 'existing':
      // A restart: nothing to do. A chosen key that is not among the stored ones is not added (it may have
      // been revoked on purpose): make keys with POST /keys or `chronicle keys create`.
      if (auth.bootstrapKey !== undefined && !outcome.known) log.warn('CHRONICLE_BOOTSTRAP_KEY is not a stored key and keys exist already: it was not added');
  }
}
