// Reading the output of the team's anchors script (`bash ../shared/anchors/run.sh`, see README "Benchmark"):
// the machine's own ceilings, measured in the same run as the ledger so that its figures can be quoted as
// ratios. The script prints one line per anchor:
//
//   pg-insert1   c=32        2902 tps   latency avg 11.027 ms
//   pg-insert10  c=32        1556 tps   latency avg 20.559 ms        (ten events per transaction: ×10 events/s)
//   pg-select    c=8        22218 tps   latency avg 0.360 ms
//   pg-transfer  c=32        3094 tps   latency avg 10.342 ms
//   {"bench":"emmett-append",...,"metrics":{"appends_per_s":2071.27,"p50_ms":14.18,"p99_ms":35.29,...}}
//   {"bench":"emmett-aggregate",...,"metrics":{"reads_per_s":4638.13,"events_per_s":46381.38,...}}
//   http-get     c=48       29408 req/s   p99 4 ms
//   http-post    c=48       17337 req/s   p99 6 ms
//
// and other lines (psql NOTICEs, the ×10 reminder) that are ignored. Every one of the eight anchors must be
// there exactly once with a finite positive rate: anything else throws, naming the line, so that a change of
// the script's format fails the bench loudly instead of printing NaN ratios.

/** One run of the anchors script, as numbers. Rates are per second. */
export interface AnchorRun {
  pgInsert1Tps: number;
  pgInsert10Tps: number;
  /** pgInsert10Tps × 10: ten event rows per transaction. */
  pgInsert10EventsPerSecond: number;
  pgSelectTps: number;
  pgTransferTps: number;
  emmettAppendsPerSecond: number;
  emmettAppendP99Ms: number;
  emmettAggregateReadsPerSecond: number;
  emmettAggregateEventsPerSecond: number;
  httpGetPerSecond: number;
  httpGetP99Ms: number;
  httpPostPerSecond: number;
  httpPostP99Ms: number;
}

export class AnchorsFormatError extends Error {
  override readonly name = 'AnchorsFormatError';
}

const PGBENCH = ['pg-insert1', 'pg-insert10', 'pg-select', 'pg-transfer'] as const;
const HTTP = ['http-get', 'http-post'] as const;
const EMMETT = ['emmett-append', 'emmett-aggregate'] as const;
type AnchorName = (typeof PGBENCH)[number] | (typeof HTTP)[number] | (typeof EMMETT)[number];
export const ANCHOR_NAMES: readonly AnchorName[] = [...PGBENCH, ...EMMETT, ...HTTP];

const NUMBER = '(\\d+(?:\\.\\d+)?)';
const PGBENCH_LINE = new RegExp(`^(pg-[a-z0-9]+)\\s+c=(\\d+)\\s+${NUMBER} tps\\s+latency avg ${NUMBER} ms\\s*$`);
const HTTP_LINE = new RegExp(`^(http-[a-z]+)\\s+c=(\\d+)\\s+${NUMBER} req/s\\s+p99 ${NUMBER} ms\\s*$`);

function positive(value: unknown, what: string, line: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new AnchorsFormatError(`anchors: ${what} is not a positive number (${JSON.stringify(value)}) in line: ${line}`);
  }
  return value;
}

function nonNegative(value: unknown, what: string, line: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new AnchorsFormatError(`anchors: ${what} is not a number (${JSON.stringify(value)}) in line: ${line}`);
  }
  return value;
}

/** Parses one run's output (stdout, or stdout and stderr together). Throws AnchorsFormatError. */
export function parseAnchors(text: string): AnchorRun {
  const seen = new Map<AnchorName, { rate: number; extra: number; extra2?: number }>();
  const put = (name: AnchorName, value: { rate: number; extra: number; extra2?: number }, line: string) => {
    if (seen.has(name)) throw new AnchorsFormatError(`anchors: ${name} appears twice (the second: ${line})`);
    seen.set(name, value);
  };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    const word = /^[a-z0-9-]+/.exec(line)?.[0] ?? '';
    if ((PGBENCH as readonly string[]).includes(word)) {
      const m = PGBENCH_LINE.exec(line);
      if (!m || m[1] !== word) throw new AnchorsFormatError(`anchors: ${word} line not in the expected form "${word} c=N <tps> tps latency avg <ms> ms": ${line}`);
      put(word as AnchorName, { rate: positive(Number(m[3]), `${word} tps`, line), extra: nonNegative(Number(m[4]), `${word} latency`, line) }, line);
    } else if ((HTTP as readonly string[]).includes(word)) {
      const m = HTTP_LINE.exec(line);
      if (!m || m[1] !== word) throw new AnchorsFormatError(`anchors: ${word} line not in the expected form "${word} c=N <n> req/s p99 <ms> ms": ${line}`);
      put(word as AnchorName, { rate: positive(Number(m[3]), `${word} req/s`, line), extra: nonNegative(Number(m[4]), `${word} p99`, line) }, line);
    } else if (line.startsWith('{') && line.includes('"bench"')) {
      let parsed: { bench?: unknown; metrics?: Record<string, unknown> };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch (error) {
        throw new AnchorsFormatError(`anchors: a JSON line does not parse (${(error as Error).message}): ${line}`);
      }
      const metrics = parsed.metrics ?? {};
      if (parsed.bench === 'emmett-append') {
        put('emmett-append', {
          rate: positive(metrics['appends_per_s'], 'emmett-append metrics.appends_per_s', line),
          extra: nonNegative(metrics['p99_ms'], 'emmett-append metrics.p99_ms', line),
        }, line);
      } else if (parsed.bench === 'emmett-aggregate') {
        put('emmett-aggregate', {
          rate: positive(metrics['reads_per_s'], 'emmett-aggregate metrics.reads_per_s', line),
          extra: positive(metrics['events_per_s'], 'emmett-aggregate metrics.events_per_s', line),
        }, line);
      }
      // other benches: not anchors the ledger is compared with
    }
  }
  const missing = ANCHOR_NAMES.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    throw new AnchorsFormatError(`anchors: no ${missing.join(', ')} line in the output (did the script fail, or its format change?)`);
  }
  const get = (name: AnchorName) => seen.get(name)!;
  return {
    pgInsert1Tps: get('pg-insert1').rate,
    pgInsert10Tps: get('pg-insert10').rate,
    pgInsert10EventsPerSecond: get('pg-insert10').rate * 10,
    pgSelectTps: get('pg-select').rate,
    pgTransferTps: get('pg-transfer').rate,
    emmettAppendsPerSecond: get('emmett-append').rate,
    emmettAppendP99Ms: get('emmett-append').extra,
    emmettAggregateReadsPerSecond: get('emmett-aggregate').rate,
    emmettAggregateEventsPerSecond: get('emmett-aggregate').extra,
    httpGetPerSecond: get('http-get').rate,
    httpGetP99Ms: get('http-get').extra,
    httpPostPerSecond: get('http-post').rate,
    httpPostP99Ms: get('http-post').extra,
  };
}

export interface Range { min: number; max: number }

/** The range of one anchor over the runs (before and after); null with no run. */
export function anchorRange(runs: readonly AnchorRun[], key: keyof AnchorRun): Range | null {
  if (runs.length === 0) return null;
  const values = runs.map((run) => run[key]);
  return { min: Math.min(...values), max: Math.max(...values) };
}

/** measured ÷ anchor over the anchor's range: the low end against its max, the high end against its min. */
export function ratioRange(measured: number, anchor: Range): Range {
  return { min: measured / anchor.max, max: measured / anchor.min };
}
