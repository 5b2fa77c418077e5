// Reading the Prometheus text format, as much of it as /metrics uses (counters, gauges, histograms), and
// what a reader derives from two scrapes: histogram deltas and quantiles (PromQL's histogram_quantile). No
// imports: `npm run bench` and the dashboard (in the browser) both read /metrics with it.

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface HistogramData {
  /** Cumulative counts by upper bound, ascending; the last is +Inf. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

/** The Prometheus text format, sample lines only (label values unescaped). */
export function parseMetrics(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    samples.push({ name: m[1]!, labels, value });
  }
  return samples;
}

const labelsMatch = (sample: MetricSample, labels: Record<string, string>) =>
  Object.entries(labels).every(([k, v]) => sample.labels[k] === v);

/** Sum of the samples named `name` whose labels include `labels`; undefined when there is none. */
export function metricValue(samples: readonly MetricSample[] | null, name: string, labels: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const sample of samples ?? []) {
    if (sample.name === name && labelsMatch(sample, labels)) total = (total ?? 0) + sample.value;
  }
  return total;
}

/** A histogram, its series whose labels include `labels` summed bucket by bucket; null when there is none. */
export function histogramOf(samples: readonly MetricSample[] | null, name: string, labels: Record<string, string> = {}): HistogramData | null {
  if (!samples) return null;
  const byBound = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket` || !labelsMatch(s, labels)) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  if (byBound.size === 0) return null;
  const buckets = [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return { buckets, sum: metricValue(samples, `${name}_sum`, labels) ?? 0, count: metricValue(samples, `${name}_count`, labels) ?? 0 };
}

/** after − before, bucket by bucket (a histogram that appeared in between counts from zero). */
export function histogramDelta(before: HistogramData | null, after: HistogramData | null): HistogramData | null {
  if (!after) return null;
  const at = (le: number) => before?.buckets.find((b) => b.le === le)?.count ?? 0;
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - at(b.le) })),
    sum: after.sum - (before?.sum ?? 0),
    count: after.count - (before?.count ?? 0),
  };
}

/**
 * The q-quantile of cumulative buckets, linear within the bucket it falls in (PromQL histogram_quantile);
 * null with no observations. In the +Inf bucket only a lower bound is known: the last finite bound, with
 * `above` set.
 */
export function histogramQuantile(h: HistogramData, q: number): { value: number; above: boolean } | null {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of h.buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return { value: lower, above: true };
      const inBucket = bucket.count - below;
      const fraction = inBucket > 0 ? (rank - below) / inBucket : 1;
      return { value: lower + (bucket.le - lower) * fraction, above: false };
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return { value: lower, above: true };
}
