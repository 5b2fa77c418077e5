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
