// The Ed25519 key that signs the Merkle log's checkpoints (node:crypto), and the verifier side of it. Which
// key a ledger uses is chosen at start-up (src/cli/signing-key-choice.ts, rule in README "Audit"); these are
// the file and key operations it needs. The public key is served at GET /audit/public-key and recorded in the
// store (signing_keys); an auditor keeps a copy of it beside saved checkpoints.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { keyIdOf, type SignatureVerifier } from '../../domain/audit/checkpoint.js';
import { sha256 } from '../event-store/sql/sql-event-store.js';
import type { CheckpointSigner } from '../../ports/merkle-log.js';

function signerFromPrivateKey(privateKey: KeyObject): CheckpointSigner {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the signing key must be Ed25519, not ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  const publicKey = createPublicKey(privateKey);
  const raw = rawPublicKey(publicKey);
  return {
    keyId: keyIdOf(sha256, raw),
    publicKey: Buffer.from(raw).toString('base64'),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (message) => sign(null, message, privateKey).toString('base64'),
  };
}

/** A fresh key, for tests and first starts. */
export function generateSigner(): { signer: CheckpointSigner; pem: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { signer: signerFromPrivateKey(privateKey), pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A signer from PKCS#8 PEM text; throws when it is not an Ed25519 private key. */
export function signerFromPem(pem: string): CheckpointSigner {
  return signerFromPrivateKey(createPrivateKey(pem));
}

/** The signer in a PEM file; null when there is no such file. */
export async function readSignerFile(path: string): Promise<CheckpointSigner | null> {
  try {
    return signerFromPem(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Writes a key file (mode 0600, its directory made 0700); false when the file exists already ('wx': never
 * overwrite a key another process wrote meanwhile).
 */
async function writeKeyFile(path: string, pem: string): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, pem, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  await chmod(path, 0o600);
  return true;
}

/** A new key written to `path`: the signer. Null when the file exists already (the caller reads whichever won). */
export async function writeNewSignerFile(path: string): Promise<CheckpointSigner | null> {
  const { signer, pem } = generateSigner();
  return (await writeKeyFile(path, pem)) ? signer : null;
}

/** A new key in `<dir>/<its keyId>.pem`: a fresh key's id is new, so no other process has that file. */
export async function writeNewSignerFileIn(dir: string): Promise<{ signer: CheckpointSigner; path: string }> {
  const { signer, pem } = generateSigner();
  const path = join(dir, `${signer.keyId}.pem`);
  if (!(await writeKeyFile(path, pem))) throw new Error(`${path} exists already`);
  return { signer, path };
}

/** A verifier for a public key given as raw base64 (what /audit/public-key serves) or as PEM. */
export function signatureVerifier(publicKey: string): SignatureVerifier {
  const key = publicKey.includes('-----BEGIN')
    ? createPublicKey(publicKey)
    : createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey, 'base64').toString('base64url') }, format: 'jwk' });
  return (message, signature) => {
    try {
      return verify(null, message, key, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  };
}

/** True for an Ed25519 public key as raw base64 (32 bytes) or PEM; false for anything else, never a throw. */
export function isEd25519PublicKey(publicKey: string): boolean {
  try {
    // A private key would be turned into its public key by createPublicKey: refuse it instead, it has no
    // business on an auditor's machine (and is probably the wrong file).
    if (publicKey.includes('PRIVATE KEY')) return false;
    if (publicKey.includes('-----BEGIN')) {
      const key = createPublicKey(publicKey);
      return key.type === 'public' && key.asymmetricKeyType === 'ed25519';
    }
    return /^[A-Za-z0-9+/]{43}=$/.test(publicKey) && Buffer.from(publicKey, 'base64').length === 32;
  } catch {
    return false;
  }
}

/** keyId of a public key given as raw base64 or PEM. */
export function keyIdOfPublicKey(publicKey: string): string {
  const key = publicKey.includes('-----BEGIN') ? createPublicKey(publicKey) : null;
  return keyIdOf(sha256, key ? rawPublicKey(key) : new Uint8Array(Buffer.from(publicKey, 'base64')));
}

function rawPublicKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(String(jwk.x), 'base64url'));
}
