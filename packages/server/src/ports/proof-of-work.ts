import type { PowChallenge, PowSolution } from '@omechat/protocol';

/**
 * The ProofOfWork port: signed, expiring challenges and their verification. The adapter
 * (`adapters/pow/altcha.ts`) uses altcha-lib; the policy (difficulty, replay, heat) is the
 * core's (`core/registration-pow.ts`).
 */
export interface ProofOfWork {
  /**
   * A signed challenge whose solution takes between `attempts / 2` and `attempts` tries.
   * `data` is signed with it; `expiresAt` in epoch ms.
   */
  issue(input: { attempts: number; expiresAt: number; data: Record<string, string | number> }): Promise<PowChallenge>;
  /** `ok` only for an unexpired challenge this server signed, solved by `solution`. */
  verify(challenge: PowChallenge, solution: PowSolution): Promise<'ok' | 'invalid' | 'expired'>;
}
