// Plain JavaScript (with solve-loop.d.ts): worker threads and Web Workers load it without a
// TypeScript step. altcha-lib does the solving; this only counts attempts for progress.
import { solveChallenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/web/pbkdf2';

/** Solves an ALTCHA challenge, calling `onAttempts(n)` about every `every` attempts. */
export async function solveLoop(challenge, onAttempts, every = 50) {
  let attempts = 0;
  const counted = (parameters, salt, password) => {
    if (++attempts % every === 0) onAttempts(attempts);
    return deriveKey(parameters, salt, password);
  };
  // No time limit here: the caller aborts by terminating the worker.
  const solution = await solveChallenge({ challenge, deriveKey: counted, timeout: 0 });
  if (!solution) throw new Error('the proof-of-work challenge has no solution');
  return solution;
}
