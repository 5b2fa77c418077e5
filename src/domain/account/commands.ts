import type { CurrencyCode } from '../currency.js';
import type { AmountMinor } from '../money.js';

/** Commands arrive already parsed: amounts are bigint, currencies are ISO 4217 codes. */
export type LedgerCommand =
  | { type: 'CreateAccount'; accountId: string; owner: string; currency: CurrencyCode }
  | { type: 'Deposit'; accountId: string; amount: AmountMinor }
  | { type: 'Withdraw'; accountId: string; amount: AmountMinor }
  | { type: 'Transfer'; transferId: string; fromAccountId: string; toAccountId: string; amount: AmountMinor };

/** A command as a client sends it: a transfer has no transferId yet (the application mints it, see aggregate.ts). */
export type LedgerCommandRequest =
  | Exclude<LedgerCommand, { type: 'Transfer' }>
  | Omit<Extract<LedgerCommand, { type: 'Transfer' }>, 'transferId'>;
