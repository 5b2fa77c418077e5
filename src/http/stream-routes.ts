// The raw event-store API of spec 003: append with an expected version, read a stream, read $all.
// Streams that belong to the ledger's own aggregates (account-*) are read-only here: money moves only
// through the commands, which enforce the rules.
import type { FastifyInstance } from 'fastify';
import { ACCOUNT_STREAM_PREFIX } from '../domain/account/events.js';
import { APPEND_BODY_BYTES_MAX, APPEND_EVENTS_MAX, EVENT_TYPE_LENGTH_MAX, JSON_DEPTH_MAX, jsonDepthExceeds } from '../domain/limits.js';
import type { EventStore, ExpectedVersion, NewEvent, RecordedEvent } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import { pageLimit } from './account-routes.js';
import { contextOf } from './command-routes.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';
import { DIGITS, PAGE_LIMIT, RECORDED_EVENT, STREAM_ID } from './schemas.js';

const RESERVED_PREFIXES = [ACCOUNT_STREAM_PREFIX];
const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

function parseExpectedVersion(header: string | undefined): ExpectedVersion {
  if (header === undefined || header === 'any') return 'any';
  if (header === 'no-stream') return 'no_stream';
  if (header === 'stream-exists') return 'stream_exists';
  if (/^[0-9]{1,15}$/.test(header)) return Number(header);
  throw new ApiError('validation_failed', 'Expected-Version must be any, no-stream, stream-exists or a version number', [
    { path: '/headers/expected-version', message: 'invalid' },
  ]);
}

const readSchema = {
  type: 'object',
  properties: { events: { type: 'array', items: RECORDED_EVENT } },
  additionalProperties: true,
} as const;

export async function streamRoutes(app: FastifyInstance, deps: { store: EventStore; ids: IdGenerator; onAppended?: () => void }) {
  app.post<{ Params: { streamId: string }; Body: { eventId?: string; type: string; data: Record<string, unknown>; metadata?: Record<string, unknown> }[] }>(
    '/streams/:streamId/events', {
      config: { access: 'writer' },
      bodyLimit: APPEND_BODY_BYTES_MAX,
      schema: {
        operationId: 'appendToStream', summary: 'Append events to a stream, atomically, if its version is as expected',
        tags: ['event store'],
        params: { type: 'object', properties: { streamId: STREAM_ID }, required: ['streamId'] },
        headers: { type: 'object', properties: { 'expected-version': { type: 'string', description: 'any | no-stream | stream-exists | <version>' } } },
        body: {
          type: 'array', minItems: 1, maxItems: APPEND_EVENTS_MAX,
          items: {
            type: 'object', additionalProperties: false, required: ['type', 'data'],
            properties: {
              eventId: { type: 'string', pattern: UUID, description: 'Client-chosen: a retried append with the same ids appends nothing' },
              type: { type: 'string', minLength: 1, maxLength: EVENT_TYPE_LENGTH_MAX, pattern: '^[A-Za-z][A-Za-z0-9_.-]*$' },
              data: { type: 'object' },
              metadata: { type: 'object' },
            },
          },
        },
        response: { 201: { type: 'object', additionalProperties: true }, ...errors },
      },
    }, async (request, reply) => {
      const { streamId } = request.params;
      if (RESERVED_PREFIXES.some((prefix) => streamId.startsWith(prefix))) {
        throw new ApiError('stream_reserved', `${streamId} belongs to the ledger: use the /commands API`, { streamId });
      }
      request.body.forEach((e, i) => {
        if (jsonDepthExceeds(e.data, JSON_DEPTH_MAX) || jsonDepthExceeds(e.metadata ?? null, JSON_DEPTH_MAX)) {
          throw new ApiError('validation_failed', `event ${i}: data and metadata may nest at most ${JSON_DEPTH_MAX} levels`,
            [{ path: `/${i}/data`, message: `deeper than ${JSON_DEPTH_MAX} levels` }]);
        }
      });
      const expectedVersion = parseExpectedVersion(request.headers['expected-version'] as string | undefined);
      const context = contextOf(request);
      const events: NewEvent[] = request.body.map((e) => ({
        eventId: (e.eventId ?? deps.ids.newId()).toLowerCase(),
        type: e.type,
        data: e.data,
        metadata: { ...e.metadata, correlationId: context.correlationId, clientAddress: request.ip },
      }));
      if (new Set(events.map((e) => e.eventId)).size !== events.length) {
        throw new ApiError('validation_failed', 'event ids within one append must be distinct', [{ path: '/', message: 'duplicate eventId' }]);
      }
      const result = await deps.store.append({
        streams: [{ streamId, aggregateType: streamId.split('-')[0]!, expectedVersion, events }],
        createdBy: context.actor,
      });
      if (!result.ok) {
        if (result.reason === 'version_conflict') {
          throw new ApiError('version_conflict', `${streamId} is not at the expected version`, {
            streamId, expectedVersion: request.headers['expected-version'] ?? 'any', actualVersion: result.actualVersion,
          });
        }
        if (result.reason === 'event_ids_conflict') {
          throw new ApiError('event_ids_conflict', 'some of these event ids are already stored, differently', { eventIds: result.eventIds });
        }
        throw new Error(`unexpected append failure ${result.reason}`);
      }
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      else deps.onAppended?.(); // subscriptions' shared feed reads at once
      return reply.status(201).send({
        streamId,
        version: result.streams[0]!.version,
        events: result.events,
        globalPosition: Math.max(...result.events.map((e) => e.globalPosition)),
        recordedAt: result.recordedAt,
        replayed: result.replayed,
      });
    });

  app.get<{ Querystring: { from?: string; count?: string; direction?: 'forward' | 'backward' } }>('/streams/$all', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'readAll', summary: 'Every event in commit order, after global position `from` (0: the beginning); `direction=backward`: the latest `count`, newest first',
      tags: ['event store'],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { from: DIGITS, count: PAGE_LIMIT, direction: { type: 'string', enum: ['forward', 'backward'] } },
      },
      response: { 200: readSchema, ...errors },
    },
  }, async (request) => {
    const count = pageLimit(request.query.count, 'count');
    if (request.query.direction === 'backward') {
      // Only the latest page: paging backwards through history is what `from` forward is for.
      if (request.query.from !== undefined) {
        throw new ApiError('validation_failed', 'direction=backward reads the latest events; it takes no `from`', [
          { path: '/querystring/from', message: 'not allowed with direction=backward' },
        ]);
      }
      const events = await deps.store.readLatest(count);
      // Follow on from here: /subscribe/$all?from=<lastPosition> continues after the newest of these.
      return { direction: 'backward', events, lastPosition: events[0]?.globalPosition ?? 0 };
    }
    const from = Number(request.query.from ?? '0');
    const slice = await deps.store.readAll(from, count);
    if (!slice) throw new ApiError('position_not_found', `no event has global position ${from}`, { from });
    return { from, events: slice.events, lastPosition: slice.lastPosition };
  });

  app.get<{ Params: { streamId: string }; Querystring: { from?: string; count?: string; direction?: 'forward' | 'backward' } }>('/streams/:streamId', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'readStream', summary: 'Events of one stream from a version (inclusive), forward or backward',
      tags: ['event store'],
      params: { type: 'object', properties: { streamId: STREAM_ID }, required: ['streamId'] },
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { from: DIGITS, count: PAGE_LIMIT, direction: { type: 'string', enum: ['forward', 'backward'] } },
      },
      response: { 200: readSchema, ...errors },
    },
  }, async (request) => {
    const { streamId } = request.params;
    const direction = request.query.direction ?? 'forward';
    const count = pageLimit(request.query.count, 'count');
    const slice = await deps.store.readStream(streamId, {
      ...(request.query.from === undefined ? {} : { fromVersion: Number(request.query.from) }), count, direction,
    });
    if (slice.version === 0) throw new ApiError('stream_not_found', `stream ${streamId} does not exist`, { streamId });
    return { streamId, version: slice.version, direction, events: slice.events, next: nextVersion(slice.events, direction, count, slice.version) };
  });
}

function nextVersion(events: RecordedEvent[], direction: 'forward' | 'backward', count: number, version: number): number | null {
  const last = events.at(-1);
  if (!last || events.length < count) return null;
  if (direction === 'forward') return last.streamVersion < version ? last.streamVersion + 1 : null;
  return last.streamVersion > 1 ? last.streamVersion - 1 : null;
}
