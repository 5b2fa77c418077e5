// Where the browser tests save their screenshots: test-results/screenshots/ (ignored), so `npm test` leaves
// the work tree as it found it. `npm run screenshots` runs the browser tests with
// CHRONICLE_SCREENSHOTS_DIR=docs/screenshots to refresh the ones the README shows, on purpose.
import { mkdirSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const given = process.env['CHRONICLE_SCREENSHOTS_DIR'];

export const SCREENSHOTS_DIR = given === undefined || given === ''
  ? join(REPO_ROOT, 'test-results', 'screenshots')
  : isAbsolute(given) ? given : join(REPO_ROOT, given);

/** The path of screenshot `name` (the folder is made on first use). */
export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  return join(SCREENSHOTS_DIR, `${name}.png`);
}
