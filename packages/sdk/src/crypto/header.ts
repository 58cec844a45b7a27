import { concatBytes } from '@noble/hashes/utils.js';
import { u32be } from './encoding.js';
import { CryptoError } from './errors.js';

const HEADER_VERSION = 1;
const HAS_INIT = 1;
const HAS_ONE_TIME_PREKEY = 2;
const BASE_LENGTH = 42;
const INIT_LENGTH = 68;

/** What a responder needs to run its half of X3DH; sent until the peer's first reply. */
export interface X3dhInit {
  readonly identitySigningPub: Uint8Array;
  readonly ephemeralPub: Uint8Array;
  readonly signedPrekeyId: number;
  readonly oneTimePrekeyId?: number | undefined;
}

export interface MessageHeader {
  readonly ratchetPub: Uint8Array;
  /** Messages sent in the sender's previous sending chain (PN in the Double Ratchet spec). */
  readonly previousChainLength: number;
  readonly n: number;
  readonly init?: X3dhInit | undefined;
}

export function encodeHeader(h: MessageHeader): Uint8Array {
  const flags = (h.init ? HAS_INIT : 0) | (h.init?.oneTimePrekeyId !== undefined ? HAS_ONE_TIME_PREKEY : 0);
  const parts = [Uint8Array.of(HEADER_VERSION, flags), h.ratchetPub, u32be(h.previousChainLength), u32be(h.n)];
  if (h.init) {
    parts.push(h.init.identitySigningPub, h.init.ephemeralPub, u32be(h.init.signedPrekeyId));
    if (h.init.oneTimePrekeyId !== undefined) parts.push(u32be(h.init.oneTimePrekeyId));
  }
  return concatBytes(...parts);
}

export function decodeHeader(bytes: Uint8Array): MessageHeader {
  const flags = bytes[1] ?? 0;
  const hasInit = (flags & HAS_INIT) !== 0;
  const hasOneTime = (flags & HAS_ONE_TIME_PREKEY) !== 0;
  const length = BASE_LENGTH + (hasInit ? INIT_LENGTH : 0) + (hasOneTime ? 4 : 0);
  if (bytes[0] !== HEADER_VERSION || flags > 3 || (hasOneTime && !hasInit) || bytes.length !== length) {
    throw new CryptoError('MALFORMED', 'bad message header');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    ratchetPub: bytes.slice(2, 34),
    previousChainLength: view.getUint32(34),
    n: view.getUint32(38),
    init: hasInit
      ? {
          identitySigningPub: bytes.slice(42, 74),
          ephemeralPub: bytes.slice(74, 106),
          signedPrekeyId: view.getUint32(106),
          oneTimePrekeyId: hasOneTime ? view.getUint32(110) : undefined,
        }
      : undefined,
  };
}
