// The one follower of `$all` a process runs for all its live subscribers (issue 10, item 5). Before it, every
// subscription polled the store on its own: 1,000 idle subscriptions were 20,000 queries a second. Now an idle
// subscriber costs a place in a Set; the feed reads `$all` once for everyone and hands each page to every
// member, and it reads nothing at all while it has no members.
//
// When it reads:
// - at once (coalesced to one read per `wakeGapMs`) when this process appends (`wake`);
// - every `pollIntervalMs` otherwise, to notice commits of other processes on the same database. One poll per
//   process, whatever the number of subscribers: 20 empty index reads a second. LISTEN/NOTIFY was the other
//   way, and was not chosen: a NOTIFY in the append transaction takes a lock held until commit that
//   serializes all commits of the database, it would need the append SQL changed (src/adapters/event-store/
//   sql, owned by the commit-order work), and it needs a dedicated connection that must itself survive
//   database restarts. A 50 ms poll costs less than any of that and bounds the latency all the same.
//
// Joining without gaps or duplicates. The feed's pages are consecutive slices of `$all` (it always continues
// from the last event it was given, as every follower does), and it keeps the last `ringEventsMax` events it
// read. A subscriber catches up on its own pages (src/application/subscription.ts), and when a page comes
// back short it asks to join at its last position:
// - `$all`: if that position is the ring's base or an event in the ring, it gets the ring's events after it,
//   then every page the feed reads next: contiguous. Positions are matched by identity, never compared, so
//   this holds whether positions increase along `$all` or not. A position the ring does not hold means the
//   feed is behind the subscriber or ahead of the ring: the subscriber waits for the feed's next read or
//   reads another page itself, then asks again. A feed without members simply restarts at the joiner's position.
// - one stream: the member joins *before* it reads its catch-up pages, and keeps from what the feed gives it
//   only the version after the last it delivered. Every event the feed had read before the member joined was
//   committed before the member's own read began, so that read sees it; every later one is handed to the member.
//   A feed without members first moves to the head of `$all` (readLatest), for the same reason.
//
// A slow member does not hold up the others: each member's queue is bounded (`bufferEventsMax`). A page that
// does not fit detaches the member, which keeps what it has, drains it, and goes back to catching up on its
// own pages (reads it pulls, at its own pace), then joins again. Nobody is closed for being slow.
//
// A failed read of the feed fails every member (their streams end; clients resume with Last-Event-ID).
import { ChangeSignal } from './change-signal.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';

interface LiveFeedOptions {
  /** Events per read. */
  pageSize: number;
  /** How often the feed polls while it has members, for commits of other processes. */
  pollIntervalMs: number;
  /** Appends in this process: the feed reads at once instead of at the next poll. */
  wake?: ChangeSignal;
  /** At most one read per this many ms when woken (a thousand commands a second cost ~200 reads). */
  wakeGapMs?: number;
  /** The last events read, kept for `$all` subscribers that join. */
  ringEventsMax: number;
  /** Events queued for one member before it is detached (must be >= ringEventsMax). */
  bufferEventsMax: number;
}

/** Members detached for being too slow, in this process: for tests and metrics (as activeFollowers()). */
let detachments = 0;
export const feedDetachments = (): number => detachments;

/** One subscriber as the feed sees it: a bounded queue the feed fills, and a wake-up for its consumer. */
export class FeedMember {
  readonly queue: RecordedEvent[] = [];
  /** Set when a page did not fit: the member drains its queue and catches up on its own. */
  detached = false;
  /** Set when the feed failed: the member throws it once its queue is drained. */
  failure: unknown = undefined;
  private waiter: (() => void) | null = null;

  /** `streamId` null: a member of `$all`. */
  constructor(readonly streamId: string | null, private readonly bufferEventsMax: number) {}

  /** Queues events (already filtered); false when they do not fit: the member is then detached. */
  offer(events: readonly RecordedEvent[]): boolean {
    if (events.length === 0) return true;
    if (this.queue.length + events.length > this.bufferEventsMax) {
      this.detached = true;
      detachments += 1;
    } else for (const event of events) this.queue.push(event);
    this.waiter?.();
    return !this.detached;
  }

  fail(error: unknown): void {
    this.failure = error;
    this.waiter?.();
  }

  /** Forgets the queue and the detachment: before the member joins again. */
  reset(): void {
    this.queue.length = 0;
    this.detached = false;
  }

  /** Resolves when there is something to do (an event, a detachment, a failure) or the signal aborts. No timer. */
  wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted || this.queue.length > 0 || this.detached || this.failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        this.waiter = null;
        resolve();
      };
      this.waiter = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

export class LiveFeed {
  /** The feed continues after this position; the ring holds the events read up to it. */
  private cursor = 0;
  /** The position just before ring[0] (the cursor when the ring is empty). */
  private base = 0;
  private ring: RecordedEvent[] = [];
  /** Bumped when the feed moves to another position: a read in flight from the old one is dropped. */
  private epoch = 0;
  private readonly allMembers = new Set<FeedMember>();
  private readonly streamMembers = new Map<string, Set<FeedMember>>();
  private memberCount = 0;
  private loop: Promise<void> | null = null;
  private moving: Promise<void> | null = null;
  private readonly stop = new AbortController();
  private readonly closing = new ChangeSignal();
  /** Notified after each read that returned events (members waiting for the feed to pass them). */
  readonly advanced = new ChangeSignal();
  /** Reads of `$all` made by the feed: for tests and metrics. */
  reads = 0;

  constructor(private readonly store: EventStore, private readonly options: LiveFeedOptions) {
    if (options.bufferEventsMax < options.ringEventsMax) throw new Error('bufferEventsMax must be at least ringEventsMax');
  }

  get members(): number {
    return this.memberCount;
  }

  /** A new member for this feed (not joined yet); `streamId` null: `$all`. */
  member(streamId: string | null): FeedMember {
    return new FeedMember(streamId, this.options.bufferEventsMax);
  }

  /**
   * Joins a `$all` member whose last delivered position is `after` (0: none), if the feed can continue from
   * there: the ring's events after it are queued at once. False: the feed is behind or past it; ask again
   * after the feed's next read (`advanced`) or after reading another page.
   */
  joinAll(member: FeedMember, after: number): boolean {
    if (this.stop.signal.aborted) return false;
    if (this.allMembers.has(member)) return true;
    let index = after === this.base ? 0 : this.indexAfter(after);
    if (index === undefined) {
      if (this.memberCount > 0) return false;
      this.moveTo(after);
      index = 0;
    }
    member.offer(this.ring.slice(index));
    this.allMembers.add(member);
    this.added();
    return true;
  }

  /**
   * Joins a member of one stream, before it reads its catch-up pages (see the file's comment). Resolves once
   * the feed is following from a position every event before which the member's next read will see.
   */
  async joinStream(member: FeedMember): Promise<void> {
    const streamId = member.streamId;
    if (streamId === null) throw new Error('joinStream: a member of $all');
    if (this.memberCount === 0) {
      // Joiners of an idle feed share one look at the head.
      this.moving ??= (async () => {
        const epoch = ++this.epoch;
        try {
          const [latest] = await this.store.readLatest(1);
          // Someone else moved the feed or joined meanwhile: the feed is then current for this member too.
          if (epoch === this.epoch && this.memberCount === 0) this.moveTo(latest?.globalPosition ?? 0);
        } finally {
          this.moving = null;
        }
      })();
      await this.moving;
    }
    let members = this.streamMembers.get(streamId);
    if (members === undefined) this.streamMembers.set(streamId, members = new Set());
    if (members.has(member)) return;
    members.add(member);
    this.added();
  }

  leave(member: FeedMember): void {
    const removed = member.streamId === null
      ? this.allMembers.delete(member)
      : this.streamMembers.get(member.streamId)?.delete(member) ?? false;
    if (member.streamId !== null && this.streamMembers.get(member.streamId)?.size === 0) this.streamMembers.delete(member.streamId);
    if (removed) this.memberCount -= 1;
  }

  /** Stops reading; members are left to their owners (the routes abort them first). */
  async close(): Promise<void> {
    this.stop.abort();
    this.closing.notify();
    await this.loop;
  }

  private indexAfter(position: number): number | undefined {
    for (let i = this.ring.length - 1; i >= 0; i--) if (this.ring[i]!.globalPosition === position) return i + 1;
    return undefined;
  }

  private moveTo(position: number): void {
    this.epoch += 1;
    this.cursor = this.base = position;
    this.ring = [];
  }

  private added(): void {
    this.memberCount += 1;
    this.loop ??= this.run();
  }

  private async run(): Promise<void> {
    const { signal } = this.stop;
    const gapMs = this.options.wakeGapMs ?? 5;
    try {
      while (this.memberCount > 0 && !signal.aborted) {
        const epoch = this.epoch;
        const readAtMs = performance.now();
        let events: RecordedEvent[];
        try {
          this.reads += 1;
          const page = await this.store.readAll(this.cursor, this.options.pageSize);
          // A position once found stays found (events are never deleted); anything else is a broken store.
          if (page === null) throw new Error(`global position ${this.cursor} disappeared from the event store`);
          events = page.events;
        } catch (error) {
          if (epoch === this.epoch) this.failAll(error);
          continue;
        }
        if (epoch !== this.epoch || signal.aborted) continue;
        if (events.length > 0) this.deliver(events);
        if (events.length < this.options.pageSize) {
          // Caught up: wait for an append here, or the next poll for the others' commits.
          // (next() with the stop signal undoes its timer, waiter and listener however it ends: nothing piles up.)
          const { wake, pollIntervalMs } = this.options;
          if (wake) {
            await wake.next(pollIntervalMs, signal);
            const sinceReadMs = performance.now() - readAtMs;
            if (sinceReadMs < gapMs && !signal.aborted) await this.closing.next(gapMs - sinceReadMs);
          } else {
            await this.closing.next(pollIntervalMs);
          }
        }
      }
    } finally {
      this.loop = null;
    }
  }

  private deliver(events: RecordedEvent[]): void {
    this.cursor = events.at(-1)!.globalPosition;
    for (const event of events) this.ring.push(event);
    const excess = this.ring.length - this.options.ringEventsMax;
    if (excess > 0) {
      this.base = this.ring[excess - 1]!.globalPosition;
      this.ring.splice(0, excess);
    }
    for (const member of this.allMembers) {
      if (!member.offer(events)) this.leave(member);
    }
    if (this.streamMembers.size > 0) {
      const byStream = new Map<string, RecordedEvent[]>();
      for (const event of events) {
        if (!this.streamMembers.has(event.streamId)) continue;
        const list = byStream.get(event.streamId);
        if (list) list.push(event);
        else byStream.set(event.streamId, [event]);
      }
      for (const [streamId, list] of byStream) {
        for (const member of this.streamMembers.get(streamId) ?? []) if (!member.offer(list)) this.leave(member);
      }
    }
    this.advanced.notify();
  }

  private failAll(error: unknown): void {
    for (const member of this.allMembers) member.fail(error);
    for (const members of this.streamMembers.values()) for (const member of members) member.fail(error);
    this.allMembers.clear();
    this.streamMembers.clear();
    this.memberCount = 0;
  }
}
