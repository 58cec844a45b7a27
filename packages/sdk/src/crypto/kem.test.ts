import { readFileSync } from 'node:fs';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';

interface Kat {
  keyGen: { tcId: number; d: string; z: string; ek: string; dk: string }[];
  encapsulation: { tcId: number; ek: string; m: string; c: string; k: string }[];
  decapsulation: { dk: string; tests: { tcId: number; reason: string; c: string; k: string }[] };
}
const kat = JSON.parse(readFileSync(new URL('../../test-vectors/fips203-ml-kem-768.json', import.meta.url), 'utf8')) as Kat;
const b = (hex: string) => hexToBytes(hex);
const hex = (bytes: Uint8Array) => bytesToHex(bytes).toUpperCase();

// The ML-KEM we depend on (@noble/post-quantum, pinned) against official NIST ACVP vectors:
// it is young and not independently audited, so the suite checks it does what FIPS 203 says.
describe('FIPS 203 ML-KEM-768 known answers (NIST ACVP)', () => {
  for (const t of kat.keyGen) {
    it(`keyGen tcId ${t.tcId}: seed d || z gives the expected keys`, () => {
      const { publicKey, secretKey } = ml_kem768.keygen(new Uint8Array([...b(t.d), ...b(t.z)]));
      expect(hex(publicKey)).toBe(t.ek);
      expect(hex(secretKey)).toBe(t.dk);
    });
  }
  for (const t of kat.encapsulation) {
    it(`encapsulation tcId ${t.tcId}`, () => {
      const { cipherText, sharedSecret } = ml_kem768.encapsulate(b(t.ek), b(t.m));
      expect(hex(cipherText)).toBe(t.c);
      expect(hex(sharedSecret)).toBe(t.k);
    });
  }
  for (const t of kat.decapsulation.tests) {
    it(`decapsulation tcId ${t.tcId} (${t.reason})`, () => {
      expect(hex(ml_kem768.decapsulate(b(t.c), b(kat.decapsulation.dk)))).toBe(t.k);
    });
  }
});
