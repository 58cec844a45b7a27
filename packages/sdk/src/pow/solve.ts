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

/** A worker running solve-loop.js, whichever kind: its messages, its errors, and how to stop it. */
export interface PowWorker {
  listen(onMessage: (message: WorkerMessage) => void, onError: (err: unknown) => void): void;
  terminate(): void;
}

/** A Web Worker running web-worker.js; null where there are no Web Workers. */
export function webWorker(challenge: PowChallenge): PowWorker | null {
  if (typeof Worker === 'undefined') return null;
  const worker = new Worker(new URL('./web-worker.js', import.meta.url), { type: 'module' });
  worker.postMessage({ challenge });
  return {
    listen: (onMessage, onError) => {
      worker.onmessage = (event: MessageEvent<WorkerMessage>) => onMessage(event.data);
      worker.onerror = onError;
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * Solves a challenge on `worker`, reporting progress; with no worker, in this thread (the
 * UI then waits). `src/pow/node.ts` and `src/pow/browser.ts` pick the worker: package.json
 * maps `#pow` to the browser one under the `browser` condition, so a browser bundle never
 * sees `node:worker_threads`.
 */
export function solveOn(worker: PowWorker | null, challenge: PowChallenge, options: SolveOptions): Promise<PowSolution> {
  const max = Number(challenge.parameters.data?.max ?? 0) || 0;
  const progress = (attempts: number) => options.onProgress?.({ attempts, max, fraction: max > 0 ? Math.min(1, attempts / max) : 0 });
  if (!worker) return solveLoop(challenge, progress);
  return new Promise<PowSolution>((resolve, reject) => {
    const stop = () => {
      worker.terminate();
      const reason: unknown = options.signal?.reason;
      reject(reason instanceof Error ? reason : new Error('aborted'));
    };
    options.signal?.addEventListener('abort', stop, { once: true });
    const done = () => {
      options.signal?.removeEventListener('abort', stop);
      worker.terminate();
    };
    worker.listen(
      (message) => {
        if ('attempts' in message) {
          progress(message.attempts);
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
