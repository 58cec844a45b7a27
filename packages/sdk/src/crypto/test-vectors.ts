import { bytesToHex, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { addressAd } from './device.js';
import { toBase64url } from './encoding.js';
import { dh, generateIdentity, generateOneTimePrekey, generateSignedPrekey } from './keys.js';
import { kdfChain, ratchetEncrypt } from './ratchet.js';
import { seededRng } from './seeded-rng.js';
import { initiateSession, toBundle, x3dhSecret } from './x3dh.js';

/** Seeds of the deterministic RNG streams (see seeded-rng.ts); each key comes from its own stream. */
export const SEEDS = {
  aliceIdentity: 'omechat-e2e-v1/alice-identity',
  bobIdentity: 'omechat-e2e-v1/bob-identity',
  bobSignedPrekey: 'omechat-e2e-v1/bob-signed-prekey',
  bobOneTimePrekey: 'omechat-e2e-v1/bob-one-time-prekey',
  aliceX3dh: 'omechat-e2e-v1/alice-x3dh',
  aliceNonce: 'omechat-e2e-v1/alice-nonce',
} as const;

type Identity = ReturnType<typeof generateIdentity>;

/** The four X25519 outputs of X3DH (and of PQXDH, before its KEM secret), as the initiator computes them. */
export function x3dhDhs(
  alice: Identity,
  bob: Identity,
  ephemeralSecret: Uint8Array,
  signedPrekey: ReturnType<typeof generateSignedPrekey>,
  oneTimePrekey: ReturnType<typeof generateOneTimePrekey>,
): Uint8Array[] {
  return [
    dh(alice.dh.secretKey, signedPrekey.keyPair.publicKey),
    dh(ephemeralSecret, bob.dh.publicKey),
    dh(ephemeralSecret, signedPrekey.keyPair.publicKey),
    dh(ephemeralSecret, oneTimePrekey.keyPair.publicKey),
  ];
}

/** `count` steps of the symmetric chain from `chainKey`, in hex. */
export function chainSteps(chainKey: Uint8Array, count: number) {
  const steps = [];
  for (let i = 0; i < count; i++) {
    const step = kdfChain(chainKey);
    steps.push({ chainKey: bytesToHex(chainKey), messageKey: bytesToHex(step.messageKey), nextChainKey: bytesToHex(step.chainKey) });
    chainKey = step.chainKey;
  }
  return steps;
}

/**
 * Everything in test-vectors/e2e-v1.json, recomputed by this engine. Byte strings are hex,
 * except the wire fields (bundle, header, ciphertext), which are base64url as sent.
 */
export function buildVectors() {
  const hex = bytesToHex;
  const alice = generateIdentity(seededRng(SEEDS.aliceIdentity));
  const bob = generateIdentity(seededRng(SEEDS.bobIdentity));
  const signedPrekey = generateSignedPrekey(bob, 1, seededRng(SEEDS.bobSignedPrekey));
  const oneTimePrekey = generateOneTimePrekey(7, seededRng(SEEDS.bobOneTimePrekey));
  const bundle = toBundle(bob, signedPrekey, oneTimePrekey);

  const { session } = initiateSession(alice, bundle, seededRng(SEEDS.aliceX3dh), 1);
  // initiateSession draws the ephemeral secret, then the first ratchet secret, from its stream.
  const x3dhDraws = seededRng(SEEDS.aliceX3dh);
  const ephemeralSecret = x3dhDraws(32);
  const ratchetSecret = x3dhDraws(32);
  const dhs = x3dhDhs(alice, bob, ephemeralSecret, signedPrekey, oneTimePrekey);

  const chain = chainSteps(session.sendChain ?? new Uint8Array(), 3);

  const senderClientHash = 'A1-alice-device-one___';
  const recipientClientHash = 'B1-bob-device-one_____';
  const plaintext = 'Hello Bob, this is Alice. 👋';
  const extraAd = addressAd(senderClientHash, recipientClientHash);
  const sealed = ratchetEncrypt(session, utf8ToBytes(plaintext), extraAd, seededRng(SEEDS.aliceNonce));

  return {
    description:
      'OmeChat E2E v1 test vectors (docs/e2e.md). Regenerate with `npx tsx src/crypto/vectors.gen.ts` ' +
      'only together with a new protocol version.',
    rng: 'stream of SHA-256(utf8(seed) || u32be(counter)), counter = 0, 1, ...; a 32-byte secret is the next 32 bytes',
    seeds: SEEDS,
    alice: {
      identitySigningSecret: hex(alice.signing.secretKey),
      identitySigningPub: hex(alice.signing.publicKey),
      identityDhSecret: hex(alice.dh.secretKey),
      identityDhPub: hex(alice.dh.publicKey),
    },
    bob: {
      identitySigningSecret: hex(bob.signing.secretKey),
      identitySigningPub: hex(bob.signing.publicKey),
      identityDhSecret: hex(bob.dh.secretKey),
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
    },
    bundle,
    x3dh: {
      ephemeralSecret: hex(ephemeralSecret),
      ephemeralPub: hex(session.handshake),
      dh1: hex(dhs[0] ?? new Uint8Array()),
      dh2: hex(dhs[1] ?? new Uint8Array()),
      dh3: hex(dhs[2] ?? new Uint8Array()),
      dh4: hex(dhs[3] ?? new Uint8Array()),
      sharedSecret: hex(x3dhSecret(dhs)),
      associatedData: hex(session.ad),
    },
    ratchetInit: {
      aliceRatchetSecret: hex(ratchetSecret),
      aliceRatchetPub: hex(session.ourRatchet.publicKey),
      rootKey: hex(session.rootKey),
      sendingChainKey: hex(session.sendChain ?? new Uint8Array()),
    },
    chain,
    message: {
      senderClientHash,
      recipientClientHash,
      plaintext,
      nonce: hex(sealed.ciphertext.slice(0, 24)),
      aeadAssociatedData: hex(concatBytes(session.ad, extraAd, sealed.header)),
      header: toBase64url(sealed.header),
      ciphertext: toBase64url(sealed.ciphertext),
    },
  };
}
