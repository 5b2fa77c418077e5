// The ledger's decider. A command touches one account, except a transfer, which touches two and must move
// money on both or neither: decide() takes the state of every account the command names and returns the
// events for each account, which the application appends in one atomic multi-stream append.
import type { Decision } from '../decider.js';
import { AMOUNT_MINOR_MAX } from '../limits.js';
import { reject, type Rejection } from '../rejections.js';
import type { LedgerCommand } from './commands.js';
import type { AccountEvent } from './events.js';
import type { AccountState } from './state.js';

/** The account ids a command reads and writes, sorted: the order locks are taken in (no deadlocks). */
export function accountsOf(command: LedgerCommand): string[] {
  if (command.type === 'Transfer') return [command.fromAccountId, command.toAccountId].sort();
  return [command.accountId];
}

const decided = (entries: [string, AccountEvent[]][]): Decision<AccountEvent> => ({ ok: true, events: new Map(entries) });
const rejected = (rejection: Rejection): Decision<AccountEvent> => ({ ok: false, rejection });

const notFound = (accountId: string) =>
  rejected(reject('account_not_found', `account ${accountId} does not exist`, { accountId }));

/** Pure: states by account id in, events by account id out, or a rejection. No clock, no ids, no I/O. */
export function decide(command: LedgerCommand, states: ReadonlyMap<string, AccountState>): Decision<AccountEvent> {
  const stateOf = (accountId: string): AccountState => states.get(accountId) ?? { status: 'none' };
  switch (command.type) {
    case 'CreateAccount': {
      const state = stateOf(command.accountId);
      if (state.status !== 'none') {
        return rejected(reject('account_already_exists', `account ${command.accountId} already exists`, { accountId: command.accountId }));
      }
      const { accountId, owner, currency } = command;
      return decided([[accountId, [{ type: 'AccountCreated', data: { accountId, owner, currency } }]]]);
    }
    case 'Deposit': {
      const state = stateOf(command.accountId);
      if (state.status !== 'open') return notFound(command.accountId);
      if (state.balance > AMOUNT_MINOR_MAX - command.amount) return overflow(command.accountId);
      const balanceAfter = state.balance + command.amount;
      return decided([[command.accountId, [{
        type: 'MoneyDeposited',
        data: { accountId: command.accountId, amount: command.amount, currency: state.currency, balanceAfter },
      }]]]);
    }
    case 'Withdraw': {
      const state = stateOf(command.accountId);
      if (state.status !== 'open') return notFound(command.accountId);
      if (state.balance < command.amount) return insufficient(command.accountId, state.balance, command.amount);
      const balanceAfter = state.balance - command.amount;
      return decided([[command.accountId, [{
        type: 'MoneyWithdrawn',
        data: { accountId: command.accountId, amount: command.amount, currency: state.currency, balanceAfter },
      }]]]);
    }
    case 'Transfer': {
      const { transferId, fromAccountId, toAccountId, amount } = command;
      if (fromAccountId === toAccountId) {
        return rejected(reject('accounts_must_be_different', 'a transfer needs two different accounts', { accountId: fromAccountId }));
      }
      const from = stateOf(fromAccountId);
      const to = stateOf(toAccountId);
      if (from.status !== 'open') return notFound(fromAccountId);
      if (to.status !== 'open') return notFound(toAccountId);
      if (from.currency !== to.currency) {
        return rejected(reject('currency_mismatch', `cannot transfer ${from.currency} into a ${to.currency} account`, {
          fromCurrency: from.currency, toCurrency: to.currency,
        }));
      }
      if (from.balance < amount) return insufficient(fromAccountId, from.balance, amount);
      if (to.balance > AMOUNT_MINOR_MAX - amount) return overflow(toAccountId);
      const currency = from.currency;
      return decided([
        [fromAccountId, [{
          type: 'TransferSent',
          data: { accountId: fromAccountId, transferId, toAccountId, amount, currency, balanceAfter: from.balance - amount },
        }]],
        [toAccountId, [{
          type: 'TransferReceived',
          data: { accountId: toAccountId, transferId, fromAccountId, amount, currency, balanceAfter: to.balance + amount },
        }]],
      ]);
    }
  }
}

const insufficient = (accountId: string, balance: bigint, amount: bigint) =>
  rejected(reject('insufficient_funds', `account ${accountId} holds less than the amount`, {
    accountId, balance: balance.toString(), amount: amount.toString(),
  }));

const overflow = (accountId: string) =>
  rejected(reject('balance_overflow', `the balance of account ${accountId} would exceed ${AMOUNT_MINOR_MAX}`, { accountId }));
