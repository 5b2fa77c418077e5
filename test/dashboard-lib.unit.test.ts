// The dashboard's own arithmetic, which must never lose a minor unit or a microsecond: money between the
// API's minor-unit strings and what a person reads and types, instants to the microsecond for "just before
// this event"; the one time format every page uses (local time, the zone said once) and the chart axes
// (a value axis that fits the data, time ticks each labelled once). (The metrics page's Prometheus
// arithmetic: test/prometheus-text.unit.test.ts.)
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatMoney, minorDigits, minorToDecimal, parseMajorAmount } from '../dashboard/lib/money.js';
import { formatLocal, fromMicros, justBefore, parseLocal, toMicros, zoneLabel } from '../dashboard/lib/instant.js';
import { fitValueAxis, niceStep, timeAxis } from '../dashboard/lib/chart.js';

/** Runs the enclosing describe's tests in time zone `zone` (Node reads TZ again when it changes). */
function inTimeZone(zone: string) {
  let saved: string | undefined;
  beforeEach(() => { saved = process.env['TZ']; process.env['TZ'] = zone; });
  afterEach(() => { if (saved === undefined) delete process.env['TZ']; else process.env['TZ'] = saved; });
}

describe('dashboard money', () => {
  it('knows each currency’s minor digits from ISO 4217 (via Intl)', () => {
    expect([minorDigits('EUR'), minorDigits('JPY'), minorDigits('BHD'), minorDigits('USD')]).toEqual([2, 0, 3, 2]);
  });

  it('turns minor units into decimals exactly, at any size', () => {
    expect(minorToDecimal('123456', 'EUR')).toBe('1234.56');
    expect(minorToDecimal('5', 'EUR')).toBe('0.05');
    expect(minorToDecimal('-5', 'EUR')).toBe('-0.05');
    expect(minorToDecimal('0', 'EUR')).toBe('0.00');
    expect(minorToDecimal('1500', 'JPY')).toBe('1500');
    expect(minorToDecimal('1', 'BHD')).toBe('0.001');
    expect(minorToDecimal('9223372036854775807', 'EUR')).toBe('92233720368547758.07');
  });

  it('formats with the currency, without going through a float', () => {
    expect(formatMoney('9223372036854775807', 'USD')).toContain('92,233,720,368,547,758.07');
    expect(formatMoney('7000', 'EUR')).toMatch(/70\.00/);
    expect(formatMoney(null, 'EUR')).toBe('—');
  });

  it('parses what people type, refusing rather than rounding', () => {
    expect(parseMajorAmount('12.5', 'EUR')).toEqual({ ok: true, minor: '1250' });
    expect(parseMajorAmount('1,000.00', 'EUR')).toEqual({ ok: true, minor: '100000' });
    expect(parseMajorAmount('7', 'JPY')).toEqual({ ok: true, minor: '7' });
    for (const [text, currency] of [['0.001', 'EUR'], ['1.5', 'JPY'], ['-1', 'EUR'], ['1e3', 'EUR'], ['0', 'EUR'], ['', 'EUR'], ['1.2.3', 'EUR']] as const) {
      expect(parseMajorAmount(text, currency).ok, `${text} ${currency}`).toBe(false);
    }
  });

  it('parse(format-decimal(x)) = x for every amount (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), fc.constantFrom('EUR', 'JPY', 'BHD'), (minor, currency) => {
      expect(parseMajorAmount(minorToDecimal(minor, currency), currency)).toEqual({ ok: true, minor: minor.toString() });
    }));
  });
});

describe('dashboard instants', () => {
  it('steps back one microsecond on the text, across second and day boundaries', () => {
    expect(justBefore('2026-11-25T13:22:39.808123Z')).toBe('2026-11-25T13:22:39.808122Z');
    expect(justBefore('2026-11-25T13:22:40.000000Z')).toBe('2026-11-25T13:22:39.999999Z');
    expect(justBefore('2026-01-01T00:00:00Z')).toBe('2025-12-31T23:59:59.999999Z');
    expect(justBefore('2026-11-25T13:22:39.5Z')).toBe('2026-11-25T13:22:39.499999Z');
  });

  it('round-trips microseconds (property)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 4_102_444_800_000_000n }), (micros) => {
      expect(toMicros(fromMicros(micros))).toBe(micros);
    }));
  });
});

describe('dashboard time format (local time, one format on every page)', () => {
  describe('in UTC+05:30 (no summer time: every local time is one instant)', () => {
    inTimeZone('Asia/Kolkata');

    it('shows an instant as local "YYYY-MM-DD HH:MM:SS" with the fraction asked for, microseconds kept', () => {
      expect(formatLocal('2026-11-25T13:22:39.808123Z', 6)).toBe('2026-11-25 18:52:39.808123');
      expect(formatLocal('2026-11-25T13:22:39.808123Z')).toBe('2026-11-25 18:52:39.808');
      expect(formatLocal('2026-11-25T20:00:00Z', 0)).toBe('2026-11-26 01:30:00');
      expect(formatLocal('not a time')).toBe('not a time');
      expect(zoneLabel()).toBe('UTC+05:30');
    });

    it('reads what a person types in that format (a T or a space, seconds and fraction optional), refusing non-dates', () => {
      expect(parseLocal('2026-11-25 18:52:39.808123')).toBe('2026-11-25T13:22:39.808123Z');
      expect(parseLocal('2026-11-25T18:52')).toBe('2026-11-25T13:22:00.000000Z');
      expect(parseLocal(' 2001-01-01T00:00:00 ')).toBe('2000-12-31T18:30:00.000000Z');
      for (const bad of ['', '2026-02-30 10:00:00', '2026-11-25', '25/11/2026 10:00', '2026-11-25 24:00:00', '2026-11-25 10:00:00Z']) {
        expect(parseLocal(bad), bad).toBeNull();
      }
    });

    it('parse(format(x)) = x to the microsecond (property)', () => {
      fc.assert(fc.property(fc.bigInt({ min: 0n, max: 4_102_444_800_000_000n }), (micros) => {
        const iso = fromMicros(micros);
        expect(parseLocal(formatLocal(iso, 6))).toBe(iso);
      }));
    });
  });

  it('says UTC for a zone with no offset', () => {
    const saved = process.env['TZ'];
    process.env['TZ'] = 'UTC';
    try {
      expect(zoneLabel()).toBe('UTC');
      expect(formatLocal('2026-11-25T13:22:39.5Z', 6)).toBe('2026-11-25 13:22:39.500000');
    } finally {
      if (saved === undefined) delete process.env['TZ']; else process.env['TZ'] = saved;
    }
  });
});

describe('dashboard chart axes', () => {
  it('rounds steps to 1, 2, 2.5 or 5 times a power of ten', () => {
    expect([niceStep(7.5), niceStep(0.3), niceStep(2), niceStep(2.2), niceStep(40_000)]).toEqual([10, 0.5, 2, 2.5, 50_000]);
  });

  it('fits the value axis to the data instead of starting at 0', () => {
    // The smallest balance on a tick gets half a step of room below it, off the axis line.
    expect(fitValueAxis([1000, 1010, 1005, 1007.5], 5, 0.01)).toEqual({ domain: [998.75, 1010], ticks: [1000, 1002.5, 1005, 1007.5, 1010], decimals: 1 });
    expect(fitValueAxis([100, 70]).domain).toEqual([65, 100]);
    expect(fitValueAxis([101, 73])).toEqual({ domain: [70, 110], ticks: [70, 80, 90, 100, 110], decimals: 0 });
    // Data that reaches 0 keeps it; one value gets room either side; never below 0 for data that is not.
    expect(fitValueAxis([0, 50]).domain[0]).toBe(0);
    expect(fitValueAxis([70]).domain).toEqual([60, 80]);
    expect(fitValueAxis([0]).domain).toEqual([0, 1]);
    expect(fitValueAxis([-30, 20]).domain).toEqual([-40, 20]);
    // No ¥2.5 ticks: a currency without minor units gets whole steps.
    expect(fitValueAxis([1000, 1010], 5, 1).ticks.every(Number.isInteger)).toBe(true);
  });

  it('value axis: covers every value, ticks evenly spaced and round, within a few ticks (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 10_000_000 }), { minLength: 1, maxLength: 40 }), (minor) => {
      const values = minor.map((m) => m / 100);
      const { domain, ticks } = fitValueAxis(values, 5, 0.01);
      expect(domain[0]).toBeLessThanOrEqual(Math.min(...values));
      expect(domain[1]).toBeGreaterThanOrEqual(Math.max(...values));
      expect(domain[0]).toBeGreaterThanOrEqual(0);
      expect(ticks[0]).toBeGreaterThanOrEqual(domain[0]);
      expect(ticks[0]! - domain[0]).toBeLessThan(ticks[1]! - ticks[0]!); // at most half a step of room below
      expect(ticks.at(-1)).toBe(domain[1]);
      expect(ticks.length).toBeGreaterThanOrEqual(2);
      expect(ticks.length).toBeLessThanOrEqual(7);
      const span = Math.max(...values) - Math.min(...values);
      // Fits: the axis is at most about twice as tall as the data (a flat series gets a step either side).
      if (span > 0) expect(domain[1] - domain[0]).toBeLessThanOrEqual(2.5 * span + 0.02);
    }));
  });

  describe('time axis, in UTC+05:30', () => {
    inTimeZone('Asia/Kolkata');

    it('puts ticks on round local instants with as much precision as their spacing needs', () => {
      const second = timeAxis(Date.parse('2026-12-01T08:14:30.946Z'), Date.parse('2026-12-01T08:14:31.648Z'));
      expect(second.ticks.map(second.label)).toEqual(['13:44:31.000', '13:44:31.200', '13:44:31.400', '13:44:31.600']);
      const hours = timeAxis(Date.parse('2026-12-01T08:00:00Z'), Date.parse('2026-12-01T14:00:00Z'));
      expect(hours.ticks.map(hours.label)).toEqual(['14:00', '15:00', '16:00', '17:00', '18:00', '19:00']); // on the local hour
      const days = timeAxis(Date.parse('2026-12-01T00:00:00Z'), Date.parse('2026-12-03T00:00:00Z'));
      expect(days.ticks.map(days.label)).toEqual(['2026-12-01 12:00', '2026-12-02 00:00', '2026-12-02 12:00', '2026-12-03 00:00']);
      const one = timeAxis(5_000, 5_000);
      expect(one.ticks.length).toBeGreaterThan(1);
    });

    it('never labels two ticks alike, and keeps them inside the axis (property)', () => {
      fc.assert(fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: 0, max: 400 * 86_400_000 }), fc.integer({ min: 2, max: 10 }), (start, span, maxTicks) => {
        const axis = timeAxis(start, start + span, maxTicks);
        const labels = axis.ticks.map(axis.label);
        expect(new Set(labels).size).toBe(labels.length);
        expect(axis.ticks.length).toBeLessThanOrEqual(maxTicks);
        expect(axis.ticks.length).toBeGreaterThan(0);
        for (const t of axis.ticks) {
          expect(t).toBeGreaterThanOrEqual(axis.domain[0]);
          expect(t).toBeLessThanOrEqual(axis.domain[1]);
        }
      }));
    });
  });
});
