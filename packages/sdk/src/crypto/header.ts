import { concatBytes } from '@noble/hashes/utils.js';
import { u32be } from './encoding.js';
import { CryptoError } from './errors.js';
import { KEM_CIPHERTEXT_BYTES } from './kem.js';

/** The E2E versions this engine speaks; a header's first byte says which one it is. */
export type E2EVersion = 1 | 2;
export const LATEST_VERSION: E2EVersion = 2;

const HAS_INIT = 1;
const HAS_ONE_TIME_PREKEY = 2;
/** The ratchet fields: ratchet public key, pn, n. */
export const RATCHET_FIELDS_BYTES = 40;
/** v2 seals them: 24-byte nonce + 40 + 16-byte tag. */
export const SEALED_FIELDS_BYTES = 24 + RATCHET_FIELDS_BYTES + 16;
const BODY_LENGTH = { 1: RATCHET_FIELDS_BYTES, 2: SEALED_FIELDS_BYTES } as const;
/** IK_A, EK_A, signed prekey id; v2 adds the KEM prekey id and the KEM ciphertext. */
const INIT_LENGTH = { 1: 68, 2: 68 + 4 + KEM_CIPHERTEXT_BYTES } as const;

/** What a responder needs to run its half of X3DH / PQXDH; sent until the peer's first reply. */
export interface X3dhInit {
  readonly identitySigningPub: Uint8Array;
  readonly ephemeralPub: Uint8Array;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId?: number | undefined;
  /** v2 only (PQXDH §3.3): which KEM prekey was used, and the encapsulation to it. */
  readonly kem?: { readonly prekeyId: number; readonly ciphertext: Uint8Array } | undefined;
}

export interface RatchetFields {
  readonly ratchetPub: Uint8Array;
  /** Messages sent in the sender's previous sending chain (PN in the Double Ratchet spec). */
  readonly previousChainLength: number;
  readonly n: number;
}

/** v1 carries the ratchet fields in the clear; v2 seals them under the chain's header key. */
export type MessageHeader =
  | (RatchetFields & { readonly version: 1; readonly init?: X3dhInit | undefined })
  | { readonly version: 2; readonly sealed: Uint8Array; readonly init?: X3dhInit | undefined };

export function encodeRatchetFields(f: RatchetFields): Uint8Array {
  return concatBytes(f.ratchetPub, u32be(f.previousChainLength), u32be(f.n));
}

export function decodeRatchetFields(bytes: Uint8Array): RatchetFields {
  if (bytes.length !== RATCHET_FIELDS_BYTES) throw new CryptoError('MALFORMED', 'bad ratchet fields');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { ratchetPub: bytes.slice(0, 32), previousChainLength: view.getUint32(32), n: view.getUint32(36) };
}

/** Version and flags: the first two bytes, which v2 binds into the sealed fields. */
export function headerPrefix(version: E2EVersion, init: X3dhInit | undefined): Uint8Array {
  const flags = (init ? HAS_INIT : 0) | (init?.oneTimePrekeyId !== undefined ? HAS_ONE_TIME_PREKEY : 0);
  return Uint8Array.of(version, flags);
}

export function encodeHeader(h: MessageHeader): Uint8Array {
  if (h.init && (h.version === 2) !== (h.init.kem !== undefined)) {
    throw new CryptoError('MALFORMED', 'a v2 handshake carries KEM data and a v1 one does not');
  }
  const body = h.version === 1 ? encodeRatchetFields(h) : h.sealed;
  if (body.length !== BODY_LENGTH[h.version]) throw new CryptoError('MALFORMED', 'bad header body');
  const parts = [headerPrefix(h.version, h.init), body];
  if (h.init) {
    parts.push(h.init.identitySigningPub, h.init.ephemeralPub, u32be(h.init.signedPrekeyId));
    if (h.init.kem) parts.push(u32be(h.init.kem.prekeyId), h.init.kem.ciphertext);
    if (h.init.oneTimePrekeyId !== undefined) parts.push(u32be(h.init.oneTimePrekeyId));
  }
  return concatBytes(...parts);
}

export function decodeHeader(bytes: Uint8Array): MessageHeader {
  const version = bytes[0];
  const flags = bytes[1] ?? 0;
  const hasInit = (flags & HAS_INIT) !== 0;
  const hasOneTime = (flags & HAS_ONE_TIME_PREKEY) !== 0;
  if ((version !== 1 && version !== 2) || flags > 3 || (hasOneTime && !hasInit)) {
    throw new CryptoError('MALFORMED', 'bad message header');
  }
  const initAt = 2 + BODY_LENGTH[version];
  const initLength = INIT_LENGTH[version];
  if (bytes.length !== initAt + (hasInit ? initLength : 0) + (hasOneTime ? 4 : 0)) {
    throw new CryptoError('MALFORMED', 'bad message header');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kemAt = initAt + 68;
  const init: X3dhInit | undefined = hasInit
    ? {
        identitySigningPub: bytes.slice(initAt, initAt + 32),
        ephemeralPub: bytes.slice(initAt + 32, initAt + 64),
        signedPrekeyId: view.getUint32(initAt + 64),
        oneTimePrekeyId: hasOneTime ? view.getUint32(initAt + initLength) : undefined,
        kem:
          version === 2
            ? { prekeyId: view.getUint32(kemAt), ciphertext: bytes.slice(kemAt + 4, kemAt + 4 + KEM_CIPHERTEXT_BYTES) }
            : undefined,
      }
    : undefined;
  const body = bytes.slice(2, initAt);
  return version === 1 ? { version, ...decodeRatchetFields(body), init } : { version, sealed: body, init };
}
