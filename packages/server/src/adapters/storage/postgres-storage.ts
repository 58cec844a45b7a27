import { Pool, types, type CustomTypesConfig, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import type { ChatId, ClientHash, DeviceBundle, Envelope, IdentityKeys, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
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
import { DomainError } from '../../core/domain-error.js';
import { assertSchemaName, migratePostgres } from './postgres-migrations.js';
import { PostgresModerationTables } from './postgres-moderation.js';

export interface PostgresStorageOptions {
  /** A libpq-style URL, e.g. postgres://user:pass@host:5432/db. */
  url: string;
  /** Tables live in this schema (created if missing); default: the connection's search_path. */
  schema?: string;
  /** Stamps `createdAt` on events. */
  clock?: Clock;
  /** Most connections the pool opens; default 10. */
  maxConnections?: number;
  /**
   * Told when an idle pooled connection fails (the server went away); the pool replaces it.
   * Gets only a summary: pg hangs the whole client (password, cancel key) on the error.
   */
  onIdleError?: (err: ConnectionFailure) => void;
  /**
   * How long a call waits for a pooled connection (a free one, or a new one to connect)
   * before it fails with UNAVAILABLE. Default: no limit, as pg's, because under a saturating
   * load calls queue for a free connection for seconds (measured: p99 6.5 s on a loaded 2-core
   * box) and should be served late rather than refused. A database that is down refuses or
   * resets connections, which fails calls at once either way.
   */
  connectTimeoutMs?: number;
}

/** What may be said about a failed connection: no client object, no credentials. */
export interface ConnectionFailure {
  message: string;
  code?: string;
}

/**
 * Errors that mean "the database cannot be reached now", not "this statement is wrong":
 * socket errors, pg's own connection messages, and the SQLSTATEs of a server that is
 * shutting down, starting, or out of connection slots (class 08 and 57P01-57P03, 53300).
 */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
export function isConnectionError(err: unknown): boolean {
  const code = pgCode(err);
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300')) return true;
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed/i.test(message);
}

const summarise = (err: unknown): ConnectionFailure => {
  const code = pgCode(err);
  return { message: err instanceof Error ? err.message : String(err), ...(typeof code === 'string' ? { code } : {}) };
};

const unavailable = (err: unknown) =>
  isConnectionError(err) ? new DomainError('UNAVAILABLE', 'The database is unreachable; try again shortly') : err;

/** What both the pool (one autocommitted statement) and a transaction's client can run. */
export interface Sql {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/**
 * bigint columns (timestamps in ms, ids, seqs) come back as JS numbers: they stay far below
 * 2^53, and every record type of the port declares them as `number`.
 */
const parseTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === (types.builtins.INT8 as number) ? Number : types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

const FOREIGN_KEY_VIOLATION = '23503';
const pgCode = (err: unknown) => (err as { code?: unknown } | null)?.code;

const USER = `user_hash AS "userHash", username, username_key AS "usernameKey", age,
  secret_hash AS "secretHash", created_at AS "createdAt"`;
const CLIENT = `client_hash AS "clientHash", user_hash AS "userHash", token_hash AS "tokenHash",
  device_name AS "deviceName", created_at AS "createdAt", last_seen_at AS "lastSeenAt"`;
const CHAT = `chat_id AS "chatId", user_a AS "userA", user_b AS "userB", state, created_at AS "createdAt",
  ended_at AS "endedAt", end_reason AS "endReason", last_seq AS "lastSeq", last_activity_at AS "lastActivityAt"`;
const MESSAGE = `chat_id AS "chatId", seq, message_id AS "messageId", sender_user_hash AS "senderUserHash",
  sender_client_hash AS "senderClientHash", client_message_id AS "clientMessageId", envelope, sent_at AS "sentAt"`;
const CURSOR = `chat_id AS "chatId", user_hash AS "userHash", delivered_seq AS "deliveredSeq", read_seq AS "readSeq"`;
const MESSAGE_IN_STREAM = `m.chat_id, m.seq, m.message_id, m.sender_user_hash, m.sender_client_hash,
  m.client_message_id, m.envelope, m.sent_at`;

interface ChatRow extends Omit<ChatRecord, 'members'> {
  userA: UserHash;
  userB: UserHash;
}
interface MessageRow extends Omit<MessageRecord, 'envelope'> {
  envelope: string;
}
type StreamRow = { id: number; type: string | null; payload: string | null; createdAt: number | null } & {
  [K in keyof MessageRow]: MessageRow[K] | null;
};
interface KeysRow {
  clientHash: ClientHash;
  signingPub: string;
  dhPub: string;
  signedPrekey: SignedPrekey;
}

const toChat = ({ userA, userB, ...rest }: ChatRow): ChatRecord => ({ ...rest, members: [userA, userB] });
const toMessage = (row: MessageRow): MessageRecord => ({ ...row, envelope: JSON.parse(row.envelope) as Envelope });

/**
 * Storage in PostgreSQL, for several server processes sharing one database. Every method
 * that writes more than one statement runs them in one transaction on one pooled connection;
 * a method resolves after COMMIT, which (synchronous_commit on) is durable.
 */
export class PostgresStorage implements Storage {
  readonly #pool: Pool;
  readonly #clock: Clock;
  readonly #moderation: PostgresModerationTables;
  /** Sends waiting for the next batch (see appendMessage). */
  readonly #appends: { message: Omit<MessageRecord, 'seq'>; resolve: (r: AppendMessageResult) => void; reject: (e: unknown) => void }[] = [];
  #closed = false;

  /** Connects, brings the schema up to date, and returns the storage. */
  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    const schema = options.schema ?? null;
    if (schema !== null) assertSchemaName(schema);
    const pool = new Pool({
      connectionString: options.url,
      max: options.maxConnections ?? 10,
      ...(options.connectTimeoutMs !== undefined ? { connectionTimeoutMillis: options.connectTimeoutMs } : {}),
      // Unqualified table names resolve in our schema on every pooled connection.
      ...(schema !== null ? { options: `-c search_path=${schema}` } : {}),
      types: parseTypes,
    });
    // An idle connection that dies must not become an uncaught 'error' event.
    pool.on('error', (err) => options.onIdleError?.(summarise(err)));
    try {
      const client = await pool.connect();
      // Checked out, it has no listener of the pool's: a reset fails the migration, not the process.
      let broken: Error | undefined;
      client.on('error', (err) => (broken = err));
      try {
        await migratePostgres(client, schema);
      } finally {
        client.release(broken);
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return new PostgresStorage(pool, options.clock ?? systemClock);
  }

  private constructor(pool: Pool, clock: Clock) {
    this.#pool = pool;
    this.#clock = clock;
    this.#moderation = new PostgresModerationTables(
      (fn) => this.#read(fn),
      (fn) => this.#tx(fn),
    );
  }

  // --- accounts -------------------------------------------------------------

  async createUser(user: UserRecord): Promise<CreateUserResult> {
    return this.#read(async (sql) => {
      const inserted = await sql.query(
        `INSERT INTO users (user_hash, username, username_key, age, secret_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
        [user.userHash, user.username, user.usernameKey, user.age, user.secretHash, user.createdAt],
      );
      if (inserted.rowCount === 1) return 'created';
      // Either unique key clashed; the hash is checked first, as the other adapters do.
      const sameHash = await sql.query('SELECT 1 FROM users WHERE user_hash = $1', [user.userHash]);
      return sameHash.rowCount === 1 ? 'user_exists' : 'username_taken';
    });
  }

  async getUser(userHash: UserHash): Promise<UserRecord | null> {
    return this.#one<UserRecord>(`SELECT ${USER} FROM users WHERE user_hash = $1`, [userHash]);
  }

  async getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null> {
    return this.#one<UserRecord>(`SELECT ${USER} FROM users WHERE username_key = $1`, [usernameKey]);
  }

  async setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean> {
    return this.#changed('UPDATE users SET secret_hash = $2 WHERE user_hash = $1', [userHash, secretHash]);
  }

  async deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]> {
    return this.#tx(async (sql) => {
      const clients = await sql.query<{ clientHash: ClientHash }>(
        'SELECT client_hash AS "clientHash" FROM clients WHERE user_hash = $1 ORDER BY created_at, client_hash',
        [userHash],
      );
      // Chats first, locked in one order, so two deletions sharing chats cannot deadlock;
      // messages and cursors follow through ON DELETE CASCADE. A send racing this waits on
      // the chat lock and commits first, so the stream DELETEs below (a fresh snapshot) see
      // what it appended too.
      // Only chats whose other member has no account either are erased: the peer keeps the rest.
      await sql.query(
        `DELETE FROM chats WHERE chat_id IN (
           SELECT chat_id FROM chats WHERE user_a = $1 OR user_b = $1 ORDER BY chat_id FOR UPDATE)
         AND NOT EXISTS (SELECT 1 FROM users WHERE user_hash <> $1 AND user_hash IN (chats.user_a, chats.user_b))`,
        [userHash],
      );
      await sql.query('DELETE FROM chat_cursors WHERE user_hash = $1', [userHash]);
      await sql.query('DELETE FROM stream_events WHERE user_hash = $1', [userHash]);
      await sql.query('DELETE FROM streams WHERE user_hash = $1', [userHash]);
      await this.#moderation.eraseUser(sql, userHash, at);
      await sql.query('DELETE FROM users WHERE user_hash = $1', [userHash]); // clients and keys cascade
      return clients.rows.map((c) => c.clientHash);
    });
  }

  // --- clients ----------------------------------------------------------------

  async createClient(client: ClientRecord): Promise<CreateClientResult> {
    return this.#read(async (sql) => {
      try {
        const inserted = await sql.query(
          `INSERT INTO clients (client_hash, user_hash, token_hash, device_name, created_at, last_seen_at)
           SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM users WHERE user_hash = $2)
           ON CONFLICT (client_hash) DO NOTHING`,
          [client.clientHash, client.userHash, client.tokenHash, client.deviceName, client.createdAt, client.lastSeenAt],
        );
        if (inserted.rowCount === 1) return 'created';
      } catch (err) {
        // The user was deleted between the EXISTS and the insert's foreign key check.
        if (pgCode(err) !== FOREIGN_KEY_VIOLATION) throw err;
      }
      const existing = await sql.query('SELECT 1 FROM clients WHERE client_hash = $1', [client.clientHash]);
      return existing.rowCount === 1 ? 'client_exists' : 'no_user';
    });
  }

  async getClient(clientHash: ClientHash): Promise<ClientRecord | null> {
    return this.#one<ClientRecord>(`SELECT ${CLIENT} FROM clients WHERE client_hash = $1`, [clientHash]);
  }

  async listClients(userHash: UserHash): Promise<ClientRecord[]> {
    return this.#all<ClientRecord>(
      `SELECT ${CLIENT} FROM clients WHERE user_hash = $1 ORDER BY created_at, client_hash`,
      [userHash],
    );
  }

  async deleteClient(clientHash: ClientHash): Promise<boolean> {
    return this.#changed('DELETE FROM clients WHERE client_hash = $1', [clientHash]);
  }

  async touchClient(clientHash: ClientHash, at: number): Promise<void> {
    await this.#changed('UPDATE clients SET last_seen_at = $2 WHERE client_hash = $1', [clientHash, at]);
  }

  // --- chats ------------------------------------------------------------------

  async createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]> {
    return this.#tx(async (sql) => {
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
      return this.#appendEvents(sql, events);
    });
  }

  async getChat(chatId: ChatId): Promise<ChatRecord | null> {
    const row = await this.#one<ChatRow>(`SELECT ${CHAT} FROM chats WHERE chat_id = $1`, [chatId]);
    return row ? toChat(row) : null;
  }

  async listChats(userHash: UserHash): Promise<ChatRecord[]> {
    const rows = await this.#all<ChatRow>(
      `SELECT ${CHAT} FROM chats WHERE user_a = $1 OR user_b = $1 ORDER BY last_activity_at DESC, chat_id`,
      [userHash],
    );
    return rows.map(toChat);
  }

  async hasActiveChat(a: UserHash, b: UserHash): Promise<boolean> {
    const row = await this.#one(
      `SELECT 1 FROM chats WHERE state = 'active'
       AND ((user_a = $1 AND user_b = $2) OR (user_a = $2 AND user_b = $1)) LIMIT 1`,
      [a, b],
    );
    return row !== null;
  }

  async endChat(chatId: ChatId, reason: ChatEndReason, at: number, events: NewEvent[]): Promise<StoredEvent[] | null> {
    return this.#tx(async (sql) => {
      const ended = await sql.query(
        `UPDATE chats SET state = 'ended', ended_at = $2, end_reason = $3 WHERE chat_id = $1 AND state = 'active'`,
        [chatId, at, reason],
      );
      return ended.rowCount === 0 ? null : this.#appendEvents(sql, events);
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
    this.#assertOpen();
    return new Promise((resolve, reject) => {
      this.#appends.push({ message, resolve, reject });
      if (this.#appends.length === 1) setImmediate(() => void this.#flushAppends());
    });
  }

  async #flushAppends(): Promise<void> {
    const batch = this.#appends.splice(0);
    try {
      const results = await this.#tx((sql) => this.#appendAll(sql, batch.map((b) => b.message)));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch {
      for (const b of batch) void this.#tx((sql) => this.#appendAll(sql, [b.message])).then(([r]) => b.resolve(r!), b.reject);
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
    const next = await this.#nextIds(sql, toInsert.flatMap(({ chat }) => [chat.userA, chat.userB]));
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
    const rows = await this.#all<MessageRow>(
      `SELECT ${MESSAGE} FROM messages WHERE chat_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
      [chatId, fromSeq, toSeq],
    );
    return rows.map(toMessage);
  }

  // --- cursors ----------------------------------------------------------------

  async getCursors(chatId: ChatId): Promise<ChatCursor[]> {
    return this.#all<ChatCursor>(`SELECT ${CURSOR} FROM chat_cursors WHERE chat_id = $1 ORDER BY user_hash`, [chatId]);
  }

  async advanceCursor(
    chatId: ChatId,
    userHash: UserHash,
    kind: 'delivered' | 'read',
    seq: number,
    events: NewEvent[],
  ): Promise<StoredEvent[] | null> {
    const column = kind === 'delivered' ? 'delivered_seq' : 'read_seq';
    return this.#tx(async (sql) => {
      // The WHERE makes "only ever rises" hold under concurrency too: the UPDATE re-checks
      // the row after waiting for a concurrent raise.
      const moved = await sql.query(
        `UPDATE chat_cursors SET ${column} = $3 WHERE chat_id = $1 AND user_hash = $2 AND ${column} < $3`,
        [chatId, userHash, seq],
      );
      return moved.rowCount === 0 ? null : this.#appendEvents(sql, events);
    });
  }

  // --- events -----------------------------------------------------------------

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return this.#read(async () => []);
    return this.#tx((sql) => this.#appendEvents(sql, events));
  }

  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    const rows = await this.#all<StreamRow>(
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
    const row = await this.#one<{ lastId: number }>('SELECT last_event_id AS "lastId" FROM streams WHERE user_hash = $1', [userHash]);
    return row?.lastId ?? 0;
  }

  // --- retention --------------------------------------------------------------

  async purgeOlderThan(before: number): Promise<{ messages: number; events: number }> {
    return this.#tx(async (sql) => ({
      messages: (await sql.query('DELETE FROM messages WHERE sent_at < $1', [before])).rowCount ?? 0,
      events: (await sql.query('DELETE FROM stream_events WHERE created_at < $1', [before])).rowCount ?? 0,
    }));
  }

  // --- end-to-end keys ----------------------------------------------------------

  async setDeviceKeys(
    clientHash: ClientHash,
    identity: IdentityKeys,
    signedPrekey: SignedPrekey,
  ): Promise<'ok' | 'identity_mismatch' | 'no_client'> {
    return this.#read(async (sql) => {
      try {
        // One statement decides: a new device gets its keys; a known one only a new signed
        // prekey, and only when the identity matches (else no row comes back).
        const set = await sql.query(
          `INSERT INTO device_keys (client_hash, signing_pub, dh_pub, signed_prekey)
           SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM clients WHERE client_hash = $1)
           ON CONFLICT (client_hash) DO UPDATE SET signed_prekey = excluded.signed_prekey
             WHERE device_keys.signing_pub = excluded.signing_pub AND device_keys.dh_pub = excluded.dh_pub`,
          [clientHash, identity.signingPub, identity.dhPub, JSON.stringify(signedPrekey)],
        );
        if (set.rowCount === 1) return 'ok';
      } catch (err) {
        if (pgCode(err) !== FOREIGN_KEY_VIOLATION) throw err; // the device was revoked meanwhile
      }
      const held = await sql.query('SELECT 1 FROM device_keys WHERE client_hash = $1', [clientHash]);
      return held.rowCount === 1 ? 'identity_mismatch' : 'no_client';
    });
  }

  async addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[]): Promise<number> {
    return this.#tx(async (sql) => {
      // FOR KEY SHARE keeps the device's keys from being deleted under the inserts.
      const keys = await sql.query('SELECT 1 FROM device_keys WHERE client_hash = $1 FOR KEY SHARE', [clientHash]);
      if (keys.rowCount === 0) return 0;
      await sql.query(
        `INSERT INTO one_time_prekeys (client_hash, id, pub)
         SELECT $1, p.id, p.pub FROM unnest($2::bigint[], $3::text[]) AS p(id, pub)
         ON CONFLICT DO NOTHING`,
        [clientHash, prekeys.map((p) => p.id), prekeys.map((p) => p.pub)],
      );
      const count = await sql.query<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE client_hash = $1', [
        clientHash,
      ]);
      return count.rows[0]?.n ?? 0;
    });
  }

  async countOneTimePrekeys(clientHash: ClientHash): Promise<number> {
    const row = await this.#one<{ n: number }>('SELECT count(*) AS n FROM one_time_prekeys WHERE client_hash = $1', [
      clientHash,
    ]);
    return row?.n ?? 0;
  }

  async listDeviceIdentities(userHash: UserHash): Promise<{ clientHash: ClientHash; identity: IdentityKeys }[]> {
    const rows = await this.#all<KeysRow>(
      `SELECT k.client_hash AS "clientHash", k.signing_pub AS "signingPub", k.dh_pub AS "dhPub"
       FROM device_keys k JOIN clients c ON c.client_hash = k.client_hash
       WHERE c.user_hash = $1 ORDER BY c.created_at, c.client_hash`,
      [userHash],
    );
    return rows.map((row) => ({ clientHash: row.clientHash, identity: { signingPub: row.signingPub, dhPub: row.dhPub } }));
  }

  async takeBundles(userHash: UserHash): Promise<DeviceBundle[]> {
    // One statement: pick each device's lowest one-time prekey and delete exactly the picked
    // rows. SKIP LOCKED makes a concurrent taker pick the next key instead of waiting and
    // then handing out the same one; a key is only ever returned by the statement that
    // deleted it.
    const rows = await this.#all<KeysRow & { prekeyId: number | null; prekeyPub: string | null }>(
      `WITH picked AS (
         SELECT k.client_hash, k.signing_pub, k.dh_pub, k.signed_prekey, c.created_at, p.id, p.pub
         FROM device_keys k
         JOIN clients c ON c.client_hash = k.client_hash
         LEFT JOIN LATERAL (
           SELECT id, pub FROM one_time_prekeys o WHERE o.client_hash = k.client_hash
           ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
         ) p ON true
         WHERE c.user_hash = $1
       ), taken AS (
         DELETE FROM one_time_prekeys o USING picked WHERE o.client_hash = picked.client_hash AND o.id = picked.id
       )
       SELECT client_hash AS "clientHash", signing_pub AS "signingPub", dh_pub AS "dhPub",
         signed_prekey AS "signedPrekey", id AS "prekeyId", pub AS "prekeyPub"
       FROM picked ORDER BY created_at, client_hash`,
      [userHash],
    );
    return rows.map((row) => ({
      clientHash: row.clientHash,
      bundle: {
        identitySigningPub: row.signingPub,
        identityDhPub: row.dhPub,
        signedPrekey: row.signedPrekey,
        ...(row.prekeyId !== null && row.prekeyPub !== null ? { oneTimePrekey: { id: row.prekeyId, pub: row.prekeyPub } } : {}),
      },
    }));
  }

  // --- moderation ---------------------------------------------------------------
  // Statements live in PostgresModerationTables; it runs them through #read and #tx.

  async addBlock(block: Moderation.BlockRecord) {
    return this.#moderation.addBlock(block);
  }
  async removeBlock(blocker: UserHash, blocked: UserHash) {
    return this.#moderation.removeBlock(blocker, blocked);
  }
  async listBlocks(userHash: UserHash) {
    return this.#moderation.listBlocks(userHash);
  }
  async createReport(report: Moderation.NewReport) {
    return this.#moderation.createReport(report);
  }
  async getReport(reportId: number) {
    return this.#moderation.getReport(reportId);
  }
  async listReports(query: Moderation.ReportQuery) {
    return this.#moderation.listReports(query);
  }
  async resolveReport(
    reportId: number,
    resolution: Moderation.ReportResolution,
    audit: (r: Moderation.ReportRecord) => Moderation.NewAuditRecord,
  ) {
    return this.#moderation.resolveReport(reportId, resolution, audit);
  }
  async countReporters(reported: UserHash, since: number) {
    return this.#moderation.countReporters(reported, since);
  }
  async listReportsAgainst(reported: UserHash, since: number) {
    return this.#moderation.listReportsAgainst(reported, since);
  }
  async countDismissedReports(reporter: UserHash) {
    return this.#moderation.countDismissedReports(reporter);
  }
  async createBan(
    ban: Moderation.NewBan,
    cascade: { layer: Moderation.BanRecord['layer']; target: string }[],
    audit: (bans: Moderation.BanRecord[]) => Moderation.NewAuditRecord,
  ) {
    return this.#moderation.createBan(ban, cascade, audit);
  }
  async revokeBan(
    banId: number,
    revocation: { at: number; by: string },
    audit: (ban: Moderation.BanRecord) => Moderation.NewAuditRecord,
  ) {
    return this.#moderation.revokeBan(banId, revocation, audit);
  }
  async listBans(query: Moderation.BanQuery) {
    return this.#moderation.listBans(query);
  }
  async appendAudit(entry: Moderation.NewAuditRecord) {
    return this.#moderation.appendAudit(entry);
  }

  async purgeReportsOfDeletedUsers(before: number) {
    return this.#moderation.purgeReportsOfDeletedUsers(before);
  }

  async listAudit(query: { beforeId?: number | undefined; limit: number }) {
    return this.#moderation.listAudit(query);
  }
  async recordSighting(sighting: Moderation.SightingRecord) {
    await this.#moderation.recordSighting(sighting);
  }
  async listSightings(userHash: UserHash) {
    return this.#moderation.listSightings(userHash);
  }

  /** Waits for transactions in flight to finish, then closes every connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  // --- plumbing -------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new Error('PostgresStorage is closed');
  }

  /** Resolves when the database answers a trivial query; rejects (UNAVAILABLE) otherwise. */
  async ping(): Promise<void> {
    await this.#read((sql) => sql.query('SELECT 1'));
  }

  /** Statements that need no transaction: each runs on its own pooled connection. */
  async #read<R>(fn: (sql: Sql) => Promise<R>): Promise<R> {
    this.#assertOpen();
    try {
      return await fn(this.#pool);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async #one<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<R | null> {
    return this.#read(async (sql) => (await sql.query<R>(text, values)).rows[0] ?? null);
  }

  async #all<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return this.#read(async (sql) => (await sql.query<R>(text, values)).rows);
  }

  async #changed(text: string, values: unknown[]): Promise<boolean> {
    return this.#read(async (sql) => ((await sql.query(text, values)).rowCount ?? 0) > 0);
  }

  /**
   * Runs `fn` in one transaction on one connection: COMMIT if it resolves, ROLLBACK if it
   * throws (including when a callback of the caller, such as an event or audit builder,
   * throws). A connection whose ROLLBACK failed, or that failed while checked out, is
   * dropped rather than reused. A lost connection fails the call with UNAVAILABLE: if it
   * was lost during COMMIT the write may have landed, so callers retry idempotently.
   */
  async #tx<R>(fn: (sql: Sql) => Promise<R>): Promise<R> {
    this.#assertOpen();
    let client: PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
    let broken: Error | undefined;
    // The pool listens for errors on idle clients only: without this, a connection reset
    // while a transaction holds the client is an uncaught 'error' event that ends the process.
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      try {
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        });
        throw err;
      }
    } catch (err) {
      throw unavailable(err);
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  /**
   * Takes the next id of each user's stream, inside the caller's transaction: one more for
   * every time the user is named. The stream rows stay locked until COMMIT, so a user's ids
   * become visible in increasing order (a stream reads `id > cursor` and must never find a
   * smaller id committed after a larger one), and a rollback gives them back. Only the
   * streams written to are locked, never a row shared by every append; they are locked in
   * one order (after any chat row), so appends cannot deadlock with each other.
   */
  async #nextIds(sql: Sql, userHashes: readonly UserHash[]): Promise<Map<UserHash, number>> {
    const counts = new Map<UserHash, number>();
    for (const u of userHashes) counts.set(u, (counts.get(u) ?? 0) + 1);
    const users = [...counts.keys()].sort();
    const { rows } = await sql.query<{ userHash: UserHash; lastId: number }>(
      `INSERT INTO streams (user_hash, last_event_id)
       SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1
       ON CONFLICT (user_hash) DO UPDATE SET last_event_id = streams.last_event_id + excluded.last_event_id
       RETURNING user_hash AS "userHash", last_event_id AS "lastId"`,
      [users, users.map((u) => counts.get(u))],
    );
    // The first id taken for each user: its new head minus what was taken, plus one.
    return new Map(rows.map((r) => [r.userHash, r.lastId - counts.get(r.userHash)! + 1]));
  }

  /** Appends events inside the caller's transaction, numbered in each user's stream. */
  async #appendEvents(sql: Sql, events: readonly NewEvent[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    const next = await this.#nextIds(sql, events.map((e) => e.userHash));
    const createdAt = this.#clock.now();
    const stored = events.map(({ userHash, type, payload }): StoredEvent => {
      const id = next.get(userHash)!;
      next.set(userHash, id + 1);
      return { id, userHash, type, payload, createdAt };
    });
    await sql.query(
      `INSERT INTO stream_events (user_hash, id, type, payload, created_at)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]), (SELECT $5::bigint) AS t`,
      [stored.map((e) => e.userHash), stored.map((e) => e.id), stored.map((e) => e.type), stored.map((e) => e.payload), createdAt],
    );
    return stored;
  }
}
