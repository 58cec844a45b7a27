import type { PowChallenge, PowSolution } from '@omechat/protocol';
import { solveOn, webWorker, type SolveOptions } from './solve.js';

/**
 * `solvePow` for browser bundles (the `browser` condition of `#pow`): a Web Worker, so the UI
 * stays responsive, and nothing of Node's in the bundle.
 */
export async function solvePow(challenge: PowChallenge, options: SolveOptions = {}): Promise<PowSolution> {
  options.signal?.throwIfAborted();
  return solveOn(webWorker(challenge), challenge, options);
}
