#!/usr/bin/env node
// Builds the dashboard's static export (dashboard/out) with `next build`, unless the export already matches
// the sources: a restart of `npm start` should not spend half a minute rebuilding what has not changed. The
// fingerprint is a SHA-256 over the dashboard's own files, all of src/ (it imports the ledger's verifier,
// types and metrics reader through @ledger/*, and a list of just those files would drift) and the lock
// file, kept in out/.source-hash.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dashboard = join(root, 'dashboard');
const out = join(dashboard, 'out');
const stamp = join(out, '.source-hash');
const SKIP = new Set(['node_modules', '.next', 'out']);

function files(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const inputs = [
  ...files(dashboard).filter((f) => !f.endsWith('next-env.d.ts') && !f.endsWith('.tsbuildinfo')),
  ...files(join(root, 'src')),
  join(root, 'package-lock.json'),
];
const hash = createHash('sha256');
for (const file of inputs) hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
const fingerprint = hash.digest('hex');

if (process.argv.includes('--force') || !existsSync(stamp) || readFileSync(stamp, 'utf8').trim() !== fingerprint) {
  console.error('building the dashboard (next build)…');
  execFileSync('npm', ['run', 'build', '--workspace', 'dashboard', '--silent'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' } });
  writeFileSync(stamp, `${fingerprint}\n`);
} else {
  console.error('dashboard is up to date (dashboard/out)');
}
