import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Waits are on events (test/harness.ts waitFor), bounded by these only to turn a hang into
    // a failure; on a loaded machine (load 10+ on 2 cores) a whole test can take this long.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
