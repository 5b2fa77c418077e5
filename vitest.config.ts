import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // One file at a time. The $all reader stops below the oldest transaction open anywhere in the PostgreSQL
    // cluster (that is what makes it skip nothing), so a file holding a transaction open on purpose, or just
    // appending, would make another file's $all momentarily shorter. Also: two cores.
    fileParallelism: false,
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
