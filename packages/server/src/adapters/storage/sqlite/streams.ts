import type { ChatId, UserHash } from '@omechat/protocol';
import type Database from 'better-sqlite3';
import type { NewEvent, StoredEvent, StreamEntry, StreamStore } from '../../../ports/storage.js';
import { MESSAGE, toMessage, type MessageRow } from './chats.js';
import type { SqliteConnection, Tables } from './connection.js';

/** A member's side of a chat: which of a message's two stream ids is theirs. */
type Side = 'a' | 'b';

function prepare(db: Database.Database) {
  return {
    readEvents: db.prepare<{ userHash: UserHash; after: number; limit: number }, { id: number; type: string; payload: string; createdAt: number }>(
      `SELECT id, type, payload, created_at AS createdAt FROM stream_events
       WHERE user_hash = @userHash AND id > @after ORDER BY id LIMIT @limit`,
    ),
    chatsOf: db.prepare<{ userHash: UserHash }, { chatId: ChatId; side: Side }>(
      `SELECT chat_id AS chatId, 'a' AS side FROM chats WHERE user_a = @userHash
       UNION ALL SELECT chat_id, 'b' FROM chats WHERE user_b = @userHash`,
    ),
    streamIdsAt: db.prepare<[ChatId, number], Record<Side, number>>('SELECT event_id_a AS a, event_id_b AS b FROM messages WHERE chat_id = ? AND seq = ?'),
    messagesFrom: db.prepare<[ChatId, number, number], MessageRow & Record<Side, number>>(
      `SELECT ${MESSAGE}, event_id_a AS a, event_id_b AS b FROM messages
       WHERE chat_id = ? AND seq >= ? ORDER BY seq LIMIT ?`,
    ),
    // Rows are in the order they were stored, so what is old enough is a run from the start:
    // the scan stops at the first newer row, and needs no index on sent_at (one b-tree page
    // fewer written per message). A row stored after a newer one (the clock went back) waits
    // for that one: purged late, never early.
    purgeMessages: db.prepare<{ before: number }>(
      `DELETE FROM messages WHERE sent_at < @before AND id < coalesce(
         (SELECT id FROM messages WHERE sent_at >= @before ORDER BY id LIMIT 1), 9223372036854775807)`,
    ),
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

  /**
   * The user's events and the messages of their chats, merged by id. A message's stream ids
   * grow with its seq within a chat, so the ones after the cursor are the chat's newest, found
   * by a binary search on (chat_id, seq): no index per member's stream, each of which cost a
   * random page written per message (bench/wal-pages.ts).
   */
  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    const sql = this.#sql();
    if (limit <= 0) return [];
    const entries: StreamEntry[] = sql.readEvents
      .all({ userHash, after: afterId, limit })
      .map((row) => ({ userHash, ...row }));
    for (const { chatId, side } of sql.chatsOf.all({ userHash })) {
      const first = this.#firstAfter(sql, chatId, side, afterId);
      if (first === null) continue;
      for (const { a, b, ...row } of sql.messagesFrom.all(chatId, first, limit)) {
        entries.push({ id: side === 'a' ? a : b, userHash, message: toMessage(row) });
      }
    }
    return entries.sort((x, y) => x.id - y.id).slice(0, limit);
  }

  /** The first seq of the chat whose stream id on `side` is above `afterId`, or null if none is. */
  #firstAfter({ streamIdsAt }: Statements, chatId: ChatId, side: Side, afterId: number): number | null {
    const last = this.conn.counters.lastMessage.get(chatId);
    if (!last || last[side] <= afterId) return null;
    const idAt = (seq: number) => streamIdsAt.get(chatId, seq)?.[side] ?? 0; // purged: older than any kept
    let [low, high] = [1, last.seq];
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      if (idAt(middle) > afterId) high = middle;
      else low = middle + 1;
    }
    return low;
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
        messages: sql.purgeMessages.run({ before }).changes,
        events: sql.purgeEvents.run(before).changes,
      };
    });
  }
}
