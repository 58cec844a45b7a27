import { defineConfig } from 'vitest/config';

// Each CLI run is a child process from the built bundle (built once by the global setup),
// and register/login hash with argon2. A scenario spawns a dozen of them and waits on their
// output, never on the clock: the limits only name a hang, and hold with both cores busy.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx', 'test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
  },
});
