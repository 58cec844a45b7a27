import type { PowChallenge, PowSolution } from '@omechat/protocol';
import { solveLoop } from './solve-loop.js';

/** Where a registration's proof-of-work stands: `fraction` goes from 0 to 1 (at most). */
export interface PowProgress {
  attempts: number;
  /** The most attempts this challenge can take. */
  max: number;
  fraction: number;
}

export interface SolveOptions {
  onProgress?: (progress: PowProgress) => void;
  signal?: AbortSignal;
}

type WorkerMessage = { attempts: number } | { solution: PowSolution } | { error: string };

/** The messages of a worker, whichever kind, as one promise plus progress. */
function run(
  challenge: PowChallenge,
  options: SolveOptions,
  listen: (onMessage: (message: WorkerMessage) => void, onError: (err: unknown) => void) => void,
  terminate: () => void,
): Promise<PowSolution> {
  const max = Number(challenge.parameters.data?.max ?? 0) || 0;
  return new Promise<PowSolution>((resolve, reject) => {
    const stop = () => {
      terminate();
      const reason: unknown = options.signal?.reason;
      reject(reason instanceof Error ? reason : new Error('aborted'));
    };
    options.signal?.addEventListener('abort', stop, { once: true });
    const done = () => {
      options.signal?.removeEventListener('abort', stop);
      terminate();
    };
    listen(
      (message) => {
        if ('attempts' in message) {
          options.onProgress?.({ attempts: message.attempts, max, fraction: max > 0 ? Math.min(1, message.attempts / max) : 0 });
        } else if ('solution' in message) {
          done();
          if (max > 0) options.onProgress?.({ attempts: message.solution.counter + 1, max, fraction: 1 });
          resolve(message.solution);
        } else {
          done();
          reject(new Error(message.error));
        }
      },
      (err) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/**
 * Solves a registration challenge off the main thread: a worker thread in Node, a Web
 * Worker in browsers (the UI stays responsive), and in the page's own thread only where
 * neither exists.
 */
export async function solvePow(challenge: PowChallenge, options: SolveOptions = {}): Promise<PowSolution> {
  options.signal?.throwIfAborted();
  if (typeof process !== 'undefined' && process.versions?.node && typeof window === 'undefined') {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(new URL('./node-worker.js', import.meta.url), { workerData: { challenge } });
    return run(
      challenge,
      options,
      (onMessage, onError) => {
        worker.on('message', onMessage);
        worker.on('error', onError);
      },
      () => void worker.terminate(),
    );
  }
  if (typeof Worker !== 'undefined') {
    const worker = new Worker(new URL('./web-worker.js', import.meta.url), { type: 'module' });
    worker.postMessage({ challenge });
    return run(
      challenge,
      options,
      (onMessage, onError) => {
        worker.onmessage = (event: MessageEvent<WorkerMessage>) => onMessage(event.data);
        worker.onerror = onError;
      },
      () => worker.terminate(),
    );
  }
  const max = Number(challenge.parameters.data?.max ?? 0) || 0;
  return solveLoop(challenge, (attempts) => options.onProgress?.({ attempts, max, fraction: max > 0 ? Math.min(1, attempts / max) : 0 }));
}
