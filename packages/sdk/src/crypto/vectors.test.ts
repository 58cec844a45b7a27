import { readFileSync } from 'node:fs';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { addressAd } from './device.js';
import { fromBase64url } from './encoding.js';
import { decodeHeader } from './header.js';
import { identityFromSecret } from './keys.js';
import { ratchetDecrypt } from './ratchet.js';
import { seededRng } from './seeded-rng.js';
import { buildVectors } from './test-vectors.js';
import { acceptSession } from './x3dh.js';

const stored = JSON.parse(
  readFileSync(new URL('../../test-vectors/e2e-v1.json', import.meta.url), 'utf8'),
) as ReturnType<typeof buildVectors>;
const b = (value: string) => hexToBytes(value);
const hex = bytesToHex;

describe('test vectors e2e-v1', () => {
  it('the engine reproduces the stored vectors byte for byte', () => {
    expect(buildVectors()).toEqual(stored);
  });

  // Recomputed from docs/e2e.md with the bare primitives, so the document, the vectors and
  // the engine cannot drift apart.
  it('match the documented key derivations', () => {
    const { alice, bob, x3dh, ratchetInit, chain, message } = stored;
    expect(hex(seededRng(stored.seeds.aliceIdentity)(32))).toBe(alice.identitySigningSecret);
    expect(hex(ed25519.getPublicKey(b(bob.identitySigningSecret)))).toBe(bob.identitySigningPub);
    expect(hex(x25519.getPublicKey(b(bob.identityDhSecret)))).toBe(bob.identityDhPub);
    expect(hex(ed25519.utils.toMontgomery(b(alice.identitySigningPub)))).toBe(alice.identityDhPub);
    const signed = concatBytes(utf8ToBytes('OmeChat/e2e/v1/signed-prekey'), Uint8Array.of(0, 0, 0, 1), b(bob.signedPrekey.pub));
    expect(ed25519.verify(b(bob.signedPrekey.signature), signed, b(bob.identitySigningPub))).toBe(true);

    const ek = b(x3dh.ephemeralSecret);
    expect(hex(x25519.getSharedSecret(b(alice.identityDhSecret), b(bob.signedPrekey.pub)))).toBe(x3dh.dh1);
    expect(hex(x25519.getSharedSecret(ek, b(bob.identityDhPub)))).toBe(x3dh.dh2);
    expect(hex(x25519.getSharedSecret(ek, b(bob.signedPrekey.pub)))).toBe(x3dh.dh3);
    expect(hex(x25519.getSharedSecret(ek, b(bob.oneTimePrekey.pub)))).toBe(x3dh.dh4);
    const ikm = concatBytes(new Uint8Array(32).fill(0xff), b(x3dh.dh1), b(x3dh.dh2), b(x3dh.dh3), b(x3dh.dh4));
    const sk = hkdf(sha256, ikm, new Uint8Array(32), utf8ToBytes('OmeChat/e2e/v1/x3dh'), 32);
    expect(hex(sk)).toBe(x3dh.sharedSecret);
    expect(x3dh.associatedData).toBe(alice.identitySigningPub + bob.identitySigningPub);

    const ratchetDh = x25519.getSharedSecret(b(ratchetInit.aliceRatchetSecret), b(bob.signedPrekey.pub));
    const root = hkdf(sha256, ratchetDh, sk, utf8ToBytes('OmeChat/e2e/v1/ratchet'), 64);
    expect(hex(root.slice(0, 32))).toBe(ratchetInit.rootKey);
    expect(hex(root.slice(32))).toBe(ratchetInit.sendingChainKey);

    for (const step of chain) {
      expect(hex(hmac(sha256, b(step.chainKey), Uint8Array.of(1)))).toBe(step.messageKey);
      expect(hex(hmac(sha256, b(step.chainKey), Uint8Array.of(2)))).toBe(step.nextChainKey);
    }

    const header = fromBase64url(message.header);
    expect(hex(header)).toBe(
      '0103' + ratchetInit.aliceRatchetPub + '00000000' + '00000000' + alice.identitySigningPub + x3dh.ephemeralPub + '00000001' + '00000007',
    );
    const ad = concatBytes(b(x3dh.associatedData), addressAd(message.senderClientHash, message.recipientClientHash), header);
    expect(hex(ad)).toBe(message.aeadAssociatedData);
    const sealed = fromBase64url(message.ciphertext);
    expect(hex(sealed.slice(0, 24))).toBe(message.nonce);
    const opened = xchacha20poly1305(b(chain[0]!.messageKey), sealed.slice(0, 24), ad).decrypt(sealed.slice(24));
    expect(new TextDecoder().decode(opened)).toBe(message.plaintext);
  });

  it("Bob's side of the engine opens the vector message", () => {
    const { bob, message } = stored;
    const header = fromBase64url(message.header);
    const session = acceptSession(
      identityFromSecret(b(bob.identitySigningSecret)),
      b(bob.signedPrekey.secret),
      b(bob.oneTimePrekey.secret),
      decodeHeader(header),
    );
    const ad = addressAd(message.senderClientHash, message.recipientClientHash);
    const { plaintext } = ratchetDecrypt(session, header, fromBase64url(message.ciphertext), ad, seededRng('bob-ratchet'));
    expect(new TextDecoder().decode(plaintext)).toBe(message.plaintext);
  });
});
