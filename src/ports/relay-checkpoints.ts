// Where the outbox relay keeps its position (src/application/relay.ts), and how far the event log runs
// ahead of a position. Adapters: SQL, beside the events (src/adapters/event-bus/relay-checkpoints/), and
// MemoryRelayCheckpoints (src/application/relay.ts) for a bus that is itself volatile.

export interface RelayCheckpointStore {
  /** The position saved under `name`; null when none was. */
  load(name: string): Promise<number | null>;
  save(name: string, position: number): Promise<void>;
}

/**
 * Events of `$all` after `position`, counted up to `max` (then: at least that many), as readAll would list
 * them: the relay's and the read model's lag. The SQL adapter counts without reading the events.
 */
export type CountEventsAfter = (position: number, max: number) => Promise<number>;
