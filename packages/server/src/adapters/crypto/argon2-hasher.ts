import argon2 from 'argon2';
import type { SecretHasher } from '../../ports/secret-hasher.js';

export interface Argon2Params {
  /** KiB of memory; OWASP's floor for argon2id is 19 MiB (19456 KiB). */
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

export function argon2Hasher(params: Argon2Params = OWASP_ARGON2ID): SecretHasher {
  return {
    hash: (secret) => argon2.hash(secret, { type: argon2.argon2id, ...params }),
    verify: async (hash, secret) => {
      try {
        return await argon2.verify(hash, secret);
      } catch {
        // A malformed stored hash is a failed login, not a server error.
        return false;
      }
    },
  };
}
