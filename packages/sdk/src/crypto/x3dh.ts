import { ed25519 } from '@noble/curves/ed25519.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { asObject, equalBytes, readBytes, readU32, toBase64url } from './encoding.js';
import { CryptoError } from './errors.js';
import { LATEST_VERSION, type E2EVersion, type MessageHeader, type X3dhInit } from './header.js';
import { KEM_PUBLIC_KEY_BYTES, kemDecapsulate, kemEncapsulate, verifyKemPrekey, type KemPrekey } from './kem.js';
import {
  defaultRng,
  dh,
  generateKeyPair,
  identityDhKeyOf,
  signedPrekeyMessage,
  x25519FromSecret,
  type IdentityKeyPair,
  type OneTimePrekey,
  type Rng,
  type SignedPrekey,
} from './keys.js';
import { initiatorSession, responderSession, type Session } from './ratchet.js';

const X3DH_INFO = utf8ToBytes('OmeChat/e2e/v1/x3dh');
/** PQXDH §2.1 asks the info string to name the application and the primitives. */
const PQXDH_INFO = utf8ToBytes('OmeChat/e2e/v2/pqxdh/X25519/SHA-256/ML-KEM-768');
/** X3DH §2.2: 32 0xFF bytes in front of the DH outputs keep them apart from Ed25519 uses of the key. */
const X3DH_PREFIX = new Uint8Array(32).fill(0xff);

/** A device's public prekeys as fetched from the server; every byte string is base64url. */
export interface PrekeyBundle {
  identitySigningPub: string;
  identityDhPub: string;
  signedPrekey: { id: number; pub: string; signature: string };
  oneTimePrekey?: { id: number; pub: string } | undefined;
  /** E2E v2: the device's one-time ML-KEM-768 prekey, or its last-resort one when none is left. */
  kemPrekey?: { id: number; pub: string; signature: string } | undefined;
}

export function toBundle(
  identity: IdentityKeyPair,
  signedPrekey: SignedPrekey,
  oneTimePrekey?: OneTimePrekey,
  kemPrekey?: KemPrekey,
): PrekeyBundle {
  return {
    identitySigningPub: toBase64url(identity.signing.publicKey),
    identityDhPub: toBase64url(identity.dh.publicKey),
    signedPrekey: {
      id: signedPrekey.id,
      pub: toBase64url(signedPrekey.keyPair.publicKey),
      signature: toBase64url(signedPrekey.signature),
    },
    oneTimePrekey: oneTimePrekey && { id: oneTimePrekey.id, pub: toBase64url(oneTimePrekey.keyPair.publicKey) },
    ...(kemPrekey && {
      kemPrekey: { id: kemPrekey.id, pub: toBase64url(kemPrekey.publicKey), signature: toBase64url(kemPrekey.signature) },
    }),
  };
}

/**
 * v1: X3DH §2.2. v2: PQXDH §3.3, the KEM shared secret after the DH outputs, so the result
 * is as strong as X25519 even if ML-KEM (or its young implementation) is broken.
 */
export function x3dhSecret(dhOutputs: readonly Uint8Array[], kemSecret?: Uint8Array): Uint8Array {
  const ikm = concatBytes(X3DH_PREFIX, ...dhOutputs, ...(kemSecret ? [kemSecret] : []));
  return hkdf(sha256, ikm, new Uint8Array(32), kemSecret ? PQXDH_INFO : X3DH_INFO, 32);
}

/** Initiator's identity key first, so both sides build the same bytes. */
function associatedData(initiatorIdentity: Uint8Array, responderIdentity: Uint8Array): Uint8Array {
  return concatBytes(initiatorIdentity, responderIdentity);
}

/**
 * Starts a session with a device we have never talked to, from its bundle. The bundle comes
 * through the server, so nothing in it is trusted until the signatures check out. A bundle
 * with a KEM prekey gives a v2 (PQXDH) session, one without gives v1; `maxVersion` 1 makes
 * this engine behave exactly like a v1 one.
 */
export function initiateSession(
  ours: IdentityKeyPair,
  theirs: PrekeyBundle,
  rng: Rng = defaultRng,
  maxVersion: E2EVersion = LATEST_VERSION,
): { session: Session; init: X3dhInit } {
  const b = asObject(theirs, 'bundle');
  const identity = readBytes(b, 'identitySigningPub', 32);
  const identityDh = readBytes(b, 'identityDhPub', 32);
  const spk = asObject(b.signedPrekey, 'signedPrekey');
  const spkId = readU32(spk, 'id');
  const spkPub = readBytes(spk, 'pub', 32);
  const signature = readBytes(spk, 'signature', 64);
  const opk = b.oneTimePrekey == null ? undefined : asObject(b.oneTimePrekey, 'oneTimePrekey');
  const opkId = opk && readU32(opk, 'id');
  const opkPub = opk && readBytes(opk, 'pub', 32);
  const kem = maxVersion === 2 && b.kemPrekey != null ? asObject(b.kemPrekey, 'kemPrekey') : undefined;
  const kemId = kem && readU32(kem, 'id');
  const kemPub = kem && readBytes(kem, 'pub', KEM_PUBLIC_KEY_BYTES);
  const kemSignature = kem && readBytes(kem, 'signature', 64);

  if (!equalBytes(identityDhKeyOf(identity), identityDh)) {
    throw new CryptoError('BAD_SIGNATURE', 'identity DH key does not belong to the identity key');
  }
  let valid = false;
  try {
    valid = ed25519.verify(signature, signedPrekeyMessage(spkId, spkPub), identity);
  } catch {
    // A malformed key or signature is as untrustworthy as a wrong one.
  }
  if (!valid) throw new CryptoError('BAD_SIGNATURE', 'signed prekey signature does not verify');
  // PQXDH §3.3: the KEM prekey's signature is checked before anything is encapsulated to it.
  if (kemPub && !verifyKemPrekey(identity, kemId!, kemPub, kemSignature!)) {
    throw new CryptoError('BAD_SIGNATURE', 'KEM prekey signature does not verify');
  }

  const ephemeral = generateKeyPair(rng);
  const dhs = [dh(ours.dh.secretKey, spkPub), dh(ephemeral.secretKey, identityDh), dh(ephemeral.secretKey, spkPub)];
  if (opkPub) dhs.push(dh(ephemeral.secretKey, opkPub));
  const encapsulated = kemPub && kemEncapsulate(kemPub, rng);
  const init: X3dhInit = {
    identitySigningPub: ours.signing.publicKey,
    ephemeralPub: ephemeral.publicKey,
    signedPrekeyId: spkId,
    oneTimePrekeyId: opkId,
    kem: encapsulated && { prekeyId: kemId!, ciphertext: encapsulated.ciphertext },
  };
  const session = initiatorSession(
    {
      version: encapsulated ? 2 : 1,
      advertisedVersion: maxVersion,
      sharedSecret: x3dhSecret(dhs, encapsulated?.sharedSecret),
      ad: associatedData(ours.signing.publicKey, identity),
      remoteIdentity: identity,
      theirSignedPrekey: spkPub,
      init,
    },
    rng,
  );
  return { session, init };
}

/**
 * The responder's half of X3DH, run on the first message's header. The session is only
 * worth keeping (and the one-time prekey only worth deleting) once that message decrypts.
 */
export function acceptSession(
  ours: IdentityKeyPair,
  ourSignedPrekeySecret: Uint8Array,
  ourOneTimePrekeySecret: Uint8Array | undefined,
  firstHeader: MessageHeader,
  ourKemPrekeySeed?: Uint8Array,
): Session {
  const init = firstHeader.init;
  if (!init) throw new CryptoError('MALFORMED', 'header carries no X3DH data');
  if ((init.oneTimePrekeyId === undefined) !== (ourOneTimePrekeySecret === undefined)) {
    throw new CryptoError('UNKNOWN_PREKEY', 'one-time prekey mismatch');
  }
  const theirDh = identityDhKeyOf(init.identitySigningPub);
  const signedPrekey = x25519FromSecret(ourSignedPrekeySecret);
  const dhs = [
    dh(signedPrekey.secretKey, theirDh),
    dh(ours.dh.secretKey, init.ephemeralPub),
    dh(signedPrekey.secretKey, init.ephemeralPub),
  ];
  if (ourOneTimePrekeySecret) dhs.push(dh(ourOneTimePrekeySecret, init.ephemeralPub));
  if ((init.kem === undefined) !== (ourKemPrekeySeed === undefined)) {
    throw new CryptoError('UNKNOWN_PREKEY', 'KEM prekey mismatch');
  }
  const kemSecret = init.kem && ourKemPrekeySeed && kemDecapsulate(ourKemPrekeySeed, init.kem.ciphertext);
  return responderSession({
    version: firstHeader.version,
    sharedSecret: x3dhSecret(dhs, kemSecret),
    ad: associatedData(init.identitySigningPub, ours.signing.publicKey),
    remoteIdentity: init.identitySigningPub,
    ourSignedPrekey: signedPrekey,
    handshake: init.ephemeralPub,
  });
}
