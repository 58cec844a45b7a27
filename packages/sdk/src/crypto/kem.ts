import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { u32be } from './encoding.js';
import { CryptoError } from './errors.js';
import type { IdentityKeyPair, Rng } from './keys.js';

/** ML-KEM-768 sizes (FIPS 203, Table 3). */
export const KEM_PUBLIC_KEY_BYTES = 1184;
export const KEM_CIPHERTEXT_BYTES = 1088;
/** FIPS 203 keygen seed d || z: the device stores this instead of the 2,400-byte decapsulation key. */
export const KEM_SEED_BYTES = 64;

/**
 * A signed ML-KEM-768 prekey (PQXDH §3.2: the last-resort prekey and each one-time prekey
 * are signed by the identity key). One id space covers both kinds on a device, so the
 * device alone decides which key a first message used, and whether to delete it.
 */
export interface KemPrekey {
  readonly id: number;
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  /** Kept after use (PQXDH §3.4): it serves when the server has no one-time KEM prekey left. */
  readonly lastResort: boolean;
}

/** The signed bytes name the KEM (PQXDH §2.5: EncodeKEM carries the KEM type) and bind the id. */
export function kemPrekeyMessage(id: number, publicKey: Uint8Array): Uint8Array {
  return concatBytes(utf8ToBytes('OmeChat/e2e/v2/ML-KEM-768-prekey'), u32be(id), publicKey);
}

export function kemPublicKey(seed: Uint8Array): Uint8Array {
  return ml_kem768.keygen(seed).publicKey;
}

export function kemPrekeyFromSeed(identity: IdentityKeyPair, id: number, seed: Uint8Array, lastResort: boolean): KemPrekey {
  const { publicKey } = ml_kem768.keygen(seed);
  const signature = ed25519.sign(kemPrekeyMessage(id, publicKey), identity.signing.secretKey);
  return { id, seed, publicKey, signature, lastResort };
}

export function generateKemPrekey(identity: IdentityKeyPair, id: number, lastResort: boolean, rng: Rng): KemPrekey {
  return kemPrekeyFromSeed(identity, id, rng(KEM_SEED_BYTES), lastResort);
}

export function verifyKemPrekey(identity: Uint8Array, id: number, publicKey: Uint8Array, signature: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, kemPrekeyMessage(id, publicKey), identity);
  } catch {
    return false; // a malformed key or signature is as untrustworthy as a wrong one
  }
}

/** `rng` supplies FIPS 203's 32-byte message m, so test vectors are reproducible. */
export function kemEncapsulate(publicKey: Uint8Array, rng: Rng): { ciphertext: Uint8Array; sharedSecret: Uint8Array } {
  try {
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, rng(32));
    return { ciphertext: cipherText, sharedSecret };
  } catch {
    // FIPS 203 §7.2's modulus check failed: the key is not a valid ML-KEM-768 key.
    throw new CryptoError('MALFORMED', 'invalid ML-KEM-768 public key');
  }
}

/**
 * ML-KEM decapsulation never fails on a wrong ciphertext (implicit rejection, FIPS 203 §6.3):
 * it yields an unrelated secret, and the first message then fails its AEAD check.
 */
export function kemDecapsulate(seed: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return ml_kem768.decapsulate(ciphertext, ml_kem768.keygen(seed).secretKey);
}
