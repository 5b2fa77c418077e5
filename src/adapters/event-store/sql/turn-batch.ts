// Lookups asked for in one event-loop turn, answered by one query: each caller names its keys, and in the
// check phase (setImmediate) every key asked for so far goes to `run` at once, at most `batchMax` a query.
// A failed query fails every caller of that batch.

export class TurnBatch<Key, Row> {
  private waiting: { keys: readonly Key[]; resolve: (rows: Map<Key, Row>) => void; reject: (error: unknown) => void }[] = [];
  private scheduled = false;

  constructor(private readonly run: (keys: Key[]) => Promise<Map<Key, Row>>, private readonly batchMax: number) {}

  /** The rows found for `keys` (a key with none is absent from the map). */
  lookup(keys: readonly Key[]): Promise<Map<Key, Row>> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ keys, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
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
        (rows) => { for (const w of batch) w.resolve(rows); },
        (error: unknown) => { for (const w of batch) w.reject(error); },
      );
    }
  }
}
