// The compiled CLI the tests start (built once per run by test/support/global-setup.ts): spawn
// `process.execPath` with [CLI_MAIN, <command>, ...]. An absolute path, so any working directory will do.
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
