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
// Cost: each subscription catches up on its own pages, then takes its events from the app's one shared feed of
// `$all` (src/application/live-feed.ts), which reads once for everyone, at once after an append in this
// process and every SUBSCRIPTION_POLL_INTERVAL_MS for the others' commits; an idle subscription costs no query.
//
// Bounds: pages of SUBSCRIPTION_PAGE_SIZE events, a `: ping` comment every SUBSCRIPTION_HEARTBEAT_INTERVAL_MS (proxies drop
// silent connections), at most SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT open per API key (then 429
// too_many_subscriptions) and SUBSCRIPTIONS_MAX per app (then 503 overloaded). A slow client is waited for
// ('drain'); the feed queues at most SUBSCRIPTION_BUFFER_EVENTS_MAX events for it, and past that leaves it to
// catch up on its own pages again. A client disconnect or app.close() aborts the subscriber.
//
// Revoked keys: every open subscription's key is checked again every quarter of the key cache's TTL, from an
// entry at most three quarters of it old, so a revocation by any process (or `chronicle keys revoke`) ends the
// stream within the TTL, the revocation latency of every other request; one made through this process's
// ApiKeys ends it at once. One query per distinct key per check at most, whatever the number of streams.
import { once } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../application/api-keys.js';
import type { ChangeSignal } from '../application/change-signal.js';
import { LiveFeed } from '../application/live-feed.js';
import { subscribeAll, subscribeStream } from '../application/subscription.js';
import {
  SUBSCRIPTION_BUFFER_EVENTS_MAX, SUBSCRIPTION_FEED_RING_EVENTS_MAX, SUBSCRIPTION_HEARTBEAT_INTERVAL_MS, SUBSCRIPTION_PAGE_SIZE,
  SUBSCRIPTION_POLL_INTERVAL_MS, SUBSCRIPTION_RECONNECT_DELAY_MS, SUBSCRIPTIONS_MAX, SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT,
} from '../domain/limits.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';
import { DIGITS, STREAM_ID } from './schemas.js';


export interface SubscriptionRouteOptions {
  store: EventStore;
  pageSize?: number;
  pollIntervalMs?: number;
  heartbeatIntervalMs?: number;
  subscriptionsMax?: number;
  /** Open subscriptions per API key (with authentication); beyond, 429 too_many_subscriptions. */
  subscriptionsPerKeyMax?: number;
  /** Appends in this process: the shared feed reads at once instead of at its next poll. */
  wake?: ChangeSignal;
  /** With authentication: each open subscription's key is checked again, and its stream ends once revoked. */
  keys?: ApiKeys;
  /** The shared feed's bounds (tests make them small). */
  ringEventsMax?: number;
  bufferEventsMax?: number;
}

interface OpenSubscription {
  pump: Promise<void>;
  /** The key that opened it; null without authentication. */
  keyId: string | null;
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
  const { store, keys } = options;
  const pageSize = options.pageSize ?? SUBSCRIPTION_PAGE_SIZE;
  const pollIntervalMs = options.pollIntervalMs ?? SUBSCRIPTION_POLL_INTERVAL_MS;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? SUBSCRIPTION_HEARTBEAT_INTERVAL_MS;
  const subscriptionsMax = options.subscriptionsMax ?? SUBSCRIPTIONS_MAX;
  const perKeyMax = options.subscriptionsPerKeyMax ?? SUBSCRIPTIONS_PER_KEY_MAX_DEFAULT;
  const feed = new LiveFeed(store, {
    pageSize, pollIntervalMs,
    ringEventsMax: options.ringEventsMax ?? SUBSCRIPTION_FEED_RING_EVENTS_MAX,
    bufferEventsMax: options.bufferEventsMax ?? SUBSCRIPTION_BUFFER_EVENTS_MAX,
    ...(options.wake ? { wake: options.wake } : {}),
  });
  /** Open subscriptions of this app: aborted and awaited on close, so app.close() never waits on a client. */
  const open = new Map<AbortController, OpenSubscription>();
  const perKey = new Map<string, number>();

  function release(controller: AbortController): void {
    const entry = open.get(controller);
    if (entry === undefined) return;
    open.delete(controller);
    if (entry.keyId !== null) {
      const left = (perKey.get(entry.keyId) ?? 1) - 1;
      if (left > 0) perKey.set(entry.keyId, left);
      else perKey.delete(entry.keyId);
    }
  }

  function closeStreamsOf(keyId: string): void {
    for (const [controller, entry] of open) if (entry.keyId === keyId) controller.abort(new KeyRevoked());
  }

  let stopRevocationChecks = () => {};
  if (keys) {
    const unsubscribe = keys.onRevoked(closeStreamsOf);
    const checkEveryMs = Math.max(Math.floor(keys.cacheTtlMs / 4), 10);
    const maxAgeMs = keys.cacheTtlMs - checkEveryMs;
    let checking = false;
    const timer = setInterval(() => {
      if (checking || perKey.size === 0) return;
      checking = true;
      void Promise.all([...perKey.keys()].map(async (keyId) => {
        if (!(await keys.stillValid(keyId, maxAgeMs))) closeStreamsOf(keyId);
      })).catch((error: unknown) => app.log.warn({ err: error }, 'subscriptions: API keys not checked'))
        .finally(() => { checking = false; });
    }, checkEveryMs);
    timer.unref();
    stopRevocationChecks = () => {
      clearInterval(timer);
      unsubscribe();
    };
  }

  app.addHook('preClose', async () => {
    stopRevocationChecks();
    const pumps = [...open.entries()];
    for (const [controller] of pumps) controller.abort();
    await Promise.allSettled(pumps.map(([, entry]) => entry.pump));
    await feed.close();
  });

  /** Everything before the first byte: a refusal here is an ordinary JSON error response. */
  function admit(request: FastifyRequest, reply: FastifyReply): AbortController {
    const keyId = request.principal?.keyId ?? null;
    if (keyId !== null && (perKey.get(keyId) ?? 0) >= perKeyMax) {
      throw new ApiError('too_many_subscriptions', `this API key has ${perKeyMax} subscriptions open, its most; close one first`, { subscriptionsPerKeyMax: perKeyMax });
    }
    if (open.size >= subscriptionsMax) throw new ApiError('overloaded', `too many open subscriptions (${subscriptionsMax}); retry later`);
    const controller = new AbortController();
    // The slot is taken now, while the first page is read, so concurrent requests cannot overshoot the bounds.
    open.set(controller, { pump: Promise.resolve(), keyId });
    if (keyId !== null) perKey.set(keyId, (perKey.get(keyId) ?? 0) + 1);
    // 'close' on the response: the client went away (or the response ended). Listened to from the start, so
    // a client that leaves during the first read is noticed too.
    reply.raw.once('close', () => controller.abort());
    return controller;
  }

  /** The request was refused after admit(): frees its slot. */
  function refuse(controller: AbortController, error: unknown): never {
    release(controller);
    controller.abort();
    throw error;
  }

  function start(request: FastifyRequest, reply: FastifyReply, controller: AbortController, events: AsyncGenerator<RecordedEvent, void, undefined>, idOf: (e: RecordedEvent) => number) {
    reply.hijack();
    if (reply.raw.destroyed) controller.abort(); // gone during the first read: stream() only cleans up
    const pump = stream(request, reply, controller.signal, events, idOf, heartbeatIntervalMs).finally(() => release(controller));
    const entry = open.get(controller);
    if (entry) entry.pump = pump;
  }

  app.get<{ Querystring: { from?: string } }>('/subscribe/$all', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'subscribeAll', summary: 'Subscribe to every event (SSE): catch up after global position `from` (0: the beginning), then live, in commit order',
      tags: ['subscriptions'],
      querystring: { type: 'object', additionalProperties: false, properties: { from: DIGITS } },
      headers: HEADERS,
      response: SSE_RESPONSE,
    },
  }, async (request, reply) => {
    const from = lastEventId(request) ?? Number(request.query.from ?? '0');
    const controller = admit(request, reply);
    const events = await subscribeAll(feed, store, from, { pageSize, pollIntervalMs, signal: controller.signal }).catch((error: unknown) => refuse(controller, error));
    if (!events) refuse(controller, new ApiError('position_not_found', `no event has global position ${from}`, { from }));
    start(request, reply, controller, events, (e) => e.globalPosition);
  });

  app.get<{ Params: { streamId: string }; Querystring: { from?: string } }>('/subscribe/streams/:streamId', {
    config: { access: 'auditor' },
    schema: {
      operationId: 'subscribeStream', summary: 'Subscribe to one stream (SSE): catch up from version `from` (inclusive, default 1), then live. A stream that does not exist yet is waited for.',
      tags: ['subscriptions'],
      params: { type: 'object', properties: { streamId: STREAM_ID }, required: ['streamId'] },
      querystring: { type: 'object', additionalProperties: false, properties: { from: DIGITS } },
      headers: HEADERS,
      response: SSE_RESPONSE,
    },
  }, async (request, reply) => {
    const last = lastEventId(request);
    const fromVersion = last === undefined ? Number(request.query.from ?? '1') : last + 1;
    const controller = admit(request, reply);
    const events = await subscribeStream(feed, store, request.params.streamId, fromVersion, { pageSize, signal: controller.signal })
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
    res.write(`retry: ${SUBSCRIPTION_RECONNECT_DELAY_MS}\n\n`);
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
    // Ends the subscriber if the loop left early (no-op when it already returned).
    await events.return(undefined).catch(() => {});
    if (!res.writableEnded && !res.destroyed) {
      // Said before the end, for people reading the stream; a client reconnecting gets the 401.
      if (signal.reason instanceof KeyRevoked) res.write(': the API key was revoked\n\n');
      res.end();
    }
  }
}

/** Why a subscription was aborted when its key was revoked. */
class KeyRevoked extends Error {
  override readonly name = 'KeyRevoked';
  constructor() {
    super('the API key was revoked');
  }
}
