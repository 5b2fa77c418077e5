// Loads account state: from a bounded in-process cache, else the latest snapshot plus the events after it.
// The cache is only an optimisation: every append still carries the expected version it was decided at, so
// a stale entry (another process wrote) costs a conflict and a reload, never a wrong balance.
import { accountStreamId, decodeAccountEvent } from '../domain/account/events.js';
import {
  ACCOUNT_SNAPSHOT_SCHEMA_VERSION, decodeAccountState, encodeAccountState, evolveAccount, initialAccountState,
  type AccountState,
} from '../domain/account/state.js';
import type { EventStore } from '../ports/event-store.js';

export interface LoadedAccount {
  state: AccountState;
  /** Stream version the state includes; 0 for an account that does not exist. */
  version: number;
  fromCache: boolean;
}

export interface AccountRepositoryOptions {
  /** Take a snapshot each time a stream's version crosses a multiple of this; 0 turns snapshots off. */
  snapshotEvery: number;
  /** Accounts kept in memory; least recently used beyond it are dropped. 0 turns the cache off. */
  cacheEntriesMax: number;
  /** Events read per page while folding a stream. */
  readPageSize: number;
}

export class AccountRepository {
  private readonly cache = new Map<string, { state: AccountState; version: number }>();

  constructor(private readonly store: EventStore, private readonly options: AccountRepositoryOptions) {}

  /** `from`: a transaction-scoped store (see EventStore.exclusive); reading through it skips the cache. */
  async load(accountId: string, { bypassCache = false, from = this.store }: { bypassCache?: boolean; from?: EventStore } = {}): Promise<LoadedAccount> {
    const streamId = accountStreamId(accountId);
    const cached = bypassCache || from !== this.store ? undefined : this.cache.get(streamId);
    if (cached) {
      this.cache.delete(streamId); // re-insert: Map order is our LRU order
      this.cache.set(streamId, cached);
      return { ...cached, fromCache: true };
    }
    let state = initialAccountState();
    let version = 0;
    if (this.options.snapshotEvery > 0) {
      const snapshot = await from.loadSnapshot(streamId, ACCOUNT_SNAPSHOT_SCHEMA_VERSION);
      if (snapshot) {
        state = decodeAccountState(snapshot.state);
        version = snapshot.version;
      }
    }
    for (;;) {
      const slice = await from.readStream(streamId, {
        fromVersion: version + 1, count: this.options.readPageSize, direction: 'forward',
      });
      for (const event of slice.events) {
        state = evolveAccount(state, decodeAccountEvent(event.type, event.data));
        version = event.streamVersion;
      }
      if (slice.events.length < this.options.readPageSize) break;
    }
    this.remember(accountId, state, version);
    return { state, version, fromCache: false };
  }

  /** After a successful append: keep the new state, and snapshot it when the version crossed the interval. */
  async appended(accountId: string, state: AccountState, previousVersion: number, version: number, to: EventStore = this.store): Promise<void> {
    this.remember(accountId, state, version);
    const every = this.options.snapshotEvery;
    if (every > 0 && Math.floor(previousVersion / every) !== Math.floor(version / every)) {
      await to.saveSnapshot({
        streamId: accountStreamId(accountId), version, schemaVersion: ACCOUNT_SNAPSHOT_SCHEMA_VERSION,
        state: encodeAccountState(state),
      });
    }
  }

  /** The cached state, if any (no I/O). */
  cached(accountId: string): LoadedAccount | undefined {
    const entry = this.cache.get(accountStreamId(accountId));
    return entry ? { ...entry, fromCache: true } : undefined;
  }

  /** Whether any of these accounts has moved past the given version: one cheap read each, no events. */
  async anyStale(versions: [accountId: string, version: number][], from: EventStore = this.store): Promise<boolean> {
    for (const [accountId, version] of versions) {
      const current = await from.readStream(accountStreamId(accountId), { count: 0, direction: 'forward' });
      if (current.version !== version) return true;
    }
    return false;
  }

  forget(accountId: string): void {
    this.cache.delete(accountStreamId(accountId));
  }

  private remember(accountId: string, state: AccountState, version: number): void {
    // An account that does not exist yet is never cached: another process may create it any moment, and
    // a cached "none" would then reject deposits to it until evicted.
    if (this.options.cacheEntriesMax === 0 || state.status === 'none') return;
    const streamId = accountStreamId(accountId);
    this.cache.delete(streamId);
    this.cache.set(streamId, { state, version });
    if (this.cache.size > this.options.cacheEntriesMax) {
      this.cache.delete(this.cache.keys().next().value!);
    }
  }
}
