// "Run under a lease, stand by otherwise, report to health": the relay, the read processor and the sealer
// each run in one process at a time (a lease: src/ports/lease.ts); the others wait as hot standbys, and
// /health says which this process is. A role whose lease went with its database connection stops and
// competes again. Without a lease (the in-process bus belongs to this process alone) the role just runs.
import type { Logger } from 'pino';
import type { HealthCheck } from '../http/build-app.js';
import type { Leases } from '../ports/lease.js';
import { isUnavailableError } from '../ports/unavailable.js';
import { abortableSleep } from '../lib/abortable-sleep.js';
import { OUTAGE_RETRY_MAX_MS, OUTAGE_RETRY_MIN_MS } from '../domain/limits.js';

/** Where a lease-holding role stands: asking for the first time, waiting behind another holder, holding, or lost with its connection. */
type LeaseState = 'starting' | 'standby' | 'held' | 'lost';

export interface LeasedRole {
  /** The lease to hold while running; null: no lease, it runs from the start. */
  lease: { leases: Leases; name: string } | null;
  log: Logger;
  /** What the log says on standing by, taking the lease, losing it, and the role failing for good. */
  messages: { standby: string; acquired: string; lost: string; stopped: string };
  /** Runs the role until the signal aborts (the lease lost, or the process closing). */
  run(signal: AbortSignal): Promise<void>;
  /** The role's health while it holds its lease (or runs without one); throws when it is down. */
  health(): Promise<Record<string, unknown>>;
}

/** Starts the role; its health goes in `components` under `component`, its stop in `cleanup`. */
export function runUnderLease(
  wiring: { cleanup: (() => Promise<void>)[]; components: Record<string, HealthCheck> }, component: string, role: LeasedRole,
): void {
  const stop = new AbortController();
  let lease: LeaseState = 'starting';
  const { log, messages } = role;
  const run = role.lease
    ? role.lease.leases.keep(role.lease.name, {
      signal: stop.signal,
      onStandby: () => {
        lease = 'standby';
        log.info(messages.standby);
      },
      onAcquired: () => {
        lease = 'held';
        log.info(messages.acquired);
      },
      onLost: (error) => {
        lease = 'lost';
        log.warn({ err: error }, messages.lost);
      },
    }, (held) => role.run(held))
    : role.run(stop.signal);
  const done = run.catch((error: unknown) => log.fatal({ err: error }, messages.stopped));
  wiring.cleanup.push(async () => {
    stop.abort();
    await done;
  });
  wiring.components[component] = async () => {
    if (lease === 'standby') return { state: 'standby' };
    if (lease === 'lost') throw new Error('its lease was lost with the database connection: taking it again');
    return role.health();
  };
}

/** Resolves when the signal aborts. */
export const untilAborted = (signal: AbortSignal) => new Promise<void>((resolve) => {
  if (signal.aborted) resolve();
  else signal.addEventListener('abort', () => resolve(), { once: true });
});

/**
 * Runs fn until it succeeds (true) or the signal aborts (false), retrying outages of the database or the bus
 * (src/ports/unavailable.ts) with backoff; any other error is thrown.
 */
export async function retryUnavailable(signal: AbortSignal, fn: () => Promise<void>, onError: (error: unknown) => void): Promise<boolean> {
  let delayMs = OUTAGE_RETRY_MIN_MS;
  while (!signal.aborted) {
    try {
      await fn();
      return true;
    } catch (error) {
      if (!isUnavailableError(error)) throw error;
      onError(error);
      await abortableSleep(delayMs, signal);
      delayMs = Math.min(delayMs * 2, OUTAGE_RETRY_MAX_MS);
    }
  }
  return false;
}
