// SQL kept in .sql files beside the code that runs it, read once when the module loads. The build copies
// every src/**/*.sql next to its compiled module (scripts/copy-sql.mjs), so the same relative URL works
// from src/ (tsx, vitest) and from dist/ (npm start, the benchmark's compiled copy).
import { readFileSync } from 'node:fs';
import { utcMicros } from './utc-micros.js';

/** A .sql file's text exactly as stored. `url`: `new URL('./x.sql', import.meta.url)`. */
export function sqlFile(url: URL): string {
  return readFileSync(url, 'utf8');
}

/** A fragment a query file names as `{{name}}` or `{{name argument}}`. */
type SqlFragment = string | ((argument: string) => string);

/** Fragments every query file may use: `{{utc_micros <timestamptz expression>}}`. */
const COMMON_FRAGMENTS: Readonly<Record<string, SqlFragment>> = { utc_micros: utcMicros };

/**
 * The statements of a query file, by name. Each starts at a line `-- name: <name>` and runs to the next;
 * comment lines before a name (and the file's opening comment) document it and are not part of any
 * statement. `{{name}}` and `{{name argument}}` are replaced by `fragments` (an unknown one throws). The
 * file must hold exactly `names`: a statement missing or left over throws when the module loads.
 */
export function namedQueries<Name extends string>(
  url: URL, names: readonly Name[], fragments: Readonly<Record<string, SqlFragment>> = {},
): Readonly<Record<Name, string>> {
  const all = { ...COMMON_FRAGMENTS, ...fragments };
  const queries: Record<string, string> = {};
  let name: string | null = null;
  let lines: string[] = [];
  const done = () => {
    // Comment lines right before the next name document the next statement, not this one.
    while (lines.length > 0 && /^\s*(--.*)?$/.test(lines.at(-1)!)) lines.pop();
    if (name !== null) queries[name] = fillSql(lines.join('\n').trim(), all);
  };
  for (const line of sqlFile(url).split('\n')) {
    const start = /^-- name: ([a-z0-9_]+)\s*$/.exec(line);
    if (start) {
      done();
      name = start[1]!;
      if (name in queries) throw new Error(`${url.pathname}: query ${name} is named twice`);
      lines = [];
    } else {
      lines.push(line);
    }
  }
  done();
  const found = Object.keys(queries).sort().join(', ');
  if (found !== [...names].sort().join(', ')) throw new Error(`${url.pathname} holds ${found}, not ${[...names].sort().join(', ')}`);
  return queries as Record<Name, string>;
}

/** Replaces every `{{name}}` / `{{name argument}}` in `text` by its fragment. */
export function fillSql(text: string, fragments: Readonly<Record<string, SqlFragment>>): string {
  return text.replace(/\{\{([a-z0-9_]+)(?: ([^}]*))?\}\}/g, (_, name: string, argument: string | undefined) => {
    const fragment = fragments[name];
    if (fragment === undefined) throw new Error(`unknown SQL fragment {{${name}}}`);
    return typeof fragment === 'function' ? fragment(argument ?? '') : fragment;
  });
}
