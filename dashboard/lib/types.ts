// The shapes of the API's answers the dashboard reads (the OpenAPI document at /openapi.json is the source).

export interface RecordedEvent {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
  aggregateType: string;
  type: string;
  data: Record<string, unknown>;
  schemaVersion: number;
  recordedAt: string;
  createdBy: string;
  metadata: Record<string, unknown>;
  prevHash: string | null;
  eventHash: string | null;
}

export interface Freshness {
  status: 'eventual' | 'reached' | 'stale';
  position: number;
  updatedAt: string | null;
  lag: { events: number; capped: boolean; ms: number; measuredAt: string } | null;
  minPosition?: number;
  waitedMs?: number;
}

export interface Balance {
  accountId: string;
  owner: string;
  currency: string;
  balance: string;
  version: number;
  globalPosition: number;
  openedAt: string;
  lastEventAt: string;
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

export interface HistoryEntry {
  eventId: string;
  version: number;
  globalPosition: number;
  type: string;
  amount?: string;
  balanceAfter?: string;
  transferId?: string;
  counterpartyAccountId?: string;
  recordedAt: string;
  createdBy: string;
  correlationId?: string;
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
