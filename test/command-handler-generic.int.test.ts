// The command handler and the aggregate repository know no aggregate type. A toy aggregate defined in this
// file only (tallies of marks: open one, mark it, move marks between two) is registered with the ledger's own
// handler, beside accounts, and runs end to end on PGlite: its ids are minted by the application after the
// idempotency check (a tally's own id among them), its streams, events, schema versions and snapshots are its
// own, a move touches two tallies atomically, a rejection writes nothing, a stale cache conflicts and is
// decided again under row locks, and idempotency keys are per principal as for accounts.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomIds } from '../src/adapters/ids/random-ids.js';
import { AggregateRepository } from '../src/application/aggregate-repository.js';
import { CommandHandler, type CommandContext, type CommandOutcome, type CommandReceipt } from '../src/application/command-handler.js';
import { accountAggregate } from '../src/domain/account/aggregate.js';
import type { Aggregate, Decision } from '../src/domain/decider.js';
import { reject } from '../src/domain/rejections.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { IdGenerator } from '../src/ports/ids.js';
import { pgliteTarget } from './support/stores.js';

// ---------------------------------------------------------------------------------------------------------
// The toy aggregate

type TallyRequest =
  | { type: 'OpenTally'; label: string }
  | { type: 'Mark'; tallyId: string; marks: number }
  | { type: 'MoveMarks'; fromTallyId: string; toTallyId: string; marks: number };
type TallyCommand = Exclude<TallyRequest, { type: 'OpenTally' }> | { type: 'OpenTally'; tallyId: string; label: string };
type TallyEvent =
  | { type: 'TallyOpened'; data: { tallyId: string; label: string } }
  | { type: 'Marked'; data: { tallyId: string; marks: number } }
  | { type: 'MarksGiven'; data: { tallyId: string; toTallyId: string; marks: number } }
  | { type: 'MarksTaken'; data: { tallyId: string; fromTallyId: string; marks: number } };
interface TallyState {
  label: string | null;
  marks: number;
}

/** Not the accounts' 1: stored with every tally event, and handed back to decode(). */
const TALLY_EVENT_SCHEMA_VERSION = 3;
const TALLY_SNAPSHOT_SCHEMA_VERSION = 7;

const decided = (entries: [string, TallyEvent[]][]): Decision<TallyEvent> => ({ ok: true, events: new Map(entries) });
// The rejection codes are a closed set; the toy borrows the nearest.
const missing = (tallyId: string): Decision<TallyEvent> => ({ ok: false, rejection: reject('account_not_found', `no tally ${tallyId}`, { tallyId }) });

const tallyAggregate: Aggregate<TallyRequest, TallyCommand, TallyEvent, TallyState> = {
  name: 'Tally',
  commandTypes: ['OpenTally', 'Mark', 'MoveMarks'],
  streamId: (tallyId) => `tally-${tallyId}`,
  // A tally's id is minted, so the streams a command touches are known only once its ids are.
  withIds: (request, newId) => (request.type === 'OpenTally' ? { type: 'OpenTally', tallyId: newId(), label: request.label } : request),
  // Deliberately unsorted: the handler orders the streams itself.
  aggregateIdsOf: (command) => (command.type === 'MoveMarks' ? [command.fromTallyId, command.toTallyId] : [command.tallyId]),
  opens: (command) => command.type === 'OpenTally',
  initialState: () => ({ label: null, marks: 0 }),
  evolve: (state, event) => {
    switch (event.type) {
      case 'TallyOpened':
        return { label: event.data.label, marks: 0 };
      case 'Marked':
      case 'MarksTaken':
        return { ...state, marks: state.marks + event.data.marks };
      case 'MarksGiven':
        return { ...state, marks: state.marks - event.data.marks };
    }
  },
  decide: (command, states) => {
    const stateOf = (tallyId: string) => states.get(tallyId) ?? { label: null, marks: 0 };
    switch (command.type) {
      case 'OpenTally':
        if (stateOf(command.tallyId).label !== null) {
          return { ok: false, rejection: reject('account_already_exists', `tally ${command.tallyId} exists`) };
        }
        return decided([[command.tallyId, [{ type: 'TallyOpened', data: { tallyId: command.tallyId, label: command.label } }]]]);
      case 'Mark':
        if (stateOf(command.tallyId).label === null) return missing(command.tallyId);
        return decided([[command.tallyId, [{ type: 'Marked', data: { tallyId: command.tallyId, marks: command.marks } }]]]);
      case 'MoveMarks': {
        const { fromTallyId, toTallyId, marks } = command;
        if (fromTallyId === toTallyId) return { ok: false, rejection: reject('accounts_must_be_different', 'two tallies, please') };
        if (stateOf(fromTallyId).label === null) return missing(fromTallyId);
        if (stateOf(toTallyId).label === null) return missing(toTallyId);
        if (stateOf(fromTallyId).marks < marks) return { ok: false, rejection: reject('insufficient_funds', 'not that many marks') };
        return decided([
          [fromTallyId, [{ type: 'MarksGiven', data: { tallyId: fromTallyId, toTallyId, marks } }]],
          [toTallyId, [{ type: 'MarksTaken', data: { tallyId: toTallyId, fromTallyId, marks } }]],
        ]);
      }
    }
  },
  events: {
    schemaVersion: TALLY_EVENT_SCHEMA_VERSION,
    encode: (event) => ({ type: event.type, data: { ...event.data } }),
    decode: (type, data, schemaVersion) => {
      if (schemaVersion !== TALLY_EVENT_SCHEMA_VERSION) throw new Error(`tally event of schema version ${schemaVersion}`);
      return { type, data } as TallyEvent;
    },
  },
  snapshots: {
    schemaVersion: TALLY_SNAPSHOT_SCHEMA_VERSION,
    encode: (state) => ({ label: state.label, marks: state.marks }),
    decode: (json) => ({ label: json['label'] as string | null, marks: json['marks'] as number }),
  },
  receipt: (states) => ({ tallies: Object.fromEntries([...states].map(([tallyId, state]) => [tallyId, state.marks])) }),
};

// ---------------------------------------------------------------------------------------------------------
// One ledger, accounts and tallies on one handler

/** Counts every id minted, so a test can tell that a replay mints none. */
let minted = 0;
const countingIds: IdGenerator = {
  newId: () => {
    minted += 1;
    return randomUUID();
  },
};

let ledger: Ledger;
beforeAll(async () => {
  ledger = await createLedger({ store: await pgliteTarget(), roles: ['ledger-api'], processMetrics: false, snapshotEvery: 3, ids: countingIds });
  ledger.commands.register(tallyAggregate);
});
afterAll(async () => {
  await ledger?.close();
});

const context = (extra: Partial<CommandContext> = {}): CommandContext => ({ correlationId: 'corr-tally', actor: 'tester', ...extra });

function accepted(outcome: CommandOutcome): CommandReceipt {
  if (outcome.kind !== 'accepted') expect.fail(`expected accepted, got ${JSON.stringify(outcome)}`);
  return outcome.receipt;
}
const talliesOf = (receipt: CommandReceipt) => receipt['tallies'] as Record<string, number>;

async function openTally(label: string, handler: CommandHandler = ledger.commands): Promise<string> {
  const receipt = accepted(await handler.execute({ type: 'OpenTally', label }, context()));
  const [tallyId] = Object.keys(talliesOf(receipt));
  return tallyId!;
}
const mark = (tallyId: string, marks: number, handler: CommandHandler = ledger.commands) =>
  handler.execute({ type: 'Mark', tallyId, marks }, context());
const versionOf = async (tallyId: string) => (await ledger.store.readStream(`tally-${tallyId}`, { count: 0, direction: 'forward' })).version;

describe('a second aggregate type through the same command handler', () => {
  it('opens (with an id the application mints), marks and moves marks between two tallies atomically', async () => {
    const opened = accepted(await ledger.commands.execute({ type: 'OpenTally', label: 'apples' }, context()));
    const a = Object.keys(talliesOf(opened))[0]!;
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(opened).toMatchObject({ commandType: 'OpenTally', streams: [{ streamId: `tally-${a}`, version: 1 }], tallies: { [a]: 0 } });
    const b = await openTally('pears');

    accepted(await mark(a, 5));
    expect(talliesOf(accepted(await mark(a, 5)))).toStrictEqual({ [a]: 10 });

    const move = accepted(await ledger.commands.execute({ type: 'MoveMarks', fromTallyId: a, toTallyId: b, marks: 4 }, context()));
    expect(talliesOf(move)).toStrictEqual({ [a]: 6, [b]: 4 });
    expect([...move.streams].sort((x, y) => x.streamId.localeCompare(y.streamId)))
      .toStrictEqual([{ streamId: `tally-${a}`, version: 4 }, { streamId: `tally-${b}`, version: 2 }].sort((x, y) => x.streamId.localeCompare(y.streamId)));
    expect(move.eventIds).toHaveLength(2);

    // As stored: the aggregate's own type name, event types, data and schema version; the handler's metadata.
    const stored = (await ledger.store.readStream(`tally-${a}`, { count: 10, direction: 'forward' })).events;
    expect(stored.map((e) => e.type)).toStrictEqual(['TallyOpened', 'Marked', 'Marked', 'MarksGiven']);
    for (const event of stored) {
      expect(event).toMatchObject({ aggregateType: 'Tally', schemaVersion: TALLY_EVENT_SCHEMA_VERSION, createdBy: 'tester' });
    }
    expect(stored[0]!.data).toStrictEqual({ tallyId: a, label: 'apples' });
    expect(move.eventIds).toContain(stored[3]!.eventId);
    expect(stored[3]).toMatchObject({
      data: { tallyId: a, toTallyId: b, marks: 4 },
      metadata: { correlationId: 'corr-tally', causationId: move.commandId, commandType: 'MoveMarks' },
    });
    const [taken] = (await ledger.store.readStream(`tally-${b}`, { fromVersion: 2, count: 1, direction: 'forward' })).events;
    expect(taken).toMatchObject({ type: 'MarksTaken', data: { tallyId: b, fromTallyId: a, marks: 4 }, transactionId: stored[3]!.transactionId });
  });

  it('accounts still run on the handler beside it, through HTTP too', async () => {
    const created = accepted(await ledger.commands.execute({ type: 'CreateAccount', accountId: 'gen-1', owner: 'Ada', currency: 'EUR' }, context()));
    expect(created).toMatchObject({ commandType: 'CreateAccount', streams: [{ streamId: 'account-gen-1', version: 1 }], balances: { 'gen-1': '0' } });
    const deposit = await ledger.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: 'gen-1', amount: '25' } });
    expect(deposit.statusCode).toBe(201);
    expect(deposit.json()).toMatchObject({ commandType: 'Deposit', balances: { 'gen-1': '25' } });
    expect(await ledger.store.readStream('account-gen-1', { count: 0, direction: 'forward' })).toMatchObject({ version: 2 });
  });

  it('a rejection writes nothing, on either tally', async () => {
    const a = await openTally('few');
    const b = await openTally('none');
    accepted(await mark(a, 2));
    const outcome = await ledger.commands.execute({ type: 'MoveMarks', fromTallyId: b, toTallyId: a, marks: 1 }, context());
    expect(outcome).toMatchObject({ kind: 'rejected', rejection: { code: 'insufficient_funds' } });
    expect(await mark('no-such-tally', 1)).toMatchObject({ kind: 'rejected', rejection: { code: 'account_not_found', details: { tallyId: 'no-such-tally' } } });
    expect([await versionOf(a), await versionOf(b), await versionOf('no-such-tally')]).toStrictEqual([2, 1, 0]);
  });

  it('ids are minted after the idempotency check: a replay mints none and answers as the first time, per principal', async () => {
    const key = `tally-key-${randomUUID()}`;
    const before = minted;
    const first = accepted(await ledger.commands.execute({ type: 'OpenTally', label: 'once' }, context({ idempotencyKey: key })));
    expect(minted - before).toBe(3); // the tally id, the command id, one event id
    const again = await ledger.commands.execute({ type: 'OpenTally', label: 'once' }, context({ idempotencyKey: key }));
    expect(again).toStrictEqual({ kind: 'accepted', replayed: true, receipt: first });
    expect(minted - before).toBe(3);
    expect(await ledger.commands.execute({ type: 'OpenTally', label: 'twice' }, context({ idempotencyKey: key })))
      .toStrictEqual({ kind: 'idempotency_key_reused', key });
    // Another principal's same key is its own: a tally of its own, not the first one's answer.
    const other = accepted(await ledger.commands.execute({ type: 'OpenTally', label: 'once' }, context({ actor: 'someone-else', idempotencyKey: key })));
    expect(Object.keys(talliesOf(other))).not.toStrictEqual(Object.keys(talliesOf(first)));
    expect(other.commandId).not.toBe(first.commandId);
  });

  it('snapshots with its own codec and schema version, and loads the same state with or without them', async () => {
    const a = await openTally('snap');
    for (const marks of [1, 2, 3, 4]) accepted(await mark(a, marks));
    const streamId = `tally-${a}`;
    // snapshotEvery 3: taken as the version crossed 3, under the tally's snapshot schema version only.
    expect(await ledger.store.loadSnapshot(streamId, TALLY_SNAPSHOT_SCHEMA_VERSION)).toMatchObject({ version: 3, state: { label: 'snap', marks: 3 } });
    expect(await ledger.store.loadSnapshot(streamId, 1)).toBeNull();

    const withSnapshots = new AggregateRepository(ledger.store, { snapshotEvery: 3, cacheEntriesMax: 0, readPageSize: 2 });
    const withoutSnapshots = new AggregateRepository(ledger.store, { snapshotEvery: 0, cacheEntriesMax: 0, readPageSize: 2 });
    const full = await withoutSnapshots.load(tallyAggregate, streamId);
    expect(full).toStrictEqual({ state: { label: 'snap', marks: 10 }, version: 5, fromCache: false });
    expect(await withSnapshots.load(tallyAggregate, streamId)).toStrictEqual(full);
    // The snapshot path is really taken: a planted snapshot at the last version wins over the events.
    await ledger.store.saveSnapshot({ streamId, version: 5, schemaVersion: TALLY_SNAPSHOT_SCHEMA_VERSION, state: { label: 'planted', marks: 99 } });
    expect((await withSnapshots.load(tallyAggregate, streamId)).state).toStrictEqual({ label: 'planted', marks: 99 });
  });

  it('a stale cached tally conflicts, and the command is decided again under row locks (EventStore.exclusive)', async () => {
    // A second handler on the same store stands in for another process: its own repository and cache.
    const elsewhere = new CommandHandler({
      store: ledger.store,
      repository: new AggregateRepository(ledger.store, { snapshotEvery: 0, cacheEntriesMax: 100, readPageSize: 100 }),
      ids: randomIds,
      aggregates: [tallyAggregate, accountAggregate],
      lockWaitersMax: 10,
    });
    const a = await openTally('raced'); // cached by the ledger's handler at version 1
    accepted(await mark(a, 2, elsewhere)); // version 2, unknown to that cache
    const exclusive = vi.spyOn(ledger.store, 'exclusive'); // observed, not replaced: the real store runs
    try {
      const receipt = accepted(await mark(a, 3));
      expect(talliesOf(receipt)).toStrictEqual({ [a]: 5 });
      expect(receipt.streams).toStrictEqual([{ streamId: `tally-${a}`, version: 3 }]);
      expect(exclusive).toHaveBeenCalledTimes(1);
      expect(exclusive.mock.calls[0]![0]).toStrictEqual([`tally-${a}`]);
    } finally {
      exclusive.mockRestore();
    }

    // The same path answers an account opened twice from two processes as before: account_already_exists.
    accepted(await elsewhere.execute({ type: 'CreateAccount', accountId: 'gen-dup', owner: 'Ada', currency: 'EUR' }, context()));
    const again = await ledger.commands.execute({ type: 'CreateAccount', accountId: 'gen-dup', owner: 'Bob', currency: 'USD' }, context());
    expect(again).toStrictEqual({
      kind: 'rejected',
      rejection: { code: 'account_already_exists', message: 'account gen-dup already exists', details: { accountId: 'gen-dup' } },
    });
  });

  it('refuses a second aggregate for a command type, and a command type nothing decides', async () => {
    expect(() => ledger.commands.register({ ...tallyAggregate, name: 'Impostor', commandTypes: ['Deposit'] })).toThrow(/Deposit of Impostor is decided by Account/);
    await expect(ledger.commands.execute({ type: 'Unheard' }, context())).rejects.toThrow(/no aggregate decides command type Unheard/);
  });

  it('the handler and the repository import nothing of accounts', () => {
    for (const file of ['../src/application/command-handler.ts', '../src/application/aggregate-repository.ts']) {
      const source = readFileSync(new URL(file, import.meta.url), 'utf8');
      expect(source, file).toMatch(/from '\.\.\/domain\/decider\.js'/); // the scan reads the imports at all
      expect(source.match(/from '[^']*account[^']*'/g) ?? [], file).toStrictEqual([]);
    }
  });
});
