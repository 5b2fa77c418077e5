// The layers of src/ (README, "Layout"; docs/architecture.md) as a rule on imports, checked on every file:
//
//   domain        imports domain only, and no package or node built-in at all (pure, no I/O)
//   lib           dependency-free helpers: imports lib only
//   ports         the interfaces of every store and bus: ports, domain, lib; no package
//   projections   read-model rules: projections, ports, domain, lib; no package
//   application   use cases: application, projections, ports, domain, lib; node built-ins only
//   http          routes: http, application, projections, ports, domain, lib; node built-ins, fastify
//   adapters      drivers behind the ports: adapters, ports, domain, lib; node built-ins, pg, PGlite, NATS, prom-client
//   cli, composition, ledger.ts, config.ts: the composition root, which alone may import anything and be
//                 imported only by itself
//
// So application, projections and http never see an adapter (they are handed ports), and an adapter never
// sees the application. The scanner reads module specifiers from the source text (static imports and
// re-exports, side-effect imports, import(), require()); a first test proves it finds and refuses the
// kinds of edge the real check must catch, so that the real check cannot pass by finding nothing.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src');

type Layer = 'domain' | 'lib' | 'ports' | 'projections' | 'application' | 'http' | 'adapters' | 'composition';

const COMPOSITION_FILES = ['ledger.ts', 'config.ts'];
const COMPOSITION_DIRS = ['cli', 'composition'];

/** What each layer may import from src/. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  domain: ['domain'],
  lib: ['lib'],
  ports: ['ports', 'domain', 'lib'],
  projections: ['projections', 'ports', 'domain', 'lib'],
  application: ['application', 'projections', 'ports', 'domain', 'lib'],
  http: ['http', 'application', 'projections', 'ports', 'domain', 'lib'],
  adapters: ['adapters', 'ports', 'domain', 'lib'],
  composition: ['composition', 'http', 'application', 'projections', 'adapters', 'ports', 'domain', 'lib'],
};

/** Packages each layer may import; 'node' stands for node built-ins. A prefix ending in / matches a scope. */
const MAY_USE: Record<Layer, readonly string[] | 'any'> = {
  domain: [],
  lib: [],
  ports: [],
  projections: [],
  application: ['node'],
  http: ['node', 'fastify', '@fastify/'],
  adapters: ['node', 'pg', '@electric-sql/', '@nats-io/', 'prom-client'],
  composition: 'any',
};

/**
 * Edges that go the wrong way today and are known, each with why it is still here. The check fails on any
 * other wrong edge, and on an entry here that no longer occurs (delete it then).
 */
const KNOWN_WRONG_EDGES: { from: string; to: string; why: string }[] = [];

const NODE_BUILTINS = new Set(builtinModules);

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(c|m)?[jt]sx?$/.test(name) ? [path] : [];
  });

/** Every module specifier a source text names: static imports and re-exports, side-effect imports, import(), require(). */
const specifiersOf = (source: string): string[] => {
  const patterns = [
    /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!));
};

/** The layer of a path under src/ (null: outside src/). */
const layerOf = (path: string): Layer | null => {
  if (path !== SRC && !path.startsWith(SRC + sep)) return null;
  const parts = relative(SRC, path).split(sep);
  if (parts.length === 1) return COMPOSITION_FILES.includes(parts[0]!.replace(/\.js$/, '.ts')) ? 'composition' : null;
  if (COMPOSITION_DIRS.includes(parts[0]!)) return 'composition';
  return (['domain', 'lib', 'ports', 'projections', 'application', 'http', 'adapters'] as const).find((l) => l === parts[0]) ?? null;
};

const packageAllowed = (specifier: string, allowed: readonly string[] | 'any'): boolean => {
  if (allowed === 'any') return true;
  const isNode = specifier.startsWith('node:') || NODE_BUILTINS.has(specifier) || NODE_BUILTINS.has(specifier.split('/')[0]!);
  if (isNode) return allowed.includes('node');
  return allowed.some((p) => (p.endsWith('/') ? specifier.startsWith(p) : specifier === p || specifier.startsWith(`${p}/`)));
};

/** Why `fromFile` may not import `specifier`, or undefined when it may. */
const violation = (specifier: string, fromFile: string): string | undefined => {
  const from = layerOf(fromFile);
  if (from === null) return `${relative(SRC, fromFile)} is in no layer: add it to the map in this test`;
  if (!specifier.startsWith('.')) return packageAllowed(specifier, MAY_USE[from]) ? undefined : `${from} may not use package ${specifier}`;
  const target = resolve(dirname(fromFile), specifier);
  const to = layerOf(target);
  if (to === null) return `${from} reaches outside src/ (${specifier})`;
  return MAY_IMPORT[from].includes(to) ? undefined : `${from} may not import ${to}`;
};

const relativeTarget = (fromFile: string, specifier: string) => relative(SRC, resolve(dirname(fromFile), specifier)).replace(/\.js$/, '.ts');

describe('the layers of src/', () => {
  it('the scanner finds every kind of import, and the rule refuses each wrong direction', () => {
    const sample = [
      "import { readFileSync } from 'node:fs';",
      "import type { Pool } from 'pg';",
      'import {\n  PGlite,\n} from "@electric-sql/pglite";',
      "export { x } from 'fastify';",
      "import 'nats';",
      "const m = await import('crypto');",
      "import { ok } from '../money.js';",
      "import { ApiError } from '../../http/errors.js';",
    ].join('\n');
    expect(specifiersOf(sample)).toEqual(expect.arrayContaining(['node:fs', 'pg', '@electric-sql/pglite', 'fastify', 'nats', 'crypto', '../money.js', '../../http/errors.js']));

    const at = (path: string) => join(SRC, ...path.split('/'));
    const cases: [from: string, specifier: string, refused: boolean][] = [
      ['domain/account/decide.ts', 'node:fs', true],
      ['domain/account/decide.ts', '../money.js', false],
      ['domain/account/decide.ts', '../../http/errors.js', true],
      ['domain/money.ts', '../ports/event-store.js', true],
      ['ports/read-model.ts', './event-store.js', false],
      ['ports/read-model.ts', 'pg', true],
      ['ports/read-model.ts', '../application/relay.js', true],
      ['projections/account-projection.ts', '../adapters/read-model/sql-read-model.js', true],
      ['projections/account-projection.ts', '../ports/read-model.js', false],
      ['application/relay.ts', '../adapters/event-store/sql/lease.js', true],
      ['application/relay.ts', '../http/errors.js', true],
      ['application/relay.ts', '../ledger.js', true],
      ['application/relay.ts', 'pg', true],
      ['application/api-keys.ts', 'node:crypto', false],
      ['http/audit-routes.ts', '../adapters/audit/sql-merkle-log.js', true],
      ['http/audit-routes.ts', '../application/sealer.js', false],
      ['http/build-app.ts', 'fastify', false],
      ['http/build-app.ts', '@fastify/cors', false],
      ['http/build-app.ts', '../config.js', true],
      ['adapters/metrics/prometheus.ts', '../../application/relay.js', true],
      ['adapters/metrics/prometheus.ts', '../../projections/account-projection.js', true],
      ['adapters/event-store/sql/lease.ts', '../../../ports/lease.js', false],
      ['adapters/event-store/sql/lease.ts', 'fastify', true],
      ['lib/abortable-sleep.ts', '../ports/unavailable.js', true],
      ['ledger.ts', './adapters/event-store/open-store.js', false],
      ['cli/main.ts', '../ledger.js', false],
    ];
    const refused = cases.map(([from, specifier]) => violation(specifier, at(from)) !== undefined);
    expect(refused).toStrictEqual(cases.map(([, , r]) => r));
  });

  it('every import in src/ goes the allowed way (domain, lib, ports, projections, application, http, adapters, composition)', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThanOrEqual(80);
    const edges = files.flatMap((file) => specifiersOf(readFileSync(file, 'utf8')).map((specifier) => ({ file, specifier })));
    // Several hundred imports: finding only a few would mean the scanner is broken.
    expect(edges.length).toBeGreaterThanOrEqual(200);
    const wrong = edges
      .map(({ file, specifier }) => ({
        from: relative(SRC, file), to: specifier.startsWith('.') ? relativeTarget(file, specifier) : specifier, why: violation(specifier, file),
      }))
      .filter((edge) => edge.why !== undefined);
    const known = (edge: { from: string; to: string }) => KNOWN_WRONG_EDGES.some((k) => k.from === edge.from && k.to === edge.to);
    expect(wrong.filter((edge) => !known(edge))).toStrictEqual([]);
    // A known edge that is gone must leave the list too, so the list only shrinks.
    expect(KNOWN_WRONG_EDGES.filter((k) => !wrong.some((edge) => edge.from === k.from && edge.to === k.to)).map((k) => k.from)).toStrictEqual([]);
  });
});
