import { defineConfig } from 'vitest/config';

// Each CLI run is a child process from the built bundle (built once by the global setup),
// and register/login hash with argon2: timeouts are generous.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
