// What an aggregate type is, Emmett's way: a pure decider (decide, evolve, initialState) plus what the generic
// command handler and repository need to store it (stream ids, event and snapshot codecs). Accounts are one
// such value (src/domain/account/aggregate.ts); adding an aggregate type means writing another, and a route.
import type { Rejection } from './rejections.js';

/**
 * A command may touch several aggregates of one type (a transfer: two accounts), all of them or none: decide()
 * is given the state of every aggregate the command names and returns the events of each, both by aggregate id.
 */
export type Decision<Event> =
  | { ok: true; events: ReadonlyMap<string, readonly Event[]> }
  | { ok: false; rejection: Rejection };

export interface Decider<Command, Event, State> {
  /** Pure: no clock, no ids, no I/O. `states` holds every aggregate that aggregateIdsOf(command) names. */
  decide(command: Command, states: ReadonlyMap<string, State>): Decision<Event>;
  /** The only way state changes. Trusts the events: they were decided against this state. */
  evolve(state: State, event: Event): State;
  /** The state of an aggregate without events. */
  initialState(): State;
}

/** Events as stored: JSON data, a type name and the schema version of the data's shape. */
export interface EventCodec<Event> {
  /** Written with each new event (event_schema_version); bumped when an event's data changes shape. */
  schemaVersion: number;
  encode(event: Event): { type: string; data: Record<string, unknown> };
  /** `schemaVersion` is the one the event was written at: where an older shape is upcast. */
  decode(type: string, data: Record<string, unknown>, schemaVersion: number): Event;
}

/** States as snapshotted. A snapshot of another schema version is ignored: the stream is folded instead. */
export interface SnapshotCodec<State> {
  schemaVersion: number;
  encode(state: State): Record<string, unknown>;
  decode(json: Record<string, unknown>): State;
}

/**
 * An aggregate type, registered with the command handler. `Request` is a command as a client sends it, and
 * `Command` the same once the application has minted the ids it needs (withIds).
 */
export interface Aggregate<Request extends { type: string }, Command extends { type: string }, Event, State>
  extends Decider<Command, Event, State> {
  /** Stored with every stream and event of this type (aggregate_type). */
  readonly name: string;
  /** The command types it decides. The handler picks the aggregate by them, so no two aggregates share one. */
  readonly commandTypes: readonly Command['type'][];
  streamId(aggregateId: string): string;
  /**
   * The command with the ids the application mints for it (a transfer's transferId). Called after the
   * idempotency check, so a replay mints nothing and a request's fingerprint never holds a minted id; and
   * before aggregateIdsOf, so an aggregate's own id may be minted here.
   */
  withIds(request: Request, newId: () => string): Command;
  /** Every aggregate the command reads or writes (duplicates are harmless). */
  aggregateIdsOf(command: Command): readonly string[];
  /**
   * Whether the command opens new aggregates: then it is decided without a read, on the initial (or a cached)
   * state, and appended expecting no stream. An aggregate that exists after all makes the append conflict,
   * and the command is decided again on the state read under lock.
   */
  opens?(command: Command): boolean;
  events: EventCodec<Event>;
  /** Absent: never snapshotted. */
  snapshots?: SnapshotCodec<State>;
  /**
   * What an accepted command's receipt says of the aggregates it wrote, by aggregate id, once its events
   * applied (accounts: `balances`). Stored with an idempotency key and replayed as stored: part of the API.
   */
  receipt?(states: ReadonlyMap<string, State>): Record<string, unknown>;
}

/** Any aggregate type: what the handler and the repository hold, as they never look inside one. */
export type AnyAggregate = Aggregate<any, any, any, any>;
