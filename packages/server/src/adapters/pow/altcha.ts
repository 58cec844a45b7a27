import { randomInt } from 'node:crypto';
import { createChallenge, verifySolution } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import type { PowChallenge } from '@omechat/protocol';
import type { ProofOfWork } from '../../ports/proof-of-work.js';

/**
 * PBKDF2-SHA-256 iterations per attempt. One Web Crypto call runs them all natively, so a
 * browser pays about what Node pays per attempt (a single SHA-256 per attempt would leave
 * browsers paying mostly for promise overhead, ten times a script's cost).
 */
export const POW_ITERATIONS = 1000;
export const POW_ALGORITHM = 'PBKDF2/SHA-256';

/**
 * ALTCHA v2 in deterministic mode: the server picks the answer (a counter), derives its key
 * once and signs it, so verifying is two HMACs instead of a derivation, and a solver needs
 * at most `attempts` tries (uniform in [attempts/2, attempts), so no unlucky person waits 5x).
 */
export function altchaProofOfWork(secret: string): ProofOfWork {
  // Two keys from one secret: the challenge signature and the derived-key signature.
  const hmacSignatureSecret = `${secret}:challenge`;
  const hmacKeySignatureSecret = `${secret}:key`;
  return {
    async issue({ attempts, expiresAt, data }) {
      const half = Math.max(1, Math.floor(attempts / 2));
      const challenge = await createChallenge({
        algorithm: POW_ALGORITHM,
        cost: POW_ITERATIONS,
        counter: half + randomInt(Math.max(1, attempts - half)),
        deriveKey,
        data,
        expiresAt: new Date(expiresAt),
        hmacSignatureSecret,
        hmacKeySignatureSecret,
      });
      return challenge as PowChallenge;
    },
    async verify(challenge, solution) {
      if (challenge.parameters.algorithm !== POW_ALGORITHM) return 'invalid';
      const result = await verifySolution({
        challenge,
        solution,
        deriveKey,
        hmacSignatureSecret,
        hmacKeySignatureSecret,
      });
      if (result.expired) return 'expired';
      return result.verified ? 'ok' : 'invalid';
    },
  };
}
