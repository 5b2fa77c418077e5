// `chronicle verify`'s driver: feeds a log source (a database, or the HTTP API) through the pure verifier
// (src/domain/audit/verify.ts) and returns its report. Memory: one hash per stream, O(log n) for the tree.
import type { SignatureVerifier, SignedCheckpoint } from '../domain/audit/checkpoint.js';
import type { Sha256 } from '../domain/audit/hash.js';
import { LogVerifier, type VerifyReport } from '../domain/audit/verify.js';
import type { VerifySource } from '../ports/verify-source.js';

export async function verifyLog(
  source: VerifySource, sha256: Sha256, verifySignature: SignatureVerifier, saved?: SignedCheckpoint,
  onProgress?: (leaves: number) => void,
): Promise<VerifyReport> {
  const checkpoints = await source.checkpoints();
  const verifier = new LogVerifier(sha256, [...checkpoints.map((c) => c.treeSize), ...(saved ? [saved.treeSize] : [])]);
  let count = 0;
  for await (const item of source.leaves()) {
    verifier.add(item);
    if (++count % 100_000 === 0) onProgress?.(count);
  }
  for await (const event of source.unsealed()) verifier.addUnsealed(event);
  return verifier.finish(checkpoints, verifySignature, saved);
}
