// The dashboard's own arithmetic, which must never lose a minor unit or a microsecond: money between the
// API's minor-unit strings and what a person reads and types, instants to the microsecond for "just before
// this event". (The metrics page's Prometheus arithmetic: test/prometheus-text.unit.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMoney, minorDigits, minorToDecimal, parseMajorAmount } from '../dashboard/lib/money.js';
import { fromMicros, justBefore, toMicros } from '../dashboard/lib/instant.js';

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
