import { concatBytes } from '@noble/hashes/utils.js';
import { u32be } from './encoding.js';
import { CryptoError } from './errors.js';
import { KEM_CIPHERTEXT_BYTES } from './kem.js';

/** The E2E versions this engine speaks; a header's first byte says which one it is. */
export type E2EVersion = 1 | 2;
export const LATEST_VERSION: E2EVersion = 2;

const HAS_INIT = 1;
const HAS_ONE_TIME_PREKEY = 2;
const BASE_LENGTH = 42;
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

export interface MessageHeader {
  readonly version: E2EVersion;
  readonly ratchetPub: Uint8Array;
  /** Messages sent in the sender's previous sending chain (PN in the Double Ratchet spec). */
  readonly previousChainLength: number;
  readonly n: number;
  readonly init?: X3dhInit | undefined;
}

export function encodeHeader(h: MessageHeader): Uint8Array {
  if (h.init && (h.version === 2) !== (h.init.kem !== undefined)) {
    throw new CryptoError('MALFORMED', 'a v2 handshake carries KEM data and a v1 one does not');
  }
  const flags = (h.init ? HAS_INIT : 0) | (h.init?.oneTimePrekeyId !== undefined ? HAS_ONE_TIME_PREKEY : 0);
  const parts = [Uint8Array.of(h.version, flags), h.ratchetPub, u32be(h.previousChainLength), u32be(h.n)];
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
  const initLength = INIT_LENGTH[version];
  if (bytes.length !== BASE_LENGTH + (hasInit ? initLength : 0) + (hasOneTime ? 4 : 0)) {
    throw new CryptoError('MALFORMED', 'bad message header');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kemAt = BASE_LENGTH + 68;
  return {
    version,
    ratchetPub: bytes.slice(2, 34),
    previousChainLength: view.getUint32(34),
    n: view.getUint32(38),
    init: hasInit
      ? {
          identitySigningPub: bytes.slice(42, 74),
          ephemeralPub: bytes.slice(74, 106),
          signedPrekeyId: view.getUint32(106),
          oneTimePrekeyId: hasOneTime ? view.getUint32(BASE_LENGTH + initLength) : undefined,
          kem:
            version === 2
              ? { prekeyId: view.getUint32(kemAt), ciphertext: bytes.slice(kemAt + 4, kemAt + 4 + KEM_CIPHERTEXT_BYTES) }
              : undefined,
        }
      : undefined,
  };
}
