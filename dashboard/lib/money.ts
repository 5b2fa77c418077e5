// Money as the ledger keeps it: integer minor units, sent and received as decimal strings. Shown in major
// units with the currency's ISO 4217 exponent (EUR 2, JPY 0, BHD 3: Intl knows them), by string and bigint
// arithmetic only: no floating point between the API and the screen, in either direction.
import { formatLocal } from './instant.js';

const digitsCache = new Map<string, number>();

/** Minor-unit digits of a currency (2 for EUR); 2 for a code Intl does not know. */
export function minorDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      digits = 2;
    }
    digitsCache.set(currency, digits);
  }
  return digits;
}

/** "123456" EUR -> "1234.56"; "-5" -> "-0.05". Exact for any size. */
export function minorToDecimal(minor: string | bigint, currency: string): string {
  const value = BigInt(minor);
  const negative = value < 0n;
  const digits = minorDigits(currency);
  const text = (negative ? -value : value).toString().padStart(digits + 1, '0');
  const whole = text.slice(0, text.length - digits);
  const fraction = digits === 0 ? '' : `.${text.slice(text.length - digits)}`;
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

/** A formatted amount: "€1,234.56". Intl formats decimal strings exactly (no conversion to a float). */
export function formatMoney(minor: string | bigint | null | undefined, currency: string): string {
  if (minor === null || minor === undefined) return '—';
  const decimal = minorToDecimal(minor, currency);
  try {
    // format() takes a decimal string exactly (Intl.NumberFormat v3); older type libraries only know numbers.
    const format = new Intl.NumberFormat(undefined, { style: 'currency', currency }).format as unknown as (value: string) => string;
    return format(decimal);
  } catch {
    return `${decimal} ${currency}`;
  }
}

export type ParsedAmount = { ok: true; minor: string } | { ok: false; message: string };

/**
 * What a person typed, in major units ("12.5", "1,000.00"), to minor units ("1250"). Refuses more decimals
 * than the currency has rather than rounding money away.
 */
export function parseMajorAmount(text: string, currency: string): ParsedAmount {
  const cleaned = text.trim().replace(/[,_\s]/g, '');
  if (cleaned === '') return { ok: false, message: 'enter an amount' };
  const match = /^(\d+)(?:\.(\d*))?$/.exec(cleaned);
  if (!match) return { ok: false, message: 'use digits and at most one decimal point, like 12.50' };
  const digits = minorDigits(currency);
  const fraction = match[2] ?? '';
  if (fraction.length > digits) {
    return { ok: false, message: digits === 0 ? `${currency} has no minor unit: whole amounts only` : `${currency} has ${digits} decimal places at most` };
  }
  const minor = BigInt(match[1]! + fraction.padEnd(digits, '0'));
  if (minor === 0n) return { ok: false, message: 'the amount must be more than zero' };
  return { ok: true, minor: minor.toString() };
}

/**
 * An instant in the dashboard's one time format: local "2026-11-25 14:03:04.123" (lib/instant.ts; each page
 * says once that its times are local). "—" for none.
 */
export function formatInstant(iso: string | null | undefined, fractionDigits: 0 | 3 | 6 = 3): string {
  return iso ? formatLocal(iso, fractionDigits) : '—';
}

export const formatCount = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString());
