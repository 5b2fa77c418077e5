// A signed checkpoint of the Merkle log: "at issuedAt the log had treeSize entries and this root". The
// signature covers size, root and time together: an inclusion proof alone does not fix the tree size
// (test/audit-merkle.unit.test.ts shows two sizes sharing a proof's shape), so a root is only meaningful
// with the size it was signed with. The signed bytes, "chronicle-checkpoint-v1":
//
//   chronicle-checkpoint-v1\n<treeSize in decimal>\n<rootHash, 64 lower-case hex>\n<issuedAt>\n
//
// issuedAt is ISO-8601 UTC with milliseconds (Date.prototype.toISOString). Ed25519 (RFC 8032), signature and
// public key transported in base64; keyId is the first 16 hex digits of SHA-256 of the raw 32-byte key.
// Signing and verifying are passed in: src/domain imports no node:crypto.
import { digest, toHex, type Sha256 } from './hash.js';

export const CHECKPOINT_FORMAT = 'chronicle-checkpoint-v1';

export interface Checkpoint {
  treeSize: number;
  /** MTH of the first treeSize leaves, lower-case hex. */
  rootHash: string;
  issuedAt: string;
}

export interface SignedCheckpoint extends Checkpoint {
  keyId: string;
  /** Ed25519 signature of checkpointMessage(), base64. */
  signature: string;
}

/** Verifies an Ed25519 signature of `message` (base64 signature) with the key in hand. */
export type SignatureVerifier = (message: Uint8Array, signatureBase64: string) => boolean;

const ISSUED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ROOT = /^[0-9a-f]{64}$/;

/** The exact bytes signed. Throws on a checkpoint that could not have been issued (so it cannot verify). */
export function checkpointMessage(checkpoint: Checkpoint): Uint8Array {
  if (!Number.isSafeInteger(checkpoint.treeSize) || checkpoint.treeSize < 0) throw new RangeError('treeSize must be a non-negative safe integer');
  if (!ROOT.test(checkpoint.rootHash)) throw new RangeError('rootHash must be 64 lower-case hex digits');
  if (!ISSUED_AT.test(checkpoint.issuedAt)) throw new RangeError('issuedAt must be YYYY-MM-DDTHH:MM:SS.sssZ');
  return new TextEncoder().encode(`${CHECKPOINT_FORMAT}\n${checkpoint.treeSize}\n${checkpoint.rootHash}\n${checkpoint.issuedAt}\n`);
}

/** True when the signature is the key's over this checkpoint; false (never a throw) for anything malformed. */
export function checkpointSignatureValid(checkpoint: SignedCheckpoint, verify: SignatureVerifier): boolean {
  try {
    return verify(checkpointMessage(checkpoint), checkpoint.signature);
  } catch {
    return false;
  }
}

/** keyId of a raw 32-byte Ed25519 public key. */
export function keyIdOf(sha256: Sha256, rawPublicKey: Uint8Array): string {
  return toHex(digest(sha256, rawPublicKey)).slice(0, 16);
}
