// RFC 9162 Merkle tree algorithms against the published Certificate Transparency test vectors, then by
// property: for random trees every generated proof verifies, and every corruption of a proof fails.
//
// Source of the fixed vectors: transparency-dev/merkle (the CT reference implementation, successor of
// google/trillian's merkle package and certificate-transparency's merkle_tree_test.cc), files
// proof/verify_test.go (leaves, roots of sizes 1..8, inclusion and consistency proofs) and
// rfc6962/rfc6962_test.go (empty root, empty leaf, "L123456" leaf and "N123"/"N456" node hashes). The
// corruption probes mirror corruptInclusionProof / corruptConsistencyProof in verify_test.go.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, type Sha256 } from '../src/domain/audit/hash.js';
import {
  consistencyProof, consistencyProofRanges, emptyRootHash, inclusionProof, inclusionProofRanges, leafHash, MerkleArgumentError,
  MerkleFrontier, nodeHash, rangeNodes, rangeRoot, rootHash, verifyConsistency, verifyInclusion, type LeafRange, type NodeRef,
} from '../src/domain/audit/merkle.js';

const sha256: Sha256 = (bytes) => createHash('sha256').update(bytes).digest();
const h = (hex: string) => fromHex(hex);
const ascii = (text: string) => new TextEncoder().encode(text);

// ---------------------------------------------------------------------------------------------------------
// Published vectors (transparency-dev/merkle proof/verify_test.go)

const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(h);
const LEAF_HASHES = LEAVES.map((entry) => leafHash(sha256, entry));

/** ROOTS[n - 1] is the root of the tree of the first n leaves. */
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SOME_HASH = h('abacaba000000000000000000000000000000000000000000060061e00123456');

/** The published table numbers leaves from 1; leafIndex here is 0-based (published leaf - 1). */
const INCLUSION_VECTORS: { leafIndex: number; treeSize: number; proof: string[] }[] = [
  { leafIndex: 0, treeSize: 1, proof: [] },
  {
    leafIndex: 0, treeSize: 8, proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leafIndex: 5, treeSize: 8, proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { leafIndex: 2, treeSize: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    leafIndex: 1, treeSize: 5, proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

const CONSISTENCY_VECTORS: { oldSize: number; newSize: number; proof: string[] }[] = [
  { oldSize: 1, newSize: 1, proof: [] },
  {
    oldSize: 1, newSize: 8, proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    oldSize: 6, newSize: 8, proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    oldSize: 2, newSize: 5, proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    oldSize: 6, newSize: 7, proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

const root = (size: number) => h(ROOTS[size - 1]!);

// ---------------------------------------------------------------------------------------------------------
// Corruptions (after transparency-dev/merkle corruptInclusionProof / corruptConsistencyProof)

const flipBit = (proof: readonly Uint8Array[], i: number, mask: number): Uint8Array[] =>
  proof.map((p, j) => (j === i ? Uint8Array.from(p, (byte, k) => (k === 0 ? byte ^ mask : byte)) : p));

function inclusionProbes(leafIndex: number, treeSize: number, leaf: Uint8Array, proof: Uint8Array[], rt: Uint8Array) {
  const probes: { desc: string; args: [number, number, Uint8Array, Uint8Array[], Uint8Array] }[] = [
    { desc: 'leafIndex - 1', args: [leafIndex - 1, treeSize, leaf, proof, rt] },
    { desc: 'leafIndex + 1', args: [leafIndex + 1, treeSize, leaf, proof, rt] },
    { desc: 'leafIndex ^ 2', args: [leafIndex ^ 2, treeSize, leaf, proof, rt] },
    { desc: 'treeSize * 2', args: [leafIndex, treeSize * 2, leaf, proof, rt] },
    { desc: 'treeSize / 2', args: [leafIndex, Math.floor(treeSize / 2), leaf, proof, rt] },
    { desc: 'wrong leaf', args: [leafIndex, treeSize, ascii('WrongLeaf'), proof, rt] },
    { desc: 'empty root', args: [leafIndex, treeSize, leaf, proof, h(EMPTY_ROOT)] },
    { desc: 'random root', args: [leafIndex, treeSize, leaf, proof, SOME_HASH] },
    { desc: 'trailing garbage', args: [leafIndex, treeSize, leaf, [...proof, new Uint8Array(0)], rt] },
    { desc: 'trailing root', args: [leafIndex, treeSize, leaf, [...proof, rt], rt] },
    { desc: 'preceding garbage', args: [leafIndex, treeSize, leaf, [new Uint8Array(0), ...proof], rt] },
    { desc: 'preceding root', args: [leafIndex, treeSize, leaf, [rt, ...proof], rt] },
  ];
  proof.forEach((_, i) => probes.push({ desc: `modified proof[${i}] bit 3`, args: [leafIndex, treeSize, leaf, flipBit(proof, i, 8), rt] }));
  if (proof.length > 0) probes.push({ desc: 'removed component', args: [leafIndex, treeSize, leaf, proof.slice(0, -1), rt] });
  if (proof.length > 1) {
    probes.push({ desc: 'inserted component', args: [leafIndex, treeSize, leaf, [proof[0]!, SOME_HASH, ...proof.slice(1)], rt] });
  }
  return probes;
}

function consistencyProbes(oldSize: number, newSize: number, r1: Uint8Array, r2: Uint8Array, proof: Uint8Array[]) {
  const probes: { desc: string; args: [number, number, Uint8Array, Uint8Array, Uint8Array[]] }[] = [
    { desc: 'oldSize - 1', args: [oldSize - 1, newSize, r1, r2, proof] },
    { desc: 'oldSize + 1', args: [oldSize + 1, newSize, r1, r2, proof] },
    { desc: 'oldSize ^ 2', args: [oldSize ^ 2, newSize, r1, r2, proof] },
    { desc: 'newSize * 2', args: [oldSize, newSize * 2, r1, r2, proof] },
    { desc: 'newSize / 2', args: [oldSize, Math.floor(newSize / 2), r1, r2, proof] },
    { desc: 'wrong old root', args: [oldSize, newSize, ascii('WrongRoot'), r2, proof] },
    { desc: 'wrong new root', args: [oldSize, newSize, r1, ascii('WrongRoot'), proof] },
    { desc: 'swapped roots', args: [oldSize, newSize, r2, r1, proof] },
    { desc: 'empty proof', args: [oldSize, newSize, r1, r2, []] },
    { desc: 'trailing garbage', args: [oldSize, newSize, r1, r2, [...proof, new Uint8Array(0)]] },
    { desc: 'trailing old root', args: [oldSize, newSize, r1, r2, [...proof, r1]] },
    { desc: 'trailing new root', args: [oldSize, newSize, r1, r2, [...proof, r2]] },
    { desc: 'preceding garbage', args: [oldSize, newSize, r1, r2, [new Uint8Array(0), ...proof]] },
    { desc: 'preceding old root', args: [oldSize, newSize, r1, r2, [r1, ...proof]] },
    { desc: 'preceding new root', args: [oldSize, newSize, r1, r2, [r2, ...proof]] },
    { desc: 'preceding proof[0]', args: [oldSize, newSize, r1, r2, [proof[0]!, ...proof]] },
  ];
  if (proof.length > 0) probes.push({ desc: 'truncated proof', args: [oldSize, newSize, r1, r2, proof.slice(0, -1)] });
  proof.forEach((_, i) => probes.push({ desc: `modified proof[${i}] bit 4`, args: [oldSize, newSize, r1, r2, flipBit(proof, i, 16)] }));
  return probes;
}

// ---------------------------------------------------------------------------------------------------------

describe('RFC 9162 hashes (published vectors, transparency-dev/merkle rfc6962_test.go)', () => {
  it('the empty tree hash is SHA-256 of no bytes', () => {
    expect(toHex(emptyRootHash(sha256))).toBe(EMPTY_ROOT);
    expect(toHex(rootHash(sha256, []))).toBe(EMPTY_ROOT);
  });

  it('the hash of an empty leaf is SHA-256(0x00), not the empty tree hash', () => {
    expect(toHex(leafHash(sha256, new Uint8Array(0)))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  });

  it('leaf hash is SHA-256(0x00 || entry)', () => {
    expect(toHex(leafHash(sha256, ascii('L123456')))).toBe('395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56');
  });

  it('node hash is SHA-256(0x01 || left || right), order-sensitive', () => {
    expect(toHex(nodeHash(sha256, ascii('N123'), ascii('N456')))).toBe('aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb');
    expect(toHex(nodeHash(sha256, ascii('N456'), ascii('N123')))).not.toBe('aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb');
  });

  it('a node hash differs from the leaf hash of the concatenated children (second-preimage resistance)', () => {
    const [a, b] = [leafHash(sha256, ascii('Hello')), leafHash(sha256, ascii('World'))];
    const forged = new Uint8Array([...a, ...b]);
    expect(toHex(nodeHash(sha256, a, b))).not.toBe(toHex(leafHash(sha256, forged)));
  });
});

describe('RFC 9162 tree head (published roots for sizes 1..8)', () => {
  it.each(ROOTS.map((hex, i) => [i + 1, hex] as const))('root of the first %i leaves is %s', (size, hex) => {
    expect(toHex(rootHash(sha256, LEAF_HASHES.slice(0, size)))).toBe(hex);
  });
});

describe('RFC 9162 inclusion proofs (published vectors)', () => {
  it.each(INCLUSION_VECTORS)('PATH($leafIndex, D[$treeSize]) is the published proof', ({ leafIndex, treeSize, proof }) => {
    expect(inclusionProof(sha256, leafIndex, treeSize, LEAF_HASHES).map(toHex)).toStrictEqual(proof);
  });

  it.each(INCLUSION_VECTORS)('the published proof of leaf $leafIndex in $treeSize verifies', ({ leafIndex, treeSize, proof }) => {
    expect(verifyInclusion(sha256, leafIndex, treeSize, LEAF_HASHES[leafIndex]!, proof.map(h), root(treeSize))).toBe(true);
  });

  it.each(INCLUSION_VECTORS.filter((v) => v.proof.length > 0))(
    'every corruption of the proof of leaf $leafIndex in $treeSize fails',
    ({ leafIndex, treeSize, proof }) => {
      const probes = inclusionProbes(leafIndex, treeSize, LEAF_HASHES[leafIndex]!, proof.map(h), root(treeSize));
      const accepted = probes.filter((p) => verifyInclusion(sha256, ...p.args)).map((p) => p.desc);
      expect(accepted).toStrictEqual([]);
    },
  );

  it('a one-leaf tree: the leaf hash is the root and the proof is empty; anything else fails', () => {
    const leaf = leafHash(sha256, ascii('data'));
    expect(verifyInclusion(sha256, 0, 1, leaf, [], leaf)).toBe(true);
    expect(verifyInclusion(sha256, 0, 1, leaf, [], new Uint8Array(0))).toBe(false);
    expect(verifyInclusion(sha256, 0, 1, new Uint8Array(0), [], leaf)).toBe(false);
    expect(verifyInclusion(sha256, 0, 1, new Uint8Array(0), [], new Uint8Array(0))).toBe(false);
  });

  it.each([[0, 0], [0, 1], [1, 0], [2, 1]])('index %i in size %i with empty proof and mismatched hashes fails', (index, size) => {
    expect(verifyInclusion(sha256, index, size, SOME_HASH, [], new Uint8Array(0))).toBe(false);
    expect(verifyInclusion(sha256, index, size, new Uint8Array(0), [], h(EMPTY_ROOT))).toBe(false);
    expect(verifyInclusion(sha256, index, size, SOME_HASH, [], h(EMPTY_ROOT))).toBe(false);
  });
});

describe('RFC 9162 consistency proofs (published vectors)', () => {
  it.each(CONSISTENCY_VECTORS)('PROOF($oldSize, D[$newSize]) is the published proof', ({ oldSize, newSize, proof }) => {
    expect(consistencyProof(sha256, oldSize, newSize, LEAF_HASHES).map(toHex)).toStrictEqual(proof);
  });

  it.each(CONSISTENCY_VECTORS)('the published proof from $oldSize to $newSize verifies', ({ oldSize, newSize, proof }) => {
    expect(verifyConsistency(sha256, oldSize, newSize, root(oldSize), root(newSize), proof.map(h))).toBe(true);
  });

  it.each(CONSISTENCY_VECTORS.filter((v) => v.proof.length > 0))(
    'every corruption of the proof from $oldSize to $newSize fails',
    ({ oldSize, newSize, proof }) => {
      const probes = consistencyProbes(oldSize, newSize, root(oldSize), root(newSize), proof.map(h));
      const accepted = probes.filter((p) => verifyConsistency(sha256, ...p.args)).map((p) => p.desc);
      expect(accepted).toStrictEqual([]);
    },
  );

  it('edge cases: equal sizes need equal roots and no proof; a log never shrinks; growth needs a proof', () => {
    const [r1, r2] = [root(1), root(2)];
    expect(verifyConsistency(sha256, 1, 1, r1, r1, [])).toBe(true);
    expect(verifyConsistency(sha256, 1, 1, r1, r2, [])).toBe(false);
    expect(verifyConsistency(sha256, 1, 1, r1, r1, [h(EMPTY_ROOT)])).toBe(false);
    expect(verifyConsistency(sha256, 2, 1, r2, r1, [])).toBe(false);
    expect(verifyConsistency(sha256, 1, 2, r1, r2, [])).toBe(false);
  });

  it('size 0 is a prefix of every tree, but only under the empty root and with an empty proof (stricter than transparency-dev)', () => {
    const empty = h(EMPTY_ROOT);
    expect(verifyConsistency(sha256, 0, 0, empty, empty, [])).toBe(true);
    expect(verifyConsistency(sha256, 0, 8, empty, root(8), [])).toBe(true);
    expect(verifyConsistency(sha256, 0, 8, SOME_HASH, root(8), [])).toBe(false);
    expect(verifyConsistency(sha256, 0, 8, empty, root(8), [empty])).toBe(false);
    expect(verifyConsistency(sha256, 0, 0, empty, SOME_HASH, [])).toBe(false);
    expect(consistencyProof(sha256, 0, 8, LEAF_HASHES)).toStrictEqual([]);
  });
});

describe('argument checks', () => {
  it('generators throw MerkleArgumentError, naming the argument', () => {
    const bad: [() => unknown, RegExp][] = [
      [() => inclusionProof(sha256, 8, 8, LEAF_HASHES), /leafIndex 8 is not below treeSize 8/],
      [() => inclusionProof(sha256, 0, 0, LEAF_HASHES), /leafIndex 0 is not below treeSize 0/],
      [() => inclusionProof(sha256, -1, 8, LEAF_HASHES), /leafIndex must be a non-negative safe integer/],
      [() => inclusionProof(sha256, 0, 9, LEAF_HASHES), /treeSize 9 exceeds the 8 leaves given/],
      [() => inclusionProof(sha256, 0.5, 8, LEAF_HASHES), /leafIndex must be/],
      [() => consistencyProof(sha256, 5, 4, LEAF_HASHES), /oldSize 5 exceeds newSize 4/],
      [() => consistencyProof(sha256, 1, 9, LEAF_HASHES), /newSize 9 exceeds the 8 leaves given/],
      [() => consistencyProof(sha256, Number.NaN, 4, LEAF_HASHES), /oldSize must be/],
      [() => rootHash(sha256, [SOME_HASH, new Uint8Array(31)]), /leaf hash 1 is not 32 bytes/],
    ];
    for (const [call, message] of bad) {
      expect(call).toThrow(MerkleArgumentError);
      expect(call).toThrow(message);
    }
  });

  it('a proof binds the root, not the size alone: leaf 0 of size 3 has the shape of leaf 0 of size 4', () => {
    // Why checkpoints sign tree size and root together: the RFC algorithm uses the size only for the
    // proof's shape, so the same proof and root pass as "size 4". No real tree of size 4 has that root.
    const proof = inclusionProof(sha256, 0, 3, LEAF_HASHES);
    expect(verifyInclusion(sha256, 0, 3, LEAF_HASHES[0]!, proof, root(3))).toBe(true);
    expect(verifyInclusion(sha256, 0, 4, LEAF_HASHES[0]!, proof, root(3))).toBe(true);
    expect(verifyInclusion(sha256, 0, 4, LEAF_HASHES[0]!, proof, root(4))).toBe(false);
  });

  it('a proof may be taken against an older, smaller tree than the leaves given', () => {
    expect(inclusionProof(sha256, 2, 3, LEAF_HASHES).map(toHex)).toStrictEqual(['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']);
  });

  it('verifiers answer false, never throw, on nonsense', () => {
    const junk: unknown[] = [undefined, null, 'x', -1, 1.5, Number.NaN, 2 ** 53, {}, [1], [new Uint8Array(32), 'x']];
    for (const j of junk) {
      const verify = () => [
        verifyInclusion(sha256, j as number, 8, LEAF_HASHES[0]!, [], root(8)),
        verifyInclusion(sha256, 0, j as number, LEAF_HASHES[0]!, [], root(8)),
        verifyInclusion(sha256, 0, 8, j as Uint8Array, [], root(8)),
        verifyInclusion(sha256, 0, 8, LEAF_HASHES[0]!, j as Uint8Array[], root(8)),
        verifyConsistency(sha256, j as number, 8, root(1), root(8), []),
        verifyConsistency(sha256, 1, j as number, root(1), root(8), []),
        verifyConsistency(sha256, 1, 8, j as Uint8Array, root(8), []),
        verifyConsistency(sha256, 1, 8, root(1), root(8), j as Uint8Array[]),
      ];
      expect(verify).not.toThrow();
      expect(verify().every((ok) => !ok)).toBe(true);
    }
  });

  it('a sha256 that returns the wrong length is caught (a programmer error, so it throws)', () => {
    expect(() => leafHash(() => new Uint8Array(20), ascii('x'))).toThrow(/must return 32 bytes/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Properties over random trees. The reference MTH below is written from the RFC's definition with slices,
// independently of merkle.ts's index-range recursion.

function referenceMth(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha256(new Uint8Array(0));
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha256(new Uint8Array([1, ...referenceMth(leaves.slice(0, k)), ...referenceMth(leaves.slice(k))]));
}

const leavesArb = (min: number) =>
  fc.array(fc.uint8Array({ maxLength: 8 }), { minLength: min, maxLength: 70 }).map((entries) => entries.map((e) => leafHash(sha256, e)));

describe('properties of random trees', () => {
  it('rootHash agrees with the RFC definition written with slices', () => {
    fc.assert(fc.property(leavesArb(0), (leaves) => toHex(rootHash(sha256, leaves)) === toHex(referenceMth(leaves))));
  });

  it('every inclusion proof verifies; any other index, size, leaf or flipped byte fails', () => {
    const arb = leavesArb(1).chain((leaves) =>
      fc.record({
        leaves: fc.constant(leaves),
        treeSize: fc.integer({ min: 1, max: leaves.length }),
        pick: fc.nat(),
        byte: fc.nat({ max: 31 }),
        mask: fc.integer({ min: 1, max: 255 }),
        element: fc.nat(),
        delta: fc.integer({ min: 1, max: 80 }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ leaves, treeSize, pick, byte, mask, element, delta }) => {
        const index = pick % treeSize;
        const rt = rootHash(sha256, leaves.slice(0, treeSize));
        const proof = inclusionProof(sha256, index, treeSize, leaves);
        expect(verifyInclusion(sha256, index, treeSize, leaves[index]!, proof, rt)).toBe(true);
        // Another index of the same tree: fails unless that leaf has the same hash (duplicate entries).
        const other = (index + delta) % treeSize;
        if (other !== index && toHex(leaves[other]!) !== toHex(leaves[index]!)) {
          expect(verifyInclusion(sha256, other, treeSize, leaves[index]!, proof, rt)).toBe(false);
        }
        // Another checkpoint (size and its root) of the same log: the proof is for this one only.
        const otherSize = index + 1 + ((treeSize - index - 1 + delta) % (leaves.length - index));
        if (otherSize !== treeSize) {
          const otherRoot = rootHash(sha256, leaves.slice(0, otherSize));
          expect(verifyInclusion(sha256, index, otherSize, leaves[index]!, proof, otherRoot)).toBe(false);
        }
        // A flipped byte in any proof element, in the leaf, or in the root.
        if (proof.length > 0) {
          const i = element % proof.length;
          const bad = proof.map((p, j) => (j === i ? flip(p, byte, mask) : p));
          expect(verifyInclusion(sha256, index, treeSize, leaves[index]!, bad, rt)).toBe(false);
        }
        expect(verifyInclusion(sha256, index, treeSize, flip(leaves[index]!, byte, mask), proof, rt)).toBe(false);
        expect(verifyInclusion(sha256, index, treeSize, leaves[index]!, proof, flip(rt, byte, mask))).toBe(false);
      }),
    );
  });

  it('every consistency proof verifies; any other size, root or flipped byte fails', () => {
    const arb = leavesArb(1).chain((leaves) =>
      fc
        .tuple(fc.integer({ min: 0, max: leaves.length }), fc.integer({ min: 0, max: leaves.length }))
        .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const)
        .chain(([oldSize, newSize]) =>
          fc.record({
            leaves: fc.constant(leaves), oldSize: fc.constant(oldSize), newSize: fc.constant(newSize),
            byte: fc.nat({ max: 31 }), mask: fc.integer({ min: 1, max: 255 }), element: fc.nat(), delta: fc.integer({ min: 1, max: 80 }),
          }),
        ),
    );
    fc.assert(
      fc.property(arb, ({ leaves, oldSize, newSize, byte, mask, element, delta }) => {
        const r1 = rootHash(sha256, leaves.slice(0, oldSize));
        const r2 = rootHash(sha256, leaves.slice(0, newSize));
        const proof = consistencyProof(sha256, oldSize, newSize, leaves);
        expect(verifyConsistency(sha256, oldSize, newSize, r1, r2, proof)).toBe(true);
        if (oldSize === 0 || oldSize === newSize) {
          expect(proof).toStrictEqual([]);
          if (oldSize > 0) expect(verifyConsistency(sha256, oldSize, newSize, flip(r1, byte, mask), r2, proof)).toBe(false);
          return;
        }
        const i = element % proof.length;
        const bad = proof.map((p, j) => (j === i ? flip(p, byte, mask) : p));
        expect(verifyConsistency(sha256, oldSize, newSize, r1, r2, bad)).toBe(false);
        expect(verifyConsistency(sha256, oldSize, newSize, flip(r1, byte, mask), r2, proof)).toBe(false);
        expect(verifyConsistency(sha256, oldSize, newSize, r1, flip(r2, byte, mask), proof)).toBe(false);
        // Another checkpoint (size and its root) of the same log as the new end: the proof is for this one only.
        const otherNew = oldSize + 1 + ((newSize - oldSize - 1 + delta) % (leaves.length - oldSize));
        if (otherNew !== newSize) {
          expect(verifyConsistency(sha256, oldSize, otherNew, r1, rootHash(sha256, leaves.slice(0, otherNew)), proof)).toBe(false);
        }
        expect(verifyConsistency(sha256, oldSize, newSize, r1, r2, proof.slice(0, -1))).toBe(false);
        expect(verifyConsistency(sha256, oldSize, newSize, r1, r2, [...proof, r2])).toBe(false);
        // A different old size with the same roots: fails unless it names the same tree (it cannot: the
        // root of a different prefix differs, barring duplicate-leaf coincidences we rule out here).
        const otherOld = oldSize + delta;
        if (otherOld < newSize && toHex(rootHash(sha256, leaves.slice(0, otherOld))) !== toHex(r1)) {
          expect(verifyConsistency(sha256, otherOld, newSize, r1, r2, proof)).toBe(false);
        }
      }),
    );
  });

  it('a consistency proof is no proof for a log that was rewritten before the old size', () => {
    fc.assert(
      fc.property(leavesArb(2), fc.nat(), fc.nat(), (leaves, a, b) => {
        const newSize = leaves.length;
        const oldSize = 1 + (a % (newSize - 1));
        const changed = b % oldSize;
        const rewritten = leaves.map((leaf, i) => (i === changed ? flip(leaf, 0, 1) : leaf));
        const honestOldRoot = rootHash(sha256, leaves.slice(0, oldSize));
        const proof = consistencyProof(sha256, oldSize, newSize, rewritten);
        expect(verifyConsistency(sha256, oldSize, newSize, honestOldRoot, rootHash(sha256, rewritten), proof)).toBe(false);
      }),
    );
  });
});

function flip(bytes: Uint8Array, index: number, mask: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index % out.length]! ^= mask;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Proofs from stored subtrees (what the sealer keeps) must equal the leaf-based reference, for every size.

describe('proofs from stored complete subtrees agree with the reference', () => {
  /** Every complete aligned subtree of the leaves, as a log that grows by MerkleFrontier.append stores them. */
  function grow(leaves: readonly Uint8Array[]): { stored: Map<string, Uint8Array>; roots: string[] } {
    const frontier = MerkleFrontier.empty(sha256);
    const stored = new Map<string, Uint8Array>();
    const roots = [toHex(frontier.root())];
    for (const leaf of leaves) {
      for (const node of frontier.append(leaf)) {
        const key = `${node.ref.level}/${node.ref.index}`;
        expect(stored.has(key)).toBe(false); // each subtree is created exactly once
        stored.set(key, node.hash);
      }
      roots.push(toHex(frontier.root()));
    }
    return { stored, roots };
  }
  const fetch = (stored: Map<string, Uint8Array>, refs: NodeRef[]) => refs.map((r) => {
    const hash = stored.get(`${r.level}/${r.index}`);
    if (!hash) throw new Error(`subtree ${r.level}/${r.index} was never stored`);
    return hash;
  });
  const assemble = (stored: Map<string, Uint8Array>, ranges: LeafRange[]) =>
    ranges.map(([start, end]) => toHex(rangeRoot(sha256, fetch(stored, rangeNodes(start, end)))));

  it('every root, inclusion proof and consistency proof of trees up to 70 leaves', () => {
    fc.assert(fc.property(leavesArb(1), (leaves) => {
      const { stored, roots } = grow(leaves);
      for (let n = 0; n <= leaves.length; n++) {
        expect(roots[n]).toBe(toHex(rootHash(sha256, leaves.slice(0, n))));
        if (n > 0) expect(toHex(rangeRoot(sha256, fetch(stored, rangeNodes(0, n))))).toBe(roots[n]);
        for (let m = 0; m < n; m++) {
          expect(assemble(stored, inclusionProofRanges(m, n))).toEqual(inclusionProof(sha256, m, n, leaves).map(toHex));
        }
        for (let m = 0; m <= n; m++) {
          expect(assemble(stored, consistencyProofRanges(m, n))).toEqual(consistencyProof(sha256, m, n, leaves).map(toHex));
        }
      }
    }), { numRuns: 40 });
  });

  it('a frontier restored from storage continues exactly as the one that never stopped', () => {
    fc.assert(fc.property(leavesArb(2), fc.nat(), (leaves, cut) => {
      const at = 1 + (cut % (leaves.length - 1));
      const { stored } = grow(leaves.slice(0, at));
      const restored = MerkleFrontier.restore(sha256, at, fetch(stored, rangeNodes(0, at)));
      for (const leaf of leaves.slice(at)) restored.append(leaf);
      expect(toHex(restored.root())).toBe(toHex(rootHash(sha256, leaves)));
    }));
  });

  it('refuses ranges that are not runs of aligned subtrees, and frontiers of the wrong length', () => {
    expect(rangeNodes(0, 7)).toEqual([{ level: 2, index: 0 }, { level: 1, index: 2 }, { level: 0, index: 6 }]);
    expect(() => rangeNodes(1, 3)).toThrow(MerkleArgumentError);
    expect(() => rangeNodes(3, 3)).toThrow(MerkleArgumentError);
    expect(() => MerkleFrontier.restore(sha256, 7, [])).toThrow(MerkleArgumentError);
  });
});
