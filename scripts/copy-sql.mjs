#!/usr/bin/env node
// Copies every src/**/*.sql beside its compiled module under the output directory (default dist/): the SQL
// adapters read their .sql files relative to their own module (src/adapters/event-store/sql/sql-files.ts),
// and tsc copies only TypeScript. Used by `npm run build:api`, `npm run build` and the benchmark's build.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const out = resolve(root, process.argv[2] ?? 'dist');

/** Every .sql file under `dir`, in a stable order. */
function sqlFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1)).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sqlFiles(path);
    return entry.isFile() && entry.name.endsWith('.sql') ? [path] : [];
  });
}

const files = sqlFiles(src);
for (const file of files) {
  const target = join(out, relative(src, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}
console.log(`copy-sql: ${files.length} .sql files into ${relative(root, out) || '.'}`);
