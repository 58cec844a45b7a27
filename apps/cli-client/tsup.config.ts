import { defineConfig } from 'tsup';

// One bundle with the SDK and protocol inside (they stay TypeScript in the workspace), so the
// bin starts from plain JavaScript. ink, react and ws stay outside: they are its dependencies.
// The interactive app is its own chunk, loaded only when the app runs.
export default defineConfig({
  entry: ['src/main.ts'],
  format: 'esm',
  platform: 'node',
  target: 'node20',
  clean: true,
  splitting: true,
  treeshake: true,
  minify: true,
  noExternal: [/^@omechat\//, /^@trpc\//, /^@noble\//, /^zod/],
});
