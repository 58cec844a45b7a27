import {
  envelopeJsonLength,
  type ChatId,
  type ChatSummary,
  type Envelope,
  type OmeEvent,
  type SendOutput,
  type StoredMessage,
  type UserHash,
} from '@omechat/protocol';
import type { Clock } from '../ports/clock.js';
import type { Random } from '../ports/random.js';
import type { ChatEndReason, ChatRecord, MessageRecord, Storage } from '../ports/storage.js';
import type { Session } from './accounts.js';
import { DomainError } from './domain-error.js';
import { newEvent, type EventHub } from './event-hub.js';
import type { MessageCache } from './message-cache.js';

export interface ChatsDeps {
  storage: Pick<Storage, 'accounts' | 'chats'>;
  random: Random;
  clock: Clock;
  events: EventHub;
  cache: MessageCache;
}

// Non-members get the same answer whether or not the chat exists: no probing for chat ids.
const notAMember = () => new DomainError('FORBIDDEN', 'Not a member of this chat');

export function toStoredMessage(m: MessageRecord): StoredMessage {
  return {
    chatId: m.chatId,
    messageId: m.messageId,
    seq: m.seq,
    senderUserHash: m.senderUserHash,
    senderClientHash: m.senderClientHash,
    envelope: m.envelope,
    sentAt: m.sentAt,
  };
}

const peerOf = (chat: ChatRecord, me: UserHash) => (chat.members[0] === me ? chat.members[1] : chat.members[0]);

/** Runs before a message is stored; throws to refuse it (moderation: blocks). */
export type SendGuard = (session: Session, chat: ChatRecord) => Promise<void>;

/** Entries the in-memory maps below keep before starting over; they are only shortcuts. */
const MEMO_LIMIT = 50_000;
/** How long delivery receipts gather before they are stored and sent, one per chat. */
export const RECEIPT_DELAY_MS = 250;
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MEMO_LIMIT) map.clear();
  map.set(key, value);
}

/** Chats between two matched users, and the messages in them. */
export class Chats {
  readonly #chats = new Map<ChatId, ChatRecord>();
  /** Highest delivered seq recorded per chat and member. */
  readonly #delivered = new Map<string, number>();

  readonly #sendGuards: SendGuard[] = [];
  readonly #endListeners: ((chat: ChatRecord, reason: ChatEndReason) => Promise<void>)[] = [];
  /** Delivery receipts waiting for the next flush, by chat and member. */
  readonly #receipts = new Map<string, { chatId: ChatId; userHash: UserHash; seq: number }>();
  #receiptTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: ChatsDeps,
    /** A history page stops once it holds this many bytes of envelopes: a reply is output memory. */
    private readonly historyPageBytes = 1024 * 1024,
  ) {}

  addSendGuard(guard: SendGuard): void {
    this.#sendGuards.push(guard);
  }

  /** Runs, and is awaited, each time a chat ends here (matchmaking keeps its two apart). */
  onEnded(listener: (chat: ChatRecord, reason: ChatEndReason) => Promise<void>): void {
    this.#endListeners.push(listener);
  }

  async requireMember(chatId: ChatId, userHash: UserHash): Promise<ChatRecord> {
    const chat = await this.deps.storage.chats.getChat(chatId);
    if (!chat || !chat.members.includes(userHash)) throw notAMember();
    return chat;
  }

  async list(session: Session): Promise<ChatSummary[]> {
    const { storage } = this.deps;
    const chats = await storage.chats.listChats(session.userHash);
    const out: ChatSummary[] = [];
    for (const chat of chats) {
      const peerHash = peerOf(chat, session.userHash);
      const peer = await storage.accounts.getUser(peerHash);
      const cursor = (await storage.chats.getCursors(chat.chatId)).find((c) => c.userHash === session.userHash);
      const readSeq = cursor?.readSeq ?? 0;
      const unseen = await this.deps.cache.range(chat.chatId, readSeq + 1, chat.lastSeq);
      out.push({
        chatId: chat.chatId,
        peer: { userHash: peerHash, username: peer?.username ?? '(deleted)', age: peer?.age ?? null, deleted: !peer },
        state: chat.state,
        endReason: chat.endReason,
        createdAt: chat.createdAt,
        lastActivityAt: chat.lastActivityAt,
        lastSeq: chat.lastSeq,
        unread: unseen.filter((m) => m.senderUserHash !== session.userHash).length,
      });
    }
    return out.sort((a, b) => b.lastActivityAt - a.lastActivityAt);
  }

  async history(session: Session, input: { chatId: ChatId; beforeSeq?: number | undefined; limit: number }) {
    const chat = await this.requireMember(input.chatId, session.userHash);
    const top = Math.min(chat.lastSeq, (input.beforeSeq ?? chat.lastSeq + 1) - 1);
    const from = Math.max(1, top - input.limit + 1);
    const messages = await this.deps.cache.range(chat.chatId, from, top);
    // The newest messages that fit the byte budget (always at least one); hasMore covers the rest.
    let first = messages.length;
    for (let bytes = 0; first > 0; first--) {
      bytes += envelopeJsonLength(messages[first - 1]!.envelope);
      if (bytes > this.historyPageBytes && first < messages.length) break;
    }
    const page = first === 0 ? messages : messages.slice(first);
    return { messages: page.map(toStoredMessage), hasMore: (page[0]?.seq ?? from) > 1 && page.length > 0 };
  }

  async send(
    session: Session,
    input: { chatId: ChatId; envelope: Envelope; clientMessageId: string },
  ): Promise<SendOutput> {
    const { storage, random, clock, events, cache } = this.deps;
    const chat = await this.#cachedChat(input.chatId);
    if (!chat || !chat.members.includes(session.userHash)) throw notAMember();
    if (chat.state !== 'active') throw new DomainError('CHAT_ENDED', 'This chat has ended');
    for (const guard of this.#sendGuards) await guard(session, chat);
    const draft = {
      chatId: chat.chatId,
      messageId: random.messageId(),
      senderUserHash: session.userHash,
      senderClientHash: session.clientHash,
      clientMessageId: input.clientMessageId,
      envelope: input.envelope,
      sentAt: clock.now(),
    };
    const result = await storage.chats.appendMessage(draft);
    if (result.status === 'no_chat') throw notAMember();
    if (result.status === 'chat_ended') throw new DomainError('CHAT_ENDED', 'This chat has ended');
    if (result.status === 'stored') {
      cache.append(result.message);
      const event: OmeEvent = { type: 'message.new', message: toStoredMessage(result.message) };
      chat.members.forEach((member, i) => events.publish(member, result.streamIds[i]!, event, session.clientHash));
    }
    const { messageId, seq, sentAt } = result.message;
    return { messageId, seq, sentAt };
  }

  async markRead(session: Session, input: { chatId: ChatId; seq: number }): Promise<void> {
    const chat = await this.requireMember(input.chatId, session.userHash);
    const seq = Math.min(input.seq, chat.lastSeq);
    if (seq < 1) return;
    const event: OmeEvent = { type: 'message.read', chatId: chat.chatId, seq, by: session.userHash, at: this.deps.clock.now() };
    await this.#advance(chat, session.userHash, 'read', seq, event);
  }

  /**
   * Called when a device of `userHash` has been sent messages up to `seq`. Receipts are
   * coalesced: each chat's highest delivered seq is recorded and announced once per
   * RECEIPT_DELAY_MS, never once per message.
   */
  markDelivered(chatId: ChatId, userHash: UserHash, seq: number): void {
    const key = `${chatId}/${userHash}`;
    if ((this.#delivered.get(key) ?? 0) >= seq) return; // another device got there first
    remember(this.#delivered, key, seq);
    this.#receipts.set(key, { chatId, userHash, seq });
    this.#receiptTimer ??= setTimeout(() => void this.flushReceipts(), RECEIPT_DELAY_MS).unref();
  }

  /** Records and announces the delivery receipts waiting to go out. */
  async flushReceipts(): Promise<void> {
    clearTimeout(this.#receiptTimer);
    this.#receiptTimer = undefined;
    const receipts = [...this.#receipts.values()];
    this.#receipts.clear();
    await Promise.all(
      receipts.map(async ({ chatId, userHash, seq }) => {
        const chat = await this.#cachedChat(chatId);
        if (!chat || !chat.members.includes(userHash)) return;
        const event: OmeEvent = { type: 'message.delivered', chatId, seq, by: userHash, at: this.deps.clock.now() };
        // A receipt that cannot be stored is not worth failing anything for: the next one says more.
        await this.#advance(chat, userHash, 'delivered', seq, event).catch(() => undefined);
      }),
    );
  }

  async typing(session: Session, input: { chatId: ChatId; typing: boolean }): Promise<void> {
    const chat = await this.requireMember(input.chatId, session.userHash);
    if (chat.state !== 'active') return;
    this.deps.events.ephemeral(peerOf(chat, session.userHash), {
      type: 'chat.typing',
      chatId: chat.chatId,
      userHash: session.userHash,
      typing: input.typing,
    });
  }

  async leave(session: Session, chatId: ChatId): Promise<void> {
    const chat = await this.requireMember(chatId, session.userHash);
    await this.end(chat, 'left');
  }

  /**
   * Members and state of recently used chats, so the message path reads no chat row. A chat
   * ended by another process may still look active here: appendMessage checks the state in
   * its transaction, so nothing is stored in an ended chat either way.
   */
  async #cachedChat(chatId: ChatId): Promise<ChatRecord | null> {
    const cached = this.#chats.get(chatId);
    if (cached) return cached;
    const chat = await this.deps.storage.chats.getChat(chatId);
    if (chat) remember(this.#chats, chatId, chat);
    return chat;
  }

  /** Ends a chat for both members and tells them; a no-op for a chat already ended. */
  async end(chat: ChatRecord, reason: ChatEndReason): Promise<void> {
    this.#chats.delete(chat.chatId);
    const at = this.deps.clock.now();
    const event: OmeEvent = { type: 'chat.ended', chatId: chat.chatId, reason, at };
    const stored = await this.deps.storage.chats.endChat(
      chat.chatId,
      reason,
      at,
      chat.members.map((m) => newEvent(m, event)),
    );
    if (!stored) return;
    this.deps.events.announce(stored);
    for (const listener of this.#endListeners) await listener(chat, reason);
  }

  /** Ends every active chat of a user (account deletion, bans), telling the peers. */
  async endAllOf(userHash: UserHash, reason: ChatEndReason): Promise<void> {
    for (const chat of await this.deps.storage.chats.listChats(userHash)) {
      if (chat.state === 'active') await this.end(chat, reason);
      if (reason === 'deleted') this.deps.cache.forgetChat(chat.chatId);
    }
  }

  /** Users who share an active chat with `userHash`: they are not paired again. */
  async activePeers(userHash: UserHash): Promise<UserHash[]> {
    const chats = await this.deps.storage.chats.listChats(userHash);
    return chats.filter((c) => c.state === 'active').map((c) => peerOf(c, userHash));
  }

  async #advance(chat: ChatRecord, userHash: UserHash, kind: 'read' | 'delivered', seq: number, event: OmeEvent) {
    // Read receipts also go to the reader's other devices (their unread counts follow);
    // delivery receipts only matter to the sender.
    const audience = kind === 'read' ? chat.members : [peerOf(chat, userHash)];
    const stored = await this.deps.storage.chats.advanceCursor(
      chat.chatId,
      userHash,
      kind,
      seq,
      audience.map((m) => newEvent(m, event)),
    );
    // advanceCursor appended the events only if the cursor moved.
    if (stored) this.deps.events.announce(stored);
  }
}
