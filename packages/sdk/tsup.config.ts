import { defineConfig } from 'tsup';

// The main entry and chat-state load in browsers, file-store needs node:fs. The main entry
// imports the proof-of-work solver as `#pow`, left unbundled so that package.json's imports
// pick pow-browser.js under the `browser` condition and pow-node.js elsewhere; the workers
// they start are loaded by URL from beside them, so they are built too.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'chat-state': 'src/chat-state.ts',
    'file-store': 'src/file-store.ts',
    'pow-node': 'src/pow/node.ts',
    'pow-browser': 'src/pow/browser.ts',
    'node-worker': 'src/pow/node-worker.js',
    'web-worker': 'src/pow/web-worker.js',
  },
  external: ['#pow'],
  format: 'esm',
  dts: { entry: { index: 'src/index.ts', 'chat-state': 'src/chat-state.ts', 'file-store': 'src/file-store.ts', 'pow-node': 'src/pow/node.ts' } },
  clean: true,
  target: 'es2022',
});
