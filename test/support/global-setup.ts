// Vitest globalSetup: compile the ledger once (`npm run build:api`: dist/ and its .sql files) before any test
// file runs. Tests that start the real CLI run dist/cli/main.js (test/support/cli-main.ts), as `npm start`
// and an operator do: a child process then starts in about a second instead of compiling every module
// through tsx again. Incremental (dist/.tsbuildinfo): a run with no source change rebuilds nothing.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  // Both projects (parallel, serial) name this file; they run in the one main process: build once.
  if (process.env.CHRONICLE_TEST_DIST_BUILT === '1') return;
  process.env.CHRONICLE_TEST_DIST_BUILT = '1';
  const root = fileURLToPath(new URL('../..', import.meta.url));
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/copy-sql.mjs', 'dist'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
