// Accounts, as one registration with the generic command handler (src/domain/decider.ts): the decider, the
// stream each account is stored in, the codecs, and what a receipt tells (the balances once applied).
import type { Aggregate } from '../decider.js';
import type { LedgerCommand, LedgerCommandRequest } from './commands.js';
import { accountsOf, decide } from './decide.js';
import {
  ACCOUNT_AGGREGATE, ACCOUNT_EVENT_SCHEMA_VERSION, accountStreamId, decodeAccountEvent, encodeAccountEvent, type AccountEvent,
} from './events.js';
import {
  ACCOUNT_SNAPSHOT_SCHEMA_VERSION, decodeAccountState, encodeAccountState, evolveAccount, initialAccountState, type AccountState,
} from './state.js';

export const accountAggregate: Aggregate<LedgerCommandRequest, LedgerCommand, AccountEvent, AccountState> = {
  name: ACCOUNT_AGGREGATE,
  commandTypes: ['CreateAccount', 'Deposit', 'Withdraw', 'Transfer'],
  streamId: accountStreamId,
  withIds: (request, newId) => (request.type === 'Transfer'
    ? { type: 'Transfer', transferId: newId(), fromAccountId: request.fromAccountId, toAccountId: request.toAccountId, amount: request.amount }
    : request),
  aggregateIdsOf: accountsOf,
  opens: (command) => command.type === 'CreateAccount',
  decide,
  evolve: evolveAccount,
  initialState: initialAccountState,
  events: { schemaVersion: ACCOUNT_EVENT_SCHEMA_VERSION, encode: encodeAccountEvent, decode: decodeAccountEvent },
  snapshots: { schemaVersion: ACCOUNT_SNAPSHOT_SCHEMA_VERSION, encode: encodeAccountState, decode: decodeAccountState },
  /** Balance of every account written, once the command applied (minor units, decimal string). */
  receipt: (states) => ({
    balances: Object.fromEntries([...states].flatMap(([accountId, state]) =>
      state.status === 'open' ? [[accountId, state.balance.toString()]] : [])),
  }),
};
