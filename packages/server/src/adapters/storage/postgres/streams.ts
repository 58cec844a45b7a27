import type { UserHash } from '@omechat/protocol';
import type { NewEvent, StoredEvent, StreamEntry, StreamStore } from '../../../ports/storage.js';
import { toMessage, type MessageRow } from './chats.js';
import type { PostgresConnection } from './connection.js';

const MESSAGE_IN_STREAM = `m.chat_id, m.seq, m.message_id, m.sender_user_hash, m.sender_client_hash,
  m.client_message_id, m.envelope, m.sent_at`;

type StreamRow = { id: number; type: string | null; payload: string | null; createdAt: number | null } & {
  [K in keyof MessageRow]: MessageRow[K] | null;
};

export class PostgresStreams implements StreamStore {
  constructor(private readonly db: PostgresConnection) {}

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return this.db.read(async () => []);
    return this.db.tx((sql) => this.db.appendEvents(sql, events));
  }

  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    const rows = await this.db.all<StreamRow>(
      `SELECT id, type, payload, created_at AS "createdAt", NULL AS "chatId", NULL::bigint AS seq,
         NULL AS "messageId", NULL AS "senderUserHash", NULL AS "senderClientHash",
         NULL AS "clientMessageId", NULL AS envelope, NULL::bigint AS "sentAt"
       FROM stream_events WHERE user_hash = $1 AND id > $2
       UNION ALL
       SELECT m.event_id_a, NULL, NULL, NULL, ${MESSAGE_IN_STREAM}
       FROM chats c JOIN messages m ON m.chat_id = c.chat_id WHERE c.user_a = $1 AND m.event_id_a > $2
       UNION ALL
       SELECT m.event_id_b, NULL, NULL, NULL, ${MESSAGE_IN_STREAM}
       FROM chats c JOIN messages m ON m.chat_id = c.chat_id WHERE c.user_b = $1 AND m.event_id_b > $2
       ORDER BY 1 LIMIT $3`,
      [userHash, afterId, Math.max(0, limit)],
    );
    return rows.map(({ id, type, payload, createdAt, ...message }): StreamEntry =>
      type !== null
        ? { id, userHash, type, payload: payload!, createdAt: createdAt! }
        : { id, userHash, message: toMessage(message as MessageRow) },
    );
  }

  async streamHead(userHash: UserHash): Promise<number> {
    const row = await this.db.one<{ lastId: number }>('SELECT last_event_id AS "lastId" FROM streams WHERE user_hash = $1', [userHash]);
    return row?.lastId ?? 0;
  }

  // --- retention --------------------------------------------------------------

  async purgeOlderThan(before: number): Promise<{ messages: number; events: number }> {
    return this.db.tx(async (sql) => ({
      messages: (await sql.query('DELETE FROM messages WHERE sent_at < $1', [before])).rowCount ?? 0,
      events: (await sql.query('DELETE FROM stream_events WHERE created_at < $1', [before])).rowCount ?? 0,
    }));
  }
}
