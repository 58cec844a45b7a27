// Preloaded into benchmarked servers (node --expose-gc --import ./lib/gc-probe.mjs): on
// SIGUSR2, runs a full GC and writes process.memoryUsage() as JSON to $BENCH_MEMORY_FILE,
// so memory figures are taken after garbage is collected, the same way for every server.
import { renameSync, writeFileSync } from 'node:fs';
import process from 'node:process';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const file = process.env.BENCH_MEMORY_FILE;
  if (!file) return;
  writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
  renameSync(`${file}.tmp`, file); // appears whole
});
