// Rejections are data, not exceptions: a closed set of codes a caller can switch on. The HTTP layer maps
// each to a status in one place (src/http/errors.ts); the domain knows nothing of HTTP.

export const REJECTION_CODES = [
  // amount parsing, in the order they are checked
  'amount_invalid', // not a JSON integer nor a string of digits
  'amount_exponent', // 1e3, "1E3"
  'amount_fractional', // 1.5, "10.00"
  'amount_negative',
  'amount_zero',
  'amount_too_large', // over 2^63-1
  'amount_unsafe_integer', // a JSON number beyond 2^53-1: send it as a string so no digit is lost
  'currency_invalid', // not an ISO 4217 code
  // business rules
  'account_already_exists',
  'account_not_found',
  'accounts_must_be_different',
  'currency_mismatch',
  'insufficient_funds',
  'balance_overflow',
] as const;

export type RejectionCode = (typeof REJECTION_CODES)[number];

export interface Rejection {
  readonly code: RejectionCode;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export const reject = (code: RejectionCode, message: string, details?: Record<string, unknown>): Rejection =>
  details === undefined ? { code, message } : { code, message, details };

export const isRejection = (value: unknown): value is Rejection =>
  typeof value === 'object' && value !== null && 'code' in value && 'message' in value &&
  (REJECTION_CODES as readonly string[]).includes((value as { code: string }).code);
