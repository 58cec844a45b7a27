import { closeSync, fstatSync, fsync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { ChatId, ClientHash, DeviceBundle, Envelope, IdentityKeys, KemPrekey, Prekey, SignedPrekey, UserHash } from '@omechat/protocol';
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
import { migrate } from './migrations.js';
import type * as Moderation from '../../ports/storage.js';
import { SqliteModerationTables } from './sqlite-moderation.js';

export interface SqliteStorageOptions {
  /** A file path, or ':memory:' for a throwaway database. */
  file: string;
  /** Stamps `createdAt` on events. */
  clock?: Clock;
  /**
   * Told when an fsync of the WAL fails. Nothing written after it can be acknowledged, so
   * the default throws (the process stops) rather than leave every later write hanging.
   */
  onFatal?: (error: Error) => void;
  /**
   * Resolve writes once committed, without waiting for the WAL's fsync (OMECHAT_SQLITE_ACK=
   * before-fsync): a power cut or kernel crash can then lose acknowledged writes.
   */
  ackBeforeFsync?: boolean;
  /** Told when a background checkpoint fails; the next one tries again. */
  onCheckpointError?: (error: Error) => void;
  /**
   * Once the WAL passes this many bytes, a checkpoint folds it into the database file and
   * restarts it (see #checkpoint). Default 64 MiB: each checkpoint holds commits for about three
   * fsyncs, so a larger WAL means fewer holds; its high-water mark stays under ~2x this.
   */
  walCheckpointBytes?: number;
  /** How often counters are written back (COUNTERS_SAVE_MS); tests raise it to act out a crash. */
  countersSaveMs?: number;
}

/** What the WAL and its checkpoints have done since the storage opened (see figures()). */
export type SqliteFigures = {
  /** Bytes of WAL in use now (header and frames since it last restarted). */
  sqlite_wal_bytes: number;
  /** The most bytes of WAL in use at once (measured after every commit). */
  sqlite_wal_high_water_bytes: number;
  /** The WAL file's length: it keeps the longest the WAL has been, and is reused from its start. */
  sqlite_wal_file_bytes: number;
  /** Checkpoints that emptied the WAL. */
  sqlite_checkpoints: number;
  /** Checkpoints a reader kept from emptying the WAL (tried again later). */
  sqlite_checkpoints_busy: number;
  /** Seconds new commits waited while a checkpoint finished. */
  sqlite_checkpoint_hold_seconds: number;
};

interface ChatRow extends Omit<ChatRecord, 'members'> {
  userA: UserHash;
  userB: UserHash;
}
interface MessageRow extends Omit<MessageRecord, 'envelope'> {
  envelope: string;
}
/** How often a WAL that has not reached its size limit is checkpointed anyway (an idle server). */
const CHECKPOINT_INTERVAL_MS = 2_000;
const WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Counters kept in memory before they are dropped and read again as needed. */
const COUNTERS_KEPT = 100_000;
/**
 * How often the counters a message moves (its chat's last seq, both members' stream heads)
 * are written back. Written with every commit they were 3 of the ~7 pages a message wrote to
 * the WAL (bench/wal-pages.ts); the messages themselves say where they stand, so a counter
 * behind its file after a crash is caught up when read (#chatCounters, #head).
 */
const COUNTERS_SAVE_MS = 1_000;
/** From sqlite-checkpointer.mjs. */
type CheckpointerMessage =
  | { step: 'copied'; error?: string }
  | { step: 'completed'; busy: number; ms: number; error?: string }
  | { step: 'closing'; error: string };
type CursorMove = { chatId: ChatId; userHash: UserHash; seq: number };
interface ChatCounters {
  state: ChatRecord['state'];
  lastSeq: number;
  lastActivityAt: number;
  userA: UserHash;
  userB: UserHash;
}
type StreamRow = { id: number; type: string | null; payload: string | null; createdAt: number | null } & {
  [K in keyof MessageRow]: MessageRow[K] | null;
};

const USER = `user_hash AS userHash, username, username_key AS usernameKey, age,
  secret_hash AS secretHash, created_at AS createdAt`;
const CLIENT = `client_hash AS clientHash, user_hash AS userHash, token_hash AS tokenHash,
  device_name AS deviceName, created_at AS createdAt, last_seen_at AS lastSeenAt`;
const CHAT = `chat_id AS chatId, user_a AS userA, user_b AS userB, state, created_at AS createdAt,
  ended_at AS endedAt, end_reason AS endReason, last_seq AS lastSeq,
  last_activity_at AS lastActivityAt`;
const MESSAGE = `chat_id AS chatId, seq, message_id AS messageId,
  sender_user_hash AS senderUserHash, sender_client_hash AS senderClientHash,
  client_message_id AS clientMessageId, envelope, sent_at AS sentAt`;
const MESSAGE_IN_STREAM = `m.chat_id, m.seq, m.message_id, m.sender_user_hash, m.sender_client_hash,
  m.client_message_id, m.envelope, m.sent_at`;
const CURSOR = `chat_id AS chatId, user_hash AS userHash, delivered_seq AS deliveredSeq,
  read_seq AS readSeq`;

function prepareStatements(db: Database.Database) {
  return {
    getUser: db.prepare<[UserHash], UserRecord>(`SELECT ${USER} FROM users WHERE user_hash = ?`),
    getUserByKey: db.prepare<[string], UserRecord>(
      `SELECT ${USER} FROM users WHERE username_key = ?`,
    ),
    insertUser: db.prepare<UserRecord>(
      `INSERT INTO users (user_hash, username, username_key, age, secret_hash, created_at)
       VALUES (@userHash, @username, @usernameKey, @age, @secretHash, @createdAt)`,
    ),
    setSecretHash: db.prepare<[string, UserHash]>(
      'UPDATE users SET secret_hash = ? WHERE user_hash = ?',
    ),
    deleteUser: db.prepare<[UserHash]>('DELETE FROM users WHERE user_hash = ?'),
    // Messages and cursors follow through ON DELETE CASCADE.
    // Only chats whose other member has no account either: the peer keeps the rest.
    deleteChatsOf: db.prepare<{ userHash: UserHash }>(
      `DELETE FROM chats WHERE (user_a = @userHash AND user_b NOT IN (SELECT user_hash FROM users))
         OR (user_b = @userHash AND user_a NOT IN (SELECT user_hash FROM users))`,
    ),
    deleteCursorsOf: db.prepare<[UserHash]>('DELETE FROM chat_cursors WHERE user_hash = ?'),
    deleteEventsOf: db.prepare<[UserHash]>('DELETE FROM stream_events WHERE user_hash = ?'),
    deleteStreamOf: db.prepare<[UserHash]>('DELETE FROM streams WHERE user_hash = ?'),

    getClient: db.prepare<[ClientHash], ClientRecord>(
      `SELECT ${CLIENT} FROM clients WHERE client_hash = ?`,
    ),
    listClients: db.prepare<[UserHash], ClientRecord>(
      `SELECT ${CLIENT} FROM clients WHERE user_hash = ? ORDER BY created_at, client_hash`,
    ),
    insertClient: db.prepare<ClientRecord>(
      `INSERT INTO clients (client_hash, user_hash, token_hash, device_name, created_at,
         last_seen_at)
       VALUES (@clientHash, @userHash, @tokenHash, @deviceName, @createdAt, @lastSeenAt)`,
    ),
    deleteClient: db.prepare<[ClientHash]>('DELETE FROM clients WHERE client_hash = ?'),
    touchClient: db.prepare<[number, ClientHash]>(
      'UPDATE clients SET last_seen_at = ? WHERE client_hash = ?',
    ),

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
    recordMessageInChat: db.prepare<[number, number, ChatId]>(
      `UPDATE chats SET last_seq = ?, last_activity_at = MAX(last_activity_at, ?)
       WHERE chat_id = ?`,
    ),

    chatCounters: db.prepare<[ChatId], ChatCounters>(
      `SELECT state, last_seq AS lastSeq, last_activity_at AS lastActivityAt, user_a AS userA, user_b AS userB
       FROM chats WHERE chat_id = ?`,
    ),
    lastMessage: db.prepare<[ChatId], { seq: number; sentAt: number }>(
      'SELECT seq, sent_at AS sentAt FROM messages WHERE chat_id = ? ORDER BY seq DESC LIMIT 1',
    ),
    // The newest id in the user's stream, from the events and messages still stored.
    streamTop: db
      .prepare<{ userHash: UserHash }, number | null>(
        `SELECT max(top) FROM (
           SELECT max(id) AS top FROM stream_events WHERE user_hash = @userHash
           UNION ALL SELECT (SELECT max(event_id_a) FROM messages m WHERE m.chat_id = c.chat_id) FROM chats c WHERE c.user_a = @userHash
           UNION ALL SELECT (SELECT max(event_id_b) FROM messages m WHERE m.chat_id = c.chat_id) FROM chats c WHERE c.user_b = @userHash)`,
      )
      .pluck(),
    findDuplicate: db.prepare<[ChatId, ClientHash, string], MessageRow>(
      `SELECT ${MESSAGE} FROM messages
       WHERE chat_id = ? AND sender_client_hash = ? AND client_message_id = ?`,
    ),
    insertMessage: db.prepare<MessageRow & { eventIdA: number; eventIdB: number }>(
      `INSERT INTO messages (chat_id, seq, message_id, sender_user_hash, sender_client_hash,
         client_message_id, envelope, sent_at, event_id_a, event_id_b)
       VALUES (@chatId, @seq, @messageId, @senderUserHash, @senderClientHash, @clientMessageId,
         @envelope, @sentAt, @eventIdA, @eventIdB)`,
    ),
    getMessages: db.prepare<[ChatId, number, number], MessageRow>(
      `SELECT ${MESSAGE} FROM messages WHERE chat_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
    ),
    purgeMessages: db.prepare<[number]>('DELETE FROM messages WHERE sent_at < ?'),

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

    // The user's stream row outlives purged events, so an id is never handed out twice.
    saveStreamHead: db.prepare<[UserHash, number]>(
      `INSERT INTO streams (user_hash, last_event_id) VALUES (?, ?)
       ON CONFLICT (user_hash) DO UPDATE SET last_event_id = excluded.last_event_id`,
    ),
    streamHead: db.prepare<[UserHash], number>('SELECT last_event_id FROM streams WHERE user_hash = ?').pluck(),
    insertEvent: db.prepare<[UserHash, number, string, string, number]>(
      'INSERT INTO stream_events (user_hash, id, type, payload, created_at) VALUES (?, ?, ?, ?, ?)',
    ),
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
    purgeEvents: db.prepare<[number]>('DELETE FROM stream_events WHERE created_at < ?'),
  };
}
type Statements = ReturnType<typeof prepareStatements>;

interface KeysRow {
  clientHash: ClientHash;
  signingPub: string;
  dhPub: string;
  signedPrekey: string;
  lastResortKemPrekey: string | null;
}

function prepareKeyStatements(db: Database.Database) {
  return {
    setLastResortKem: db.prepare<[string, ClientHash]>('UPDATE device_keys SET last_resort_kem_prekey = ? WHERE client_hash = ?'),
    insertKemPrekey: db.prepare<[ClientHash, number, string, string]>(
      'INSERT OR IGNORE INTO one_time_kem_prekeys (client_hash, id, pub, signature) VALUES (?, ?, ?, ?)',
    ),
    countKemPrekeys: db.prepare<[ClientHash], number>('SELECT count(*) FROM one_time_kem_prekeys WHERE client_hash = ?').pluck(),
    firstKemPrekey: db.prepare<[ClientHash], KemPrekey>(
      'SELECT id, pub, signature FROM one_time_kem_prekeys WHERE client_hash = ? ORDER BY id LIMIT 1',
    ),
    deleteKemPrekey: db.prepare<[ClientHash, number]>('DELETE FROM one_time_kem_prekeys WHERE client_hash = ? AND id = ?'),
    getKeys: db.prepare<[ClientHash], KeysRow>(
      `SELECT client_hash AS clientHash, signing_pub AS signingPub, dh_pub AS dhPub, signed_prekey AS signedPrekey,
         last_resort_kem_prekey AS lastResortKemPrekey FROM device_keys WHERE client_hash = ?`,
    ),
    upsertKeys: db.prepare<[ClientHash, string, string, string]>(
      `INSERT INTO device_keys (client_hash, signing_pub, dh_pub, signed_prekey) VALUES (?, ?, ?, ?)
       ON CONFLICT (client_hash) DO UPDATE SET signed_prekey = excluded.signed_prekey`,
    ),
    insertPrekey: db.prepare<[ClientHash, number, string]>(
      'INSERT OR IGNORE INTO one_time_prekeys (client_hash, id, pub) VALUES (?, ?, ?)',
    ),
    countPrekeys: db.prepare<[ClientHash], number>('SELECT count(*) FROM one_time_prekeys WHERE client_hash = ?').pluck(),
    firstPrekey: db.prepare<[ClientHash], Prekey>(
      'SELECT id, pub FROM one_time_prekeys WHERE client_hash = ? ORDER BY id LIMIT 1',
    ),
    deletePrekey: db.prepare<[ClientHash, number]>('DELETE FROM one_time_prekeys WHERE client_hash = ? AND id = ?'),
    keysOfUser: db.prepare<[UserHash], KeysRow>(
      `SELECT k.client_hash AS clientHash, k.signing_pub AS signingPub, k.dh_pub AS dhPub, k.signed_prekey AS signedPrekey,
         k.last_resort_kem_prekey AS lastResortKemPrekey
       FROM device_keys k JOIN clients c ON c.client_hash = k.client_hash
       WHERE c.user_hash = ? ORDER BY c.created_at, c.client_hash`,
    ),
  };
}

const toChat = ({ userA, userB, ...rest }: ChatRow): ChatRecord => ({
  ...rest,
  members: [userA, userB],
});
const toMessage = (row: MessageRow): MessageRecord => ({
  ...row,
  envelope: JSON.parse(row.envelope) as Envelope,
});
/** The message columns of a row that has others too. */
const messageOf = (row: MessageRow): MessageRecord => ({
  chatId: row.chatId,
  seq: row.seq,
  messageId: row.messageId,
  senderUserHash: row.senderUserHash,
  senderClientHash: row.senderClientHash,
  clientMessageId: row.clientMessageId,
  envelope: JSON.parse(row.envelope) as Envelope,
  sentAt: row.sentAt,
});

/**
 * Storage in one SQLite file: the default for a single server process. better-sqlite3 is
 * synchronous, so by the time a method resolves its transaction has committed.
 */
export class SqliteStorage implements Storage {
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #statements: Statements;
  readonly #keys: ReturnType<typeof prepareKeyStatements>;
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  readonly #pending: { run: () => unknown; resolve: (value: unknown) => void; reject: (error: unknown) => void }[] = [];
  readonly #moderation: SqliteModerationTables;
  /** The WAL, open for fstat (its size) and, unless acks come before the fsync, for fsync. */
  readonly #walFd: number | null = null;
  readonly #shmFd: number | null = null;
  readonly #mxFrame = new Uint32Array(1);
  readonly #pageSize: number;
  readonly #fsyncBeforeAck: boolean = false;
  #checkpointer: Worker | null = null;
  readonly #walCheckpointBytes: number;
  readonly #onCheckpointError: (error: Error) => void;
  /** idle -> copying (commits go on) -> holding (commits wait) -> idle; see #checkpoint. */
  #checkpointStep: 'idle' | 'copying' | 'holding' = 'idle';
  #holdStartedAt = 0;
  #checkpointTimer: NodeJS.Timeout | undefined;
  readonly #checkpointIdle: (() => void)[] = [];
  readonly #figures: SqliteFigures = {
    sqlite_wal_bytes: 0,
    sqlite_wal_high_water_bytes: 0,
    sqlite_wal_file_bytes: 0,
    sqlite_checkpoints: 0,
    sqlite_checkpoints_busy: 0,
    sqlite_checkpoint_hold_seconds: 0,
  };
  #closing: Promise<void> | undefined;
  #closeStarted = false;
  readonly #chats = new Map<ChatId, ChatCounters>();
  readonly #heads = new Map<UserHash, number>();
  /** Chats whose last seq moved since the counters were last written back. */
  readonly #dirtyChats = new Set<ChatId>();
  #countersSavedAt = 0;
  readonly #countersSaveMs: number;
  readonly #dirtyHeads = new Set<UserHash>();
  readonly #syncWaiters: (() => void)[] = [];
  #syncing = false;
  readonly #onFatal: (error: Error) => void;

  constructor({
    file,
    clock = systemClock,
    onFatal = (error) => {
      throw error;
    },
    onCheckpointError = () => undefined,
    ackBeforeFsync = false,
    walCheckpointBytes = WAL_CHECKPOINT_BYTES,
    countersSaveMs = COUNTERS_SAVE_MS,
  }: SqliteStorageOptions) {
    this.#clock = clock;
    this.#countersSaveMs = countersSaveMs;
    this.#walCheckpointBytes = walCheckpointBytes;
    this.#onCheckpointError = onCheckpointError;
    const db = (this.#db = new Database(file));
    db.pragma('journal_mode = WAL');
    // In WAL mode NORMAL only fsyncs at checkpoints; #write fsyncs the WAL itself after each
    // commit, off the event loop, before any write of that commit resolves (see #write).
    db.pragma('synchronous = NORMAL');
    // Checkpoints run in a worker thread (sqlite-checkpointer.mjs), not inside a commit here.
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('foreign_keys = ON');
    // Another process (a CLI admin command, a backup) may hold the write lock briefly.
    db.pragma('busy_timeout = 5000');
    migrate(db);
    this.#pageSize = Number(db.pragma('page_size', { simple: true }));
    this.#statements = prepareStatements(db);
    this.#keys = prepareKeyStatements(db);
    this.#transaction = db.transaction((fn: () => unknown) => fn());
    this.#onFatal = onFatal;
    if (file !== ':memory:' && file !== '') {
      // The WAL exists once journal_mode=WAL is set and stays while a connection is open.
      // Without the fsync through it, the checkpointer's fsyncs are the only ones.
      this.#walFd = openSync(`${file}-wal`, 'r');
      this.#shmFd = openSync(`${file}-shm`, 'r');
      this.#fsyncBeforeAck = !ackBeforeFsync;
      // The first commit into an empty WAL fsyncs its header on the committing thread: let
      // that be now, while starting, rather than on the event loop of a running server.
      if (this.#measureWal() === 0) db.pragma(`user_version = ${Number(db.pragma('user_version', { simple: true }))}`);
      const checkpointer = (this.#checkpointer = new Worker(new URL('./sqlite-checkpointer.mjs', import.meta.url), {
        workerData: { file, walCheckpointBytes },
      }));
      checkpointer.unref();
      checkpointer.on('message', (m: CheckpointerMessage) => this.#onCheckpointerMessage(m));
      checkpointer.on('error', (error) => this.#checkpointerLost(error));
      checkpointer.on('exit', () => this.#checkpointerLost(new Error('the SQLite checkpointer thread exited')));
      this.#checkpointTimer = setInterval(() => {
        // An idle server's WAL is folded in too; one that holds only the frame a checkpoint
        // leaves (see sqlite-checkpointer.mjs) needs nothing.
        if (this.#measureWal() > 32 + 2 * (24 + 65536)) this.#checkpoint();
      }, CHECKPOINT_INTERVAL_MS);
      this.#checkpointTimer.unref();
    }
    this.#moderation = new SqliteModerationTables(db, (fn) => this.#write(fn), () => this.#sql());
  }

  async createUser(user: UserRecord): Promise<CreateUserResult> {
    return this.#write((sql) => {
      if (sql.getUser.get(user.userHash)) return 'user_exists';
      if (sql.getUserByKey.get(user.usernameKey)) return 'username_taken';
      sql.insertUser.run(user);
      return 'created';
    });
  }

  async getUser(userHash: UserHash): Promise<UserRecord | null> {
    return this.#sql().getUser.get(userHash) ?? null;
  }

  async getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null> {
    return this.#sql().getUserByKey.get(usernameKey) ?? null;
  }

  async setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean> {
    return this.#write((sql) => sql.setSecretHash.run(secretHash, userHash).changes > 0);
  }

  async deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]> {
    return this.#write((sql) => {
      const clientHashes = sql.listClients.all(userHash).map((c) => c.clientHash);
      const chats = sql.listChats.all({ userHash });
      // The peers' stream heads must not fall back with the messages of the chats erased.
      this.#saveCounters();
      this.#heads.delete(userHash);
      this.#dirtyHeads.delete(userHash);
      sql.deleteChatsOf.run({ userHash });
      // The counters of the chats that went go too; the peers keep the others, counters and all.
      for (const { chatId } of chats) {
        if (sql.getChat.get(chatId)) continue;
        this.#chats.delete(chatId);
        this.#dirtyChats.delete(chatId);
      }
      sql.deleteCursorsOf.run(userHash);
      sql.deleteEventsOf.run(userHash);
      sql.deleteStreamOf.run(userHash);
      this.#moderation.eraseUser(userHash, at);
      sql.deleteUser.run(userHash); // clients follow through ON DELETE CASCADE
      return clientHashes;
    });
  }

  async createClient(client: ClientRecord): Promise<CreateClientResult> {
    return this.#write((sql) => {
      if (sql.getClient.get(client.clientHash)) return 'client_exists';
      if (!sql.getUser.get(client.userHash)) return 'no_user';
      sql.insertClient.run(client);
      return 'created';
    });
  }

  async getClient(clientHash: ClientHash): Promise<ClientRecord | null> {
    return this.#sql().getClient.get(clientHash) ?? null;
  }

  async listClients(userHash: UserHash): Promise<ClientRecord[]> {
    return this.#sql().listClients.all(userHash);
  }

  async deleteClient(clientHash: ClientHash): Promise<boolean> {
    return this.#write((sql) => sql.deleteClient.run(clientHash).changes > 0);
  }

  async touchClient(clientHash: ClientHash, at: number): Promise<void> {
    await this.#write((sql) => sql.touchClient.run(at, clientHash));
  }

  async createChat(chat: ChatRecord, events: NewEvent[]): Promise<StoredEvent[]> {
    return this.#write((sql) => {
      const [userA, userB] = chat.members;
      sql.insertChat.run({ ...chat, userA, userB });
      this.#chats.set(chat.chatId, { state: chat.state, lastSeq: chat.lastSeq, lastActivityAt: chat.lastActivityAt, userA, userB });
      for (const userHash of chat.members) sql.insertCursor.run(chat.chatId, userHash);
      return this.#append(events);
    });
  }

  async getChat(chatId: ChatId): Promise<ChatRecord | null> {
    const row = this.#sql().getChat.get(chatId);
    return row ? this.#toChat(row) : null;
  }

  async listChats(userHash: UserHash): Promise<ChatRecord[]> {
    return this.#sql().listChats.all({ userHash }).map((row) => this.#toChat(row));
  }

  /** The row with the counters kept here, which the file may not have yet. */
  #toChat(row: ChatRow): ChatRecord {
    const { lastSeq, lastActivityAt } = this.#chatCounters(row.chatId)!;
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
      const cached = this.#chats.get(chatId);
      if (cached) cached.state = 'ended';
      return this.#append(events);
    });
  }

  async appendMessage(message: Omit<MessageRecord, 'seq'>): Promise<AppendMessageResult> {
    return this.#write((sql): AppendMessageResult => {
      const { chatId, senderClientHash, clientMessageId, sentAt } = message;
      const chat = this.#chatCounters(chatId);
      if (!chat) return { status: 'no_chat' };
      const duplicate = () => {
        const first = sql.findDuplicate.get(chatId, senderClientHash, clientMessageId);
        return first ? ({ status: 'duplicate', message: toMessage(first) } as const) : null;
      };
      // A retry of a message stored just before the chat ended still deserves its ack.
      if (chat.state !== 'active') return duplicate() ?? { status: 'chat_ended' };

      const seq = chat.lastSeq + 1;
      const streamIds: [number, number] = [this.#head(chat.userA) + 1, this.#head(chat.userB) + 1];
      try {
        sql.insertMessage.run({
          ...message,
          seq,
          envelope: JSON.stringify(message.envelope),
          eventIdA: streamIds[0],
          eventIdB: streamIds[1],
        });
      } catch (error) {
        // The idempotency index refused it: a retry (rare, so found after the fact).
        const first = (error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' ? duplicate() : null;
        if (first) return first;
        throw error;
      }
      chat.lastSeq = seq;
      chat.lastActivityAt = Math.max(chat.lastActivityAt, sentAt);
      this.#dirtyChats.add(chatId);
      this.#setHead(chat.userA, streamIds[0]);
      this.#setHead(chat.userB, streamIds[1]);
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
      return advance.run({ chatId, userHash, seq }).changes === 0 ? null : this.#append(events);
    });
  }

  async appendEvents(events: NewEvent[]): Promise<StoredEvent[]> {
    return this.#write(() => this.#append(events));
  }

  async readStream(userHash: UserHash, afterId: number, limit: number): Promise<StreamEntry[]> {
    // SQLite reads a negative LIMIT as "no limit".
    const rows = this.#sql().readStream.all({ userHash, after: afterId, limit: Math.max(0, limit) });
    return rows.map((row): StreamEntry =>
      row.type !== null
        ? { id: row.id, userHash, type: row.type, payload: row.payload!, createdAt: row.createdAt! }
        : { id: row.id, userHash, message: messageOf(row as MessageRow) },
    );
  }

  async streamHead(userHash: UserHash): Promise<number> {
    this.#sql();
    return this.#head(userHash);
  }

  async purgeOlderThan(before: number): Promise<{ messages: number; events: number }> {
    return this.#write((sql) => {
      // Counters first: they must not fall back with the newest messages or events purged.
      this.#saveCounters();
      return {
        messages: sql.purgeMessages.run(before).changes,
        events: sql.purgeEvents.run(before).changes,
      };
    });
  }

  // --- end-to-end keys ---------------------------------------------------------
  async setDeviceKeys(clientHash: ClientHash, identity: IdentityKeys, signedPrekey: SignedPrekey, lastResortKemPrekey?: KemPrekey) {
    return this.#write((sql) => {
      if (!sql.getClient.get(clientHash)) return 'no_client' as const;
      const held = this.#keys.getKeys.get(clientHash);
      if (held && (held.signingPub !== identity.signingPub || held.dhPub !== identity.dhPub)) return 'identity_mismatch' as const;
      this.#keys.upsertKeys.run(clientHash, identity.signingPub, identity.dhPub, JSON.stringify(signedPrekey));
      if (lastResortKemPrekey) this.#keys.setLastResortKem.run(JSON.stringify(lastResortKemPrekey), clientHash);
      return 'ok' as const;
    });
  }

  async addOneTimeKemPrekeys(clientHash: ClientHash, prekeys: KemPrekey[], limit = Infinity): Promise<number> {
    return this.#write(() => {
      if (!this.#keys.getKeys.get(clientHash)) return 0;
      const room = limit - (this.#keys.countKemPrekeys.get(clientHash) ?? 0);
      for (const p of prekeys.slice(0, Math.max(0, room))) this.#keys.insertKemPrekey.run(clientHash, p.id, p.pub, p.signature);
      return this.#keys.countKemPrekeys.get(clientHash) ?? 0;
    });
  }

  async countKemPrekeys(clientHash: ClientHash) {
    this.#sql();
    return {
      oneTime: this.#keys.countKemPrekeys.get(clientHash) ?? 0,
      hasLastResort: (this.#keys.getKeys.get(clientHash)?.lastResortKemPrekey ?? null) !== null,
    };
  }

  async addOneTimePrekeys(clientHash: ClientHash, prekeys: Prekey[], limit = Infinity): Promise<number> {
    return this.#write(() => {
      if (!this.#keys.getKeys.get(clientHash)) return 0;
      // Counted inside the write transaction: concurrent uploads cannot overshoot the limit.
      const room = limit - (this.#keys.countPrekeys.get(clientHash) ?? 0);
      for (const p of prekeys.slice(0, Math.max(0, room))) this.#keys.insertPrekey.run(clientHash, p.id, p.pub);
      return this.#keys.countPrekeys.get(clientHash) ?? 0;
    });
  }

  async countOneTimePrekeys(clientHash: ClientHash): Promise<number> {
    this.#sql();
    return this.#keys.countPrekeys.get(clientHash) ?? 0;
  }

  async listDeviceIdentities(userHash: UserHash) {
    this.#sql();
    return this.#keys.keysOfUser.all(userHash).map((row) => ({
      clientHash: row.clientHash,
      identity: { signingPub: row.signingPub, dhPub: row.dhPub },
    }));
  }

  async takeBundles(userHash: UserHash): Promise<DeviceBundle[]> {
    return this.#write(() =>
      this.#keys.keysOfUser.all(userHash).map((row) => {
        const oneTimePrekey = this.#keys.firstPrekey.get(row.clientHash);
        if (oneTimePrekey) this.#keys.deletePrekey.run(row.clientHash, oneTimePrekey.id);
        const oneTimeKem = this.#keys.firstKemPrekey.get(row.clientHash);
        if (oneTimeKem) this.#keys.deleteKemPrekey.run(row.clientHash, oneTimeKem.id);
        const kemPrekey = oneTimeKem ?? (row.lastResortKemPrekey === null ? undefined : (JSON.parse(row.lastResortKemPrekey) as KemPrekey));
        return {
          clientHash: row.clientHash,
          bundle: {
            identitySigningPub: row.signingPub,
            identityDhPub: row.dhPub,
            signedPrekey: JSON.parse(row.signedPrekey) as SignedPrekey,
            ...(oneTimePrekey ? { oneTimePrekey } : {}),
            ...(kemPrekey ? { kemPrekey } : {}),
          },
        };
      }),
    );
  }

  // --- moderation -------------------------------------------------------------
  // Statements live in SqliteModerationTables; it runs them through #write and #sql.

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
  async resolveReport(reportId: number, resolution: Moderation.ReportResolution, audit: (r: Moderation.ReportRecord) => Moderation.NewAuditRecord) {
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
  async createBan(ban: Moderation.NewBan, cascade: { layer: Moderation.BanRecord['layer']; target: string }[], audit: (bans: Moderation.BanRecord[]) => Moderation.NewAuditRecord) {
    return this.#moderation.createBan(ban, cascade, audit);
  }
  async revokeBan(banId: number, revocation: { at: number; by: string }, audit: (ban: Moderation.BanRecord) => Moderation.NewAuditRecord) {
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

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    if (!this.#db.open) return;
    this.#closeStarted = true;
    clearInterval(this.#checkpointTimer);
    // A checkpoint under way finishes first: while it holds commits, #flush commits nothing.
    if (this.#checkpointStep !== 'idle') await new Promise<void>((resolve) => this.#checkpointIdle.push(resolve));
    // Writes already accepted are committed before the file closes, and acknowledged once on
    // disk, before the descriptor they sync through goes away. The fsync that ends may start
    // another (for writes that queued while it ran), so wait until none runs.
    void this.#write(() => this.#saveCounters());
    do {
      this.#flush();
      await new Promise<void>((resolve) => this.#afterSync(resolve));
    } while (this.#syncing || this.#pending.length > 0);
    if (!this.#db.open) return;
    // Not the last connection (the checkpointer's are open), so closing does not checkpoint
    // on this thread...
    this.#db.close();
    if (this.#walFd !== null) closeSync(this.#walFd);
    if (this.#shmFd !== null) closeSync(this.#shmFd);
    const checkpointer = this.#checkpointer;
    if (checkpointer) {
      // ...the checkpointer's last one does, and deletes the WAL (see sqlite-checkpointer.mjs).
      this.#checkpointer = null;
      checkpointer.ref(); // keeps the process alive until the thread has closed its connections
      const exited = new Promise((resolve) => checkpointer.once('exit', resolve));
      checkpointer.postMessage('close');
      await exited;
    }
  }

  /** The WAL's size and how it has been checkpointed, for /metrics and benchmarks. */
  figures(): SqliteFigures {
    if (this.#db.open) {
      this.#measureWal();
      if (this.#walFd !== null) this.#figures.sqlite_wal_file_bytes = fstatSync(this.#walFd).size;
    }
    return { ...this.#figures };
  }

  /**
   * The bytes of WAL in use now, and their high-water mark. A restarted WAL is written from
   * its start again and its file keeps its length, so the count of frames comes from the
   * wal-index header (mxFrame, a u32 at byte 16 of the -shm file, in this machine's byte
   * order): one 4-byte pread per commit.
   */
  #measureWal(): number {
    if (this.#shmFd === null) return 0;
    const frames = readSync(this.#shmFd, this.#mxFrame, 0, 4, 16) === 4 ? this.#mxFrame[0]! : 0;
    const bytes = frames === 0 ? 0 : 32 + frames * (this.#pageSize + 24);
    this.#figures.sqlite_wal_bytes = bytes;
    if (bytes > this.#figures.sqlite_wal_high_water_bytes) this.#figures.sqlite_wal_high_water_bytes = bytes;
    return bytes;
  }

  /**
   * Folds the WAL into the database file and empties it, in two steps run by the
   * checkpointer thread (sqlite-checkpointer.mjs): it copies what is there while commits go
   * on, then commits wait while it copies what arrived meanwhile and starts a new WAL. A
   * checkpoint that never holds commits never catches up under steady load, and the WAL
   * then grows without bound (1.5 GB in 14 s at 500 pairs).
   */
  #checkpoint(): void {
    if (this.#checkpointStep !== 'idle' || !this.#checkpointer || this.#closeStarted) return;
    this.#checkpointStep = 'copying';
    this.#checkpointer.postMessage('copy');
  }

  #onCheckpointerMessage(message: CheckpointerMessage): void {
    if (message.error !== undefined) this.#onCheckpointError(new Error(message.error));
    if (message.step === 'copied' && this.#checkpointStep === 'copying') {
      // No commit is under way (they run synchronously on this thread): from here until
      // 'completed', #flush leaves writes queued.
      this.#checkpointStep = 'holding';
      this.#holdStartedAt = performance.now();
      this.#checkpointer?.postMessage('complete');
    } else if (message.step === 'completed' && this.#checkpointStep === 'holding') {
      if (message.busy === 0) this.#figures.sqlite_checkpoints++;
      else this.#figures.sqlite_checkpoints_busy++;
      this.#release();
    }
  }

  /** Ends a hold: commits what queued meanwhile (or lets the fsync under way do it). */
  #release(): void {
    if (this.#checkpointStep === 'holding') {
      this.#figures.sqlite_checkpoint_hold_seconds += (performance.now() - this.#holdStartedAt) / 1000;
    }
    this.#checkpointStep = 'idle';
    if (this.#db.open) this.#measureWal();
    for (const resume of this.#checkpointIdle.splice(0)) resume();
    if (this.#pending.length > 0 && !this.#syncing) this.#flush();
  }

  /** The thread failed: checkpoints stop (the WAL then grows), but writes must not wait forever. */
  #checkpointerLost(error: Error): void {
    if (!this.#checkpointer) return; // closed on purpose
    this.#checkpointer = null;
    clearInterval(this.#checkpointTimer);
    this.#onCheckpointError(error);
    this.#release();
  }

  #sql(): Statements {
    if (!this.#db.open) throw new Error('SqliteStorage is closed');
    return this.#statements;
  }

  /**
   * Group commit. Queued writes run in one transaction; the commit itself does not fsync
   * (synchronous=NORMAL), and the batch's promises resolve only once an fsync of the WAL that
   * started after the commit has finished. So "resolved means durable" holds as with
   * synchronous=FULL (the committed WAL frames are on disk before anyone is told), but the
   * fsync runs on libuv's thread pool and the event loop never waits for it. While an fsync
   * runs, writes queue up and are committed together when it ends: they would have waited
   * for the next fsync anyway, and one commit of many writes costs far less than many.
   * IMMEDIATE takes the write lock up front, so a writer in another process waits on
   * busy_timeout instead of failing with SQLITE_BUSY.
   */
  #write<R>(fn: (sql: Statements) => R): Promise<R> {
    const sql = this.#sql();
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ run: () => fn(sql), resolve: resolve as (value: unknown) => void, reject });
      if (this.#pending.length === 1 && !this.#syncing) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    if (this.#checkpointStep === 'holding') return; // #release commits them
    const batch = this.#pending.splice(0);
    if (batch.length === 0 || !this.#db.open) return;
    let outcomes: { ok: boolean; value: unknown }[];
    const now = performance.now();
    const forget = this.#chats.size + this.#heads.size > COUNTERS_KEPT;
    const saveCounters = forget || now - this.#countersSavedAt >= this.#countersSaveMs;
    try {
      // The common case: every write succeeds, and none pays for a savepoint of its own.
      outcomes = this.#transaction.immediate(() => {
        const done = batch.map((write) => ({ ok: true, value: write.run() }));
        if (saveCounters) this.#saveCounters();
        return done;
      }) as typeof outcomes;
      if (saveCounters) this.#countersSavedAt = now;
      if (forget) this.#forgetCounters();
    } catch {
      this.#forgetCounters();
      // Some write threw and the batch rolled back: run each again on its own, so one bad
      // write fails alone. Writes only read and change the database, so running one again
      // after a rollback is the same as running it once.
      outcomes = batch.map((write) => {
        try {
          return {
            ok: true,
            value: this.#transaction.immediate(() => {
              const value = write.run();
              this.#saveCounters();
              return value;
            }),
          };
        } catch (error) {
          this.#forgetCounters();
          return { ok: false, value: error };
        }
      });
    }
    // The WAL only grows at a commit, so measuring after each one finds its high-water mark.
    if (this.#measureWal() >= this.#walCheckpointBytes) this.#checkpoint();
    this.#afterSync(() =>
      batch.forEach((write, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) write.resolve(outcome.value);
        else write.reject(outcome.value);
      }),
    );
  }

  /** Runs `done` once everything committed so far is on disk. */
  #afterSync(done: () => void): void {
    if (!this.#fsyncBeforeAck) return done(); // in memory, or acknowledged before the fsync
    this.#syncWaiters.push(done);
    if (!this.#syncing) this.#sync();
  }

  #sync(): void {
    const waiters = this.#syncWaiters.splice(0);
    this.#syncing = true;
    fsync(this.#walFd!, (error) => {
      this.#syncing = false;
      // An fsync that fails leaves the page cache state unknown (the kernel may have dropped
      // the dirty pages): nothing after it can be promised durable, so stop here.
      if (error) {
        this.#onFatal(error);
        return;
      }
      for (const done of waiters) done();
      if (this.#pending.length > 0) this.#flush(); // commits what queued meanwhile, and syncs it
      else if (this.#syncWaiters.length > 0) this.#sync();
    });
  }

  /** Only inside #write: the events of one call are stored together or not at all. */
  #append(events: readonly NewEvent[]): StoredEvent[] {
    const createdAt = this.#clock.now();
    const { insertEvent } = this.#statements;
    return events.map(({ userHash, type, payload }) => {
      const id = this.#head(userHash) + 1;
      insertEvent.run(userHash, id, type, payload, createdAt);
      this.#setHead(userHash, id);
      return { id, userHash, type, payload, createdAt };
    });
  }

  // --- counters -----------------------------------------------------------------
  // One server process writes an SQLite file, so the counters it keeps (a chat's last seq, a
  // stream's head) are the truth: read from the file on first use, caught up there with the
  // messages and events stored after them, and written back every COUNTERS_SAVE_MS, before
  // anything that deletes messages or events, and at close.

  #chatCounters(chatId: ChatId): ChatCounters | undefined {
    let chat = this.#chats.get(chatId);
    if (!chat) {
      chat = this.#statements.chatCounters.get(chatId);
      if (!chat) return undefined;
      const last = this.#statements.lastMessage.get(chatId);
      if (last && last.seq > chat.lastSeq) {
        chat.lastSeq = last.seq;
        chat.lastActivityAt = Math.max(chat.lastActivityAt, last.sentAt);
        this.#dirtyChats.add(chatId);
      }
      this.#chats.set(chatId, chat);
    }
    return chat;
  }

  #head(userHash: UserHash): number {
    let head = this.#heads.get(userHash);
    if (head === undefined) {
      const saved = this.#statements.streamHead.get(userHash) ?? 0;
      head = Math.max(saved, this.#statements.streamTop.get({ userHash }) ?? 0);
      this.#heads.set(userHash, head);
      if (head > saved) this.#dirtyHeads.add(userHash);
    }
    return head;
  }

  #setHead(userHash: UserHash, id: number): void {
    this.#heads.set(userHash, id);
    this.#dirtyHeads.add(userHash);
  }

  /** Inside a transaction: writes back the counters moved since they were last written. */
  #saveCounters(): void {
    const { recordMessageInChat, saveStreamHead } = this.#statements;
    for (const chatId of this.#dirtyChats) {
      const { lastSeq, lastActivityAt } = this.#chats.get(chatId)!;
      recordMessageInChat.run(lastSeq, lastActivityAt, chatId);
    }
    for (const userHash of this.#dirtyHeads) saveStreamHead.run(userHash, this.#heads.get(userHash)!);
    this.#dirtyChats.clear();
    this.#dirtyHeads.clear();
  }

  /** After a rollback the cached counters may be ahead of the file: read them again (see #chatCounters, #head). */
  #forgetCounters(): void {
    this.#chats.clear();
    this.#heads.clear();
    this.#dirtyChats.clear();
    this.#dirtyHeads.clear();
  }
}
