// Followers of the event store for subscriptions (spec 003): catch up from a cursor, then keep polling for
// what is committed next, until an AbortSignal says stop. Pure of HTTP: the SSE routes
// (src/http/subscription-routes.ts) are one consumer; a projection could be another.
//
// Ordering is not re-implemented here. `$all` is `EventStore.readAll`, which only returns events every
// predecessor of which (in commit order) has committed, so a poller that always continues from the last
// position it was given can never skip a late commit nor see one twice. A single stream is read by version:
// versions are assigned under the stream's row lock, so version N+1 never becomes visible before N.
//
// Everything is bounded: one page (at most `pageSize` events) is held at a time, and the consumer pulls the
// next event only when it is ready for it (for await), so a slow consumer slows the reads, never buffers.
import { abortableSleep } from './abortable-sleep.js';
import type { ChangeSignal } from './change-signal.js';
import { READ_PAGE_MAX } from '../domain/limits.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';

/** Events read per query. */
export const SUBSCRIPTION_PAGE_SIZE = 100;
/** How long a caught-up follower waits before it asks the store again. */
export const SUBSCRIPTION_POLL_INTERVAL_MS = 50;

export interface FollowOptions {
  /** Stops the follower: it returns at its next step (a query already sent finishes first, unread). */
  signal: AbortSignal;
  pageSize?: number;
  pollIntervalMs?: number;
  /**
   * Appends in this process: a caught-up follower asks again soon instead of at the next poll. Wake-ups are
   * coalesced: at most one read per `wakeGapMs` (default 5 ms), so a thousand commands a second cost a
   * couple of hundred reads, not a thousand, for at most a few milliseconds of latency.
   */
  wake?: ChangeSignal;
  wakeGapMs?: number;
}

/** Followers currently running (a generator being iterated), in this process: for tests and metrics. */
let running = 0;
export const activeFollowers = (): number => running;

/**
 * Follows `$all` after `afterPosition` (exclusive; 0: from the beginning). The first page is read before
 * this resolves, so an unknown position is found while the caller can still answer with an error: null.
 */
export async function followAll(store: EventStore, afterPosition: number, options: FollowOptions): Promise<AsyncGenerator<RecordedEvent, void, undefined> | null> {
  const pageSize = boundedPageSize(options.pageSize);
  const first = await store.readAll(afterPosition, pageSize);
  if (!first) return null;
  return follow(options, first.events, pageSize, allAfter(store, afterPosition, pageSize));
}

/** followAll, a page at a time (each as read from the store, at most pageSize events). */
export async function followAllPages(store: EventStore, afterPosition: number, options: FollowOptions): Promise<AsyncGenerator<RecordedEvent[], void, undefined> | null> {
  const pageSize = boundedPageSize(options.pageSize);
  const first = await store.readAll(afterPosition, pageSize);
  if (!first) return null;
  return followPages(options, first.events, pageSize, allAfter(store, afterPosition, pageSize));
}

function allAfter(store: EventStore, afterPosition: number, pageSize: number) {
  return async (last: RecordedEvent | undefined) => {
    const position = last?.globalPosition ?? afterPosition;
    const page = await store.readAll(position, pageSize);
    // A position once found stays found (events are never deleted); anything else is a broken store.
    if (!page) throw new Error(`global position ${position} disappeared from the event store`);
    return page.events;
  };
}

/**
 * Follows one stream from `fromVersion` (inclusive, at least 1). A stream that does not exist yet is
 * followed all the same: its events are delivered when they are written.
 */
export async function followStream(store: EventStore, streamId: string, fromVersion: number, options: FollowOptions): Promise<AsyncGenerator<RecordedEvent, void, undefined>> {
  const pageSize = boundedPageSize(options.pageSize);
  const start = Math.max(1, fromVersion);
  const read = async (version: number) => (await store.readStream(streamId, { fromVersion: version, count: pageSize, direction: 'forward' })).events;
  const first = await read(start);
  return follow(options, first, pageSize, (last) => read(last ? last.streamVersion + 1 : start));
}

async function* follow(
  options: FollowOptions,
  firstPage: RecordedEvent[],
  pageSize: number,
  readAfter: (last: RecordedEvent | undefined) => Promise<RecordedEvent[]>,
): AsyncGenerator<RecordedEvent, void, undefined> {
  for await (const page of followPages(options, firstPage, pageSize, readAfter)) {
    for (const event of page) {
      if (options.signal.aborted) return;
      yield event;
    }
  }
}

/** Page by page: for a consumer that handles several events at once (the relay's pipelined publishing). */
async function* followPages(
  options: FollowOptions,
  firstPage: RecordedEvent[],
  pageSize: number,
  /** The next page after `last`, the last event delivered (undefined: none yet). */
  readAfter: (last: RecordedEvent | undefined) => Promise<RecordedEvent[]>,
): AsyncGenerator<RecordedEvent[], void, undefined> {
  const { signal } = options;
  const pollIntervalMs = Math.min(Math.max(options.pollIntervalMs ?? SUBSCRIPTION_POLL_INTERVAL_MS, 1), 10_000);
  running += 1;
  try {
    let page = firstPage;
    let last: RecordedEvent | undefined;
    let readAt = performance.now();
    for (;;) {
      if (signal.aborted) return;
      if (page.length > 0) {
        yield page;
        last = page.at(-1);
      }
      if (signal.aborted) return;
      // A full page: there may be more right now. Otherwise caught up: wait before asking again.
      if (page.length < pageSize) {
        if (options.wake) {
          await Promise.race([options.wake.next(pollIntervalMs), abortableSleep(pollIntervalMs, signal)]);
          const sinceRead = performance.now() - readAt;
          const gap = options.wakeGapMs ?? 5;
          if (sinceRead < gap) await abortableSleep(gap - sinceRead, signal);
        } else {
          await abortableSleep(pollIntervalMs, signal);
        }
      }
      if (signal.aborted) return;
      readAt = performance.now();
      page = await readAfter(last);
    }
  } finally {
    running -= 1;
  }
}

function boundedPageSize(pageSize: number | undefined): number {
  return Math.min(Math.max(Math.trunc(pageSize ?? SUBSCRIPTION_PAGE_SIZE), 1), READ_PAGE_MAX);
}
