import type { UserHash } from '@omechat/protocol';
import type Database from 'better-sqlite3';
import type { NewEvent, StoredEvent, StreamEntry, StreamStore } from '../../../ports/storage.js';
import { toMessage, type MessageRow } from './chats.js';
import type { SqliteConnection, Tables } from './connection.js';

type StreamRow = { id: number; type: string | null; payload: string | null; createdAt: number | null } & {
  [K in keyof MessageRow]: MessageRow[K] | null;
};
const MESSAGE_IN_STREAM = `m.chat_id, m.seq, m.message_id, m.sender_user_hash, m.sender_client_hash,
  m.client_message_id, m.envelope, m.sent_at`;

function prepare(db: Database.Database) {
  return {
    // Events and the messages of the user's chats, merged by id. Message columns are null on
    // event rows and the event columns on message rows.
    readStream: db.prepare<{ userHash: UserHash; after: number; limit: number }, StreamRow>(
      `SELECT id, type, payload, created_at AS createdAt, NULL AS chatId, NULL AS seq,
         NULL AS messageId, NULL AS senderUserHash, NULL AS senderClientHash,
         NULL AS clientMessageId, NULL AS envelope, NULL AS sentAt
       FROM stream_events WHERE user_hash = @userHash AND id > @after
       UNION ALL
       SELECT m.event_id_a, NULL, NULL, NULL, ${MESSAGE_IN_STREAM}
       FROM chats c JOIN messages m ON m.chat_id = c.chat_id
       WHERE c.user_a = @userHash AND m.event_id_a > @after
       UNION ALL
       SELECT m.event_id_b, NULL, NULL, NULL, ${MESSAGE_IN_STREAM}
       FROM chats c JOIN messages m ON m.chat_id = c.chat_id
       WHERE c.user_b = @userHash AND m.event_id_b > @after
       ORDER BY 1 LIMIT @limit`,
    ),
    purgeMessages: db.prepare<[number]>('DELETE FROM messages WHERE sent_at < ?'),
    purgeEvents: db.prepare<[number]>('DELETE FROM stream_events WHERE created_at < ?'),
  };
}
type Statements = ReturnType<typeof prepare>;

export class SqliteStreams implements StreamStore {
  readonly #sql: () => Statements;
  readonly #write: Tables<Statements>['write'];

  constructor(private readonly conn: SqliteConnection) {
    ({ sql: this.#sql, write: this.#write } = conn.tables(prepare(conn.db)));
  }

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    return this.#write(() => this.conn.append(events));
  }

  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    // SQLite reads a negative LIMIT as "no limit".
    const rows = this.#sql().readStream.all({ userHash, after: afterId, limit: Math.max(0, limit) });
    return rows.map(({ id, type, payload, createdAt, ...message }): StreamEntry =>
      type !== null
        ? { id, userHash, type, payload: payload!, createdAt: createdAt! }
        : { id, userHash, message: toMessage(message as MessageRow) },
    );
  }

  async streamHead(userHash: UserHash): Promise<number> {
    this.#sql();
    return this.conn.head(userHash);
  }

  async purgeOlderThan(before: number): Promise<{ messages: number; events: number }> {
    return this.#write((sql) => {
      // Counters first: they must not fall back with the newest messages or events purged.
      this.conn.saveCounters();
      return {
        messages: sql.purgeMessages.run(before).changes,
        events: sql.purgeEvents.run(before).changes,
      };
    });
  }
}
