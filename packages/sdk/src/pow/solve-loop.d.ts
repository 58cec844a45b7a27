import type { PowChallenge, PowSolution } from '@omechat/protocol';

export function solveLoop(challenge: PowChallenge, onAttempts: (attempts: number) => void, every?: number): Promise<PowSolution>;
