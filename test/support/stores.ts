// Every store adapter behind one factory list, for suites that run over each (Kysely's DIALECTS loop).
// CHRONICLE_TEST_STORES=pglite (or postgres) narrows the list.
import { PGlite } from '@electric-sql/pglite';
import { pgliteClient } from '../../src/adapters/event-store/pglite/pglite-client.js';
import { migrate } from '../../src/adapters/event-store/sql/migrate.js';
import { createPostgresClient } from '../../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../../src/adapters/event-store/sql/sql-client.js';
import { SqlEventStore } from '../../src/adapters/event-store/sql/sql-event-store.js';
import { createTestDatabase, postgresAvailable } from './postgres.js';

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
}

const only = process.env['CHRONICLE_TEST_STORES'];

// Creating a PGlite runs initdb in WebAssembly (seconds on a busy 2-core machine); cloning a migrated
// template takes a fraction of that, and each test still gets a database of its own.
let template: Promise<PGlite> | undefined;
async function freshPglite(): Promise<PGlite> {
  template ??= (async () => {
    const db = await PGlite.create();
    await migrate(pgliteClient(db));
    return db;
  })();
  return (await (await template).clone()) as PGlite;
}

export async function storeFactories(): Promise<StoreFactory[]> {
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
    },
    {
      name: 'postgres',
      available: await postgresAvailable(),
      async open() {
        const db = await createTestDatabase();
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
    },
  ];
  return factories.filter((f) => only === undefined || only === f.name);
}
