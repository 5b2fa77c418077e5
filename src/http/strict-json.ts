// JSON.parse loses what a ledger must see: 1e3 and 1000 parse alike, 1.0 becomes 1, and 9007199254740993
// silently becomes ...992. This parser hands every number literal that is not a safe integer to the code as
// a RawJsonNumber carrying its source text, so an amount can be refused for exactly the reason it is wrong.
import { randomUUID } from 'node:crypto';
import { RawJsonNumber } from '../domain/money.js';
import { ApiError } from './errors.js';

// Unguessable per process: a client who sends a string that starts with the marker must not be able to
// pass it off as a number literal.
const MARK = `\u0000#rawnum:${randomUUID()}:`;
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const NUMBER_CHAR = /[0-9eE.+-]/;

export function parseStrictJson(text: string): unknown {
  let out = '';
  let copiedTo = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      for (i++; i < text.length; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '"') break;
      }
      i++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      while (i < text.length && NUMBER_CHAR.test(text[i]!)) i++;
      const token = text.slice(start, i);
      const safeInteger = /^-?[0-9]+$/.test(token) && Number.isSafeInteger(Number(token));
      if (!safeInteger && JSON_NUMBER.test(token)) {
        out += text.slice(copiedTo, start) + JSON.stringify(MARK + token);
        copiedTo = i;
      }
    } else {
      i++;
    }
  }
  out += text.slice(copiedTo);
  try {
    // No literal marked (the common case: amounts as strings or safe integers): no reviver, which would
    // cost a call per value.
    if (copiedTo === 0) return JSON.parse(text);
    return JSON.parse(out, (_key, value: unknown) =>
      typeof value === 'string' && value.startsWith(MARK) ? new RawJsonNumber(value.slice(MARK.length)) : value);
  } catch (error) {
    throw new ApiError('malformed_json', `request body is not valid JSON: ${(error as Error).message}`);
  }
}
