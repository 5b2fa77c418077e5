// Watches for the one thing that can stall the whole log: a transaction holding the log head (event store
// migration 7) for long. Every append takes its positions from that row as its last step and holds it to
// COMMIT, so a normal holder keeps it for milliseconds; one that keeps it open (a stuck session, an operator's
// open transaction in psql that touched it) makes every appender wait, and every follower of `$all` with
// them: nothing new commits. (A long transaction that appends nothing no longer stalls anything: $all is
// read by position, with no xmin horizon.) Nothing would show it otherwise: /health answers, lag is 0.
// So: a gauge, /health `degraded` past the bound, and a warning naming the blocking backend's pid and age.
import type { AppendBlocker } from '../ports/event-store.js';
import { abortableSleep } from './abortable-sleep.js';

export interface AppendStallMonitorOptions {
  /** How often the holder is looked up. */
  intervalMs: number;
  /** A holder older than this is a stall: /health degraded, a warning in the log. */
  warnMs: number;
  /** The warning is repeated at most this often while the same stall lasts. */
  warnEveryMs: number;
}

export const APPEND_STALL_DEFAULTS: AppendStallMonitorOptions = Object.freeze({ intervalMs: 1_000, warnMs: 5_000, warnEveryMs: 10_000 });

interface AppendStallLog {
  warn(details: Record<string, unknown>, message: string): void;
}

export class AppendStallMonitor {
  private blocker: AppendBlocker | null = null;
  private readonly stop = new AbortController();
  private loop: Promise<void> | null = null;
  private lastWarned = { pid: -1, at: 0 };

  constructor(
    private readonly probe: () => Promise<AppendBlocker | null>,
    private readonly log: AppendStallLog,
    private readonly options: AppendStallMonitorOptions = APPEND_STALL_DEFAULTS,
  ) {}

  start(): void {
    this.loop ??= (async () => {
      while (!this.stop.signal.aborted) {
        await this.check().catch(() => { /* the store is down: /health says so through eventStore */ });
        await abortableSleep(this.options.intervalMs, this.stop.signal);
      }
    })();
  }

  /** Looks the holder up now (also what the loop does). */
  async check(): Promise<AppendBlocker | null> {
    this.blocker = await this.probe();
    const b = this.blocker;
    if (b && b.ageMs >= this.options.warnMs) {
      const now = Date.now();
      if (b.pid !== this.lastWarned.pid || now - this.lastWarned.at >= this.options.warnEveryMs) {
        this.lastWarned = { pid: b.pid, at: now };
        this.log.warn({ blockingPid: b.pid, ageMs: b.ageMs, applicationName: b.applicationName, state: b.state },
          `appends are stalled: backend ${b.pid} (${b.applicationName || 'no application name'}, ${b.state}) has held the event log head for ${Math.round(b.ageMs / 1000)} s; every writer and every $all follower waits for it (pg_terminate_backend(${b.pid}) ends it)`);
      }
    }
    return b;
  }

  /** The holder seen last, if any (usually a normal append, held for milliseconds). */
  current(): AppendBlocker | null {
    return this.blocker;
  }

  /** Whether the holder seen last has held the head past the bound. */
  stalled(): AppendBlocker | null {
    return this.blocker && this.blocker.ageMs >= this.options.warnMs ? this.blocker : null;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }
}
