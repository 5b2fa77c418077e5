// Random test data that can be replayed: a small seeded generator (mulberry32). Each test file runs with one
// seed: TEST_SEED when set (CHRONICLE_TEST_SEED, its older name, too), else one from the clock. A failing
// test prints it (test/support/seed-setup.ts), and `TEST_SEED=<seed> npx vitest run test/<file>` replays the
// file's random choices: this generator's and fast-check's (configured with the same seed). Traffic from
// several concurrent writers replays each writer's commands, not their interleaving.
import { seededRandom as seeded, type SeededRandom } from '../../src/lib/seeded-random.js';

export type { SeededRandom };

let fileSeed: number | undefined;

/** This test file's seed (see the file comment). */
export function testSeed(): number {
  if (fileSeed === undefined) {
    const given = process.env['TEST_SEED'] ?? process.env['CHRONICLE_TEST_SEED'];
    if (given !== undefined && !/^\d{1,10}$/.test(given)) throw new Error(`TEST_SEED must be an integer in [0, 2^32), not ${JSON.stringify(given)}`);
    fileSeed = given === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(given) >>> 0;
  }
  return fileSeed;
}

let fileRandom: SeededRandom | undefined;

/** The test file's generator, seeded with testSeed(): one sequence for the whole file, in test order. */
export function testRandom(): SeededRandom {
  fileRandom ??= seededRandom(testSeed());
  return fileRandom;
}

/** A generator seeded with `seed` (default: this file's seed). */
export function seededRandom(seed = testSeed()): SeededRandom {
  return seeded(seed);
}
