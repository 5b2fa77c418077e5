// Real PostgreSQL for integration tests: each test file gets its own throwaway database, so files run in
// parallel without seeing each other. With CHRONICLE_REQUIRE_SERVICES=1 (CI) an unreachable server fails
// the suite instead of skipping it.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_ADMIN_URL = process.env['CHRONICLE_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REQUIRED = process.env['CHRONICLE_REQUIRE_SERVICES'] === '1';

let available: Promise<boolean> | undefined;

export function postgresAvailable(): Promise<boolean> {
  available ??= (async () => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (error) {
      if (REQUIRED) throw new Error(`PostgreSQL is required (CHRONICLE_REQUIRE_SERVICES=1) but ${PG_ADMIN_URL} is unreachable: ${(error as Error).message}`);
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return available;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A throwaway database; a copy of `template` (a test database's URL, with no one connected to it) when given. */
export async function createTestDatabase(template?: string): Promise<TestDatabase> {
  const name = `chronicle_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    const source = template === undefined ? '' : new URL(template).pathname.slice(1);
    if (template !== undefined && !/^chronicle_test_[0-9a-f]{12}$/.test(source)) throw new Error(`not a test database: ${template}`);
    await admin.query(`CREATE DATABASE ${name}${source ? ` TEMPLATE ${source}` : ''}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
