import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One seed per file for every random choice (TEST_SEED=<seed> replays it), printed when a test fails.
    setupFiles: ['test/support/seed-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One file at a time: two cores, and the e2e files start several processes each (timing-sensitive
    // assertions such as lease take-over would only get noisier). Files no longer affect each other's $all
    // (positions are in commit order; there is no cluster-wide xmin horizon to share).
    fileParallelism: false,
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
