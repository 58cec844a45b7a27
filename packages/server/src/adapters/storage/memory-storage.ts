import type { ChatId, ClientHash, DeviceBundle, IdentityKeys, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
import { systemClock, type Clock } from '../../ports/clock.js';
import type {
  AppendMessageResult,
  ChatCursor,
  ChatEndReason,
  ChatRecord,
  ClientRecord,
  CreateClientResult,
  CreateUserResult,
  MessageRecord,
  NewEvent,
  Storage,
  StoredEvent,
  StreamEntry,
  UserRecord,
} from '../../ports/storage.js';
import type * as Moderation from '../../ports/storage.js';
import { MemoryModerationTables } from './memory-moderation.js';

interface Stream {
  head: number;
  /** Events are copies; a message entry points at the record in its chat. */
  entries: ({ id: number; event: StoredEvent } | { id: number; message: MessageRecord })[];
}

interface ChatEntry {
  chat: ChatRecord;
  /** Ascending by seq: seqs are assigned in append order and purging keeps the order. */
  messages: MessageRecord[];
  /** Idempotency index: `${senderClientHash} ${clientMessageId}` -> message. */
  bySenderKey: Map<string, MessageRecord>;
  cursors: Map<UserHash, ChatCursor>;
}

const copy = <T>(value: T): T => structuredClone(value);
const senderKey = (m: Pick<MessageRecord, 'senderClientHash' | 'clientMessageId'>) =>
  `${m.senderClientHash} ${m.clientMessageId}`;

/**
 * Storage in process memory, for tests and single-process development. Nothing survives a
 * restart, so "durable" here means "visible to every later call".
 */
export class MemoryStorage implements Storage {
  readonly #clock: Clock;
  readonly #users = new Map<UserHash, UserRecord>();
  readonly #userByKey = new Map<string, UserHash>();
  readonly #clients = new Map<ClientHash, ClientRecord>();
  readonly #chats = new Map<ChatId, ChatEntry>();
  readonly #deviceKeys = new Map<ClientHash, { identity: IdentityKeys; signedPrekey: SignedPrekey; oneTime: Map<number, Prekey> }>();
  /** Each user's stream, ascending by id: reads look only at the reader's own entries. */
  readonly #streams = new Map<UserHash, Stream>();
  /** Chats by member, so a user's chats are found without visiting every chat. */
  readonly #chatsOf = new Map<UserHash, Set<ChatId>>();
  #closed = false;
  readonly #moderation = new MemoryModerationTables();

  constructor(options: { clock?: Clock } = {}) {
    this.#clock = options.clock ?? systemClock;
  }

  async createUser(user: UserRecord): Promise<CreateUserResult> {
    this.#assertOpen();
    if (this.#users.has(user.userHash)) return 'user_exists';
    if (this.#userByKey.has(user.usernameKey)) return 'username_taken';
    this.#users.set(user.userHash, copy(user));
    this.#userByKey.set(user.usernameKey, user.userHash);
    return 'created';
  }

  async getUser(userHash: UserHash): Promise<UserRecord | null> {
    this.#assertOpen();
    return copyOrNull(this.#users.get(userHash));
  }

  async getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null> {
    this.#assertOpen();
    const userHash = this.#userByKey.get(usernameKey);
    return userHash === undefined ? null : copyOrNull(this.#users.get(userHash));
  }

  async setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean> {
    this.#assertOpen();
    const user = this.#users.get(userHash);
    if (!user) return false;
    user.secretHash = secretHash;
    return true;
  }

  async deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]> {
    this.#assertOpen();
    const user = this.#users.get(userHash);
    if (user) this.#userByKey.delete(user.usernameKey);
    this.#users.delete(userHash);
    const clientHashes: ClientHash[] = [];
    for (const client of this.#clients.values()) {
      if (client.userHash !== userHash) continue;
      clientHashes.push(client.clientHash);
      this.#clients.delete(client.clientHash);
      this.#deviceKeys.delete(client.clientHash);
    }
    for (const chatId of [...(this.#chatsOf.get(userHash) ?? [])]) {
      const entry = this.#chats.get(chatId)!;
      const chat = entry.chat;
      const peer = chat.members[0] === userHash ? chat.members[1] : chat.members[0];
      // The peer keeps the chat (evidence they may report); one nobody is left in goes.
      if (this.#users.has(peer)) {
        entry.cursors.delete(userHash);
        continue;
      }
      this.#chats.delete(chatId);
      for (const member of chat.members) {
        this.#chatsOf.get(member)?.delete(chatId);
        const stream = this.#streams.get(member);
        if (stream) stream.entries = stream.entries.filter((e) => !('message' in e) || e.message.chatId !== chatId);
      }
    }
    this.#chatsOf.delete(userHash);
    this.#streams.delete(userHash);
    this.#moderation.eraseUser(userHash, at);
    return clientHashes;
  }

  async createClient(client: ClientRecord): Promise<CreateClientResult> {
    this.#assertOpen();
    if (this.#clients.has(client.clientHash)) return 'client_exists';
    if (!this.#users.has(client.userHash)) return 'no_user';
    this.#clients.set(client.clientHash, copy(client));
    return 'created';
  }

  async getClient(clientHash: ClientHash): Promise<ClientRecord | null> {
    this.#assertOpen();
    return copyOrNull(this.#clients.get(clientHash));
  }

  async listClients(userHash: UserHash): Promise<ClientRecord[]> {
    this.#assertOpen();
    return [...this.#clients.values()]
      .filter((c) => c.userHash === userHash)
      .sort((a, b) => a.createdAt - b.createdAt || compare(a.clientHash, b.clientHash))
      .map(copy);
  }

  async deleteClient(clientHash: ClientHash): Promise<boolean> {
    this.#assertOpen();
    this.#deviceKeys.delete(clientHash);
    return this.#clients.delete(clientHash);
  }

  async touchClient(clientHash: ClientHash, at: number): Promise<void> {
    this.#assertOpen();
    const client = this.#clients.get(clientHash);
    if (client) client.lastSeenAt = at;
  }

  async createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]> {
    this.#assertOpen();
    if (this.#chats.has(chat.chatId)) throw new Error(`chat ${chat.chatId} already exists`);
    const cursors = new Map(
      chat.members.map((userHash) => [
        userHash,
        { chatId: chat.chatId, userHash, deliveredSeq: 0, readSeq: 0 },
      ]),
    );
    const entry: ChatEntry = { chat: copy(chat), messages: [], bySenderKey: new Map(), cursors };
    this.#chats.set(chat.chatId, entry);
    for (const member of chat.members) {
      let chats = this.#chatsOf.get(member);
      if (!chats) this.#chatsOf.set(member, (chats = new Set()));
      chats.add(chat.chatId);
    }
    return this.#append(events);
  }

  async getChat(chatId: ChatId): Promise<ChatRecord | null> {
    this.#assertOpen();
    return copyOrNull(this.#chats.get(chatId)?.chat);
  }

  async listChats(userHash: UserHash): Promise<ChatRecord[]> {
    this.#assertOpen();
    return [...(this.#chatsOf.get(userHash) ?? [])]
      .map((chatId) => this.#chats.get(chatId)!.chat)
      .sort((a, b) => b.lastActivityAt - a.lastActivityAt || compare(a.chatId, b.chatId))
      .map(copy);
  }

  async hasActiveChat(a: UserHash, b: UserHash): Promise<boolean> {
    this.#assertOpen();
    for (const chatId of this.#chatsOf.get(a) ?? []) {
      const chat = this.#chats.get(chatId)!.chat;
      if (chat.state === 'active' && chat.members.includes(b)) return true;
    }
    return false;
  }

  async endChat(
    chatId: ChatId,
    reason: ChatEndReason,
    at: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    this.#assertOpen();
    const chat = this.#chats.get(chatId)?.chat;
    if (chat?.state !== 'active') return null;
    chat.state = 'ended';
    chat.endedAt = at;
    chat.endReason = reason;
    return this.#append(events);
  }

  async appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult> {
    this.#assertOpen();
    const entry = this.#chats.get(message.chatId);
    if (!entry) return { status: 'no_chat' };
    // Before the state check: a retry of a message stored just before the chat ended still
    // deserves its ack.
    const first = entry.bySenderKey.get(senderKey(message));
    if (first) return { status: 'duplicate', message: copy(first) };
    if (entry.chat.state !== 'active') return { status: 'chat_ended' };

    const seq = entry.chat.lastSeq + 1;
    const stored: MessageRecord = { ...copy(message), seq };
    entry.messages.push(stored);
    entry.bySenderKey.set(senderKey(stored), stored);
    entry.chat.lastSeq = seq;
    entry.chat.lastActivityAt = Math.max(entry.chat.lastActivityAt, message.sentAt);
    const streamIds = entry.chat.members.map((member) => {
      const stream = this.#stream(member);
      stream.entries.push({ id: ++stream.head, message: stored });
      return stream.head;
    }) as [number, number];
    return { status: 'stored', message: copy(stored), streamIds };
  }

  async getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]> {
    this.#assertOpen();
    const messages = this.#chats.get(chatId)?.messages ?? [];
    const first = firstAbove(messages, (m) => m.seq, fromSeq - 1);
    const found: MessageRecord[] = [];
    for (let i = first; i < messages.length && messages[i]!.seq <= toSeq; i++) found.push(copy(messages[i]!));
    return found;
  }

  async getCursors(chatId: ChatId): Promise<ChatCursor[]> {
    this.#assertOpen();
    return [...(this.#chats.get(chatId)?.cursors.values() ?? [])].map(copy);
  }

  async advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    this.#assertOpen();
    const cursor = this.#chats.get(chatId)?.cursors.get(userHash);
    const field = kind === 'delivered' ? 'deliveredSeq' : 'readSeq';
    if (!cursor || cursor[field] >= seq) return null;
    cursor[field] = seq;
    return this.#append(events);
  }

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    this.#assertOpen();
    return this.#append(events);
  }

  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    this.#assertOpen();
    const entries = this.#streams.get(userHash)?.entries ?? [];
    return entries
      .slice(firstAbove(entries, (e) => e.id, afterId))
      .slice(0, Math.max(0, limit))
      .map((e) => ('event' in e ? copy(e.event) : { id: e.id, userHash, message: copy(e.message) }));
  }

  async streamHead(userHash: UserHash): Promise<number> {
    this.#assertOpen();
    return this.#streams.get(userHash)?.head ?? 0;
  }

  async purgeOlderThan(before: number): Promise<{ messages: number; events: number }> {
    this.#assertOpen();
    let messages = 0;
    for (const entry of this.#chats.values()) {
      const kept = entry.messages.filter((m) => m.sentAt >= before);
      messages += entry.messages.length - kept.length;
      entry.messages = kept;
      entry.bySenderKey = new Map(kept.map((m) => [senderKey(m), m]));
    }
    let events = 0;
    for (const stream of this.#streams.values()) {
      const kept = stream.entries.filter((e) => ('event' in e ? e.event.createdAt : e.message.sentAt) >= before);
      events += stream.entries.filter((e) => 'event' in e).length - kept.filter((e) => 'event' in e).length;
      stream.entries = kept;
    }
    return { messages, events };
  }

  // --- end-to-end keys ---------------------------------------------------------
  async setDeviceKeys(clientHash: ClientHash, identity: IdentityKeys, signedPrekey: SignedPrekey) {
    this.#assertOpen();
    if (!this.#clients.has(clientHash)) return 'no_client' as const;
    const held = this.#deviceKeys.get(clientHash);
    if (held && (held.identity.signingPub !== identity.signingPub || held.identity.dhPub !== identity.dhPub)) {
      return 'identity_mismatch' as const;
    }
    this.#deviceKeys.set(clientHash, { identity: copy(identity), signedPrekey: copy(signedPrekey), oneTime: held?.oneTime ?? new Map<number, Prekey>() });
    return 'ok' as const;
  }

  async addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[]): Promise<number> {
    this.#assertOpen();
    const held = this.#deviceKeys.get(clientHash);
    if (!held) return 0;
    for (const p of prekeys) if (!held.oneTime.has(p.id)) held.oneTime.set(p.id, copy(p));
    return held.oneTime.size;
  }

  async countOneTimePrekeys(clientHash: ClientHash): Promise<number> {
    this.#assertOpen();
    return this.#deviceKeys.get(clientHash)?.oneTime.size ?? 0;
  }

  async listDeviceIdentities(userHash: UserHash) {
    this.#assertOpen();
    return (await this.listClients(userHash)).flatMap((c) => {
      const keys = this.#deviceKeys.get(c.clientHash);
      return keys ? [{ clientHash: c.clientHash, identity: copy(keys.identity) }] : [];
    });
  }

  async takeBundles(userHash: UserHash): Promise<DeviceBundle[]> {
    this.#assertOpen();
    return (await this.listClients(userHash)).flatMap((c) => {
      const keys = this.#deviceKeys.get(c.clientHash);
      if (!keys) return [];
      // Lowest id first, as the SQL adapter does.
      const oneTimePrekey = [...keys.oneTime.values()].sort((a, b) => a.id - b.id)[0];
      if (oneTimePrekey) keys.oneTime.delete(oneTimePrekey.id);
      return [{
        clientHash: c.clientHash,
        bundle: {
          identitySigningPub: keys.identity.signingPub,
          identityDhPub: keys.identity.dhPub,
          signedPrekey: copy(keys.signedPrekey),
          ...(oneTimePrekey ? { oneTimePrekey } : {}),
        },
      }];
    });
  }

  // --- moderation -------------------------------------------------------------
  // Kept in MemoryModerationTables; each method checks this adapter is open first.

  async addBlock(block: Moderation.BlockRecord) {
    return this.#mod().addBlock(block);
  }
  async removeBlock(blocker: UserHash, blocked: UserHash) {
    return this.#mod().removeBlock(blocker, blocked);
  }
  async listBlocks(userHash: UserHash) {
    return this.#mod().listBlocks(userHash);
  }
  async createReport(report: Moderation.NewReport) {
    return this.#mod().createReport(report);
  }
  async getReport(reportId: number) {
    return this.#mod().getReport(reportId);
  }
  async listReports(query: Moderation.ReportQuery) {
    return this.#mod().listReports(query);
  }
  async resolveReport(reportId: number, resolution: Moderation.ReportResolution, audit: (r: Moderation.ReportRecord) => Moderation.NewAuditRecord) {
    return this.#mod().resolveReport(reportId, resolution, audit);
  }
  async countReporters(reported: UserHash, since: number) {
    return this.#mod().countReporters(reported, since);
  }
  async listReportsAgainst(reported: UserHash, since: number) {
    return this.#mod().listReportsAgainst(reported, since);
  }
  async countDismissedReports(reporter: UserHash) {
    return this.#mod().countDismissedReports(reporter);
  }
  async createBan(ban: Moderation.NewBan, cascade: { layer: Moderation.BanRecord['layer']; target: string }[], audit: (bans: Moderation.BanRecord[]) => Moderation.NewAuditRecord) {
    return this.#mod().createBan(ban, cascade, audit);
  }
  async revokeBan(banId: number, revocation: { at: number; by: string }, audit: (ban: Moderation.BanRecord) => Moderation.NewAuditRecord) {
    return this.#mod().revokeBan(banId, revocation, audit);
  }
  async listBans(query: Moderation.BanQuery) {
    return this.#mod().listBans(query);
  }
  async appendAudit(entry: Moderation.NewAuditRecord) {
    this.#mod().appendAudit(entry);
  }

  async purgeReportsOfDeletedUsers(before: number) {
    this.#assertOpen();
    return this.#mod().purgeReportsOfDeletedUsers(before);
  }

  async listAudit(query: { beforeId?: number | undefined; limit: number }) {
    return this.#mod().listAudit(query);
  }
  async recordSighting(sighting: Moderation.SightingRecord) {
    this.#mod().recordSighting(sighting);
  }
  async listSightings(userHash: UserHash) {
    return this.#mod().listSightings(userHash);
  }

  #mod(): MemoryModerationTables {
    this.#assertOpen();
    return this.#moderation;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #append(events: readonly NewEvent[]): StoredEvent[] {
    const createdAt = this.#clock.now();
    return events.map(({ userHash, type, payload }) => {
      const stream = this.#stream(userHash);
      const event: StoredEvent = { id: ++stream.head, userHash, type, payload, createdAt };
      stream.entries.push({ id: event.id, event });
      return copy(event);
    });
  }

  #stream(userHash: UserHash): Stream {
    let stream = this.#streams.get(userHash);
    if (!stream) this.#streams.set(userHash, (stream = { head: 0, entries: [] }));
    return stream;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('MemoryStorage is closed');
  }
}

function copyOrNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : copy(value);
}

/** Index of the first item whose key is above `after`, in a list ascending by that key. */
function firstAbove<T>(items: readonly T[], key: (item: T) => number, after: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid]!) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Binary order, as SQL databases compare ids, so adapters list ties the same way. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
