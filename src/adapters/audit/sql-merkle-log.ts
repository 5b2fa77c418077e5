// The Merkle log's storage in the event store's database (tables: migration 5): leaves, the hashes of every
// complete subtree, signed checkpoints; and proofs answered from them with O(log n) rows in one query each.
// The tree itself (which subtrees a proof needs, how they fold) is src/domain/audit/merkle.ts. Statements:
// merkle-log.sql.
import type { SignedCheckpoint } from '../../domain/audit/checkpoint.js';
import { fromHex, toHex, type Sha256 } from '../../domain/audit/hash.js';
import {
  consistencyProofRanges, inclusionProofRanges, MerkleFrontier, rangeNodes, rangeRoot, type LeafRange, type NodeRef,
} from '../../domain/audit/merkle.js';
import { toSafeNumber } from '../event-store/sql/event-rows.js';
import type { SqlClient, SqlQueryable } from '../event-store/sql/sql-client.js';
import { namedQueries } from '../event-store/sql/sql-files.js';
import type { CheckpointSigner, MerkleLog, RecordedSigningKey, SealedLeaf } from '../../ports/merkle-log.js';

interface CheckpointRow {
  tree_size: string;
  root_hash: string;
  issued_at: string;
  key_id: string;
  signature: string;
}

// Ordered by the table's columns (c.tree_size), never by these text aliases (merkle-log.sql says why).
const CHECKPOINT_COLUMNS = `tree_size::text AS tree_size, encode(root_hash, 'hex') AS root_hash, issued_at, key_id, signature`;

const Q = namedQueries(new URL('./merkle-log.sql', import.meta.url), [
  'last_leaf', 'append', 'latest_checkpoint', 'checkpoint_at', 'checkpoints', 'leaf_of', 'size', 'node_hashes',
  'signing_keys', 'record_signing_key',
], { checkpoint_columns: CHECKPOINT_COLUMNS });

const toCheckpoint = (r: CheckpointRow): SignedCheckpoint => ({
  treeSize: toSafeNumber(r.tree_size), rootHash: r.root_hash, issuedAt: r.issued_at, keyId: r.key_id, signature: r.signature,
});

export class SqlMerkleLog implements MerkleLog {
  constructor(private readonly db: SqlClient, private readonly sha256: Sha256) {}

  /** Where the log stands: its size, the global position of its last leaf (0: none) and its frontier. */
  async state(): Promise<{ size: number; lastPosition: number; frontier: MerkleFrontier }> {
    const rows = await this.db.query<{ leaf_index: string; global_position: string }>(Q.last_leaf);
    const size = rows[0] ? toSafeNumber(rows[0].leaf_index) + 1 : 0;
    const hashes = size === 0 ? [] : await this.nodeHashes(this.db, rangeNodes(0, size));
    return { size, lastPosition: rows[0] ? toSafeNumber(rows[0].global_position) : 0, frontier: MerkleFrontier.restore(this.sha256, size, hashes) };
  }

  /**
   * Stores a batch atomically: the leaves (which must continue the log exactly: the primary key
   * refuses a second sealer's overlapping batch), the subtrees they complete, and optionally a checkpoint.
   */
  async append(leaves: readonly SealedLeaf[], nodes: readonly { ref: NodeRef; hash: Uint8Array }[], checkpoint?: SignedCheckpoint): Promise<void> {
    const inner = nodes.filter((n) => n.ref.level > 0);
    // One statement, so one round trip and atomic without BEGIN/COMMIT: the sealer's whole cost in PostgreSQL
    // per page (a page may be a single event when the log is idle, so round trips matter more than rows).
    await this.db.query(
      Q.append,
      [
        leaves.map((l) => l.leafIndex), leaves.map((l) => l.globalPosition), leaves.map((l) => l.eventId), leaves.map((l) => toHex(l.leafHash)),
        inner.map((n) => n.ref.level), inner.map((n) => n.ref.index), inner.map((n) => toHex(n.hash)),
        checkpoint?.treeSize ?? null, checkpoint?.rootHash ?? null, checkpoint?.issuedAt ?? null, checkpoint?.keyId ?? null, checkpoint?.signature ?? null,
      ],
      'chronicle_merkle_append',
    );
  }

  async latestCheckpoint(): Promise<SignedCheckpoint | null> {
    const rows = await this.db.query<CheckpointRow>(Q.latest_checkpoint, [], 'chronicle_latest_checkpoint');
    return rows[0] ? toCheckpoint(rows[0]) : null;
  }

  async checkpointAt(treeSize: number): Promise<SignedCheckpoint | null> {
    const rows = await this.db.query<CheckpointRow>(Q.checkpoint_at, [treeSize]);
    return rows[0] ? toCheckpoint(rows[0]) : null;
  }

  /** Checkpoints in size order, after `afterSize`, at most `limit`. */
  async checkpoints(afterSize: number, limit: number): Promise<SignedCheckpoint[]> {
    const rows = await this.db.query<CheckpointRow>(Q.checkpoints, [afterSize, limit]);
    return rows.map(toCheckpoint);
  }

  async signingKeys(): Promise<RecordedSigningKey[]> {
    return readSigningKeys(this.db);
  }

  async recordSigningKey(seq: number, key: Pick<CheckpointSigner, 'keyId' | 'publicKey'>): Promise<boolean> {
    const rows = await this.db.query(Q.record_signing_key, [seq, key.keyId, key.publicKey]);
    return rows.length === 1;
  }

  /** The leaf an event was sealed as; null when it is not sealed (yet, or not an event of this store). */
  async leafOf(eventId: string): Promise<{ leafIndex: number; globalPosition: number; leafHash: string } | null> {
    const rows = await this.db.query<{ leaf_index: string; global_position: string; leaf_hash: string }>(
      Q.leaf_of, [eventId], 'chronicle_leaf_of',
    );
    const r = rows[0];
    return r ? { leafIndex: toSafeNumber(r.leaf_index), globalPosition: toSafeNumber(r.global_position), leafHash: r.leaf_hash } : null;
  }

  /** The size of the log as stored (may be ahead of the latest checkpoint). */
  async size(): Promise<number> {
    const rows = await this.db.query<{ n: string | null }>(Q.size);
    return rows[0]?.n ? toSafeNumber(rows[0].n) : 0;
  }

  /** RFC 9162 inclusion proof of a sealed leaf in the tree of treeSize leaves (treeSize <= size()). */
  async inclusionProof(leafIndex: number, treeSize: number): Promise<string[]> {
    return this.assemble(inclusionProofRanges(leafIndex, treeSize));
  }

  /** RFC 9162 consistency proof between two sizes (both <= size()). */
  async consistencyProof(oldSize: number, newSize: number): Promise<string[]> {
    return this.assemble(consistencyProofRanges(oldSize, newSize));
  }

  /** The root of the first treeSize leaves, from stored subtrees. */
  async rootAt(treeSize: number): Promise<string> {
    return toHex(rangeRoot(this.sha256, await this.nodeHashes(this.db, rangeNodes(0, treeSize))));
  }

  /** Every range's MTH from its stored subtrees, all fetched in one query. */
  private async assemble(ranges: LeafRange[]): Promise<string[]> {
    const perRange = ranges.map(([start, end]) => rangeNodes(start, end));
    const hashes = await this.nodeHashes(this.db, perRange.flat());
    let at = 0;
    return perRange.map((refs) => {
      const own = hashes.slice(at, at + refs.length);
      at += refs.length;
      return toHex(rangeRoot(this.sha256, own));
    });
  }

  /** The stored hashes of the given subtrees, in the order given; throws if one is not stored. */
  private async nodeHashes(db: SqlQueryable, refs: readonly NodeRef[]): Promise<Uint8Array[]> {
    if (refs.length === 0) return [];
    const rows = await db.query<{ ord: string; h: string | null }>(
      Q.node_hashes,
      [refs.map((r) => r.level), refs.map((r) => r.index)],
      'chronicle_merkle_node_hashes',
    );
    return rows.map((row, i) => {
      if (row.h === null) throw new Error(`Merkle subtree ${refs[i]!.level}/${refs[i]!.index} is not stored`);
      return fromHex(row.h);
    });
  }
}

/** The recorded signing keys, oldest first (also read by `chronicle verify` straight from a database). */
export async function readSigningKeys(db: SqlQueryable): Promise<RecordedSigningKey[]> {
  const rows = await db.query<{ seq: number | string; key_id: string; public_key: string; recorded_at: string }>(Q.signing_keys);
  return rows.map((r) => ({ seq: Number(r.seq), keyId: r.key_id, publicKey: r.public_key, recordedAt: r.recorded_at }));
}
