// Given/when/then specs of the pure account decider, through its registration with the command handler
// (accountAggregate), plus the domain's small parsers and codecs.
// "given" folds each account's past events through evolve; "when" runs decide() on the accounts the
// registration names; "then" compares the events by stream id exactly (the registration's streamId of each
// account decide() wrote), and also replays them to check that every balanceAfter is the balance the event
// really produces.
import { describe, it, expect } from 'vitest';
import { accountAggregate } from '../src/domain/account/aggregate.js';
import type { LedgerCommand, LedgerCommandRequest } from '../src/domain/account/commands.js';
import {
  ACCOUNT_EVENT_TYPES,
  decodeAccountEvent,
  encodeAccountEvent,
  type AccountEvent,
} from '../src/domain/account/events.js';
import {
  decodeAccountState,
  encodeAccountState,
  evolveAccount,
  initialAccountState,
  type AccountState,
} from '../src/domain/account/state.js';
import { isCurrencyCode, type CurrencyCode } from '../src/domain/currency.js';
import { AMOUNT_MINOR_MAX } from '../src/domain/limits.js';
import { amountMinor, parseAmount, RawJsonNumber, type AmountMinor } from '../src/domain/money.js';
import { REJECTION_CODES, isRejection, type Rejection, type RejectionCode } from '../src/domain/rejections.js';

// ---------------------------------------------------------------------------------------------------------
// Fixtures and the given/when/then helper

const MAX = AMOUNT_MINOR_MAX;
const currency = (code: string): CurrencyCode => {
  if (!isCurrencyCode(code)) throw new Error(`test fixture: ${code} is not a currency code`);
  return code;
};
const EUR = currency('EUR');
const USD = currency('USD');
const amt = (value: bigint): AmountMinor => amountMinor(value);

const created = (accountId: string, cur: CurrencyCode = EUR, owner = `owner of ${accountId}`): AccountEvent => ({
  type: 'AccountCreated',
  data: { accountId, owner, currency: cur },
});
const deposited = (accountId: string, amount: bigint, balanceAfter: bigint, cur: CurrencyCode = EUR): AccountEvent => ({
  type: 'MoneyDeposited',
  data: { accountId, amount, currency: cur, balanceAfter },
});
const withdrawn = (accountId: string, amount: bigint, balanceAfter: bigint, cur: CurrencyCode = EUR): AccountEvent => ({
  type: 'MoneyWithdrawn',
  data: { accountId, amount, currency: cur, balanceAfter },
});
/** An open account in `cur` holding `balance`, as the list of events that led there. */
const openWith = (accountId: string, balance: bigint, cur: CurrencyCode = EUR): AccountEvent[] =>
  balance === 0n ? [created(accountId, cur)] : [created(accountId, cur), deposited(accountId, balance, balance, cur)];

type EventsByAccount = Record<string, AccountEvent[]>;
type EventsByStream = Record<string, AccountEvent[]>;

const { decide, evolve, initialState } = accountAggregate;

function given(history: EventsByAccount = {}) {
  const states = new Map<string, AccountState>();
  for (const [accountId, events] of Object.entries(history)) {
    states.set(accountId, events.reduce(evolve, initialState()));
  }
  return {
    states,
    when(command: LedgerCommand) {
      // The command handler hands decide() exactly the accounts aggregateIdsOf() names; do the same.
      const input = new Map(accountAggregate.aggregateIdsOf(command).map((id): [string, AccountState] => [id, states.get(id) ?? initialState()]));
      const before = JSON.stringify([...input].map(([id, s]) => [id, encodeAccountState(s)]));
      const decision = decide(command, input);
      expect(JSON.stringify([...input].map(([id, s]) => [id, encodeAccountState(s)])), 'decide must not mutate its input').toBe(before);
      return {
        then(expected: EventsByStream): void {
          if (!decision.ok) {
            expect.fail(`expected events, got rejection ${decision.rejection.code}: ${decision.rejection.message}`);
          }
          // decide() speaks of accounts; the handler stores each account's events in its stream.
          expect(Object.fromEntries([...decision.events].map(([accountId, events]) => [accountAggregate.streamId(accountId), events])))
            .toStrictEqual(expected);
          // Replay: each event's balanceAfter must equal the balance evolve actually reaches.
          for (const [accountId, events] of decision.events) {
            let state = states.get(accountId) ?? initialState();
            for (const event of events) {
              state = evolve(state, event);
              if (event.type !== 'AccountCreated') {
                expect(state.status).toBe('open');
                if (state.status === 'open') expect(event.data.balanceAfter).toBe(state.balance);
              }
            }
          }
        },
        thenRejects(code: RejectionCode, details?: Record<string, unknown>): Rejection {
          if (decision.ok) {
            expect.fail(`expected rejection ${code}, got events ${JSON.stringify([...decision.events.keys()])}`);
          }
          expect(decision.rejection.code).toBe(code);
          expect(isRejection(decision.rejection)).toBe(true);
          expect(decision.rejection.message.length).toBeGreaterThan(0);
          if (details !== undefined) expect(decision.rejection.details).toMatchObject(details);
          return decision.rejection;
        },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The decider

describe('decide: CreateAccount', () => {
  it('opens a new account', () => {
    given()
      .when({ type: 'CreateAccount', accountId: 'acc-1', owner: 'Ada', currency: EUR })
      .then({ 'account-acc-1': [{ type: 'AccountCreated', data: { accountId: 'acc-1', owner: 'Ada', currency: EUR } }] });
  });

  it('opens an account whose id is free even when other accounts exist', () => {
    given({ 'acc-1': openWith('acc-1', 10n) })
      .when({ type: 'CreateAccount', accountId: 'acc-2', owner: 'Bob', currency: USD })
      .then({ 'account-acc-2': [{ type: 'AccountCreated', data: { accountId: 'acc-2', owner: 'Bob', currency: USD } }] });
  });

  it('rejects a duplicate id: account_already_exists', () => {
    given({ 'acc-1': [created('acc-1', EUR)] })
      .when({ type: 'CreateAccount', accountId: 'acc-1', owner: 'Mallory', currency: USD })
      .thenRejects('account_already_exists', { accountId: 'acc-1' });
  });

  it('rejects a duplicate id even when the existing account holds money', () => {
    given({ 'acc-1': openWith('acc-1', 500n) })
      .when({ type: 'CreateAccount', accountId: 'acc-1', owner: 'Ada', currency: EUR })
      .thenRejects('account_already_exists');
  });
});

describe('decide: Deposit', () => {
  it('credits an open account and records balanceAfter', () => {
    given({ a: openWith('a', 100n) })
      .when({ type: 'Deposit', accountId: 'a', amount: amt(25n) })
      .then({ 'account-a': [deposited('a', 25n, 125n)] });
  });

  it('stamps the account currency on the event', () => {
    given({ u: openWith('u', 0n, USD) })
      .when({ type: 'Deposit', accountId: 'u', amount: amt(7n) })
      .then({ 'account-u': [deposited('u', 7n, 7n, USD)] });
  });

  it('rejects an unknown account: account_not_found', () => {
    given({ a: openWith('a', 100n) })
      .when({ type: 'Deposit', accountId: 'ghost', amount: amt(1n) })
      .thenRejects('account_not_found', { accountId: 'ghost' });
  });

  it('accepts a deposit that lands exactly on 2^63-1', () => {
    given({ a: openWith('a', MAX - 10n) })
      .when({ type: 'Deposit', accountId: 'a', amount: amt(10n) })
      .then({ 'account-a': [deposited('a', 10n, MAX)] });
  });

  it('rejects a deposit one past 2^63-1: balance_overflow', () => {
    given({ a: openWith('a', MAX - 10n) })
      .when({ type: 'Deposit', accountId: 'a', amount: amt(11n) })
      .thenRejects('balance_overflow', { accountId: 'a' });
  });

  it('rejects any deposit into a full account: balance_overflow', () => {
    given({ a: openWith('a', MAX) })
      .when({ type: 'Deposit', accountId: 'a', amount: amt(1n) })
      .thenRejects('balance_overflow');
  });

  it('rejects a max-sized deposit into an account holding 1: balance_overflow', () => {
    given({ a: openWith('a', 1n) })
      .when({ type: 'Deposit', accountId: 'a', amount: amt(MAX) })
      .thenRejects('balance_overflow');
  });
});

describe('decide: Withdraw', () => {
  it('debits an open account and records balanceAfter', () => {
    given({ a: openWith('a', 100n) })
      .when({ type: 'Withdraw', accountId: 'a', amount: amt(30n) })
      .then({ 'account-a': [withdrawn('a', 30n, 70n)] });
  });

  it('withdraws the exact balance down to zero', () => {
    given({ a: [...openWith('a', 100n), withdrawn('a', 40n, 60n)] })
      .when({ type: 'Withdraw', accountId: 'a', amount: amt(60n) })
      .then({ 'account-a': [withdrawn('a', 60n, 0n)] });
  });

  it('rejects one more than the balance: insufficient_funds', () => {
    given({ a: openWith('a', 100n) })
      .when({ type: 'Withdraw', accountId: 'a', amount: amt(101n) })
      .thenRejects('insufficient_funds', { accountId: 'a', balance: '100', amount: '101' });
  });

  it('rejects a withdrawal from an empty account: insufficient_funds', () => {
    given({ a: openWith('a', 0n) })
      .when({ type: 'Withdraw', accountId: 'a', amount: amt(1n) })
      .thenRejects('insufficient_funds');
  });

  it('rejects an unknown account: account_not_found', () => {
    given()
      .when({ type: 'Withdraw', accountId: 'ghost', amount: amt(1n) })
      .thenRejects('account_not_found', { accountId: 'ghost' });
  });
});

describe('decide: Transfer', () => {
  const transfer = (fromAccountId: string, toAccountId: string, amount: bigint, transferId = 'tr-1'): LedgerCommand =>
    ({ type: 'Transfer', transferId, fromAccountId, toAccountId, amount: amt(amount) });

  it('moves money: TransferSent on the source, TransferReceived on the destination, same transferId', () => {
    given({ src: openWith('src', 100n), dst: openWith('dst', 5n) })
      .when(transfer('src', 'dst', 40n, 'tr-42'))
      .then({
        'account-src': [{
          type: 'TransferSent',
          data: { accountId: 'src', transferId: 'tr-42', toAccountId: 'dst', amount: 40n, currency: EUR, balanceAfter: 60n },
        }],
        'account-dst': [{
          type: 'TransferReceived',
          data: { accountId: 'dst', transferId: 'tr-42', fromAccountId: 'src', amount: 40n, currency: EUR, balanceAfter: 45n },
        }],
      });
  });

  it('does not depend on id order (source sorts after destination)', () => {
    given({ zz: openWith('zz', 10n, USD), aa: openWith('aa', 0n, USD) })
      .when(transfer('zz', 'aa', 10n))
      .then({
        'account-zz': [{
          type: 'TransferSent',
          data: { accountId: 'zz', transferId: 'tr-1', toAccountId: 'aa', amount: 10n, currency: USD, balanceAfter: 0n },
        }],
        'account-aa': [{
          type: 'TransferReceived',
          data: { accountId: 'aa', transferId: 'tr-1', fromAccountId: 'zz', amount: 10n, currency: USD, balanceAfter: 10n },
        }],
      });
  });

  it('lets the destination reach exactly 2^63-1', () => {
    given({ src: openWith('src', 3n), dst: openWith('dst', MAX - 3n) })
      .when(transfer('src', 'dst', 3n))
      .then({
        'account-src': [{
          type: 'TransferSent',
          data: { accountId: 'src', transferId: 'tr-1', toAccountId: 'dst', amount: 3n, currency: EUR, balanceAfter: 0n },
        }],
        'account-dst': [{
          type: 'TransferReceived',
          data: { accountId: 'dst', transferId: 'tr-1', fromAccountId: 'src', amount: 3n, currency: EUR, balanceAfter: MAX },
        }],
      });
  });

  it('rejects a transfer to the same account: accounts_must_be_different', () => {
    given({ a: openWith('a', 100n) })
      .when(transfer('a', 'a', 1n))
      .thenRejects('accounts_must_be_different');
  });

  it('rejects an unknown source: account_not_found naming the source', () => {
    given({ dst: openWith('dst', 0n) })
      .when(transfer('ghost', 'dst', 1n))
      .thenRejects('account_not_found', { accountId: 'ghost' });
  });

  it('rejects an unknown destination: account_not_found naming the destination', () => {
    given({ src: openWith('src', 100n) })
      .when(transfer('src', 'ghost', 1n))
      .thenRejects('account_not_found', { accountId: 'ghost' });
  });

  it('names the source when neither account exists (source is checked first)', () => {
    given()
      .when(transfer('ghost-from', 'ghost-to', 1n))
      .thenRejects('account_not_found', { accountId: 'ghost-from' });
  });

  it('checks "different accounts" before existence', () => {
    given()
      .when(transfer('ghost', 'ghost', 1n))
      .thenRejects('accounts_must_be_different');
  });

  it('checks currency before funds', () => {
    given({ src: openWith('src', 0n, EUR), dst: openWith('dst', 0n, USD) })
      .when(transfer('src', 'dst', 1n))
      .thenRejects('currency_mismatch');
  });

  it('checks funds before destination overflow', () => {
    given({ src: openWith('src', 1n), dst: openWith('dst', MAX) })
      .when(transfer('src', 'dst', 2n))
      .thenRejects('insufficient_funds', { accountId: 'src' });
  });

  it('rejects a currency mismatch: currency_mismatch', () => {
    given({ src: openWith('src', 100n, EUR), dst: openWith('dst', 0n, USD) })
      .when(transfer('src', 'dst', 1n))
      .thenRejects('currency_mismatch', { fromCurrency: 'EUR', toCurrency: 'USD' });
  });

  it('rejects one more than the source balance: insufficient_funds', () => {
    given({ src: openWith('src', 100n), dst: openWith('dst', 0n) })
      .when(transfer('src', 'dst', 101n))
      .thenRejects('insufficient_funds', { accountId: 'src', balance: '100', amount: '101' });
  });

  it('rejects a transfer that would push the destination past 2^63-1: balance_overflow', () => {
    given({ src: openWith('src', 100n), dst: openWith('dst', MAX - 99n) })
      .when(transfer('src', 'dst', 100n))
      .thenRejects('balance_overflow', { accountId: 'dst' });
  });
});

// ---------------------------------------------------------------------------------------------------------
// What the registration adds to the decider: streams, minted ids, the receipt

describe('accountAggregate: what the command handler learns of accounts', () => {
  it('stores each account in its own stream, as Account', () => {
    expect(accountAggregate.name).toBe('Account');
    expect(accountAggregate.streamId('acc-1')).toBe('account-acc-1');
    expect([...accountAggregate.commandTypes].sort()).toStrictEqual(['CreateAccount', 'Deposit', 'Transfer', 'Withdraw']);
  });

  it('names the accounts a command touches, sorted (the lock order)', () => {
    const transfer: LedgerCommand = { type: 'Transfer', transferId: 't', fromAccountId: 'zz', toAccountId: 'aa', amount: amt(1n) };
    expect(accountAggregate.aggregateIdsOf(transfer)).toStrictEqual(['aa', 'zz']);
    expect(accountAggregate.aggregateIdsOf({ type: 'Deposit', accountId: 'x', amount: amt(1n) })).toStrictEqual(['x']);
  });

  it('mints a transferId for a transfer, and no id for anything else', () => {
    const minted: string[] = [];
    const newId = () => {
      minted.push(`id-${minted.length + 1}`);
      return minted.at(-1)!;
    };
    const request: LedgerCommandRequest = { type: 'Transfer', fromAccountId: 'a', toAccountId: 'b', amount: amt(5n) };
    expect(accountAggregate.withIds(request, newId)).toStrictEqual({ type: 'Transfer', transferId: 'id-1', fromAccountId: 'a', toAccountId: 'b', amount: 5n });
    const deposit: LedgerCommandRequest = { type: 'Deposit', accountId: 'a', amount: amt(5n) };
    expect(accountAggregate.withIds(deposit, newId)).toStrictEqual(deposit);
    const create: LedgerCommandRequest = { type: 'CreateAccount', accountId: 'a', owner: 'Ada', currency: EUR };
    expect(accountAggregate.withIds(create, newId)).toStrictEqual(create);
    expect(minted).toStrictEqual(['id-1']);
  });

  it('only CreateAccount opens an account (decided without a read)', () => {
    expect(accountAggregate.opens?.({ type: 'CreateAccount', accountId: 'a', owner: 'Ada', currency: EUR })).toBe(true);
    expect(accountAggregate.opens?.({ type: 'Deposit', accountId: 'a', amount: amt(1n) })).toBe(false);
  });

  it('the receipt holds the balance of every open account written, as a decimal string', () => {
    const states = new Map<string, AccountState>([
      ['a', { status: 'open', accountId: 'a', owner: 'Ada', currency: EUR, balance: MAX }],
      ['b', { status: 'open', accountId: 'b', owner: 'Bob', currency: EUR, balance: 0n }],
      ['c', { status: 'none' }],
    ]);
    expect(accountAggregate.receipt?.(states)).toStrictEqual({ balances: { a: '9223372036854775807', b: '0' } });
  });

  it('encodes events and snapshots with the account codecs and their schema versions', () => {
    const event = deposited('a', 5n, 5n);
    expect(accountAggregate.events.encode(event)).toStrictEqual(encodeAccountEvent(event));
    expect(accountAggregate.events.decode('MoneyDeposited', encodeAccountEvent(event).data, 1)).toStrictEqual(event);
    expect(accountAggregate.events.schemaVersion).toBe(1);
    const state = [...openWith('a', 7n)].reduce(evolveAccount, initialAccountState());
    const snapshots = accountAggregate.snapshots!;
    expect(snapshots.decode(JSON.parse(JSON.stringify(snapshots.encode(state))) as Record<string, unknown>)).toStrictEqual(state);
    expect(snapshots.schemaVersion).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// parseAmount

describe('parseAmount', () => {
  type Row = [label: string, input: unknown, expected: bigint | RejectionCode];
  const rows: Row[] = [
    // JSON numbers that JSON.parse kept as numbers
    ['number 1', 1, 1n],
    ['number 42', 42, 42n],
    ['number MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER, 9007199254740991n],
    ['number 0', 0, 'amount_zero'],
    ['number -0', -0, 'amount_zero'],
    ['number -5', -5, 'amount_negative'],
    ['number 1.5', 1.5, 'amount_fractional'],
    ['number -1.5', -1.5, 'amount_fractional'],
    ['number Infinity', Infinity, 'amount_invalid'],
    ['number -Infinity', -Infinity, 'amount_invalid'],
    ['number NaN', NaN, 'amount_invalid'],
    ['number 2**53', 2 ** 53, 'amount_unsafe_integer'],
    // strings of digits
    ['string "1"', '1', 1n],
    ['string "000123" (leading zeros are digits)', '000123', 123n],
    ['string "9223372036854775807" (2^63-1)', '9223372036854775807', 2n ** 63n - 1n],
    ['string "9007199254740993" (beyond 2^53, exact as a string)', '9007199254740993', 9007199254740993n],
    ['string "0"', '0', 'amount_zero'],
    ['string "000"', '000', 'amount_zero'],
    ['string "-5"', '-5', 'amount_negative'],
    ['string "-0"', '-0', 'amount_negative'],
    ['string "1.5"', '1.5', 'amount_fractional'],
    ['string "-1.5" (fractional is checked before negative)', '-1.5', 'amount_fractional'],
    ['string "10.00"', '10.00', 'amount_fractional'],
    ['string "1e3"', '1e3', 'amount_exponent'],
    ['string "1E3"', '1E3', 'amount_exponent'],
    ['string "abc"', 'abc', 'amount_invalid'],
    ['string ""', '', 'amount_invalid'],
    ['string " 12"', ' 12', 'amount_invalid'],
    ['string "12 "', '12 ', 'amount_invalid'],
    ['string "+5"', '+5', 'amount_invalid'],
    ['string "0x10"', '0x10', 'amount_invalid'],
    ['string "9223372036854775808" (2^63)', '9223372036854775808', 'amount_too_large'],
    // number literals the strict JSON parser kept as source text
    ['RawJsonNumber("1e3")', new RawJsonNumber('1e3'), 'amount_exponent'],
    ['RawJsonNumber("1E+3")', new RawJsonNumber('1E+3'), 'amount_exponent'],
    ['RawJsonNumber("1.0")', new RawJsonNumber('1.0'), 'amount_fractional'],
    ['RawJsonNumber("-1.5")', new RawJsonNumber('-1.5'), 'amount_fractional'],
    ['RawJsonNumber("-9007199254740993")', new RawJsonNumber('-9007199254740993'), 'amount_negative'],
    ['RawJsonNumber("9007199254740993")', new RawJsonNumber('9007199254740993'), 'amount_unsafe_integer'],
    ['RawJsonNumber("9223372036854775807")', new RawJsonNumber('9223372036854775807'), 'amount_unsafe_integer'],
    ['RawJsonNumber("99999999999999999999")', new RawJsonNumber('99999999999999999999'), 'amount_too_large'],
    // not a number at all
    ['null', null, 'amount_invalid'],
    ['undefined', undefined, 'amount_invalid'],
    ['boolean true', true, 'amount_invalid'],
    ['object', { amount: 1 }, 'amount_invalid'],
    ['array', ['1'], 'amount_invalid'],
    ['bigint 5n (never produced by JSON)', 5n, 'amount_invalid'],
  ];

  it.each(rows)('%s', (_label, input, expected) => {
    const result = parseAmount(input);
    if (typeof expected === 'bigint') {
      expect(typeof result).toBe('bigint');
      expect(result).toBe(expected);
    } else {
      expect(typeof result).toBe('object');
      expect(isRejection(result)).toBe(true);
      expect((result as Rejection).code).toBe(expected);
    }
  });

  it('the table covers every amount_* rejection code', () => {
    const amountCodes = REJECTION_CODES.filter((code) => code.startsWith('amount_'));
    const covered = new Set(rows.map(([, , expected]) => expected).filter((e): e is RejectionCode => typeof e === 'string'));
    expect(amountCodes.length).toBeGreaterThan(0);
    for (const code of amountCodes) expect(covered, `no row expects ${code}`).toContain(code);
  });

  it('amountMinor refuses what parseAmount refuses by range', () => {
    expect(() => amountMinor(0n)).toThrow(RangeError);
    expect(() => amountMinor(-1n)).toThrow(RangeError);
    expect(() => amountMinor(MAX + 1n)).toThrow(RangeError);
    expect(amountMinor(MAX)).toBe(MAX);
    expect(amountMinor(1n)).toBe(1n);
  });
});

// ---------------------------------------------------------------------------------------------------------
// isCurrencyCode

describe('isCurrencyCode', () => {
  it.each(['EUR', 'USD', 'JPY', 'GBP', 'CHF'])('accepts %s', (code) => {
    expect(isCurrencyCode(code)).toBe(true);
  });
  it.each(['eur', 'Eur', 'XYZ', 'EURO', 'EU', '', ' EUR', 'EUR ', 'XAU', 'XTS'])('rejects %j', (code) => {
    expect(isCurrencyCode(code)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Codecs

describe('event and state codecs', () => {
  const samples: AccountEvent[] = [
    created('acc-1', EUR, '  Ada Lovelace, née Byron \u2713 '),
    deposited('acc-1', 1n, 1n),
    deposited('acc-1', MAX, MAX, USD),
    withdrawn('acc-1', 9007199254740993n, 0n, USD),
    {
      type: 'TransferSent',
      data: { accountId: 'a', transferId: 'tr-1', toAccountId: 'b', amount: 123n, currency: EUR, balanceAfter: MAX - 1n },
    },
    {
      type: 'TransferReceived',
      data: { accountId: 'b', transferId: 'tr-1', fromAccountId: 'a', amount: 123n, currency: EUR, balanceAfter: 123n },
    },
  ];

  it('the samples cover every event type', () => {
    expect(new Set(samples.map((e) => e.type))).toStrictEqual(new Set(ACCOUNT_EVENT_TYPES));
  });

  it.each(samples.map((e): [string, AccountEvent] => [`${e.type} ${JSON.stringify(encodeAccountEvent(e).data)}`, e]))(
    'round-trips %s through the stored JSON form',
    (_label, event) => {
      const encoded = encodeAccountEvent(event);
      // The stored form must survive JSON (a bigint left in it would make JSON.stringify throw).
      const stored = JSON.parse(JSON.stringify(encoded)) as { type: string; data: Record<string, unknown> };
      expect(stored.type).toBe(event.type);
      if (event.type !== 'AccountCreated') {
        expect(stored.data['amount']).toBe(event.data.amount.toString());
        expect(stored.data['balanceAfter']).toBe(event.data.balanceAfter.toString());
      }
      expect(decodeAccountEvent(stored.type, stored.data)).toStrictEqual(event);
      expect(decodeAccountEvent(encoded.type, encoded.data)).toStrictEqual(event);
    },
  );

  it('decodeAccountEvent throws on an unknown type', () => {
    expect(() => decodeAccountEvent('AccountDeleted', { accountId: 'x' })).toThrow(/unknown account event type/);
  });

  const states: [string, AccountState][] = [
    ['none', { status: 'none' }],
    ['open, empty', { status: 'open', accountId: 'a', owner: 'Ada', currency: EUR, balance: 0n }],
    ['open, 2^63-1', { status: 'open', accountId: 'b', owner: 'Bob', currency: USD, balance: MAX }],
    ['open, beyond 2^53', { status: 'open', accountId: 'c', owner: 'Cy', currency: currency('JPY'), balance: 9007199254740993n }],
  ];

  it.each(states)('round-trips the %s state through the snapshot JSON form', (_label, state) => {
    const encoded = encodeAccountState(state);
    const stored = JSON.parse(JSON.stringify(encoded)) as Record<string, unknown>;
    expect(decodeAccountState(stored)).toStrictEqual(state);
    expect(decodeAccountState(encoded)).toStrictEqual(state);
  });

  it('a state folded from events round-trips too', () => {
    const state = [...openWith('a', 500n), withdrawn('a', 200n, 300n)].reduce(evolveAccount, initialAccountState());
    expect(state).toStrictEqual({ status: 'open', accountId: 'a', owner: 'owner of a', currency: EUR, balance: 300n });
    expect(decodeAccountState(JSON.parse(JSON.stringify(encodeAccountState(state))) as Record<string, unknown>)).toStrictEqual(state);
  });
});
