'use client';
// The audit log, checked here rather than believed: the latest signed checkpoint (its signature verified in
// this browser), any event's inclusion proof, a consistency proof that the log only grew since the last
// checkpoint this browser saw, and a full verification of every chain, leaf and root.
import { useEffect, useState } from 'react';
import { ApiProblem, api } from '@/lib/api';
import { useLoad } from '@/lib/hooks';
import { formatCount, formatInstant } from '@/lib/money';
import { fromHex } from '@ledger/domain/audit/hash';
import { verifyConsistency } from '@ledger/domain/audit/merkle';
import { checkpointSignatureValid, type SignedCheckpoint } from '@ledger/domain/audit/checkpoint';
import { lastFullVerification, pinnedKeyId, repinKeyId, sha256, signatureVerifier, verifyEverything, type FullVerification } from '@/lib/verify';
import type { RecordedEvent } from '@/lib/types';
import { Badge, Card, Empty, ErrorNote, Loading, PageHeader } from '@/components/ui';
import { cachedPublicKey, ProofStatus } from '@/components/event-detail';

type Checkpoint = SignedCheckpoint & { format: string; signedMessage: string };
const SEEN_KEY = 'chronicle.lastSeenCheckpoint';

/** Proves the checkpoint this browser saw before is a prefix of the latest (RFC 9162 consistency). */
async function grewSince(latest: Checkpoint): Promise<{ from: SignedCheckpoint; ok: boolean } | null> {
  const text = window.localStorage.getItem(SEEN_KEY);
  const seen = text === null ? null : (JSON.parse(text) as SignedCheckpoint);
  if (seen === null || seen.treeSize > latest.treeSize) return seen === null ? null : { from: seen, ok: false };
  if (seen.treeSize === latest.treeSize) return { from: seen, ok: seen.rootHash === latest.rootHash };
  const answer = await api<{ proof: string[] }>(`/audit/consistency?from=${seen.treeSize}&to=${latest.treeSize}`);
  return { from: seen, ok: verifyConsistency(sha256, seen.treeSize, latest.treeSize, fromHex(seen.rootHash), fromHex(latest.rootHash), answer.proof.map(fromHex)) };
}

export default function AuditPage() {
  const key = useLoad(() => cachedPublicKey(), []);
  const checkpoint = useLoad((signal) => api<Checkpoint>('/audit/checkpoint', { signal }), []);
  const [eventId, setEventId] = useState('');
  const [checking, setChecking] = useState<string | null>(null);
  const [full, setFull] = useState<FullVerification | null>(null);
  const [fullError, setFullError] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  const [growth, setGrowth] = useState<{ from: SignedCheckpoint; ok: boolean } | null | 'none'>('none');
  const [pin, setPin] = useState<{ pinned: string; changed: boolean } | null>(null);

  useEffect(() => setFull(lastFullVerification()), []);
  useEffect(() => { if (key.data) setPin(pinnedKeyId(key.data.keyIdComputed)); }, [key.data]);
  const signatureOk = key.data && checkpoint.data ? checkpointSignatureValid(checkpoint.data, signatureVerifier(key.data.publicKey)) : null;
  useEffect(() => {
    if (!checkpoint.data || !signatureOk) return;
    const latest = checkpoint.data;
    grewSince(latest).then((g) => {
      setGrowth(g);
      // Remember this one only once it checks out: the next visit proves growth from here.
      if (g === null || g.ok) window.localStorage.setItem(SEEN_KEY, JSON.stringify({ treeSize: latest.treeSize, rootHash: latest.rootHash, issuedAt: latest.issuedAt, keyId: latest.keyId, signature: latest.signature }));
    }, () => setGrowth(null));
  }, [checkpoint.data, signatureOk]);

  const latestEvent = async () => {
    const page = await api<{ events: RecordedEvent[] }>('/streams/$all?direction=backward&count=1');
    if (page.events[0]) { setEventId(page.events[0].eventId); setChecking(page.events[0].eventId); }
  };
  const runFull = async () => {
    if (!key.data) return;
    setRunning(true);
    setFullError(null);
    try {
      setFull(await verifyEverything(key.data.publicKey, key.data.keyIdComputed));
    } catch (e) {
      setFullError(e);
    } finally {
      setRunning(false);
    }
  };

  return (
    <>
      <PageHeader title="Audit" times subtitle="Every event is hash-chained and sealed into an RFC 9162 Merkle log with Ed25519-signed checkpoints. This page checks the proofs in your browser; it trusts only the public key." />
      <div className="grid cols-2">
        <Card title="Signing key" testId="public-key">
          <ErrorNote error={key.error} />
          {!key.data ? <Loading /> : (
            <dl className="kv">
              <dt>algorithm</dt><dd>{key.data.algorithm}</dd>
              <dt>key id</dt><dd className="mono">{key.data.keyIdComputed} {key.data.keyIdComputed === key.data.keyId ? <Badge tone="good">matches the key</Badge> : <Badge tone="bad">server says {key.data.keyId}</Badge>}</dd>
              <dt>public key</dt><dd className="mono small">{key.data.publicKey}</dd>
              <dt>this browser</dt>
              <dd>{pin === null ? '…' : pin.changed
                ? <><Badge tone="bad">key changed since first seen ({pin.pinned})</Badge> <button className="secondary small" onClick={() => { repinKeyId(key.data!.keyIdComputed); setPin({ pinned: key.data!.keyIdComputed, changed: false }); }}>Trust the new key</button></>
                : <Badge tone="good">same key as first seen here</Badge>}</dd>
            </dl>
          )}
          <p className="small muted" style={{ marginBottom: 0 }}>Compare the key id with the one your organisation published: a proof is only as good as the key you check it with.</p>
        </Card>
        <Card title="Latest signed checkpoint" testId="checkpoint" actions={<button className="secondary small" onClick={checkpoint.reload}>Refresh</button>}>
          {checkpoint.error instanceof ApiProblem && checkpoint.error.code === 'checkpoint_not_found'
            ? <Empty>No checkpoint yet: the sealer signs the first one within a second of the first event.</Empty>
            : <ErrorNote error={checkpoint.error} />}
          {!checkpoint.data ? (checkpoint.loading ? <Loading /> : null) : (
            <dl className="kv">
              <dt>tree size</dt><dd data-testid="checkpoint-size">{formatCount(checkpoint.data.treeSize)} events</dd>
              <dt>root hash</dt><dd className="mono small">{checkpoint.data.rootHash}</dd>
              <dt>issued</dt><dd>{formatInstant(checkpoint.data.issuedAt)}</dd>
              <dt>signature</dt><dd data-testid="checkpoint-signature">{signatureOk === null ? '…' : signatureOk ? <Badge tone="good">valid Ed25519 signature</Badge> : <Badge tone="bad">INVALID signature</Badge>}</dd>
              <dt>since your last visit</dt>
              <dd data-testid="checkpoint-growth">{growth === 'none' ? '…' : growth === null ? <span className="muted">first visit: this checkpoint is remembered</span>
                : growth.ok ? <Badge tone="good">the log only grew since size {formatCount(growth.from.treeSize)} (consistency proof verified)</Badge>
                : <Badge tone="bad">NOT consistent with the checkpoint of size {growth.from.treeSize} seen before</Badge>}</dd>
            </dl>
          )}
        </Card>
        <Card title="Verify an event's inclusion" testId="inclusion">
          <form className="row" onSubmit={(e) => { e.preventDefault(); setChecking(eventId.trim() || null); }}>
            <input placeholder="event id (uuid)" value={eventId} onChange={(e) => setEventId(e.target.value)} style={{ flex: 1, minWidth: 220 }} className="mono" data-testid="inclusion-event-id" />
            <button type="submit" data-testid="inclusion-check">Verify</button>
            <button type="button" className="secondary" onClick={() => void latestEvent()}>Latest event</button>
          </form>
          <div style={{ height: 12 }} />
          {checking ? <ProofStatus key={checking} eventId={checking} /> : <p className="small muted" style={{ margin: 0 }}>Or click any event on the timeline.</p>}
        </Card>
        <Card title="Full verification" testId="full-verification" actions={<button onClick={() => void runFull()} disabled={running || !key.data} data-testid="full-verify">{running ? 'Verifying…' : 'Verify the whole log'}</button>}>
          <ErrorNote error={fullError} />
          {!full ? <p className="small muted" style={{ margin: 0 }}>Not run in this browser yet. It reads every event of $all and every checkpoint, and recomputes every content hash, chain link, leaf, signed root and signature, exactly as <code>chronicle verify --url</code> does.</p> : (
            <div data-testid="full-result" data-ok={String(full.report.ok)}>
              <div className="row" style={{ marginBottom: 8 }}>
                {full.report.ok ? <Badge tone="good">verified: nothing altered</Badge> : <Badge tone="bad">{full.report.findings.length} findings</Badge>}
                <span className="small muted">last run {formatInstant(full.at)} · {formatCount(full.durationMs)} ms · key {full.keyId}</span>
              </div>
              <dl className="kv">
                <dt>events</dt><dd>{formatCount(full.report.events)} in {formatCount(full.report.streams)} streams</dd>
                <dt>leaves</dt><dd>{formatCount(full.report.leaves)} sealed{full.report.unsealed ? `, ${full.report.unsealed} not yet` : ''}</dd>
                <dt>checkpoints</dt><dd>{formatCount(full.report.checkpoints)} signatures checked</dd>
                {full.report.unchained > 0 && <><dt>unchained</dt><dd>{full.report.unchained} (stored before the chain existed)</dd></>}
              </dl>
              {full.report.findings.length > 0 && (
                <ul className="small" style={{ color: 'var(--bad)' }}>{full.report.findings.slice(0, 20).map((f, i) => <li key={i}><code>{f.kind}</code> {f.message}</li>)}</ul>
              )}
            </div>
          )}
        </Card>
      </div>
    </>
  );
}
