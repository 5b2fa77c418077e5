// Reads of accounts straight from the event store: time travel and history, and the authoritative balance
// (for tools and tests; the API serves balances from the read model). Every money event carries
// balanceAfter, so a balance, now or at any past instant, is one indexed lookup of one event.
import { accountStreamId } from '../domain/account/events.js';
import { OPENED_CACHE_ACCOUNTS_MAX } from '../domain/limits.js';
import type { EventStore, RecordedEvent } from '../ports/event-store.js';

export interface AccountBalance {
  accountId: string;
  owner: string;
  currency: string;
  /** Minor units, decimal string. */
  balance: string;
  /** The stream version this balance includes. */
  version: number;
  /** Global position of the last event included. */
  globalPosition: number;
  openedAt: string;
  /** recorded_at of the last event included. */
  lastEventAt: string;
}

export interface HistoryEntry {
  eventId: string;
  version: number;
  globalPosition: number;
  type: string;
  amount?: string;
  balanceAfter: string;
  transferId?: string;
  counterpartyAccountId?: string;
  recordedAt: string;
  createdBy: string;
  correlationId?: string;
}

const balanceOf = (event: RecordedEvent): string => (event.data['balanceAfter'] as string | undefined) ?? '0';

function toBalance(first: RecordedEvent, last: RecordedEvent): AccountBalance {
  return {
    accountId: first.data['accountId'] as string,
    owner: first.data['owner'] as string,
    currency: first.data['currency'] as string,
    balance: balanceOf(last),
    version: last.streamVersion,
    globalPosition: last.globalPosition,
    openedAt: first.recordedAt,
    lastEventAt: last.recordedAt,
  };
}

export class AccountQueries {
  /** AccountCreated events by account id. An event never changes, so caching one is always correct. */
  private readonly opened = new Map<string, RecordedEvent>();

  constructor(private readonly store: EventStore, private readonly openedCacheMax = OPENED_CACHE_ACCOUNTS_MAX) {}

  async balance(accountId: string): Promise<AccountBalance | null> {
    const streamId = accountStreamId(accountId);
    const first = this.opened.get(accountId);
    if (!first) {
      const ends = await this.store.firstAndLastEvent(streamId);
      if (!ends) return null;
      this.remember(accountId, ends.first);
      return toBalance(ends.first, ends.last);
    }
    const [last] = (await this.store.readStream(streamId, { count: 1, direction: 'backward' })).events;
    return toBalance(first, last!);
  }

  private remember(accountId: string, first: RecordedEvent): void {
    if (this.opened.size >= this.openedCacheMax) this.opened.delete(this.opened.keys().next().value!);
    this.opened.set(accountId, first);
  }

  /** The balance as it stood at `at` (ISO-8601 instant): 'not_open' when the account did not exist yet. */
  async balanceAt(accountId: string, at: string): Promise<AccountBalance | 'not_found' | 'not_open'> {
    const streamId = accountStreamId(accountId);
    const [ends, last] = await Promise.all([this.store.firstAndLastEvent(streamId), this.store.lastEventAt(streamId, at)]);
    if (!ends) return 'not_found';
    if (!last) return 'not_open';
    return toBalance(ends.first, last);
  }

  async history(accountId: string, fromVersion: number, limit: number): Promise<{ entries: HistoryEntry[]; version: number } | null> {
    const slice = await this.store.readStream(accountStreamId(accountId), { fromVersion, count: limit, direction: 'forward' });
    if (slice.version === 0) return null;
    return { version: slice.version, entries: slice.events.map(toHistoryEntry) };
  }
}

function toHistoryEntry(event: RecordedEvent): HistoryEntry {
  const d = event.data;
  const counterparty = (d['toAccountId'] ?? d['fromAccountId']) as string | undefined;
  return {
    eventId: event.eventId,
    version: event.streamVersion,
    globalPosition: event.globalPosition,
    type: event.type,
    ...(d['amount'] === undefined ? {} : { amount: d['amount'] as string }),
    balanceAfter: balanceOf(event),
    ...(d['transferId'] === undefined ? {} : { transferId: d['transferId'] as string }),
    ...(counterparty === undefined ? {} : { counterpartyAccountId: counterparty }),
    recordedAt: event.recordedAt,
    createdBy: event.createdBy,
    ...(event.metadata.correlationId === undefined ? {} : { correlationId: event.metadata.correlationId }),
  };
}
