import type { CurrencyCode } from '../currency.js';
import type { AccountEvent } from './events.js';

export type AccountState =
  | { status: 'none' }
  | { status: 'open'; accountId: string; owner: string; currency: CurrencyCode; balance: bigint };

export const initialAccountState = (): AccountState => ({ status: 'none' });

/** evolve: the only way state changes. Pure; trusts the events (they were decided against this state). */
export function evolveAccount(state: AccountState, event: AccountEvent): AccountState {
  switch (event.type) {
    case 'AccountCreated':
      return { status: 'open', ...event.data, balance: 0n };
    case 'MoneyDeposited':
    case 'TransferReceived':
      if (state.status !== 'open') throw new Error(`${event.type} on an account that does not exist`);
      return { ...state, balance: state.balance + event.data.amount };
    case 'MoneyWithdrawn':
    case 'TransferSent':
      if (state.status !== 'open') throw new Error(`${event.type} on an account that does not exist`);
      return { ...state, balance: state.balance - event.data.amount };
  }
}

/** Snapshots store state as JSON; bump the version whenever AccountState changes shape (old snapshots are ignored). */
export const ACCOUNT_SNAPSHOT_SCHEMA_VERSION = 1;

export function encodeAccountState(state: AccountState): Record<string, unknown> {
  return state.status === 'open' ? { ...state, balance: state.balance.toString() } : { status: 'none' };
}

export function decodeAccountState(json: Record<string, unknown>): AccountState {
  if (json['status'] !== 'open') return { status: 'none' };
  return { ...(json as Omit<Extract<AccountState, { status: 'open' }>, 'balance'>), status: 'open', balance: BigInt(json['balance'] as string) };
}
