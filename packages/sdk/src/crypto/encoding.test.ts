import { describe, expect, it } from 'vitest';
import { fromBase64url, toBase64url } from './encoding.js';
import { seededRng } from './seeded-rng.js';

describe('base64url', () => {
  it('matches the standard encoding for every length', () => {
    const rng = seededRng('base64url');
    for (let length = 0; length < 40; length++) {
      const bytes = rng(length);
      const text = Buffer.from(bytes).toString('base64url');
      expect(toBase64url(bytes)).toBe(text);
      expect(fromBase64url(text)).toEqual(bytes);
    }
  });

  it('accepts exactly one spelling of each byte string', () => {
    for (const bad of ['AA==', 'A+', 'A/', 'A', 'AB', 'AAB', 'a b']) expect(() => fromBase64url(bad)).toThrow();
    expect(() => fromBase64url('AAAA', 2)).toThrow();
  });
});
