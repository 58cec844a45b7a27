import { describe, expect, it } from 'vitest';
import { toBase64url } from './encoding.js';
import { generateIdentity } from './keys.js';
import { safetyCode } from './safety-code.js';
import { seededRng } from './seeded-rng.js';

const rng = seededRng('safety-code');
const alice = generateIdentity(rng).signing.publicKey;
const bob = generateIdentity(rng).signing.publicKey;
const mallory = generateIdentity(rng).signing.publicKey;

describe('safetyCode', () => {
  it('is the same 60 digits on both sides', () => {
    const code = safetyCode(alice, bob);
    expect(code).toMatch(/^(\d{5} ){11}\d{5}$/);
    expect(safetyCode(bob, alice)).toBe(code);
    expect(safetyCode(toBase64url(bob), toBase64url(alice))).toBe(code);
  });

  it('changes when either identity key changes', () => {
    const code = safetyCode(alice, bob);
    expect(safetyCode(alice, mallory)).not.toBe(code);
    expect(safetyCode(mallory, bob)).not.toBe(code);
  });

  it('rejects something that is not an identity key', () => {
    expect(() => safetyCode(alice, new Uint8Array(31))).toThrow();
  });
});
