// Per-key mutual exclusion inside one process: commands on the same account run one after another, so they
// never conflict with each other and never make a client retry. Several keys (a transfer) are taken in sorted
// order, so two transfers between the same accounts in opposite directions cannot deadlock.
// Between processes the store's expected-version check is what keeps the ledger exact; this only removes
// the conflicts a single process would otherwise cause itself.

export class LockQueueFullError extends Error {
  override readonly name = 'LockQueueFullError';
  constructor(readonly key: string, readonly waitersMax: number) {
    super(`more than ${waitersMax} commands are waiting on ${key}`);
  }
}

export class KeyedLock {
  private readonly tails = new Map<string, { tail: Promise<void>; waiters: number }>();

  /** @param waitersMax bound on the queue behind one key: past it a caller is refused, not queued forever. */
  constructor(private readonly waitersMax: number) {}

  async run<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const releases: (() => void)[] = [];
    try {
      for (const key of [...new Set(keys)].sort()) releases.push(await this.acquire(key));
      return await fn();
    } finally {
      for (const release of releases.reverse()) release();
    }
  }

  /** Keys with a holder or waiters; a drained key leaves no entry behind. */
  get size(): number {
    return this.tails.size;
  }

  private async acquire(key: string): Promise<() => void> {
    const entry = this.tails.get(key);
    if (entry && entry.waiters >= this.waitersMax) throw new LockQueueFullError(key, this.waitersMax);
    const previous = entry?.tail ?? Promise.resolve();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const next = { tail: previous.then(() => held), waiters: (entry?.waiters ?? 0) + 1 };
    this.tails.set(key, next);
    await previous;
    return () => {
      release();
      const current = this.tails.get(key);
      if (current === next) this.tails.delete(key);
      else if (current) current.waiters -= 1;
    };
  }
}
