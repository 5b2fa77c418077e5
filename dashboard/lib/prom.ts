// The Prometheus text format, as much of it as /metrics uses (counters, gauges, histograms), and what the
// metrics page derives from two scrapes: rates, and latency quantiles from histogram bucket deltas (the same
// linear interpolation as PromQL's histogram_quantile).

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = match[3] === '+Inf' ? Infinity : Number(match[3]);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

const matches = (sample: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v);

/** Sum of every series of a metric (optionally narrowed by labels); null when the process exports none. */
export function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number | null {
  let sum: number | null = null;
  for (const s of samples) if (s.name === name && matches(s, labels)) sum = (sum ?? 0) + s.value;
  return sum;
}

/** Cumulative bucket counts of a histogram, summed over its series, by upper bound. */
export function buckets(samples: Sample[], name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/**
 * The q-quantile of what a histogram observed between two scrapes, in the histogram's unit; null with no
 * observations in between. Within a bucket, linear; in the +Inf bucket, the highest finite bound.
 */
export function quantileBetween(before: Map<number, number>, after: Map<number, number>, q: number): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const count = counts.at(-1) ?? 0;
  if (count <= 0) return null;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const le = bounds[i]!;
    if (counts[i]! >= rank) {
      if (le === Infinity) return bounds[i - 1] ?? null;
      const inBucket = counts[i]! - lowerCount;
      return inBucket <= 0 ? le : lowerBound + (le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = le;
    lowerCount = counts[i]!;
  }
  return null;
}
