import { defineConfig } from 'tsup';

// Two entry points: the main one loads in browsers, file-store needs node:fs.
export default defineConfig({
  entry: ['src/index.ts', 'src/file-store.ts'],
  format: 'esm',
  dts: true,
  clean: true,
  target: 'es2022',
});
