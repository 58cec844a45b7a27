import { defineConfig } from 'vitest/config';

// The page is built once and driven in headless Chromium: generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 90_000,
    hookTimeout: 120_000,
  },
});
