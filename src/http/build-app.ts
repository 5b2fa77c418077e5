// buildApp(deps) returns a ready Fastify instance without listening: tests inject(), the CLI listens.
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { AccountQueries } from '../application/account-queries.js';
import type { CommandHandler } from '../application/command-handler.js';
import type { EventStore } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import { accountRoutes } from './account-routes.js';
import { commandRoutes } from './command-routes.js';
import { ApiError, errorBody, handleError } from './errors.js';
import { streamRoutes } from './stream-routes.js';
import { subscriptionRoutes } from './subscription-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** From the X-Correlation-Id header, else the request id: carried into every event's metadata. */
    correlationId: string;
  }
}

export interface AppDeps {
  store: EventStore;
  commands: CommandHandler;
  queries: AccountQueries;
  ids: IdGenerator;
  metrics: { contentType: string; render(): Promise<string> };
  /** Which store backs the app, reported by /health. */
  storeKind: 'pglite' | 'postgres';
  logger?: FastifyServerOptions['logger'];
}

const CORRELATION_ID = /^[\x21-\x7e]{1,128}$/;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    genReqId: () => randomUUID(),
    // Strict input: no type coercion (a number is not a string), no silent removal of unknown fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    // Behind a proxy set this to the proxy's address; never trust X-Forwarded-For from anywhere.
    trustProxy: false,
  });

  // JSON only: a text/plain body is 415, not a string that fails validation.
  app.removeContentTypeParser('text/plain');
  app.decorateRequest('correlationId', '');
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers['x-correlation-id'];
    request.correlationId = typeof header === 'string' && CORRELATION_ID.test(header) ? header : request.id;
    reply.header('x-correlation-id', request.correlationId);
    // Every log line of this request carries it, as every event it writes does.
    if (request.correlationId !== request.id) request.log = request.log.child({ correlationId: request.correlationId });
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send(errorBody('route_not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'ChronicleLedger',
        version: '0.1.0',
        description: 'An immutable, event-sourced ledger. Amounts are integer minor units as decimal strings.',
      },
    },
  });

  await app.register(commandRoutes, { commands: deps.commands, ids: deps.ids });
  await app.register(accountRoutes, { queries: deps.queries });
  await app.register(streamRoutes, { store: deps.store, ids: deps.ids });
  await app.register(subscriptionRoutes, { store: deps.store });

  app.get('/health', { schema: { summary: 'Liveness and store reachability', tags: ['operations'] } }, async (_request, reply) => {
    try {
      await deps.store.ping();
      return { status: 'ok', store: deps.storeKind };
    } catch (error) {
      throw new ApiError('store_unavailable', `event store unreachable: ${(error as Error).message}`);
    } finally {
      reply.header('cache-control', 'no-store');
    }
  });

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', tags: ['operations'] } }, async (_request, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.render();
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.ready();
  return app;
}
