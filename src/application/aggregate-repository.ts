// Loads an aggregate's state from its stream: from a bounded in-process cache, else the latest snapshot plus
// the events after it. It knows no aggregate type: every call names one (src/domain/decider.ts), for its
// initial state, evolve and codecs, and the stream, whose id the caller derived once.
// The cache is only an optimisation: every append still carries the expected version it was decided at, so
// a stale entry (another process wrote) costs a conflict and a reload, never a wrong state.
import type { Aggregate, AnyAggregate } from '../domain/decider.js';
import type { EventStore } from '../ports/event-store.js';

export interface Loaded<State> {
  state: State;
  /** Stream version the state includes; 0 for an aggregate that does not exist. */
  version: number;
  fromCache: boolean;
}

export interface AggregateRepositoryOptions {
  /** Take a snapshot each time a stream's version crosses a multiple of this; 0 turns snapshots off. */
  snapshotEvery: number;
  /** Streams' states kept in memory; least recently used beyond it are dropped. 0 turns the cache off. */
  cacheEntriesMax: number;
  /** Events read per page while folding a stream. */
  readPageSize: number;
}

export class AggregateRepository {
  /** By stream id: a stream belongs to one aggregate type, so its entry is of that type's state. */
  private readonly cache = new Map<string, { state: unknown; version: number }>();

  constructor(private readonly store: EventStore, private readonly options: AggregateRepositoryOptions) {}

  /** `from`: a transaction-scoped store (see EventStore.exclusive); reading through it skips the cache. */
  async load<State>(
    aggregate: Aggregate<any, any, any, State>, streamId: string,
    { bypassCache = false, from = this.store }: { bypassCache?: boolean; from?: EventStore } = {},
  ): Promise<Loaded<State>> {
    const cached = bypassCache || from !== this.store ? undefined : this.cache.get(streamId);
    if (cached) {
      this.cache.delete(streamId); // re-insert: Map order is our LRU order
      this.cache.set(streamId, cached);
      return { state: cached.state as State, version: cached.version, fromCache: true };
    }
    let state = aggregate.initialState();
    let version = 0;
    if (this.options.snapshotEvery > 0 && aggregate.snapshots) {
      const snapshot = await from.loadSnapshot(streamId, aggregate.snapshots.schemaVersion);
      if (snapshot) {
        state = aggregate.snapshots.decode(snapshot.state);
        version = snapshot.version;
      }
    }
    for (;;) {
      const slice = await from.readStream(streamId, {
        fromVersion: version + 1, count: this.options.readPageSize, direction: 'forward',
      });
      for (const event of slice.events) {
        state = aggregate.evolve(state, aggregate.events.decode(event.type, event.data, event.schemaVersion));
        version = event.streamVersion;
      }
      if (slice.events.length < this.options.readPageSize) break;
    }
    this.remember(streamId, state, version);
    return { state, version, fromCache: false };
  }

  /** After a successful append: keep the new state, and snapshot it when the version crossed the interval. */
  async appended(
    aggregate: AnyAggregate, streamId: string, state: unknown, previousVersion: number, version: number, to: EventStore = this.store,
  ): Promise<void> {
    this.remember(streamId, state, version);
    const every = this.options.snapshotEvery;
    if (aggregate.snapshots && every > 0 && Math.floor(previousVersion / every) !== Math.floor(version / every)) {
      await to.saveSnapshot({
        streamId, version, schemaVersion: aggregate.snapshots.schemaVersion, state: aggregate.snapshots.encode(state),
      });
    }
  }

  /** The cached state, if any (no I/O). */
  cached<State>(streamId: string): Loaded<State> | undefined {
    const entry = this.cache.get(streamId);
    return entry ? { state: entry.state as State, version: entry.version, fromCache: true } : undefined;
  }

  /** Whether any of these streams has moved past the given version: one cheap read each, no events. */
  async anyStale(versions: [streamId: string, version: number][], from: EventStore = this.store): Promise<boolean> {
    for (const [streamId, version] of versions) {
      const current = await from.readStream(streamId, { count: 0, direction: 'forward' });
      if (current.version !== version) return true;
    }
    return false;
  }

  forget(streamId: string): void {
    this.cache.delete(streamId);
  }

  private remember(streamId: string, state: unknown, version: number): void {
    // A stream that does not exist yet is never cached: another process may create it any moment, and a
    // cached "none" would then reject commands on it until evicted.
    if (this.options.cacheEntriesMax === 0 || version === 0) return;
    this.cache.delete(streamId);
    this.cache.set(streamId, { state, version });
    if (this.cache.size > this.options.cacheEntriesMax) {
      this.cache.delete(this.cache.keys().next().value!);
    }
  }
}
