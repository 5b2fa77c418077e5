// Every bound the ledger enforces and every default it runs with live here, so a reader can see them all at
// once ("put a limit on everything"). Units go last in names (`..._MS_DEFAULT`, `..._EVENTS_MAX`); a bare
// count names what it counts. Constants only, no behaviour.
//
// Why in src/domain although most of it is operations, not ledger rules: every layer must be able to read it,
// the domain included (which imports nothing outside src/domain), and it has no dependency of its own. The
// sections: the ledger's own bounds; the HTTP API's; the configuration (each environment variable's default
// and range: src/config.ts validates against them, README's table shows them, test/config.unit.test.ts
// checks both); and the parts' defaults (write side, group commit, read side, relay, sealer, bus, leases,
// API keys, subscriptions).

/** Largest amount or balance in minor units: the signed 64-bit ceiling, so every value fits a SQL BIGINT. */
export const AMOUNT_MINOR_MAX = 2n ** 63n - 1n;

/** Account ids are client-chosen; bounded so that stream ids and index keys stay small. */
export const ACCOUNT_ID_LENGTH_MAX = 64;
export const OWNER_LENGTH_MAX = 200;

/** Stream ids of the raw event-store API. */
export const STREAM_ID_LENGTH_MAX = 200;
/** Events in one append through the raw event-store API. */
export const APPEND_EVENTS_MAX = 100;
/** Page sizes of every read. */
export const READ_PAGE_DEFAULT = 100;
export const READ_PAGE_MAX = 1_000;

/**
 * Subscriptions (SSE) open at once in one process (beyond: 503 overloaded), and per API key (the default of
 * SUBSCRIPTIONS_PER_KEY_MAX; beyond: 429 too_many_subscriptions), so that one key cannot take every place.
 */
export const SUBSCRIPTIONS_MAX = 1_000;
export const SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT = 100;
/**
 * The shared `$all` feed of subscriptions (src/application/live-feed.ts): the last events it read, kept for
 * subscribers that join it, and the events queued for one live subscriber before it is left to catch up on
 * its own (a slow client). The second must be at least the first.
 */
export const SUBSCRIPTION_FEED_RING_EVENTS_MAX = 1_000;
export const SUBSCRIPTION_BUFFER_EVENTS_MAX = 2_000;

/** Optimistic-concurrency retries of one command after a version conflict (another process wrote). */
export const COMMAND_CONFLICT_RETRIES_MAX = 8;

/** Idempotency keys, as in the IETF Idempotency-Key draft: an opaque string, bounded. */
export const IDEMPOTENCY_KEY_LENGTH_MAX = 255;

/**
 * Nesting of the JSON an event carries (raw appends' data and metadata). PostgreSQL's jsonb parser recurses
 * and runs out of stack a few thousand levels down; real events are shallow. Also the canonical encoding's
 * bound (src/domain/audit/canonical.ts).
 */
export const JSON_DEPTH_MAX = 64;

/** Request bodies. Commands are tiny; the raw stream API carries up to APPEND_EVENTS_MAX events. */
export const COMMAND_BODY_BYTES_MAX = 16 * 1024;
export const APPEND_BODY_BYTES_MAX = 1024 * 1024;
/** Every other body (key management, anything new): Fastify's default of 1 MiB is more than any needs. */
export const BODY_BYTES_MAX = 64 * 1024;

/**
 * How long an HTTP client may take (defaults of REQUEST_TIMEOUT_MS, HEADERS_TIMEOUT_MS, CONNECTION_TIMEOUT_MS;
 * src/http/build-app.ts): the whole request (headers and body) from its first byte, its headers, and a
 * connection silent both ways. A commands' body is 16 KiB; 30 s is ample for anything but a dripping client.
 */
export const HTTP_REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
export const HTTP_HEADERS_TIMEOUT_MS_DEFAULT = 10_000;
export const HTTP_CONNECTION_TIMEOUT_MS_DEFAULT = 120_000;

/** The nesting depth of a JSON value (a scalar is 0), counted without recursion; stops past `max`. */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(current) ? current : Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Outages of the database or the bus (src/ports/unavailable.ts). A connection attempt gives up after
 * CONNECT_TIMEOUT_MS (a server that accepts no connection must not hold a request forever); a refused
 * request tells its client to come back after RETRY_AFTER_S (503 `unavailable`, Retry-After).
 */
export const DB_CONNECT_TIMEOUT_MS = 5_000;
export const UNAVAILABLE_RETRY_AFTER_S = 1;
/**
 * Leases (src/adapters/event-store/sql/lease.ts): how often a holder checks that its lease's connection is
 * alive, and how long that check may take before the lease counts as lost. The backoff (doubling from MIN to
 * MAX) between attempts after a connection error: taking a lease again, starting a role, applying an event.
 */
export const LEASE_CHECK_INTERVAL_MS = 1_000;
export const LEASE_CHECK_TIMEOUT_MS = 5_000;
export const OUTAGE_RETRY_MIN_MS = 100;
export const OUTAGE_RETRY_MAX_MS = 5_000;

// ---------------------------------------------------------------------------------------------------------
// Configuration: each environment variable's default and the range src/config.ts accepts.

export const PORT_MAX = 65_535;
/** PORT: the API's HTTP port (0: any free port). */
export const HTTP_PORT_DEFAULT = 4_000;
/** DASHBOARD_PORT. */
export const DASHBOARD_PORT_DEFAULT = 3_000;
/** HOST: loopback; expose it on purpose. */
export const HTTP_HOST_DEFAULT = '127.0.0.1';
/** CHRONICLE_DATA_DIR: PGlite's directory, relative to the working directory. */
export const DATA_DIR_DEFAULT = '.chronicle';
/** LOG_LEVEL. */
export const LOG_LEVEL_DEFAULT = 'info';
/** PG_POOL_MAX: PostgreSQL connections per pool. */
export const PG_POOL_CONNECTIONS_DEFAULT = 16;
export const PG_POOL_CONNECTIONS_MAX = 1_000;
/** SNAPSHOT_EVERY: snapshot an account every N events; 0 = never. */
export const SNAPSHOT_EVERY_EVENTS_DEFAULT = 100;
export const SNAPSHOT_EVERY_EVENTS_MAX = 1_000_000;
/** AGGREGATE_CACHE_MAX: accounts the write side keeps in memory; 0 = none. */
export const AGGREGATE_CACHE_ACCOUNTS_DEFAULT = 100_000;
export const AGGREGATE_CACHE_ACCOUNTS_MAX = 10_000_000;
/** ACCOUNT_QUEUE_MAX: commands that may wait on one account before 503 overloaded. */
export const ACCOUNT_QUEUE_COMMANDS_DEFAULT = 10_000;
export const ACCOUNT_QUEUE_COMMANDS_MAX = 1_000_000;
/** READ_WAIT_MAX_MS: the longest a read-your-writes query (?minPosition=) waits, and how long it may be set. */
export const READ_WAIT_MS_DEFAULT = 5_000;
export const READ_WAIT_MS_MAX = 60_000;
/** A read on the read replica cancelled by a conflict with recovery is run again up to this many times. */
export const READ_REPLICA_CONFLICT_RETRIES = 3;
/** How long query-api waits at start for the read replica to have replayed the read model's schema. */
export const READ_REPLICA_READY_WAIT_MS = 30_000;
/** The longest /health waits for one Patroni node's REST API. */
export const PATRONI_REQUEST_TIMEOUT_MS = 1_000;
/** APPEND_STALL_WARN_MS: a transaction holding the event log head longer than this is reported. */
export const APPEND_STALL_WARN_MS_DEFAULT = 5_000;
export const APPEND_STALL_WARN_MS_MIN = 100;
/** NATS_STREAM: the JetStream stream between relay and read processor. */
export const NATS_STREAM_DEFAULT = 'chronicle-events';
/** NATS_SUBJECT_PREFIX (and the in-process bus's): subjects `<prefix>.<aggregate>.<EventType>` (the spec's events.account.*). */
export const EVENT_SUBJECT_PREFIX_DEFAULT = 'events';
/**
 * NATS_ACK_WAIT_MS: a delivered event not acknowledged within this is delivered again (after a crash); a live
 * read processor renews it every 3 s (READ_PROCESSOR_WORKING_INTERVAL_MS), so the minimum
 * stays above that. One
 * value for the CLI and the adapter (the adapter's own default was 30 s, the CLI's 10 s: 10 s it is, what
 * every process started by the CLI has run with).
 */
export const NATS_ACK_WAIT_MS_DEFAULT = 10_000;
export const NATS_ACK_WAIT_MS_MIN = 4_000;
/**
 * NATS_STREAM_REPLICAS: copies JetStream keeps of the stream (its num_replicas). 1 for a single server; 3 on a
 * three-server cluster survives the loss of one. JetStream allows at most 5.
 */
export const NATS_STREAM_REPLICAS_DEFAULT = 1;
export const NATS_STREAM_REPLICAS_MAX = 5;
/** CHRONICLE_CHECKPOINT_INTERVAL_MS: the sealer signs at most one checkpoint per interval. */
export const CHECKPOINT_INTERVAL_MS_DEFAULT = 1_000;
export const CHECKPOINT_INTERVAL_MS_MIN = 10;
/** RATE_LIMIT_PER_MINUTE: requests per key (or per address without one): 1,000 a second, far above one client's honest use. */
export const RATE_LIMIT_PER_MINUTE_DEFAULT = 60_000;
/**
 * AUTH_FAILURES_PER_MINUTE: failed authentications (a malformed, unknown or revoked key) per client address.
 * Each unknown key can cost a query, so this bounds what guessing costs the database.
 */
export const AUTH_FAILURES_PER_MINUTE_DEFAULT = 60;
/** Upper bound of both per-minute rates. */
export const PER_MINUTE_MAX = 1_000_000_000;
/** REQUEST_TIMEOUT_MS, HEADERS_TIMEOUT_MS, CONNECTION_TIMEOUT_MS (defaults above): their range. */
export const HTTP_TIMEOUT_MS_MIN = 100;
export const HTTP_TIMEOUT_MS_MAX = 3_600_000;
/** A silent connection must outlive the SSE heartbeat (SUBSCRIPTION_HEARTBEAT_INTERVAL_MS), or idle subscriptions would be cut. */
export const HTTP_CONNECTION_TIMEOUT_MS_MIN = 20_000;
/** SHUTDOWN_TIMEOUT_MS: a shutdown not finished within this exits anyway. */
export const SHUTDOWN_TIMEOUT_MS_DEFAULT = 10_000;
export const SHUTDOWN_TIMEOUT_MS_MIN = 100;
export const SHUTDOWN_TIMEOUT_MS_MAX = 600_000;
/** The range of the other millisecond settings (APPEND_STALL_WARN_MS, NATS_ACK_WAIT_MS, CHRONICLE_CHECKPOINT_INTERVAL_MS). */
export const SETTING_MS_MAX = 3_600_000;

// ---------------------------------------------------------------------------------------------------------
// The parts' defaults and bounds.

/** Write side: events read per page when an account is loaded (snapshot + events after it). */
export const ACCOUNT_LOAD_PAGE_EVENTS = 1_000;

/** Group commit (src/adapters/event-store/sql/group-commit.ts): requests and events per batch, batches in flight. */
export const GROUP_COMMIT_DEFAULTS = Object.freeze({ batchRequestsMax: 128, batchEventsMax: 1_024, flushesMax: 2 });
/** Idempotency keys looked up in one query: the lookups of one event-loop turn go together, this many at most. */
export const IDEMPOTENCY_LOOKUP_BATCH_MAX = 256;
/** Balance reads answered by one read-model query: those of one event-loop turn go together, this many at most. */
export const BALANCE_READ_BATCH_MAX = 256;

/** The read model's freshness (src/application/read-model-queries.ts): lag measured every interval, counted up to a cap. */
export const PROJECTION_LAG_INTERVAL_MS_DEFAULT = 1_000;
export const PROJECTION_LAG_COUNT_EVENTS_MAX = 100_000;
/** Positions whose event (account, stream version) the read-your-writes check remembers. */
export const POSITION_KEY_CACHE_ENTRIES_MAX = 10_000;
/** A projection that has not moved for this long while events wait is reported `stalled` (GET /projections). */
export const PROJECTION_STALLED_AFTER_MS = 30_000;

/** The outbox relay (src/application/relay.ts). */
export const RELAY_DEFAULTS = {
  /** Save the checkpoint after this many published events at most: also the bound on the re-sent tail. */
  checkpointEveryEvents: 500,
  checkpointIntervalMs: 200,
  pageSize: 500,
  pollIntervalMs: 50,
  retryMinMs: 100,
  retryMaxMs: 5_000,
  lagCountMax: 100_000,
} as const;
/** Events in flight at once when the bus can pipeline (publishMany). */
export const RELAY_PIPELINE_EVENTS_MAX = 100;

/** The sealer (src/application/sealer.ts). */
export const SEALER_DEFAULTS = {
  checkpointIntervalMs: CHECKPOINT_INTERVAL_MS_DEFAULT,
  pageSize: 1_000,
  // Sealing is not on any request's path and checkpoints come once a second: reading $all every 200 ms lets
  // pages fill (hundreds of events per write under load) instead of one statement per command. Measured: with
  // a wake-up per command the sealer cost as much as a third of the command throughput.
  pollIntervalMs: 200,
  retryMinMs: 100,
  retryMaxMs: 5_000,
} as const;

/**
 * The quorum gate (src/adapters/event-store/sql/quorum-gate.ts): a page of `$all` is handed to a follower
 * only once the synchronous standbys have flushed the WAL it was read at. While they have not, it polls
 * pg_stat_replication with backoff (MIN doubling to MAX); a read held longer than `waitMaxMs` returns no
 * events (the follower polls again, and its own stop signal is honoured within that bound). A hold longer
 * than `warnAfterMs` is logged once, and its end.
 */
export const QUORUM_GATE_DEFAULTS = Object.freeze({ pollMinMs: 1, pollMaxMs: 50, waitMaxMs: 1_000, warnAfterMs: 5_000 });
/**
 * How long an Idempotency-Key replay waits for its stored answer to be durable on the synchronous standbys
 * before answering 503 `outcome_unknown` again (the first attempt's commit was cut off from its standby).
 */
export const QUORUM_REPLAY_WAIT_MS = 3_000;

/** The append-stall monitor (src/application/append-stall-monitor.ts): how often it looks, when it warns, how often it repeats. */
export const APPEND_STALL_DEFAULTS = Object.freeze({ intervalMs: 1_000, warnMs: APPEND_STALL_WARN_MS_DEFAULT, warnEveryMs: 10_000 });

/** The NATS JetStream bus (src/adapters/event-bus/nats/nats-event-bus.ts). */
export const NATS_BUS_DEFAULTS = {
  streamName: NATS_STREAM_DEFAULT,
  /** Must exceed the longest a relay can be down holding an unsaved checkpoint tail. */
  duplicateWindowMs: 120_000,
  /** 0: keep every message. */
  maxAgeMs: 0,
  replicas: NATS_STREAM_REPLICAS_DEFAULT,
  publishTimeoutMs: 5_000,
  apiTimeoutMs: 5_000,
  ackWaitMs: NATS_ACK_WAIT_MS_DEFAULT,
  /** Messages a consumer pulls ahead of its handler (never more than maxAckPending). */
  pullBatchMax: 256,
} as const;

/** The in-process bus (src/adapters/event-bus/in-process/in-process-event-bus.ts). */
export const IN_PROCESS_BUS_DEFAULTS = {
  duplicateWindowMs: 120_000,
  duplicateIdsMax: 1_000_000,
  messagesMax: 100_000,
} as const;

/** Bounds on a bus subscription's options (src/adapters/event-bus/consumer-rules.ts). */
export const MAX_DELIVER_MAX = 1_000;
export const MAX_ACK_PENDING_MAX = 10_000;
export const BACKOFF_MS_MAX = 3_600_000;
export const BACKOFF_STEPS_MAX = 50;

/** How often a standby asks for a lease again (src/adapters/event-store/sql/lease.ts). */
export const LEASE_RETRY_MS = 1_000;

/**
 * API keys (src/application/api-keys.ts): how long a verified key is trusted without asking the database
 * (the revocation latency), keys and unknown ids remembered, keys listed, a key's name.
 */
export const KEY_CACHE_TTL_MS = 2_000;
export const KEY_CACHE_ENTRIES_MAX = 10_000;
export const KEY_NEGATIVE_CACHE_ENTRIES_MAX = 10_000;
export const KEYS_LIST_MAX = 10_000;
export const KEY_NAME_LENGTH_MAX = 100;

/** A cluster node's name in /cluster/nodes/{name} (the launcher's are like pg-1, api-2, dashboard-1). */
export const NODE_NAME_LENGTH_MAX = 40;

/** Rate-limit buckets remembered at once (src/http/rate-limit.ts); past it idle (full) buckets are dropped, then the oldest. */
export const RATE_LIMIT_BUCKETS_MAX = 100_000;

/** Subscriptions (src/application/subscription.ts, src/http/subscription-routes.ts): a page, the wait when caught up, the heartbeat. */
export const SUBSCRIPTION_PAGE_SIZE = 100;
export const SUBSCRIPTION_POLL_INTERVAL_MS = 50;
export const SUBSCRIPTION_HEARTBEAT_INTERVAL_MS = 15_000;
/** Sent as the SSE `retry:` field: how long an EventSource waits before reconnecting. */
export const SUBSCRIPTION_RECONNECT_DELAY_MS = 2_000;

/** /health gives each component this long to answer. */
export const HEALTH_CHECK_TIMEOUT_MS = 2_000;
/** /audit/checkpoints: a page's default and largest size. */
export const AUDIT_CHECKPOINTS_PAGE_DEFAULT = 100;
export const AUDIT_CHECKPOINTS_PAGE_MAX = 1_000;
/** Event types of the raw stream API; a correlation id (X-Correlation-Id); an account list search; a URL path parameter. */
export const EVENT_TYPE_LENGTH_MAX = 100;
export const CORRELATION_ID_LENGTH_MAX = 128;
export const ACCOUNT_SEARCH_LENGTH_MAX = 200;
export const URL_PARAM_LENGTH_MAX = 512;
/** How long a browser may cache a CORS preflight answer. */
export const CORS_PREFLIGHT_MAX_AGE_S = 600;
/** Accounts whose opening event the event-store queries remember (src/application/account-queries.ts). */
export const OPENED_CACHE_ACCOUNTS_MAX = 100_000;
/** Dead letters: a page's default size, and the stored error text's length. */
export const DEAD_LETTERS_PAGE_DEFAULT = 100;
export const DEAD_LETTER_ERROR_LENGTH_MAX = 4_000;
/** Findings `chronicle verify` lists at most (the rest are counted). */
export const VERIFY_FINDINGS_MAX = 1_000;
/** `chronicle verify` reads the database this many rows a query (src/adapters/audit/verify-sources.ts). */
export const VERIFY_PAGE_ROWS = 5_000;
/** NATS: the wait between reconnect attempts, and how long closing waits for buffered messages to drain. */
export const NATS_RECONNECT_WAIT_MS = 1_000;
/**
 * NATS: at start-up, how often a process asks again for the stream (info, create) when JetStream does not
 * answer in time or has no meta leader yet (a cluster forming or electing), and the wait between attempts;
 * then it gives up and the start fails. A three-server cluster on a busy two-core machine needed more than one.
 */
export const NATS_STARTUP_STREAM_ATTEMPTS = 8;
export const NATS_STARTUP_STREAM_RETRY_MS = 1_000;
export const NATS_DRAIN_TIMEOUT_MS = 5_000;
/** Log lines the CLI queues for a slow stdout before it drops them (src/cli/stdout-destination.ts). */
export const STDOUT_QUEUE_BYTES_MAX = 4 * 1024 * 1024;

/** The read processor (src/application/read-processor.ts): its consumer's name, redelivery bounds and backoff, batches. */
export const READ_PROCESSOR_DEFAULTS = {
  name: 'accounts',
  maxDeliver: 5,
  maxAckPending: 256,
  batchMax: 256,
  backoffMs: [100, 500, 2_000, 5_000] as readonly number[],
  rebuildPageSize: 4_000,
  rebuildWhenEmpty: true,
} as const;
/** How often a handler waiting for the projection lock tells the bus it is still at work. */
export const READ_PROCESSOR_WORKING_INTERVAL_MS = 3_000;
/** Appends that lost a race to create a new stream or to store an event id, tried again (settled on the next try). */
export const NEW_STREAM_RACE_RETRIES_MAX = 3;
/** A chosen API key's secret must use at least this many distinct characters (CHRONICLE_BOOTSTRAP_KEY). */
export const API_KEY_SECRET_DISTINCT_CHARACTERS_MIN = 16;

/**
 * `chronicle simulate-traffic` (src/cli/traffic/): what it sends and how long it keeps asking. An attempt with
 * no definite answer (a 503, a timeout, a connection error) is retried with the same Idempotency-Key, with
 * backoff, on the next URL, for at most `retryGiveUpMs` (longer than a Patroni failover, whose TTL is at least
 * 20 s), then journaled `unknown`.
 */
export const TRAFFIC_DEFAULTS = {
  accounts: 20,
  currencies: ['EUR'] as readonly string[],
  attemptTimeoutMs: 10_000,
  retryGiveUpMs: 60_000,
  retryBackoffMs: [50, 100, 250, 500, 1_000, 2_000] as readonly number[],
  progressIntervalMs: 1_000,
  depositAmountMax: 1_000,
  withdrawAmountMax: 1_500,
  transferAmountMax: 800,
} as const;
/** Bounds of `chronicle simulate-traffic`'s arguments. */
export const TRAFFIC_CLIENTS_MAX = 1_000;
export const TRAFFIC_ACCOUNTS_MAX = 100_000;
export const TRAFFIC_SECONDS_MAX = 86_400;
/**
 * `chronicle verify-consistency`: how long it waits for the read model and the JetStream stream to catch up
 * with $all before it compares them, and how many failures of one check it prints (the rest are counted).
 */
export const CONSISTENCY_CATCH_UP_WAIT_MS = 30_000;
export const CONSISTENCY_FAILURES_SHOWN_MAX = 20;
