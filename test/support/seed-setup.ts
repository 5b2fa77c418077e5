// Vitest setup (vitest.config.ts, setupFiles): every test file runs with one seed (seeded-random.ts), used by
// fast-check too, and a failing test says how to replay it.
import fc from 'fast-check';
import { beforeEach } from 'vitest';
import { testSeed } from './seeded-random.js';

const seed = testSeed();
// fast-check prints `seed` in its own failure report as well; TEST_SEED=<it> replays the property.
fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });

beforeEach(({ onTestFailed, task }) => {
  onTestFailed(() => {
    console.error(`[seed] ${task.file?.name ?? 'this file'} ran with TEST_SEED=${seed}; replay: TEST_SEED=${seed} npx vitest run ${task.file?.name ?? ''}`);
  });
});
