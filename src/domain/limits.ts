// Every bound the ledger enforces lives here, so a reader can see them all at once ("put a limit on
// everything"). Units go last in names.

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
