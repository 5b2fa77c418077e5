// The store's record of the keys that sign checkpoints (migration 8): the first key that signs is recorded,
// another key is refused unless the rotation is explicit, a retired key never signs again, and the table is
// append-only with key ids that must be their keys'. The sealer asks before it signs: a second sealer with
// another key, on the same store, signs nothing. On embedded PGlite (in memory): the rules are the SQL's and
// the application's, the same on PostgreSQL.
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigner } from '../src/adapters/audit/signing-key.js';
import { sha256 } from '../src/adapters/event-store/sql/sql-event-store.js';
import { Sealer } from '../src/application/sealer.js';
import { adoptSigningKey, SigningKeyMismatchError } from '../src/application/signing-keys.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import { embeddedDatabase, type SqlAccess } from './support/sql-access.js';

describe('recorded signing keys', () => {
  let ledger: Ledger | undefined;
  let raw: SqlAccess;
  afterEach(async () => {
    await ledger?.close();
    ledger = undefined;
  });
  const open = async (signer = generateSigner().signer) => {
    raw = await embeddedDatabase();
    ledger = await createLedger({ store: raw.target, processMetrics: false, audit: { signer, sealer: { checkpointIntervalMs: 60_000 } } });
    return ledger;
  };

  it('the first key is recorded; another is refused; an explicit rotation records it next; a retired key is refused even then', async () => {
    const a = generateSigner().signer;
    const { merkleLog } = await open(a);
    // The sealer records its key when it starts (before it signs).
    await expect.poll(async () => (await merkleLog.signingKeys()).map((k) => k.keyId), { timeout: 10_000 }).toEqual([a.keyId]);
    expect(await adoptSigningKey(merkleLog, a)).toBe('current');
    const b = generateSigner().signer;
    await expect(adoptSigningKey(merkleLog, b)).rejects.toThrow(SigningKeyMismatchError);
    await expect(adoptSigningKey(merkleLog, b)).rejects.toThrow(`key ${b.keyId} is not this ledger's signing key: its checkpoints are signed with key ${a.keyId}`);
    expect(await adoptSigningKey(merkleLog, b, { rotate: true })).toBe('rotated');
    const keys = await merkleLog.signingKeys();
    expect(keys.map((k) => [k.seq, k.keyId, k.publicKey])).toEqual([[1, a.keyId, a.publicKey], [2, b.keyId, b.publicKey]]);
    expect(keys[0]!.recordedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const retired = await adoptSigningKey(merkleLog, a, { rotate: true }).catch((e: unknown) => e);
    expect(retired).toBeInstanceOf(SigningKeyMismatchError);
    expect((retired as SigningKeyMismatchError).retired).toBe(true);
  });

  it('a store signed before keys were recorded: the key its latest checkpoint names is recorded, another is refused', async () => {
    const legacy = generateSigner().signer;
    raw = await embeddedDatabase();
    ledger = await createLedger({ store: raw.target, processMetrics: false, audit: { signer: legacy, sealer: false } });
    await raw.sql.query(`INSERT INTO merkle_checkpoints (tree_size, root_hash, issued_at, key_id, signature) VALUES (1, decode(repeat('ab', 32), 'hex'), '2026-01-01T00:00:00.000Z', $1, 'x')`, [legacy.keyId]);
    const other = generateSigner().signer;
    await expect(adoptSigningKey(ledger.merkleLog, other)).rejects.toThrow(`its checkpoints are signed with key ${legacy.keyId} (named by its latest checkpoint)`);
    expect(await ledger.merkleLog.signingKeys()).toEqual([]);
    expect(await adoptSigningKey(ledger.merkleLog, legacy)).toBe('recorded');
    expect((await ledger.merkleLog.signingKeys()).map((k) => k.keyId)).toEqual([legacy.keyId]);
  });

  it('the table is append-only and refuses a key id that is not its key\'s', async () => {
    const a = generateSigner().signer;
    const { merkleLog } = await open(a);
    await expect.poll(async () => (await merkleLog.signingKeys()).length, { timeout: 10_000 }).toBe(1);
    await expect(raw.sql.query(`UPDATE signing_keys SET recorded_at = now()`)).rejects.toThrow(/append-only/);
    await expect(raw.sql.query(`DELETE FROM signing_keys`)).rejects.toThrow(/append-only/);
    const other = generateSigner().signer;
    await expect(raw.sql.query(`INSERT INTO signing_keys (seq, key_id, public_key) VALUES (2, $1, $2)`, [a.keyId, other.publicKey])).rejects.toThrow(/check constraint|unique/i);
    await expect(raw.sql.query(`INSERT INTO signing_keys (seq, key_id, public_key) VALUES (2, '0000000000000000', $1)`, [other.publicKey])).rejects.toThrow(/check constraint/i);
  });

  it('a sealer holding another key refuses to sign: no checkpoint, no key recorded, the error says whose key signs', async () => {
    const a = generateSigner().signer;
    const ledgerA = await open(a);
    await ledgerA.app.inject({ method: 'POST', url: '/commands/create-account', payload: { accountId: 'K1', owner: 'K', currency: 'EUR' } });
    await ledgerA.sealer!.waitForSize(1);
    const first = await ledgerA.sealer!.checkpointNow();
    expect(first?.keyId).toBe(a.keyId);
    await ledgerA.app.inject({ method: 'POST', url: '/commands/deposit', payload: { accountId: 'K1', amount: '5' } });

    const b = generateSigner().signer;
    const errors: unknown[] = [];
    const intruder = new Sealer({ store: ledgerA.store, log: ledgerA.merkleLog, signer: b, sha256 }, {
      checkpointIntervalMs: 1, retryMinMs: 10, retryMaxMs: 20, onError: (e) => errors.push(e),
    });
    const stop = new AbortController();
    const running = intruder.run(stop.signal);
    await expect.poll(() => errors.length, { timeout: 10_000 }).toBeGreaterThan(0);
    stop.abort();
    await running;
    expect(errors[0]).toBeInstanceOf(SigningKeyMismatchError);
    expect(String(errors[0])).toContain(`its checkpoints are signed with key ${a.keyId}`);
    expect((await ledgerA.merkleLog.checkpoints(0, 100)).map((c) => c.keyId)).toEqual([a.keyId]);
    expect((await ledgerA.merkleLog.signingKeys()).map((k) => k.keyId)).toEqual([a.keyId]);
  });
});
