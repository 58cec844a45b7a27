import { defineConfig } from 'tsup';

// One bundle with the SDK and protocol inside (they stay TypeScript in the workspace), so the
// bin starts from plain JavaScript. ink, react and ws stay outside: they are its dependencies.
// The interactive app is its own chunk, loaded only when the app runs. The SDK solves the
// registration proof-of-work in a worker thread it loads from `./node-worker.js` beside it.
export default defineConfig({
  entry: { main: 'src/main.ts', 'node-worker': '../../packages/sdk/src/pow/node-worker.js' },
  format: 'esm',
  platform: 'node',
  target: 'node20',
  clean: true,
  splitting: true,
  treeshake: true,
  minify: true,
  noExternal: [/^@omechat\//, /^@trpc\//, /^@noble\//, /^zod/, /^altcha-lib/],
});
