// The one error catalogue of the HTTP API: every error any route answers has a code here, with its status.
// Body shape, always: {"error": {"code": "...", "message": "...", "details": ...}}. docs/errors.md lists
// the same codes, and test/http-errors.unit.test.ts fails if the two drift apart.
import { CanonicalEncodingError } from '../domain/audit/canonical.js';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Rejection, RejectionCode } from '../domain/rejections.js';
import { UNAVAILABLE_RETRY_AFTER_S } from '../domain/limits.js';
import { CommitOutcomeUnknownError, isUnavailableError } from '../ports/unavailable.js';

const REJECTION_STATUS: Record<RejectionCode, number> = {
  amount_invalid: 400,
  amount_exponent: 400,
  amount_fractional: 400,
  amount_negative: 400,
  amount_zero: 400,
  amount_too_large: 400,
  amount_unsafe_integer: 400,
  currency_invalid: 400,
  account_already_exists: 409,
  account_not_found: 404,
  accounts_must_be_different: 422,
  currency_mismatch: 422,
  insufficient_funds: 422,
  balance_overflow: 422,
};

const HTTP_STATUS = {
  malformed_json: 400,
  validation_failed: 400,
  instant_invalid: 400,
  bad_request: 400,
  nul_character: 400,
  unauthorized: 401,
  forbidden: 403,
  stream_reserved: 403,
  route_not_found: 404,
  key_not_found: 404,
  stream_not_found: 404,
  position_not_found: 404,
  projection_not_found: 404,
  dead_letter_not_found: 404,
  checkpoint_not_found: 404,
  event_not_sealed: 404,
  node_not_found: 404,
  rebuild_in_progress: 409,
  cluster_not_managed: 409,
  dead_letter_replay_failed: 409,
  version_conflict: 409,
  idempotency_key_reused: 409,
  event_ids_conflict: 409,
  concurrency_conflict: 409,
  body_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  request_timeout: 408,
  rate_limited: 429,
  too_many_subscriptions: 429,
  headers_too_large: 431,
  overloaded: 503,
  store_unavailable: 503,
  unavailable: 503,
  outcome_unknown: 503,
  internal_error: 500,
} as const;

export type HttpErrorCode = keyof typeof HTTP_STATUS;
export type ErrorCode = HttpErrorCode | RejectionCode;

export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = { ...REJECTION_STATUS, ...HTTP_STATUS };
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];

export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;
  constructor(readonly code: ErrorCode, message: string, readonly details?: unknown) {
    super(message);
    this.statusCode = ERROR_STATUS[code];
  }
}

export const rejectionError = (rejection: Rejection): ApiError =>
  new ApiError(rejection.code, rejection.message, rejection.details);

export const errorBody = (code: ErrorCode, message: string, details?: unknown) => ({
  error: details === undefined ? { code, message } : { code, message, details },
});

/** The error response schema, for OpenAPI. */
export const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', enum: ERROR_CODES }, message: { type: 'string' }, details: {} },
    },
  },
} as const;

// Fastify's own error codes for input it refuses before a handler runs.
const FASTIFY_CODES: Record<string, HttpErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
};

export function handleError(error: FastifyError | ApiError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) {
    return reply.status(error.statusCode).send(errorBody(error.code, error.message, error.details));
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    return reply.status(400).send(errorBody('validation_failed', `invalid ${fastifyError.validationContext ?? 'request'}: ${error.message}`,
      fastifyError.validation.map((v) => ({ path: v.instancePath, message: v.message, params: v.params }))));
  }
  const mapped = fastifyError.code === undefined ? undefined : FASTIFY_CODES[fastifyError.code];
  if (mapped) return reply.status(ERROR_STATUS[mapped]).send(errorBody(mapped, error.message));
  if (error instanceof SyntaxError) return reply.status(400).send(errorBody('malformed_json', error.message));
  // Event data with no canonical form (a float, an integer past 2^53, a lone surrogate) could never be
  // verified, so the store refuses it before writing anything (src/domain/audit/canonical.ts).
  if (error instanceof CanonicalEncodingError) {
    return reply.status(400).send(errorBody('validation_failed', `event has no canonical form: ${error.message}`,
      [{ path: error.pointer, message: error.message, params: { code: error.code } }]));
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return reply.status(fastifyError.statusCode).send(errorBody('bad_request', error.message));
  }
  // The database or the bus is down or restarting (src/ports/unavailable.ts): an outage, not a bug. No
  // driver text (addresses, server messages) goes out; the log has it.
  // A write whose commit may or may not have happened, or happened on the primary only (src/ports/unavailable.ts):
  // neither 201 nor a 4xx would be true. The retry with the same Idempotency-Key answers the truth.
  if (outcomeUnknown(error)) {
    request.log.warn({ err: error }, 'a write\'s outcome is unknown');
    reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
    return reply.status(503).send(errorBody('outcome_unknown',
      'the request may or may not have been applied, or is not yet durable: retry it with the same Idempotency-Key, which answers with the truth',
      { retryable: true, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_S, outcome: 'unknown' }));
  }
  if (isUnavailableError(error)) {
    request.log.warn({ err: error }, 'a dependency is unavailable');
    reply.header('retry-after', String(UNAVAILABLE_RETRY_AFTER_S));
    // A write cut off mid-way may or may not have landed (a lost COMMIT above all): only the same
    // Idempotency-Key makes its retry safe. A read is simply retried.
    const write = request.method !== 'GET' && request.method !== 'HEAD';
    return reply.status(503).send(errorBody('unavailable', write
      ? 'the database is unavailable; the request may or may not have been applied: retry it with the same Idempotency-Key'
      : 'the database is unavailable; retry later', { retryable: true, retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_S, ...(write ? { outcome: 'unknown' } : {}) }));
  }
  request.log.error({ err: error }, 'unhandled error');
  return reply.status(500).send(errorBody('internal_error', 'internal error; the request may be retried with the same Idempotency-Key'));
}

/** The error, or one it wraps (`cause`, AggregateError's `errors`), is a CommitOutcomeUnknownError. */
function outcomeUnknown(error: unknown, seen = new Set<unknown>()): boolean {
  if (typeof error !== 'object' || error === null || seen.has(error)) return false;
  seen.add(error);
  if (error instanceof CommitOutcomeUnknownError) return true;
  const { cause, errors } = error as { cause?: unknown; errors?: unknown };
  return (Array.isArray(errors) && errors.some((e) => outcomeUnknown(e, seen))) || outcomeUnknown(cause, seen);
}

/**
 * Errors Node's HTTP parser raises on a connection before Fastify has a request (headers too large, a
 * request not received within requestTimeout/headersTimeout, bytes that are not HTTP), answered in the one
 * error shape: Fastify's `clientErrorHandler`. It works on the raw socket, so it writes the response itself,
 * once, and only if no answer is under way on that socket (one cannot be followed by another); then the
 * connection is closed.
 */
export function clientErrorResponse(error: Error & { code?: string }, socket: import('node:net').Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message]: [HttpErrorCode, string] =
    error.code === 'HPE_HEADER_OVERFLOW' ? ['headers_too_large', 'the request headers are larger than the server accepts']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? ['request_timeout', 'the request was not received in time (headers or body too slow)']
        : ['bad_request', 'the request is not valid HTTP'];
  const status = ERROR_STATUS[code];
  const body = JSON.stringify(errorBody(code, message));
  // As Node itself decides (lib/_http_server.js, socketOnError): no response in flight on this socket, or
  // one whose head is not sent yet.
  const inFlight = (socket as unknown as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && (!inFlight || !inFlight.headersSent)) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json; charset=utf-8\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };
