// Money is an integer count of minor units (cents, pence, yen), held as bigint end to end. JSON has no
// bigint, so amounts travel as decimal strings; a JSON number is accepted only while it is a safe integer.
import { AMOUNT_MINOR_MAX } from './limits.js';
import { reject, type Rejection } from './rejections.js';

export type AmountMinor = bigint & { readonly __brand: 'AmountMinor' };

/**
 * A JSON number that was not a safe integer literal (1.5, 1e3, 9007199254740993) reaches the domain as this
 * wrapper, carrying its source text: JSON.parse would have rounded it or hidden its form, and a ledger must
 * say exactly why it refuses an amount. See src/http/strict-json.ts.
 */
export class RawJsonNumber {
  constructor(readonly text: string) {}
}

const DIGITS = /^[0-9]+$/;
const SIGNED_DECIMAL = /^[+-]?[0-9]*\.?[0-9]*$/;
const EXPONENT = /^[+-]?[0-9]*\.?[0-9]*[eE][+-]?[0-9]+$/;

/** Parses a positive amount of minor units from its JSON form; every failure names its own code. */
export function parseAmount(input: unknown): AmountMinor | Rejection {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return reject('amount_invalid', 'amount must be an integer number of minor units');
    if (!Number.isInteger(input)) return reject('amount_fractional', 'amount must be a whole number of minor units');
    if (input < 0) return reject('amount_negative', 'amount must be positive', { amount: String(input) });
    if (!Number.isSafeInteger(input)) {
      return reject('amount_unsafe_integer', 'amounts beyond 2^53-1 must be sent as a string of digits');
    }
    return checkRange(BigInt(input), String(input));
  }
  if (input instanceof RawJsonNumber) {
    const text = input.text;
    if (EXPONENT.test(text)) return reject('amount_exponent', 'amount must not use exponent notation', { amount: text });
    if (text.includes('.')) return reject('amount_fractional', 'amount must be a whole number of minor units', { amount: text });
    if (text.startsWith('-')) return reject('amount_negative', 'amount must be positive', { amount: text });
    if (!DIGITS.test(text)) return reject('amount_invalid', 'amount must be a string of digits or a safe integer');
    const value = BigInt(text);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) && value <= AMOUNT_MINOR_MAX) {
      return reject('amount_unsafe_integer', 'amounts beyond 2^53-1 must be sent as a string of digits', { amount: text });
    }
    return checkRange(value, text);
  }
  if (typeof input === 'string') {
    if (DIGITS.test(input)) return checkRange(BigInt(input), input);
    if (EXPONENT.test(input)) return reject('amount_exponent', 'amount must not use exponent notation', { amount: input });
    if (SIGNED_DECIMAL.test(input) && /[0-9]/.test(input)) {
      if (input.includes('.')) return reject('amount_fractional', 'amount must be a whole number of minor units', { amount: input });
      if (input.startsWith('-')) return reject('amount_negative', 'amount must be positive', { amount: input });
    }
    return reject('amount_invalid', 'amount must be a string of digits or a safe integer', { amount: input.slice(0, 64) });
  }
  return reject('amount_invalid', 'amount must be a string of digits or a safe integer');
}

function checkRange(value: bigint, text: string): AmountMinor | Rejection {
  if (value < 0n) return reject('amount_negative', 'amount must be positive', { amount: text });
  if (value === 0n) return reject('amount_zero', 'amount must be greater than zero');
  if (value > AMOUNT_MINOR_MAX) {
    return reject('amount_too_large', `amount must not exceed ${AMOUNT_MINOR_MAX}`, { amount: text.slice(0, 64) });
  }
  return value as AmountMinor;
}

export const amountMinor = (value: bigint): AmountMinor => {
  if (value <= 0n || value > AMOUNT_MINOR_MAX) throw new RangeError(`not a valid amount: ${value}`);
  return value as AmountMinor;
};
