import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { fromBase64url } from './encoding.js';
import { CryptoError } from './errors.js';

const VERSION = utf8ToBytes('OmeChat/e2e/v1/safety-code');
/** Iterated hashing makes grinding for a key whose code collides with a victim's expensive. */
const ITERATIONS = 5200;
const GROUPS_PER_KEY = 6;

/**
 * A 60-digit code (12 groups of 5) two users compare out of band. Each half comes from one
 * identity key; the halves are sorted, so both sides see the same code whatever the order
 * of the arguments. Keys are raw Ed25519 identity keys or their base64url form.
 */
export function safetyCode(identityPubA: Uint8Array | string, identityPubB: Uint8Array | string): string {
  return [digits(identityPubA), digits(identityPubB)]
    .sort()
    .join('')
    .replace(/(\d{5})(?=\d)/g, '$1 ');
}

function digits(identityPub: Uint8Array | string): string {
  const key = typeof identityPub === 'string' ? fromBase64url(identityPub, 32) : identityPub;
  if (key.length !== 32) throw new CryptoError('MALFORMED', 'identity key must be 32 bytes');
  let hash = concatBytes(VERSION, key);
  for (let i = 0; i < ITERATIONS; i++) hash = sha512(concatBytes(hash, key));
  let out = '';
  for (let g = 0; g < GROUPS_PER_KEY; g++) {
    // 5 bytes = 40 bits, far more than 10^5, so the modulo bias is negligible (< 2^-23).
    let chunk = 0;
    for (let j = 0; j < 5; j++) chunk = chunk * 256 + (hash[g * 5 + j] ?? 0);
    out += String(chunk % 100000).padStart(5, '0');
  }
  return out;
}
