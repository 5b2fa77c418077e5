// Tamper evidence end to end, on PGlite and PostgreSQL, checked with nothing but the public key:
// - the sealer puts every event in the Merkle log in $all order and signs checkpoints (size, root, time);
// - the checkpoint's root equals the root recomputed here from the events by the leaf-based reference;
// - every inclusion proof and consistency proof served verifies by RFC 9162 against a signed root, and the
//   entry served hashes to the leaf;
// - the verifier (database and HTTP sources) finds nothing on an honest log; a saved checkpoint proves growth;
// - the audit endpoints refuse bad input with the error shape and never expose an unsigned size.
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signatureVerifier } from '../src/adapters/audit/signing-key.js';
import { httpVerifySource } from '../src/adapters/audit/http-verify-source.js';
import { sqlVerifySource } from '../src/adapters/audit/verify-sources.js';
import { sha256 } from '../src/adapters/event-store/sql/sql-event-store.js';
import { verifyLog } from '../src/application/verify-log.js';
import { logEntry } from '../src/domain/audit/canonical.js';
import { checkpointMessage, checkpointSignatureValid, type SignedCheckpoint } from '../src/domain/audit/checkpoint.js';
import { fromHex, toHex } from '../src/domain/audit/hash.js';
import { leafHash, rootHash, verifyConsistency, verifyInclusion } from '../src/domain/audit/merkle.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { allEvents } from './support/read-model-expectations.js';
import { postgresDatabase, testDatabase, type SqlAccess } from './support/sql-access.js';

const pgUp = await postgresAvailable();

async function post(ledger: Ledger, url: string, payload: object): Promise<void> {
  const response = await ledger.app.inject({ method: 'POST', url, payload });
  expect(response.statusCode, response.body).toBe(201);
}

async function traffic(ledger: Ledger, accounts: number): Promise<void> {
  for (let i = 0; i < accounts; i++) await post(ledger, '/commands/create-account', { accountId: `A${i}`, owner: `Owner ${i} Zoë`, currency: 'EUR' });
  await Promise.all(Array.from({ length: accounts }, (_, i) => post(ledger, '/commands/deposit', { accountId: `A${i}`, amount: String(1000 + i) })));
  await Promise.all(Array.from({ length: accounts - 1 }, (_, i) =>
    post(ledger, '/commands/transfer', { fromAccountId: `A${i}`, toAccountId: `A${i + 1}`, amount: '7' })));
  // A raw stream with a multi-event append (the PL/pgSQL path) and unicode, nested data.
  const response = await ledger.app.inject({
    method: 'POST', url: '/streams/order-1/events', headers: { 'expected-version': 'no-stream' },
    payload: [{ type: 'Placed', data: { lines: [{ sku: 'é', qty: 2 }], note: 'line\u2028break' } }, { type: 'Paid', data: { ok: true } }],
  });
  expect(response.statusCode, response.body).toBe(201);
}

/** Sealed up to every committed event, and a checkpoint covering them all. */
async function sealedCheckpoint(ledger: Ledger, events: number): Promise<SignedCheckpoint> {
  await ledger.sealer!.waitForSize(events);
  const checkpoint = await ledger.sealer!.checkpointNow();
  expect(checkpoint?.treeSize).toBe(events);
  return checkpoint!;
}

for (const kind of ['pglite', 'postgres'] as const) {
  describe.skipIf(kind === 'postgres' && !pgUp)(`verifiable audit log (${kind})`, () => {
    let ledger: Ledger;
    let db: TestDatabase | undefined;
    let raw: SqlAccess;
    let events: RecordedEvent[];
    let first: SignedCheckpoint;
    let latest: SignedCheckpoint;
    let publicKey: string;
    let checkpointCount = 0;

    beforeAll(async () => {
      if (kind === 'postgres') db = await createTestDatabase();
      raw = await testDatabase(db?.url, 8);
      ledger = await createLedger({
        store: raw.target,
        processMetrics: false,
        audit: { sealer: { checkpointIntervalMs: 60_000 } }, // checkpoints only when the test asks
      });
      await traffic(ledger, 4);
      first = await sealedCheckpoint(ledger, (await allEvents(ledger.store, raw.sql)).length);
      await traffic(ledger, 0 + 3).catch(() => {}); // accounts A0..A2 exist: creates fail, the rest appends
      await post(ledger, '/commands/create-account', { accountId: 'B1', owner: 'Late', currency: 'USD' });
      await post(ledger, '/commands/deposit', { accountId: 'B1', amount: '5' });
      events = await allEvents(ledger.store, raw.sql);
      latest = await sealedCheckpoint(ledger, events.length);
      publicKey = (await ledger.app.inject({ url: '/audit/public-key' })).json().publicKey;
    });
    afterAll(async () => {
      await ledger?.close();
      await raw?.close();
      await db?.drop();
    });

    it('every event is chained at append and sealed in $all order; the signed root is the reference root of the events', async () => {
      expect(events.every((e) => /^[0-9a-f]{64}$/.test(e.eventHash ?? ''))).toBe(true);
      const leaves = events.map((e) => leafHash(sha256, logEntry(e)));
      expect(latest.rootHash).toBe(toHex(rootHash(sha256, leaves)));
      expect(first.rootHash).toBe(toHex(rootHash(sha256, leaves.slice(0, first.treeSize))));
      const verify = signatureVerifier(publicKey);
      expect(checkpointSignatureValid(latest, verify)).toBe(true);
      expect(checkpointSignatureValid({ ...latest, treeSize: latest.treeSize - 1 }, verify)).toBe(false);
      expect(checkpointSignatureValid({ ...latest, rootHash: first.rootHash }, verify)).toBe(false);
    });

    it('GET /audit/checkpoint serves the latest, with the exact signed text', async () => {
      const response = await ledger.app.inject({ url: '/audit/checkpoint' });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body).toMatchObject({ format: 'chronicle-checkpoint-v1', treeSize: latest.treeSize, rootHash: latest.rootHash, keyId: ledger.signer.keyId });
      expect(body.signedMessage).toBe(new TextDecoder().decode(checkpointMessage(latest)));
      const list = (await ledger.app.inject({ url: '/audit/checkpoints?after=0' })).json();
      const sizes = list.checkpoints.map((c: SignedCheckpoint) => c.treeSize);
      expect(sizes.slice(-2)).toEqual([first.treeSize, latest.treeSize]);
      expect([...sizes].sort((a, b) => a - b)).toEqual(sizes);
      checkpointCount = sizes.length;
    });

    it('every event\'s inclusion proof verifies against the signed root; the entry hashes to the leaf', async () => {
      const root = fromHex(latest.rootHash);
      for (const [i, event] of events.entries()) {
        const response = await ledger.app.inject({ url: `/audit/events/${event.eventId}/proof` });
        expect(response.statusCode, response.body).toBe(200);
        const proof = response.json();
        expect(proof).toMatchObject({ eventId: event.eventId, leafIndex: i, treeSize: latest.treeSize, globalPosition: event.globalPosition });
        const leaf = leafHash(sha256, new TextEncoder().encode(proof.entry));
        expect(toHex(leaf)).toBe(proof.leafHash);
        expect(JSON.parse(proof.entry)).toMatchObject({ eventId: event.eventId, data: event.data, prevHash: event.prevHash });
        expect(verifyInclusion(sha256, i, latest.treeSize, leaf, proof.proof.map(fromHex), root)).toBe(true);
        expect(verifyInclusion(sha256, i, latest.treeSize, leaf, proof.proof.map(fromHex), fromHex(first.rootHash))).toBe(false);
      }
      // Against the older signed size: an event inside it verifies against that root; one after it is 404.
      const old = (await ledger.app.inject({ url: `/audit/events/${events[0]!.eventId}/proof?treeSize=${first.treeSize}` })).json();
      expect(verifyInclusion(sha256, 0, first.treeSize, fromHex(old.leafHash), old.proof.map(fromHex), fromHex(first.rootHash))).toBe(true);
      const after = await ledger.app.inject({ url: `/audit/events/${events.at(-1)!.eventId}/proof?treeSize=${first.treeSize}` });
      expect(after.statusCode).toBe(404);
      expect(after.json().error.code).toBe('event_not_sealed');
    });

    it('the consistency proof between the two signed sizes verifies, and fails for a forged root', async () => {
      const response = await ledger.app.inject({ url: `/audit/consistency?from=${first.treeSize}&to=${latest.treeSize}` });
      expect(response.statusCode, response.body).toBe(200);
      const proof = response.json().proof.map(fromHex);
      expect(verifyConsistency(sha256, first.treeSize, latest.treeSize, fromHex(first.rootHash), fromHex(latest.rootHash), proof)).toBe(true);
      const forged = createHash('sha256').update('forged').digest();
      expect(verifyConsistency(sha256, first.treeSize, latest.treeSize, forged, fromHex(latest.rootHash), proof)).toBe(false);
    });

    it('refuses bad or unsigned sizes and unknown events with the error shape', async () => {
      const cases: [string, number, string][] = [
        [`/audit/events/${events[0]!.eventId}/proof?treeSize=${first.treeSize + 1}`, 404, 'checkpoint_not_found'],
        ['/audit/events/00000000-0000-4000-8000-000000000000/proof', 404, 'event_not_sealed'],
        ['/audit/events/not-a-uuid/proof', 400, 'validation_failed'],
        [`/audit/events/${events[0]!.eventId}/proof?treeSize=-1`, 400, 'validation_failed'],
        [`/audit/events/${events[0]!.eventId}/proof?treeSize=1&x=1`, 400, 'validation_failed'],
        [`/audit/consistency?from=${latest.treeSize}&to=${first.treeSize}`, 400, 'validation_failed'],
        ['/audit/consistency', 400, 'validation_failed'],
        ['/audit/consistency?from=99999999', 404, 'checkpoint_not_found'],
        ['/audit/checkpoints?limit=abc', 400, 'validation_failed'],
      ];
      for (const [url, status, code] of cases) {
        const response = await ledger.app.inject({ url });
        expect(response.statusCode, url).toBe(status);
        expect(response.json().error.code, url).toBe(code);
      }
    });

    it('the verifier finds nothing wrong, from the database and over HTTP, and a saved checkpoint proves growth', async () => {
      const verify = signatureVerifier(publicKey);
      const fromDb = await verifyLog(sqlVerifySource(raw.sql), sha256, verify, first);
      expect(fromDb.findings).toEqual([]);
      expect(fromDb).toMatchObject({ ok: true, events: events.length, leaves: events.length, unsealed: 0, checkpoints: checkpointCount });
      await ledger.app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(ledger.app.server.address() as AddressInfo).port}`;
      const overHttp = await verifyLog(httpVerifySource(url), sha256, verify, first);
      expect(overHttp.findings).toEqual([]);
      expect(overHttp).toMatchObject({ ok: true, events: events.length, checkpoints: checkpointCount });
      // A checkpoint signed by another key, or one whose root the log does not have, is named.
      const forged = { ...first, rootHash: latest.rootHash };
      const report = await verifyLog(sqlVerifySource(raw.sql), sha256, verify, forged);
      expect(report.ok).toBe(false);
      expect(report.findings.map((f) => f.kind).sort()).toEqual(['checkpoint_signature_invalid', 'saved_checkpoint_mismatch']);
    });

    it('the Merkle tables are append-only in the database itself', async () => {
      for (const table of ['merkle_leaves', 'merkle_nodes', 'merkle_checkpoints']) {
        await expect(raw.sql.query(`DELETE FROM ${table}`)).rejects.toThrow(/append-only/);
        await expect(raw.sql.query(`TRUNCATE ${table}`)).rejects.toThrow(/append-only/);
      }
      await expect(raw.sql.query(`UPDATE merkle_leaves SET leaf_hash = leaf_hash`)).rejects.toThrow(/append-only/);
    });
  });
}

describe.skipIf(!pgUp)('a restarted sealer continues the same log (PostgreSQL)', () => {
  it('after restarts at sizes past 9, 99 (where text order and number order part) the log is the reference log of all events', async () => {
    const db = await createTestDatabase();
    try {
      const { generateSigner } = await import('../src/adapters/audit/signing-key.js');
      const { signer } = generateSigner();
      let accounts = 0;
      for (const batch of [12, 95, 8]) {
        const raw = postgresDatabase(db.url, 4);
        const ledger = await createLedger({ store: raw.target, processMetrics: false, audit: { signer } });
        try {
          for (let i = 0; i < batch; i++) await post(ledger, '/commands/create-account', { accountId: `R${accounts++}`, owner: 'Restart', currency: 'EUR' });
          const events = await allEvents(ledger.store, raw.sql);
          const checkpoint = await sealedCheckpoint(ledger, events.length);
          expect(checkpoint.rootHash).toBe(toHex(rootHash(sha256, events.map((e) => leafHash(sha256, logEntry(e))))));
          expect((await ledger.app.inject({ url: '/audit/checkpoint' })).json().treeSize).toBe(events.length);
          const report = await verifyLog(sqlVerifySource(raw.sql), sha256, signatureVerifier(signer.publicKey));
          expect(report.findings).toEqual([]);
        } finally {
          await ledger.close();
          await raw.close();
        }
      }
    } finally {
      await db.drop();
    }
  }, 120_000);
});
