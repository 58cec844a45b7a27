import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { concatBytes, randomBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { u32be } from './encoding.js';
import { CryptoError } from './errors.js';

/** Source of secret randomness. Injectable so test vectors can be reproduced byte for byte. */
export type Rng = (length: number) => Uint8Array;
export const defaultRng: Rng = (length) => randomBytes(length);

export interface KeyPair {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

/**
 * A device's long-term identity. The X25519 half is the Montgomery form of the Ed25519 key,
 * so one 32-byte secret is stored, and a peer can check that a bundle's DH key really
 * belongs to its signing key without a second signature.
 */
export interface IdentityKeyPair {
  readonly signing: KeyPair;
  readonly dh: KeyPair;
}

export interface SignedPrekey {
  readonly id: number;
  readonly keyPair: KeyPair;
  readonly signature: Uint8Array;
}

export interface OneTimePrekey {
  readonly id: number;
  readonly keyPair: KeyPair;
}

export function identityFromSecret(signingSecret: Uint8Array): IdentityKeyPair {
  const publicKey = ed25519.getPublicKey(signingSecret);
  return {
    signing: { secretKey: signingSecret, publicKey },
    dh: {
      secretKey: ed25519.utils.toMontgomerySecret(signingSecret),
      publicKey: ed25519.utils.toMontgomery(publicKey),
    },
  };
}

export function generateIdentity(rng: Rng = defaultRng): IdentityKeyPair {
  return identityFromSecret(rng(32));
}

export function x25519FromSecret(secretKey: Uint8Array): KeyPair {
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

export function generateKeyPair(rng: Rng = defaultRng): KeyPair {
  return x25519FromSecret(rng(32));
}

/** The id is signed too, so a server cannot pair a valid key with another prekey's id. */
export function signedPrekeyMessage(id: number, publicKey: Uint8Array): Uint8Array {
  return concatBytes(utf8ToBytes('OmeChat/e2e/v1/signed-prekey'), u32be(id), publicKey);
}

export function generateSignedPrekey(identity: IdentityKeyPair, id: number, rng: Rng = defaultRng): SignedPrekey {
  const keyPair = generateKeyPair(rng);
  const signature = ed25519.sign(signedPrekeyMessage(id, keyPair.publicKey), identity.signing.secretKey);
  return { id, keyPair, signature };
}

export function generateOneTimePrekey(id: number, rng: Rng = defaultRng): OneTimePrekey {
  return { id, keyPair: generateKeyPair(rng) };
}

/** X25519 that reports hostile (low-order or malformed) public keys as a typed error. */
export function dh(secretKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  try {
    return x25519.getSharedSecret(secretKey, publicKey);
  } catch {
    throw new CryptoError('MALFORMED', 'invalid X25519 public key');
  }
}

/** The X25519 identity key belonging to an Ed25519 identity key. */
export function identityDhKeyOf(signingPublicKey: Uint8Array): Uint8Array {
  try {
    return ed25519.utils.toMontgomery(signingPublicKey);
  } catch {
    throw new CryptoError('MALFORMED', 'invalid Ed25519 public key');
  }
}
