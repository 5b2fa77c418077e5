// The verifier's logic, with no I/O: fed the log's entries in leaf order and its signed checkpoints, it
// recomputes everything the store claims and names each event whose stored facts disagree. `chronicle verify`
// feeds it from a database (leaves as the sealer stored them) or from the HTTP API ($all in commit order, the
// order the sealer follows), and prints the report.
//
// What each check catches:
// - content:   SHA-256 of the event's chronicle-content-v1 against its stored content hash (when the source
//              has it) and, through the link, against its stored eventHash: any edited field but position,
//              version and time.
// - chain:     per stream, versions 1, 2, 3 ... with each prevHash the previous event's eventHash: a deleted,
//              inserted or reordered event breaks the next link.
// - leaf:      the stored leaf (event id, position, hash) against the event found there: a moved or deleted
//              row, an edited position or time.
// - roots:     the root recomputed from the events at every checkpoint's size against the signed root, and
//              the signature against the public key: catches even a consistent rewrite of events, chain and
//              leaves, which only the key holder could sign again.
import { canonicalContentJson, GENESIS_PREV_HASH, linkHash, sealableEntry, type CanonicalEventFields } from './canonical.js';
import { checkpointSignatureValid, type SignatureVerifier, type SignedCheckpoint } from './checkpoint.js';
import { digest, toHex, type Sha256 } from './hash.js';
import { leafHash, MerkleFrontier } from './merkle.js';
import { VERIFY_FINDINGS_MAX as FINDINGS_MAX } from '../limits.js';

export interface VerifiableEvent extends CanonicalEventFields {
  prevHash?: string | null;
  eventHash?: string | null;
  /** The stored content hash, when the source has it (a database does; the HTTP API does not send it). */
  contentHash?: string | null;
}

/** One entry of the log in leaf order. From a database: the stored leaf and the event found at its position. */
export interface LogItem {
  leafIndex: number;
  event: VerifiableEvent | null;
  /** What the sealer stored for this leaf; absent when the source has no stored leaves (HTTP). */
  stored?: { eventId: string; globalPosition: number; leafHash: string };
}

type FindingKind =
  | 'content_altered' | 'chain_broken' | 'version_out_of_order' | 'not_encodable' | 'unchained'
  | 'event_missing' | 'leaf_mismatch' | 'checkpoint_root_mismatch' | 'checkpoint_signature_invalid'
  | 'checkpoint_beyond_log' | 'saved_checkpoint_mismatch';

export interface Finding {
  kind: FindingKind;
  message: string;
  eventId?: string;
  globalPosition?: number;
  streamId?: string;
  streamVersion?: number;
  leafIndex?: number;
  treeSize?: number;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  streams: number;
  /** Events stored before chaining existed (no hashes): covered by the Merkle log only. */
  unchained: number;
  leaves: number;
  /** Events after the last leaf: not sealed yet (chains checked). */
  unsealed: number;
  checkpoints: number;
  latest: SignedCheckpoint | null;
  findings: Finding[];
}

/** Kinds that are facts to report, not failures. */
const INFORMATIONAL: ReadonlySet<FindingKind> = new Set(['unchained']);

export class LogVerifier {
  private readonly heads = new Map<string, { version: number; hash: string }>();
  private readonly frontier: MerkleFrontier;
  private readonly roots = new Map<number, string>();
  private readonly wanted: Set<number>;
  private readonly findings: Finding[] = [];
  private dropped = 0;
  private events = 0;
  private unchained = 0;
  private unsealed = 0;

  /**
   * `checkpointSizes`: the tree sizes whose roots must be kept for checking (every stored checkpoint's and a
   * saved one's): the roots of all sizes are not kept, a log may be large.
   */
  constructor(private readonly sha256: Sha256, checkpointSizes: Iterable<number>) {
    this.frontier = MerkleFrontier.empty(sha256);
    this.wanted = new Set(checkpointSizes);
    if (this.wanted.has(0)) this.roots.set(0, toHex(this.frontier.root()));
  }

  /** The next entry, in leaf order. */
  add(item: LogItem): void {
    if (item.leafIndex !== this.frontier.size) throw new RangeError(`leaf ${item.leafIndex} given where ${this.frontier.size} was due`);
    const event = item.event;
    let leaf: string | null = null;
    if (event === null) {
      const s = item.stored;
      this.report({ kind: 'event_missing', leafIndex: item.leafIndex, eventId: s?.eventId, globalPosition: s?.globalPosition,
        message: `leaf ${item.leafIndex}: event ${s?.eventId ?? '?'} at position ${s?.globalPosition ?? '?'} is not in the store (deleted or moved)` });
    } else {
      this.events += 1;
      this.checkChain(event);
      const { entry, encodable } = sealableEntry(event);
      leaf = toHex(leafHash(this.sha256, entry));
      if (!encodable) this.report({ ...where(event), kind: 'not_encodable', leafIndex: item.leafIndex, message: `${describe(event)}: has no canonical form (stored before the store refused such events)` });
      const s = item.stored;
      if (s && (s.eventId !== event.eventId || s.globalPosition !== event.globalPosition)) {
        this.report({ ...where(event), kind: 'leaf_mismatch', leafIndex: item.leafIndex,
          message: `leaf ${item.leafIndex} was sealed for event ${s.eventId} at position ${s.globalPosition}, but the store has ${describe(event)} there (rows moved or replaced)` });
      } else if (s && leaf !== null && s.leafHash !== leaf) {
        this.report({ ...where(event), kind: 'leaf_mismatch', leafIndex: item.leafIndex,
          message: `${describe(event)}: differs from what was sealed as leaf ${item.leafIndex} (a field was edited after sealing)` });
      }
    }
    // A missing event still occupies its leaf: the stored hash keeps the tree's shape, so the checkpoints
    // after it can be checked for everything else. Without a stored leaf the roots will not match.
    const hash = leaf ?? item.stored?.leafHash ?? '0'.repeat(64);
    this.frontier.append(fromHexSafe(hash));
    if (this.wanted.has(this.frontier.size)) this.roots.set(this.frontier.size, toHex(this.frontier.root()));
  }

  /** An event after the sealed log (not a leaf yet): its chain is checked, nothing else. */
  addUnsealed(event: VerifiableEvent): void {
    this.events += 1;
    this.unsealed += 1;
    this.checkChain(event);
  }

  /** Checks the signed checkpoints (their sizes were given to the constructor) and returns the report. */
  finish(checkpoints: readonly SignedCheckpoint[], verify: SignatureVerifier, saved?: SignedCheckpoint): VerifyReport {
    let latest: SignedCheckpoint | null = null;
    for (const cp of checkpoints) {
      this.checkCheckpoint(cp, verify, 'checkpoint');
      if (!latest || cp.treeSize > latest.treeSize) latest = cp;
    }
    if (saved) this.checkCheckpoint(saved, verify, 'saved checkpoint');
    const failures = this.findings.filter((f) => !INFORMATIONAL.has(f.kind));
    if (this.unchained > 0) {
      this.findings.unshift({ kind: 'unchained', message: `${this.unchained} events were stored before chaining existed: the Merkle log covers them, the chain does not` });
    }
    if (this.dropped > 0) this.findings.push({ kind: failures[0]?.kind ?? 'unchained', message: `... and ${this.dropped} more findings not listed` });
    return {
      ok: failures.length === 0 && this.dropped === 0,
      events: this.events,
      streams: this.heads.size,
      unchained: this.unchained,
      leaves: this.frontier.size,
      unsealed: this.unsealed,
      checkpoints: checkpoints.length,
      latest,
      findings: this.findings,
    };
  }

  private checkCheckpoint(cp: SignedCheckpoint, verify: SignatureVerifier, what: string): void {
    const saved = what !== 'checkpoint';
    if (!checkpointSignatureValid(cp, verify)) {
      this.report({ kind: 'checkpoint_signature_invalid', treeSize: cp.treeSize,
        message: `${what} of size ${cp.treeSize} (${cp.issuedAt}): the signature is not the public key's over this size, root and time` });
    }
    const root = this.roots.get(cp.treeSize);
    if (root === undefined) {
      this.report({ kind: 'checkpoint_beyond_log', treeSize: cp.treeSize,
        message: `${what} of size ${cp.treeSize}: the log holds only ${this.frontier.size} entries (entries were deleted from the end)` });
    } else if (root !== cp.rootHash) {
      this.report({ kind: saved ? 'saved_checkpoint_mismatch' : 'checkpoint_root_mismatch', treeSize: cp.treeSize,
        message: `${what} of size ${cp.treeSize} (${cp.issuedAt}): the log's first ${cp.treeSize} entries have root ${root}, the signed root is ${cp.rootHash}: an entry below ${cp.treeSize} was changed` });
    }
  }

  private checkChain(event: VerifiableEvent): void {
    const head = this.heads.get(event.streamId);
    const expectedVersion = (head?.version ?? 0) + 1;
    if (event.streamVersion !== expectedVersion) {
      this.report({ ...where(event), kind: 'version_out_of_order',
        message: `${describe(event)}: stream ${event.streamId} should continue with version ${expectedVersion} here (an event was deleted, inserted or reordered)` });
    }
    if (event.eventHash == null || event.prevHash == null) {
      this.unchained += 1;
      this.heads.set(event.streamId, { version: event.streamVersion, hash: GENESIS_PREV_HASH });
      return;
    }
    const expectedPrev = head?.hash ?? GENESIS_PREV_HASH;
    if (event.prevHash !== expectedPrev) {
      this.report({ ...where(event), kind: 'chain_broken',
        message: `${describe(event)}: its prevHash is not the eventHash of the stream's previous event (an event before it was deleted, inserted, reordered or rewritten)` });
    }
    let content: string | null = null;
    try {
      content = toHex(digest(this.sha256, new TextEncoder().encode(canonicalContentJson(event))));
    } catch (error) {
      this.report({ ...where(event), kind: 'not_encodable', message: `${describe(event)}: no canonical form: ${(error as Error).message}` });
    }
    if (content !== null) {
      const stored = event.contentHash;
      if ((stored != null && stored !== content) || safeLink(this.sha256, event.prevHash, content) !== event.eventHash) {
        this.report({ ...where(event), kind: 'content_altered',
          message: `${describe(event)}: its content (data, metadata, type, stream, creator or id) does not hash to its stored chain link: altered after it was appended` });
      }
    }
    this.heads.set(event.streamId, { version: event.streamVersion, hash: event.eventHash });
  }

  private report(finding: Finding): void {
    if (this.findings.length >= FINDINGS_MAX) this.dropped += 1;
    else this.findings.push(finding);
  }
}

const where = (e: VerifiableEvent) => ({ eventId: e.eventId, globalPosition: e.globalPosition, streamId: e.streamId, streamVersion: e.streamVersion });
const describe = (e: VerifiableEvent) => `event ${e.eventId} (position ${e.globalPosition}, ${e.streamId} v${e.streamVersion})`;

function safeLink(sha256: Sha256, prev: string, content: string): string | null {
  try {
    return linkHash(sha256, prev, content);
  } catch {
    return null;
  }
}

function fromHexSafe(hex: string): Uint8Array {
  const out = new Uint8Array(32);
  if (!/^[0-9a-f]{64}$/.test(hex)) return out;
  for (let i = 0; i < 32; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}
