// The consistency checker (src/cli/traffic/check.ts) on hand-made inputs: a clean ledger passes every check,
// and each way of being wrong fails the check that names it, and only where it should. Also the journal's
// parser, the rule that says which answers settle a command, and the write-gap measure.
import { describe, expect, it } from 'vitest';
import { checkConsistency, formatVerdict, type CheckInput, type LogEvent } from '../src/cli/traffic/check.js';
import { parseJournal, type JournalCommand } from '../src/cli/traffic/journal.js';
import { isDefinite } from '../src/cli/traffic/ledger-client.js';
import { GapTracker } from '../src/cli/traffic/simulate.js';

const RUN = 'simtest';
let nextId = 0;
const uuid = () => `00000000-0000-4000-8000-${String(++nextId).padStart(12, '0')}`;

/** A tiny ledger built the way the real one writes it, with its journal. */
function ledger() {
  const events: LogEvent[] = [];
  const commands: JournalCommand[] = [];
  const versions = new Map<string, number>();
  const balances = new Map<string, bigint>();
  const append = (streamId: string, type: string, data: Record<string, unknown>, commandId: string, key: string): LogEvent => {
    const version = (versions.get(streamId) ?? 0) + 1;
    versions.set(streamId, version);
    const e = { eventId: uuid(), streamId, streamVersion: version, globalPosition: events.length + 1, type, data, metadata: { causationId: commandId, correlationId: key } };
    events.push(e);
    return e;
  };
  const journal = (key: string, type: JournalCommand['type'], body: Record<string, string>, written: LogEvent[], commandId: string) => {
    commands.push({
      kind: 'command', key, client: 0, type, path: '/x', body, sentAt: '', endedAt: '', attempts: 1, outcome: 'acknowledged',
      status: 201, commandId, eventIds: written.map((e) => e.eventId), globalPosition: written.at(-1)!.globalPosition,
    });
  };
  const money = (accountId: string, delta: bigint) => {
    const after = (balances.get(accountId) ?? 0n) + delta;
    balances.set(accountId, after);
    return after.toString();
  };
  return {
    events, commands,
    open(accountId: string, currency = 'EUR') {
      const key = `${RUN}-open-${accountId}`;
      const id = uuid();
      journal(key, 'CreateAccount', { accountId, owner: accountId, currency }, [append(`account-${accountId}`, 'AccountCreated', { accountId, owner: accountId, currency }, id, key)], id);
    },
    deposit(accountId: string, amount: bigint, currency = 'EUR') {
      const key = `${RUN}-d${events.length}`;
      const id = uuid();
      journal(key, 'Deposit', { accountId, amount: String(amount) }, [append(`account-${accountId}`, 'MoneyDeposited',
        { accountId, amount: String(amount), currency, balanceAfter: money(accountId, amount) }, id, key)], id);
    },
    transfer(from: string, to: string, amount: bigint, currency = 'EUR') {
      const key = `${RUN}-t${events.length}`;
      const id = uuid();
      const transferId = uuid();
      const sent = append(`account-${from}`, 'TransferSent', { accountId: from, amount: String(amount), currency, balanceAfter: money(from, -amount), transferId, toAccountId: to }, id, key);
      const received = append(`account-${to}`, 'TransferReceived', { accountId: to, amount: String(amount), currency, balanceAfter: money(to, amount), transferId, fromAccountId: from }, id, key);
      journal(key, 'Transfer', { fromAccountId: from, toAccountId: to, amount: String(amount) }, [sent, received], id);
    },
    refused(accountId: string, amount: bigint) {
      commands.push({ kind: 'command', key: `${RUN}-r${commands.length}`, client: 0, type: 'Withdraw', path: '/x', body: { accountId, amount: String(amount) },
        sentAt: '', endedAt: '', attempts: 1, outcome: 'refused', status: 422, code: 'insufficient_funds' });
    },
    /** The read model as the query API would give it: the fold. */
    readModel() {
      const last = new Map<string, LogEvent>();
      const currency = new Map<string, string>();
      for (const e of events) {
        last.set(e.streamId, e);
        if (e.type === 'AccountCreated') currency.set(e.streamId, String(e.data['currency']));
      }
      return [...last].map(([streamId, e]) => ({
        accountId: streamId.slice('account-'.length), currency: currency.get(streamId)!, balance: (balances.get(streamId.slice('account-'.length)) ?? 0n).toString(),
        version: e.streamVersion, globalPosition: e.globalPosition,
      }));
    },
  };
}

function clean(): { input: CheckInput; l: ReturnType<typeof ledger> } {
  const l = ledger();
  l.open('a');
  l.open('b');
  l.open('u', 'USD');
  l.deposit('a', 500n);
  l.deposit('u', 70n, 'USD');
  l.transfer('a', 'b', 200n);
  l.refused('b', 1_000n);
  const input: CheckInput = {
    runId: RUN, journalComplete: true, commands: l.commands, events: l.events, readModel: l.readModel(),
    bus: { stream: 's', messages: l.events.map((e, i) => ({ seq: i + 1, msgId: e.eventId, eventId: e.eventId })) },
    audit: { ok: true, summary: 'events 7', findings: [] },
  };
  return { input, l };
}

const failed = (input: CheckInput) => checkConsistency(input).checks.filter((c) => c.status === 'fail').map((c) => c.name);
const failuresOf = (input: CheckInput, name: string) => checkConsistency(input).checks.find((c) => c.name === name)!.failures;

describe('the consistency checker', () => {
  it('passes a consistent ledger on every check, with its figures', () => {
    const { input } = clean();
    const verdict = checkConsistency(input);
    expect(verdict.checks.map((c) => [c.name, c.status])).toEqual([
      ['acknowledged_once', 'pass'], ['unknown_resolved', 'pass'], ['refused_no_events', 'pass'], ['money_conserved', 'pass'],
      ['no_negative_balance', 'pass'], ['balances_fold_history', 'pass'], ['read_model', 'pass'], ['jetstream', 'pass'], ['chronicle_verify', 'pass'],
    ]);
    expect(verdict.ok).toBe(true);
    expect(formatVerdict(verdict).join('\n')).toContain('PASS money_conserved: EUR: deposited 500 - withdrawn 0 = 500; transfers 200 sent, 200 received; USD: deposited 70');
    expect(formatVerdict(verdict).at(-1)).toBe('VERDICT: OK: every check holds');
  });

  it('reports the JetStream check as not checked, not passed, without --nats', () => {
    const { input } = clean();
    const verdict = checkConsistency({ ...input, bus: null });
    expect(verdict.checks.find((c) => c.name === 'jetstream')!.status).toBe('not_checked');
    expect(formatVerdict(verdict)).toContain('NOT CHECKED jetstream: no --nats given: the JetStream stream was not read');
    expect(formatVerdict(verdict).at(-1)).toBe('VERDICT: OK: every check holds (not checked: jetstream)');
  });

  it('fails on an acknowledged event that is not in $all', () => {
    const { input } = clean();
    const lost = input.events.splice(3, 1)[0]!; // the deposit into a
    input.events.forEach((e, i) => (e.globalPosition = i + 1));
    expect(failuresOf(input, 'acknowledged_once')).toContain(`${input.commands[3]!.key} (Deposit): acknowledged event ${lost.eventId} is not in $all`);
  });

  it('fails on a command applied twice under one key (a blind retry), and on an event id twice', () => {
    const { input, l } = clean();
    const first = input.commands[3]!;
    const again = { ...input.events[3]!, eventId: uuid(), metadata: { causationId: uuid(), correlationId: first.key } };
    const events = [...input.events, { ...again, globalPosition: l.events.length + 1 }, { ...input.events[4]!, globalPosition: l.events.length + 2 }];
    const failures = failuresOf({ ...input, events }, 'acknowledged_once');
    expect(failures.some((f) => f.startsWith(`${first.key} (Deposit): applied 2 times`))).toBe(true);
    expect(failures).toContain(`${input.commands[4]!.key} (Deposit): event ${input.events[4]!.eventId} is in $all 2 times`);
  });

  it('fails on events of the run that no journal line claims, only when the journal is complete', () => {
    const { input } = clean();
    input.events[3]!.metadata['correlationId'] = `${RUN}-ghost`;
    expect(failuresOf(input, 'acknowledged_once').some((f) => f.startsWith(`${RUN}-ghost: applied`))).toBe(true);
    const killed = checkConsistency({ ...input, journalComplete: false }).checks.find((c) => c.name === 'acknowledged_once')!;
    expect(killed.failures.filter((f) => f.includes('ghost'))).toEqual([]);
    expect(killed.summary).toContain('1 commands of this run applied but not journaled');
  });

  it('fails on a refused command that has events', () => {
    const { input } = clean();
    input.events[3]!.metadata['correlationId'] = input.commands.at(-1)!.key; // the refused withdrawal
    expect(failuresOf(input, 'refused_no_events')[0]).toMatch(/refused insufficient_funds\) has events: MoneyDeposited/);
  });

  it('counts an unknown outcome the retry resolved as resolved, and one it could not as a failure', () => {
    const { input } = clean();
    input.commands[3] = { ...input.commands[3]!, retry: { became: 'applied_before' } };
    input.commands[4] = { ...input.commands[4]!, retry: { became: 'applied_by_retry' } };
    expect(failed(input)).toEqual([]);
    input.commands.push({ ...input.commands.at(-1)!, key: `${RUN}-lost`, outcome: 'unknown', retry: { became: 'unresolved', error: 'timeout' } });
    expect(failuresOf(input, 'unknown_resolved')).toEqual([`${RUN}-lost (Withdraw): still no answer (timeout)`]);
  });

  it('fails on a negative balance, naming the account and the event', () => {
    const l = ledger();
    l.open('a');
    l.transfer('a', 'b', 5n); // a goes to -5 (b is never opened: a second failure, of the fold)
    const input: CheckInput = { runId: RUN, journalComplete: true, commands: l.commands, events: l.events, readModel: [], bus: null, audit: { ok: true, summary: '', findings: [] } };
    expect(failuresOf(input, 'no_negative_balance')[0]).toMatch(/^a at -5 after TransferSent/);
    expect(failuresOf(input, 'no_negative_balance')[1]).toMatch(/TransferSent .*: balanceAfter -5/);
  });

  it('fails when money is not conserved: a transfer with one side, or read-model balances that do not add up', () => {
    const { input } = clean();
    const received = input.events.findIndex((e) => e.type === 'TransferReceived');
    const events = input.events.filter((_, i) => i !== received).map((e, i) => ({ ...e, globalPosition: i + 1 }));
    const failures = failuresOf({ ...input, events }, 'money_conserved');
    expect(failures.some((f) => /^transfer \w+: TransferSent .* has no TransferReceived$/.test(f))).toBe(true);
    expect(failures).toContain('EUR: deposits - withdrawals = 500, the balances folded from $all add up to 300');
    expect(failures).toContain('EUR: transfers sent 200 != received 0');

    const readModel = (input.readModel as { balance: string; accountId: string }[]).map((a) => (a.accountId === 'b' ? { ...a, balance: '201' } : a));
    expect(failuresOf({ ...input, readModel: readModel as CheckInput['readModel'] }, 'money_conserved'))
      .toEqual(["EUR: deposits - withdrawals = 500, the query API's balances add up to 501"]);
  });

  it('fails on a balanceAfter that is not the fold of its history, and on versions or positions out of order', () => {
    const { input } = clean();
    input.events[3]!.data['balanceAfter'] = '499';
    [input.events[5], input.events[6]] = [input.events[6]!, input.events[5]!];
    const failures = failuresOf(input, 'balances_fold_history');
    expect(failures.some((f) => /MoneyDeposited .*: balanceAfter 499, the fold of its history gives 500/.test(f))).toBe(true);
    expect(failures.some((f) => f.startsWith('position 7 is event #6 of $all'))).toBe(true);
  });

  it('fails when the read model differs from the fold of $all, or misses an account', () => {
    const { input } = clean();
    const rows = input.readModel as { accountId: string; balance: string; version: number }[];
    rows[0]!.balance = '301';
    rows.pop();
    const failures = failuresOf(input, 'read_model');
    expect(failures).toContain('a: the query API says balance 301 EUR, version 3, position 6; $all folds to balance 300 EUR, version 3, position 6');
    expect(failures.some((f) => / in \$all, missing from the read model$/.test(f))).toBe(true);
  });

  it('fails on a JetStream stream with a duplicate, a missing event, or another order', () => {
    const { input } = clean();
    const bus = input.bus as { stream: string; messages: { seq: number; msgId: string | undefined; eventId: string | undefined }[] };
    const dup = { ...bus.messages[2]!, seq: 99, msgId: 'other' };
    expect(failuresOf({ ...input, bus: { ...bus, messages: [...bus.messages, dup] } }, 'jetstream'))
      .toEqual([`seq 99: Nats-Msg-Id other but event ${dup.eventId}`, `event ${dup.eventId} is in the stream 2 times (seq 3, 99)`]);
    expect(failuresOf({ ...input, bus: { ...bus, messages: bus.messages.slice(0, -1) } }, 'jetstream')[0]).toMatch(/^TransferReceived .* is not in the stream$/);
    const swapped = [...bus.messages];
    [swapped[1], swapped[2]] = [{ ...swapped[2]!, seq: 2 }, { ...swapped[1]!, seq: 3 }];
    expect(failuresOf({ ...input, bus: { ...bus, messages: swapped } }, 'jetstream')[0]).toMatch(/^order: the stream's event #2 is .* \(seq 2\), \$all's #2 is AccountCreated/);
  });

  it('fails on chronicle verify findings, and says when a source could not be read', () => {
    const { input } = clean();
    expect(failuresOf({ ...input, audit: { ok: false, summary: '', findings: ['content_altered: event x'] } }, 'chronicle_verify')).toEqual(['content_altered: event x']);
    expect(failed({ ...input, readModel: 'GET /accounts: 403', bus: 'no stream', audit: 'GET /audit/public-key: 404' }))
      .toEqual(['read_model', 'jetstream', 'chronicle_verify']);
  });
});

describe('the journal and the client rules', () => {
  it('parses a journal and names the first bad line', () => {
    const good = '{"kind":"start","runId":"r"}\n{"kind":"command","key":"k","type":"Deposit","body":{},"outcome":"refused"}\n';
    expect(parseJournal(good).commands).toHaveLength(1);
    expect(() => parseJournal(`${good}{"kind":"command","key":"k2","type":"Deposit","body":{},"outcome":"acknowledged"}\n`))
      .toThrow('journal line 3: an acknowledged command needs its commandId and eventIds');
    expect(() => parseJournal('{"kind":"start"}\nnot json')).toThrow('journal line 2 is not JSON');
  });

  it('treats 2xx and refusals as definite, and 5xx, 408, 429 and a concurrency conflict as worth a retry', () => {
    expect([201, 400, 404, 409, 422].map((s) => isDefinite(s, 'x'))).toEqual([true, true, true, true, true]);
    expect([[503, 'unavailable'], [500, 'internal'], [408, 'request_timeout'], [429, 'rate_limited'], [409, 'concurrency_conflict']]
      .map(([s, c]) => isDefinite(s as number, c as string))).toEqual([false, false, false, false, false]);
  });

  it('measures the longest write gap from the last ack before to the first ack after', () => {
    const gaps = new GapTracker();
    for (const at of [1_000, 1_010, 1_020, 4_020, 4_030]) gaps.ack(at);
    expect(gaps.longest).toEqual({ ms: 3_000, from: 1_020, to: 4_020 });
    expect(gaps.longestSoFar(4_100)).toBe(3_000);
    expect(gaps.longestSoFar(9_030)).toBe(5_000); // the gap still open counts
  });
});
