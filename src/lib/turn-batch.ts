// Work gathered over one event-loop turn and done once, in the check phase (setImmediate), when the requests
// read in this turn have all asked: afterThisTurn, and TurnBatch on it for lookups (group commit uses it too).

/** A function that runs `run` once after this turn, however often it is called before then. */
export function afterThisTurn(run: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      run();
    });
  };
}

/**
 * Lookups asked for in one turn, answered by one query: each caller names its keys, and after the turn every
 * key asked for so far goes to `run` at once, at most `batchMax` keys a query; each caller gets the answer of
 * the query its keys went in. A failed query fails its callers.
 */
export class TurnBatch<Key, Answer> {
  private waiting: { keys: readonly Key[]; resolve: (answer: Answer) => void; reject: (error: unknown) => void }[] = [];
  private readonly scheduleFlush = afterThisTurn(() => this.flush());

  constructor(private readonly run: (keys: Key[]) => Promise<Answer>, private readonly batchMax: number) {}

  /** The answer of the query that took `keys`. */
  lookup(keys: readonly Key[]): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, resolve, reject });
      this.scheduleFlush();
    });
  }

  private flush(): void {
    const all = this.waiting;
    this.waiting = [];
    for (let start = 0; start < all.length;) {
      const batch: typeof all = [];
      const keys = new Set<Key>();
      // Whole callers only: a caller's keys are answered by one query.
      while (start < all.length && (batch.length === 0 || keys.size + all[start]!.keys.length <= this.batchMax)) {
        const next = all[start++]!;
        batch.push(next);
        for (const key of next.keys) keys.add(key);
      }
      this.run([...keys]).then(
        (answer) => { for (const w of batch) w.resolve(answer); },
        (error: unknown) => { for (const w of batch) w.reject(error); },
      );
    }
  }
}
