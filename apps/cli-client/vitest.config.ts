import { defineConfig } from 'vitest/config';

// Each CLI run is a child process that loads TypeScript through tsx (about a second), and
// register/login hash with argon2: timeouts are generous.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
