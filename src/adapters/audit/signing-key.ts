// The Ed25519 key that signs the Merkle log's checkpoints (node:crypto), and the verifier side of it.
// Where the private key comes from, first match wins:
//   CHRONICLE_SIGNING_KEY        PKCS#8 PEM text (an environment variable, e.g. from a secret store);
//   CHRONICLE_SIGNING_KEY_FILE   a PEM file;
//   <data dir>/signing-key.pem   generated on first start (mode 0600) and reused: the embedded default.
// The public key is served at GET /audit/public-key; an auditor keeps a copy of it beside saved checkpoints.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keyIdOf, type SignatureVerifier } from '../../domain/audit/checkpoint.js';
import { sha256 } from '../event-store/sql/sql-event-store.js';
import type { CheckpointSigner } from '../../ports/merkle-log.js';

type SigningKeySource = 'CHRONICLE_SIGNING_KEY' | 'CHRONICLE_SIGNING_KEY_FILE' | 'data-dir' | 'generated';

const SIGNING_KEY_FILE_NAME = 'signing-key.pem';

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

/** Loads the signing key as the header says; generates and saves one in dataDir when none is configured. */
export async function loadSigner(options: { pem?: string | undefined; file?: string | undefined; dataDir: string }): Promise<{ signer: CheckpointSigner; source: SigningKeySource }> {
  if (options.pem) return { signer: signerFromPrivateKey(createPrivateKey(options.pem)), source: 'CHRONICLE_SIGNING_KEY' };
  if (options.file) return { signer: signerFromPrivateKey(createPrivateKey(await readFile(options.file, 'utf8'))), source: 'CHRONICLE_SIGNING_KEY_FILE' };
  const path = join(options.dataDir, SIGNING_KEY_FILE_NAME);
  try {
    return { signer: signerFromPrivateKey(createPrivateKey(await readFile(path, 'utf8'))), source: 'data-dir' };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const { signer, pem } = generateSigner();
  await mkdir(options.dataDir, { recursive: true });
  // 'wx': never overwrite a key another process wrote meanwhile; then read back whichever won.
  try {
    await writeFile(path, pem, { mode: 0o600, flag: 'wx' });
    await chmod(path, 0o600);
    return { signer, source: 'generated' };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return { signer: signerFromPrivateKey(createPrivateKey(await readFile(path, 'utf8'))), source: 'data-dir' };
  }
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
