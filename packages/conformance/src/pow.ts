import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';

/**
 * The registration proof-of-work, solved exactly as docs/protocol.md ("Proof-of-work")
 * specifies it, with nothing but Node's PBKDF2: no ALTCHA library. The suite registers with
 * it, so a server and that section of the doc cannot drift apart unnoticed.
 */

const pbkdf2Async = promisify(pbkdf2);

export interface PowParameters {
  algorithm: string;
  nonce: string;
  salt: string;
  cost: number;
  keyLength: number;
  keyPrefix: string;
  data?: Record<string, unknown>;
  [other: string]: unknown;
}
export interface PowChallenge {
  parameters: PowParameters;
  signature: string;
}
export interface PowSolution {
  counter: number;
  derivedKey: string;
}

const DIGESTS: Record<string, string> = { 'PBKDF2/SHA-256': 'sha256' };

/** The derived key of one counter: PBKDF2(password = nonce bytes ‖ counter as 4 big-endian bytes, salt bytes). */
export async function deriveKeyFor(parameters: PowParameters, counter: number): Promise<Buffer> {
  const digest = DIGESTS[parameters.algorithm];
  if (!digest) throw new Error(`unknown proof-of-work algorithm ${parameters.algorithm}`);
  const nonce = Buffer.from(parameters.nonce, 'hex');
  const password = Buffer.alloc(nonce.length + 4);
  nonce.copy(password);
  password.writeUInt32BE(counter, nonce.length);
  return pbkdf2Async(password, Buffer.from(parameters.salt, 'hex'), parameters.cost, parameters.keyLength, digest);
}

/** Tries counters 0, 1, 2, … until the derived key, in lower-case hex, starts with keyPrefix. */
export async function solvePow(challenge: PowChallenge): Promise<PowSolution> {
  const { parameters } = challenge;
  const prefix = parameters.keyPrefix.toLowerCase();
  // `data.max`: the most attempts a solution can need; past it, something is wrong.
  const max = typeof parameters.data?.max === 'number' ? parameters.data.max : 2 ** 32;
  for (let counter = 0; counter < max; counter++) {
    const derivedKey = (await deriveKeyFor(parameters, counter)).toString('hex');
    if (derivedKey.startsWith(prefix)) return { counter, derivedKey };
  }
  throw new Error(`no counter below data.max (${max}) solves the challenge`);
}
