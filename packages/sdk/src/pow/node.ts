import type { PowChallenge, PowSolution } from '@omechat/protocol';
import { solveOn, webWorker, type SolveOptions } from './solve.js';

/**
 * `solvePow` everywhere but browser bundles (the default condition of `#pow`): a worker
 * thread in Node; elsewhere as in browsers.
 */
export async function solvePow(challenge: PowChallenge, options: SolveOptions = {}): Promise<PowSolution> {
  options.signal?.throwIfAborted();
  if (typeof process === 'undefined' || !process.versions?.node || typeof window !== 'undefined') return solveOn(webWorker(challenge), challenge, options);
  const { Worker } = await import('node:worker_threads');
  const worker = new Worker(new URL('./node-worker.js', import.meta.url), { workerData: { challenge } });
  return solveOn(
    {
      listen: (onMessage, onError) => {
        worker.on('message', onMessage);
        worker.on('error', onError);
      },
      terminate: () => void worker.terminate(),
    },
    challenge,
    options,
  );
}
