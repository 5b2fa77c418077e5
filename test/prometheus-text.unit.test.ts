// Reading /metrics (src/adapters/metrics/prometheus-text.ts), as `npm run bench` and the dashboard's metrics
// page do: counters, gauges and labelled histograms, and quantiles of what was observed between two scrapes.
import { describe, expect, it } from 'vitest';
import { histogramDelta, histogramOf, histogramQuantile, metricValue, parseMetrics } from '../src/adapters/metrics/prometheus-text.js';

const scrape = (counts: Record<string, number>, appended: number, type = 'Deposit') => parseMetrics([
  '# HELP chronicle_command_duration_seconds x',
  '# TYPE chronicle_command_duration_seconds histogram',
  ...Object.entries(counts).map(([le, n]) => `chronicle_command_duration_seconds_bucket{le="${le}",type="${type}"} ${n}`),
  `chronicle_command_duration_seconds_count{type="${type}"} ${counts['+Inf']}`,
  `chronicle_events_appended_total ${appended}`,
  'chronicle_relay_lag_events 3',
].join('\n'));
const durations = (counts: Record<string, number>) => histogramOf(scrape(counts, 0), 'chronicle_command_duration_seconds');

describe('Prometheus text', () => {
  it('parses counters, gauges and labelled buckets, unescaping label values', () => {
    const samples = scrape({ '0.01': 5, '0.05': 8, '+Inf': 10 }, 42);
    expect(metricValue(samples, 'chronicle_events_appended_total')).toBe(42);
    expect(metricValue(samples, 'chronicle_relay_lag_events')).toBe(3);
    expect(metricValue(samples, 'chronicle_nothing')).toBeUndefined();
    expect(histogramOf(samples, 'chronicle_command_duration_seconds')!.buckets).toEqual([{ le: 0.01, count: 5 }, { le: 0.05, count: 8 }, { le: Infinity, count: 10 }]);
    expect(parseMetrics('m{path="a\\"b\\\\c"} 1')[0]!.labels).toEqual({ path: 'a"b\\c' });
  });

  it('sums a histogram\'s series bucket by bucket, or keeps one by its labels', () => {
    const two = [...scrape({ '0.01': 5, '+Inf': 10 }, 0, 'Deposit'), ...scrape({ '0.01': 1, '+Inf': 4 }, 0, 'Withdraw')];
    expect(histogramOf(two, 'chronicle_command_duration_seconds')).toMatchObject({ buckets: [{ le: 0.01, count: 6 }, { le: Infinity, count: 14 }], count: 14 });
    expect(histogramOf(two, 'chronicle_command_duration_seconds', { type: 'Withdraw' })!.buckets).toEqual([{ le: 0.01, count: 1 }, { le: Infinity, count: 4 }]);
    expect(histogramOf(two, 'chronicle_nothing')).toBeNull();
  });

  it('takes quantiles of what was observed between two scrapes, interpolating within a bucket as PromQL does', () => {
    const before = durations({ '0.01': 100, '0.05': 100, '+Inf': 100 });
    // 100 more observations: 50 at or below 10 ms, 50 between 10 and 50 ms.
    const after = durations({ '0.01': 150, '0.05': 200, '+Inf': 200 });
    const delta = histogramDelta(before, after)!;
    expect(histogramQuantile(delta, 0.5)!.value).toBeCloseTo(0.01, 6);
    expect(histogramQuantile(delta, 0.75)!.value).toBeCloseTo(0.03, 6);
    expect(histogramQuantile(histogramDelta(before, before)!, 0.5)).toBeNull();
    // Beyond the last finite bucket: its bound, never Infinity, and marked as a lower bound.
    const slow = durations({ '0.01': 100, '0.05': 100, '+Inf': 110 });
    expect(histogramQuantile(histogramDelta(before, slow)!, 0.99)).toEqual({ value: 0.05, above: true });
  });
});
