// Leases: one holder at a time of a named role (the relay of a stream, the read processor of a projection,
// the sealer), across processes; the others stand by and take over when the holder goes. One adapter: a
// PostgreSQL session-level advisory lock (src/adapters/event-store/sql/lease.ts). Not a fencing token.

export interface LeaseCallbacks {
  /** Once, when the lease is held by another process and this one starts waiting. */
  onStandby?: () => void;
  /** Each time this process takes the lease (again). */
  onAcquired?: () => void;
  /** The lease was lost (its connection went) or could not be asked for: this process competes again. */
  onLost?: (error: unknown) => void;
}

export interface Leases {
  /**
   * Holds the lease `name` whenever it can until `signal` aborts, running `fn(held)` each time it holds it.
   * `held` aborts when the lease is lost (or on `signal`); fn must then return, and is waited for before the
   * lease is asked for again. Outages are retried with backoff; any other error ends it (rejects).
   */
  keep(name: string, options: LeaseCallbacks & { signal: AbortSignal }, fn: (held: AbortSignal) => Promise<void>): Promise<void>;
}
