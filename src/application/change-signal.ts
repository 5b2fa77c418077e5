// A wake-up call inside one process: waiters resolve at the next notify() or when their timeout passes,
// whichever comes first. Pollers use it to react at once to a change made in the same process (a command
// appended events, the read model moved) and keep polling for changes made elsewhere.
export class ChangeSignal {
  private waiters = new Set<() => void>();

  notify(): void {
    if (this.waiters.size === 0) return;
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /**
   * Resolves at the next notify(), after `ms`, or when `signal` aborts, whichever is first (never rejects).
   * Whichever it is, the other two are undone at once: no timer, waiter or abort listener outlives the wait.
   * (Racing `next(ms)` against `abortableSleep(ms, signal)` instead leaves the losing sleep's abort listener
   * on a long-lived signal until its timer fires: a follower woken by every append piles them up, which is
   * what Node's MaxListenersExceededWarning reported.)
   */
  next(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  /** Waiters now (tests: a wait that has ended leaves none behind). */
  get waiting(): number {
    return this.waiters.size;
  }
}
