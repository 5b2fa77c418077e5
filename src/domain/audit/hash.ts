// The one hash function the audit log uses, passed in rather than imported: src/domain does no I/O and
// imports nothing from node:*, so the caller (an adapter, the CLI, a test) supplies SHA-256, typically
// `(bytes) => createHash('sha256').update(bytes).digest()`. Everything here is byte plumbing around it.

/** SHA-256 of the given bytes: must return exactly SHA256_BYTES bytes and must not keep or alter its input. */
export type Sha256 = (bytes: Uint8Array) => Uint8Array;

/** Length of a SHA-256 digest, and so of every leaf, node and root hash of the Merkle log. */
export const SHA256_BYTES = 32;

const HEX_DIGITS = '0123456789abcdef';
const HEX = /^(?:[0-9a-f]{2})*$/;

/** Lower-case hex, the only form in which hashes are stored, signed and shown. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!;
  return out;
}

/** Parses lower-case hex of even length; anything else throws, so two spellings never name one hash. */
export function fromHex(hex: string): Uint8Array {
  if (!HEX.test(hex)) throw new RangeError('expected lower-case hex of even length');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** The hash, checked for length: a short or long digest is a wrong function passed in, a programmer error. */
export function digest(sha256: Sha256, bytes: Uint8Array): Uint8Array {
  const out = sha256(bytes);
  if (!(out instanceof Uint8Array) || out.length !== SHA256_BYTES) {
    throw new TypeError(`the sha256 function must return ${SHA256_BYTES} bytes`);
  }
  return out;
}
