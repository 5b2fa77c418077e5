// The global audit log as a Merkle tree, exactly as RFC 9162 (Certificate Transparency v2) section 2.1
// defines it, so that any CT tooling, or a sceptic with the RFC open, can check our proofs:
//   leaf hash   SHA-256(0x00 || entry)          (2.1.1; the 0x00/0x01 prefixes keep a leaf from passing
//   node hash   SHA-256(0x01 || left || right)   for an inner node: second-preimage resistance)
//   MTH({})     SHA-256("")
//   MTH(D[n])   node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two smaller than n
// The trees here take leaf *hashes*, not entries: the sealer stores leaf hashes, and a proof never needs an
// entry. Proof generation recomputes subtree roots from the leaves (O(n) hashes per call); that is the
// reference algorithm, for tests, the verifier and small logs. A sealer serving large logs will want stored
// subtree hashes, and these functions are the oracle it must agree with.
//
// Sizes and indices are JS numbers (safe integers): event positions are too (see ports/event-store.ts), and
// the bit operations of the RFC are done with arithmetic (% 2, floor(/ 2)) because JS `>>` truncates to 32
// bits. Generators throw MerkleArgumentError on bad arguments (a programmer error); verifiers never throw on
// what a proof contains: a malformed proof, a wrong size, a hash of the wrong length are all just `false`.
import { bytesEqual, concatBytes, digest, SHA256_BYTES, type Sha256 } from './hash.js';

export class MerkleArgumentError extends RangeError {
  override readonly name = 'MerkleArgumentError';
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** RFC 9162 2.1.1: the hash of one log entry (here, an event's canonical encoding). */
export function leafHash(sha256: Sha256, entry: Uint8Array): Uint8Array {
  return digest(sha256, concatBytes(LEAF_PREFIX, entry));
}

/** RFC 9162 2.1.1: the hash of an inner node from its two children. */
export function nodeHash(sha256: Sha256, left: Uint8Array, right: Uint8Array): Uint8Array {
  return digest(sha256, concatBytes(NODE_PREFIX, left, right));
}

/** MTH of the empty list: SHA-256 of no bytes. */
export function emptyRootHash(sha256: Sha256): Uint8Array {
  return digest(sha256, new Uint8Array(0));
}

/** MTH(D[n]) of the given leaf hashes. */
export function rootHash(sha256: Sha256, leafHashes: readonly Uint8Array[]): Uint8Array {
  checkLeafHashes(leafHashes, leafHashes.length);
  return leafHashes.length === 0 ? emptyRootHash(sha256) : subtreeRoot(sha256, leafHashes, 0, leafHashes.length);
}

/**
 * RFC 9162 2.1.3.1 PATH(leafIndex, D[treeSize]): the audit path of one leaf in the tree of the first
 * `treeSize` leaves (treeSize may be smaller than leafHashes.length: a proof against an older checkpoint).
 * Ordered from the leaf's sibling up to the root's child, as the RFC's recursion yields it.
 */
export function inclusionProof(sha256: Sha256, leafIndex: number, treeSize: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  checkSize('treeSize', treeSize);
  checkSize('leafIndex', leafIndex);
  if (treeSize > leafHashes.length) throw new MerkleArgumentError(`treeSize ${treeSize} exceeds the ${leafHashes.length} leaves given`);
  if (leafIndex >= treeSize) throw new MerkleArgumentError(`leafIndex ${leafIndex} is not below treeSize ${treeSize}`);
  checkLeafHashes(leafHashes, treeSize);
  const proof: Uint8Array[] = [];
  path(sha256, leafHashes, leafIndex, 0, treeSize, proof);
  return proof;
}

/**
 * RFC 9162 2.1.4.1 PROOF(oldSize, D[newSize]): proves the tree of the first oldSize leaves is a prefix of the
 * tree of the first newSize. Empty when oldSize is 0 or equals newSize: there is nothing to prove (the RFC
 * defines PROOF for 0 < m < n only).
 */
export function consistencyProof(sha256: Sha256, oldSize: number, newSize: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  checkSize('oldSize', oldSize);
  checkSize('newSize', newSize);
  if (oldSize > newSize) throw new MerkleArgumentError(`oldSize ${oldSize} exceeds newSize ${newSize}: a log only grows`);
  if (newSize > leafHashes.length) throw new MerkleArgumentError(`newSize ${newSize} exceeds the ${leafHashes.length} leaves given`);
  checkLeafHashes(leafHashes, newSize);
  const proof: Uint8Array[] = [];
  if (oldSize === 0 || oldSize === newSize) return proof;
  subproof(sha256, leafHashes, oldSize, 0, newSize, true, proof);
  return proof;
}

/** RFC 9162 2.1.3.2: true when `proof` shows leafHash at leafIndex in the tree of treeSize leaves with `root`. */
export function verifyInclusion(
  sha256: Sha256, leafIndex: number, treeSize: number, leafHash: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array,
): boolean {
  if (!isSize(leafIndex) || !isSize(treeSize) || leafIndex >= treeSize) return false;
  if (!isHash(leafHash) || !isHash(root) || !isHashList(proof)) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(sha256, p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(sha256, r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * RFC 9162 2.1.4.2: true when `proof` shows the tree of oldSize leaves with oldRoot is a prefix of the tree
 * of newSize leaves with newRoot. Equal sizes need an empty proof and equal roots. Size 0 needs an empty proof
 * and oldRoot = SHA-256(""): stricter than transparency-dev/merkle, which accepts any root for size 0, because
 * a checkpoint of the empty log that names another root is itself a lie worth reporting.
 */
export function verifyConsistency(
  sha256: Sha256, oldSize: number, newSize: number, oldRoot: Uint8Array, newRoot: Uint8Array, proof: readonly Uint8Array[],
): boolean {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !isHashList(proof)) return false;
  if (oldSize === 0) {
    const empty = emptyRootHash(sha256);
    return proof.length === 0 && bytesEqual(oldRoot, empty) && (newSize > 0 || bytesEqual(newRoot, empty));
  }
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (proof.length === 0) return false;
  // Step 2: when the old tree is a complete subtree, its root is the proof's implicit first element.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(sha256, c, fr);
      sr = nodeHash(sha256, c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sha256, sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

// ---------------------------------------------------------------------------------------------------------
// The RFC's recursions over the index range [start, end) of the leaf hashes (no copying of slices)

function subtreeRoot(sha256: Sha256, leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return leaves[start]!;
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(sha256, subtreeRoot(sha256, leaves, start, start + k), subtreeRoot(sha256, leaves, start + k, end));
}

/** PATH(m, D[start:end]), m relative to start, appended to `out`. */
function path(sha256: Sha256, leaves: readonly Uint8Array[], m: number, start: number, end: number, out: Uint8Array[]): void {
  const n = end - start;
  if (n === 1) return;
  const k = largestPowerOfTwoBelow(n);
  if (m < k) {
    path(sha256, leaves, m, start, start + k, out);
    out.push(subtreeRoot(sha256, leaves, start + k, end));
  } else {
    path(sha256, leaves, m - k, start + k, end, out);
    out.push(subtreeRoot(sha256, leaves, start, start + k));
  }
}

/** SUBPROOF(m, D[start:end], b), appended to `out`. */
function subproof(
  sha256: Sha256, leaves: readonly Uint8Array[], m: number, start: number, end: number, complete: boolean, out: Uint8Array[],
): void {
  const n = end - start;
  if (m === n) {
    if (!complete) out.push(subtreeRoot(sha256, leaves, start, end));
    return;
  }
  const k = largestPowerOfTwoBelow(n);
  if (m <= k) {
    subproof(sha256, leaves, m, start, start + k, complete, out);
    out.push(subtreeRoot(sha256, leaves, start + k, end));
  } else {
    subproof(sha256, leaves, m - k, start + k, end, false, out);
    out.push(subtreeRoot(sha256, leaves, start, start + k));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Arithmetic and checks

/** The largest power of two strictly smaller than n, for n > 1. */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isOdd = (x: number): boolean => x % 2 === 1;
const half = (x: number): number => Math.floor(x / 2);
const isSize = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

function isPowerOfTwo(x: number): boolean {
  let k = 1;
  while (k < x) k *= 2;
  return k === x;
}

const isHash = (x: unknown): x is Uint8Array => x instanceof Uint8Array && x.length === SHA256_BYTES;
const isHashList = (xs: unknown): xs is readonly Uint8Array[] => Array.isArray(xs) && xs.every(isHash);

function checkSize(name: string, value: number): void {
  if (!isSize(value)) throw new MerkleArgumentError(`${name} must be a non-negative safe integer, got ${String(value)}`);
}

function checkLeafHashes(leafHashes: readonly Uint8Array[], count: number): void {
  if (!Array.isArray(leafHashes)) throw new MerkleArgumentError('leafHashes must be an array');
  for (let i = 0; i < count; i++) {
    if (!isHash(leafHashes[i])) throw new MerkleArgumentError(`leaf hash ${i} is not ${SHA256_BYTES} bytes`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Proofs from stored subtree hashes. A log that keeps the hash of every complete, aligned subtree (level L,
// index i: the 2^L leaves from i * 2^L) can answer any RFC 9162 proof for any tree size with O(log n) of
// them, none recomputed from leaves: every range the RFC's recursions take is a run of such subtrees, largest
// first. These functions say which subtrees a proof needs (to fetch them in one query) and assemble the proof
// from their hashes; the leaf-based functions above are the oracle they are tested against.

/** A complete aligned subtree: leaves [index * 2^level, (index + 1) * 2^level). Level 0 is a leaf. */
export interface NodeRef {
  level: number;
  index: number;
}

/** A range [start, end) of leaves whose MTH a proof contains. */
export type LeafRange = readonly [start: number, end: number];

/** The complete subtrees, left to right, whose hashes fold into MTH(D[start:end]) (see rangeRoot). */
export function rangeNodes(start: number, end: number): NodeRef[] {
  checkSize('start', start);
  checkSize('end', end);
  if (end <= start) throw new MerkleArgumentError(`empty range [${start}, ${end})`);
  const out: NodeRef[] = [];
  let at = start;
  while (at < end) {
    const n = end - at;
    const size = isPowerOfTwo(n) ? n : largestPowerOfTwoBelow(n);
    if (at % size !== 0) throw new MerkleArgumentError(`range [${start}, ${end}) is not made of aligned subtrees`);
    out.push({ level: Math.log2(size), index: at / size });
    at += size;
  }
  return out;
}

/** MTH of a range from the hashes of its rangeNodes, in their order: each split puts the larger part left. */
export function rangeRoot(sha256: Sha256, nodeHashes: readonly Uint8Array[]): Uint8Array {
  if (nodeHashes.length === 0) throw new MerkleArgumentError('a range has at least one subtree');
  let hash = nodeHashes.at(-1)!;
  for (let i = nodeHashes.length - 2; i >= 0; i--) hash = nodeHash(sha256, nodeHashes[i]!, hash);
  return hash;
}

/** The ranges whose MTHs make PATH(leafIndex, D[treeSize]), in the proof's order. */
export function inclusionProofRanges(leafIndex: number, treeSize: number): LeafRange[] {
  checkSize('treeSize', treeSize);
  checkSize('leafIndex', leafIndex);
  if (leafIndex >= treeSize) throw new MerkleArgumentError(`leafIndex ${leafIndex} is not below treeSize ${treeSize}`);
  const out: LeafRange[] = [];
  const walk = (m: number, start: number, end: number): void => {
    const n = end - start;
    if (n === 1) return;
    const k = largestPowerOfTwoBelow(n);
    if (m < k) {
      walk(m, start, start + k);
      out.push([start + k, end]);
    } else {
      walk(m - k, start + k, end);
      out.push([start, start + k]);
    }
  };
  walk(leafIndex, 0, treeSize);
  return out;
}

/** The ranges whose MTHs make PROOF(oldSize, D[newSize]); empty when oldSize is 0 or newSize. */
export function consistencyProofRanges(oldSize: number, newSize: number): LeafRange[] {
  checkSize('oldSize', oldSize);
  checkSize('newSize', newSize);
  if (oldSize > newSize) throw new MerkleArgumentError(`oldSize ${oldSize} exceeds newSize ${newSize}: a log only grows`);
  const out: LeafRange[] = [];
  if (oldSize === 0 || oldSize === newSize) return out;
  const walk = (m: number, start: number, end: number, complete: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!complete) out.push([start, end]);
      return;
    }
    const k = largestPowerOfTwoBelow(n);
    if (m <= k) {
      walk(m, start, start + k, complete);
      out.push([start + k, end]);
    } else {
      walk(m - k, start + k, end, false);
      out.push([start, start + k]);
    }
  };
  walk(oldSize, 0, newSize, true);
  return out;
}

/**
 * The right edge of a growing tree: the complete subtrees of D[0:size] (rangeNodes(0, size)) with their
 * hashes. Appending a leaf merges equal levels, yielding each new complete subtree for storage; the root
 * of every size is the fold of the frontier.
 */
export class MerkleFrontier {
  private constructor(private readonly sha256: Sha256, private nodes: { ref: NodeRef; hash: Uint8Array }[], private count: number) {}

  static empty(sha256: Sha256): MerkleFrontier {
    return new MerkleFrontier(sha256, [], 0);
  }

  /** From the stored hashes of rangeNodes(0, size), in that order. */
  static restore(sha256: Sha256, size: number, hashes: readonly Uint8Array[]): MerkleFrontier {
    const refs = size === 0 ? [] : rangeNodes(0, size);
    if (hashes.length !== refs.length || !isHashList(hashes)) throw new MerkleArgumentError(`a frontier of size ${size} has ${refs.length} hashes`);
    return new MerkleFrontier(sha256, refs.map((ref, i) => ({ ref, hash: hashes[i]! })), size);
  }

  get size(): number {
    return this.count;
  }

  /** Adds a leaf; returns every complete subtree it completes (the leaf first, then its parents upwards). */
  append(leaf: Uint8Array): { ref: NodeRef; hash: Uint8Array }[] {
    if (!isHash(leaf)) throw new MerkleArgumentError(`a leaf hash is ${SHA256_BYTES} bytes`);
    const created = [{ ref: { level: 0, index: this.count }, hash: leaf }];
    this.nodes.push(created[0]!);
    this.count += 1;
    for (;;) {
      const right = this.nodes.at(-1)!;
      const left = this.nodes.at(-2);
      if (!left || left.ref.level !== right.ref.level) break;
      const parent = { ref: { level: left.ref.level + 1, index: left.ref.index / 2 }, hash: nodeHash(this.sha256, left.hash, right.hash) };
      this.nodes.splice(-2, 2, parent);
      created.push(parent);
    }
    return created;
  }

  root(): Uint8Array {
    return this.count === 0 ? emptyRootHash(this.sha256) : rangeRoot(this.sha256, this.nodes.map((n) => n.hash));
  }
}
