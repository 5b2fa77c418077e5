// How an event reads to a person: what happened, to which account, for how much.
import { ACCOUNT_STREAM_PREFIX, accountIdOfStream } from '@ledger/domain/account/events';
import { formatMoney } from './money';
import type { RecordedEvent } from './types';

export { ACCOUNT_EVENT_TYPES } from '@ledger/domain/account/events';

/** Whether the event belongs to one of the ledger's own account streams. */
export const isAccountStream = (streamId: string): boolean => streamId.startsWith(ACCOUNT_STREAM_PREFIX);

export const accountIdOf = (event: RecordedEvent): string | null =>
  typeof event.data['accountId'] === 'string' ? (event.data['accountId'] as string)
    : accountIdOfStream(event.streamId);

export function amountOf(event: RecordedEvent): { text: string; sign: 'in' | 'out' | null } | null {
  const amount = event.data['amount'];
  const currency = event.data['currency'];
  if (typeof amount !== 'string' || typeof currency !== 'string') return null;
  const sign = event.type === 'MoneyDeposited' || event.type === 'TransferReceived' ? 'in' : event.type === 'MoneyWithdrawn' || event.type === 'TransferSent' ? 'out' : null;
  return { text: `${sign === 'in' ? '+' : sign === 'out' ? '−' : ''}${formatMoney(amount, currency)}`, sign };
}

export function describe(event: RecordedEvent): string {
  const d = event.data;
  switch (event.type) {
    case 'AccountCreated': return `opened for ${String(d['owner'])} in ${String(d['currency'])}`;
    case 'TransferSent': return `to ${String(d['toAccountId'])}`;
    case 'TransferReceived': return `from ${String(d['fromAccountId'])}`;
    default: return '';
  }
}

export const typeTone = (type: string): 'good' | 'bad' | 'info' | undefined =>
  type === 'MoneyDeposited' || type === 'TransferReceived' ? 'good' : type === 'MoneyWithdrawn' || type === 'TransferSent' ? 'bad' : type === 'AccountCreated' ? 'info' : undefined;
