// The account's events: what happened, in the past tense, with everything a projection needs (no lookups).
// Amounts and balances are decimal strings of minor units in the stored JSON, bigint in code.
import type { CurrencyCode } from '../currency.js';

export const ACCOUNT_AGGREGATE = 'Account';
export const ACCOUNT_STREAM_PREFIX = 'account-';
export const accountStreamId = (accountId: string): string => `${ACCOUNT_STREAM_PREFIX}${accountId}`;
/** The account id an account stream's id names; null for a stream of anything else. */
export const accountIdOfStream = (streamId: string): string | null =>
  streamId.startsWith(ACCOUNT_STREAM_PREFIX) ? streamId.slice(ACCOUNT_STREAM_PREFIX.length) : null;

/** Bumped when an event's data changes shape; stored with each event (event_schema_version). */
export const ACCOUNT_EVENT_SCHEMA_VERSION = 1;

export type AccountEvent =
  | { type: 'AccountCreated'; data: { accountId: string; owner: string; currency: CurrencyCode } }
  | { type: 'MoneyDeposited'; data: MoneyMoved }
  | { type: 'MoneyWithdrawn'; data: MoneyMoved }
  | { type: 'TransferSent'; data: MoneyMoved & { transferId: string; toAccountId: string } }
  | { type: 'TransferReceived'; data: MoneyMoved & { transferId: string; fromAccountId: string } };

export interface MoneyMoved {
  accountId: string;
  amount: bigint;
  currency: CurrencyCode;
  /** The balance once this event applies: lets history and time travel answer from one event. */
  balanceAfter: bigint;
}

export type AccountEventType = AccountEvent['type'];
export const ACCOUNT_EVENT_TYPES: readonly AccountEventType[] = [
  'AccountCreated', 'MoneyDeposited', 'MoneyWithdrawn', 'TransferSent', 'TransferReceived',
];

/** To the stored JSON form: bigints become decimal strings. */
export function encodeAccountEvent(event: AccountEvent): { type: AccountEventType; data: Record<string, unknown> } {
  if (event.type === 'AccountCreated') return { type: event.type, data: { ...event.data } };
  return {
    type: event.type,
    data: { ...event.data, amount: event.data.amount.toString(), balanceAfter: event.data.balanceAfter.toString() },
  };
}

/** From the stored JSON form. The store holds only what encodeAccountEvent wrote, so a bad shape is a bug: throw. */
export function decodeAccountEvent(type: string, data: Record<string, unknown>): AccountEvent {
  switch (type) {
    case 'AccountCreated':
      return { type, data: data as { accountId: string; owner: string; currency: CurrencyCode } };
    case 'MoneyDeposited':
    case 'MoneyWithdrawn':
    case 'TransferSent':
    case 'TransferReceived':
      return {
        type,
        data: { ...data, amount: BigInt(data['amount'] as string), balanceAfter: BigInt(data['balanceAfter'] as string) },
      } as AccountEvent;
    default:
      throw new Error(`unknown account event type ${type}`);
  }
}
