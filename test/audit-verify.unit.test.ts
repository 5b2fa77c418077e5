// The verifier's logic on generated logs (no database): an honest log passes; any single alteration of a
// sealed event (any field, a deletion, two swapped) is named by that event's id; a checkpoint is checked
// against the key and the recomputed root.
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash, GENESIS_PREV_HASH, linkHash, logEntry } from '../src/domain/audit/canonical.js';
import { checkpointMessage, type SignedCheckpoint } from '../src/domain/audit/checkpoint.js';
import { toHex, type Sha256 } from '../src/domain/audit/hash.js';
import { leafHash, rootHash } from '../src/domain/audit/merkle.js';
import { LogVerifier, type LogItem, type VerifiableEvent } from '../src/domain/audit/verify.js';

const sha256: Sha256 = (bytes) => createHash('sha256').update(bytes).digest();
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const verifySig = (message: Uint8Array, signature: string) => verify(null, message, publicKey, Buffer.from(signature, 'base64'));

/** A chained log of `n` events over `streams` streams, its stored leaves and a signed checkpoint of all of it. */
function makeLog(n: number, streams: number): { events: VerifiableEvent[]; checkpoint: SignedCheckpoint } {
  const heads = new Map<string, { version: number; hash: string }>();
  const events: VerifiableEvent[] = [];
  for (let i = 0; i < n; i++) {
    const streamId = `s-${i % streams}`;
    const head = heads.get(streamId) ?? { version: 0, hash: GENESIS_PREV_HASH };
    const base = {
      eventId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, streamId, streamVersion: head.version + 1, globalPosition: i + 1,
      aggregateType: 'Thing', type: 'Happened', schemaVersion: 1, data: { n: i, amount: String(i * 7) }, metadata: { correlationId: `c${i}` },
      recordedAt: `2026-11-25T10:00:${String(i % 60).padStart(2, '0')}.000000Z`, createdBy: 'test',
    };
    const content = contentHash(sha256, base);
    const eventHash = linkHash(sha256, head.hash, content);
    events.push({ ...base, prevHash: head.hash, contentHash: content, eventHash });
    heads.set(streamId, { version: base.streamVersion, hash: eventHash });
  }
  const root = toHex(rootHash(sha256, events.map((e) => leafHash(sha256, logEntry(e)))));
  const unsigned = { treeSize: n, rootHash: root, issuedAt: '2026-11-25T10:01:00.000Z' };
  return { events, checkpoint: { ...unsigned, keyId: 'k', signature: sign(null, checkpointMessage(unsigned), privateKey).toString('base64') } };
}

function run(items: LogItem[], checkpoint: SignedCheckpoint) {
  const verifier = new LogVerifier(sha256, [checkpoint.treeSize]);
  for (const item of items) verifier.add(item);
  return verifier.finish([checkpoint], verifySig);
}

const sealedItems = (events: VerifiableEvent[]): LogItem[] => events.map((e, i) => ({
  leafIndex: i, event: e, stored: { eventId: e.eventId, globalPosition: e.globalPosition, leafHash: toHex(leafHash(sha256, logEntry(e))) },
}));

describe('LogVerifier', () => {
  it('passes an honest log, with or without stored leaves', () => {
    const { events, checkpoint } = makeLog(25, 4);
    expect(run(sealedItems(events), checkpoint)).toMatchObject({ ok: true, events: 25, streams: 4, leaves: 25, findings: [] });
    expect(run(events.map((e, i) => ({ leafIndex: i, event: e })), checkpoint).ok).toBe(true);
  });

  const FIELDS = ['data', 'metadata', 'type', 'createdBy', 'streamId', 'recordedAt', 'globalPosition', 'streamVersion', 'aggregateType', 'schemaVersion'] as const;
  const alter = (e: VerifiableEvent, field: (typeof FIELDS)[number]): VerifiableEvent => {
    switch (field) {
      case 'data': return { ...e, data: { ...e.data, amount: '999999' } };
      case 'metadata': return { ...e, metadata: {} };
      case 'recordedAt': return { ...e, recordedAt: '2030-01-01T00:00:00.000000Z' };
      case 'globalPosition': return { ...e, globalPosition: e.globalPosition + 1000 };
      case 'streamVersion': return { ...e, streamVersion: e.streamVersion + 1 };
      case 'schemaVersion': return { ...e, schemaVersion: 2 };
      default: return { ...e, [field]: `${e[field]}-x` };
    }
  };

  it('names the event whose field was altered after sealing, whatever the field, leaves stored or not', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 5 }), fc.nat(), fc.constantFrom(...FIELDS), fc.boolean(),
      (n, streams, pick, field, withLeaves) => {
        const { events, checkpoint } = makeLog(n, streams);
        const victim = pick % n;
        const altered = events.map((e, i) => (i === victim ? alter(e, field) : e));
        const items = withLeaves ? sealedItems(events).map((item, i) => ({ ...item, event: altered[i]! })) : altered.map((e, i) => ({ leafIndex: i, event: e }));
        const report = run(items, checkpoint);
        expect(report.ok).toBe(false);
        // Without stored leaves an edit of position or time shows only in the signed root (no per-event fact
        // to compare); with them, or for any content field, the event is named.
        if (withLeaves || !['globalPosition', 'recordedAt'].includes(field)) {
          expect(report.findings.some((f) => f.eventId === events[victim]!.eventId), JSON.stringify(report.findings)).toBe(true);
        } else {
          expect(report.findings.map((f) => f.kind)).toContain('checkpoint_root_mismatch');
        }
      }), { numRuns: 150 });
  });

  it('names a deleted event (its leaf) and the next event of its stream', () => {
    const { events, checkpoint } = makeLog(12, 2);
    const items = sealedItems(events).map((item) => (item.leafIndex === 4 ? { ...item, event: null } : item));
    const report = run(items, checkpoint);
    expect(report.findings.find((f) => f.kind === 'event_missing')?.eventId).toBe(events[4]!.eventId);
    expect(report.findings.find((f) => f.kind === 'chain_broken')?.eventId).toBe(events[6]!.eventId);
  });

  it('refuses a checkpoint the key did not sign, or one of a longer log', () => {
    const { events, checkpoint } = makeLog(10, 3);
    const report = run(sealedItems(events).slice(0, 8), checkpoint);
    expect(report.findings.map((f) => f.kind)).toContain('checkpoint_beyond_log');
    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = { ...checkpoint, signature: sign(null, checkpointMessage(checkpoint), other).toString('base64') };
    expect(run(sealedItems(events), forged).findings.map((f) => f.kind)).toEqual(['checkpoint_signature_invalid']);
  });
});
