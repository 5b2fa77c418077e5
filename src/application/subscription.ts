// Followers of the event store (spec 003): catch up from a cursor, then follow what is committed next, until an
// AbortSignal says stop. Pure of HTTP.
// - followAllPages: a follower that polls `$all` on its own, page by page: the relay and the sealer (one each
//   per process).
// - subscribeAll / subscribeStream: subscribers, as many as there are clients (src/http/subscription-routes.ts).
//   They read their own pages only to catch up, then take their events from the process's one shared feed
//   (src/application/live-feed.ts), so an idle subscriber costs no query at all.
//
// Ordering is not re-implemented here. `$all` is `EventStore.readAll`, which only returns events every
// predecessor of which (in commit order) has committed, so a reader that always continues from the last
// position it was given can never skip a late commit nor see one twice. A single stream is read by version:
// versions are assigned under the stream's row lock, so version N+1 never becomes visible before N.
//
// Everything is bounded: a catch-up page (at most `pageSize` events) is pulled only when the consumer is ready
// for it (for await); a live subscriber's queue is bounded by the feed (bufferEventsMax).
import { abortableSleep } from '../lib/abortable-sleep.js';
import type { ChangeSignal } from './change-signal.js';
import type { FeedMember, LiveFeed } from './live-feed.js';
import { READ_PAGE_MAX, SUBSCRIPTION_PAGE_SIZE, SUBSCRIPTION_POLL_INTERVAL_MS } from '../domain/limits.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';

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

/** `$all` after `afterPosition`, a page at a time (each as read, at most pageSize events): the relay's and the sealer's follower. */
export async function followAllPages(store: EventStore, afterPosition: number, options: FollowOptions): Promise<AsyncGenerator<RecordedEvent[], void, undefined> | null> {
  const pageSize = boundedPageSize(options.pageSize);
  const first = await store.readAll(afterPosition, pageSize);
  if (!first) return null;
  return followPages(options, first.events, pageSize, (last) => readAllAfter(store, last?.globalPosition ?? afterPosition, pageSize));
}

async function readAllAfter(store: EventStore, position: number, pageSize: number): Promise<RecordedEvent[]> {
  const page = await store.readAll(position, pageSize);
  // A position once found stays found (events are never deleted); anything else is a broken store.
  if (!page) throw new Error(`global position ${position} disappeared from the event store`);
  return page.events;
}

// ---- subscribers: their own catch-up pages, then the process's shared feed (src/application/live-feed.ts) ----

export interface SubscribeOptions {
  /** Ends the subscriber: it returns at its next step and leaves the feed. */
  signal: AbortSignal;
  pageSize?: number;
  /** How long a `$all` subscriber the feed has not reached yet waits before it looks again. */
  pollIntervalMs?: number;
}

/**
 * One subscriber of `$all` after `afterPosition` (exclusive; 0: from the beginning). The first page is read
 * before this resolves, so an unknown position is found while the caller can still answer with an error: null.
 */
export async function subscribeAll(feed: LiveFeed, store: EventStore, afterPosition: number, options: SubscribeOptions): Promise<AsyncGenerator<RecordedEvent, void, undefined> | null> {
  const pageSize = boundedPageSize(options.pageSize);
  const first = await store.readAll(afterPosition, pageSize);
  if (!first) return null;
  return allSubscriber(feed, store, afterPosition, first.events, pageSize, options);
}

async function* allSubscriber(
  feed: LiveFeed, store: EventStore, afterPosition: number, firstPage: RecordedEvent[], pageSize: number, options: SubscribeOptions,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const { signal } = options;
  const pollIntervalMs = boundedPollInterval(options.pollIntervalMs);
  const member = feed.member(null);
  const leave = () => feed.leave(member);
  signal.addEventListener('abort', leave, { once: true });
  running += 1;
  try {
    let position = afterPosition;
    let page: RecordedEvent[] | null = firstPage;
    for (;;) {
      // Catching up on its own pages, pulled one at a time as the consumer is ready for them.
      while (page !== null) {
        for (const event of page) {
          if (signal.aborted) return;
          yield event;
          position = event.globalPosition;
        }
        if (signal.aborted) return;
        page = page.length < pageSize ? null : await readAllAfter(store, position, pageSize);
      }
      // Caught up: join the feed where this subscriber stands. The feed behind it (or past what it keeps):
      // wait for the feed's next read, try again, else read another page and try after that.
      member.reset();
      if (!feed.joinAll(member, position)) {
        await feed.advanced.next(pollIntervalMs, signal);
        if (signal.aborted) return;
        if (!feed.joinAll(member, position)) {
          page = await readAllAfter(store, position, pageSize);
          continue;
        }
      }
      // Live: what the feed hands over, in its order. Detached (too slow): drain, then catch up again.
      for (;;) {
        if (signal.aborted) return;
        const event = member.queue.shift();
        if (event !== undefined) {
          yield event;
          position = event.globalPosition;
          continue;
        }
        if (member.failure !== undefined) throw member.failure;
        if (member.detached) break;
        await member.wait(signal);
      }
      page = await readAllAfter(store, position, pageSize);
    }
  } finally {
    running -= 1;
    signal.removeEventListener('abort', leave);
    leave();
  }
}

/**
 * One subscriber of a stream from `fromVersion` (inclusive, at least 1). A stream that does not exist yet is
 * followed all the same: its events are delivered when they are written. It joins the feed before its first
 * read (see live-feed.ts for why that order loses nothing) and takes from the feed exactly the next version
 * each time.
 */
export async function subscribeStream(feed: LiveFeed, store: EventStore, streamId: string, fromVersion: number, options: SubscribeOptions): Promise<AsyncGenerator<RecordedEvent, void, undefined>> {
  const pageSize = boundedPageSize(options.pageSize);
  const member = feed.member(streamId);
  const leave = () => feed.leave(member);
  options.signal.addEventListener('abort', leave, { once: true });
  const start = Math.max(1, fromVersion);
  try {
    await feed.joinStream(member);
    const first = await readStreamFrom(store, streamId, start, pageSize);
    return streamSubscriber(feed, store, member, start, first, pageSize, options.signal, leave);
  } catch (error) {
    options.signal.removeEventListener('abort', leave);
    leave();
    throw error;
  }
}

async function readStreamFrom(store: EventStore, streamId: string, version: number, pageSize: number): Promise<RecordedEvent[]> {
  return (await store.readStream(streamId, { fromVersion: version, count: pageSize, direction: 'forward' })).events;
}

async function* streamSubscriber(
  feed: LiveFeed, store: EventStore, member: FeedMember, start: number, firstPage: RecordedEvent[], pageSize: number,
  signal: AbortSignal, leave: () => void,
): AsyncGenerator<RecordedEvent, void, undefined> {
  const streamId = member.streamId!;
  running += 1;
  try {
    let next = start;
    let page: RecordedEvent[] | null = firstPage;
    for (;;) {
      while (page !== null) {
        for (const event of page) {
          if (signal.aborted) return;
          yield event;
          next = event.streamVersion + 1;
        }
        if (signal.aborted) return;
        page = page.length < pageSize ? null : await readStreamFrom(store, streamId, next, pageSize);
      }
      for (;;) {
        if (signal.aborted) return;
        const event = member.queue.shift();
        if (event !== undefined) {
          if (event.streamVersion < next) continue; // read on its own already
          if (event.streamVersion > next) break; // cannot happen (versions are dense): read rather than skip
          yield event;
          next += 1;
          continue;
        }
        if (member.failure !== undefined) throw member.failure;
        if (member.detached) break;
        await member.wait(signal);
      }
      // Detached (too slow), or a gap: join again, then read what was missed.
      leave();
      member.reset();
      await feed.joinStream(member);
      if (signal.aborted) return;
      page = await readStreamFrom(store, streamId, next, pageSize);
    }
  } finally {
    running -= 1;
    signal.removeEventListener('abort', leave);
    leave();
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
  const pollIntervalMs = boundedPollInterval(options.pollIntervalMs);
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
          await options.wake.next(pollIntervalMs, signal);
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

function boundedPollInterval(pollIntervalMs: number | undefined): number {
  return Math.min(Math.max(pollIntervalMs ?? SUBSCRIPTION_POLL_INTERVAL_MS, 1), 10_000);
}

function boundedPageSize(pageSize: number | undefined): number {
  return Math.min(Math.max(Math.trunc(pageSize ?? SUBSCRIPTION_PAGE_SIZE), 1), READ_PAGE_MAX);
}
