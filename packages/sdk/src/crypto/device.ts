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
import { decodeHeader, LATEST_VERSION, type E2EVersion, type MessageHeader, type X3dhInit } from './header.js';
import { generateKemPrekey, kemPublicKey, type KemPrekey } from './kem.js';
import { MAX_SEALED_BYTES } from './padding.js';
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

/** Largest plaintext that fits one envelope part, in either version (v2 padding adds at least 1 byte). */
export const MAX_PLAINTEXT_BYTES = MAX_SEALED_BYTES - 1;
/**
 * Sessions kept per peer device. More than one exists when both devices initiated at once or
 * a peer re-initiated; the one that last decrypted is used for sending, and both sides
 * converge on the same one as soon as a message gets through.
 */
const SESSIONS_PER_PEER = 4;
/** Older signed prekeys stay usable for a while: a peer may hold a bundle fetched before a rotation. */
const SIGNED_PREKEYS_KEPT = 3;
/** v1 states (no KEM keys, no pins) are still read, and upgraded on import. */
const STATE_VERSION = 2;

/** The device keeps seeds only: a KEM public key is 1,184 bytes and is rebuilt when needed. */
type StoredKemPrekey = Omit<KemPrekey, 'publicKey'>;
type PublicKemPrekey = NonNullable<PrekeyBundle['kemPrekey']>;

/** A peer device's identity key differs from the one pinned at first contact. */
export interface IdentityChange {
  readonly peer: DeviceAddress;
  /** base64url Ed25519 keys */
  readonly previous: string;
  readonly current: string;
}

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
  /** v2 devices only: the signed ML-KEM-768 prekey handed out when no one-time one is left. */
  lastResortKemPrekey?: PublicKemPrekey;
}

export interface E2EDeviceOptions {
  rng?: Rng;
  /** 1 makes a device that behaves exactly like a v1 engine (no KEM keys, plain v1 handshakes): for tests of mixed versions. */
  maxVersion?: E2EVersion;
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
    readonly maxVersion: E2EVersion,
    private readonly kemPrekeys: Map<number, StoredKemPrekey>,
    private nextKemPrekeyId: number,
    /** Trust on first use: the identity key each peer device showed first, by peerKey. */
    private readonly pins: Map<string, string>,
  ) {}

  /** Changes seen since the last call (the SDK turns each into an event). */
  #identityChanges: IdentityChange[] = [];

  static create(address: DeviceAddress, options: E2EDeviceOptions = {}): E2EDevice {
    const rng = options.rng ?? defaultRng;
    const identity = generateIdentity(rng);
    const signedPrekey = generateSignedPrekey(identity, 1, rng);
    const maxVersion = options.maxVersion ?? LATEST_VERSION;
    const device = new E2EDevice(address, identity, [signedPrekey], new Map(), 1, new Map(), rng, maxVersion, new Map(), 1, new Map());
    if (maxVersion === 2) device.#addLastResortKemPrekey();
    return device;
  }

  /** Our Ed25519 identity key (base64url): what `safetyCode` and peers' `peerIdentity` show. */
  get identityPub(): string {
    return toBase64url(this.identity.signing.publicKey);
  }

  publicKeys(): DevicePublicKeys {
    const { identitySigningPub, identityDhPub, signedPrekey } = this.bundle();
    const lastResort = this.#lastResortKemPrekey();
    return {
      identity: { signingPub: identitySigningPub, dhPub: identityDhPub },
      signedPrekey,
      ...(lastResort && { lastResortKemPrekey: this.#publicKem(lastResort) }),
    };
  }

  /**
   * The bundle the server would hand out, optionally with one of our one-time prekeys and a
   * given KEM prekey (by default the last-resort one, as the server gives when it has run out).
   */
  bundle(oneTimePrekeyId?: number, kemPrekeyId?: number): PrekeyBundle {
    const oneTime = oneTimePrekeyId === undefined ? undefined : this.oneTimePrekeys.get(oneTimePrekeyId);
    if (oneTimePrekeyId !== undefined && !oneTime) throw new CryptoError('UNKNOWN_PREKEY');
    const kem = kemPrekeyId === undefined ? this.#lastResortKemPrekey() : this.kemPrekeys.get(kemPrekeyId);
    if (kemPrekeyId !== undefined && !kem) throw new CryptoError('UNKNOWN_PREKEY');
    const bundle = toBundle(this.identity, this.currentSignedPrekey(), oneTime);
    return kem ? { ...bundle, kemPrekey: this.#publicKem(kem) } : bundle;
  }

  /** Signed one-time ML-KEM-768 prekeys (PQXDH §3.2); none on a v1 device. */
  generateOneTimeKemPrekeys(count: number): PublicKemPrekey[] {
    if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer');
    if (this.maxVersion < 2) return [];
    return Array.from({ length: count }, () => {
      const prekey = generateKemPrekey(this.identity, this.nextKemPrekeyId++, false, this.rng);
      this.kemPrekeys.set(prekey.id, prekey);
      return this.#publicKem(prekey, prekey.publicKey);
    });
  }

  /** Ids of the one-time KEM prekeys whose private halves we still hold. */
  oneTimeKemPrekeyIds(): number[] {
    return [...this.kemPrekeys.values()].filter((k) => !k.lastResort).map((k) => k.id);
  }

  /** The E2E version of our current session with a peer device (undefined: no session yet). */
  sessionVersion(peer: DeviceAddress): E2EVersion | undefined {
    return this.sessions.get(peerKey(peer))?.[0]?.version;
  }

  /**
   * Trust on first use: records a peer device's identity key the first time it is seen, and
   * reports (see `takeIdentityChanges`) when a later one differs. The new key is pinned then,
   * so one swap gives one warning.
   */
  pinIdentity(peer: DeviceAddress, identityPub: string): 'first' | 'same' | 'changed' {
    const previous = this.pins.get(peerKey(peer));
    this.pins.set(peerKey(peer), identityPub);
    if (previous === undefined) return 'first';
    if (previous === identityPub) return 'same';
    this.#identityChanges.push({ peer: { userHash: peer.userHash, clientHash: peer.clientHash }, previous, current: identityPub });
    return 'changed';
  }

  takeIdentityChanges(): IdentityChange[] {
    const changes = this.#identityChanges;
    this.#identityChanges = [];
    return changes;
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
      if (!existing[0]) this.pinIdentity(device, toBase64url(session.remoteIdentity));
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
        if (index < 0 && init) {
          if (init.oneTimePrekeyId !== undefined) this.consumeOneTimePrekey(init.oneTimePrekeyId);
          // PQXDH §3.4: a one-time KEM prekey is deleted once used; the last-resort one stays.
          const kem = init.kem && this.kemPrekeys.get(init.kem.prekeyId);
          if (kem && !kem.lastResort) this.kemPrekeys.delete(kem.id);
          this.pinIdentity(from, toBase64url(opened.session.remoteIdentity));
        }
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
      maxVersion: this.maxVersion,
      kemPrekeys: [...this.kemPrekeys.values()].map((k) => ({
        id: k.id,
        seed: toBase64url(k.seed),
        signature: toBase64url(k.signature),
        lastResort: k.lastResort,
      })),
      nextKemPrekeyId: this.nextKemPrekeyId,
      pins: Object.fromEntries(this.pins),
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
    if (o.v !== 1 && o.v !== STATE_VERSION) throw new CryptoError('MALFORMED', 'unknown state version');
    const upgrading = o.v === 1;
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
    const maxVersion = upgrading ? (options.maxVersion ?? LATEST_VERSION) : o.maxVersion;
    if (maxVersion !== 1 && maxVersion !== 2) throw new CryptoError('MALFORMED', 'unknown maxVersion');
    const kemPrekeys = upgrading
      ? []
      : asArray(o.kemPrekeys, 'kemPrekeys').map((value) => {
          const k = asObject(value, 'KEM prekey');
          if (typeof k.lastResort !== 'boolean') throw new CryptoError('MALFORMED', 'lastResort is not a boolean');
          const id = readU32(k, 'id');
          const prekey = { id, seed: readBytes(k, 'seed', 64), signature: readBytes(k, 'signature', 64), lastResort: k.lastResort };
          return [id, prekey] as const;
        });
    const pins = upgrading ? [] : Object.entries(asObject(o.pins, 'pins')).map(([key, pub]) => [key, readString({ pub }, 'pub')] as const);
    const device = new E2EDevice(
      { userHash: readString(o, 'userHash'), clientHash: readString(o, 'clientHash') },
      identityFromSecret(readBytes(o, 'identitySecret', 32)),
      signedPrekeys,
      new Map(oneTimePrekeys),
      readU32(o, 'nextOneTimePrekeyId'),
      new Map(sessions),
      options.rng ?? defaultRng,
      maxVersion,
      new Map(kemPrekeys),
      upgrading ? 1 : readU32(o, 'nextKemPrekeyId'),
      new Map(pins),
    );
    // A v1 device becomes v2 on import: it gets a last-resort KEM prekey (published with its
    // next upload), and the peers of its existing sessions are pinned as they are now.
    if (upgrading) {
      if (maxVersion === 2) device.#addLastResortKemPrekey();
      for (const [key, list] of device.sessions) {
        const remote = list[0]?.remoteIdentity;
        if (remote) device.pins.set(key, toBase64url(remote));
      }
    }
    return device;
  }

  #addLastResortKemPrekey(): void {
    const prekey = generateKemPrekey(this.identity, this.nextKemPrekeyId++, true, this.rng);
    this.kemPrekeys.set(prekey.id, prekey);
  }

  #lastResortKemPrekey(): StoredKemPrekey | undefined {
    return [...this.kemPrekeys.values()].find((k) => k.lastResort);
  }

  #publicKem(k: StoredKemPrekey, publicKey = kemPublicKey(k.seed)): PublicKemPrekey {
    return { id: k.id, pub: toBase64url(publicKey), signature: toBase64url(k.signature) };
  }

  private currentSignedPrekey(): SignedPrekey {
    const current = this.signedPrekeys[0];
    if (!current) throw new CryptoError('MALFORMED', 'no signed prekey');
    return current;
  }

  private startSession(device: RecipientDevice): Session {
    if (!device.bundle) throw new CryptoError('NO_SESSION', `no session with ${device.clientHash} and no bundle`);
    return initiateSession(this.identity, device.bundle, this.rng, this.maxVersion).session;
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
    // The initiator said (in the pn of its v1 header) that it speaks v2, yet it got no KEM key
    // from us although we publish one: the server stripped it. Refused, so it cannot go unseen.
    if (header.version === 1 && header.previousChainLength >= 2 && this.#lastResortKemPrekey()) {
      throw new CryptoError('DOWNGRADE', 'a v2-capable peer was handed a bundle without our KEM prekey');
    }
    const signedPrekey = this.signedPrekeys.find((k) => k.id === init.signedPrekeyId);
    const oneTime = init.oneTimePrekeyId === undefined ? undefined : this.oneTimePrekeys.get(init.oneTimePrekeyId);
    const kem = init.kem && this.kemPrekeys.get(init.kem.prekeyId);
    if (!signedPrekey || (init.oneTimePrekeyId !== undefined && !oneTime) || (init.kem && !kem)) {
      throw new CryptoError('UNKNOWN_PREKEY');
    }
    const session = acceptSession(this.identity, signedPrekey.keyPair.secretKey, oneTime?.keyPair.secretKey, header, kem?.seed);
    return [{ session, index: -1 }];
  }
}
