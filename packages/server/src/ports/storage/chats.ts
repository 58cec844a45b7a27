import type { ChatId, ClientHash, Envelope, MessageId, UserHash } from '@omechat/protocol';
import type { NewEvent, StoredEvent } from './streams.js';

export type ChatEndReason = 'left' | 'blocked' | 'banned' | 'deleted';

export interface ChatRecord {
  chatId: ChatId;
  /** The two members; order has no meaning. */
  members: [UserHash, UserHash];
  state: 'active' | 'ended';
  createdAt: number;
  endedAt: number | null;
  endReason: ChatEndReason | null;
  /** Highest seq stored in this chat (0 when empty). */
  lastSeq: number;
  lastActivityAt: number;
}

export interface MessageRecord {
  chatId: ChatId;
  messageId: MessageId;
  seq: number;
  senderUserHash: UserHash;
  senderClientHash: ClientHash;
  clientMessageId: string;
  envelope: Envelope;
  sentAt: number;
}

/** Per member read/delivery cursors of a chat. */
export interface ChatCursor {
  chatId: ChatId;
  userHash: UserHash;
  deliveredSeq: number;
  readSeq: number;
}

export type AppendMessageResult =
  /** `streamIds`: the message's id in each member's stream, in the chat's member order. */
  | { status: 'stored'; message: MessageRecord; streamIds: [number, number] }
  | { status: 'duplicate'; message: MessageRecord }
  | { status: 'chat_ended' }
  | { status: 'no_chat' };

/** Chats, their messages and their members' read/delivery cursors. */
export interface ChatStore {
  // --- chats ------------------------------------------------------------------
  /** Creates the chat and appends `events` (typically match.found for both) atomically. */
  createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]>;
  getChat(chatId: ChatId): Promise<ChatRecord | null>;
  listChats(userHash: UserHash): Promise<ChatRecord[]>;
  /** True when the two users share an active chat. */
  hasActiveChat(a: UserHash, b: UserHash): Promise<boolean>;
  /** Ends an active chat and appends `events` atomically; null if it was not active. */
  endChat(
    chatId: ChatId,
    reason: ChatEndReason,
    at: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null>;

  // --- messages ---------------------------------------------------------------
  /**
   * Stores a message with the next seq of its chat and the next id in each member's stream,
   * atomically. `seq` of the given record is ignored and assigned here. A message with the same
   * (chatId, senderClientHash, clientMessageId) already stored yields `duplicate` with the
   * first record and stores nothing, even once the chat has ended: a retry still gets its ack.
   */
  appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult>;
  /** Messages of a chat with fromSeq <= seq <= toSeq, ascending. */
  getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]>;

  // --- cursors ----------------------------------------------------------------
  getCursors(chatId: ChatId): Promise<ChatCursor[]>;
  /** Raises a cursor (never lowers it) and appends events if it moved; null if it did not. */
  advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null>;
}
