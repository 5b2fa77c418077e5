// The sceptic's test (issue 4): a superuser edits, deletes and reorders rows of the event store directly in
// PostgreSQL, with the append-only triggers switched off (session_replication_role = replica), and the real
// `chronicle verify` CLI, given only the public key, names every altered event. Each tampering runs on its own
// copy of one sealed database (CREATE DATABASE ... TEMPLATE), so each finding is that tampering's alone.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner } from '../src/adapters/audit/signing-key.js';
import { createLedger } from '../src/ledger.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { allEvents } from './support/read-model-expectations.js';
import { CLI_MAIN } from './support/cli-main.js';

const pgUp = await postgresAvailable();
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

async function verifyCli(databaseUrl: string, publicKey: string, ...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI_MAIN, 'verify', '--public-key', publicKey, ...args], {
      cwd: REPO_ROOT, env: { ...process.env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent' }, timeout: 60_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Runs SQL as the superuser with the triggers off, as an administrator bent on rewriting history would. */
async function tamper(url: string, ...statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SET session_replication_role = replica');
    for (const sql of statements) await client.query(sql);
  } finally {
    await client.end();
  }
}

/** FAIL lines of the verifier's output that name this event id. */
const failuresNaming = (output: string, eventId: string) => output.split('\n').filter((l) => l.startsWith('FAIL') && l.includes(eventId));

describe.skipIf(!pgUp)('chronicle verify names every event a superuser altered', () => {
  let sealed: TestDatabase;
  const copies: TestDatabase[] = [];
  let events: RecordedEvent[];
  const { signer } = generateSigner();

  beforeAll(async () => {
    sealed = await createTestDatabase();
    const ledger = await createLedger({ store: { kind: 'postgres', url: sealed.url, poolMax: 4 }, processMetrics: false, audit: { signer } });
    const post = (url: string, payload: object) => ledger.app.inject({ method: 'POST', url, payload });
    for (const id of ['T1', 'T2', 'T3']) await post('/commands/create-account', { accountId: id, owner: `Owner ${id}`, currency: 'EUR' });
    for (let i = 0; i < 3; i++) for (const id of ['T1', 'T2', 'T3']) await post('/commands/deposit', { accountId: id, amount: String(100 + i) });
    await post('/commands/transfer', { fromAccountId: 'T1', toAccountId: 'T2', amount: '50' });
    events = await allEvents(ledger.store);
    await ledger.sealer!.waitForSize(events.length);
    await ledger.sealer!.checkpointNow();
    await ledger.close();
  }, 60_000);
  afterAll(async () => {
    for (const db of copies) await db.drop();
    await sealed?.drop();
  });
  const copy = async () => {
    const db = await createTestDatabase(sealed.url);
    copies.push(db);
    return db;
  };
  const ofStream = (streamId: string) => events.filter((e) => e.streamId === streamId);

  it('an untouched store verifies, and --save writes the checkpoint an auditor keeps', async () => {
    const saved = join(await mkdtemp(join(tmpdir(), 'chronicle-verify-')), 'checkpoint.json');
    const { code, output } = await verifyCli(sealed.url, signer.publicKey, '--save', saved);
    expect(output).toContain(`events ${events.length} in 3 streams; leaves ${events.length}`);
    expect(output).toMatch(/^OK: every chain, leaf and signed root checks out/m);
    expect(code).toBe(0);
    expect(JSON.parse(await readFile(saved, 'utf8'))).toMatchObject({ treeSize: events.length, keyId: signer.keyId });
    const again = await verifyCli(sealed.url, signer.publicKey, '--since', saved);
    expect(again.output).toContain(`the log only grew since your checkpoint of size ${events.length}`);
    expect(again.code).toBe(0);
  }, 60_000);

  it('an edited amount: names the event (content and sealed leaf), nothing else', async () => {
    const db = await copy();
    const victim = ofStream('account-T2')[2]!; // a deposit in the middle of T2's stream
    await tamper(db.url, `UPDATE events SET event_data = jsonb_set(event_data, '{amount}', '"1000000"') WHERE event_id = '${victim.eventId}'`);
    const { code, output } = await verifyCli(db.url, signer.publicKey);
    expect(code).toBe(1);
    const named = failuresNaming(output, victim.eventId).join('\n');
    expect(named).toContain('content_altered');
    expect(named).toContain('leaf_mismatch');
    const others = events.filter((e) => e.eventId !== victim.eventId && failuresNaming(output, e.eventId).length > 0);
    expect(others.map((e) => e.eventId)).toEqual([]);
  }, 60_000);

  it('an edited amount with its hashes recomputed by the tamperer: the signed root still betrays it', async () => {
    const db = await copy();
    const victim = ofStream('account-T3').at(-1)!; // T3's last event: no later link to break
    // The tamperer rewrites data, content hash and link consistently (the chain alone then looks fine).
    await tamper(db.url,
      `UPDATE events SET event_data = jsonb_set(event_data, '{amount}', '"7"') WHERE event_id = '${victim.eventId}'`);
    const { sha256 } = await import('../src/adapters/event-store/sql/sql-event-store.js');
    const { contentHash, linkHash } = await import('../src/domain/audit/canonical.js');
    const forged = { ...victim, data: { ...victim.data, amount: '7' } };
    const content = contentHash(sha256, forged);
    const link = linkHash(sha256, victim.prevHash!, content);
    await tamper(db.url, `UPDATE events SET content_hash = decode('${content}', 'hex'), event_hash = decode('${link}', 'hex') WHERE event_id = '${victim.eventId}'`,
      `UPDATE streams SET last_hash = decode('${link}', 'hex') WHERE stream_id = 'account-T3'`);
    const { code, output } = await verifyCli(db.url, signer.publicKey);
    expect(code).toBe(1);
    expect(failuresNaming(output, victim.eventId).join('\n')).toContain('leaf_mismatch');
    expect(output).toMatch(/FAIL checkpoint_root_mismatch: checkpoint of size \d+/);
  }, 60_000);

  it('a deleted event: named as missing from its leaf, and its successor\'s broken link named too', async () => {
    const db = await copy();
    const [, victim, successor] = ofStream('account-T1');
    await tamper(db.url, `DELETE FROM events WHERE event_id = '${victim!.eventId}'`);
    const { code, output } = await verifyCli(db.url, signer.publicKey);
    expect(code).toBe(1);
    expect(failuresNaming(output, victim!.eventId).join('\n')).toContain('event_missing');
    const next = failuresNaming(output, successor!.eventId).join('\n');
    expect(next).toContain('chain_broken');
    expect(next).toContain('version_out_of_order');
  }, 60_000);

  it('two events reordered (global positions swapped): both named', async () => {
    const db = await copy();
    const [a, b] = [events[4]!, events[7]!];
    await tamper(db.url,
      `UPDATE events SET global_position = -1 WHERE event_id = '${a.eventId}'`,
      `UPDATE events SET global_position = ${a.globalPosition} WHERE event_id = '${b.eventId}'`,
      `UPDATE events SET global_position = ${b.globalPosition} WHERE event_id = '${a.eventId}'`);
    const { code, output } = await verifyCli(db.url, signer.publicKey);
    expect(code).toBe(1);
    for (const e of [a, b]) expect(failuresNaming(output, e.eventId).join('\n'), e.eventId).toContain('leaf_mismatch');
  }, 60_000);

  it('a stream\'s events reordered (versions swapped): the chain names them', async () => {
    const db = await copy();
    const [, x, y] = ofStream('account-T3');
    await tamper(db.url,
      `UPDATE events SET stream_version = 1000000 WHERE event_id = '${x!.eventId}'`,
      `UPDATE events SET stream_version = ${x!.streamVersion} WHERE event_id = '${y!.eventId}'`,
      `UPDATE events SET stream_version = ${y!.streamVersion} WHERE event_id = '${x!.eventId}'`);
    const { code, output } = await verifyCli(db.url, signer.publicKey);
    expect(code).toBe(1);
    for (const e of [x!, y!]) {
      const named = failuresNaming(output, e.eventId).join('\n');
      expect(named, e.eventId).toContain('version_out_of_order');
      expect(named, e.eventId).toContain('leaf_mismatch');
    }
  }, 60_000);

  it('the newest events cut off the end, leaves and all: the signed checkpoint says the log is shorter than it was', async () => {
    const db = await copy();
    const cut = events.slice(-2);
    await tamper(db.url,
      `DELETE FROM events WHERE event_id IN ('${cut[0]!.eventId}', '${cut[1]!.eventId}')`,
      `DELETE FROM merkle_leaves WHERE event_id IN ('${cut[0]!.eventId}', '${cut[1]!.eventId}')`);
    const { code, output } = await verifyCli(db.url, signer.publicKey);
    expect(code).toBe(1);
    expect(output).toMatch(/FAIL checkpoint_beyond_log: checkpoint of size \d+: the log holds only \d+ entries/);
  }, 60_000);

  it('a public key file that holds no Ed25519 public key (empty, garbage, a private key) is refused by name, exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chronicle-verify-key-'));
    const { generateKeyPairSync } = await import('node:crypto');
    const privatePem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    for (const [name, content] of [['empty.pub', ''], ['garbage.pub', 'not a key at all'], ['short.pub', 'AAAA'], ['private.pem', privatePem]] as const) {
      const file = join(dir, name);
      await writeFile(file, content);
      const { code, output } = await verifyCli(sealed.url, file);
      expect(code, name).toBe(2);
      expect(output, name).toContain('is not an Ed25519 public key');
      expect(output, name).not.toMatch(/at \w+ \(|TypeError|ERR_CRYPTO/);
    }
  }, 60_000);

  it('a checkpoint verified with another key fails: the verifier trusts the key, nothing else', async () => {
    const { code, output } = await verifyCli(sealed.url, generateSigner().signer.publicKey);
    expect(code).toBe(1);
    expect(output).toContain('checkpoint_signature_invalid');
  }, 60_000);
});
