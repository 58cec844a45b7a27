import { LIMITS } from '@omechat/protocol';
import { concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import {
  asArray,
  asObject,
  equalBytes,
  fromBase64url,
  readBytes,
  readString,
  readU32,
  toBase64url,
} from './encoding.js';
import { CryptoError } from './errors.js';
import { decodeHeader, type MessageHeader, type X3dhInit } from './header.js';
import {
  defaultRng,
  generateIdentity,
  generateOneTimePrekey,
  generateSignedPrekey,
  identityFromSecret,
  x25519FromSecret,
  type IdentityKeyPair,
  type OneTimePrekey,
  type Rng,
  type SignedPrekey,
} from './keys.js';
import { ratchetDecrypt, ratchetEncrypt, sessionFromJson, sessionToJson, type Session } from './ratchet.js';
import { acceptSession, initiateSession, toBundle, type PrekeyBundle } from './x3dh.js';

/** Largest plaintext whose sealed form (nonce + ciphertext + tag) fits one envelope part. */
export const MAX_PLAINTEXT_BYTES = Math.floor((LIMITS.maxCiphertextChars * 6) / 8) - 24 - 16;
/**
 * Sessions kept per peer device. More than one exists when both devices initiated at once or
 * a peer re-initiated; the one that last decrypted is used for sending, and both sides
 * converge on the same one as soon as a message gets through.
 */
const SESSIONS_PER_PEER = 4;
/** Older signed prekeys stay usable for a while: a peer may hold a bundle fetched before a rotation. */
const SIGNED_PREKEYS_KEPT = 3;
const STATE_VERSION = 1;

export interface DeviceAddress {
  readonly userHash: string;
  readonly clientHash: string;
}

/** A device to encrypt for; `bundle` is needed only when no session exists yet. */
export interface RecipientDevice extends DeviceAddress {
  readonly bundle?: PrekeyBundle | undefined;
}

/** One device's share of an envelope (matches `envelopePartSchema` in @omechat/protocol). */
export interface EncryptedPart {
  to: string;
  header: string;
  ciphertext: string;
}

/**
 * The fixed part of a key upload (`keysUploadInput` in @omechat/protocol); the one-time
 * prekeys to go with it come from `generateOneTimePrekeys`.
 */
export interface DevicePublicKeys {
  identity: { signingPub: string; dhPub: string };
  signedPrekey: PrekeyBundle['signedPrekey'];
}

export interface E2EDeviceOptions {
  rng?: Rng;
}

const peerKey = (peer: DeviceAddress) => `${peer.userHash}/${peer.clientHash}`;

/** Binds a part to its sender and recipient device, so a misrouted part fails to open. */
export function addressAd(senderClientHash: string, recipientClientHash: string): Uint8Array {
  const field = (id: string) => {
    const bytes = utf8ToBytes(id);
    if (bytes.length > 255) throw new CryptoError('MALFORMED', 'client hash too long');
    return concatBytes(Uint8Array.of(bytes.length), bytes);
  };
  return concatBytes(field(senderClientHash), field(recipientClientHash));
}

/**
 * The E2E state of one device: its identity, prekeys and a session per peer device. The SDK
 * persists `exportState()` after every call that changes it (encryptFor, decrypt, key
 * generation): a ratchet that goes back in time can no longer decrypt.
 */
export class E2EDevice {
  private constructor(
    readonly address: DeviceAddress,
    private readonly identity: IdentityKeyPair,
    private signedPrekeys: readonly SignedPrekey[],
    private readonly oneTimePrekeys: Map<number, OneTimePrekey>,
    private nextOneTimePrekeyId: number,
    private readonly sessions: Map<string, readonly Session[]>,
    private readonly rng: Rng,
  ) {}

  static create(address: DeviceAddress, options: E2EDeviceOptions = {}): E2EDevice {
    const rng = options.rng ?? defaultRng;
    const identity = generateIdentity(rng);
    const signedPrekey = generateSignedPrekey(identity, 1, rng);
    return new E2EDevice(address, identity, [signedPrekey], new Map(), 1, new Map(), rng);
  }

  /** Our Ed25519 identity key (base64url): what `safetyCode` and peers' `peerIdentity` show. */
  get identityPub(): string {
    return toBase64url(this.identity.signing.publicKey);
  }

  publicKeys(): DevicePublicKeys {
    const { identitySigningPub, identityDhPub, signedPrekey } = this.bundle();
    return { identity: { signingPub: identitySigningPub, dhPub: identityDhPub }, signedPrekey };
  }

  /** The bundle the server would hand out, optionally with one of our one-time prekeys. */
  bundle(oneTimePrekeyId?: number): PrekeyBundle {
    const oneTime = oneTimePrekeyId === undefined ? undefined : this.oneTimePrekeys.get(oneTimePrekeyId);
    if (oneTimePrekeyId !== undefined && !oneTime) throw new CryptoError('UNKNOWN_PREKEY');
    return toBundle(this.identity, this.currentSignedPrekey(), oneTime);
  }

  generateOneTimePrekeys(count: number): { id: number; pub: string }[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer');
    return Array.from({ length: count }, () => {
      const prekey = generateOneTimePrekey(this.nextOneTimePrekeyId++, this.rng);
      this.oneTimePrekeys.set(prekey.id, prekey);
      return { id: prekey.id, pub: toBase64url(prekey.keyPair.publicKey) };
    });
  }

  /** Ids of the one-time prekeys whose private halves we still hold. */
  oneTimePrekeyIds(): number[] {
    return [...this.oneTimePrekeys.keys()];
  }

  /** Forgets a one-time prekey's private half; `decrypt` does this when a session uses it. */
  consumeOneTimePrekey(id: number): boolean {
    return this.oneTimePrekeys.delete(id);
  }

  rotateSignedPrekey(): PrekeyBundle['signedPrekey'] {
    const next = generateSignedPrekey(this.identity, this.currentSignedPrekey().id + 1, this.rng);
    this.signedPrekeys = [next, ...this.signedPrekeys].slice(0, SIGNED_PREKEYS_KEPT);
    return this.bundle().signedPrekey;
  }

  /** The identity key of the peer device in our current session with it (base64url). */
  peerIdentity(peer: DeviceAddress): string | undefined {
    const session = this.sessions.get(peerKey(peer))?.[0];
    return session && toBase64url(session.remoteIdentity);
  }

  /**
   * Seals `plaintext` once per device. All or nothing: if any device fails (no session and
   * no bundle, bad bundle), no session advances.
   */
  encryptFor(devices: readonly RecipientDevice[], plaintext: Uint8Array): EncryptedPart[] {
    if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new CryptoError('TOO_LARGE');
    if (new Set(devices.map((d) => d.clientHash)).size !== devices.length) {
      throw new CryptoError('MALFORMED', 'each device may be addressed once');
    }
    const updates: [string, Session[]][] = [];
    const parts = devices.map((device) => {
      const existing = this.sessions.get(peerKey(device)) ?? [];
      const session = existing[0] ?? this.startSession(device);
      const ad = addressAd(this.address.clientHash, device.clientHash);
      const sealed = ratchetEncrypt(session, plaintext, ad, this.rng);
      updates.push([peerKey(device), [sealed.session, ...existing.slice(1)]]);
      return { to: device.clientHash, header: toBase64url(sealed.header), ciphertext: toBase64url(sealed.ciphertext) };
    });
    for (const [key, sessions] of updates) this.sessions.set(key, sessions);
    return parts;
  }

  /** Opens a part sent to this device by `from`. On any error our state is unchanged. */
  decrypt(from: DeviceAddress, part: Pick<EncryptedPart, 'header' | 'ciphertext'>): Uint8Array {
    const header = fromBase64url(part.header);
    const ciphertext = fromBase64url(part.ciphertext);
    const parsed = decodeHeader(header);
    const { init } = parsed;
    const key = peerKey(from);
    const existing = this.sessions.get(key) ?? [];
    const candidates = init
      ? this.handshakeCandidates(existing, parsed, init)
      : existing.map((session, index) => ({ session, index }));
    if (candidates.length === 0) throw new CryptoError('NO_SESSION');

    const extraAd = addressAd(from.clientHash, this.address.clientHash);
    let firstError: unknown;
    for (const { session, index } of candidates) {
      try {
        const opened = ratchetDecrypt(session, header, ciphertext, extraAd, this.rng);
        const others = existing.filter((_, i) => i !== index);
        this.sessions.set(key, [opened.session, ...others].slice(0, SESSIONS_PER_PEER));
        const oneTimeId = init?.oneTimePrekeyId;
        if (index < 0 && oneTimeId !== undefined) this.consumeOneTimePrekey(oneTimeId);
        return opened.plaintext;
      } catch (error) {
        // Only the session that owns the ratchet key can tell a replay, so that answer is final.
        if (!(error instanceof CryptoError) || error.code === 'REPLAY') throw error;
        firstError ??= error;
      }
    }
    throw firstError;
  }

  exportState(): string {
    return JSON.stringify({
      v: STATE_VERSION,
      userHash: this.address.userHash,
      clientHash: this.address.clientHash,
      identitySecret: toBase64url(this.identity.signing.secretKey),
      signedPrekeys: this.signedPrekeys.map((k) => ({
        id: k.id,
        secret: toBase64url(k.keyPair.secretKey),
        signature: toBase64url(k.signature),
      })),
      oneTimePrekeys: [...this.oneTimePrekeys.values()].map((k) => ({
        id: k.id,
        secret: toBase64url(k.keyPair.secretKey),
      })),
      nextOneTimePrekeyId: this.nextOneTimePrekeyId,
      sessions: Object.fromEntries([...this.sessions].map(([k, list]) => [k, list.map(sessionToJson)])),
    });
  }

  static importState(state: string, options: E2EDeviceOptions = {}): E2EDevice {
    let parsed: unknown;
    try {
      parsed = JSON.parse(state);
    } catch {
      throw new CryptoError('MALFORMED', 'state is not JSON');
    }
    const o = asObject(parsed);
    if (o.v !== STATE_VERSION) throw new CryptoError('MALFORMED', 'unknown state version');
    const signedPrekeys = asArray(o.signedPrekeys, 'signedPrekeys').map((value) => {
      const k = asObject(value, 'signed prekey');
      return {
        id: readU32(k, 'id'),
        keyPair: x25519FromSecret(readBytes(k, 'secret', 32)),
        signature: readBytes(k, 'signature', 64),
      };
    });
    if (signedPrekeys.length === 0) throw new CryptoError('MALFORMED', 'no signed prekey');
    const oneTimePrekeys = asArray(o.oneTimePrekeys, 'oneTimePrekeys').map((value) => {
      const k = asObject(value, 'one-time prekey');
      const id = readU32(k, 'id');
      return [id, { id, keyPair: x25519FromSecret(readBytes(k, 'secret', 32)) }] as const;
    });
    const sessions = Object.entries(asObject(o.sessions, 'sessions')).map(
      ([key, list]) => [key, asArray(list, 'sessions').map(sessionFromJson)] as const,
    );
    return new E2EDevice(
      { userHash: readString(o, 'userHash'), clientHash: readString(o, 'clientHash') },
      identityFromSecret(readBytes(o, 'identitySecret', 32)),
      signedPrekeys,
      new Map(oneTimePrekeys),
      readU32(o, 'nextOneTimePrekeyId'),
      new Map(sessions),
      options.rng ?? defaultRng,
    );
  }

  private currentSignedPrekey(): SignedPrekey {
    const current = this.signedPrekeys[0];
    if (!current) throw new CryptoError('MALFORMED', 'no signed prekey');
    return current;
  }

  private startSession(device: RecipientDevice): Session {
    if (!device.bundle) throw new CryptoError('NO_SESSION', `no session with ${device.clientHash} and no bundle`);
    return initiateSession(this.identity, device.bundle, this.rng).session;
  }

  /**
   * A header with X3DH data belongs to the session made from that handshake if we have it
   * (the initiator repeats the data until we answer); otherwise it starts a new session,
   * kept only if the message decrypts. Index -1 marks the new one.
   */
  private handshakeCandidates(
    existing: readonly Session[],
    header: MessageHeader,
    init: X3dhInit,
  ): { session: Session; index: number }[] {
    const index = existing.findIndex((s) => equalBytes(s.handshake, init.ephemeralPub));
    const known = existing[index];
    if (known) return [{ session: known, index }];
    const signedPrekey = this.signedPrekeys.find((k) => k.id === init.signedPrekeyId);
    const oneTime = init.oneTimePrekeyId === undefined ? undefined : this.oneTimePrekeys.get(init.oneTimePrekeyId);
    if (!signedPrekey || (init.oneTimePrekeyId !== undefined && !oneTime)) throw new CryptoError('UNKNOWN_PREKEY');
    const session = acceptSession(this.identity, signedPrekey.keyPair.secretKey, oneTime?.keyPair.secretKey, header);
    return [{ session, index: -1 }];
  }
}
