// The consistency checker of `chronicle verify-consistency`, pure: the journal (with the checker's retries of
// unknown outcomes), the ledger's $all, the query API's balances, the JetStream stream's messages and the
// audit verification in; a verdict out, one check a line, each naming what failed. No I/O here, so every
// failure can be shown on hand-made inputs (test/traffic-check.unit.test.ts).
//
// How a command is found in $all: simulate-traffic sends its Idempotency-Key as X-Correlation-Id too, which
// the ledger writes into every event's metadata.correlationId; each event's metadata.causationId is the
// command id its receipt gives. So "applied exactly once" is: the receipt's event ids are each in $all
// once, and the key's events name one command id, and no other.
import { CONSISTENCY_FAILURES_SHOWN_MAX } from '../../domain/limits.js';
import type { JournalCommand } from './journal.js';

/** An event as /streams/$all gives it (the fields the checks read). */
export interface LogEvent {
  eventId: string;
  streamId: string;
  streamVersion: number;
  globalPosition: number;
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

/** What the checker's retry of an unknown outcome found. */
export interface Retry {
  /** applied_before: the ledger answered with the first response (Idempotent-Replayed): it had been applied. */
  became: 'applied_before' | 'applied_by_retry' | 'refused' | 'unresolved';
  code?: string;
  error?: string;
}

/** A journal command; an unknown one carries the retry's result and, when it resolved, its final outcome. */
export type CheckedCommand = JournalCommand & { retry?: Retry };

export interface ReadModelAccount {
  accountId: string;
  currency: string;
  balance: string;
  version: number;
  globalPosition: number;
}

export interface BusMessage {
  seq: number;
  /** The Nats-Msg-Id header. */
  msgId: string | undefined;
  /** The event id in the payload (undefined: not an event). */
  eventId: string | undefined;
}

export interface CheckInput {
  runId: string | null;
  /** The journal ended cleanly (its `end` line): then every command of the run is in it. */
  journalComplete: boolean;
  commands: CheckedCommand[];
  events: LogEvent[];
  /** The query API's accounts; a string: why they could not be read. */
  readModel: ReadModelAccount[] | string;
  /** null: not checked (no --nats); a string: why the stream could not be read. */
  bus: { stream: string; messages: BusMessage[] } | string | null;
  /** `chronicle verify`'s result; a string: why it could not run. */
  audit: { ok: boolean; summary: string; findings: string[] } | string;
}

export type CheckStatus = 'pass' | 'fail' | 'not_checked';

export interface Check {
  name: string;
  status: CheckStatus;
  summary: string;
  failures: string[];
}

export interface Verdict {
  ok: boolean;
  checks: Check[];
}

const ACCOUNT_PREFIX = 'account-';
const MONEY_EVENTS = new Set(['MoneyDeposited', 'MoneyWithdrawn', 'TransferSent', 'TransferReceived']);
const SIGN: Record<string, 1n | -1n> = { MoneyDeposited: 1n, TransferReceived: 1n, MoneyWithdrawn: -1n, TransferSent: -1n };

const check = (name: string, failures: string[], summary: string): Check => ({ name, status: failures.length === 0 ? 'pass' : 'fail', summary, failures });

const short = (id: string) => id.slice(0, 8);
const describe = (e: LogEvent) => `${e.type} ${short(e.eventId)} (position ${e.globalPosition}, ${e.streamId} v${e.streamVersion})`;

function amountOf(e: LogEvent): bigint | null {
  try {
    return BigInt(e.data['amount'] as string);
  } catch {
    return null;
  }
}

/** The events a command should have written, as (type, stream, amount) to compare. */
function expectedEvents(c: JournalCommand): { type: string; streamId: string; amount?: string }[] {
  const b = c.body;
  switch (c.type) {
    case 'CreateAccount': return [{ type: 'AccountCreated', streamId: `${ACCOUNT_PREFIX}${b['accountId']}` }];
    case 'Deposit': return [{ type: 'MoneyDeposited', streamId: `${ACCOUNT_PREFIX}${b['accountId']}`, amount: b['amount']! }];
    case 'Withdraw': return [{ type: 'MoneyWithdrawn', streamId: `${ACCOUNT_PREFIX}${b['accountId']}`, amount: b['amount']! }];
    case 'Transfer': return [
      { type: 'TransferSent', streamId: `${ACCOUNT_PREFIX}${b['fromAccountId']}`, amount: b['amount']! },
      { type: 'TransferReceived', streamId: `${ACCOUNT_PREFIX}${b['toAccountId']}`, amount: b['amount']! },
    ];
  }
}

interface Fold {
  accounts: Map<string, { currency: string; balance: bigint; version: number; position: number }>;
  /** Per currency: deposits, withdrawals, transfers sent and received. */
  totals: Map<string, { deposited: bigint; withdrawn: bigint; sent: bigint; received: bigint }>;
  /** transferId -> its two sides. */
  transfers: Map<string, { sent?: LogEvent; received?: LogEvent }>;
  orderFailures: string[];
  foldFailures: string[];
  negative: string[];
}

/** Every account's balance folded from $all, independently of the ledger's own balanceAfter. */
export function foldLog(events: LogEvent[]): Fold {
  const fold: Fold = { accounts: new Map(), totals: new Map(), transfers: new Map(), orderFailures: [], foldFailures: [], negative: [] };
  const versions = new Map<string, number>();
  events.forEach((e, i) => {
    if (e.globalPosition !== i + 1) fold.orderFailures.push(`position ${e.globalPosition} is event #${i + 1} of $all (positions must run 1, 2, 3, ... with no gap)`);
    const expected = (versions.get(e.streamId) ?? 0) + 1;
    if (e.streamVersion !== expected) fold.orderFailures.push(`${describe(e)}: ${e.streamId} should be at v${expected} here`);
    versions.set(e.streamId, e.streamVersion);
    if (!e.streamId.startsWith(ACCOUNT_PREFIX)) return;
    const accountId = e.streamId.slice(ACCOUNT_PREFIX.length);
    if (e.type === 'AccountCreated') {
      if (fold.accounts.has(accountId)) fold.foldFailures.push(`${describe(e)}: ${accountId} opened twice`);
      else fold.accounts.set(accountId, { currency: String(e.data['currency']), balance: 0n, version: e.streamVersion, position: e.globalPosition });
      return;
    }
    if (!MONEY_EVENTS.has(e.type)) return;
    const account = fold.accounts.get(accountId);
    const amount = amountOf(e);
    if (!account || amount === null || amount <= 0n) {
      fold.foldFailures.push(`${describe(e)}: ${!account ? 'no AccountCreated before it' : `amount ${String(e.data['amount'])} is not a positive integer`}`);
      return;
    }
    if (e.data['currency'] !== account.currency) fold.foldFailures.push(`${describe(e)}: currency ${String(e.data['currency'])}, the account's is ${account.currency}`);
    account.balance += SIGN[e.type]! * amount;
    account.version = e.streamVersion;
    account.position = e.globalPosition;
    if (account.balance < 0n) fold.negative.push(`${accountId} at ${account.balance} after ${describe(e)}`);
    if (String(e.data['balanceAfter']) !== account.balance.toString()) {
      fold.foldFailures.push(`${describe(e)}: balanceAfter ${String(e.data['balanceAfter'])}, the fold of its history gives ${account.balance}`);
    }
    const t = fold.totals.get(account.currency) ?? { deposited: 0n, withdrawn: 0n, sent: 0n, received: 0n };
    if (e.type === 'MoneyDeposited') t.deposited += amount;
    if (e.type === 'MoneyWithdrawn') t.withdrawn += amount;
    if (e.type === 'TransferSent') t.sent += amount;
    if (e.type === 'TransferReceived') t.received += amount;
    fold.totals.set(account.currency, t);
    if (e.type === 'TransferSent' || e.type === 'TransferReceived') {
      const id = String(e.data['transferId']);
      const sides = fold.transfers.get(id) ?? {};
      const side = e.type === 'TransferSent' ? 'sent' : 'received';
      if (sides[side]) fold.foldFailures.push(`transfer ${short(id)} has two ${e.type} events: ${describe(sides[side]!)} and ${describe(e)}`);
      sides[side] = e;
      fold.transfers.set(id, sides);
    }
  });
  return fold;
}

function journalChecks(input: CheckInput): Check[] {
  const byEventId = new Map<string, LogEvent[]>();
  const byCommand = new Map<string, LogEvent[]>();
  const byKey = new Map<string, LogEvent[]>();
  for (const e of input.events) {
    byEventId.set(e.eventId, [...(byEventId.get(e.eventId) ?? []), e]);
    const commandId = e.metadata['causationId'];
    if (typeof commandId === 'string') byCommand.set(commandId, [...(byCommand.get(commandId) ?? []), e]);
    const key = e.metadata['correlationId'];
    if (typeof key === 'string') byKey.set(key, [...(byKey.get(key) ?? []), e]);
  }
  const acked: string[] = [];
  let ackedCount = 0;
  let ackedEvents = 0;
  const refused: string[] = [];
  let refusedCount = 0;
  const keys = new Set<string>();
  for (const c of input.commands) {
    if (keys.has(c.key)) acked.push(`${c.key}: journaled twice`);
    keys.add(c.key);
    const keyEvents = byKey.get(c.key) ?? [];
    const commandIds = [...new Set(keyEvents.map((e) => String(e.metadata['causationId'])))];
    if (c.outcome === 'acknowledged') {
      ackedCount++;
      const eventIds = c.eventIds ?? [];
      ackedEvents += eventIds.length;
      for (const id of eventIds) {
        const found = byEventId.get(id) ?? [];
        if (found.length === 0) acked.push(`${c.key} (${c.type}): acknowledged event ${id} is not in $all`);
        if (found.length > 1) acked.push(`${c.key} (${c.type}): event ${id} is in $all ${found.length} times`);
      }
      if (commandIds.length > 1) acked.push(`${c.key} (${c.type}): applied ${commandIds.length} times (commands ${commandIds.map(short).join(', ')})`);
      const written = byCommand.get(c.commandId!) ?? [];
      const extra = written.filter((e) => !eventIds.includes(e.eventId));
      if (extra.length > 0) acked.push(`${c.key} (${c.type}): command ${short(c.commandId!)} also wrote ${extra.map(describe).join(', ')}, not in its receipt`);
      const expected = expectedEvents(c);
      const mine = eventIds.map((id) => byEventId.get(id)?.[0]).filter((e): e is LogEvent => e !== undefined);
      if (mine.length === eventIds.length) {
        const same = mine.length === expected.length && expected.every((x) => mine.some((e) => e.type === x.type && e.streamId === x.streamId
          && (x.amount === undefined || String(e.data['amount']) === x.amount)));
        if (!same) acked.push(`${c.key} (${c.type} ${JSON.stringify(c.body)}): its events are ${mine.map(describe).join(', ')}`);
      }
    } else if (c.outcome === 'refused') {
      refusedCount++;
      if (keyEvents.length > 0) refused.push(`${c.key} (${c.type}, refused ${c.code ?? ''}) has events: ${keyEvents.map(describe).join(', ')}`);
    }
  }
  // Events of this run that no journal line claims: a command applied behind the journal's back. Only a
  // failure when the journal is complete (a killed simulate-traffic cannot journal what it had in flight).
  let unjournaled = 0;
  if (input.runId !== null) {
    for (const [key, events] of byKey) {
      if (!key.startsWith(`${input.runId}-`) || keys.has(key)) continue;
      unjournaled++;
      if (input.journalComplete) acked.push(`${key}: applied (${events.map(describe).join(', ')}) but not in the journal`);
    }
  }
  const unknowns = input.commands.filter((c) => c.retry !== undefined);
  const became = (b: Retry['became']) => unknowns.filter((c) => c.retry!.became === b).length;
  const unresolved = unknowns.filter((c) => c.retry!.became === 'unresolved').map((c) => `${c.key} (${c.type}): still no answer (${c.retry!.error ?? ''})`);
  return [
    check('acknowledged_once', acked, `${ackedCount} acknowledged commands, ${ackedEvents} events, each in $all exactly once` +
      (unjournaled > 0 && !input.journalComplete ? `; ${unjournaled} commands of this run applied but not journaled (the journal has no end: the run was killed)` : '')),
    check('unknown_resolved', unresolved, `${unknowns.length} unknown outcomes retried with their key: ${became('applied_before')} had been applied, ` +
      `${became('applied_by_retry')} applied by the retry, ${became('refused')} refused, ${became('unresolved')} unresolved`),
    check('refused_no_events', refused, `${refusedCount} refused commands, none with an event`),
  ];
}

function moneyChecks(input: CheckInput, fold: Fold): Check[] {
  const conserved: string[] = [];
  for (const [id, sides] of fold.transfers) {
    if (!sides.sent || !sides.received) {
      conserved.push(`transfer ${short(id)}: ${sides.sent ? describe(sides.sent) : describe(sides.received!)} has no ${sides.sent ? 'TransferReceived' : 'TransferSent'}`);
    } else if (String(sides.sent.data['amount']) !== String(sides.received.data['amount']) || sides.sent.data['currency'] !== sides.received.data['currency']) {
      conserved.push(`transfer ${short(id)}: sent ${String(sides.sent.data['amount'])} ${String(sides.sent.data['currency'])}, received ${String(sides.received.data['amount'])} ${String(sides.received.data['currency'])}`);
    }
  }
  const folded = new Map<string, bigint>();
  for (const a of fold.accounts.values()) folded.set(a.currency, (folded.get(a.currency) ?? 0n) + a.balance);
  const api = new Map<string, bigint>();
  if (typeof input.readModel !== 'string') for (const a of input.readModel) api.set(a.currency, (api.get(a.currency) ?? 0n) + BigInt(a.balance));
  const currencies = [...new Set([...fold.totals.keys(), ...folded.keys(), ...api.keys()])].sort();
  const figures: string[] = [];
  for (const currency of currencies) {
    const t = fold.totals.get(currency) ?? { deposited: 0n, withdrawn: 0n, sent: 0n, received: 0n };
    const net = t.deposited - t.withdrawn;
    figures.push(`${currency}: deposited ${t.deposited} - withdrawn ${t.withdrawn} = ${net}; transfers ${t.sent} sent, ${t.received} received`);
    if ((folded.get(currency) ?? 0n) !== net) conserved.push(`${currency}: deposits - withdrawals = ${net}, the balances folded from $all add up to ${folded.get(currency) ?? 0n}`);
    if (typeof input.readModel !== 'string' && (api.get(currency) ?? 0n) !== net) {
      conserved.push(`${currency}: deposits - withdrawals = ${net}, the query API's balances add up to ${api.get(currency) ?? 0n}`);
    }
    if (t.sent !== t.received) conserved.push(`${currency}: transfers sent ${t.sent} != received ${t.received}`);
  }
  const negative = [...fold.negative];
  if (typeof input.readModel !== 'string') {
    for (const a of input.readModel) if (BigInt(a.balance) < 0n) negative.push(`${a.accountId}: the query API says ${a.balance}`);
  }
  for (const e of input.events) {
    if (MONEY_EVENTS.has(e.type) && typeof e.data['balanceAfter'] === 'string' && e.data['balanceAfter'].startsWith('-')) negative.push(`${describe(e)}: balanceAfter ${e.data['balanceAfter']}`);
  }
  const accounts = fold.accounts.size;
  return [
    check('money_conserved', conserved, figures.length === 0 ? 'no money moved' : figures.join('; ')),
    check('no_negative_balance', negative, `${accounts} accounts, none ever below zero`),
    check('balances_fold_history', [...fold.orderFailures, ...fold.foldFailures],
      `${input.events.length} events in $all, positions 1..${input.events.length}, every stream in version order, every balanceAfter = the fold of its history`),
  ];
}

function readModelCheck(input: CheckInput, fold: Fold): Check {
  if (typeof input.readModel === 'string') return check('read_model', [`the query API's accounts could not be read: ${input.readModel}`], 'not read');
  const failures: string[] = [];
  const seen = new Set<string>();
  for (const row of input.readModel) {
    seen.add(row.accountId);
    const f = fold.accounts.get(row.accountId);
    if (!f) {
      failures.push(`${row.accountId}: in the read model, not in $all`);
      continue;
    }
    const want = `balance ${f.balance} ${f.currency}, version ${f.version}, position ${f.position}`;
    const got = `balance ${row.balance} ${row.currency}, version ${row.version}, position ${row.globalPosition}`;
    if (want !== got) failures.push(`${row.accountId}: the query API says ${got}; $all folds to ${want}`);
  }
  for (const id of fold.accounts.keys()) if (!seen.has(id)) failures.push(`${id}: in $all, missing from the read model`);
  return check('read_model', failures, `${input.readModel.length} accounts in the query API, each = the fold of $all (balance, currency, version, position)`);
}

function busCheck(input: CheckInput): Check {
  if (input.bus === null) return { name: 'jetstream', status: 'not_checked', summary: 'no --nats given: the JetStream stream was not read', failures: [] };
  if (typeof input.bus === 'string') return check('jetstream', [`the stream could not be read: ${input.bus}`], 'not read');
  const { messages, stream } = input.bus;
  const failures: string[] = [];
  const seqsOf = new Map<string, number[]>();
  for (const m of messages) {
    if (m.eventId === undefined) {
      failures.push(`seq ${m.seq}: not an event`);
      continue;
    }
    if (m.msgId !== undefined && m.msgId !== m.eventId) failures.push(`seq ${m.seq}: Nats-Msg-Id ${m.msgId} but event ${m.eventId}`);
    seqsOf.set(m.eventId, [...(seqsOf.get(m.eventId) ?? []), m.seq]);
  }
  for (const [id, seqs] of seqsOf) if (seqs.length > 1) failures.push(`event ${id} is in the stream ${seqs.length} times (seq ${seqs.join(', ')})`);
  const inLog = new Set(input.events.map((e) => e.eventId));
  for (const e of input.events) if (!seqsOf.has(e.eventId)) failures.push(`${describe(e)} is not in the stream`);
  for (const id of seqsOf.keys()) if (!inLog.has(id)) failures.push(`event ${id} is in the stream, not in $all`);
  // Order: the stream's first copies, in sequence order, against $all's order.
  const firstCopies = messages.filter((m) => m.eventId !== undefined && seqsOf.get(m.eventId)![0] === m.seq && inLog.has(m.eventId)).map((m) => m);
  const logOrder = input.events.filter((e) => seqsOf.has(e.eventId));
  const at = logOrder.findIndex((e, i) => firstCopies[i]?.eventId !== e.eventId);
  if (at >= 0) failures.push(`order: the stream's event #${at + 1} is ${firstCopies[at]?.eventId ?? 'missing'} (seq ${firstCopies[at]?.seq ?? '-'}), $all's #${at + 1} is ${describe(logOrder[at]!)}`);
  return check('jetstream', failures, `stream ${stream}: ${messages.length} messages for ${input.events.length} events of $all, each once, in $all order`);
}

function auditCheck(input: CheckInput): Check {
  if (typeof input.audit === 'string') return check('chronicle_verify', [`could not run: ${input.audit}`], 'not run');
  return check('chronicle_verify', input.audit.ok ? [] : input.audit.findings, input.audit.summary);
}

export function checkConsistency(input: CheckInput): Verdict {
  const fold = foldLog(input.events);
  const checks = [...journalChecks(input), ...moneyChecks(input, fold), readModelCheck(input, fold), busCheck(input), auditCheck(input)];
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

/** The verdict as text: one line a check (PASS / FAIL / NOT CHECKED), its failures below, then the verdict. */
export function formatVerdict(verdict: Verdict): string[] {
  const lines: string[] = [];
  for (const c of verdict.checks) {
    const label = c.status === 'pass' ? 'PASS' : c.status === 'fail' ? 'FAIL' : 'NOT CHECKED';
    lines.push(`${label} ${c.name}: ${c.summary}`);
    for (const f of c.failures.slice(0, CONSISTENCY_FAILURES_SHOWN_MAX)) lines.push(`    - ${f}`);
    if (c.failures.length > CONSISTENCY_FAILURES_SHOWN_MAX) lines.push(`    … and ${c.failures.length - CONSISTENCY_FAILURES_SHOWN_MAX} more`);
  }
  const failed = verdict.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  const skipped = verdict.checks.filter((c) => c.status === 'not_checked').map((c) => c.name);
  lines.push(failed.length > 0
    ? `VERDICT: FAILED (${failed.length} of ${verdict.checks.length} checks: ${failed.join(', ')})`
    : `VERDICT: OK: every check holds${skipped.length > 0 ? ` (not checked: ${skipped.join(', ')})` : ''}`);
  return lines;
}
