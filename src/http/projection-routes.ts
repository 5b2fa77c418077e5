// Projection management: list the projections with position, lag and status, show one's state, rebuild
// one from the event store (reset), and list and replay its dead letters. The ledger has one projection,
// `accounts` (account_balance and account_transactions); the routes are written for a list of them.
import type { FastifyInstance } from 'fastify';
import type { ReadModelQueries } from '../application/read-model-queries.js';
import { RebuildInProgressError, type ReadProcessor } from '../application/read-processor.js';
import type { RebuildReport } from '../application/read-processor-rebuild.js';
import { PROJECTION_STALLED_AFTER_MS } from '../domain/limits.js';
import type { ReadModel } from '../ports/read-model.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';
import { pageLimit } from './account-routes.js';
import { FRESHNESS, PAGE_LIMIT, RECORDED_EVENT } from './schemas.js';

export interface ProjectionHandle {
  processor: ReadProcessor;
  queries: ReadModelQueries;
  model: ReadModel;
}

export interface ProjectionRouteDeps {
  projections: ProjectionHandle[];
  /** A model that has not moved for this long while events wait is reported `stalled`. */
  stalledAfterMs?: number;
  onRebuildError?: (error: unknown) => void;
}

const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
const NAME_PARAMS = { type: 'object', properties: { name: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } }, required: ['name'] } as const;

const REBUILD_REPORT = {
  type: ['object', 'null'],
  properties: {
    events: { type: 'integer' }, applied: { type: 'integer' }, ignored: { type: 'integer' }, deadLettered: { type: 'integer' },
    durationMs: { type: 'integer' }, eventsPerSecond: { type: 'integer' }, position: { type: 'integer' }, finishedAt: { type: 'string' },
  },
} as const;

const PROJECTION = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    status: {
      type: 'string', enum: ['rebuilding', 'caught-up', 'behind', 'stalled', 'unknown'],
      description: 'rebuilding: being replayed from position 0; caught-up: nothing waits; behind: events wait and the model moves; stalled: events wait and it has not moved lately; unknown: lag not measured yet.',
    },
    consumer: { type: 'string', enum: ['running', 'stopped', 'elsewhere'], description: 'The bus consumer of this process; elsewhere: this process runs none (a separate read-processor does).' },
    position: { type: 'integer' },
    eventsApplied: { type: 'integer' },
    updatedAt: { type: ['string', 'null'] },
    lag: FRESHNESS.properties.lag,
    deadLetters: { type: 'integer' },
    rebuilding: { type: ['object', 'null'], properties: { startedAt: { type: 'string' }, events: { type: 'integer' } } },
    lastRebuild: REBUILD_REPORT,
  },
} as const;

export async function projectionRoutes(app: FastifyInstance, deps: ProjectionRouteDeps) {
  const stalledAfterMs = deps.stalledAfterMs ?? PROJECTION_STALLED_AFTER_MS;
  const find = (name: string): ProjectionHandle => {
    const found = deps.projections.find((p) => p.processor.name === name);
    if (!found) throw new ApiError('projection_not_found', `no projection ${name}`, { name, projections: deps.projections.map((p) => p.processor.name) });
    return found;
  };
  const describe = async ({ processor, queries, model }: ProjectionHandle) => {
    const [status, rebuildElsewhere] = await Promise.all([processor.status(), processor.isRebuilding() ? false : model.rebuildRunning()]);
    const lag = queries.currentLag();
    const idleMs = status.lastAppliedAt === null ? Infinity : Date.now() - Date.parse(status.lastAppliedAt);
    const state = status.rebuilding || rebuildElsewhere ? 'rebuilding'
      : lag === null ? 'unknown'
      : lag.events === 0 ? 'caught-up'
      : idleMs > stalledAfterMs ? 'stalled' : 'behind';
    return {
      name: status.name,
      status: state,
      consumer: processor.hasBus() ? (status.running ? 'running' : 'stopped') : 'elsewhere',
      position: status.position,
      eventsApplied: status.eventsApplied,
      updatedAt: status.lastAppliedAt,
      lag,
      deadLetters: status.deadLetters,
      rebuilding: status.rebuilding,
      lastRebuild: status.lastRebuild,
    };
  };

  app.get('/projections', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listProjections', summary: 'Projections with position, lag and status', tags: ['projections'],
      response: { 200: { type: 'object', properties: { projections: { type: 'array', items: PROJECTION } } }, ...errors },
    },
  }, async () => ({ projections: await Promise.all(deps.projections.map(describe)) }));

  app.get<{ Params: { name: string } }>('/projections/:name', {
    config: { access: 'admin' },
    schema: { operationId: 'getProjection', summary: 'One projection: position, lag, status', tags: ['projections'], params: NAME_PARAMS, response: { 200: PROJECTION, ...errors } },
  }, async (request) => describe(find(request.params.name)));

  app.get<{ Params: { name: string } }>('/projections/:name/state', {
    config: { access: 'admin' },
    schema: {
      operationId: 'getProjectionState', summary: 'A projection\'s state in figures: accounts, transaction rows, sum of balances per currency', tags: ['projections'], params: NAME_PARAMS,
      response: {
        200: {
          type: 'object',
          properties: {
            name: { type: 'string' }, position: { type: 'integer' }, updatedAt: { type: ['string', 'null'] },
            state: {
              type: 'object',
              properties: { accounts: { type: 'integer' }, transactions: { type: 'integer' }, balancesByCurrency: { type: 'object', additionalProperties: { type: 'string' } } },
            },
          },
        },
        ...errors,
      },
    },
  }, async (request) => {
    const handle = find(request.params.name);
    const [status, state] = await Promise.all([handle.processor.status(), handle.model.summary()]);
    return { name: status.name, position: status.position, updatedAt: status.lastAppliedAt, state };
  });

  app.post<{ Params: { name: string }; Querystring: { wait?: 'true' | 'false' } }>('/projections/:name/reset', {
    config: { access: 'admin' },
    schema: {
      operationId: 'resetProjection', summary: 'Drop the projection\'s read model and replay it from position 0 of the event store. 202 at once (watch GET /projections/{name}); ?wait=true answers 200 with the report when done.',
      tags: ['projections'], params: NAME_PARAMS,
      querystring: { type: 'object', additionalProperties: false, properties: { wait: { type: 'string', enum: ['true', 'false'] } } },
      response: {
        200: { type: 'object', properties: { name: { type: 'string' }, status: { type: 'string' }, report: REBUILD_REPORT } },
        202: { type: 'object', properties: { name: { type: 'string' }, status: { type: 'string' }, startedAt: { type: 'string' } } },
        ...errors,
      },
    },
  }, async (request, reply) => {
    const { processor } = find(request.params.name);
    if (processor.isRebuilding()) throw new ApiError('rebuild_in_progress', `projection ${processor.name} is already being rebuilt`, { name: processor.name });
    const rebuild = processor.rebuild().catch((error: unknown) => {
      if (error instanceof RebuildInProgressError) throw new ApiError('rebuild_in_progress', error.message, { name: processor.name });
      throw error;
    });
    if (request.query.wait === 'true') {
      const report: RebuildReport = await rebuild;
      return { name: processor.name, status: 'rebuilt', report };
    }
    rebuild.catch((error: unknown) => deps.onRebuildError?.(error));
    return reply.status(202).send({ name: processor.name, status: 'rebuilding', startedAt: new Date().toISOString() });
  });

  app.get<{ Params: { name: string }; Querystring: { limit?: string } }>('/projections/:name/dead-letters', {
    config: { access: 'admin' },
    schema: {
      operationId: 'listDeadLetters', summary: 'Events the projection gave up on, in global position order (the order to replay them in)', tags: ['projections'], params: NAME_PARAMS,
      querystring: { type: 'object', additionalProperties: false, properties: { limit: PAGE_LIMIT } },
      response: {
        200: {
          type: 'object',
          properties: {
            deadLetters: {
              type: 'array',
              items: {
                type: 'object',
                properties: { eventId: { type: 'string' }, error: { type: 'string' }, attempts: { type: 'integer' }, failedAt: { type: 'string' }, event: RECORDED_EVENT },
              },
            },
          },
        },
        ...errors,
      },
    },
  }, async (request) => {
    const { processor } = find(request.params.name);
    const letters = await processor.listDeadLetters(pageLimit(request.query.limit));
    return { deadLetters: letters.map(({ projection: _, ...letter }) => letter) };
  });

  app.post<{ Params: { name: string; eventId: string } }>('/projections/:name/dead-letters/:eventId/replay', {
    config: { access: 'admin' },
    schema: {
      operationId: 'replayDeadLetter', summary: 'Apply a dead-lettered event again (its cause fixed); on success it leaves the dead-letter store', tags: ['projections'],
      params: {
        type: 'object',
        properties: { ...NAME_PARAMS.properties, eventId: { type: 'string', pattern: '^[0-9a-fA-F-]{36}$' } },
        required: ['name', 'eventId'],
      },
      response: { 200: { type: 'object', properties: { eventId: { type: 'string' }, outcome: { type: 'string' } } }, ...errors },
    },
  }, async (request) => {
    const { processor } = find(request.params.name);
    const { eventId } = request.params;
    const letter = await processor.deadLetter(eventId.toLowerCase());
    if (!letter) throw new ApiError('dead_letter_not_found', `no dead letter ${eventId} for ${processor.name}`, { name: processor.name, eventId });
    try {
      return { eventId: letter.eventId, outcome: await processor.replayDeadLetter(letter.eventId) };
    } catch (error) {
      throw new ApiError('dead_letter_replay_failed', `event ${eventId} still cannot be applied: ${(error as Error).message}`, { eventId });
    }
  });
}
