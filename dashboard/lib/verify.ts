// Checking the ledger's proofs in the browser, with the ledger's own verifier code (src/domain/audit, pure
// and I/O-free, and src/application/verify-log.ts) and audited JavaScript hashes and signatures (@noble/*):
// nothing here trusts the server's word, only its public key, which the person can compare with their own.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { verifyLog } from '@ledger/application/verify-log';
import { httpVerifySource } from '@ledger/adapters/audit/http-verify-source';
import { checkpointSignatureValid, keyIdOf, type SignedCheckpoint } from '@ledger/domain/audit/checkpoint';
import { fromHex, toHex } from '@ledger/domain/audit/hash';
import { leafHash, verifyInclusion } from '@ledger/domain/audit/merkle';
import type { VerifyReport } from '@ledger/domain/audit/verify';
import { api, apiUrl, authHeaders } from './api';

export const sha256 = (bytes: Uint8Array): Uint8Array => nobleSha256(bytes);

export interface PublicKeyAnswer {
  algorithm: string;
  keyId: string;
  publicKey: string;
  publicKeyPem: string;
}

export interface ProofAnswer {
  eventId: string;
  globalPosition: number;
  leafIndex: number;
  treeSize: number;
  entry: string;
  leafHash: string;
  proof: string[];
  checkpoint: SignedCheckpoint & { format: string; signedMessage: string };
}

const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** A signature check with this raw public key (base64), or one that refuses everything if it is malformed. */
export function signatureVerifier(publicKeyBase64: string): (message: Uint8Array, signatureBase64: string) => boolean {
  const key = fromBase64(publicKeyBase64);
  return (message, signature) => {
    try {
      return ed25519.verify(fromBase64(signature), message, key);
    } catch {
      return false;
    }
  };
}

/** The key the server serves, its id recomputed here (sha256 of the raw key), and whether they agree. */
export async function fetchPublicKey(): Promise<PublicKeyAnswer & { keyIdComputed: string }> {
  const answer = await api<PublicKeyAnswer>('/audit/public-key');
  return { ...answer, keyIdComputed: keyIdOf(sha256, fromBase64(answer.publicKey)) };
}

export interface InclusionCheck {
  proof: ProofAnswer;
  /** SHA-256(0x00 || entry) equals the leaf hash the server sent. */
  leafHashMatches: boolean;
  /** The entry is this event's: its id and position. */
  entryIsTheEvent: boolean;
  /** The audit path folds to the checkpoint's root (RFC 9162 2.1.3.2). */
  pathValid: boolean;
  /** The checkpoint is signed by the public key. */
  signatureValid: boolean;
  ok: boolean;
}

/** Fetches an event's inclusion proof and checks every step of it here. */
export async function checkInclusion(eventId: string, publicKeyBase64: string): Promise<InclusionCheck> {
  const proof = await api<ProofAnswer>(`/audit/events/${encodeURIComponent(eventId)}/proof`);
  const entry = new TextEncoder().encode(proof.entry);
  const computedLeaf = leafHash(sha256, entry);
  const leafHashMatches = toHex(computedLeaf) === proof.leafHash;
  let entryIsTheEvent = false;
  try {
    const parsed = JSON.parse(proof.entry) as { eventId?: string; globalPosition?: number };
    entryIsTheEvent = parsed.eventId === proof.eventId && parsed.globalPosition === proof.globalPosition;
  } catch {
    entryIsTheEvent = false;
  }
  let pathValid = false;
  try {
    pathValid = verifyInclusion(sha256, proof.leafIndex, proof.treeSize, computedLeaf, proof.proof.map(fromHex), fromHex(proof.checkpoint.rootHash))
      && proof.checkpoint.treeSize === proof.treeSize;
  } catch {
    pathValid = false;
  }
  const signatureValid = checkpointSignatureValid(proof.checkpoint, signatureVerifier(publicKeyBase64));
  return { proof, leafHashMatches, entryIsTheEvent, pathValid, signatureValid, ok: leafHashMatches && entryIsTheEvent && pathValid && signatureValid };
}

export interface FullVerification {
  at: string;
  keyId: string;
  durationMs: number;
  report: VerifyReport;
}

const LAST_FULL_KEY = 'chronicle.lastFullVerification';

/**
 * `chronicle verify --url` in the browser: every event of $all, every chain link and content hash, every
 * leaf, every signed root and signature. Kept in localStorage as "the last full verification".
 */
export async function verifyEverything(publicKeyBase64: string, keyId: string): Promise<FullVerification> {
  const started = performance.now();
  const base = await apiUrl('');
  const report = await verifyLog(httpVerifySource(`${base}/`, await authHeaders()), sha256, signatureVerifier(publicKeyBase64));
  const result: FullVerification = { at: new Date().toISOString(), keyId, durationMs: Math.round(performance.now() - started), report };
  try {
    window.localStorage.setItem(LAST_FULL_KEY, JSON.stringify(result));
  } catch { /* storage full or disabled: the result is still shown */ }
  return result;
}

export function lastFullVerification(): FullVerification | null {
  try {
    const text = window.localStorage.getItem(LAST_FULL_KEY);
    return text === null ? null : (JSON.parse(text) as FullVerification);
  } catch {
    return null;
  }
}

/** Trust on first use: the key id seen first in this browser, to warn if the server's key ever changes. */
const PINNED_KEY = 'chronicle.pinnedKeyId';
export function pinnedKeyId(current: string): { pinned: string; changed: boolean } {
  const pinned = window.localStorage.getItem(PINNED_KEY);
  if (pinned === null) {
    window.localStorage.setItem(PINNED_KEY, current);
    return { pinned: current, changed: false };
  }
  return { pinned, changed: pinned !== current };
}
export const repinKeyId = (keyId: string): void => window.localStorage.setItem(PINNED_KEY, keyId);
