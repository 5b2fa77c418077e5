// The shapes of the API's answers the dashboard reads (the OpenAPI document at /openapi.json is the source).

// The event envelope and the account shapes are the ledger's own types (type-only imports: nothing of the
// server is bundled), so the dashboard cannot drift from what the API sends.
import type { AccountBalance, HistoryEntry } from '@ledger/application/account-queries';
export type { RecordedEvent } from '@ledger/ports/event-store';
export type { HistoryEntry };
export type Balance = AccountBalance;

export interface Freshness {
  status: 'eventual' | 'reached' | 'stale';
  position: number;
  updatedAt: string | null;
  lag: { events: number; capped: boolean; ms: number; measuredAt: string } | null;
  minPosition?: number;
  waitedMs?: number;
}

export interface BalanceAnswer extends Balance {
  at?: string;
  freshness?: Freshness;
}

export interface AccountsPage {
  accounts: Balance[];
  nextAfter: string | null;
  freshness: Freshness;
}

export interface HistoryPage {
  accountId: string;
  version: number;
  entries: HistoryEntry[];
  nextFromVersion: number | null;
}

export interface CommandReceipt {
  commandId: string;
  commandType: string;
  globalPosition: number;
  recordedAt: string;
  balances?: Record<string, string>;
  [key: string]: unknown;
}
