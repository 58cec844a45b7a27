import type { ChatId, ClientHash, Envelope, UserHash } from '@omechat/protocol';
import type Database from 'better-sqlite3';
import type { AppendMessageResult, ChatCursor, ChatEndReason, ChatRecord, ChatStore, MessageRecord, NewEvent, StoredEvent } from '../../../ports/storage.js';
import type { SqliteConnection, Tables } from './connection.js';

interface ChatRow extends Omit<ChatRecord, 'members'> {
  userA: UserHash;
  userB: UserHash;
}
export interface MessageRow extends Omit<MessageRecord, 'envelope'> {
  envelope: string;
}
type CursorMove = { chatId: ChatId; userHash: UserHash; seq: number };

const CHAT = `chat_id AS chatId, user_a AS userA, user_b AS userB, state, created_at AS createdAt,
  ended_at AS endedAt, end_reason AS endReason, last_seq AS lastSeq,
  last_activity_at AS lastActivityAt`;
export const MESSAGE = `chat_id AS chatId, seq, message_id AS messageId,
  sender_user_hash AS senderUserHash, sender_client_hash AS senderClientHash,
  client_message_id AS clientMessageId, envelope, sent_at AS sentAt`;
const CURSOR = `chat_id AS chatId, user_hash AS userHash, delivered_seq AS deliveredSeq,
  read_seq AS readSeq`;


function prepare(db: Database.Database) {
  return {
    getChat: db.prepare<[ChatId], ChatRow>(`SELECT ${CHAT} FROM chats WHERE chat_id = ?`),
    listChats: db.prepare<{ userHash: UserHash }, ChatRow>(
      `SELECT ${CHAT} FROM chats WHERE user_a = @userHash OR user_b = @userHash
       ORDER BY last_activity_at DESC, chat_id`,
    ),
    insertChat: db.prepare<ChatRow>(
      `INSERT INTO chats (chat_id, user_a, user_b, state, created_at, ended_at, end_reason,
         last_seq, last_activity_at)
       VALUES (@chatId, @userA, @userB, @state, @createdAt, @endedAt, @endReason, @lastSeq,
         @lastActivityAt)`,
    ),
    hasActiveChat: db
      .prepare<{ a: UserHash; b: UserHash }, 1>(
        `SELECT 1 FROM chats WHERE state = 'active'
         AND ((user_a = @a AND user_b = @b) OR (user_a = @b AND user_b = @a)) LIMIT 1`,
      )
      .pluck(),
    endChat: db.prepare<[number, ChatEndReason, ChatId]>(
      `UPDATE chats SET state = 'ended', ended_at = ?, end_reason = ?
       WHERE chat_id = ? AND state = 'active'`,
    ),
    findDuplicate: db.prepare<[ChatId, ClientHash, string], MessageRow>(
      `SELECT ${MESSAGE} FROM messages
       WHERE chat_id = ? AND sender_client_hash = ? AND client_message_id = ?`,
    ),
    // Positional: the message path's one INSERT binds ten values without building an object.
    insertMessage: db.prepare<[ChatId, number, string, UserHash, ClientHash, string, string, number, number, number]>(
      `INSERT INTO messages (chat_id, seq, message_id, sender_user_hash, sender_client_hash,
         client_message_id, envelope, sent_at, event_id_a, event_id_b)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getMessages: db.prepare<[ChatId, number, number], MessageRow>(
      `SELECT ${MESSAGE} FROM messages WHERE chat_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
    ),

    insertCursor: db.prepare<[ChatId, UserHash]>(
      'INSERT OR IGNORE INTO chat_cursors (chat_id, user_hash) VALUES (?, ?)',
    ),
    getCursors: db.prepare<[ChatId], ChatCursor>(
      `SELECT ${CURSOR} FROM chat_cursors WHERE chat_id = ? ORDER BY user_hash`,
    ),
    advanceDelivered: db.prepare<CursorMove>(
      `UPDATE chat_cursors SET delivered_seq = @seq
       WHERE chat_id = @chatId AND user_hash = @userHash AND delivered_seq < @seq`,
    ),
    advanceRead: db.prepare<CursorMove>(
      `UPDATE chat_cursors SET read_seq = @seq
       WHERE chat_id = @chatId AND user_hash = @userHash AND read_seq < @seq`,
    ),
  };
}
type Statements = ReturnType<typeof prepare>;

const toChat = ({ userA, userB, ...rest }: ChatRow): ChatRecord => ({
  ...rest,
  members: [userA, userB],
});
export const toMessage = (row: MessageRow): MessageRecord => ({
  ...row,
  envelope: JSON.parse(row.envelope) as Envelope,
});

export class SqliteChats implements ChatStore {
  readonly #sql: () => Statements;
  readonly #write: Tables<Statements>['write'];

  constructor(private readonly conn: SqliteConnection) {
    ({ sql: this.#sql, write: this.#write } = conn.tables(prepare(conn.db)));
  }

  async createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]> {
    return this.#write((sql) => {
      const [userA, userB] = chat.members;
      sql.insertChat.run({ ...chat, userA, userB });
      this.conn.chats.set(chat.chatId, { state: chat.state, lastSeq: chat.lastSeq, lastActivityAt: chat.lastActivityAt, userA, userB });
      for (const userHash of chat.members) sql.insertCursor.run(chat.chatId, userHash);
      return this.conn.append(events);
    });
  }

  async getChat(chatId: ChatId): Promise<ChatRecord | null> {
    const row = this.#sql().getChat.get(chatId);
    return row ? this.#toChat(row) : null;
  }

  async listChats(userHash: UserHash): Promise<ChatRecord[]> {
    return this.#sql().listChats.all({ userHash }).map((row) => this.#toChat(row));
  }

  /** The row with the counters kept in memory, which the file may not have yet. */
  #toChat(row: ChatRow): ChatRecord {
    const { lastSeq, lastActivityAt } = this.conn.chatCounters(row.chatId)!;
    return { ...toChat(row), lastSeq, lastActivityAt };
  }

  async hasActiveChat(a: UserHash, b: UserHash): Promise<boolean> {
    return this.#sql().hasActiveChat.get({ a, b }) !== undefined;
  }

  async endChat(
    chatId: ChatId,
    reason: ChatEndReason,
    at: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    return this.#write((sql) => {
      if (sql.endChat.run(at, reason, chatId).changes === 0) return null;
      const cached = this.conn.chats.get(chatId);
      if (cached) cached.state = 'ended';
      return this.conn.append(events);
    });
  }

  async appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult> {
    return this.#write((sql): AppendMessageResult => {
      const { chatId, senderClientHash, clientMessageId, sentAt } = message;
      const chat = this.conn.chatCounters(chatId);
      if (!chat) return { status: 'no_chat' };
      const duplicate = () => {
        const first = sql.findDuplicate.get(chatId, senderClientHash, clientMessageId);
        return first ? ({ status: 'duplicate', message: toMessage(first) } as const) : null;
      };
      // A retry of a message stored just before the chat ended still deserves its ack.
      if (chat.state !== 'active') return duplicate() ?? { status: 'chat_ended' };

      const seq = chat.lastSeq + 1;
      const streamIds: [number, number] = [this.conn.head(chat.userA) + 1, this.conn.head(chat.userB) + 1];
      try {
        const { messageId, senderUserHash, envelope } = message;
        sql.insertMessage.run(chatId, seq, messageId, senderUserHash, senderClientHash, clientMessageId, JSON.stringify(envelope), sentAt, streamIds[0], streamIds[1]);
      } catch (error) {
        // The idempotency index refused it: a retry (rare, so found after the fact).
        const first = (error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' ? duplicate() : null;
        if (first) return first;
        throw error;
      }
      chat.lastSeq = seq;
      chat.lastActivityAt = Math.max(chat.lastActivityAt, sentAt);
      this.conn.dirtyChats.add(chatId);
      this.conn.setHead(chat.userA, streamIds[0]);
      this.conn.setHead(chat.userB, streamIds[1]);
      // The stored copy is the JSON above, so a shallow copy cannot alias it.
      return { status: 'stored', message: { ...message, seq }, streamIds };
    });
  }

  async getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]> {
    return this.#sql().getMessages.all(chatId, fromSeq, toSeq).map(toMessage);
  }

  async getCursors(chatId: ChatId): Promise<ChatCursor[]> {
    return this.#sql().getCursors.all(chatId);
  }

  async advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    return this.#write((sql) => {
      const advance = kind === 'delivered' ? sql.advanceDelivered : sql.advanceRead;
      return advance.run({ chatId, userHash, seq }).changes === 0 ? null : this.conn.append(events);
    });
  }
}
