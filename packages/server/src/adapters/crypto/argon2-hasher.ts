import argon2 from 'argon2';
import { DomainError } from '../../core/domain-error.js';
import type { SecretHasher } from '../../ports/secret-hasher.js';

export interface Argon2Params {
  /** KiB of memory; OWASP's floor for argon2id is 19 MiB (19456 KiB). */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

/**
 * argon2 runs on libuv's thread pool (4 threads by default), which SQLite's WAL fsync also
 * needs before any message is acked: with every thread hashing, acks wait for the hashes.
 * So at most `concurrency` hashes run at once (the rest of the pool stays free for the
 * commit path), at most `queue` wait, and beyond that a check is refused at once.
 */
export interface Argon2Gate {
  concurrency: number;
  queue: number;
}

export function argon2Hasher(params: Argon2Params = OWASP_ARGON2ID, gate: Argon2Gate = { concurrency: 2, queue: 64 }): SecretHasher {
  let running = 0;
  const waiting: (() => void)[] = [];
  const gated = async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= gate.concurrency) {
      if (waiting.length >= gate.queue) {
        throw new DomainError('RATE_LIMITED', 'The server is busy checking secrets; try again in a few seconds', { retryAfterMs: 2000 });
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else running++;
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so `running` never over-counts.
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
  return {
    hash: (secret) => gated(() => argon2.hash(secret, { type: argon2.argon2id, ...params })),
    verify: (hash, secret) =>
      gated(async () => {
        try {
          return await argon2.verify(hash, secret);
        } catch {
          // A malformed stored hash is a failed login, not a server error.
          return false;
        }
      }),
  };
}
