import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  asArray,
  asObject,
  equalBytes,
  fromBase64url,
  readBytes,
  readOptionalBytes,
  readString,
  readU32,
  toBase64url,
} from './encoding.js';
import { CryptoError } from './errors.js';
import {
  decodeHeader,
  decodeRatchetFields,
  encodeHeader,
  encodeRatchetFields,
  headerPrefix,
  type E2EVersion,
  type RatchetFields,
  type X3dhInit,
} from './header.js';
import { dh, generateKeyPair, x25519FromSecret, type KeyPair, type Rng } from './keys.js';
import { KEM_CIPHERTEXT_BYTES } from './kem.js';
import { MAX_SEALED_BYTES, pad, unpad } from './padding.js';

/** Most message keys one incoming message may make us derive and store (per chain). */
export const MAX_SKIP = 1000;
/** Most skipped message keys kept per session; the oldest are dropped first. */
export const MAX_SKIPPED_KEYS = 2000;
/**
 * Retired receiving chains remembered (v1: the peer's ratchet key; v2: the chain's header key),
 * so a replay from an old chain reports REPLAY and, in v2, skipped messages of it still open.
 */
const RETIRED_RATCHETS_KEPT = 32;
const HEADER_KEYS_INFO = utf8ToBytes('OmeChat/e2e/v2/header-keys');
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const ROOT_INFO = { 1: utf8ToBytes('OmeChat/e2e/v1/ratchet'), 2: utf8ToBytes('OmeChat/e2e/v2/ratchet') } as const;

/**
 * Double Ratchet state for one device pair. Immutable: every operation returns a new value,
 * so a failed decryption simply drops its working copy and the stored state is untouched.
 */
export interface Session {
  /** v1: X3DH, unpadded. v2: PQXDH, padded plaintext, its own KDF labels. Fixed for the session's life. */
  readonly version: E2EVersion;
  /** X3DH associated data: initiator's then responder's Ed25519 identity key (64 bytes). */
  readonly ad: Uint8Array;
  readonly remoteIdentity: Uint8Array;
  /** The X3DH ephemeral key: names the handshake both sides derived this session from. */
  readonly handshake: Uint8Array;
  readonly rootKey: Uint8Array;
  readonly ourRatchet: KeyPair;
  readonly theirRatchet: Uint8Array | undefined;
  readonly sendChain: Uint8Array | undefined;
  readonly sendN: number;
  readonly prevSendN: number;
  readonly recvChain: Uint8Array | undefined;
  readonly recvN: number;
  /** `${base64url(ratchetPub)}:${n}` -> message key, in insertion order. */
  readonly skipped: ReadonlyMap<string, Uint8Array>;
  readonly retiredRatchets: readonly string[];
  /** v2 only: the header keys of the Double Ratchet's header-encryption variant (HKs, HKr, NHKs, NHKr). */
  readonly headerKeys: HeaderKeys | undefined;
  /** Repeated in every header until the peer answers, so any of our first messages can start the session. */
  readonly pendingInit: X3dhInit | undefined;
}

export interface HeaderKeys {
  readonly send: Uint8Array | undefined;
  readonly recv: Uint8Array | undefined;
  readonly nextSend: Uint8Array;
  readonly nextRecv: Uint8Array;
}

/** v2 also derives the next header key from each root step (KDF_RK_HE in the Double Ratchet spec's header-encryption variant). */
export function kdfRoot(
  rootKey: Uint8Array,
  dhOutput: Uint8Array,
  version: E2EVersion = 1,
): { rootKey: Uint8Array; chainKey: Uint8Array; nextHeaderKey: Uint8Array | undefined } {
  const out = hkdf(sha256, dhOutput, rootKey, ROOT_INFO[version], version === 2 ? 96 : 64);
  return { rootKey: out.slice(0, 32), chainKey: out.slice(32, 64), nextHeaderKey: version === 2 ? out.slice(64) : undefined };
}

/**
 * The two header keys both sides start from (shared_hka and shared_nhkb in the spec's header-encryption variant):
 * the initiator's first sending header key, and the responder's first one.
 */
export function initialHeaderKeys(sharedSecret: Uint8Array): { initiator: Uint8Array; responder: Uint8Array } {
  const out = hkdf(sha256, sharedSecret, new Uint8Array(32), HEADER_KEYS_INFO, 64);
  return { initiator: out.slice(0, 32), responder: out.slice(32) };
}

/** Seals the ratchet fields (HENCRYPT): a header key serves a whole chain, so the nonce is random. */
function sealFields(headerKey: Uint8Array, fields: RatchetFields, ad: Uint8Array, rng: Rng): Uint8Array {
  const nonce = rng(NONCE_BYTES);
  return concatBytes(nonce, xchacha20poly1305(headerKey, nonce, ad).encrypt(encodeRatchetFields(fields)));
}

function openFields(headerKey: Uint8Array | undefined, sealed: Uint8Array, ad: Uint8Array): RatchetFields | undefined {
  if (!headerKey) return undefined;
  try {
    return decodeRatchetFields(xchacha20poly1305(headerKey, sealed.subarray(0, NONCE_BYTES), ad).decrypt(sealed.subarray(NONCE_BYTES)));
  } catch {
    return undefined; // another key's header: the caller tries the next one
  }
}

export function kdfChain(chainKey: Uint8Array): { chainKey: Uint8Array; messageKey: Uint8Array } {
  return { messageKey: hmac(sha256, chainKey, Uint8Array.of(1)), chainKey: hmac(sha256, chainKey, Uint8Array.of(2)) };
}

interface SessionStart {
  readonly version: E2EVersion;
  readonly sharedSecret: Uint8Array;
  readonly ad: Uint8Array;
  readonly remoteIdentity: Uint8Array;
}

export function initiatorSession(
  start: SessionStart & { theirSignedPrekey: Uint8Array; init: X3dhInit; advertisedVersion: E2EVersion },
  rng: Rng,
): Session {
  const ourRatchet = generateKeyPair(rng);
  const { rootKey, chainKey, nextHeaderKey } = kdfRoot(
    start.sharedSecret,
    dh(ourRatchet.secretKey, start.theirSignedPrekey),
    start.version,
  );
  const shared = start.version === 2 ? initialHeaderKeys(start.sharedSecret) : undefined;
  return {
    version: start.version,
    headerKeys: shared && { send: shared.initiator, recv: undefined, nextSend: nextHeaderKey!, nextRecv: shared.responder },
    ad: start.ad,
    remoteIdentity: start.remoteIdentity,
    handshake: start.init.ephemeralPub,
    rootKey,
    ourRatchet,
    theirRatchet: start.theirSignedPrekey,
    sendChain: chainKey,
    sendN: 0,
    // The downgrade signal (docs/e2e.md, Versioning): the first chain has no predecessor, so a
    // v1 header's pn is free there; a v2-capable initiator that fell back to v1 puts its
    // highest version in it. It is authenticated (the header is in the AEAD's AD) and v1
    // receivers ignore it, as they skip nothing before their first receiving chain.
    prevSendN: start.version === 1 && start.advertisedVersion > 1 ? start.advertisedVersion : 0,
    recvChain: undefined,
    recvN: 0,
    skipped: new Map(),
    retiredRatchets: [],
    pendingInit: start.init,
  };
}

/** The responder cannot send until the initiator's first message has ratcheted it forward. */
export function responderSession(start: SessionStart & { ourSignedPrekey: KeyPair; handshake: Uint8Array }): Session {
  const shared = start.version === 2 ? initialHeaderKeys(start.sharedSecret) : undefined;
  return {
    version: start.version,
    headerKeys: shared && { send: undefined, recv: undefined, nextSend: shared.responder, nextRecv: shared.initiator },
    ad: start.ad,
    remoteIdentity: start.remoteIdentity,
    handshake: start.handshake,
    rootKey: start.sharedSecret,
    ourRatchet: start.ourSignedPrekey,
    theirRatchet: undefined,
    sendChain: undefined,
    sendN: 0,
    prevSendN: 0,
    recvChain: undefined,
    recvN: 0,
    skipped: new Map(),
    retiredRatchets: [],
    pendingInit: undefined,
  };
}

/** `extraAd` binds the message to context outside the session (the device addresses). */
export function ratchetEncrypt(
  session: Session,
  plaintext: Uint8Array,
  extraAd: Uint8Array,
  rng: Rng,
): { session: Session; header: Uint8Array; ciphertext: Uint8Array } {
  if (!session.sendChain) throw new CryptoError('NO_SESSION', 'session cannot send before the peer has written');
  const { chainKey, messageKey } = kdfChain(session.sendChain);
  const fields = { ratchetPub: session.ourRatchet.publicKey, previousChainLength: session.prevSendN, n: session.sendN };
  const init = session.pendingInit;
  let header: Uint8Array;
  if (session.version === 1) {
    header = encodeHeader({ version: 1, ...fields, init });
  } else {
    const headerKey = session.headerKeys?.send;
    if (!headerKey) throw new CryptoError('NO_SESSION', 'session cannot send before the peer has written');
    const sealedFields = sealFields(headerKey, fields, concatBytes(session.ad, headerPrefix(2, init)), rng);
    header = encodeHeader({ version: 2, sealed: sealedFields, init });
  }
  const nonce = rng(NONCE_BYTES);
  const body = session.version === 2 ? pad(plaintext, MAX_SEALED_BYTES) : plaintext;
  const sealed = xchacha20poly1305(messageKey, nonce, concatBytes(session.ad, extraAd, header)).encrypt(body);
  return {
    session: { ...session, sendChain: chainKey, sendN: session.sendN + 1 },
    header,
    ciphertext: concatBytes(nonce, sealed),
  };
}

export function ratchetDecrypt(
  session: Session,
  header: Uint8Array,
  ciphertext: Uint8Array,
  extraAd: Uint8Array,
  rng: Rng,
): { session: Session; plaintext: Uint8Array } {
  const h = decodeHeader(header);
  // Another session with this peer may speak the header's version; this one cannot open it.
  if (h.version !== session.version) throw new CryptoError('DECRYPT_FAILED', 'header version differs from the session');
  const ad = concatBytes(session.ad, extraAd, header);
  const open = (messageKey: Uint8Array) => {
    const opened = openMessage(messageKey, ciphertext, ad);
    return session.version === 2 ? unpad(opened) : opened;
  };
  const step = h.version === 1 ? clearStep(session, h) : sealedStep(session, h.sealed, concatBytes(session.ad, header.subarray(0, 2)));

  if (step.kind === 'skipped') {
    const plaintext = open(step.messageKey);
    const skipped = new Map(session.skipped);
    skipped.delete(step.id);
    return { session: { ...session, skipped, pendingInit: undefined }, plaintext };
  }
  const { fields } = step;
  let next = step.kind === 'current' ? session : dhRatchet(skipTo(session, fields.previousChainLength), fields.ratchetPub, rng);
  next = skipTo(next, fields.n);
  if (!next.recvChain) throw new CryptoError('DECRYPT_FAILED');
  const { chainKey, messageKey } = kdfChain(next.recvChain);
  const plaintext = open(messageKey);
  return { session: { ...next, recvChain: chainKey, recvN: next.recvN + 1, pendingInit: undefined }, plaintext };
}

/** Where a message belongs: a stored skipped key, the current receiving chain, or the next one (a DH step). */
type Step =
  | { kind: 'skipped'; id: string; messageKey: Uint8Array }
  | { kind: 'current' | 'next'; fields: RatchetFields };

function skippedOrReplay(session: Session, chain: string, fields: RatchetFields, current: boolean): Step | undefined {
  const id = `${chain}:${fields.n}`;
  const messageKey = session.skipped.get(id);
  if (messageKey) return { kind: 'skipped', id, messageKey };
  if (!current || fields.n < session.recvN) throw new CryptoError('REPLAY', 'message key already used');
  return undefined;
}

/** v1: the ratchet key in the clear names the chain. */
function clearStep(session: Session, fields: RatchetFields): Step {
  const chain = toBase64url(fields.ratchetPub);
  const current = session.theirRatchet !== undefined && equalBytes(session.theirRatchet, fields.ratchetPub);
  if (current || session.retiredRatchets.includes(chain) || session.skipped.has(`${chain}:${fields.n}`)) {
    return skippedOrReplay(session, chain, fields, current) ?? { kind: 'current', fields };
  }
  return { kind: 'next', fields };
}

/**
 * v2: the header key that opens the sealed fields names the chain (the spec's DecryptHeader):
 * the current one, a retired one (skipped keys, or a replay), or the next one.
 */
function sealedStep(session: Session, sealed: Uint8Array, ad: Uint8Array): Step {
  const keys = session.headerKeys;
  if (!keys) throw new CryptoError('MALFORMED', 'v2 session without header keys');
  const current = openFields(keys.recv, sealed, ad);
  if (current) return skippedOrReplay(session, toBase64url(keys.recv!), current, true) ?? { kind: 'current', fields: current };
  for (const chain of [...session.retiredRatchets].reverse()) {
    const fields = openFields(fromBase64url(chain), sealed, ad);
    if (fields) return skippedOrReplay(session, chain, fields, false)!;
  }
  const next = openFields(keys.nextRecv, sealed, ad);
  if (next) return { kind: 'next', fields: next };
  throw new CryptoError('DECRYPT_FAILED', 'no header key opens this header');
}

function openMessage(messageKey: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array {
  if (ciphertext.length < NONCE_BYTES + TAG_BYTES) throw new CryptoError('MALFORMED', 'ciphertext too short');
  try {
    const nonce = ciphertext.subarray(0, NONCE_BYTES);
    return xchacha20poly1305(messageKey, nonce, ad).decrypt(ciphertext.subarray(NONCE_BYTES));
  } catch {
    throw new CryptoError('DECRYPT_FAILED');
  }
}

/** Derives and stores the keys of messages in the current receiving chain we have not seen yet. */
function skipTo(session: Session, until: number): Session {
  const ratchetId = chainId(session);
  if (!session.recvChain || !ratchetId || until <= session.recvN) return session;
  if (until - session.recvN > MAX_SKIP) throw new CryptoError('TOO_MANY_SKIPPED');
  const skipped = new Map(session.skipped);
  let chain = session.recvChain;
  for (let n = session.recvN; n < until; n++) {
    const step = kdfChain(chain);
    skipped.set(`${ratchetId}:${n}`, step.messageKey);
    chain = step.chainKey;
  }
  // Keys dropped here belong to the oldest gaps: messages most likely lost for good.
  for (const id of skipped.keys()) {
    if (skipped.size <= MAX_SKIPPED_KEYS) break;
    skipped.delete(id);
  }
  return { ...session, recvChain: chain, recvN: until, skipped };
}

/** The name of the current receiving chain: v1 the peer's ratchet key, v2 its header key. */
function chainId(session: Session): string | undefined {
  const id = session.version === 1 ? session.theirRatchet : session.headerKeys?.recv;
  return id && toBase64url(id);
}

function dhRatchet(session: Session, theirRatchet: Uint8Array, rng: Rng): Session {
  const receiving = kdfRoot(session.rootKey, dh(session.ourRatchet.secretKey, theirRatchet), session.version);
  const ourRatchet = generateKeyPair(rng);
  const sending = kdfRoot(receiving.rootKey, dh(ourRatchet.secretKey, theirRatchet), session.version);
  const retired = chainId(session);
  const retiredRatchets = retired ? [...session.retiredRatchets, retired].slice(-RETIRED_RATCHETS_KEPT) : session.retiredRatchets;
  const keys = session.headerKeys;
  // DHRatchetHE in the spec: the next header keys become current, and the root step gives new next ones.
  const headerKeys = keys && {
    send: keys.nextSend,
    recv: keys.nextRecv,
    nextRecv: receiving.nextHeaderKey!,
    nextSend: sending.nextHeaderKey!,
  };
  return {
    ...session,
    headerKeys,
    rootKey: sending.rootKey,
    ourRatchet,
    theirRatchet,
    sendChain: sending.chainKey,
    sendN: 0,
    prevSendN: session.sendN,
    recvChain: receiving.chainKey,
    recvN: 0,
    retiredRatchets,
  };
}

/** JSON form of a session: byte strings as base64url, absent values as null. */
export interface SessionJson {
  /** Absent in states saved by v1 engines. */
  version?: E2EVersion;
  ad: string;
  remoteIdentity: string;
  handshake: string;
  rootKey: string;
  ourRatchetSecret: string;
  theirRatchet: string | null;
  sendChain: string | null;
  sendN: number;
  prevSendN: number;
  recvChain: string | null;
  recvN: number;
  skipped: [string, string][];
  retiredRatchets: string[];
  /** v2 only */
  headerKeys?: { send: string | null; recv: string | null; nextSend: string; nextRecv: string } | null;
  pendingInit: {
    identitySigningPub: string;
    ephemeralPub: string;
    signedPrekeyId: number;
    oneTimePrekeyId: number | null;
    kem?: { prekeyId: number; ciphertext: string } | null;
  } | null;
}

const orNull = (bytes: Uint8Array | undefined) => (bytes ? toBase64url(bytes) : null);

export function sessionToJson(s: Session): SessionJson {
  const init = s.pendingInit;
  return {
    version: s.version,
    ad: toBase64url(s.ad),
    remoteIdentity: toBase64url(s.remoteIdentity),
    handshake: toBase64url(s.handshake),
    rootKey: toBase64url(s.rootKey),
    ourRatchetSecret: toBase64url(s.ourRatchet.secretKey),
    theirRatchet: orNull(s.theirRatchet),
    sendChain: orNull(s.sendChain),
    sendN: s.sendN,
    prevSendN: s.prevSendN,
    recvChain: orNull(s.recvChain),
    recvN: s.recvN,
    skipped: [...s.skipped].map(([id, key]) => [id, toBase64url(key)]),
    retiredRatchets: [...s.retiredRatchets],
    headerKeys: s.headerKeys
      ? {
          send: orNull(s.headerKeys.send),
          recv: orNull(s.headerKeys.recv),
          nextSend: toBase64url(s.headerKeys.nextSend),
          nextRecv: toBase64url(s.headerKeys.nextRecv),
        }
      : null,
    pendingInit: init
      ? {
          identitySigningPub: toBase64url(init.identitySigningPub),
          ephemeralPub: toBase64url(init.ephemeralPub),
          signedPrekeyId: init.signedPrekeyId,
          oneTimePrekeyId: init.oneTimePrekeyId ?? null,
          kem: init.kem ? { prekeyId: init.kem.prekeyId, ciphertext: toBase64url(init.kem.ciphertext) } : null,
        }
      : null,
  };
}

export function sessionFromJson(value: unknown): Session {
  const o = asObject(value, 'session');
  const init = o.pendingInit === null ? undefined : asObject(o.pendingInit, 'pendingInit');
  const version = o.version ?? 1;
  if (version !== 1 && version !== 2) throw new CryptoError('MALFORMED', 'unknown session version');
  const kem = init?.kem == null ? undefined : asObject(init.kem, 'kem');
  const hk = o.headerKeys == null ? undefined : asObject(o.headerKeys, 'headerKeys');
  if ((version === 2) !== (hk !== undefined)) throw new CryptoError('MALFORMED', 'header keys belong to v2 sessions');
  return {
    version,
    headerKeys: hk && {
      send: readOptionalBytes(hk, 'send', 32),
      recv: readOptionalBytes(hk, 'recv', 32),
      nextSend: readBytes(hk, 'nextSend', 32),
      nextRecv: readBytes(hk, 'nextRecv', 32),
    },
    ad: readBytes(o, 'ad', 64),
    remoteIdentity: readBytes(o, 'remoteIdentity', 32),
    handshake: readBytes(o, 'handshake', 32),
    rootKey: readBytes(o, 'rootKey', 32),
    ourRatchet: x25519FromSecret(readBytes(o, 'ourRatchetSecret', 32)),
    theirRatchet: readOptionalBytes(o, 'theirRatchet', 32),
    sendChain: readOptionalBytes(o, 'sendChain', 32),
    sendN: readU32(o, 'sendN'),
    prevSendN: readU32(o, 'prevSendN'),
    recvChain: readOptionalBytes(o, 'recvChain', 32),
    recvN: readU32(o, 'recvN'),
    skipped: new Map(
      asArray(o.skipped, 'skipped').map((entry) => {
        const [id, key] = asArray(entry, 'skipped entry');
        const pair = asObject({ id, key });
        return [readString(pair, 'id'), readBytes(pair, 'key', 32)] as const;
      }),
    ),
    retiredRatchets: asArray(o.retiredRatchets, 'retiredRatchets').map((id) => readString({ id }, 'id')),
    pendingInit: init && {
      identitySigningPub: readBytes(init, 'identitySigningPub', 32),
      ephemeralPub: readBytes(init, 'ephemeralPub', 32),
      signedPrekeyId: readU32(init, 'signedPrekeyId'),
      oneTimePrekeyId: init.oneTimePrekeyId === null ? undefined : readU32(init, 'oneTimePrekeyId'),
      kem: kem && { prekeyId: readU32(kem, 'prekeyId'), ciphertext: readBytes(kem, 'ciphertext', KEM_CIPHERTEXT_BYTES) },
    },
  };
}
