// load → decide → append. Commands on the same accounts are serialised in this process (KeyedLock), so the
// only conflicts left come from other processes writing the same accounts; a command that meets one runs
// again on fresh state with the streams locked in the database, where it cannot lose again.
//
// Group commit (many commands in one transaction) slots in behind EventStore.append: it already takes
// several streams in one atomic call, and nothing here or in the domain would change.
import { createHash } from 'node:crypto';
import type { LedgerCommand } from '../domain/account/commands.js';
import { accountsOf, decide } from '../domain/account/decide.js';
import {
  ACCOUNT_AGGREGATE, ACCOUNT_EVENT_SCHEMA_VERSION, accountIdOfStream, accountStreamId, encodeAccountEvent, type AccountEvent,
} from '../domain/account/events.js';
import { evolveAccount, initialAccountState, type AccountState } from '../domain/account/state.js';
import { COMMAND_CONFLICT_RETRIES_MAX } from '../domain/limits.js';
import { reject, type Rejection } from '../domain/rejections.js';
import type { AppendSuccess, EventStore, StoredIdempotency, StreamAppend } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import type { AccountRepository, LoadedAccount } from './account-repository.js';
import { KeyedLock } from './keyed-lock.js';

export interface CommandContext {
  correlationId: string;
  clientAddress?: string;
  /** Who issued it: the API key's principal (`key:<id>`), `anonymous` without authentication. Scopes idempotencyKey. */
  actor: string;
  idempotencyKey?: string;
}

export interface CommandReceipt {
  commandId: string;
  commandType: LedgerCommand['type'];
  eventIds: string[];
  streams: { streamId: string; version: number }[];
  /** The highest global position written: what a reader waits for to read its own write. */
  globalPosition: number;
  transactionId: string;
  recordedAt: string;
  /** Balance of every account touched, once the command applied (minor units, decimal string). */
  balances: Record<string, string>;
}

export type CommandOutcome =
  | { kind: 'accepted'; receipt: CommandReceipt; replayed: boolean }
  | { kind: 'rejected'; rejection: Rejection }
  | { kind: 'idempotency_key_reused'; key: string }
  | { kind: 'conflict'; streamId: string; attempts: number };

export interface CommandHandlerDeps {
  store: EventStore;
  accounts: AccountRepository;
  ids: IdGenerator;
  /** Bound on commands queued behind one account. */
  lockWaitersMax: number;
  /** Called once per command with its outcome and duration, for metrics. */
  observe?: (command: LedgerCommand['type'], outcome: CommandOutcome, durationMs: number) => void;
}

export class CommandHandler {
  private readonly lock: KeyedLock;

  constructor(private readonly deps: CommandHandlerDeps) {
    this.lock = new KeyedLock(deps.lockWaitersMax);
  }

  async execute(command: LedgerCommand, context: CommandContext): Promise<CommandOutcome> {
    const started = performance.now();
    const outcome = await this.run(command, context);
    this.deps.observe?.(command.type, outcome, performance.now() - started);
    return outcome;
  }

  private async run(command: LedgerCommand, context: CommandContext): Promise<CommandOutcome> {
    const key = context.idempotencyKey;
    const requestHash = key === undefined ? undefined : fingerprint(command);
    if (key !== undefined) {
      const stored = await this.findKey(key, context.actor);
      if (stored) return replay(stored, requestHash!, key);
    }
    const accountIds = accountsOf(command);
    const streamIds = accountIds.map(accountStreamId);
    return this.lock.run(streamIds, async () => {
      // First optimistically: cached state, no lock in the database. A conflict means another process wrote
      // these accounts; then again under row locks on fresh state, which nothing can overtake, so the bound
      // is only a backstop.
      let attempt = await this.attempt(command, context, accountIds, this.deps.store, requestHash);
      for (let n = 2; attempt.kind === 'retry'; n++) {
        for (const accountId of accountIds) this.deps.accounts.forget(accountId);
        if (n > COMMAND_CONFLICT_RETRIES_MAX) return { kind: 'conflict', streamId: attempt.streamId, attempts: n - 1 };
        attempt = await this.deps.store.exclusive(streamIds, (locked) => this.attempt(command, context, accountIds, locked, requestHash));
      }
      if (attempt.kind === 'key_taken') {
        // The same key committed concurrently (ours rolled back): answer as that request did.
        const stored = await this.deps.store.findIdempotencyKey(scopedIdempotencyKey(context.actor, key!));
        if (!stored) throw new Error(`idempotency key ${key} reported as existing but not found`);
        return replay(stored, requestHash!, key!);
      }
      return attempt;
    });
  }

  private async attempt(
    command: LedgerCommand, context: CommandContext, accountIds: string[], store: EventStore, requestHash: string | undefined,
  ): Promise<CommandOutcome | { kind: 'retry'; streamId: string } | { kind: 'key_taken' }> {
    const key = context.idempotencyKey;
    const optimistic = store === this.deps.store;
    // Opening an account needs no read: the append expects no stream, and the store refuses it if one exists.
    const loaded = command.type === 'CreateAccount' && optimistic
      ? new Map([[command.accountId, this.deps.accounts.cached(command.accountId) ?? { state: initialAccountState(), version: 0, fromCache: false }]])
      : await this.loadAll(accountIds, store, false);
    let decision = decide(command, statesOf(loaded));
    if (!decision.ok && [...loaded.values()].some((a) => a.fromCache)) {
      // Never refuse on a cached state: another process may have changed the account. If any version moved,
      // decide again on fresh state.
      const stale = await this.deps.accounts.anyStale([...loaded].map(([id, a]) => [id, a.version]), store);
      if (stale) {
        const fresh = await this.loadAll(accountIds, store, true);
        loaded.clear();
        for (const [id, account] of fresh) loaded.set(id, account);
        decision = decide(command, statesOf(loaded));
      }
    }
    if (!decision.ok) return { kind: 'rejected', rejection: decision.rejection };

    const commandId = this.deps.ids.newId();
    const after = statesAfter(loaded, decision.events);
    const balances = Object.fromEntries([...after].flatMap(([accountId, state]) =>
      state.status === 'open' ? [[accountId, state.balance.toString()]] : []));
    const streams: StreamAppend[] = [...decision.events].map(([streamId, events]) => {
      const version = loaded.get(accountIdOf(streamId))!.version;
      return {
        streamId,
        aggregateType: ACCOUNT_AGGREGATE,
        expectedVersion: version === 0 ? 'no_stream' : version,
        events: events.map((event) => ({
          ...encodeAccountEvent(event),
          eventId: this.deps.ids.newId(),
          schemaVersion: ACCOUNT_EVENT_SCHEMA_VERSION,
          metadata: {
            correlationId: context.correlationId,
            causationId: commandId,
            commandType: command.type,
            ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }),
          },
        })),
      };
    });
    const commandPart = { commandId, commandType: command.type, balances };
    const result = await store.append({
      streams,
      createdBy: context.actor,
      ...(key === undefined ? {} : { idempotency: { key: scopedIdempotencyKey(context.actor, key), requestHash: requestHash!, result: commandPart } }),
    });
    if (result.ok) {
      for (const [streamId, events] of decision.events) {
        const accountId = accountIdOf(streamId);
        const before = loaded.get(accountId)!;
        await this.deps.accounts.appended(accountId, after.get(accountId)!, before.version, before.version + events.length, store);
      }
      return { kind: 'accepted', receipt: receiptOf(commandPart, result), replayed: false };
    }
    if (result.reason === 'version_conflict') {
      if (command.type === 'CreateAccount') {
        return { kind: 'rejected', rejection: reject('account_already_exists', `account ${command.accountId} already exists`, { accountId: command.accountId }) };
      }
      return { kind: 'retry', streamId: result.streamId };
    }
    if (result.reason === 'idempotency_key_exists') return { kind: 'key_taken' };
    throw new Error(`freshly generated event ids already stored (${optimistic ? 'optimistic' : 'locked'}): ${result.eventIds.join(', ')}`);
  }

  /**
   * The caller's stored key: the principal-scoped one, else a key stored before keys were scoped (bare,
   * shared by every principal) if its events were written by this same principal. A bare key of another
   * principal is not the caller's: its command runs (and is stored scoped), and nothing of the other's leaks.
   */
  private async findKey(key: string, actor: string): Promise<StoredIdempotency | null> {
    const scoped = await this.deps.store.findIdempotencyKey(scopedIdempotencyKey(actor, key));
    if (scoped) return scoped;
    const legacy = await this.deps.store.findIdempotencyKey(key);
    if (!legacy) return null;
    const first = legacy.result.append.events[0];
    if (first === undefined) return null;
    const slice = await this.deps.store.readStream(first.streamId, { fromVersion: first.streamVersion, count: 1, direction: 'forward' });
    return slice.events[0]?.createdBy === actor ? legacy : null;
  }

  private async loadAll(accountIds: string[], from: EventStore, bypassCache: boolean): Promise<Map<string, LoadedAccount>> {
    // One after another: inside EventStore.exclusive there is one connection, and it takes one query at a time.
    const loaded: LoadedAccount[] = [];
    for (const id of accountIds) loaded.push(await this.deps.accounts.load(id, { bypassCache, from }));
    return new Map(accountIds.map((id, i) => [id, loaded[i]!]));
  }
}

const accountIdOf = (streamId: string) => accountIdOfStream(streamId)!; // every stream here is an account's

const statesOf = (loaded: Map<string, LoadedAccount>): Map<string, AccountState> =>
  new Map([...loaded].map(([id, account]) => [id, account.state]));

/** Each touched account's state once its events apply, by account id. */
function statesAfter(loaded: Map<string, LoadedAccount>, events: ReadonlyMap<string, AccountEvent[]>): Map<string, AccountState> {
  return new Map([...events].map(([streamId, streamEvents]) => {
    const accountId = accountIdOf(streamId);
    return [accountId, streamEvents.reduce(evolveAccount, loaded.get(accountId)!.state)];
  }));
}

function receiptOf(
  command: { commandId: string; commandType: LedgerCommand['type']; balances: Record<string, string> },
  append: AppendSuccess,
): CommandReceipt {
  return {
    ...command,
    eventIds: append.events.map((e) => e.eventId),
    streams: append.streams,
    globalPosition: Math.max(...append.events.map((e) => e.globalPosition)),
    transactionId: append.transactionId,
    recordedAt: append.recordedAt,
  };
}

/**
 * How an Idempotency-Key is stored: qualified by the principal that sent it (`key:<id>`, or `anonymous` with
 * authentication off), so one principal's key never answers, or reveals, another's. A space separates them:
 * keys are printable ASCII without spaces (src/http/schemas.ts), so no bare key stored before scoping
 * (issue 10) can equal a scoped one. Composed here rather than in a column: no schema migration.
 */
export const scopedIdempotencyKey = (actor: string, key: string): string => `${actor} ${key}`;

function replay(stored: StoredIdempotency, requestHash: string, key: string): CommandOutcome {
  if (stored.requestHash !== requestHash) return { kind: 'idempotency_key_reused', key };
  const command = stored.result.command as { commandId: string; commandType: LedgerCommand['type']; balances: Record<string, string> };
  return { kind: 'accepted', receipt: receiptOf(command, stored.result.append), replayed: true };
}

/** What makes two requests "the same" for an idempotency key: the command, minus ids we generate. */
export function fingerprint(command: LedgerCommand): string {
  const { transferId: _generated, ...fields } = command as LedgerCommand & { transferId?: string };
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(fields).sort(([a], [b]) => a.localeCompare(b))),
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return createHash('sha256').update(canonical).digest('hex');
}
