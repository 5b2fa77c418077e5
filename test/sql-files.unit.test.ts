// The SQL kept in .sql files: shipped migrations never change (their SHA-256 is frozen here), every query
// file parses into the statements its module expects, and the build's copy step puts every .sql file where
// the compiled modules look for it (dist/<same path>), so `npm start` and the benchmark find them too.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../src/adapters/event-store/sql/migrations.js';
import { fillSql, namedQueries } from '../src/adapters/event-store/sql/sql-files.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** SHA-256 of each shipped migration's text. A new migration adds a line; an existing line never changes. */
const SHIPPED: Record<number, string> = {
  1: '34878f061ae341cbe1e1eb0f5e6bf5ddca45f0f88c301d863826429ac6bfd8e1',
  2: '69a74e4d0a234ce4cffbca591bd06fa76e082e6656778d39b4bdcaebf24d21c5',
  3: '8c70dbb2c1474955619d37cd11e55ec38964a416f60785daf1386f6cba4aea1f',
  4: '4036ba7bbb08c4203e01b657cd9a6c96d0e0b8d8f2c2affebd1881ffe20f2a8a',
  5: 'c6855b5178d77d92a579e36d53d31b97b8028f3f8928229f2c9ca7e7f2fe4e75',
  6: 'fba6e35f6b8840775e81fb0ce8f1573bb1a7dde864a37a45320fd07ae1ec55f2',
  7: '5286fe89449a3afea8ace1711dbf01ea842960ee9f63afb1fef926706dc22b19',
  8: 'e692e440985a44593bf5442164a3408bd40dbf4b11b77b013a17ee44f4b1f725',
};

/** Every .sql file under `root`, relative to it, sorted. */
function sqlFilesUnder(root: string, dir = root): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sqlFilesUnder(root, path);
    return entry.name.endsWith('.sql') ? [relative(root, path)] : [];
  }).sort();
}

describe('SQL files', () => {
  it('every shipped migration is byte-for-byte what shipped, numbered 1, 2, 3, ... from its own file', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    for (const m of MIGRATIONS) {
      const hash = createHash('sha256').update(m.sql).digest('hex');
      if (SHIPPED[m.version] !== undefined) expect(hash, `migration ${m.version} (${m.name}) was edited: add a new one instead`).toBe(SHIPPED[m.version]);
    }
    const files = sqlFilesUnder(join(SRC, 'adapters/event-store/sql/migrations'));
    expect(files).toHaveLength(MIGRATIONS.length);
    expect(files.map((f) => Number(f.slice(0, 3)))).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('a query file gives each named statement, without the comments that document the next one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chronicle-sql-'));
    try {
      const file = join(dir, 'q.sql');
      writeFileSync(file, '-- file header\n\n-- first: doc\n-- name: first\nSELECT {{utc_micros x.at}}\n  FROM x -- trailing\n\n-- second: doc\n-- name: second\nSELECT {{columns}} FROM y\n');
      const q = namedQueries(pathToFileURL(file), ['first', 'second'], { columns: 'a, b' });
      expect(q.first).toBe(`SELECT to_char(x.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')\n  FROM x -- trailing`);
      expect(q.second).toBe('SELECT a, b FROM y');
      expect(() => namedQueries(pathToFileURL(file), ['first'], { columns: 'a' })).toThrow(/holds first, second/);
      expect(() => namedQueries(pathToFileURL(file), ['first', 'second'])).toThrow(/unknown SQL fragment \{\{columns\}\}/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => fillSql('{{nope}}', {})).toThrow(/nope/);
  });

  it('the build copies every .sql file under src/ to the same path under the output directory', () => {
    const out = mkdtempSync(join(tmpdir(), 'chronicle-dist-'));
    try {
      execFileSync(process.execPath, [join(ROOT, 'scripts/copy-sql.mjs'), out], { cwd: ROOT, stdio: 'pipe' });
      const sources = sqlFilesUnder(SRC);
      expect(sources.length).toBeGreaterThanOrEqual(MIGRATIONS.length + 9); // migrations, the event store's 4 query files, the read model's schema and queries, the Merkle log's, the API keys', the relay checkpoints'
      expect(sqlFilesUnder(out)).toEqual(sources);
      for (const f of sources) expect(readFileSync(join(out, f), 'utf8')).toBe(readFileSync(join(SRC, f), 'utf8'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('every .sql file under src/ is read by some module (none is left behind unused)', () => {
    const modules = execFileSync('grep', ['-rhoE', "new URL\\(`?'?\\./[^'`]*", SRC], { encoding: 'utf8' });
    for (const f of sqlFilesUnder(SRC)) {
      const base = f.split('/').at(-1)!;
      const folder = f.split('/').at(-2)!;
      // Migrations are named in migrations.ts by file name; every other file by its URL.
      if (folder === 'migrations') expect(readFileSync(join(SRC, 'adapters/event-store/sql/migrations.ts'), 'utf8')).toContain(`'${base}'`);
      else expect(modules).toContain(base);
    }
  });
});
