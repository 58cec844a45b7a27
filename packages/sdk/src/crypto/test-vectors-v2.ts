import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { addressAd } from './device.js';
import { toBase64url } from './encoding.js';
import { generateKemPrekey, kemEncapsulate } from './kem.js';
import { generateIdentity, generateOneTimePrekey, generateSignedPrekey } from './keys.js';
import { MAX_SEALED_BYTES, pad, paddedLength } from './padding.js';
import { initialHeaderKeys, ratchetEncrypt } from './ratchet.js';
import { seededRng } from './seeded-rng.js';
import { chainSteps, x3dhDhs } from './test-vectors.js';
import { initiateSession, toBundle, x3dhSecret } from './x3dh.js';

/** Seeds of the deterministic RNG streams (see seeded-rng.ts); each key comes from its own stream. */
export const SEEDS_V2 = {
  aliceIdentity: 'omechat-e2e-v2/alice-identity',
  bobIdentity: 'omechat-e2e-v2/bob-identity',
  bobSignedPrekey: 'omechat-e2e-v2/bob-signed-prekey',
  bobOneTimePrekey: 'omechat-e2e-v2/bob-one-time-prekey',
  bobKemPrekey: 'omechat-e2e-v2/bob-one-time-kem-prekey',
  alicePqxdh: 'omechat-e2e-v2/alice-pqxdh',
  aliceNonce: 'omechat-e2e-v2/alice-nonce',
} as const;

/** Plaintext lengths whose padded lengths the vectors pin: both sides of each bucket edge. */
const PADDING_LENGTHS = [0, 1, 20, 120, 159, 160, 1279, 1280, 2047, 2048, 32767, 32768, 49111];

/**
 * Everything in test-vectors/e2e-v2.json, recomputed by this engine. Byte strings are hex,
 * except the wire fields (bundle, header, ciphertext), which are base64url as sent.
 */
export function buildVectorsV2() {
  const hex = bytesToHex;
  const alice = generateIdentity(seededRng(SEEDS_V2.aliceIdentity));
  const bob = generateIdentity(seededRng(SEEDS_V2.bobIdentity));
  const signedPrekey = generateSignedPrekey(bob, 1, seededRng(SEEDS_V2.bobSignedPrekey));
  const oneTimePrekey = generateOneTimePrekey(7, seededRng(SEEDS_V2.bobOneTimePrekey));
  const kemPrekey = generateKemPrekey(bob, 12, false, seededRng(SEEDS_V2.bobKemPrekey));
  const bundle = toBundle(bob, signedPrekey, oneTimePrekey, kemPrekey);

  const { session } = initiateSession(alice, bundle, seededRng(SEEDS_V2.alicePqxdh));
  // initiateSession draws the ephemeral secret, then ML-KEM's 32-byte message m, then the
  // first ratchet secret, from its stream.
  const draws = seededRng(SEEDS_V2.alicePqxdh);
  const ephemeralSecret = draws(32);
  const kemMessage = draws(32);
  const ratchetSecret = draws(32);
  const dhs = x3dhDhs(alice, bob, ephemeralSecret, signedPrekey, oneTimePrekey);
  const kem = kemEncapsulate(kemPrekey.publicKey, () => kemMessage);

  const chain = chainSteps(session.sendChain ?? new Uint8Array(), 3);

  const senderClientHash = 'A1-alice-device-one___';
  const recipientClientHash = 'B1-bob-device-one_____';
  const plaintext = 'Hello Bob, this is Alice, after quantum computers. 👋';
  const extraAd = addressAd(senderClientHash, recipientClientHash);
  const sealed = ratchetEncrypt(session, utf8ToBytes(plaintext), extraAd, seededRng(SEEDS_V2.aliceNonce));
  // ratchetEncrypt draws the header's nonce, then the message's, from its stream.
  const nonces = seededRng(SEEDS_V2.aliceNonce);
  const headerNonce = nonces(24);
  const headerKeys = initialHeaderKeys(x3dhSecret(dhs, kem.sharedSecret));

  return {
    description:
      'OmeChat E2E v2 test vectors (docs/e2e.md): PQXDH with X25519 and ML-KEM-768, encrypted headers, padded plaintext. ' +
      'Regenerate with `npx tsx src/crypto/vectors.gen.ts` only together with a new protocol version.',
    rng: 'stream of SHA-256(utf8(seed) || u32be(counter)), counter = 0, 1, ...; each value is the next bytes of its stream',
    seeds: SEEDS_V2,
    alice: {
      identitySigningSecret: hex(alice.signing.secretKey),
      identitySigningPub: hex(alice.signing.publicKey),
      identityDhSecret: hex(alice.dh.secretKey),
      identityDhPub: hex(alice.dh.publicKey),
    },
    bob: {
      identitySigningSecret: hex(bob.signing.secretKey),
      identitySigningPub: hex(bob.signing.publicKey),
      identityDhPub: hex(bob.dh.publicKey),
      signedPrekey: {
        id: signedPrekey.id,
        secret: hex(signedPrekey.keyPair.secretKey),
        pub: hex(signedPrekey.keyPair.publicKey),
        signature: hex(signedPrekey.signature),
      },
      oneTimePrekey: {
        id: oneTimePrekey.id,
        secret: hex(oneTimePrekey.keyPair.secretKey),
        pub: hex(oneTimePrekey.keyPair.publicKey),
      },
      kemPrekey: {
        id: kemPrekey.id,
        seed: hex(kemPrekey.seed),
        pub: hex(kemPrekey.publicKey),
        signature: hex(kemPrekey.signature),
      },
    },
    bundle,
    pqxdh: {
      ephemeralSecret: hex(ephemeralSecret),
      ephemeralPub: hex(session.handshake),
      dh1: hex(dhs[0] ?? new Uint8Array()),
      dh2: hex(dhs[1] ?? new Uint8Array()),
      dh3: hex(dhs[2] ?? new Uint8Array()),
      dh4: hex(dhs[3] ?? new Uint8Array()),
      kemMessage: hex(kemMessage),
      kemCiphertext: hex(kem.ciphertext),
      kemSharedSecret: hex(kem.sharedSecret),
      sharedSecret: hex(x3dhSecret(dhs, kem.sharedSecret)),
      associatedData: hex(session.ad),
    },
    ratchetInit: {
      aliceRatchetSecret: hex(ratchetSecret),
      aliceRatchetPub: hex(session.ourRatchet.publicKey),
      rootKey: hex(session.rootKey),
      sendingChainKey: hex(session.sendChain ?? new Uint8Array()),
      initiatorHeaderKey: hex(headerKeys.initiator),
      responderHeaderKey: hex(headerKeys.responder),
      nextSendingHeaderKey: hex(session.headerKeys?.nextSend ?? new Uint8Array()),
    },
    chain,
    padding: {
      maxPadded: MAX_SEALED_BYTES,
      lengths: PADDING_LENGTHS.map((length) => [length, paddedLength(length, MAX_SEALED_BYTES)]),
      example: { plaintext: 'hi', padded: hex(pad(utf8ToBytes('hi'), MAX_SEALED_BYTES)) },
    },
    message: {
      senderClientHash,
      recipientClientHash,
      plaintext,
      headerNonce: hex(headerNonce),
      nonce: hex(sealed.ciphertext.slice(0, 24)),
      aeadAssociatedData: hex(concatBytes(session.ad, extraAd, sealed.header)),
      header: toBase64url(sealed.header),
      ciphertext: toBase64url(sealed.ciphertext),
    },
  };
}
