// The one command handler: load → decide → append, for every aggregate type registered with it
// (src/domain/decider.ts; accounts: src/domain/account/aggregate.ts). It never looks inside a command, an
// event or a state: it names the streams a command touches, loads their states, asks the decider, and appends
// what it decided, each stream expected at the version it was decided at, all of them atomically.
//
// Commands on the same streams are serialised in this process (KeyedLock), so the only conflicts left come
// from other processes writing the same streams; a command that meets one runs again on fresh state with the
// streams locked in the database, where it cannot lose again.
//
// Group commit (many commands in one transaction) slots in behind EventStore.append: it already takes
// several streams in one atomic call, and nothing here or in the domain would change.
import { createHash } from 'node:crypto';
import type { AnyAggregate } from '../domain/decider.js';
import { COMMAND_CONFLICT_RETRIES_MAX } from '../domain/limits.js';
import type { Rejection } from '../domain/rejections.js';
import type { AppendSuccess, EventStore, StoredIdempotency, StreamAppend } from '../ports/event-store.js';
import type { IdGenerator } from '../ports/ids.js';
import type { AggregateRepository, Loaded } from './aggregate-repository.js';
import { KeyedLock } from './keyed-lock.js';

/** A command as a client sends it, parsed: its type picks the aggregate that decides it. */
export interface CommandRequest {
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface CommandContext {
  correlationId: string;
  clientAddress?: string;
  /** Who issued it: the API key's principal (`key:<id>`), `anonymous` without authentication. Scopes idempotencyKey. */
  actor: string;
  idempotencyKey?: string;
}

export interface CommandReceipt {
  commandId: string;
  commandType: string;
  eventIds: string[];
  streams: { streamId: string; version: number }[];
  /** The highest global position written: what a reader waits for to read its own write. */
  globalPosition: number;
  transactionId: string;
  recordedAt: string;
  /** What the aggregate type's receipt() adds (accounts: `balances`, by account id). */
  [field: string]: unknown;
}

export type CommandOutcome =
  | { kind: 'accepted'; receipt: CommandReceipt; replayed: boolean }
  | { kind: 'rejected'; rejection: Rejection }
  | { kind: 'idempotency_key_reused'; key: string }
  | { kind: 'conflict'; streamId: string; attempts: number };

export interface CommandHandlerDeps {
  store: EventStore;
  repository: AggregateRepository;
  ids: IdGenerator;
  /** The aggregate types it decides for; more may be added with register(). */
  aggregates?: readonly AnyAggregate[];
  /** Bound on commands queued behind one stream. */
  lockWaitersMax: number;
  /** Called once per command with its outcome and duration, for metrics. */
  observe?: (commandType: string, outcome: CommandOutcome, durationMs: number) => void;
}

/** One aggregate a command touches, named once: its id is what the decider speaks of, its stream what the store does. */
interface Target {
  aggregateId: string;
  streamId: string;
}

type Attempt = CommandOutcome | { kind: 'retry'; streamId: string } | { kind: 'key_taken' };

export class CommandHandler {
  private readonly lock: KeyedLock;
  private readonly aggregates = new Map<string, AnyAggregate>();

  constructor(private readonly deps: CommandHandlerDeps) {
    this.lock = new KeyedLock(deps.lockWaitersMax);
    for (const aggregate of deps.aggregates ?? []) this.register(aggregate);
  }

  /** Adds an aggregate type: its commands are decided by it from now on. */
  register(aggregate: AnyAggregate): void {
    for (const type of aggregate.commandTypes) {
      const other = this.aggregates.get(type);
      if (other) throw new Error(`command type ${type} of ${aggregate.name} is decided by ${other.name} already`);
    }
    for (const type of aggregate.commandTypes) this.aggregates.set(type, aggregate);
  }

  async execute(request: CommandRequest, context: CommandContext): Promise<CommandOutcome> {
    const started = performance.now();
    const outcome = await this.run(request, context);
    this.deps.observe?.(request.type, outcome, performance.now() - started);
    return outcome;
  }

  private async run(request: CommandRequest, context: CommandContext): Promise<CommandOutcome> {
    const aggregate = this.aggregates.get(request.type);
    if (!aggregate) throw new Error(`no aggregate decides command type ${request.type}`);
    const key = context.idempotencyKey;
    const requestHash = key === undefined ? undefined : fingerprint(request);
    if (key !== undefined) {
      const stored = await this.findKey(key, context.actor);
      if (stored) return replay(stored, requestHash!, key);
    }
    // Ids are minted here: after the idempotency check (a replay mints none, and no fingerprint holds one),
    // and before the streams are named (an aggregate's own id may be minted).
    const command: unknown = aggregate.withIds(request, () => this.deps.ids.newId());
    const targets = targetsOf(aggregate, command);
    const streamIds = targets.map((t) => t.streamId);
    return this.lock.run(streamIds, async () => {
      // First optimistically: cached state, no lock in the database. A conflict means another process wrote
      // these streams; then again under row locks on fresh state, which nothing can overtake, so the bound
      // is only a backstop.
      let attempt = await this.attempt(aggregate, command, context, targets, this.deps.store, requestHash);
      for (let n = 2; attempt.kind === 'retry'; n++) {
        for (const streamId of streamIds) this.deps.repository.forget(streamId);
        if (n > COMMAND_CONFLICT_RETRIES_MAX) return { kind: 'conflict', streamId: attempt.streamId, attempts: n - 1 };
        attempt = await this.deps.store.exclusive(streamIds, (locked) => this.attempt(aggregate, command, context, targets, locked, requestHash));
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
    aggregate: AnyAggregate, command: unknown, context: CommandContext, targets: Target[], store: EventStore, requestHash: string | undefined,
  ): Promise<Attempt> {
    const key = context.idempotencyKey;
    const optimistic = store === this.deps.store;
    const { repository } = this.deps;
    // A command that opens aggregates needs no read: the append expects no stream, and conflicts if one exists.
    let loaded = optimistic && aggregate.opens?.(command) === true
      ? new Map(targets.map((t): [string, Loaded<unknown>] =>
        [t.aggregateId, repository.cached(t.streamId) ?? { state: aggregate.initialState(), version: 0, fromCache: false }]))
      : await this.loadAll(aggregate, targets, store, false);
    let decision = aggregate.decide(command, statesOf(loaded));
    if (!decision.ok && [...loaded.values()].some((a) => a.fromCache)) {
      // Never refuse on a cached state: another process may have changed the aggregate. If any version
      // moved, decide again on fresh state.
      const stale = await repository.anyStale(targets.map((t) => [t.streamId, loaded.get(t.aggregateId)!.version]), store);
      if (stale) {
        loaded = await this.loadAll(aggregate, targets, store, true);
        decision = aggregate.decide(command, statesOf(loaded));
      }
    }
    if (!decision.ok) return { kind: 'rejected', rejection: decision.rejection };

    const commandId = this.deps.ids.newId();
    const streamOf = new Map(targets.map((t) => [t.aggregateId, t.streamId]));
    // In the decider's order: the order of the streams in the append, and so in the receipt.
    const writes = [...decision.events].filter(([, events]) => events.length > 0).map(([aggregateId, events]: [string, readonly unknown[]]) => {
      const streamId = streamOf.get(aggregateId);
      const before = loaded.get(aggregateId);
      if (streamId === undefined || before === undefined) {
        throw new Error(`the ${aggregate.name} decider wrote ${aggregateId}, which the command does not name`);
      }
      return { aggregateId, streamId, before, events, after: events.reduce(aggregate.evolve, before.state) };
    });
    if (writes.length === 0) throw new Error(`the ${aggregate.name} decider accepted ${(command as CommandRequest).type} without an event`);
    const commandPart = {
      commandId,
      commandType: (command as CommandRequest).type,
      ...aggregate.receipt?.(new Map(writes.map((w) => [w.aggregateId, w.after]))),
    };
    const streams: StreamAppend[] = writes.map((w) => ({
      streamId: w.streamId,
      aggregateType: aggregate.name,
      expectedVersion: w.before.version === 0 ? 'no_stream' : w.before.version,
      events: w.events.map((event) => ({
        ...aggregate.events.encode(event),
        eventId: this.deps.ids.newId(),
        schemaVersion: aggregate.events.schemaVersion,
        metadata: {
          correlationId: context.correlationId,
          causationId: commandId,
          commandType: commandPart.commandType,
          ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }),
        },
      })),
    }));
    const result = await store.append({
      streams,
      createdBy: context.actor,
      ...(key === undefined ? {} : { idempotency: { key: scopedIdempotencyKey(context.actor, key), requestHash: requestHash!, result: commandPart } }),
    });
    if (result.ok) {
      for (const w of writes) {
        await repository.appended(aggregate, w.streamId, w.after, w.before.version, w.before.version + w.events.length, store);
      }
      return { kind: 'accepted', receipt: receiptOf(commandPart, result), replayed: false };
    }
    if (result.reason === 'version_conflict') return { kind: 'retry', streamId: result.streamId };
    if (result.reason === 'idempotency_key_exists') return { kind: 'key_taken' };
    throw new Error(`freshly generated event ids already stored (${optimistic ? 'optimistic' : 'locked'}): ${result.eventIds.join(', ')}`);
  }

  /**
   * The caller's stored key: the principal-scoped one, else a key stored before keys were scoped (bare,
   * shared by every principal) if its events were written by this same principal. A bare key of another
   * principal is not the caller's: its command runs (and is stored scoped), and nothing of the other's leaks.
   */
  private async findKey(key: string, actor: string): Promise<StoredIdempotency | null> {
    // A scoped key holds a space, a bare one none: the key found says which it is.
    const stored = await this.deps.store.findIdempotencyKey(scopedIdempotencyKey(actor, key), key);
    if (stored === null || stored.key !== key) return stored;
    const first = stored.result.append.events[0];
    if (first === undefined) return null;
    const slice = await this.deps.store.readStream(first.streamId, { fromVersion: first.streamVersion, count: 1, direction: 'forward' });
    return slice.events[0]?.createdBy === actor ? stored : null;
  }

  private async loadAll(aggregate: AnyAggregate, targets: Target[], from: EventStore, bypassCache: boolean): Promise<Map<string, Loaded<unknown>>> {
    // One after another: inside EventStore.exclusive there is one connection, and it takes one query at a time.
    const loaded = new Map<string, Loaded<unknown>>();
    for (const t of targets) loaded.set(t.aggregateId, await this.deps.repository.load(aggregate, t.streamId, { bypassCache, from }));
    return loaded;
  }
}

/** The aggregates a command names, each once, in stream id order: the order locks are taken in (no deadlocks). */
function targetsOf(aggregate: AnyAggregate, command: unknown): Target[] {
  const ids: readonly string[] = aggregate.aggregateIdsOf(command);
  return [...new Set(ids)]
    .map((aggregateId) => ({ aggregateId, streamId: aggregate.streamId(aggregateId) }))
    .sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
}

const statesOf = (loaded: Map<string, Loaded<unknown>>): Map<string, unknown> =>
  new Map([...loaded].map(([aggregateId, { state }]) => [aggregateId, state]));

function receiptOf(command: { commandId: string; commandType: string }, append: AppendSuccess): CommandReceipt {
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
  const command = stored.result.command as { commandId: string; commandType: string };
  return { kind: 'accepted', receipt: receiptOf(command, stored.result.append), replayed: true };
}

/**
 * What makes two requests "the same" for an idempotency key: the request as the client sent it, parsed (so
 * 50 and "50" are one amount). It holds no minted id: those are minted after the check.
 */
export function fingerprint(request: CommandRequest): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(request).sort(([a], [b]) => a.localeCompare(b))),
    (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return createHash('sha256').update(canonical).digest('hex');
}
