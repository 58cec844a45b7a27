import { readFileSync } from 'node:fs';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { describe, expect, it } from 'vitest';
import { addressAd } from './device.js';
import { fromBase64url } from './encoding.js';
import { decodeHeader } from './header.js';
import { identityFromSecret } from './keys.js';
import { ratchetDecrypt } from './ratchet.js';
import { seededRng } from './seeded-rng.js';
import { buildVectorsV2 } from './test-vectors-v2.js';
import { acceptSession } from './x3dh.js';

const stored = JSON.parse(
  readFileSync(new URL('../../test-vectors/e2e-v2.json', import.meta.url), 'utf8'),
) as ReturnType<typeof buildVectorsV2>;
const b = (value: string) => hexToBytes(value);
const hex = bytesToHex;
const u32 = (n: number) => hex(Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255));

describe('test vectors e2e-v2', () => {
  it('the engine reproduces the stored vectors byte for byte', () => {
    expect(buildVectorsV2()).toEqual(stored);
  });

  // Recomputed from docs/e2e.md with the bare primitives, so the document, the vectors and
  // the engine cannot drift apart.
  it('match the documented key derivations', () => {
    const { alice, bob, pqxdh, ratchetInit, chain, message } = stored;
    const kem = bob.kemPrekey;
    expect(hex(seededRng(stored.seeds.bobKemPrekey)(64))).toBe(kem.seed);
    expect(hex(ml_kem768.keygen(b(kem.seed)).publicKey)).toBe(kem.pub);
    const signed = concatBytes(utf8ToBytes('OmeChat/e2e/v2/ML-KEM-768-prekey'), b(u32(kem.id)), b(kem.pub));
    expect(ed25519.verify(b(kem.signature), signed, b(bob.identitySigningPub))).toBe(true);
    const spkSigned = concatBytes(utf8ToBytes('OmeChat/e2e/v1/signed-prekey'), b(u32(1)), b(bob.signedPrekey.pub));
    expect(ed25519.verify(b(bob.signedPrekey.signature), spkSigned, b(bob.identitySigningPub))).toBe(true);

    const ek = b(pqxdh.ephemeralSecret);
    expect(hex(x25519.getSharedSecret(b(alice.identityDhSecret), b(bob.signedPrekey.pub)))).toBe(pqxdh.dh1);
    expect(hex(x25519.getSharedSecret(ek, b(bob.identityDhPub)))).toBe(pqxdh.dh2);
    expect(hex(x25519.getSharedSecret(ek, b(bob.signedPrekey.pub)))).toBe(pqxdh.dh3);
    expect(hex(x25519.getSharedSecret(ek, b(bob.oneTimePrekey.pub)))).toBe(pqxdh.dh4);
    const encapsulated = ml_kem768.encapsulate(b(kem.pub), b(pqxdh.kemMessage));
    expect(hex(encapsulated.cipherText)).toBe(pqxdh.kemCiphertext);
    expect(hex(encapsulated.sharedSecret)).toBe(pqxdh.kemSharedSecret);
    expect(hex(ml_kem768.decapsulate(b(pqxdh.kemCiphertext), ml_kem768.keygen(b(kem.seed)).secretKey))).toBe(pqxdh.kemSharedSecret);
    const ikm = concatBytes(
      new Uint8Array(32).fill(0xff),
      b(pqxdh.dh1),
      b(pqxdh.dh2),
      b(pqxdh.dh3),
      b(pqxdh.dh4),
      b(pqxdh.kemSharedSecret),
    );
    const sk = hkdf(sha256, ikm, new Uint8Array(32), utf8ToBytes('OmeChat/e2e/v2/pqxdh/X25519/SHA-256/ML-KEM-768'), 32);
    expect(hex(sk)).toBe(pqxdh.sharedSecret);
    expect(pqxdh.associatedData).toBe(alice.identitySigningPub + bob.identitySigningPub);

    const headerKeys = hkdf(sha256, sk, new Uint8Array(32), utf8ToBytes('OmeChat/e2e/v2/header-keys'), 64);
    expect(hex(headerKeys.slice(0, 32))).toBe(ratchetInit.initiatorHeaderKey);
    expect(hex(headerKeys.slice(32))).toBe(ratchetInit.responderHeaderKey);
    const ratchetDh = x25519.getSharedSecret(b(ratchetInit.aliceRatchetSecret), b(bob.signedPrekey.pub));
    const root = hkdf(sha256, ratchetDh, sk, utf8ToBytes('OmeChat/e2e/v2/ratchet'), 96);
    expect(hex(root.slice(0, 32))).toBe(ratchetInit.rootKey);
    expect(hex(root.slice(32, 64))).toBe(ratchetInit.sendingChainKey);
    expect(hex(root.slice(64))).toBe(ratchetInit.nextSendingHeaderKey);
    for (const step of chain) {
      expect(hex(hmac(sha256, b(step.chainKey), Uint8Array.of(1)))).toBe(step.messageKey);
      expect(hex(hmac(sha256, b(step.chainKey), Uint8Array.of(2)))).toBe(step.nextChainKey);
    }

    // Padding: 0x80 then zeros up to the bucket; buckets of 160 up to 1280, then powers of two, capped.
    const bucket = (n: number) => {
      const needed = n + 1;
      if (needed <= 1280) return Math.ceil(needed / 160) * 160;
      return Math.min(2 ** Math.ceil(Math.log2(needed)), stored.padding.maxPadded);
    };
    for (const [length, padded] of stored.padding.lengths) expect(bucket(length!)).toBe(padded);
    expect(stored.padding.example.padded).toBe('686980' + '00'.repeat(157));

    const header = fromBase64url(message.header);
    // The ratchet fields (ratchet key, pn = 0, n = 0) sealed under the initiator's header key,
    // bound to AD and the version and flags bytes.
    const fieldsAd = concatBytes(b(pqxdh.associatedData), Uint8Array.of(2, 3));
    const sealedFields = xchacha20poly1305(b(ratchetInit.initiatorHeaderKey), b(message.headerNonce), fieldsAd).encrypt(
      b(ratchetInit.aliceRatchetPub + '00000000' + '00000000'),
    );
    expect(hex(header)).toBe(
      '0203' + message.headerNonce + hex(sealedFields) + alice.identitySigningPub + pqxdh.ephemeralPub +
        u32(1) + u32(kem.id) + pqxdh.kemCiphertext + u32(7),
    );
    const ad = concatBytes(b(pqxdh.associatedData), addressAd(message.senderClientHash, message.recipientClientHash), header);
    expect(hex(ad)).toBe(message.aeadAssociatedData);
    const sealed = fromBase64url(message.ciphertext);
    expect(hex(sealed.slice(0, 24))).toBe(message.nonce);
    const padded = xchacha20poly1305(b(chain[0]!.messageKey), sealed.slice(0, 24), ad).decrypt(sealed.slice(24));
    const text = utf8ToBytes(message.plaintext);
    expect(padded.length).toBe(bucket(text.length));
    expect(hex(padded)).toBe(hex(text) + '80' + '00'.repeat(padded.length - text.length - 1));
  });

  it("Bob's side of the engine opens the vector message", () => {
    const { bob, message } = stored;
    const header = fromBase64url(message.header);
    const session = acceptSession(
      identityFromSecret(b(bob.identitySigningSecret)),
      b(bob.signedPrekey.secret),
      b(bob.oneTimePrekey.secret),
      decodeHeader(header),
      b(bob.kemPrekey.seed),
    );
    const ad = addressAd(message.senderClientHash, message.recipientClientHash);
    const { plaintext } = ratchetDecrypt(session, header, fromBase64url(message.ciphertext), ad, seededRng('bob-ratchet'));
    expect(new TextDecoder().decode(plaintext)).toBe(message.plaintext);
  });
});
