// Every store adapter behind one factory list, for suites that run over each (Kysely's DIALECTS loop).
// CHRONICLE_TEST_STORES=pglite (or postgres) narrows the list.
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { pgliteClient } from '../../src/adapters/event-store/pglite/pglite-client.js';
import { migrate } from '../../src/adapters/event-store/sql/migrate.js';
import { MIGRATIONS } from '../../src/adapters/event-store/sql/migrations.js';
import { createPostgresClient } from '../../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../../src/adapters/event-store/sql/sql-client.js';
import { SqlEventStore } from '../../src/adapters/event-store/sql/sql-event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './postgres.js';

export interface OpenedStore {
  store: SqlEventStore;
  /** A second handle on the same database, for what the port does not offer (tampering, raw SQL). */
  sql: SqlClient;
  close(): Promise<void>;
}

export interface StoreFactory {
  name: 'pglite' | 'postgres';
  available: boolean;
  open(): Promise<OpenedStore>;
  /** Drops what the factory keeps for the file (a template database); call it after the file's tests. */
  dispose(): Promise<void>;
}

const only = process.env['CHRONICLE_TEST_STORES'];

// Creating a PGlite runs initdb in WebAssembly (4 to 10 s on a busy 2-core machine). Instead, a template
// (initdb once, then migrated or not) is dumped once and kept, gzipped, in the system's temporary directory
// under a name that hashes PGlite's version and the migrations' SQL: every test file (and every later run)
// loads it in a fraction of a second, and a changed migration makes a new one. Each test then starts its
// own PGlite from that tarball, with the WebAssembly module compiled once per file: a database of its own in
// about a second. (PGlite's clone() would dump the template again every time, some 40 MB.)
type Schema = 'migrated' | 'empty';
let runtime: Promise<{ pgliteWasmModule: WebAssembly.Module; fsBundle: Blob; version: string }> | undefined;
const templates = new Map<Schema, Promise<Blob>>();

function pgliteRuntime() {
  runtime ??= (async () => {
    const dist = new URL('./', pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')));
    const [pgliteWasmModule, fsBundle, version] = await Promise.all([
      readFile(new URL('pglite.wasm', dist)).then((bytes) => WebAssembly.compile(bytes)),
      readFile(new URL('pglite.data', dist)).then((bytes) => new Blob([bytes])),
      readFile(new URL('../package.json', dist), 'utf8').then((text) => String((JSON.parse(text) as { version: unknown }).version)),
    ]);
    return { pgliteWasmModule, fsBundle, version };
  })();
  return runtime;
}

function templateOf(schema: Schema): Promise<Blob> {
  let dump = templates.get(schema);
  if (!dump) {
    dump = (async () => {
      const { pgliteWasmModule, fsBundle, version } = await pgliteRuntime();
      const key = createHash('sha256')
        .update(JSON.stringify({ version, schema, migrations: schema === 'migrated' ? MIGRATIONS : [] }))
        .digest('hex').slice(0, 16);
      const file = join(tmpdir(), `chronicle-test-pglite-${schema}-${key}.tar.gz`);
      try {
        return new Blob([gunzipSync(await readFile(file))]);
      } catch { /* not made yet (or unreadable): make it */ }
      const db = await PGlite.create({ pgliteWasmModule, fsBundle });
      let tarball: Blob;
      try {
        if (schema === 'migrated') await migrate(pgliteClient(db));
        tarball = await db.dumpDataDir('none');
      } finally {
        await db.close();
      }
      // Written aside, then renamed: another file's reader sees the whole tarball or none.
      const partial = `${file}.${process.pid}.${randomUUID()}`;
      await writeFile(partial, gzipSync(Buffer.from(await tarball.arrayBuffer()), { level: 1 }));
      await rename(partial, file);
      return tarball;
    })();
    templates.set(schema, dump);
  }
  return dump;
}

/**
 * A new in-memory PGlite of its own: the event store's schema migrated in (`'migrated'`, as a ledger leaves
 * it), or nothing but initdb's (`'empty'`, e.g. for a read store).
 */
export async function freshPglite(schema: Schema = 'migrated'): Promise<PGlite> {
  return PGlite.create(await fromTemplate(schema));
}

/** PGlite's options that start it from the template, with the compiled module and file bundle shared. */
async function fromTemplate(schema: Schema): Promise<{ pgliteWasmModule: WebAssembly.Module; fsBundle: Blob; loadDataDir: Blob }> {
  const [loadDataDir, { pgliteWasmModule, fsBundle }] = await Promise.all([templateOf(schema), pgliteRuntime()]);
  return { pgliteWasmModule, fsBundle, loadDataDir };
}

/**
 * A new PGlite data directory (under the system's temporary directory) holding a copy of the template, for
 * tests that close a ledger and open it again on the same files. Remove it with `rmSync(dir, { recursive: true })`.
 */
export async function pgliteDataDir(prefix: string, schema: Schema = 'migrated'): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  await copyPgliteTemplate(dataDir, schema);
  return dataDir;
}

/** Fills `dataDir` (new, or empty) with a copy of the template: a PGlite data directory, as after a first start. */
export async function copyPgliteTemplate(dataDir: string, schema: Schema = 'migrated'): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  await (await PGlite.create({ ...(await fromTemplate(schema)), dataDir })).close();
}

/**
 * An in-memory PGlite ledger target (`createLedger({ store: await pgliteTarget() })`): `{ kind: 'pglite' }`,
 * started from the template. The ledger's store closes it.
 */
export async function pgliteTarget(): Promise<{ kind: 'pglite'; client: SqlClient }> {
  return { kind: 'pglite', client: pgliteClient(await freshPglite()) };
}

/**
 * `postgresTemplate`: for a file that opens many PostgreSQL stores (one per test), migrate one template
 * database once and copy it for each (CREATE DATABASE ... TEMPLATE) instead of migrating every copy; the file
 * then calls `dispose()` after all its tests, to drop the template.
 */
export async function storeFactories(options: { postgresTemplate?: boolean } = {}): Promise<StoreFactory[]> {
  let template: Promise<TestDatabase> | undefined;
  const migratedTemplate = () => {
    template ??= (async () => {
      const db = await createTestDatabase();
      const sql = createPostgresClient({ connectionString: db.url, poolMax: 1 });
      try {
        await migrate(sql);
      } finally {
        await sql.close(); // no one may be connected to a template while it is copied
      }
      return db;
    })();
    return template;
  };
  const factories: StoreFactory[] = [
    {
      name: 'pglite',
      available: true,
      async open() {
        // PGlite is one connection: the raw handle is the store's own client.
        const sql = pgliteClient(await freshPglite());
        const store = await SqlEventStore.open(sql);
        return { store, sql, close: () => store.close() };
      },
      async dispose() {},
    },
    {
      name: 'postgres',
      available: await postgresAvailable(),
      async open() {
        const db = options.postgresTemplate ? await createTestDatabase((await migratedTemplate()).url) : await createTestDatabase();
        const store = await SqlEventStore.open(createPostgresClient({ connectionString: db.url, poolMax: 8 }));
        const sql = createPostgresClient({ connectionString: db.url, poolMax: 2 });
        return {
          store, sql,
          async close() {
            await store.close();
            await sql.close();
            await db.drop();
          },
        };
      },
      async dispose() {
        const made = template;
        template = undefined;
        if (made) await (await made).drop();
      },
    },
  ];
  return factories.filter((f) => only === undefined || only === f.name);
}
