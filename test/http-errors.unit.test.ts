// The error catalogue in code (src/http/errors.ts) and its documentation (docs/errors.md) list the same
// codes with the same statuses, and every domain rejection code has a status.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { REJECTION_CODES } from '../src/domain/rejections.js';
import { ERROR_STATUS } from '../src/http/errors.js';

describe('error catalogue', () => {
  it('matches docs/errors.md row for row', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const documented = Object.fromEntries([...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]));
    expect(documented).toEqual({ ...ERROR_STATUS });
  });

  it('gives every domain rejection a 4xx status', () => {
    for (const code of REJECTION_CODES) {
      expect(ERROR_STATUS[code], code).toBeGreaterThanOrEqual(400);
      expect(ERROR_STATUS[code], code).toBeLessThan(500);
    }
  });
});
