import { utf8ToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeHeader } from './header.js';
import { generateIdentity, generateOneTimePrekey, generateSignedPrekey } from './keys.js';
import { ratchetDecrypt, ratchetEncrypt } from './ratchet.js';
import { seededRng } from './seeded-rng.js';
import { acceptSession, initiateSession, toBundle, type PrekeyBundle } from './x3dh.js';
import { codeOf } from './crypto-test-helpers.js';

const rng = seededRng('x3dh-test');
const alice = generateIdentity(rng);
const bob = generateIdentity(rng);
const mallory = generateIdentity(rng);
const signedPrekey = generateSignedPrekey(bob, 5, rng);
const oneTimePrekey = generateOneTimePrekey(9, rng);
const AD = new Uint8Array();


describe('X3DH', () => {
  for (const withOneTime of [true, false]) {
    it(`both sides derive the same session ${withOneTime ? 'with' : 'without'} a one-time prekey`, () => {
      const bundle = toBundle(bob, signedPrekey, withOneTime ? oneTimePrekey : undefined);
      const { session, init } = initiateSession(alice, bundle, rng);
      expect(init.signedPrekeyId).toBe(5);
      expect(init.oneTimePrekeyId).toBe(withOneTime ? 9 : undefined);
      const sealed = ratchetEncrypt(session, utf8ToBytes('hi Bob'), AD, rng);
      const responder = acceptSession(
        bob,
        signedPrekey.keyPair.secretKey,
        withOneTime ? oneTimePrekey.keyPair.secretKey : undefined,
        decodeHeader(sealed.header),
      );
      expect(responder.remoteIdentity).toEqual(alice.signing.publicKey);
      const { plaintext } = ratchetDecrypt(responder, sealed.header, sealed.ciphertext, AD, rng);
      expect(new TextDecoder().decode(plaintext)).toBe('hi Bob');
    });
  }

  it('rejects bundles whose prekey is not vouched for by the identity key', () => {
    const bundle = toBundle(bob, signedPrekey, oneTimePrekey);
    const malloryPrekey = generateSignedPrekey(mallory, 5, rng);
    const forgeries: PrekeyBundle[] = [
      // The server swaps in its own prekey, signed by its own key.
      { ...bundle, signedPrekey: toBundle(mallory, malloryPrekey).signedPrekey },
      // A valid signature moved to another prekey id.
      { ...bundle, signedPrekey: { ...bundle.signedPrekey, id: 6 } },
      // The DH identity key of someone else next to Bob's signing key.
      { ...bundle, identityDhPub: toBundle(mallory, malloryPrekey).identityDhPub },
      // A signature that is not one at all.
      { ...bundle, signedPrekey: { ...bundle.signedPrekey, signature: 'A'.repeat(86) } },
    ];
    for (const forged of forgeries) expect(codeOf(() => initiateSession(alice, forged, rng))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => initiateSession(alice, { ...bundle, identitySigningPub: 'not*base64' }, rng))).toBe('MALFORMED');
  });

  it('the responder needs X3DH data and the right one-time prekey', () => {
    const { session } = initiateSession(alice, toBundle(bob, signedPrekey, oneTimePrekey), rng);
    const header = decodeHeader(ratchetEncrypt(session, new Uint8Array(), AD, rng).header);
    const secret = signedPrekey.keyPair.secretKey;
    expect(codeOf(() => acceptSession(bob, secret, undefined, header))).toBe('UNKNOWN_PREKEY');
    expect(codeOf(() => acceptSession(bob, secret, undefined, { ...header, init: undefined }))).toBe('MALFORMED');
  });

  it('headers round-trip and malformed ones are rejected', () => {
    const { session } = initiateSession(alice, toBundle(bob, signedPrekey, oneTimePrekey), rng);
    const bytes = ratchetEncrypt(session, new Uint8Array(), AD, rng).header;
    expect(encodeHeader(decodeHeader(bytes))).toEqual(bytes);
    const withFlags = (flags: number) => Uint8Array.from(bytes, (v, i) => (i === 1 ? flags : v));
    for (const bad of [bytes.slice(0, -1), Uint8Array.from(bytes, (v, i) => (i === 0 ? 2 : v)), withFlags(7), withFlags(2)]) {
      expect(codeOf(() => decodeHeader(bad))).toBe('MALFORMED');
    }
  });
});
