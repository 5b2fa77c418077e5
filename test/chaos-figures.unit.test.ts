// The pure parts of the chaos run (scripts/chaos-figures.ts): the outage around a kill as issue 12 item 3
// defines it (last acknowledgement at or before the kill -> first after), read from journal lines; the
// nearest-rank percentile behind the README's p50; the seeded victim choice.
import { describe, expect, it } from 'vitest';
import { ackTimesOf, longestGapAfter, markdownTable, outageAround, percentile, summarise, VICTIM_KINDS, victimKindOf } from '../scripts/chaos-figures.js';
import { testRandom } from './support/seeded-random.js';

const line = (outcome: string, endedAt: string, kind = 'command') => JSON.stringify({ kind, key: 'k', type: 'Deposit', body: {}, outcome, endedAt });

describe('chaos figures', () => {
  it('the outage runs from the last acknowledgement at or before the kill to the first after it', () => {
    const acks = [1_000, 2_000, 3_000, 25_000, 25_100];
    expect(outageAround(acks, 3_500)).toEqual({ lastAckBefore: 3_000, firstAckAfter: 25_000, ms: 22_000 });
    // An acknowledgement at the very instant of the kill was before it.
    expect(outageAround(acks, 3_000)).toEqual({ lastAckBefore: 3_000, firstAckAfter: 25_000, ms: 22_000 });
    expect(outageAround(acks, 2_999)).toEqual({ lastAckBefore: 2_000, firstAckAfter: 3_000, ms: 1_000 });
  });

  it('no outage figure when writes never resumed or never ran before the kill', () => {
    expect(outageAround([1_000, 2_000], 2_500)).toBeNull();
    expect(outageAround([1_000, 2_000], 500)).toBeNull();
    expect(outageAround([], 500)).toBeNull();
  });

  it('matches a brute-force search over random acknowledgement times', () => {
    const random = testRandom();
    for (let round = 0; round < 200; round++) {
      const acks = Array.from({ length: random.int(0, 30) }, () => random.int(0, 1_000)).sort((a, b) => a - b);
      const killAt = random.int(-10, 1_010);
      const before = acks.filter((t) => t <= killAt);
      const after = acks.filter((t) => t > killAt);
      const expected = before.length === 0 || after.length === 0 ? null
        : { lastAckBefore: Math.max(...before), firstAckAfter: Math.min(...after), ms: Math.min(...after) - Math.max(...before) };
      expect(outageAround(acks, killAt)).toEqual(expected);
    }
  });

  it('the longest gap after a kill covers the open gap and any later one before the next kill', () => {
    const acks = [0, 100, 200, 300, 5_300, 5_400, 20_000, 20_100];
    expect(longestGapAfter(acks, 350, 10_000)).toBe(5_000);
    // A later pause (a switch of synchronous standby) that closed before the next kill counts.
    expect(longestGapAfter(acks, 350, 30_000)).toBe(14_600);
    // One still open at the next kill is that kill's, even when it opened before it.
    expect(longestGapAfter(acks, 5_350, 19_000)).toBe(100);
    expect(longestGapAfter(acks, 250, 260)).toBe(100);
    expect(longestGapAfter(acks, 20_100, 21_100)).toBeNull();
  });

  it('reads the acknowledgement times of command lines only', () => {
    const text = [
      JSON.stringify({ kind: 'start', at: '2026-12-01T10:00:00.000Z' }),
      line('acknowledged', '2026-12-01T10:00:01.000Z'),
      line('refused', '2026-12-01T10:00:02.000Z'),
      line('unknown', '2026-12-01T10:00:03.000Z'),
      line('acknowledged', '2026-12-01T10:00:04.250Z'),
      '',
    ].join('\n');
    expect(ackTimesOf(text)).toEqual([Date.parse('2026-12-01T10:00:01.000Z'), Date.parse('2026-12-01T10:00:04.250Z')]);
  });

  it('nearest-rank percentiles: p50 of ten kills is the fifth smallest, p100 the largest', () => {
    const outages = [21, 30, 22, 24, 23, 29, 25, 28, 26, 27];
    expect(percentile(outages, 50)).toBe(25);
    expect(percentile(outages, 100)).toBe(30);
    expect(percentile(outages, 1)).toBe(21);
    expect(percentile([7], 50)).toBe(7);
    expect(percentile([], 50)).toBeNull();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(summarise(outages)).toEqual({ kills: 10, p50Ms: 25, maxMs: 30, minMs: 21 });
    expect(summarise([])).toEqual({ kills: 0, p50Ms: null, maxMs: null, minMs: null });
  });

  it('a uniform roll chooses every victim kind, evenly', () => {
    const random = testRandom();
    const counts = new Map<string, number>();
    for (let i = 0; i < 5_000; i++) {
      const kind = victimKindOf(random.next());
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([...VICTIM_KINDS].sort());
    for (const n of counts.values()) expect(n).toBeGreaterThan(800);
    expect(victimKindOf(0)).toBe('pg-primary');
    expect(victimKindOf(0.999_999)).toBe('ledger-api');
  });

  it('the README table has a row a kill, with dashes for what does not apply', () => {
    const rows = markdownTable([
      { n: 1, victim: 'pg-1', kind: 'pg-primary', killedAt: '', outageMs: 22_400, longestGapMs: 22_400, newPrimaryMs: 21_000, newPrimary: 'pg-2', backMs: 8_100, backAs: 'replica', load1: 3.25 },
      { n: 2, victim: 'nats-3', kind: 'nats', killedAt: '', outageMs: 300, longestGapMs: 1_500, newPrimaryMs: null, newPrimary: null, backMs: 2_000, backAs: 'up', load1: 4 },
    ]);
    expect(rows.slice(2)).toEqual([
      '| 1 | pg-1 (pg-primary) | 22.4 | 22.4 | 21.0 (pg-2) | 8.1 (replica) | 3.3 |',
      '| 2 | nats-3 (nats) | 0.30 | 1.5 | - | 2.0 (up) | 4.0 |',
    ]);
  });
});
