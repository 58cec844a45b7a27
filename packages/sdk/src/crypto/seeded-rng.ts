import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { u32be } from './encoding.js';
import type { Rng } from './keys.js';

/**
 * A predictable byte stream, SHA-256(utf8(seed) || u32be(counter)) for counter = 0, 1, ...
 * For tests and test vectors only: anyone who knows the seed knows every key.
 */
export function seededRng(seed: string): Rng {
  const prefix = utf8ToBytes(seed);
  let counter = 0;
  let buffer = new Uint8Array(0);
  return (length) => {
    while (buffer.length < length) buffer = concatBytes(buffer, sha256(concatBytes(prefix, u32be(counter++))));
    const out = buffer.slice(0, length);
    buffer = buffer.slice(length);
    return out;
  };
}
