// The account projection: one RecordedEvent into the read model (account_balance, account_transactions),
// in ONE transaction together with the projection's checkpoint, so that whatever the bus does (deliver
// twice, deliver after a crash between the commit and the ack, deliver out of order) the model counts each
// event exactly once.
//
// The guard is per account, on the stream version (events of one stream are numbered 1, 2, 3, ... with no
// hole, and their commit order is their version order):
// - event.streamVersion <= account_balance.version: already applied (a redelivery): nothing changes, not
//   even the checkpoint. The account_transactions primary key on event_id (ON CONFLICT DO NOTHING) and its
//   UNIQUE (account_id, stream_version) are a second, independent fence.
// - event.streamVersion = version + 1 (or 1 for an account without a row): applied.
// - event.streamVersion > version + 1: a gap. An earlier event of this account has not been applied yet:
//   it is waiting for a redelivery (a bus with maxAckPending > 1 delivers later events while an earlier one
//   backs off), or it was dead-lettered. Applying this one now would put a balance in the model that skips
//   a movement, and the earlier event, arriving later, would then be refused as "old": the model would be
//   wrong for good. So it throws ProjectionGapError: the transaction rolls back, the bus redelivers after a
//   backoff, and by then the gap is normally filled. If the earlier event is in the dead-letter store, this
//   one ends there too after max-deliver; replaying the dead letters in position order repairs both.
//
// The rule is one pure function (step: the account's row and an event → the new row and the transaction
// row, or 'duplicate', or a throw); apply() runs it on one event with the row locked (SELECT ... FOR
// UPDATE), applyBatch() folds a whole page in memory with every touched row locked and writes the result
// set-wise (the rebuild's fast path). Same rule, so the two cannot disagree.
//
// The checkpoint is the global position of the last event applied (with its transaction id, for display),
// plus a counter. Positions are handed out in commit order (event store migration 7), so the checkpoint only
// moves forward (a redelivered old event never pulls it back), and "has the model reached position N" is
// "is N at or below the checkpoint" (src/application/read-model-queries.ts).
//
// The projection also checks each money event against the row it lands on: the previous balance plus or
// minus the amount must equal the event's balanceAfter. The write side guarantees it; a read model that
// finds otherwise has been handed a corrupt or foreign event and refuses it (MalformedEventError).
//
// Writers share the projection lock per transaction (ReadModel.transaction); a rebuild holds it alone, so a
// read processor in another process waits while the model is emptied and replayed. The SQL that reads and
// writes the rows is the read model adapter's (src/adapters/read-model/sql-read-model.ts).
import { ACCOUNT_AGGREGATE, accountIdOfStream } from '../domain/account/events.js';
import type { RecordedEvent } from '../ports/event-store.js';
import type { BalanceRow, ProjectionWrite, ReadModel, ReadModelTransaction, TransactionRow } from '../ports/read-model.js';

/** Retry later: an earlier event of the same account is not applied yet. */
export class ProjectionGapError extends Error {
  override readonly name = 'ProjectionGapError';
}

/** The event cannot be applied however often it is tried (its data is not what the projection knows). */
export class MalformedEventError extends Error {
  override readonly name = 'MalformedEventError';
}

export type ApplyOutcome =
  /** The model changed. */
  | 'applied'
  /** Already applied before: nothing changed. */
  | 'duplicate'
  /** Not an account event: only the checkpoint's position moved. */
  | 'ignored';

/** Money events and the sign of their amount on the balance. */
const MONEY_EVENTS = new Map([['MoneyDeposited', 1n], ['MoneyWithdrawn', -1n], ['TransferSent', -1n], ['TransferReceived', 1n]]);
const INTEGER = /^-?(0|[1-9][0-9]{0,18})$/;

/** The account an event belongs to, or null when it is not an account event. */
export function accountOf(event: RecordedEvent): string | null {
  return event.aggregateType === ACCOUNT_AGGREGATE ? accountIdOfStream(event.streamId) : null;
}

interface BatchOutcome {
  applied: number;
  duplicates: number;
  ignored: number;
  /** Per event, in the order given. */
  outcomes: ApplyOutcome[];
}

export type Step =
  | { outcome: 'duplicate' }
  | { outcome: 'applied'; row: BalanceRow; transaction: TransactionRow | null };

/**
 * The projection's rule, pure: what an account event does to the account's row (undefined: no row yet).
 * Throws ProjectionGapError for an event ahead of the row, MalformedEventError for one it cannot read.
 */
export function step(accountId: string, current: BalanceRow | undefined, event: RecordedEvent): Step {
  const version = current?.version ?? 0;
  if (event.streamVersion <= version) return { outcome: 'duplicate' };
  if (event.streamVersion > version + 1) {
    throw new ProjectionGapError(`account ${accountId}: event ${event.eventId} is version ${event.streamVersion}, the model is at ${version}`);
  }
  const data = event.data;
  const moved = { version: event.streamVersion, lastGlobalPosition: event.globalPosition, lastEventAt: event.recordedAt };
  if (event.type === 'AccountCreated') {
    const { owner, currency } = data;
    if (current || typeof owner !== 'string' || typeof currency !== 'string' || data['accountId'] !== accountId) {
      throw new MalformedEventError(`event ${event.eventId}: AccountCreated at version ${event.streamVersion} or without accountId/owner/currency`);
    }
    return { outcome: 'applied', row: { accountId, owner, currency, balance: '0', openedAt: event.recordedAt, ...moved }, transaction: null };
  }
  if (!current) throw new MalformedEventError(`event ${event.eventId}: ${event.type} as the first event of account ${accountId}`);
  const sign = MONEY_EVENTS.get(event.type);
  if (sign === undefined) {
    // An account event this projection does not know (a newer event type): it still takes the version, so
    // the account's later events are not held up as a gap.
    return { outcome: 'applied', row: { ...current, ...moved }, transaction: null };
  }
  const { amount, balanceAfter } = data;
  if (typeof amount !== 'string' || !INTEGER.test(amount) || typeof balanceAfter !== 'string' || !INTEGER.test(balanceAfter)
    || data['accountId'] !== accountId) {
    throw new MalformedEventError(`event ${event.eventId}: ${event.type} without a valid accountId/amount/balanceAfter`);
  }
  if (BigInt(current.balance) + sign * BigInt(amount) !== BigInt(balanceAfter)) {
    throw new MalformedEventError(
      `event ${event.eventId}: ${event.type} of ${amount} on balance ${current.balance} says balanceAfter ${balanceAfter}`,
    );
  }
  const counterparty = event.type === 'TransferSent' ? data['toAccountId'] : event.type === 'TransferReceived' ? data['fromAccountId'] : null;
  return {
    outcome: 'applied',
    row: { ...current, balance: balanceAfter, ...moved },
    transaction: {
      eventId: event.eventId, accountId, type: event.type, amount, balanceAfter,
      transferId: typeof data['transferId'] === 'string' ? data['transferId'] : null,
      counterpartyAccountId: typeof counterparty === 'string' ? counterparty : null,
      globalPosition: event.globalPosition, streamVersion: event.streamVersion, recordedAt: event.recordedAt,
    },
  };
}

export class AccountProjection {
  constructor(private readonly model: ReadModel, readonly name: string) {}

  /**
   * Applies one event and moves the checkpoint, in one transaction; `also` runs in that transaction too
   * (replaying a dead letter removes it there).
   */
  async apply(event: RecordedEvent, also?: (tx: ReadModelTransaction) => Promise<void>): Promise<ApplyOutcome> {
    return this.model.transaction(async (tx) => {
      const outcome = await this.applyOne(tx, event);
      await also?.(tx);
      return outcome;
    });
  }

  /** One event and the checkpoint, inside the caller's transaction (which holds the projection lock). */
  private async applyOne(tx: ReadModelTransaction, event: RecordedEvent): Promise<ApplyOutcome> {
    const accountId = accountOf(event);
    if (accountId === null) {
      await this.write(tx, { created: [], changed: [], transactions: [], checkpoint: { event, applied: 0 } });
      return 'ignored';
    }
    const current = (await tx.lockBalances([accountId])).get(accountId);
    const result = step(accountId, current, event);
    if (result.outcome === 'duplicate') return 'duplicate';
    await this.write(tx, {
      created: current ? [] : [result.row], changed: current ? [result.row] : [],
      transactions: result.transaction ? [result.transaction] : [], checkpoint: { event, applied: 1 },
    });
    return 'applied';
  }

  /**
   * Applies several events (in the order given) and the checkpoint in one transaction: the rebuild's fast
   * path. Every account the events touch is locked, the page is folded in memory with step(), and the
   * result is written in a few set-wise statements. All or nothing: on an error nothing is kept, and the
   * caller can go one by one. `lockHeld`: the caller holds the projection lock alone (a rebuild), so the
   * shared lock is not taken (it would wait for the caller).
   */
  async applyBatch(events: readonly RecordedEvent[], { lockHeld = false } = {}): Promise<BatchOutcome> {
    const counts: BatchOutcome = { applied: 0, duplicates: 0, ignored: 0, outcomes: [] };
    if (events.length === 0) return counts;
    return this.model.transaction(async (tx) => {
      const ids = [...new Set(events.map(accountOf).filter((id): id is string => id !== null))];
      const before = await tx.lockBalances(ids);
      const rows = new Map(before);
      const transactions: TransactionRow[] = [];
      let last: RecordedEvent | null = null;
      for (const event of events) {
        const accountId = accountOf(event);
        if (accountId === null) {
          counts.ignored += 1;
          counts.outcomes.push('ignored');
          last = event;
          continue;
        }
        const result = step(accountId, rows.get(accountId), event);
        if (result.outcome === 'duplicate') {
          counts.duplicates += 1;
          counts.outcomes.push('duplicate');
          continue;
        }
        counts.applied += 1;
        counts.outcomes.push('applied');
        last = event;
        rows.set(accountId, result.row);
        if (result.transaction) transactions.push(result.transaction);
      }
      const created: BalanceRow[] = [];
      const changed: BalanceRow[] = [];
      for (const [id, row] of rows) {
        const old = before.get(id);
        if (!old) created.push(row);
        else if (old.version !== row.version) changed.push(row);
      }
      await this.write(tx, { created, changed, transactions, checkpoint: last === null ? null : { event: last, applied: counts.applied } });
      return counts;
    }, { lockHeld });
  }

  /** Writes in one statement; the checkpoint moves only forward in commit order. */
  private async write(tx: ReadModelTransaction, changes: ProjectionWrite): Promise<void> {
    const { inserted } = await tx.write(this.name, changes);
    // Another processor created one of them between our lock and insert: roll back, the retry sees a duplicate.
    if (inserted !== changes.created.length) throw new ProjectionGapError('an account was created concurrently');
  }
}
