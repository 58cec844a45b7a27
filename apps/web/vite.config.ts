import { defineConfig } from 'vite';

// The page talks to the server that serves it (same origin, /trpc). Under `vite dev` and
// `vite preview` that is Vite itself, which passes /trpc on to a server at :8080.
const server = { '/trpc': { target: 'ws://127.0.0.1:8080', ws: true } };

export default defineConfig({
  build: { target: 'es2022' },
  server: { proxy: server },
  preview: { host: '127.0.0.1', proxy: server },
});
