// U+0000 (NUL) has no place in PostgreSQL's text or jsonb ("unsupported Unicode escape sequence"), so a NUL
// that reached the store was a 500. It is refused here instead, before validation and before any handler,
// with a code of its own (`nul_character`, 400), wherever a request carries text: the JSON body (values and
// keys, at any depth: raw events' data and metadata, commands' owner names), the query string, the path
// parameters and the headers (Idempotency-Key, Expected-Version, ...).
import type { FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';

const NUL = '\u0000';

/** RFC 6901 escaping of one key. */
const pointerToken = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Whether any string or key in `value` holds a NUL. Iterative: any depth; builds no path (the hot path). */
function holdsNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') {
      if (current.includes(NUL)) return true;
    } else if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
    } else if (current !== null && typeof current === 'object') {
      for (const key in current) {
        if (!Object.hasOwn(current, key)) continue;
        if (key.includes(NUL)) return true;
        stack.push((current as Record<string, unknown>)[key]);
      }
    }
  }
  return false;
}

/** The JSON pointer of the first string or key holding a NUL in `value`, or null. Iterative: any depth. */
export function nulPointer(value: unknown, root: string): string | null {
  if (!holdsNul(value)) return null;
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length > 0) {
    const [current, path] = stack.pop()!;
    if (typeof current === 'string') {
      if (current.includes(NUL)) return path;
    } else if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], `${path}/${i}`]);
    } else if (current !== null && typeof current === 'object') {
      for (const [key, child] of Object.entries(current)) {
        // A NUL in the key: pointed at with the NUL shown escaped, so the answer holds none.
        if (key.includes(NUL)) return `${path}/${pointerToken(key.replaceAll(NUL, '\\u0000'))}`;
        stack.push([child, `${path}/${pointerToken(key)}`]);
      }
    }
  }
  return null;
}

/** A preValidation hook: 400 nul_character when any text of the request holds U+0000. */
export async function refuseNul(request: FastifyRequest): Promise<void> {
  for (const [where, value] of [['headers', request.headers], ['params', request.params], ['query', request.query], ['body', request.body]] as const) {
    const path = nulPointer(value, `/${where}`);
    if (path !== null) {
      throw new ApiError('nul_character', `${path} contains U+0000 (NUL), which the ledger cannot store: remove it`, { path });
    }
  }
}
