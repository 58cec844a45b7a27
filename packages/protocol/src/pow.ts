import { z } from 'zod';

/**
 * Registration proof-of-work: an ALTCHA v2 challenge (altcha-lib) the server signs with
 * HMAC and the client solves before `account.register`. See docs/safety.md,
 * "Registration proof-of-work". The server checks the signature, so these schemas only
 * bound sizes and shapes.
 */
const hex = (max: number) => z.string().max(max).regex(/^[0-9a-f]*$/, 'must be lower-case hex');

/** Signed exactly as sent: a client must hand the parameters back unchanged. */
export const powChallengeSchema = z.strictObject({
  parameters: z.strictObject({
    algorithm: z.string().max(32),
    nonce: hex(128),
    salt: hex(128),
    cost: z.number().int().min(1).max(10_000_000),
    keyLength: z.number().int().min(1).max(64),
    keyPrefix: hex(128),
    keySignature: hex(256).optional(),
    memoryCost: z.number().int().optional(),
    parallelism: z.number().int().optional(),
    /** Epoch seconds. */
    expiresAt: z.number().int().optional(),
    /** `max`: the most attempts a solution can need (for progress reporting). */
    data: z.record(z.string().max(32), z.union([z.string().max(256), z.number(), z.boolean(), z.null()])).optional(),
  }),
  signature: hex(256),
});

export const powSolutionSchema = z.strictObject({
  counter: z.number().int().min(0).max(2 ** 32 - 1),
  derivedKey: hex(256),
  /** How long solving took (ms), as the solver measured it: informative only. */
  time: z.number().min(0).optional(),
});

/** What `account.register` takes in `pow`. */
export const registrationProofSchema = z.strictObject({ challenge: powChallengeSchema, solution: powSolutionSchema });

/** `account.challenge`: null when the server requires no proof-of-work. */
export const powChallengeOutput = powChallengeSchema.nullable();

export type PowChallenge = z.infer<typeof powChallengeSchema>;
export type PowSolution = z.infer<typeof powSolutionSchema>;
export type RegistrationProof = z.infer<typeof registrationProofSchema>;
