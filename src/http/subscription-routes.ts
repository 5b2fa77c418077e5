// Subscriptions of spec 003 over Server-Sent Events (text/event-stream): catch up from a cursor, then live.
//
//   GET /subscribe/$all?from=<globalPosition>     after that position (exclusive; 0 or absent: the beginning),
//                                                 in commit order: SSE id = global position
//   GET /subscribe/streams/:streamId?from=<version>  from that version (inclusive; default 1): SSE id = version
//
// The standard Last-Event-ID request header (sent by a reconnecting EventSource) takes precedence over
// `from` and resumes right after the event it names, so a reconnect loses nothing and repeats nothing.
//
// Each message:
//   id: <globalPosition | streamVersion>
//   event: event
//   data: <the RecordedEvent, as GET /streams/$all returns it, on one line>
// The SSE event name is the fixed `event`, not the event's type: a browser then needs one
// addEventListener('event', ...) for everything (the type is in the data), and a client-chosen type of the raw
// stream API such as `error`, `open` or `message` cannot be mistaken for EventSource's own events.
//
// A stream that does not exist yet is not an error: the connection stays open and its events are delivered
// when they are written (subscribe first, then create; same as a stream whose later versions do not exist
// yet). An unknown global position is a 404 (position_not_found), answered as JSON before the stream starts.
//
// Bounds: pages of SUBSCRIPTION_PAGE_SIZE events, a poll every SUBSCRIPTION_POLL_INTERVAL_MS when caught up,
// a `: ping` comment every HEARTBEAT_INTERVAL_MS (proxies drop silent connections), at most SUBSCRIPTIONS_MAX
// open subscriptions per app (then 503 overloaded), and a slow client is waited for ('drain'), never buffered
// for. A client disconnect or app.close() aborts the follower.
import { once } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { followAll, followStream, SUBSCRIPTION_PAGE_SIZE, SUBSCRIPTION_POLL_INTERVAL_MS } from '../application/subscription.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';
import { DIGITS, STREAM_ID } from './schemas.js';

export const HEARTBEAT_INTERVAL_MS = 15_000;
export const SUBSCRIPTIONS_MAX = 1_000;
/** Sent as the SSE `retry:` field: how long an EventSource waits before reconnecting. */
const RECONNECT_DELAY_MS = 2_000;

export interface SubscriptionRouteOptions {
  store: EventStore;
  pageSize?: number;
  pollIntervalMs?: number;
  heartbeatIntervalMs?: number;
  subscriptionsMax?: number;
}

const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
const LAST_EVENT_ID = /^[0-9]{1,15}$/;
const SSE_RESPONSE = {
  200: {
    description: 'text/event-stream: one message per event (`id:` cursor, `event: event`, `data:` the recorded event as JSON), `: ping` comments between',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  },
  ...errors,
};
const HEADERS = {
  type: 'object',
  properties: {
    'last-event-id': { type: 'string', pattern: '^[0-9]{0,15}$', description: 'The id of the last message received: resume right after it. Takes precedence over `from`.' },
  },
} as const;

/** The Last-Event-ID header as a number; undefined when absent or empty (EventSource sends none before its first id). */
function lastEventId(request: FastifyRequest): number | undefined {
  const header = request.headers['last-event-id'];
  if (header === undefined || header === '') return undefined;
  if (typeof header !== 'string' || !LAST_EVENT_ID.test(header)) {
    throw new ApiError('validation_failed', 'Last-Event-ID must be a number', [{ path: '/headers/last-event-id', message: 'invalid' }]);
  }
  return Number(header);
}

export async function subscriptionRoutes(app: FastifyInstance, options: SubscriptionRouteOptions) {
  const { store } = options;
  const follow = { pageSize: options.pageSize ?? SUBSCRIPTION_PAGE_SIZE, pollIntervalMs: options.pollIntervalMs ?? SUBSCRIPTION_POLL_INTERVAL_MS };
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS;
  const subscriptionsMax = options.subscriptionsMax ?? SUBSCRIPTIONS_MAX;
  /** Open subscriptions of this app: aborted and awaited on close, so app.close() never waits on a client. */
  const open = new Map<AbortController, Promise<void>>();

  app.addHook('preClose', async () => {
    const pumps = [...open.entries()];
    for (const [controller] of pumps) controller.abort();
    await Promise.allSettled(pumps.map(([, pump]) => pump));
  });

  /** Everything before the first byte: a refusal here is an ordinary JSON error response. */
  function admit(reply: FastifyReply): AbortController {
    if (open.size >= subscriptionsMax) throw new ApiError('overloaded', `too many open subscriptions (${subscriptionsMax}); retry later`);
    const controller = new AbortController();
    // The slot is taken now, while the first page is read, so concurrent requests cannot overshoot the bound.
    open.set(controller, Promise.resolve());
    // 'close' on the response: the client went away (or the response ended). Listened to from the start, so
    // a client that leaves during the first read is noticed too.
    reply.raw.once('close', () => controller.abort());
    return controller;
  }

  /** The request was refused after admit(): frees its slot. */
  function refuse(controller: AbortController, error: unknown): never {
    open.delete(controller);
    controller.abort();
    throw error;
  }

  function start(request: FastifyRequest, reply: FastifyReply, controller: AbortController, events: AsyncGenerator<RecordedEvent, void, undefined>, idOf: (e: RecordedEvent) => number) {
    reply.hijack();
    if (reply.raw.destroyed) controller.abort(); // gone during the first read: stream() only cleans up
    const pump = stream(request, reply, controller.signal, events, idOf, heartbeatIntervalMs).finally(() => open.delete(controller));
    open.set(controller, pump);
  }

  app.get<{ Querystring: { from?: string } }>('/subscribe/$all', {
    config: { access: 'auditor' },
    schema: {
      summary: 'Subscribe to every event (SSE): catch up after global position `from` (0: the beginning), then live, in commit order',
      tags: ['subscriptions'],
      querystring: { type: 'object', additionalProperties: false, properties: { from: DIGITS } },
      headers: HEADERS,
      response: SSE_RESPONSE,
    },
  }, async (request, reply) => {
    const from = lastEventId(request) ?? Number(request.query.from ?? '0');
    const controller = admit(reply);
    const events = await followAll(store, from, { ...follow, signal: controller.signal }).catch((error: unknown) => refuse(controller, error));
    if (!events) refuse(controller, new ApiError('position_not_found', `no event has global position ${from}`, { from }));
    start(request, reply, controller, events, (e) => e.globalPosition);
  });

  app.get<{ Params: { streamId: string }; Querystring: { from?: string } }>('/subscribe/streams/:streamId', {
    config: { access: 'auditor' },
    schema: {
      summary: 'Subscribe to one stream (SSE): catch up from version `from` (inclusive, default 1), then live. A stream that does not exist yet is waited for.',
      tags: ['subscriptions'],
      params: { type: 'object', properties: { streamId: STREAM_ID }, required: ['streamId'] },
      querystring: { type: 'object', additionalProperties: false, properties: { from: DIGITS } },
      headers: HEADERS,
      response: SSE_RESPONSE,
    },
  }, async (request, reply) => {
    const last = lastEventId(request);
    const fromVersion = last === undefined ? Number(request.query.from ?? '1') : last + 1;
    const controller = admit(reply);
    const events = await followStream(store, request.params.streamId, fromVersion, { ...follow, signal: controller.signal })
      .catch((error: unknown) => refuse(controller, error));
    start(request, reply, controller, events, (e) => e.streamVersion);
  });
}

/** Writes the follower's events as SSE until the client leaves, the app closes or the store fails. */
async function stream(
  request: FastifyRequest,
  reply: FastifyReply,
  signal: AbortSignal,
  events: AsyncGenerator<RecordedEvent, void, undefined>,
  idOf: (e: RecordedEvent) => number,
  heartbeatIntervalMs: number,
): Promise<void> {
  const res = reply.raw;
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    // Headers set by hooks (x-correlation-id) are kept: hijack() bypasses Fastify's own sending.
    const fromHooks = Object.fromEntries(Object.entries(reply.getHeaders()).filter(([, value]) => value !== undefined)) as Record<string, string | number | string[]>;
    res.writeHead(200, {
      ...fromHooks,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // The first bytes also flush the headers, so the client sees the 200 before any event exists.
    res.write(`retry: ${RECONNECT_DELAY_MS}\n\n`);
    heartbeat = setInterval(() => {
      // Skipped while the client is not reading: a ping is for idle connections, not for a full buffer.
      if (!res.writableNeedDrain && !res.destroyed) res.write(': ping\n\n');
    }, heartbeatIntervalMs);
    for await (const event of events) {
      const message = `id: ${idOf(event)}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`;
      if (!res.write(message)) await once(res, 'drain', { signal });
    }
  } catch (error) {
    // An abort while waiting for 'drain' is the normal end; anything else (the store failing) ends the
    // response and the client reconnects with Last-Event-ID.
    if (!signal.aborted) request.log.error({ err: error }, 'subscription failed');
  } finally {
    clearInterval(heartbeat);
    // Ends the follower if the loop left early (no-op when it already returned).
    await events.return(undefined).catch(() => {});
    if (!res.writableEnded && !res.destroyed) res.end();
  }
}
