import { defineConfig } from 'tsup';

// Three entry points: the main one and chat-state load in browsers, file-store needs node:fs. The
// proof-of-work workers are loaded by URL from beside the bundle, so they are built too.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'chat-state': 'src/chat-state.ts',
    'file-store': 'src/file-store.ts',
    'node-worker': 'src/pow/node-worker.js',
    'web-worker': 'src/pow/web-worker.js',
  },
  format: 'esm',
  dts: { entry: { index: 'src/index.ts', 'chat-state': 'src/chat-state.ts', 'file-store': 'src/file-store.ts' } },
  clean: true,
  target: 'es2022',
});
