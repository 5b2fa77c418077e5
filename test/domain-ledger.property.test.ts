// Model-based property test of the ledger domain: random command sequences run through decide/evolveAccount
// and, side by side, through a deliberately naive model written from scratch here. After every step the two
// must agree on accept/reject, on the rejection code and the account it blames, and on every balance; the
// decided events must be well formed and their balanceAfter must be the balance they produce; no balance may
// leave [0, 2^63-1]; and money per currency changes only by deposits minus withdrawals.
import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import type { LedgerCommand } from '../src/domain/account/commands.js';
import { accountsOf, decide } from '../src/domain/account/decide.js';
import type { AccountEvent } from '../src/domain/account/events.js';
import { evolveAccount, initialAccountState, type AccountState } from '../src/domain/account/state.js';
import type { CurrencyCode } from '../src/domain/currency.js';
import type { AmountMinor } from '../src/domain/money.js';
import type { RejectionCode } from '../src/domain/rejections.js';

// The model's own ceiling, written out rather than imported, so a wrong constant in src/ would show.
const CEILING = 9223372036854775807n;
const CURRENCIES = ['EUR', 'USD'] as const;
type Cur = (typeof CURRENCIES)[number];
/** 'a'..'c' can be created; 'ghost' never is. */
const CREATABLE = ['a', 'b', 'c'] as const;
const IDS = [...CREATABLE, 'ghost'] as const;

// ---------------------------------------------------------------------------------------------------------
// The independent model

type Cmd =
  | { kind: 'create'; id: string; owner: string; currency: Cur }
  | { kind: 'deposit'; id: string; amount: bigint }
  | { kind: 'withdraw'; id: string; amount: bigint }
  | { kind: 'transfer'; from: string; to: string; amount: bigint };

type ModelAccount = { currency: Cur; balance: bigint };
type Model = Record<string, ModelAccount>;
type ModelOutcome =
  | { ok: true; next: Model }
  | { ok: false; code: RejectionCode; blames?: string };

function modelStep(model: Model, cmd: Cmd): ModelOutcome {
  const no = (code: RejectionCode, blames?: string): ModelOutcome => (blames === undefined ? { ok: false, code } : { ok: false, code, blames });
  const next = (changes: Model): ModelOutcome => ({ ok: true, next: { ...model, ...changes } });
  switch (cmd.kind) {
    case 'create':
      if (model[cmd.id]) return no('account_already_exists', cmd.id);
      return next({ [cmd.id]: { currency: cmd.currency, balance: 0n } });
    case 'deposit': {
      const acc = model[cmd.id];
      if (!acc) return no('account_not_found', cmd.id);
      const after = acc.balance + cmd.amount;
      if (after > CEILING) return no('balance_overflow', cmd.id);
      return next({ [cmd.id]: { ...acc, balance: after } });
    }
    case 'withdraw': {
      const acc = model[cmd.id];
      if (!acc) return no('account_not_found', cmd.id);
      const after = acc.balance - cmd.amount;
      if (after < 0n) return no('insufficient_funds', cmd.id);
      return next({ [cmd.id]: { ...acc, balance: after } });
    }
    case 'transfer': {
      // Precedence as in decide.ts: same account, unknown source, unknown destination, currency, funds, overflow.
      if (cmd.from === cmd.to) return no('accounts_must_be_different');
      const from = model[cmd.from];
      const to = model[cmd.to];
      if (!from) return no('account_not_found', cmd.from);
      if (!to) return no('account_not_found', cmd.to);
      if (from.currency !== to.currency) return no('currency_mismatch');
      const fromAfter = from.balance - cmd.amount;
      const toAfter = to.balance + cmd.amount;
      if (fromAfter < 0n) return no('insufficient_funds', cmd.from);
      if (toAfter > CEILING) return no('balance_overflow', cmd.to);
      return next({ [cmd.from]: { ...from, balance: fromAfter }, [cmd.to]: { ...to, balance: toAfter } });
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Generators

const idArb = fc.constantFrom(...IDS);
/** Mostly small amounts; sometimes near the ceiling (to reach overflow); sometimes anywhere in range. */
const amountArb = fc.oneof(
  { weight: 12, arbitrary: fc.bigInt(1n, 1000n) },
  { weight: 2, arbitrary: fc.bigInt(CEILING - 1000n, CEILING) },
  { weight: 1, arbitrary: fc.bigInt(1n, CEILING) },
);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('create' as const),
      id: fc.constantFrom(...CREATABLE),
      owner: fc.string({ maxLength: 8 }),
      currency: fc.constantFrom(...CURRENCIES),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('deposit' as const), id: idArb, amount: amountArb }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('withdraw' as const), id: idArb, amount: amountArb }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('transfer' as const), from: idArb, to: idArb, amount: amountArb }) },
);
// size 'max': without it fast-check keeps arrays short (about ten commands) whatever maxLength says.
const scenarioArb = fc.array(cmdArb, { maxLength: 200, size: 'max' });

const toCommand = (cmd: Cmd, step: number): LedgerCommand => {
  switch (cmd.kind) {
    case 'create':
      return { type: 'CreateAccount', accountId: cmd.id, owner: cmd.owner, currency: cmd.currency as CurrencyCode };
    case 'deposit':
      return { type: 'Deposit', accountId: cmd.id, amount: cmd.amount as AmountMinor };
    case 'withdraw':
      return { type: 'Withdraw', accountId: cmd.id, amount: cmd.amount as AmountMinor };
    case 'transfer':
      return { type: 'Transfer', transferId: `tr-${step}`, fromAccountId: cmd.from, toAccountId: cmd.to, amount: cmd.amount as AmountMinor };
  }
};

// ---------------------------------------------------------------------------------------------------------
// The property

const streamOf = (id: string): string => `account-${id}`;

/** What each accepted command must emit, per stream: [event type, the data fields we can predict]. */
function expectedEvents(cmd: Cmd, model: Model, step: number): Map<string, [AccountEvent['type'], Record<string, unknown>]> {
  switch (cmd.kind) {
    case 'create':
      return new Map([[streamOf(cmd.id), ['AccountCreated', { accountId: cmd.id, owner: cmd.owner, currency: cmd.currency }]]]);
    case 'deposit':
      return new Map([[streamOf(cmd.id), ['MoneyDeposited', { accountId: cmd.id, amount: cmd.amount, currency: model[cmd.id]!.currency }]]]);
    case 'withdraw':
      return new Map([[streamOf(cmd.id), ['MoneyWithdrawn', { accountId: cmd.id, amount: cmd.amount, currency: model[cmd.id]!.currency }]]]);
    case 'transfer': {
      const common = { amount: cmd.amount, currency: model[cmd.from]!.currency, transferId: `tr-${step}` };
      return new Map<string, [AccountEvent['type'], Record<string, unknown>]>([
        [streamOf(cmd.from), ['TransferSent', { ...common, accountId: cmd.from, toAccountId: cmd.to }]],
        [streamOf(cmd.to), ['TransferReceived', { ...common, accountId: cmd.to, fromAccountId: cmd.from }]],
      ]);
    }
  }
}

const outcomeKey = (cmd: Cmd, code: string): string => `${cmd.kind}:${code}`;

/**
 * Assert actual === expected. Most of 400 runs x ~100 steps pass, and vitest's expect() costs far more than
 * a comparison, so expect() runs (and builds its message) only on a mismatch, where it throws with a diff.
 */
function same(actual: unknown, expected: unknown, what: () => string): void {
  if (!Object.is(actual, expected)) expect(actual, what()).toBe(expected);
}

function runScenario(cmds: Cmd[], seen: Set<string>): void {
  /** The implementation's states, keyed by stream id, as the event store would hold them. */
  const states = new Map<string, AccountState>();
  let model: Model = {};
  /** Deposits minus withdrawals per currency, counted from the implementation's accepted events. */
  const net: Record<Cur, bigint> = { EUR: 0n, USD: 0n };

  cmds.forEach((cmd, step) => {
    const command = toCommand(cmd, step);
    const input = new Map(accountsOf(command).map((id): [string, AccountState] => [id, states.get(streamOf(id)) ?? initialAccountState()]));
    const decision = decide(command, input);
    const expected = modelStep(model, cmd);
    const where = (what: string) => () =>
      `step ${step}: ${JSON.stringify(cmd, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}: ${what}`;

    if (!expected.ok) {
      same(decision.ok ? 'accepted' : 'rejected', 'rejected', where(`should be rejected with ${expected.code}`));
      if (decision.ok) return;
      same(decision.rejection.code, expected.code, where('rejection code'));
      if (expected.blames !== undefined) same(decision.rejection.details?.['accountId'], expected.blames, where('account blamed'));
      seen.add(outcomeKey(cmd, expected.code));
    } else {
      same(decision.ok ? 'accepted' : decision.rejection.code, 'accepted', where('should be accepted'));
      if (!decision.ok) return;
      seen.add(outcomeKey(cmd, 'ok'));

      const want = expectedEvents(cmd, model, step);
      same([...decision.events.keys()].map(streamOf).sort().join(' '), [...want.keys()].sort().join(' '), where('streams written'));
      for (const [accountId, events] of decision.events) {
        const streamId = streamOf(accountId);
        const [type, data] = want.get(streamId)!;
        same(events.length, 1, where(`events on ${streamId}`));
        const event = events[0]!;
        same(event.type, type, where(`event type on ${streamId}`));
        const actualData = event.data as unknown as Record<string, unknown>;
        for (const [key, value] of Object.entries(data)) same(actualData[key], value, where(`${type}.data.${key}`));

        const after = evolveAccount(states.get(streamId) ?? initialAccountState(), event);
        states.set(streamId, after);
        if (event.type !== 'AccountCreated') {
          same(after.status, 'open', where(`${streamId} after ${type}`));
          if (after.status === 'open') same(event.data.balanceAfter, after.balance, where(`${type}.data.balanceAfter vs evolved balance`));
          const cur = event.data.currency as Cur;
          if (event.type === 'MoneyDeposited') net[cur] += event.data.amount;
          if (event.type === 'MoneyWithdrawn') net[cur] -= event.data.amount;
        }
      }
      model = expected.next;
    }

    // Every account agrees with the model, and stays within [0, 2^63-1].
    const totals: Record<Cur, bigint> = { EUR: 0n, USD: 0n };
    for (const id of IDS) {
      const state = states.get(streamOf(id)) ?? initialAccountState();
      const acc = model[id];
      if (acc === undefined) {
        same(state.status, 'none', where(`${id} should not exist`));
        continue;
      }
      same(state.status, 'open', where(`${id} should exist`));
      if (state.status !== 'open') continue;
      same(state.accountId, id, where(`accountId of ${id}`));
      same(state.currency, acc.currency, where(`currency of ${id}`));
      same(state.balance, acc.balance, where(`balance of ${id}`));
      same(state.balance >= 0n && state.balance <= CEILING, true, where(`${id} balance ${state.balance} outside [0, 2^63-1]`));
      totals[state.currency as Cur] += state.balance;
    }
    // Conservation: transfers move money, only deposits and withdrawals change the total per currency.
    for (const cur of CURRENCIES) same(totals[cur], net[cur], where(`total ${cur} vs deposits minus withdrawals`));
    same(states.has(streamOf('ghost')), false, where('ghost was never created'));
  });
}

describe('ledger domain against an independent model', () => {
  it('agrees with the model on every step of random command sequences', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(scenarioArb, (cmds) => {
        runScenario(cmds, seen);
      }),
      { numRuns: 400 },
    );

    // The generator must actually reach every branch, or the property could pass while proving little.
    const mustSee = [
      'create:ok', 'create:account_already_exists',
      'deposit:ok', 'deposit:account_not_found', 'deposit:balance_overflow',
      'withdraw:ok', 'withdraw:account_not_found', 'withdraw:insufficient_funds',
      'transfer:ok', 'transfer:accounts_must_be_different', 'transfer:account_not_found', 'transfer:currency_mismatch',
      'transfer:insufficient_funds', 'transfer:balance_overflow',
    ];
    for (const key of mustSee) expect(seen, `never exercised ${key}`).toContain(key);
  });

  it('the model itself follows the documented rules on hand-picked cases', () => {
    // A guard against a model that is wrong in the same way as decide(): checked against plain facts.
    const m: Model = { a: { currency: 'EUR', balance: 10n }, b: { currency: 'EUR', balance: CEILING - 5n }, u: { currency: 'USD', balance: 0n } };
    expect(modelStep(m, { kind: 'withdraw', id: 'a', amount: 10n })).toMatchObject({ ok: true, next: { a: { balance: 0n } } });
    expect(modelStep(m, { kind: 'withdraw', id: 'a', amount: 11n })).toStrictEqual({ ok: false, code: 'insufficient_funds', blames: 'a' });
    expect(modelStep(m, { kind: 'deposit', id: 'b', amount: 5n })).toMatchObject({ ok: true, next: { b: { balance: CEILING } } });
    expect(modelStep(m, { kind: 'deposit', id: 'b', amount: 6n })).toStrictEqual({ ok: false, code: 'balance_overflow', blames: 'b' });
    expect(modelStep(m, { kind: 'transfer', from: 'a', to: 'b', amount: 6n })).toStrictEqual({ ok: false, code: 'balance_overflow', blames: 'b' });
    expect(modelStep(m, { kind: 'transfer', from: 'a', to: 'b', amount: 5n })).toMatchObject({ ok: true, next: { a: { balance: 5n }, b: { balance: CEILING } } });
    expect(modelStep(m, { kind: 'transfer', from: 'a', to: 'u', amount: 1n })).toStrictEqual({ ok: false, code: 'currency_mismatch' });
    expect(modelStep(m, { kind: 'transfer', from: 'x', to: 'x', amount: 1n })).toStrictEqual({ ok: false, code: 'accounts_must_be_different' });
    expect(modelStep(m, { kind: 'transfer', from: 'x', to: 'y', amount: 1n })).toStrictEqual({ ok: false, code: 'account_not_found', blames: 'x' });
    expect(modelStep(m, { kind: 'transfer', from: 'a', to: 'y', amount: 1n })).toStrictEqual({ ok: false, code: 'account_not_found', blames: 'y' });
    expect(modelStep(m, { kind: 'create', id: 'a', owner: '', currency: 'USD' })).toStrictEqual({ ok: false, code: 'account_already_exists', blames: 'a' });
  });
});
