// Preloaded into benchmarked servers (node --expose-gc --import ./lib/gc-probe.mjs): on
// SIGUSR2, runs a full GC and writes process.memoryUsage() as JSON to $BENCH_MEMORY_FILE,
// so memory figures are taken after garbage is collected, the same way for every server.
import { renameSync, writeFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import process from 'node:process';

process.on('SIGUSR2', () => {
  globalThis.gc?.();
  globalThis.gc?.();
  const file = process.env.BENCH_MEMORY_FILE;
  if (!file) return;
  const usage = process.memoryUsage();
  // BENCH_HEAPSNAPSHOT_DIR: also a heap snapshot per probe, to diff what connections hold.
  if (process.env.BENCH_HEAPSNAPSHOT_DIR) writeHeapSnapshot(`${process.env.BENCH_HEAPSNAPSHOT_DIR}/${process.pid}-${Date.now()}.heapsnapshot`);
  writeFileSync(`${file}.tmp`, JSON.stringify(usage));
  renameSync(`${file}.tmp`, file); // appears whole
});
