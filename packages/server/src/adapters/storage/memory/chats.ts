import type { ChatId, UserHash } from '@omechat/protocol';
import type { AppendMessageResult, ChatCursor, ChatEndReason, ChatRecord, ChatStore, MessageRecord, NewEvent, StoredEvent } from '../../../ports/storage.js';
import { compare, copy, copyOrNull, firstAbove, senderKey, type ChatEntry, type MemoryTables } from './tables.js';

export class MemoryChats implements ChatStore {
  constructor(private readonly db: MemoryTables) {}

  async createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]> {
    this.db.assertOpen();
    if (this.db.chats.has(chat.chatId)) throw new Error(`chat ${chat.chatId} already exists`);
    const cursors = new Map(
      chat.members.map((userHash) => [
        userHash,
        { chatId: chat.chatId, userHash, deliveredSeq: 0, readSeq: 0 },
      ]),
    );
    const entry: ChatEntry = { chat: copy(chat), messages: [], bySenderKey: new Map(), cursors };
    this.db.chats.set(chat.chatId, entry);
    for (const member of chat.members) {
      let chats = this.db.chatsOf.get(member);
      if (!chats) this.db.chatsOf.set(member, (chats = new Set()));
      chats.add(chat.chatId);
    }
    return this.db.append(events);
  }

  async getChat(chatId: ChatId): Promise<ChatRecord | null> {
    this.db.assertOpen();
    return copyOrNull(this.db.chats.get(chatId)?.chat);
  }

  async listChats(userHash: UserHash): Promise<ChatRecord[]> {
    this.db.assertOpen();
    return [...(this.db.chatsOf.get(userHash) ?? [])]
      .map((chatId) => this.db.chats.get(chatId)!.chat)
      .sort((a, b) => b.lastActivityAt - a.lastActivityAt || compare(a.chatId, b.chatId))
      .map(copy);
  }

  async hasActiveChat(a: UserHash, b: UserHash): Promise<boolean> {
    this.db.assertOpen();
    for (const chatId of this.db.chatsOf.get(a) ?? []) {
      const chat = this.db.chats.get(chatId)!.chat;
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
    this.db.assertOpen();
    const chat = this.db.chats.get(chatId)?.chat;
    if (chat?.state !== 'active') return null;
    chat.state = 'ended';
    chat.endedAt = at;
    chat.endReason = reason;
    return this.db.append(events);
  }

  async appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult> {
    this.db.assertOpen();
    const entry = this.db.chats.get(message.chatId);
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
      const stream = this.db.stream(member);
      stream.entries.push({ id: ++stream.head, message: stored });
      return stream.head;
    }) as [number, number];
    return { status: 'stored', message: copy(stored), streamIds };
  }

  async getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]> {
    this.db.assertOpen();
    const messages = this.db.chats.get(chatId)?.messages ?? [];
    const first = firstAbove(messages, (m) => m.seq, fromSeq - 1);
    const found: MessageRecord[] = [];
    for (let i = first; i < messages.length && messages[i]!.seq <= toSeq; i++) found.push(copy(messages[i]!));
    return found;
  }

  async getCursors(chatId: ChatId): Promise<ChatCursor[]> {
    this.db.assertOpen();
    return [...(this.db.chats.get(chatId)?.cursors.values() ?? [])].map(copy);
  }

  async advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    this.db.assertOpen();
    const cursor = this.db.chats.get(chatId)?.cursors.get(userHash);
    const field = kind === 'delivered' ? 'deliveredSeq' : 'readSeq';
    if (!cursor || cursor[field] >= seq) return null;
    cursor[field] = seq;
    return this.db.append(events);
  }
}
