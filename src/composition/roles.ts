// The wiring of each role (src/ledger.ts puts them together for the roles a process plays): which adapters
// back which ports, and what each role adds to /health, /metrics and the close sequence. Everything a step
// opens it also registers in `cleanup`, which closes in reverse order.
import type { Logger } from 'pino';
import { SqlApiKeyStore } from '../adapters/api-keys/sql-api-key-store.js';
import { generateSigner } from '../adapters/audit/signing-key.js';
import { SqlMerkleLog } from '../adapters/audit/sql-merkle-log.js';
import { InProcessEventBus } from '../adapters/event-bus/in-process/in-process-event-bus.js';
import { connectNatsEventBus } from '../adapters/event-bus/nats/nats-event-bus.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from '../adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { openEventStore, openSqlClient, type StoreTarget } from '../adapters/event-store/open-store.js';
import { patroniClusterState } from '../adapters/patroni/patroni-nodes.js';
import { sqlLeases } from '../adapters/event-store/sql/lease.js';
import type { SqlClient } from '../adapters/event-store/sql/sql-client.js';
import { sha256, type SqlEventStore } from '../adapters/event-store/sql/sql-event-store.js';
import { randomIds } from '../adapters/ids/random-ids.js';
import type { LedgerMetrics } from '../adapters/metrics/prometheus.js';
import { ReadReplicaNotReadyError, SqlReadModel } from '../adapters/read-model/sql-read-model.js';
import { AccountQueries } from '../application/account-queries.js';
import { AggregateRepository } from '../application/aggregate-repository.js';
import { AppendStallMonitor } from '../application/append-stall-monitor.js';
import { ApiKeys } from '../application/api-keys.js';
import { ChangeSignal } from '../application/change-signal.js';
import { accountAggregate } from '../domain/account/aggregate.js';
import { CommandHandler } from '../application/command-handler.js';
import { ReadModelQueries } from '../application/read-model-queries.js';
import { ReadProcessor, type ReadProcessorOptions } from '../application/read-processor.js';
import { MemoryRelayCheckpoints, OutboxRelay } from '../application/relay.js';
import { Sealer } from '../application/sealer.js';
import {
  ACCOUNT_LOAD_PAGE_EVENTS, ACCOUNT_QUEUE_COMMANDS_DEFAULT, AGGREGATE_CACHE_ACCOUNTS_DEFAULT, APPEND_STALL_DEFAULTS,
  PROJECTION_LAG_INTERVAL_MS_DEFAULT, READ_REPLICA_READY_WAIT_MS, SNAPSHOT_EVERY_EVENTS_DEFAULT,
} from '../domain/limits.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HealthCheck } from '../http/build-app.js';
import type { BusTarget, LedgerOptions, Role } from '../ledger.js';
import type { ClusterSource } from '../ports/cluster-control.js';
import type { EventBus } from '../ports/event-bus.js';
import type { RecordedEvent } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import type { CheckpointSigner, MerkleLog } from '../ports/merkle-log.js';
import { retryUnavailable, runUnderLease, untilAborted } from './run-under-lease.js';

/** What every role's wiring shares. */
export interface Wiring {
  options: LedgerOptions;
  roles: readonly Role[];
  has(role: Role): boolean;
  busTarget: BusTarget;
  log: Logger;
  metrics: LedgerMetrics;
  /** Run in reverse order on close. */
  cleanup: (() => Promise<void>)[];
  /** /health's components, in the order they are added. */
  components: Record<string, HealthCheck>;
  /** The event store's adapter: its database also holds relay checkpoints, leases, the Merkle log and API keys. */
  store: SqlEventStore;
  ids: IdGenerator;
  /** Notified after each accepted command in this process (relay, subscriptions). */
  appended: ChangeSignal;
  /** GET /cluster's sources (src/ports/cluster-control.ts), filled in by the steps that know them. */
  cluster: ClusterSource;
}

/** The event store, and on PostgreSQL the monitor of transactions holding the log head. */
export async function openStore(
  base: Omit<Wiring, 'store' | 'ids' | 'appended' | 'components' | 'cluster'>,
): Promise<Wiring> {
  const { options, metrics, log, cleanup } = base;
  const quorumLog = log.child({ component: 'quorum-gate' });
  const store = await openEventStore(options.store, {
    onGroupCommitFlush: (n) => metrics.groupCommitFlush(n),
    // Followers wait for the synchronous standbys (src/adapters/event-store/sql/quorum-gate.ts).
    quorum: {
      onWait: (seconds, released) => metrics.quorumWait(seconds, released),
      onHeld: (hold) => quorumLog.warn(hold, 'events are held back from followers: the synchronous standbys have not flushed them'),
      onReleased: (hold) => quorumLog.info(hold, 'the synchronous standbys caught up: followers go on'),
    },
  });
  cleanup.push(() => store.close());
  const wiring: Wiring = {
    ...base, store, ids: options.ids ?? randomIds, appended: new ChangeSignal(), components: {},
    cluster: options.clusterControl ? { control: options.clusterControl } : {},
  };
  if (options.store.kind === 'postgres') {
    const stalls = new AppendStallMonitor(() => store.appendBlocker(), log.child({ component: 'append-stall-monitor' }), {
      ...APPEND_STALL_DEFAULTS, ...options.appendStall,
    });
    stalls.start();
    cleanup.push(() => stalls.close());
    metrics.watchAppendStall(() => stalls.current());
    wiring.components['appendLock'] = async () => {
      const stalled = stalls.stalled();
      return stalled
        ? { status: 'degraded', blockingPid: stalled.pid, heldMs: stalled.ageMs, applicationName: stalled.applicationName }
        : { heldMs: stalls.current()?.ageMs ?? 0 };
    };
  }
  if (options.patroniUrls && options.patroniUrls.length > 0) {
    const urls = options.patroniUrls;
    // The database's nodes (Patroni's REST API): degraded while one is down, lagging alone or no standby is synchronous.
    wiring.components['postgresNodes'] = async () => {
      const state = await patroniClusterState(urls);
      return { ...(state.healthy ? {} : { status: 'degraded' }), nodes: state.nodes.map(({ url: _url, ...node }) => node) };
    };
    wiring.cluster.postgres = async () => (await patroniClusterState(urls)).nodes.map(({ url: _url, ...node }) => node);
  }
  return wiring;
}

/** ledger-api: the command handler (built in every process; its routes are served by this role only) and event-store queries. */
export function wireLedgerApi(w: Wiring): { commands: CommandHandler; queries: AccountQueries } {
  const { options, store, metrics, appended } = w;
  const repository = new AggregateRepository(store, {
    snapshotEvery: options.snapshotEvery ?? SNAPSHOT_EVERY_EVENTS_DEFAULT,
    cacheEntriesMax: options.aggregateCacheMax ?? AGGREGATE_CACHE_ACCOUNTS_DEFAULT,
    readPageSize: ACCOUNT_LOAD_PAGE_EVENTS,
  });
  const commands = new CommandHandler({
    store, repository, ids: w.ids, aggregates: [accountAggregate], lockWaitersMax: options.accountQueueMax ?? ACCOUNT_QUEUE_COMMANDS_DEFAULT,
    observe: (type, outcome, durationMs) => {
      metrics.command(type, outcome, durationMs);
      if (outcome.kind === 'accepted') appended.notify();
    },
  });
  return { commands, queries: new AccountQueries(store) };
}

/** The bus between relay and read processor, for the processes that run either. */
export async function wireBus(w: Wiring): Promise<EventBus> {
  const { busTarget } = w;
  let bus: EventBus;
  if (busTarget.kind === 'in-process') {
    bus = new InProcessEventBus();
    w.components['bus'] = async () => ({ kind: 'in-process' });
  } else {
    const nats = await connectNatsEventBus({
      servers: typeof busTarget.servers === 'string' ? busTarget.servers : [...busTarget.servers], streamName: busTarget.stream, connectionName: `chronicle-${w.roles.join('+')}`,
      ...(busTarget.subjectPrefix === undefined ? {} : { subjectPrefix: busTarget.subjectPrefix }),
      ...(busTarget.ackWaitMs === undefined ? {} : { ackWaitMs: busTarget.ackWaitMs }),
      ...(busTarget.replicas === undefined ? {} : { replicas: busTarget.replicas }),
    });
    bus = nats;
    w.components['bus'] = async () => {
      const { degraded, ...state } = await nats.streamState();
      return { kind: 'nats', stream: busTarget.stream, ...(degraded ? { status: 'degraded' } : {}), ...state };
    };
    w.cluster.nats = async () => {
      const { leader, replicas, degraded } = await nats.streamState();
      return { stream: busTarget.stream, leader, replicas, degraded };
    };
  }
  w.cleanup.push(() => bus.close());
  return bus;
}

export interface ReadSide {
  readModel: SqlReadModel;
  /** Where the read model's leases live: the read store's database. */
  readDb: SqlClient;
  readQueries: ReadModelQueries;
  processor: ReadProcessor;
}

/**
 * query-api (and read-processor): the read model, its queries with the lag monitor, and the processor object
 * (which a query API uses to rebuild and replay, without consuming).
 */
export async function wireQueryApi(w: Wiring, bus: EventBus | null): Promise<ReadSide> {
  const { options, store, log, metrics, cleanup } = w;
  let readDb: SqlClient = store.sql;
  if (options.readStore) {
    const separate = await openSqlClient(options.readStore);
    readDb = separate;
    cleanup.push(() => separate.close());
  }
  const readModel = await SqlReadModel.open(readDb);
  w.components['readStore'] = async () => {
    await readModel.ping();
    return { kind: readDb.dialect, separate: options.readStore !== undefined };
  };
  // Balances and the account list come from the replica when there is one (their freshness from its own
  // checkpoint); rebuilds, dead letters and the processor stay on the read store.
  const served = options.readReplica && w.has('query-api') ? await wireReadReplica(w, options.readReplica) : readModel;
  const name = options.readProcessor?.name ?? 'accounts';
  const readQueries = new ReadModelQueries(
    { model: served, store, countEventsAfter: sqlCountEventsAfter(store.sql) },
    { projection: name, lagIntervalMs: options.lagIntervalMs ?? PROJECTION_LAG_INTERVAL_MS_DEFAULT },
  );
  readQueries.startLagMonitor((error) => log.warn({ err: error }, 'projection lag not measured'));
  cleanup.push(() => readQueries.close());
  metrics.watchProjection(name, () => readQueries.currentLag());
  const processor = new ReadProcessor({ bus: w.has('read-processor') ? bus : null, store, readModel }, processorOptions(w, name, readQueries));
  return { readModel, readDb, readQueries, processor };
}

/** The read model on READ_REPLICA_URL, waited for until it has the schema; /health reports its replay lag. */
async function wireReadReplica(w: Wiring, target: StoreTarget): Promise<SqlReadModel> {
  const db = await openSqlClient(target, 'chronicle-read-replica');
  w.cleanup.push(() => db.close());
  // The schema was just set up on the primary (wireQueryApi): the replica has it once it replays that far.
  const deadline = Date.now() + READ_REPLICA_READY_WAIT_MS;
  let model: SqlReadModel;
  for (;;) {
    try {
      model = await SqlReadModel.onReplica(db);
      break;
    } catch (error) {
      if (!(error instanceof ReadReplicaNotReadyError) || Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
  w.components['readReplica'] = async () => ({ kind: 'postgres', ...(await model.replicaState()) });
  return model;
}

/** The read processor's options: the caller's, with metrics and logs around its callbacks. */
function processorOptions(w: Wiring, name: string, readQueries: ReadModelQueries): ReadProcessorOptions {
  const { options, metrics } = w;
  const plog = w.log.child({ role: 'read-processor', projection: name });
  return {
    ...options.readProcessor,
    onDelivered: (event, delivery) => {
      metrics.projectionDelivered(name, delivery);
      options.readProcessor?.onDelivered?.(event, delivery);
    },
    onHandled: (event, outcome, delivery) => {
      metrics.projectionHandled(name, event, outcome);
      readQueries.changes.notify();
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
  };
}

/**
 * read-processor: consumes the bus into the read model. With NATS, one consumer per projection (a lease in
 * the read store; others stand by); with the in-process bus it runs from the start, in this process alone.
 */
export async function wireReadProcessor(w: Wiring, { processor, readDb }: ReadSide): Promise<void> {
  const plog = w.log.child({ role: 'read-processor', projection: processor.name });
  if (w.busTarget.kind !== 'nats') {
    await processor.start();
    // In one process there is no lease to wait for: it runs from the start (health says so, as with NATS).
    w.components['readProcessor'] = async () => ({ state: (await processor.status()).running ? 'running' : 'stopped' });
    w.cleanup.push(() => processor.stop());
    return;
  }
  runUnderLease(w, 'readProcessor', {
    lease: { leases: sqlLeases(readDb), name: `read-processor:${processor.name}` },
    log: plog,
    messages: {
      standby: 'another process runs this projection: standing by',
      acquired: 'holding the projection lease: consuming',
      lost: 'projection lease lost or not reachable: competing again',
      stopped: 'read processor stopped',
    },
    run: async (held) => {
      // Starting needs the read store and JetStream: retried while either is down, until the lease goes.
      if (!(await retryUnavailable(held, () => processor.start(), (error) => plog.warn({ err: error }, 'read processor not started: retrying')))) return;
      await untilAborted(held);
      await processor.stop(); // before the lease goes: a standby must not start while this one still applies
    },
    health: async () => ({ state: (await processor.status()).running ? 'running' : 'starting' }),
  });
}

/**
 * relay: event store → bus, one per JetStream stream (a lease; others stand by). The in-process bus belongs
 * to this process alone, so its relay needs no lease, and it forgets everything at a restart: the relay
 * publishes again from where the read model stands.
 */
export async function wireRelay(w: Wiring, bus: EventBus, read: ReadSide | null): Promise<OutboxRelay> {
  const { store, busTarget, metrics } = w;
  const rlog = w.log.child({ role: 'relay' });
  const relayOptions = {
    ...w.options.relay,
    onError: (error: unknown) => rlog.warn({ err: error }, 'relay retrying'),
    onPublished: (event: RecordedEvent) => {
      metrics.relayPublishedEvent();
      if (rlog.isLevelEnabled('debug')) {
        rlog.debug({ eventId: event.eventId, globalPosition: event.globalPosition, type: event.type, correlationId: event.metadata.correlationId }, 'published');
      }
    },
    wake: w.appended,
  };
  const countEventsAfter = sqlCountEventsAfter(store.sql);
  const relay = busTarget.kind === 'in-process'
    ? new OutboxRelay(
      { store, publisher: bus, checkpoints: new MemoryRelayCheckpoints({ 'in-process': (await read!.readModel.checkpoint(read!.processor.name))?.position ?? 0 }), countEventsAfter },
      { ...relayOptions, name: 'in-process', resumeFromBus: false },
    )
    : new OutboxRelay(
      { store, publisher: bus, checkpoints: await SqlRelayCheckpoints.open(store.sql), countEventsAfter },
      { ...relayOptions, name: `nats:${busTarget.stream}` },
    );
  metrics.watchRelay(() => relay.lag());
  runUnderLease(w, 'relay', {
    lease: busTarget.kind === 'nats' ? { leases: sqlLeases(store.sql), name: `relay:nats:${busTarget.stream}` } : null,
    log: rlog,
    messages: {
      standby: 'another process relays this stream: standing by',
      acquired: 'holding the relay lease: relaying',
      lost: 'relay lease lost or not reachable: competing again',
      stopped: 'relay stopped',
    },
    run: (held) => relay.run(held),
    health: async () => {
      const lag = await relay.lag();
      if (lag.state === 'stopped') throw new Error(`relay stopped: ${lag.lastError ?? 'unknown'}`);
      return { state: lag.state, eventsBehind: lag.eventsBehind, lagMs: lag.lagMs };
    },
  });
  return relay;
}

/** The Merkle log (every process answers proofs from it) and the key that signs its checkpoints. */
export async function openAudit(w: Wiring): Promise<{ merkleLog: MerkleLog; signer: CheckpointSigner }> {
  const merkleLog = new SqlMerkleLog(w.store.sql, sha256);
  const given = w.options.audit?.signer;
  const signer = typeof given === 'function' ? await given(merkleLog) : given ?? generateSigner().signer;
  return { merkleLog, signer };
}

/** sealer: one per store (a lease; others stand by), in the processes that take commands. */
export function wireSealer(w: Wiring, { merkleLog, signer }: { merkleLog: MerkleLog; signer: CheckpointSigner }): Sealer {
  const slog = w.log.child({ role: 'sealer' });
  const sealer = new Sealer({ store: w.store, log: merkleLog, signer, sha256 }, {
    ...(w.options.audit?.sealer || {}),
    onError: (error: unknown) => slog.warn({ err: error }, 'sealer retrying'),
  });
  w.metrics.watchSealer(() => sealer.status());
  runUnderLease(w, 'sealer', {
    lease: { leases: sqlLeases(w.store.sql), name: 'sealer' },
    log: slog,
    messages: {
      standby: 'another process seals this store: standing by',
      acquired: 'holding the sealer lease: sealing',
      lost: 'sealer lease lost or not reachable: competing again',
      stopped: 'sealer stopped',
    },
    run: (held) => sealer.run(held),
    health: async () => {
      const status = sealer.status();
      if (status.state === 'stopped') throw new Error(`sealer stopped: ${status.lastError ?? 'unknown'}`);
      return { state: status.state, size: status.size, checkpointSize: status.checkpointSize, keyId: signer.keyId };
    },
  });
  return sealer;
}

/** API keys, with `auth`: kept in the event store's database. */
export function openKeys(w: Wiring): ApiKeys | null {
  const auth = w.options.auth;
  if (!auth) return null;
  return new ApiKeys(new SqlApiKeyStore(w.store.sql), {
    ...(auth.keyCacheTtlMs === undefined ? {} : { cacheTtlMs: auth.keyCacheTtlMs }),
  });
}
