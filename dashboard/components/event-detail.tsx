'use client';
// One event's full envelope and its audit proof status, checked in this browser: the leaf hash recomputed
// from the event's canonical encoding, the RFC 9162 audit path folded to the signed root, the signature
// checked with the public key.
import { useEffect, useState } from 'react';
import { ApiProblem } from '@/lib/api';
import { checkInclusion, fetchPublicKey, type InclusionCheck } from '@/lib/verify';
import type { RecordedEvent } from '@/lib/types';
import { Badge, Card, ErrorNote } from './ui';
import { formatInstant } from '@/lib/money';

let publicKey: ReturnType<typeof fetchPublicKey> | null = null;
export const cachedPublicKey = () => (publicKey ??= fetchPublicKey().catch((e: unknown) => { publicKey = null; throw e; }));

export function ProofStatus({ eventId }: { eventId: string }) {
  const [check, setCheck] = useState<InclusionCheck | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const key = await cachedPublicKey();
      setCheck(await checkInclusion(eventId, key.publicKey));
    } catch (e) {
      setCheck(null);
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    setCheck(null);
    setError(null);
    void run();
  }, [eventId]);
  const notSealed = error instanceof ApiProblem && error.code === 'event_not_sealed';
  return (
    <div data-testid="proof-status">
      <div className="row" style={{ marginBottom: 8 }}>
        {busy ? <Badge>checking…</Badge>
          : check ? <Badge tone={check.ok ? 'good' : 'bad'}>{check.ok ? 'proof verified' : 'proof FAILED'}</Badge>
          : notSealed ? <Badge tone="warn">not sealed yet</Badge>
          : error ? <Badge tone="bad">no proof</Badge> : null}
        <span className="spacer" />
        <button className="secondary small" onClick={() => void run()} disabled={busy} data-testid="verify-proof">Verify again</button>
      </div>
      {check && (
        <ul className="small" style={{ margin: 0, paddingLeft: 18, lineHeight: 1.7 }}>
          <li>{check.leafHashMatches ? '✓' : '✗'} leaf hash = SHA-256(0x00 ‖ canonical event) <span className="mono muted">{check.proof.leafHash.slice(0, 16)}…</span></li>
          <li>{check.entryIsTheEvent ? '✓' : '✗'} the encoded entry is this event (id, position {check.proof.globalPosition})</li>
          <li>{check.pathValid ? '✓' : '✗'} audit path of {check.proof.proof.length} {check.proof.proof.length === 1 ? 'hash' : 'hashes'} folds to the root of tree size {check.proof.treeSize} (leaf {check.proof.leafIndex})</li>
          <li>{check.signatureValid ? '✓' : '✗'} root signed with Ed25519 key <span className="mono">{check.proof.checkpoint.keyId}</span> at {formatInstant(check.proof.checkpoint.issuedAt)}</li>
        </ul>
      )}
      {notSealed ? <p className="small muted" style={{ margin: 0 }}>The sealer adds committed events to the Merkle log and signs a checkpoint within about a second. Verify again in a moment.</p>
        : <ErrorNote error={error} />}
    </div>
  );
}

export function EventDetail({ event, onClose }: { event: RecordedEvent; onClose: () => void }) {
  return (
    <Card title={<>Event <span className="mono small">{event.globalPosition}</span></>} actions={<button className="secondary small" onClick={onClose}>Close</button>} testId="event-detail">
      <dl className="kv" style={{ marginBottom: 14 }}>
        <dt>type</dt><dd>{event.type}</dd>
        <dt>stream</dt><dd className="mono">{event.streamId} v{event.streamVersion}</dd>
        <dt>recorded</dt><dd>{formatInstant(event.recordedAt, 6)}</dd>
        <dt>created by</dt><dd className="mono">{event.createdBy}</dd>
        <dt>event hash</dt><dd className="mono">{event.eventHash ?? 'unchained'}</dd>
      </dl>
      <h2>Audit proof</h2>
      <ProofStatus eventId={event.eventId} />
      <h2 style={{ marginTop: 16 }}>Envelope</h2>
      <pre className="json" data-testid="event-json">{JSON.stringify(event, null, 2)}</pre>
    </Card>
  );
}
