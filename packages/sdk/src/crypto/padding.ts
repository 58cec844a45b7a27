import { LIMITS } from '@omechat/protocol';
import { CryptoError } from './errors.js';

/** Largest plaintext whose sealed form (24-byte nonce + ciphertext + 16-byte tag) fits one envelope part. */
export const MAX_SEALED_BYTES = Math.floor((LIMITS.maxCiphertextChars * 6) / 8) - 24 - 16;

/**
 * E2E v2 length padding. The plaintext gets one 0x80 byte and then zeros (ISO/IEC 7816-4
 * padding, which Signal also uses) up to a bucket size, so the server sees the bucket, not
 * the length. Short texts, the bulk of a chat, share 160-byte steps; longer ones round up
 * to a power of two, which costs at most half again and reveals only the order of magnitude.
 */
export const PAD_STEP = 160;
/** Up to here the buckets are multiples of PAD_STEP; above, powers of two. */
export const PAD_STEP_LIMIT = 1280;

/** The padded length for `length` plaintext bytes: never less than length + 1. */
export function paddedLength(length: number, max: number): number {
  const needed = length + 1;
  if (needed > max) throw new CryptoError('TOO_LARGE');
  if (needed <= PAD_STEP_LIMIT) return Math.ceil(needed / PAD_STEP) * PAD_STEP;
  // Every message between the largest power of two that fits and `max` shares one size.
  return Math.min(2 ** Math.ceil(Math.log2(needed)), max);
}

export function pad(plaintext: Uint8Array, max: number): Uint8Array {
  const out = new Uint8Array(paddedLength(plaintext.length, max));
  out.set(plaintext);
  out[plaintext.length] = 0x80;
  return out;
}

/** Inverse of `pad`. Only reached after the AEAD tag verified, so a bad pad means a buggy sender. */
export function unpad(padded: Uint8Array): Uint8Array {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 0x80) throw new CryptoError('MALFORMED', 'bad padding');
  return padded.slice(0, end);
}
