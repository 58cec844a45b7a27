import type { ChatId, Envelope, UserHash } from '@omechat/protocol';
import type { AppendMessageResult, ChatCursor, ChatEndReason, ChatRecord, ChatStore, MessageRecord, NewEvent, StoredEvent } from '../../../ports/storage.js';
import type { PostgresConnection, Sql } from './connection.js';

const CHAT = `chat_id AS "chatId", user_a AS "userA", user_b AS "userB", state, created_at AS "createdAt",
  ended_at AS "endedAt", end_reason AS "endReason", last_seq AS "lastSeq", last_activity_at AS "lastActivityAt"`;
export const MESSAGE = `chat_id AS "chatId", seq, message_id AS "messageId", sender_user_hash AS "senderUserHash",
  sender_client_hash AS "senderClientHash", client_message_id AS "clientMessageId", envelope, sent_at AS "sentAt"`;
const CURSOR = `chat_id AS "chatId", user_hash AS "userHash", delivered_seq AS "deliveredSeq", read_seq AS "readSeq"`;

interface ChatRow extends Omit<ChatRecord, 'members'> {
  userA: UserHash;
  userB: UserHash;
}
export interface MessageRow extends Omit<MessageRecord, 'envelope'> {
  envelope: string;
}

const toChat = ({ userA, userB, ...rest }: ChatRow): ChatRecord => ({ ...rest, members: [userA, userB] });
export const toMessage = (row: MessageRow): MessageRecord => ({ ...row, envelope: JSON.parse(row.envelope) as Envelope });

export class PostgresChats implements ChatStore {
  /** Sends waiting for the next batch (see appendMessage). */
  readonly #appends: { message: Omit<MessageRecord, 'seq'>; resolve: (r: AppendMessageResult) => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly db: PostgresConnection) {}

  async createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]> {
    return this.db.tx(async (sql) => {
      const [userA, userB] = chat.members;
      await sql.query(
        `INSERT INTO chats (chat_id, user_a, user_b, state, created_at, ended_at, end_reason, last_seq, last_activity_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [chat.chatId, userA, userB, chat.state, chat.createdAt, chat.endedAt, chat.endReason, chat.lastSeq, chat.lastActivityAt],
      );
      await sql.query(
        'INSERT INTO chat_cursors (chat_id, user_hash) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING',
        [chat.chatId, [userA, userB]],
      );
      return this.db.appendEvents(sql, events);
    });
  }

  async getChat(chatId: ChatId): Promise<ChatRecord | null> {
    const row = await this.db.one<ChatRow>(`SELECT ${CHAT} FROM chats WHERE chat_id = $1`, [chatId]);
    return row ? toChat(row) : null;
  }

  async listChats(userHash: UserHash): Promise<ChatRecord[]> {
    const rows = await this.db.all<ChatRow>(
      `SELECT ${CHAT} FROM chats WHERE user_a = $1 OR user_b = $1 ORDER BY last_activity_at DESC, chat_id`,
      [userHash],
    );
    return rows.map(toChat);
  }

  async hasActiveChat(a: UserHash, b: UserHash): Promise<boolean> {
    const row = await this.db.one(
      `SELECT 1 FROM chats WHERE state = 'active'
       AND ((user_a = $1 AND user_b = $2) OR (user_a = $2 AND user_b = $1)) LIMIT 1`,
      [a, b],
    );
    return row !== null;
  }

  async endChat(chatId: ChatId, reason: ChatEndReason, at: number, events: NewEvent[]): Promise<StoredEvent[] | null> {
    return this.db.tx(async (sql) => {
      const ended = await sql.query(
        `UPDATE chats SET state = 'ended', ended_at = $2, end_reason = $3 WHERE chat_id = $1 AND state = 'active'`,
        [chatId, at, reason],
      );
      return ended.rowCount === 0 ? null : this.db.appendEvents(sql, events);
    });
  }

  // --- messages ---------------------------------------------------------------

  /**
   * Sends that arrive in the same turn of the event loop are stored in one transaction of a
   * few statements, whatever their number: under load, the round trips and the commit are
   * shared instead of paid per message. If the batch fails, each send is tried on its own,
   * so one bad send fails alone.
   */
  appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult> {
    this.db.assertOpen();
    return new Promise((resolve, reject) => {
      this.#appends.push({ message, resolve, reject });
      if (this.#appends.length === 1) setImmediate(() => void this.#flushAppends());
    });
  }

  async #flushAppends(): Promise<void> {
    const batch = this.#appends.splice(0);
    try {
      const results = await this.db.tx((sql) => this.#appendAll(sql, batch.map((b) => b.message)));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch {
      for (const b of batch) void this.db.tx((sql) => this.#appendAll(sql, [b.message])).then(([r]) => b.resolve(r!), b.reject);
    }
  }

  /**
   * Stores messages inside the caller's transaction. Chat rows are locked first, in one
   * order, then the members' streams (in #nextIds), so batches from any number of processes
   * cannot deadlock: the row lock serialises sends to one chat, so they get consecutive seqs.
   */
  async #appendAll(sql: Sql, messages: readonly Omit<MessageRecord, 'seq'>[]): Promise<AppendMessageResult[]> {
    const chatIds = [...new Set(messages.map((m) => m.chatId))].sort();
    const locked = await sql.query<{ chatId: ChatId; state: ChatRecord['state']; lastSeq: number; userA: UserHash; userB: UserHash }>(
      `SELECT chat_id AS "chatId", state, last_seq AS "lastSeq", user_a AS "userA", user_b AS "userB"
       FROM chats WHERE chat_id = ANY($1::text[]) ORDER BY chat_id FOR UPDATE`,
      [chatIds],
    );
    const chats = new Map(locked.rows.map((c) => [c.chatId, c]));
    // After the locks: under READ COMMITTED this snapshot includes a retry of any of these
    // messages that committed while we waited.
    const keyOf = (m: Pick<MessageRecord, 'chatId' | 'senderClientHash' | 'clientMessageId'>) =>
      `${m.chatId} ${m.senderClientHash} ${m.clientMessageId}`;
    const firsts = await sql.query<MessageRow>(
      `SELECT ${MESSAGE} FROM messages m
       JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(c, sender, id)
         ON m.chat_id = k.c AND m.sender_client_hash = k.sender AND m.client_message_id = k.id`,
      [messages.map((m) => m.chatId), messages.map((m) => m.senderClientHash), messages.map((m) => m.clientMessageId)],
    );
    const stored = new Map(firsts.rows.map((row) => [keyOf(row), toMessage(row)]));

    const results: AppendMessageResult[] = [];
    const toInsert: { message: MessageRecord; chat: { userA: UserHash; userB: UserHash }; result: { streamIds: [number, number] } }[] = [];
    for (const message of messages) {
      const chat = chats.get(message.chatId);
      const first = stored.get(keyOf(message));
      // Before the state check: a retry of a message stored just before the chat ended still gets its ack.
      if (!chat) results.push({ status: 'no_chat' });
      else if (first) results.push({ status: 'duplicate', message: { ...first } });
      else if (chat.state !== 'active') results.push({ status: 'chat_ended' });
      else {
        const record = { ...message, seq: ++chat.lastSeq };
        stored.set(keyOf(record), record); // a second copy in this batch is a retry of this one
        const result = { status: 'stored' as const, message: record, streamIds: [0, 0] as [number, number] };
        results.push(result);
        toInsert.push({ message: record, chat, result });
      }
    }
    if (toInsert.length === 0) return results;

    // Each member's stream ids, in the order of the messages.
    const next = await this.db.nextIds(sql, toInsert.flatMap(({ chat }) => [chat.userA, chat.userB]));
    for (const { chat, result } of toInsert) {
      for (const [i, member] of [chat.userA, chat.userB].entries()) {
        const id = next.get(member)!;
        next.set(member, id + 1);
        result.streamIds[i] = id;
      }
    }
    const column = <K extends keyof MessageRecord>(key: K) => toInsert.map(({ message }) => message[key]);
    await sql.query(
      `INSERT INTO messages (chat_id, seq, message_id, sender_user_hash, sender_client_hash,
         client_message_id, envelope, sent_at, event_id_a, event_id_b)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
         $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])`,
      [
        column('chatId'),
        column('seq'),
        column('messageId'),
        column('senderUserHash'),
        column('senderClientHash'),
        column('clientMessageId'),
        toInsert.map(({ message }) => JSON.stringify(message.envelope)),
        column('sentAt'),
        toInsert.map(({ result }) => result.streamIds[0]),
        toInsert.map(({ result }) => result.streamIds[1]),
      ],
    );
    await sql.query(
      `UPDATE chats SET last_seq = GREATEST(chats.last_seq, v.seq), last_activity_at = GREATEST(chats.last_activity_at, v.sent_at)
       FROM (SELECT c, max(seq) AS seq, max(sent_at) AS sent_at
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(c, seq, sent_at) GROUP BY c) AS v
       WHERE chats.chat_id = v.c`,
      [column('chatId'), column('seq'), column('sentAt')],
    );
    // What is stored is the JSON above, so the records handed back cannot alias it.
    return results;
  }

  async getMessages(chatId: ChatId, fromSeq: number, toSeq: number): Promise<MessageRecord[]> {
    const rows = await this.db.all<MessageRow>(
      `SELECT ${MESSAGE} FROM messages WHERE chat_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
      [chatId, fromSeq, toSeq],
    );
    return rows.map(toMessage);
  }

  // --- cursors ----------------------------------------------------------------

  async getCursors(chatId: ChatId): Promise<ChatCursor[]> {
    return this.db.all<ChatCursor>(`SELECT ${CURSOR} FROM chat_cursors WHERE chat_id = $1 ORDER BY user_hash`, [chatId]);
  }

  async advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    const column = kind === 'delivered' ? 'delivered_seq' : 'read_seq';
    return this.db.tx(async (sql) => {
      // The WHERE makes "only ever rises" hold under concurrency too: the UPDATE re-checks
      // the row after waiting for a concurrent raise.
      const moved = await sql.query(
        `UPDATE chat_cursors SET ${column} = $3 WHERE chat_id = $1 AND user_hash = $2 AND ${column} < $3`,
        [chatId, userHash, seq],
      );
      return moved.rowCount === 0 ? null : this.db.appendEvents(sql, events);
    });
  }
}
