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

  /** Resolves at the next notify() or after `ms`, whichever is first. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.waiters.add(wake);
    });
  }
}
