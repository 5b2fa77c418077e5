// The Merkle log port (docs/audit.md): where the sealer stores leaves, the subtrees they complete and signed
// checkpoints, and where the audit routes answer proofs from. One adapter: SQL, in the event store's
// database (src/adapters/audit/sql-merkle-log.ts). The tree's arithmetic is the domain's (src/domain/audit/).
// Also the key that signs checkpoints (an Ed25519 key: src/adapters/audit/signing-key.ts).
import type { SignedCheckpoint } from '../domain/audit/checkpoint.js';
import type { MerkleFrontier, NodeRef } from '../domain/audit/merkle.js';

export interface SealedLeaf {
  leafIndex: number;
  globalPosition: number;
  eventId: string;
  leafHash: Uint8Array;
}

export interface MerkleLog extends SigningKeyRegistry {
  /** Where the log stands: its size, the global position of its last leaf (0: none) and its frontier. */
  state(): Promise<{ size: number; lastPosition: number; frontier: MerkleFrontier }>;
  /**
   * Stores a batch atomically: the leaves (which must continue the log exactly: a second sealer's overlapping
   * batch is refused), the subtrees they complete, and optionally a checkpoint.
   */
  append(leaves: readonly SealedLeaf[], nodes: readonly { ref: NodeRef; hash: Uint8Array }[], checkpoint?: SignedCheckpoint): Promise<void>;
  latestCheckpoint(): Promise<SignedCheckpoint | null>;
  checkpointAt(treeSize: number): Promise<SignedCheckpoint | null>;
  /** Checkpoints in size order, after `afterSize`, at most `limit`. */
  checkpoints(afterSize: number, limit: number): Promise<SignedCheckpoint[]>;
  /** The leaf an event was sealed as; null when it is not sealed (yet, or not an event of this store). */
  leafOf(eventId: string): Promise<{ leafIndex: number; globalPosition: number; leafHash: string } | null>;
  /** RFC 9162 inclusion proof (hex, from the leaf's sibling upwards) of a sealed leaf in the tree of treeSize leaves. */
  inclusionProof(leafIndex: number, treeSize: number): Promise<string[]>;
  /** RFC 9162 consistency proof between two sizes (both at most the log's size). */
  consistencyProof(oldSize: number, newSize: number): Promise<string[]>;
}

/** A signing key's public half as the store records it (src/adapters/event-store/sql/migrations/008-signing-keys.sql). */
export interface RecordedSigningKey {
  /** 1 for the ledger's first key; each explicit rotation adds one. The highest is the key that signs now. */
  seq: number;
  keyId: string;
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: string;
  /** When it was recorded, ISO-8601 UTC (seconds). */
  recordedAt: string;
}

/** The store's record of the keys that sign checkpoints: a verifier's source of the ledger's public key. */
export interface SigningKeyRegistry {
  /** Every recorded key, oldest first. */
  signingKeys(): Promise<RecordedSigningKey[]>;
  /**
   * Records a key as number `seq` (the one after the latest). False when another process recorded that
   * number first: read the keys again to see which key won.
   */
  recordSigningKey(seq: number, key: Pick<CheckpointSigner, 'keyId' | 'publicKey'>): Promise<boolean>;
  latestCheckpoint(): Promise<SignedCheckpoint | null>;
}

export interface CheckpointSigner {
  keyId: string;
  /** Raw 32-byte Ed25519 public key, base64. */
  publicKey: string;
  /** SubjectPublicKeyInfo PEM, for openssl and other tools. */
  publicKeyPem: string;
  /** Ed25519 signature of the message, base64. */
  sign(message: Uint8Array): string;
}
