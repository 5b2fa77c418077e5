import { defineConfig } from 'vitest/config';

// Two groups, one after the other (sequence.groupOrder):
// - `parallel`: unit, property and integration files, two at a time. Files no longer affect each other's
//   data: every one makes its own databases, streams and ports, and $all positions are in commit order (no
//   cluster-wide xmin horizon to share).
// - `serial`: the files that start processes or clusters, or assert on timing (lease take-over, commit rates,
//   stall and timeout bounds, outages), one at a time with the machine to themselves.
const SERIAL = [
  'test/**/*.e2e.test.ts',
  'test/lease.int.test.ts',
  'test/subscription-feed.int.test.ts',
  'test/append-stall.int.test.ts',
  'test/http-hardening.int.test.ts',
  'test/database-outage.int.test.ts',
  'test/postgres-connection-loss.int.test.ts',
];

const shared = {
  // One seed per file for every random choice (TEST_SEED=<seed> replays it), printed when a test fails.
  setupFiles: ['test/support/seed-setup.ts'],
  // Compiles dist/ once: tests start the CLI as node dist/cli/main.js (test/support/cli-main.ts).
  globalSetup: ['test/support/global-setup.ts'],
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
    projects: [
      {
        extends: true,
        test: { ...shared, name: 'parallel', include: ['test/**/*.test.ts'], exclude: SERIAL, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { ...shared, name: 'serial', include: SERIAL, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
