import { z } from 'zod';

/**
 * Registration proof-of-work: an ALTCHA v2 challenge the server signs with HMAC and the
 * client solves before `account.register`. docs/protocol.md ("Proof-of-work") specifies the
 * algorithm completely; docs/safety.md has the policy. The server checks the signature, so
 * these schemas only bound sizes and shapes.
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
    /** Epoch SECONDS (every other timestamp of the protocol is in milliseconds). */
    expiresAt: z.number().int().optional(),
    /**
     * `max`: the most attempts a solution can need (the answer's counter is below it), for
     * progress; `net`: binds the challenge to the network it was priced for (echo it).
     */
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

/**
 * The worked example of docs/protocol.md ("Proof-of-work"): a challenge as a server issued it
 * (signed with a throw-away key) and its solution. packages/conformance checks that a solver
 * written from the doc alone finds exactly this solution.
 */
export const POW_WORKED_EXAMPLE = {
  challenge: {
    parameters: {
      algorithm: 'PBKDF2/SHA-256',
      cost: 1000,
      data: { max: 8, net: 'a1b2c3d4e5f60718' },
      expiresAt: 1893456000,
      keyLength: 32,
      keyPrefix: '4d0a8ffa2089ee4043e438547aabd765',
      keySignature: '42c53b18c925d8efec8d6bd18601b1ab601b4fb891ffd294cf2d9d35af335555',
      nonce: 'ea39d33960cb3e07980737ed0631fdb6',
      salt: '68c9802beb629073be5423129f632f00',
    },
    signature: '7debd338e38c3ee86148b6c44ffef9396d52c298dcdb7c2892ed265d68cdada2',
  },
  solution: {
    counter: 4,
    derivedKey: '4d0a8ffa2089ee4043e438547aabd765d500ad6c0e3bb1bc932646d11331c87f',
  },
} as const satisfies RegistrationProof;
