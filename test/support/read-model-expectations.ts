// What the read model must contain, computed from the events without the projection's code, and every
// event of $all: shared by the projection and read-processor tests.
import { vi } from 'vitest';
import type { SqlQueryable } from '../../src/adapters/event-store/sql/sql-client.js';
import type { BalanceRow, ReadModelContents, TransactionRow } from '../../src/ports/read-model.js';
import type { EventStore, RecordedEvent } from '../../src/ports/event-store.js';

/**
 * Every committed event. With raw SQL on the store's database (test/support/sql-access.ts), $all is checked
 * against the table: they agree at any instant (positions are in commit order), so this polls only in case a
 * write lands between reading the pages and counting the table.
 */
export async function allEvents(store: EventStore, sql?: Pick<SqlQueryable, 'query'>, timeoutMs = 10_000): Promise<RecordedEvent[]> {
  // vi.waitFor, not expect.poll: this also runs in beforeAll hooks, where expect.poll is not allowed.
  return vi.waitFor(async () => {
    const events = await allEventsNow(store);
    const total = sql ? Number((await sql.query<{ n: string }>('SELECT count(*)::text AS n FROM events'))[0]!.n) : events.length;
    if (events.length !== total) throw new Error(`$all shows ${events.length} of ${total} events after ${timeoutMs} ms`);
    return events;
  }, { timeout: timeoutMs, interval: 20 });
}

/** $all as it reads right now, page by page. */
export async function allEventsNow(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let position = 0;
  for (;;) {
    const page = (await store.readAll(position, 1_000))!;
    out.push(...page.events);
    if (page.events.length < 1_000) return out;
    position = page.lastPosition;
  }
}

/** What each money event does to its account's balance: the sign of its amount. */
const SIGN: Record<string, bigint> = { MoneyDeposited: 1n, MoneyWithdrawn: -1n, TransferSent: -1n, TransferReceived: 1n };

/**
 * The read model as it must be, computed from the events without the projection's code. Balances are the
 * signed sums of the amounts, never the events' own balanceAfter: a write side that stored a wrong
 * balanceAfter would then fail here instead of being copied into the expectation.
 */
export function expectedModel(events: readonly RecordedEvent[]): ReadModelContents {
  const balances = new Map<string, BalanceRow>();
  const transactions: TransactionRow[] = [];
  for (const e of events) {
    if (e.aggregateType !== 'Account') continue;
    const accountId = e.streamId.slice('account-'.length);
    const d = e.data as Record<string, string>;
    if (e.type === 'AccountCreated') {
      balances.set(accountId, { accountId, owner: d['owner']!, currency: d['currency']!, balance: '0', version: e.streamVersion, lastGlobalPosition: e.globalPosition, openedAt: e.recordedAt, lastEventAt: e.recordedAt });
      continue;
    }
    const b = balances.get(accountId)!;
    const sign = SIGN[e.type];
    if (sign === undefined) throw new Error(`expectedModel: unknown account event ${e.type}`);
    const balance = (BigInt(b.balance) + sign * BigInt(d['amount']!)).toString();
    Object.assign(b, { balance, version: e.streamVersion, lastGlobalPosition: e.globalPosition, lastEventAt: e.recordedAt });
    transactions.push({
      eventId: e.eventId, accountId, type: e.type, amount: d['amount']!, balanceAfter: balance, transferId: d['transferId'] ?? null,
      counterpartyAccountId: d['toAccountId'] ?? d['fromAccountId'] ?? null, globalPosition: e.globalPosition, streamVersion: e.streamVersion, recordedAt: e.recordedAt,
    });
  }
  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    balances: [...balances.values()].sort((a, b) => byId(a.accountId, b.accountId)),
    transactions: transactions.sort((a, b) => byId(a.accountId, b.accountId) || a.streamVersion - b.streamVersion),
  };
}
