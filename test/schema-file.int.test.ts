// docs/schema.sql is the schema the migrations and the read model's schema.sql make, as `npm run schema`
// writes it from a real PostgreSQL (scripts/schema.ts). When this fails, run `npm run schema` and commit
// the new file with the migration that changed it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateSchema, SCHEMA_FILE } from '../scripts/schema.js';
import { postgresAvailable } from './support/postgres.js';

const pgUp = await postgresAvailable();

describe.skipIf(!pgUp)('docs/schema.sql', () => {
  it('matches the schema a fresh database has after every migration (run `npm run schema` when it does not)', async () => {
    const expected = await generateSchema();
    expect(expected).toContain('CREATE TABLE public.event_log_head'); // the dump really holds the migrated store
    expect(expected).toContain('CREATE TABLE public.account_balance'); // ... and the read model
    expect(readFileSync(SCHEMA_FILE, 'utf8'), 'docs/schema.sql is stale: run `npm run schema`').toBe(expected);
  }, 60_000);
});
