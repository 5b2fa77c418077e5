// load → decide → append, with retry on a version conflict. Commands on the same accounts are serialised in
// this process (KeyedLock), so the only conflicts left come from other processes writing the same accounts;
// those are retried with the freshly loaded state, up to a bound.
//
// Group commit (many commands in one transaction) slots in behind EventStore.append: it already takes
// several streams in one atomic call, and nothing here or in the domain would change.
import { createHash } from 'node:crypto';
import type { LedgerCommand } from '../domain/account/commands.js';
import { accountsOf, decide } from '../domain/account/decide.js';
import {
  ACCOUNT_AGGREGATE, ACCOUNT_EVENT_SCHEMA_VERSION, accountStreamId, encodeAccountEvent, type AccountEvent,
} from '../domain/account/events.js';
import { evolveAccount, type AccountState } from '../domain/account/state.js';
import { COMMAND_CONFLICT_RETRIES_MAX } from '../domain/limits.js';
import type { Rejection } from '../domain/rejections.js';
import type { AppendSuccess, EventStore, StoredIdempotency, StreamAppend } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import type { AccountRepository, LoadedAccount } from './account-repository.js';
import { KeyedLock } from './keyed-lock.js';

export interface CommandContext {
  correlationId: string;
  clientAddress?: string;
  /** Who issued it; unauthenticated until access control lands. */
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
  observe?: (outcome: CommandOutcome['kind'], durationMs: number) => void;
}

export class CommandHandler {
  private readonly lock: KeyedLock;

  constructor(private readonly deps: CommandHandlerDeps) {
    this.lock = new KeyedLock(deps.lockWaitersMax);
  }

  async execute(command: LedgerCommand, context: CommandContext): Promise<CommandOutcome> {
    const started = performance.now();
    const outcome = await this.run(command, context);
    this.deps.observe?.(outcome.kind, performance.now() - started);
    return outcome;
  }

  private async run(command: LedgerCommand, context: CommandContext): Promise<CommandOutcome> {
    const key = context.idempotencyKey;
    const requestHash = key === undefined ? undefined : fingerprint(command);
    if (key !== undefined) {
      const stored = await this.deps.store.findIdempotencyKey(key);
      if (stored) return replay(stored, requestHash!);
    }
    const accountIds = accountsOf(command);
    return this.lock.run(accountIds.map(accountStreamId), async () => {
      for (let attempt = 1; attempt <= COMMAND_CONFLICT_RETRIES_MAX; attempt++) {
        const loaded = await this.loadAll(accountIds, false);
        let decision = decide(command, statesOf(loaded));
        if (!decision.ok && [...loaded.values()].some((a) => a.fromCache)) {
          // Never refuse on a cached state: another process may have changed the account. Look again.
          const fresh = await this.loadAll(accountIds, true);
          loaded.clear();
          for (const [id, account] of fresh) loaded.set(id, account);
          decision = decide(command, statesOf(loaded));
        }
        if (!decision.ok) return { kind: 'rejected', rejection: decision.rejection };

        const commandId = this.deps.ids.newId();
        const balances = balancesAfter(loaded, decision.events);
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
        const result = await this.deps.store.append({
          streams,
          createdBy: context.actor,
          ...(key === undefined ? {} : { idempotency: { key, requestHash: requestHash!, result: commandPart } }),
        });
        if (result.ok) {
          for (const [streamId, events] of decision.events) {
            const accountId = accountIdOf(streamId);
            const before = loaded.get(accountId)!;
            const state = events.reduce(evolveAccount, before.state);
            await this.deps.accounts.appended(accountId, state, before.version, before.version + events.length);
          }
          return { kind: 'accepted', receipt: receiptOf(commandPart, result), replayed: false };
        }
        if (result.reason === 'version_conflict') {
          for (const accountId of accountIds) this.deps.accounts.forget(accountId);
          if (attempt === COMMAND_CONFLICT_RETRIES_MAX) return { kind: 'conflict', streamId: result.streamId, attempts: attempt };
          continue;
        }
        if (result.reason === 'idempotency_key_exists') {
          const stored = await this.deps.store.findIdempotencyKey(key!);
          if (!stored) throw new Error(`idempotency key ${key} reported as existing but not found`);
          return replay(stored, requestHash!);
        }
        throw new Error(`freshly generated event ids already stored: ${result.eventIds.join(', ')}`);
      }
      throw new Error('unreachable: the retry loop returns on its last attempt');
    });
  }

  private async loadAll(accountIds: string[], bypassCache: boolean): Promise<Map<string, LoadedAccount>> {
    const loaded = await Promise.all(accountIds.map((id) => this.deps.accounts.load(id, { bypassCache })));
    return new Map(accountIds.map((id, i) => [id, loaded[i]!]));
  }
}

const accountIdOf = (streamId: string) => streamId.slice(accountStreamId('').length);

const statesOf = (loaded: Map<string, LoadedAccount>): Map<string, AccountState> =>
  new Map([...loaded].map(([id, account]) => [id, account.state]));

function balancesAfter(loaded: Map<string, LoadedAccount>, events: ReadonlyMap<string, AccountEvent[]>): Record<string, string> {
  const balances: Record<string, string> = {};
  for (const [streamId, streamEvents] of events) {
    const accountId = accountIdOf(streamId);
    const state = streamEvents.reduce(evolveAccount, loaded.get(accountId)!.state);
    if (state.status === 'open') balances[accountId] = state.balance.toString();
  }
  return balances;
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

function replay(stored: StoredIdempotency, requestHash: string): CommandOutcome {
  if (stored.requestHash !== requestHash) return { kind: 'idempotency_key_reused', key: stored.key };
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
