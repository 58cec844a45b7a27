import { sha256 } from '@noble/hashes/sha2.js';
import type { ChatId, ClientHash, IdentityKeys, OmeEvent, SendOutput, UserHash } from '@omechat/protocol';
import { CryptoError, type CryptoErrorCode } from './crypto/errors.js';
import { E2EDevice, type DeviceAddress, type RecipientDevice } from './crypto/device.js';
import type { E2EVersion } from './crypto/header.js';
import type { KeyStore } from './crypto/key-store.js';
import { safetyCode } from './crypto/safety-code.js';
import { OmeChatError, toOmeChatError, type OmeChatErrorCode } from './errors.js';
import type { Rpc } from './caller.js';
import type { MessageStore } from './store/message-store.js';

/** A decrypted message, as the app sees it. */
export interface ChatMessage {
  chatId: ChatId;
  seq: number;
  messageId: string;
  from: UserHash;
  fromClientHash: ClientHash;
  sentAt: number;
  /** Sent by you (from this or another of your devices). */
  own: boolean;
  /** Sent from this very device. */
  fromThisDevice: boolean;
  text: string;
}

/** What `client.on` delivers: the protocol's events with messages decrypted. */
export type ClientEvent =
  | Exclude<OmeEvent, { type: 'message.new' | 'chat.ended' }>
  // ---- Events the SDK adds or extends (client-side facts); new SDK events go here. ----
  /**
   * The protocol's `chat.ended`, plus who ended it when `reason` is `left`: `you` when this
   * device called `chat.leave` (remembered in the `messageStore`), else `peer`; null for the
   * other reasons (a block, a ban, a deletion say what happened by themselves).
   */
  | (Extract<OmeEvent, { type: 'chat.ended' }> & { by: 'you' | 'peer' | null })
  | ({ type: 'message' } & ChatMessage)
  | {
      type: 'message.undecryptable';
      chatId: ChatId;
      seq: number;
      messageId: string;
      from: UserHash;
      fromClientHash: ClientHash;
      code: CryptoErrorCode;
    }
  /**
   * A device of a peer (or of yours) shows a different identity key than the one pinned when
   * this device first saw it (trust on first use). Show it beside the safety code: someone
   * reinstalled, or someone sits in the middle. The new key is pinned from now on.
   */
  | {
      type: 'peer.identityChanged';
      userHash: UserHash;
      clientHash: ClientHash;
      /** base64url Ed25519 identity keys: the pinned one and the one seen now */
      previousIdentity: string;
      identity: string;
    }
  /**
   * A chat's messages to or from this device of the peer (or of yours) use E2E v1: no
   * post-quantum key agreement and no length padding, because that device published no v2
   * keys. Raised once per device and chat; `chat.encryption` shows it too.
   */
  | { type: 'encryption.downgraded'; chatId: ChatId; userHash: UserHash; clientHash: ClientHash; version: E2EVersion }
  /** This device could not set up its keys (it retries on the next send or message). */
  | { type: 'encryption.failed'; code: OmeChatErrorCode; message: string };
// ---- end of SDK events ----

/** One-time prekeys uploaded at first, and the level below which the SDK tops them up. */
const PREKEY_BATCH = 50;
const PREKEY_LOW_WATER = 20;
/** The same for one-time KEM prekeys, fewer because each is 1.2 KB (PQXDH's last-resort key covers a run-out). */
const KEM_PREKEY_BATCH = 20;
const KEM_PREKEY_LOW_WATER = 8;
/** How long a user's device list is trusted before it is fetched again. */
const DEVICES_TTL_MS = 10_000;

interface Me {
  userHash: UserHash;
  clientHash: ClientHash;
}

type DeviceList = { clientHash: ClientHash; identity: IdentityKeys }[];

/** What a chat's encryption is, as far as this device has seen (see `chat.encryption`). */
export interface ChatEncryption {
  /** The lowest E2E version of the sessions used in this chat; null before any message. */
  version: E2EVersion | null;
  /** Some device of the chat speaks only v1: no post-quantum key agreement, no padding. */
  downgraded: boolean;
}

/**
 * End-to-end encryption behind plain text: keys are made and kept on this device, uploaded
 * as public halves only, and every message is sealed for each device of the peer and of
 * the sender's other devices (docs/e2e.md).
 */
export class SecureMessaging {
  #me: Me | null = null;
  #device: Promise<E2EDevice> | null = null;
  /** Device state changes one at a time: a ratchet step must never be lost or interleaved. */
  #lock: Promise<unknown> = Promise.resolve();
  #events: Promise<void> = Promise.resolve();
  readonly #peers = new Map<ChatId, UserHash>();
  readonly #devices = new Map<UserHash, { at: number; list: DeviceList }>();
  /** Per chat, the version of each device's session seen so far, by clientHash. */
  readonly #chatVersions = new Map<ChatId, Map<ClientHash, E2EVersion>>();
  #receivedSinceTopUp = 0;

  /**
   * @param rpc the client's fail-fast call path; `send` brings its own retrying one.
   */
  constructor(
    private readonly rpc: Rpc,
    private readonly keyStore: KeyStore,
    private readonly messages: MessageStore,
    private readonly emit: (event: ClientEvent) => void,
  ) {}

  /** Forgets the signed-in device (after sign-out or a credentials change). */
  reset(): void {
    this.#me = null;
    this.#device = null;
    this.#devices.clear();
    this.#chatVersions.clear();
  }

  /** The flag on a chat: its E2E version, and whether any device of it fell back to v1. */
  encryption(chatId: ChatId): ChatEncryption {
    const versions = [...(this.#chatVersions.get(chatId)?.values() ?? [])];
    if (versions.length === 0) return { version: null, downgraded: false };
    const version = Math.min(...versions) as E2EVersion;
    return { version, downgraded: version < 2 };
  }

  /** Starts key set-up in the background, reporting a failure as an `encryption.failed` event. */
  start(): void {
    this.ready().catch((err: unknown) => {
      const error = toOmeChatError(err);
      this.emit({ type: 'encryption.failed', code: error.code, message: error.message });
    });
  }

  /** Loads or creates this device's keys and makes sure the server has enough prekeys. */
  ready(rpc: Rpc = this.rpc): Promise<E2EDevice> {
    this.#device ??= this.#setUp(rpc).catch((err: unknown) => {
      this.#device = null; // try again on the next call
      throw toOmeChatError(err);
    });
    return this.#device;
  }

  /**
   * Seals `text` for every device of the peer and the sender's other devices, and stores it.
   * Every server call goes through `rpc`, which retries across dropped connections: the
   * text is sealed once and stored under one `clientMessageId`, so the peer gets it once.
   */
  async send(chatId: ChatId, text: string, clientMessageId: string, rpc: Rpc, deadline: number): Promise<SendOutput> {
    const device = await this.#readyFor(rpc);
    const me = this.#me!;
    const peer = await this.#peerOf(chatId, rpc);
    const [peerDevices, ownDevices] = await Promise.all([this.#peerDevices(peer, rpc, deadline), this.#devicesOf(me.userHash, rpc)]);
    const targets: RecipientDevice[] = [
      ...peerDevices.map((d) => ({ userHash: peer, clientHash: d.clientHash })),
      ...ownDevices.filter((d) => d.clientHash !== me.clientHash).map((d) => ({ userHash: me.userHash, clientHash: d.clientHash })),
    ];
    const withBundles = await this.#attachBundles(device, targets, rpc);
    const parts = await this.#exclusive(async () => {
      const sealed = device.encryptFor(withBundles, new TextEncoder().encode(text));
      await this.keyStore.save(device.exportState());
      return sealed;
    });
    this.#reportIdentityChanges(device);
    for (const target of withBundles) this.#noteVersion(device, chatId, target);
    const envelope = { v: 1 as const, parts: parts.map((p) => ({ ...p, to: p.to as ClientHash })) };
    // The same clientMessageId makes a retry safe: the server stores the message at most once.
    const ack = await rpc((t, o) => t.message.send.mutate({ chatId, envelope, clientMessageId }, o));
    // Kept for history; a full disk must not turn a delivered message into a failed send.
    await this.messages.put(chatId, ack.seq, text).catch(() => undefined);
    this.emit({ type: 'message', chatId, seq: ack.seq, messageId: ack.messageId, from: me.userHash, fromClientHash: me.clientHash, sentAt: ack.sentAt, own: true, fromThisDevice: true, text });
    return ack;
  }

  /**
   * Events arrive in order and are handled strictly one after another; the promise settles
   * once these are handled. One event's failure never holds up the next.
   */
  handle(events: OmeEvent[]): Promise<void> {
    this.#events = this.#events.then(async () => {
      for (const event of events) {
        try {
          await this.#handleOne(event);
        } catch {
          // #handleOne reports what it can as events; nothing else may stop the stream.
        }
      }
    });
    return this.#events;
  }

  /** Plaintext this device has seen for these messages of a chat (it cannot decrypt twice). */
  textsOf(chatId: string, seqs: readonly number[]): Promise<Map<number, string>> {
    return this.messages.get(chatId, seqs);
  }

  /** A key set-up that failed on the fail-fast path (e.g. while the server restarted) is begun again here. */
  async #readyFor(rpc: Rpc): Promise<E2EDevice> {
    try {
      return await this.ready(rpc);
    } catch {
      return this.ready(rpc);
    }
  }

  /**
   * A 60-digit code both people compare out of band. It covers every device key of both
   * users, so it changes when either adds a device or a key is swapped.
   */
  async safetyCode(chatId: ChatId): Promise<string> {
    await this.ready();
    const peer = await this.#peerOf(chatId, this.rpc);
    const fingerprint = (list: DeviceList) =>
      sha256(new TextEncoder().encode(list.map((d) => d.identity.signingPub).sort().join('.')));
    this.#devices.clear();
    const [mine, theirs] = await Promise.all([this.#devicesOf(this.#me!.userHash, this.rpc), this.#devicesOf(peer, this.rpc)]);
    return safetyCode(fingerprint(mine), fingerprint(theirs));
  }

  rememberPeer(chatId: ChatId, userHash: UserHash): void {
    this.#peers.set(chatId, userHash);
  }

  async #setUp(rpc: Rpc): Promise<E2EDevice> {
    const me = await rpc((t, o) => t.account.me.query(undefined, o));
    this.#me = { userHash: me.userHash, clientHash: me.clientHash };
    const saved = await this.keyStore.load();
    let device: E2EDevice | null = null;
    if (saved) {
      try {
        const loaded = E2EDevice.importState(saved);
        if (loaded.address.clientHash === me.clientHash) device = loaded;
      } catch {
        device = null; // unreadable state: this device starts over with new keys
      }
    }
    device ??= E2EDevice.create(this.#me);
    await this.#topUp(device, rpc, true);
    return device;
  }

  async #topUp(device: E2EDevice, rpc: Rpc, force = false): Promise<void> {
    const status = await rpc((t, o) => t.keys.status.query(undefined, o));
    const v2 = device.maxVersion >= 2;
    const kemLow = v2 && (!status.hasLastResortKemPrekey || status.oneTimeKemPrekeys < KEM_PREKEY_LOW_WATER);
    if (!force && status.hasIdentity && status.oneTimePrekeys >= PREKEY_LOW_WATER && !kemLow) return;
    const count = status.hasIdentity ? Math.max(0, PREKEY_BATCH - status.oneTimePrekeys) : PREKEY_BATCH;
    const kemCount = v2 ? Math.max(0, KEM_PREKEY_BATCH - (status.hasIdentity ? status.oneTimeKemPrekeys : 0)) : 0;
    if (status.hasIdentity && status.hasLastResortKemPrekey === v2 && count === 0 && kemCount === 0) return;
    const [oneTimePrekeys, oneTimeKemPrekeys] = await this.#exclusive(async () => {
      const fresh = [device.generateOneTimePrekeys(count), device.generateOneTimeKemPrekeys(kemCount)] as const;
      // Private halves are saved before the public halves are published.
      await this.keyStore.save(device.exportState());
      return fresh;
    });
    await rpc((t, o) => t.keys.upload.mutate({ ...device.publicKeys(), oneTimePrekeys, oneTimeKemPrekeys }, o));
  }

  #reportIdentityChanges(device: E2EDevice): void {
    for (const change of device.takeIdentityChanges()) {
      this.emit({
        type: 'peer.identityChanged',
        userHash: change.peer.userHash as UserHash,
        clientHash: change.peer.clientHash as ClientHash,
        previousIdentity: change.previous,
        identity: change.current,
      });
    }
  }

  /** Records the version of the session a message to or from `peer` used, and reports a v1 one once. */
  #noteVersion(device: E2EDevice, chatId: ChatId, peer: DeviceAddress): void {
    const version = device.sessionVersion(peer);
    if (version === undefined) return;
    const versions = this.#chatVersions.get(chatId) ?? new Map<ClientHash, E2EVersion>();
    this.#chatVersions.set(chatId, versions);
    const clientHash = peer.clientHash as ClientHash;
    const before = versions.get(clientHash);
    versions.set(clientHash, version);
    if (version < device.maxVersion && before !== version) {
      this.emit({ type: 'encryption.downgraded', chatId, userHash: peer.userHash as UserHash, clientHash, version });
    }
  }

  async #handleOne(event: OmeEvent): Promise<void> {
    if (event.type === 'match.found') this.#peers.set(event.chatId, event.peer.userHash);
    if (event.type !== 'message.new') return this.emit(await this.#withMarks(event));

    const m = event.message;
    const base = { chatId: m.chatId, seq: m.seq, messageId: m.messageId, from: m.senderUserHash, fromClientHash: m.senderClientHash };
    let device: E2EDevice;
    try {
      device = await this.ready();
    } catch {
      return this.emit({ type: 'message.undecryptable', ...base, code: 'NO_SESSION' });
    }
    const me = this.#me!;
    if (m.senderClientHash === me.clientHash) return; // emitted when it was sent
    const part = m.envelope.parts.find((p) => p.to === me.clientHash);
    if (!part) return; // sealed before this device existed: new devices get no past history
    try {
      const sender = { userHash: m.senderUserHash, clientHash: m.senderClientHash };
      const bytes = await this.#exclusive(async () => {
        const plain = device.decrypt(sender, part);
        await this.keyStore.save(device.exportState());
        return plain;
      });
      this.#reportIdentityChanges(device);
      this.#noteVersion(device, m.chatId, sender);
      const text = new TextDecoder().decode(bytes);
      await this.messages.put(m.chatId, m.seq, text).catch(() => undefined); // history only: never lose the live message
      this.emit({ type: 'message', ...base, sentAt: m.sentAt, own: m.senderUserHash === me.userHash, fromThisDevice: false, text });
    } catch (err) {
      const code: CryptoErrorCode = err instanceof CryptoError ? err.code : 'MALFORMED';
      this.emit({ type: 'message.undecryptable', ...base, code });
    }
    if (++this.#receivedSinceTopUp >= PREKEY_LOW_WATER / 2) {
      this.#receivedSinceTopUp = 0;
      await this.#topUp(device, this.rpc).catch(() => undefined); // retried after the next messages
    }
  }

  async #peerOf(chatId: ChatId, rpc: Rpc): Promise<UserHash> {
    const known = this.#peers.get(chatId);
    if (known) return known;
    for (const chat of await rpc((t, o) => t.chat.list.query(undefined, o))) this.#peers.set(chat.chatId, chat.peer.userHash);
    const peer = this.#peers.get(chatId);
    if (!peer) throw new OmeChatError('FORBIDDEN', 'Not a member of this chat');
    return peer;
  }

  async #devicesOf(userHash: UserHash, rpc: Rpc): Promise<DeviceList> {
    const cached = this.#devices.get(userHash);
    if (cached && Date.now() - cached.at < DEVICES_TTL_MS) return cached.list;
    const { devices } = await rpc((t, o) => t.keys.devices.query({ userHash }, o));
    const device = await this.ready(rpc);
    const me = this.#me?.clientHash;
    // Trust on first use: every device key the server lists is checked against its pin.
    const pinned = devices.filter(
      (d) => d.clientHash !== me && device.pinIdentity({ userHash, clientHash: d.clientHash }, d.identity.signingPub) !== 'same',
    );
    if (pinned.length > 0) await this.#exclusive(() => this.keyStore.save(device.exportState()));
    this.#reportIdentityChanges(device);
    this.#devices.set(userHash, { at: Date.now(), list: devices });
    return devices;
  }

  /**
   * A peer matched a moment ago may still be publishing its keys (it signed in just before
   * matching): the first line typed must wait for them, not fail. Polled until the send's
   * deadline, then PEER_NOT_READY.
   */
  async #peerDevices(peer: UserHash, rpc: Rpc, deadline: number): Promise<DeviceList> {
    for (let wait = 50; ; wait = Math.min(wait * 2, 1_000)) {
      const devices = await this.#devicesOf(peer, rpc);
      if (devices.length > 0) return devices;
      this.#devices.delete(peer); // an empty list is never worth caching
      if (Date.now() + wait >= deadline) {
        throw new OmeChatError('PEER_NOT_READY', 'Your peer has not published encryption keys yet (still signing in?); nothing was sent');
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /**
   * Receipts and who left, kept in the message store so a reload shows the same marks; a
   * store that cannot write only costs the marks, never the event.
   */
  async #withMarks(event: Exclude<OmeEvent, { type: 'message.new' }>): Promise<ClientEvent> {
    if (event.type === 'chat.ended') {
      if (event.reason !== 'left') return { ...event, by: null };
      const marks = await this.messages.marks(event.chatId).catch(() => null);
      return { ...event, by: marks?.leftByYou ? 'you' : 'peer' };
    }
    if (event.type === 'message.delivered' || event.type === 'message.read') {
      const me = this.#me ?? (await this.ready().then(() => this.#me).catch(() => null));
      if (me && event.by !== me.userHash) {
        const patch = event.type === 'message.read' ? { readSeq: event.seq, deliveredSeq: event.seq } : { deliveredSeq: event.seq };
        await this.messages.putMarks(event.chatId, patch).catch(() => undefined);
      }
    }
    return event;
  }

  /** Prekey bundles for the devices we have no session with yet (fetching one uses it up). */
  async #attachBundles(device: E2EDevice, targets: RecipientDevice[], rpc: Rpc): Promise<RecipientDevice[]> {
    const needing = new Set(targets.filter((t) => !device.peerIdentity(t)).map((t) => t.userHash));
    const bundles = new Map<string, RecipientDevice['bundle']>();
    for (const userHash of needing) {
      const { devices } = await rpc((t, o) => t.keys.bundles.mutate({ userHash }, o));
      for (const d of devices) bundles.set(d.clientHash, d.bundle);
    }
    return targets
      .map((t) => ({ ...t, bundle: bundles.get(t.clientHash) }))
      .filter((t) => device.peerIdentity(t) !== undefined || t.bundle !== undefined);
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}

