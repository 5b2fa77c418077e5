// buildApp(deps) returns a ready Fastify instance without listening: tests inject(), the CLI listens.
import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { ApiKeys } from '../application/api-keys.js';
import type { ChangeSignal } from '../application/change-signal.js';
import type { CommandHandler } from '../application/command-handler.js';
import {
  BODY_BYTES_MAX, CORRELATION_ID_LENGTH_MAX, CORS_PREFLIGHT_MAX_AGE_S, HEALTH_CHECK_TIMEOUT_MS, URL_PARAM_LENGTH_MAX, HTTP_CONNECTION_TIMEOUT_MS_DEFAULT, HTTP_HEADERS_TIMEOUT_MS_DEFAULT, HTTP_REQUEST_TIMEOUT_MS_DEFAULT,
} from '../domain/limits.js';
import type { ClusterSource } from '../ports/cluster-control.js';
import type { EventStore } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import { KEY_ROLES, type KeyRole } from '../ports/api-key-store.js';
import { accessControl, bearerToken, disclosedTo, mayUse, type DeclaredRoute } from './access-control.js';
import { accountRoutes, type AccountRouteDeps } from './account-routes.js';
import { auditRoutes, type AuditRouteDeps } from './audit-routes.js';
import { clusterRoutes } from './cluster-routes.js';
import { commandRoutes } from './command-routes.js';
import { ApiError, clientErrorResponse, ERROR_SCHEMA, errorBody, handleError } from './errors.js';
import { keyRoutes } from './key-routes.js';
import { refuseNul } from './nul-guard.js';
import { projectionRoutes, type ProjectionRouteDeps } from './projection-routes.js';
import { RateLimiter } from './rate-limit.js';
import { streamRoutes } from './stream-routes.js';
import { subscriptionRoutes } from './subscription-routes.js';

/**
 * The repository has no licence file and package.json says "UNLICENSED" (private, no licence granted), so
 * the document says that, as an SPDX LicenseRef. When the owners choose a licence, put its SPDX id here and
 * in package.json's "license".
 */
const OPENAPI_LICENSE = { name: 'UNLICENSED: no licence granted', identifier: 'LicenseRef-UNLICENSED' };

declare module 'fastify' {
  interface FastifyRequest {
    /** From the X-Correlation-Id header, else the request id: carried into every event's metadata. */
    correlationId: string;
  }
  interface FastifyInstance {
    /** Every route registered, with what it declared it needs: the route-coverage test reads it. */
    declaredRoutes: readonly DeclaredRoute[];
  }
}

/** A component /health checks: resolves with details when up, throws when down. */
export type HealthCheck = () => Promise<Record<string, unknown> | void>;

/**
 * What the app serves depends on the process's roles (src/ledger.ts): the ledger API (commands, raw
 * streams, $all, subscriptions) when `commands` is given, the query API (accounts, projections) when
 * `accounts` is; /health, /metrics and /openapi.json always.
 */
export interface AppDeps {
  store: EventStore;
  ids: IdGenerator;
  metrics: { contentType: string; render(): Promise<string> };
  /** Which store backs the app, reported by /health. */
  storeKind: 'pglite' | 'postgres';
  /** The process's logger (one pino for the app, relay and processor); else `logger`'s options. */
  loggerInstance?: FastifyBaseLogger;
  logger?: FastifyServerOptions['logger'];
  commands?: CommandHandler;
  accounts?: AccountRouteDeps;
  projections?: ProjectionRouteDeps;
  /** The audit API (served with the commands, by the ledger API role). */
  audit?: AuditRouteDeps;
  /** Checked by /health beside the event store: read store, event bus, ... */
  components?: Record<string, HealthCheck>;
  /** Browser origins allowed to call the API (CORS), e.g. the dashboard's; none by default. */
  corsOrigins?: readonly string[];
  /**
   * API keys (src/http/access-control.ts): every route then needs a key of its declared role, and /keys
   * manages them. Absent: no authentication at all (the library's default; the CLI turns it on).
   */
  auth?: { keys: ApiKeys; rateLimitPerMinute: number; subscriptionsPerKeyMax?: number; authFailuresPerMinute?: number };
  /** Notified of every append in this process: subscriptions' shared feed then reads at once. */
  appended?: ChangeSignal;
  /** Bounds on a client's time (src/config.ts: REQUEST_TIMEOUT_MS, ...); default HTTP_TIMEOUTS_DEFAULT. */
  timeouts?: HttpTimeouts;
  /** What GET /cluster reads (Patroni, NATS) and, under the cluster launcher, its kill and restart. */
  cluster?: ClusterSource;
}

/**
 * How long a client may take, so that slow or silent connections cannot pile up (issue 10: 64 connections
 * dripping chunked bodies stayed open past 40 s). Node checks the first two every
 * connectionsCheckingInterval, set here to a quarter of the smaller (at most 1 s), so they hold to within that.
 */
export interface HttpTimeouts {
  /** The whole request, headers and body, from its first byte (Node's requestTimeout; answered 408). */
  requestTimeoutMs: number;
  /** The request's headers (Node's headersTimeout, <= requestTimeoutMs; answered 408). */
  headersTimeoutMs: number;
  /**
   * A connection with no byte in either direction (the socket timeout, Fastify's connectionTimeout): closed.
   * Above the SSE heartbeat (15 s) and any wait a handler makes (READ_WAIT_MAX_MS, a rebuild with ?wait=true).
   */
  connectionTimeoutMs: number;
}

export const HTTP_TIMEOUTS_DEFAULT: Readonly<HttpTimeouts> = Object.freeze({
  requestTimeoutMs: HTTP_REQUEST_TIMEOUT_MS_DEFAULT, headersTimeoutMs: HTTP_HEADERS_TIMEOUT_MS_DEFAULT, connectionTimeoutMs: HTTP_CONNECTION_TIMEOUT_MS_DEFAULT,
});

const CORRELATION_ID = new RegExp(`^[\\x21-\\x7e]{1,${CORRELATION_ID_LENGTH_MAX}}$`);

// What a JSON API needs (nothing to frame, script or embed); every byte goes out with every answer, so no
// more. Not here: X-Frame-Options (CSP frame-ancestors supersedes it) and HSTS (the API speaks plain HTTP on
// loopback; HSTS over HTTP is ignored, and the TLS proxy in front is the one to send it).
const SECURITY_HEADERS = Object.freeze({
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-site',
});

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Fastify's two lines per request ("incoming request", "request completed") at `debug` instead of `info`:
 * they buried the start-up banner (2,674 of 2,736 lines in a newcomer's first hour, issue 13). LOG_LEVEL=debug
 * shows them; a request that failed is still logged at `error`, as Fastify does.
 */
class DebugRequestLogs extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) super.requestCompleted(error, request, reply);
    else if (!this.isLogDisabled(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const timeouts = deps.timeouts ?? HTTP_TIMEOUTS_DEFAULT;
  const app = Fastify({
    requestTimeout: timeouts.requestTimeoutMs,
    connectionTimeout: timeouts.connectionTimeoutMs,
    http: {
      requestTimeout: timeouts.requestTimeoutMs,
      headersTimeout: timeouts.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(Math.min(timeouts.requestTimeoutMs, timeouts.headersTimeoutMs) / 4))),
    },
    // 431 (headers too large), 408 (too slow) and unparsable HTTP in the one error shape (src/http/errors.ts).
    clientErrorHandler: clientErrorResponse,
    ...(deps.loggerInstance ? { loggerInstance: deps.loggerInstance } : { logger: deps.logger ?? false }),
    genReqId: () => randomUUID(),
    logController: new DebugRequestLogs(),
    // Strict input: no type coercion (a number is not a string), no silent removal of unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    // Behind a proxy set this to the proxy's address; never trust X-Forwarded-For from anywhere.
    trustProxy: false,
    // Above the longest valid id (stream ids: 200 characters); longer is 414, not a route that never matches.
    routerOptions: { maxParamLength: URL_PARAM_LENGTH_MAX },
    // Deliberately small (Fastify's default is 1 MiB): no route but the raw append takes more, and that one
    // sets its own. Commands are capped lower still by their parser.
    bodyLimit: BODY_BYTES_MAX,
    // Errors the router raises before any route runs (a URL that is not valid percent-encoded UTF-8, a path
    // parameter past maxParamLength) get the one error shape too.
    frameworkErrors: (error, _request, reply) => {
      const tooLong = (error as { code?: string }).code === 'FST_ERR_MAX_PARAM_LENGTH';
      void (reply as unknown as FastifyReply).status(tooLong ? 414 : 400).send(tooLong
        ? errorBody('uri_too_long', 'a path segment is longer than any valid id')
        : errorBody('bad_request', 'the URL is not valid: percent-encoding must encode UTF-8'));
    },
  });

  // Before any route is registered: every route's declaration is recorded, and with auth, enforced.
  const declaredRoutes: DeclaredRoute[] = [];
  app.decorate('declaredRoutes', declaredRoutes);
  accessControl(app, declaredRoutes, deps.auth ? {
    keys: deps.auth.keys, limiter: new RateLimiter(deps.auth.rateLimitPerMinute),
    ...(deps.auth.authFailuresPerMinute === undefined ? {} : { failures: new RateLimiter(deps.auth.authFailuresPerMinute) }),
  } : null);

  // JSON only: a text/plain body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('correlationId', '');
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers['x-correlation-id'];
    request.correlationId = typeof header === 'string' && CORRELATION_ID.test(header) ? header : request.id;
    reply.header('x-correlation-id', request.correlationId);
    // Every log line of this request carries it, as every event it writes does.
    if (request.correlationId !== request.id) request.log = reply.log = request.log.child({ correlationId: request.correlationId });
  });
  // A refusal tells the caller only what its role may read (src/http/access-control.ts, disclosedTo).
  // Before validation, so a NUL gets its own code wherever it is (src/http/nul-guard.ts).
  app.addHook('preValidation', refuseNul);
  app.setErrorHandler((error: Error, request, reply) => handleError(error instanceof ApiError ? disclosedTo(request.principal, error) : error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('route_not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  // Security headers on every answer: a fixed set (below), one object assigned per request. @fastify/helmet
  // sent a dozen (most meant for HTML pages) and cost 0.05 ms of server CPU per request (measured: balance
  // reads 4,653 -> 3,938/s), a third of a read.
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  // CORS only for the origins configured; without any, no CORS headers and no hook at all (browsers on other
  // origins are then refused by their own same-origin rule).
  if (deps.corsOrigins && deps.corsOrigins.length > 0) await app.register(cors, {
    origin: [...deps.corsOrigins],
    methods: ['GET', 'POST'],
    allowedHeaders: ['content-type', 'idempotency-key', 'x-correlation-id', 'expected-version', 'last-event-id', 'authorization'],
    exposedHeaders: ['x-correlation-id', 'chronicle-freshness', 'idempotent-replayed'],
    maxAge: CORS_PREFLIGHT_MAX_AGE_S,
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ChronicleLedger',
        version: '0.1.0',
        description: 'An immutable, event-sourced ledger. Amounts are integer minor units as decimal strings.',
        license: OPENAPI_LICENSE,
      },
      // Relative: the server that served this document (OpenAPI 3.1, 4.8.5), whatever address it is reached at.
      servers: [{ url: '/', description: 'The ledger that served this document' }],
      ...(deps.auth ? {
        components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: chr_<id>_<secret>' } } },
        security: [{ apiKey: [] }],
        // Authentication off: said explicitly (no key needed anywhere), which generators and linters expect.
      } : { security: [] }),
    },
  });

  if (deps.commands) {
    await app.register(commandRoutes, { commands: deps.commands });
    const appended = deps.appended;
    await app.register(streamRoutes, { store: deps.store, ids: deps.ids, ...(appended ? { onAppended: () => appended.notify() } : {}) });
    await app.register(subscriptionRoutes, {
      store: deps.store, ...(appended ? { wake: appended } : {}),
      ...(deps.auth ? { keys: deps.auth.keys, ...(deps.auth.subscriptionsPerKeyMax === undefined ? {} : { subscriptionsPerKeyMax: deps.auth.subscriptionsPerKeyMax }) } : {}),
    });
  }
  if (deps.audit) await app.register(auditRoutes, deps.audit);
  if (deps.accounts) await app.register(accountRoutes, deps.accounts);
  if (deps.projections) await app.register(projectionRoutes, deps.projections);
  // Served where the API is; a relay or read processor alone serves /health and /metrics only.
  if (deps.auth && (deps.commands || deps.accounts)) await app.register(keyRoutes, { keys: deps.auth.keys });
  if (deps.commands || deps.accounts) await app.register(clusterRoutes, deps.cluster ?? {});

  const checks: Record<string, HealthCheck> = {
    eventStore: async () => {
      await deps.store.ping();
      return { kind: deps.storeKind };
    },
    ...deps.components,
  };
  // Open: load balancers and orchestrators probe it without credentials, and get each component's status
  // (up, down, degraded) and nothing else. Error text (addresses, the server's own messages) and details
  // (positions, lag, key ids) are for callers with a valid key of any role, or for everyone with
  // authentication off.
  const detailed = async (authorization: string | undefined): Promise<boolean> => {
    if (!deps.auth) return true;
    const token = bearerToken(authorization);
    if (token === undefined) return false;
    const cached = deps.auth.keys.cached(token);
    if (cached !== undefined) return cached !== null;
    // The key store may be the component that is down: then the caller is anonymous, and /health still answers.
    return withTimeout(deps.auth.keys.authenticate(token), HEALTH_CHECK_TIMEOUT_MS).then((p) => p !== null, () => false);
  };
  // Public routes still refuse a NUL in the query or headers (400 nul_character, src/http/nul-guard.ts).
  const publicErrors = { 400: ERROR_SCHEMA };
  app.get('/health', {
    config: { access: 'public' },
    schema: { operationId: 'getHealth', summary: 'Each component this process uses (event store, read store, event bus, ...): up, degraded or down. 503 when one is down. Details and errors with a valid API key only.', tags: ['operations'],
      response: {
        // additionalProperties: the components (and their details) differ by role and by caller.
        200: { description: 'Every component up or degraded', type: 'object', additionalProperties: true, properties: { status: { type: 'string', enum: ['ok', 'degraded'] }, store: { type: 'string' }, components: { type: 'object', additionalProperties: true } } },
        ...publicErrors, 503: ERROR_SCHEMA,
      },
    },
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store');
    const names = Object.keys(checks);
    const [results, withDetails] = await Promise.all([
      Promise.allSettled(names.map((name) => withTimeout(checks[name]!(), HEALTH_CHECK_TIMEOUT_MS))),
      detailed(request.headers.authorization),
    ]);
    const components: Record<string, Record<string, unknown>> = {};
    results.forEach((result, i) => {
      if (result.status === 'rejected') {
        if (result.reason !== undefined) request.log.warn({ err: result.reason, component: names[i] }, 'health: component down');
        components[names[i]!] = withDetails
          ? { status: 'down', error: (result.reason as Error)?.message ?? String(result.reason) }
          : { status: 'down' };
        return;
      }
      // Up but retrying (a relay or sealer whose last attempt failed), or saying so itself (appends stalled
      // behind a held log head): degraded.
      const value = result.value as { state?: unknown; status?: unknown } | undefined;
      const status = value?.state === 'retrying' || value?.status === 'degraded' ? 'degraded' : 'up';
      components[names[i]!] = withDetails ? { ...result.value, status } : { status };
    });
    const down = names.filter((name) => components[name]!['status'] === 'down');
    if (down.length > 0) throw new ApiError('store_unavailable', `unavailable: ${down.join(', ')}`, { status: 'down', store: deps.storeKind, components });
    // Degraded: working, but something needs an operator (e.g. appends stalled behind a held log head).
    const degraded = names.some((name) => components[name]!['status'] === 'degraded');
    return { status: degraded ? 'degraded' : 'ok', store: deps.storeKind, components };
  });

  // Any valid key: who the caller is and what its key may do, so a client (the dashboard) can show only what
  // it may use. With authentication off, everyone is an anonymous admin.
  const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
  app.get('/whoami', {
    config: { access: 'any' },
    schema: {
      operationId: 'whoami', summary: "The caller's principal and role (any valid key)",
      tags: ['access control'],
      response: {
        200: {
          type: 'object',
          properties: {
            authentication: { type: 'string', enum: ['on', 'off'] },
            principal: { type: 'string' }, name: { type: ['string', 'null'] },
            role: { type: 'string' }, may: { type: 'array', items: { type: 'string' } },
          },
        },
        ...errors,
      },
    },
  }, async (request) => {
    const principal = request.principal;
    const role: KeyRole = principal?.role ?? 'admin';
    return {
      authentication: deps.auth ? 'on' : 'off',
      principal: principal?.id ?? 'anonymous', name: principal?.name ?? null,
      role, may: KEY_ROLES.filter((needed) => mayUse(role, needed)),
    };
  });

  // Open, like /health: scrapers rarely carry per-service secrets, and the page holds counts and latencies,
  // no account, amount or key. Keep the port on a private network (HOST is loopback by default).
  app.get('/metrics', { config: { access: 'public' }, schema: {
    operationId: 'getMetrics', summary: 'Prometheus metrics (text exposition format 0.0.4)', tags: ['operations'],
    response: { 200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, ...publicErrors },
  } }, async (_request, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.render();
  });

  // Open: the API's description is no secret (it is in the repository), and a client learns the auth scheme from it.
  app.get('/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return app;
}
