// Who may call which route. Every route declares what it needs in its options:
//
//   app.get('/audit/checkpoint', { config: { access: 'auditor' }, schema: ... }, handler)
//
// `access` is a key role, 'public' (no key: /health for load balancers), or a function of the request for a
// route whose query changes what it reveals (a balance now is `reader`, ?at= time travel is `auditor`).
// A route without a declaration is refused to everyone (403): default deny. test/access-control.int.test.ts
// lists every registered route and fails on one without a declaration, so a new route cannot slip through.
//
// The check is a route-level onRequest hook added as each route is registered (the onRoute hook below), so
// a request pays for nothing but its own route's rule: one header read, one cached key lookup (see
// src/application/api-keys.ts), one token bucket (src/http/rate-limit.ts). It runs before the body is read:
// a client without a valid key never gets its body parsed.
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify';
import type { ApiKeys, Principal } from '../application/api-keys.js';
import type { KeyRole } from '../ports/api-key-store.js';
import { ApiError, type ErrorCode } from './errors.js';
import { AUTH_FAILURES_PER_MINUTE_DEFAULT } from '../domain/limits.js';
import { RateLimiter } from './rate-limit.js';

/** `any`: every valid key, whatever its role (`GET /whoami`: a client learns what its key may do). */
export type RouteAccess = KeyRole | 'public' | 'any' | ((request: FastifyRequest) => KeyRole);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (src/http/access-control.ts). Required: an undeclared route is refused. */
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** The verified key's principal; null with authentication off or on a public route. */
    principal: Principal | null;
  }
}

/**
 * What each role may do besides its own routes. admin: everything. auditor: also what reader may, because
 * every balance a reader sees is derivable from the history an auditor reads anyway.
 */
const GRANTS: Readonly<Record<KeyRole, ReadonlySet<KeyRole>>> = {
  reader: new Set(['reader']),
  writer: new Set(['writer']),
  auditor: new Set(['auditor', 'reader']),
  admin: new Set(['reader', 'writer', 'auditor', 'admin']),
};

export const mayUse = (role: KeyRole, needed: KeyRole): boolean => GRANTS[role].has(needed);

/**
 * What a refusal may tell each role (issue 10): a refusal must not disclose what the caller's role may not
 * read. For each error code that carries such a thing, the role that may read it, the details withheld
 * from other roles and, where the message itself names it, a message in its place. The code stays: it is
 * the outcome of the caller's own request.
 */
const WITHHELD: Partial<Record<ErrorCode, { readableBy: KeyRole; details: readonly string[]; message?: string }>> = {
  // The balance (reader: balances now).
  insufficient_funds: { readableBy: 'reader', details: ['balance'] },
  // Each account's currency (reader: the account list); the message names them too.
  currency_mismatch: { readableBy: 'reader', details: ['fromCurrency', 'toCurrency'], message: 'the two accounts hold different currencies' },
  // A raw stream's version (auditor: raw stream reads).
  version_conflict: { readableBy: 'auditor', details: ['actualVersion'] },
};

/** `error` as `principal` may see it (null: authentication off, or no key; everything is shown). */
export function disclosedTo(principal: Principal | null, error: ApiError): ApiError {
  const rule = WITHHELD[error.code];
  if (principal === null || rule === undefined || mayUse(principal.role, rule.readableBy)) return error;
  const details = typeof error.details === 'object' && error.details !== null
    ? Object.fromEntries(Object.entries(error.details).filter(([name]) => !rule.details.includes(name)))
    : error.details;
  return new ApiError(error.code, rule.message ?? error.message, details);
}

export interface DeclaredRoute {
  method: string;
  url: string;
  access: RouteAccess | undefined;
}

export interface AccessControlOptions {
  keys: ApiKeys;
  limiter: RateLimiter;
  /**
   * Failed authentications per client address (AUTH_FAILURES_PER_MINUTE). Past it, the address's requests
   * with a key the cache does not know get 429 before any query, and further failures get 429, not 401.
   * Absent: AUTH_FAILURES_PER_MINUTE_DEFAULT.
   */
  failures?: RateLimiter;
}

// RFC 6750: a missing credential gets the bare challenge; a bad one says so.
const CHALLENGE = 'Bearer realm="chronicle"';
const CHALLENGE_INVALID = 'Bearer realm="chronicle", error="invalid_token"';
const CHALLENGE_SCOPE = 'Bearer realm="chronicle", error="insufficient_scope"';

/** The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive); else undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  return header.slice(7).trim();
}

/**
 * Records every route's declaration in `declared` and, with `options` (authentication on), guards each
 * route by it. Call on the root instance before any route is registered.
 */
export function accessControl(app: FastifyInstance, declared: DeclaredRoute[], options: AccessControlOptions | null): void {
  app.decorateRequest('principal', null);
  // One failure limiter for every route.
  const checked: Required<AccessControlOptions> | null = options === null ? null : { ...options, failures: options.failures ?? new RateLimiter(AUTH_FAILURES_PER_MINUTE_DEFAULT) };
  app.addHook('onRoute', (route: RouteOptions) => {
    // @fastify/cors registers OPTIONS * (so that preflights are routed at all) with no way to give it a config,
    // and answers preflights in its own onRequest hook: browsers send them without credentials.
    const access = route.config?.access ?? (route.method === 'OPTIONS' && route.url === '*' ? 'public' : undefined);
    for (const method of [route.method].flat()) declared.push({ method, url: route.url, access });
    if (checked === null) return;
    if (access === 'public') {
      // The OpenAPI document says so (its global `security` asks for a key everywhere else).
      route.schema = { ...route.schema, security: [] } as RouteOptions['schema'];
      return;
    }
    const existing = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [guard(access, checked), ...existing];
  });
}

function rateLimited(reply: FastifyReply, retryAfterSeconds: number, what: string): ApiError {
  reply.header('retry-after', String(retryAfterSeconds));
  return new ApiError('rate_limited', `${what}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
}

function guard(access: Exclude<RouteAccess, 'public'> | undefined, { keys, limiter, failures }: Required<AccessControlOptions>): onRequestHookHandler {
  return async function checkAccess(request: FastifyRequest, reply: FastifyReply) {
    const token = bearerToken(request.headers.authorization);
    let principal: Principal | null = null;
    if (token !== undefined) {
      // Every failed authentication costs the address a token of `failures`. A key the cache cannot vouch
      // for costs one up front, before its query, and gets it back if it proves valid: so an address past
      // its allowance causes no query at all, and concurrent guesses cannot overrun it. A key that was
      // valid (its cache entry expired) is a refresh, not a guess: never refused for its address's failures.
      const address = `ip:${request.ip}`;
      const cached = keys.cached(token);
      const charged = cached === undefined && !keys.wasValid(token);
      if (charged) {
        const wait = failures.take(address);
        if (wait > 0) throw rateLimited(reply, wait, 'too many failed authentications from this address');
      }
      principal = cached === undefined ? await keys.authenticate(token) : cached;
      if (principal !== null && charged) failures.giveBack(address);
      if (principal === null && !charged) {
        const wait = failures.take(address);
        if (wait > 0) throw rateLimited(reply, wait, 'too many failed authentications from this address');
      }
    }
    // Limited before the 401: a flood of bad keys is limited by its address.
    const retryAfterSeconds = limiter.take(principal === null ? `ip:${request.ip}` : principal.id);
    if (retryAfterSeconds > 0) throw rateLimited(reply, retryAfterSeconds, 'too many requests');
    if (principal === null) {
      reply.header('www-authenticate', token === undefined ? CHALLENGE : CHALLENGE_INVALID);
      throw new ApiError('unauthorized', token === undefined
        ? 'send an API key: Authorization: Bearer <key>'
        : 'the API key is malformed, unknown or revoked');
    }
    if (access === undefined) {
      request.log.error({ route: request.routeOptions.url }, 'route declares no access: refused to everyone (src/http/access-control.ts)');
      throw new ApiError('forbidden', 'this route is closed: it declares no role');
    }
    const needed = typeof access === 'function' ? access(request) : access;
    if (needed !== 'any' && !mayUse(principal.role, needed)) {
      reply.header('www-authenticate', CHALLENGE_SCOPE);
      throw new ApiError('forbidden', `this needs the ${needed} role (or admin); the key's role is ${principal.role}`, { needed, role: principal.role });
    }
    request.principal = principal;
  };
}
