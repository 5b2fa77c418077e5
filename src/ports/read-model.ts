// The read model port: the views the read processor builds from the event stream (balances, transaction
// rows, the projection's checkpoint, dead letters), as the application, the projection and the HTTP routes
// use them. One adapter: SQL (src/adapters/read-model/sql-read-model.ts), on PostgreSQL or PGlite.
//
// Money is decimal strings of minor units, never a JS number.
import type { RecordedEvent } from './event-store.js';

export interface BalanceRow {
  accountId: string;
  owner: string;
  currency: string;
  balance: string;
  version: number;
  lastGlobalPosition: number;
  openedAt: string;
  lastEventAt: string;
}

export interface TransactionRow {
  eventId: string;
  accountId: string;
  type: string;
  amount: string;
  balanceAfter: string;
  transferId: string | null;
  counterpartyAccountId: string | null;
  globalPosition: number;
  streamVersion: number;
  recordedAt: string;
}

export interface Checkpoint {
  name: string;
  /** The last event applied: its transaction id (decimal, for display) and global position (the order). */
  transactionId: string;
  position: number;
  eventsApplied: number;
  updatedAt: string;
}

export interface DeadLetter {
  eventId: string;
  projection: string;
  event: RecordedEvent;
  error: string;
  attempts: number;
  failedAt: string;
}

/** Everything a projection rebuild must reproduce (updated_at left out: it is the wall clock of applying). */
export interface ReadModelContents {
  balances: BalanceRow[];
  transactions: TransactionRow[];
}

/** What one write of a projection changes: rows to create, rows to update, transaction rows, the checkpoint. */
export interface ProjectionWrite {
  created: readonly BalanceRow[];
  changed: readonly BalanceRow[];
  transactions: readonly TransactionRow[];
  /** Moves the projection's checkpoint to this event if that is forward in commit order; `applied` is counted either way. */
  checkpoint: { event: RecordedEvent; applied: number } | null;
}

/** One transaction of the read model, opened by ReadModel.transaction(). */
export interface ReadModelTransaction {
  /** The rows of these accounts, locked until the transaction ends (in account id order, so lockers cannot deadlock). */
  lockBalances(accountIds: readonly string[]): Promise<Map<string, BalanceRow>>;
  /** Writes the changes in one statement; returns how many of `created` were inserted (fewer: another writer created one). */
  write(projection: string, changes: ProjectionWrite): Promise<{ inserted: number }>;
  removeDeadLetter(projection: string, eventId: string): Promise<void>;
}

export interface ReadModel {
  /**
   * Runs fn in one transaction. Projection writers share the projection lock for the transaction (a rebuild
   * holds it alone, so they wait); `lockHeld`: the caller holds it alone already (the rebuild itself).
   */
  transaction<T>(fn: (tx: ReadModelTransaction) => Promise<T>, options?: { lockHeld?: boolean }): Promise<T>;
  /** Runs fn holding the projection lock alone (across transactions, in any process): a rebuild. */
  withProjectionLockAlone<T>(fn: () => Promise<T>): Promise<T>;
  /** True while a rebuild (in any process) holds the projection lock alone. */
  rebuildRunning(): Promise<boolean>;
  /** Empties the views and the checkpoint of `projection` (rebuild); dead letters of it too. */
  reset(projection: string): Promise<void>;

  checkpoint(name: string): Promise<Checkpoint | null>;
  balance(accountId: string): Promise<BalanceRow | null>;
  /** One account's row and the checkpoint in one snapshot: the checkpoint is never older than the balance. */
  balanceWithCheckpoint(accountId: string, projection: string): Promise<{ account: BalanceRow | null; checkpoint: Checkpoint | null }>;
  /** Accounts in id (byte) order after `after`, with the checkpoint, in one snapshot; `search`: id or owner contains it. */
  listWithCheckpoint(projection: string, after: string | undefined, limit: number, search?: string): Promise<{ accounts: BalanceRow[]; checkpoint: Checkpoint | null }>;
  /** The projection's state in figures: accounts, transaction rows, and the sum of balances per currency. */
  summary(): Promise<{ accounts: number; transactions: number; balancesByCurrency: Record<string, string> }>;
  /** The whole model in a stable order: for comparisons (tests, a rebuild check). */
  contents(): Promise<ReadModelContents>;

  recordDeadLetter(projection: string, event: RecordedEvent, error: unknown, attempts: number): Promise<void>;
  /** Dead letters of `projection`, in global position order (the order to replay them in). */
  deadLetters(projection: string, limit?: number): Promise<DeadLetter[]>;
  deadLetter(projection: string, eventId: string): Promise<DeadLetter | null>;
  deadLetterCount(projection: string): Promise<number>;
  /** Removes a dead letter, inside `tx` when given. */
  removeDeadLetter(projection: string, eventId: string, tx?: ReadModelTransaction): Promise<void>;

  /** Throws when the read store cannot answer. */
  ping(): Promise<void>;
}
