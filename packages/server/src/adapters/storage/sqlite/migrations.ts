import type { Database } from 'better-sqlite3';

/**
 * SQLite schema migrations. Migration N (1-based) brings `PRAGMA user_version` from N-1 to N.
 * Never edit one that has shipped, since databases in the field already ran it: append.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: everything the Storage port needs.
  `
  CREATE TABLE users (
    user_hash    TEXT PRIMARY KEY,
    username     TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    age          INTEGER NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE clients (
    client_hash  TEXT PRIMARY KEY,
    user_hash    TEXT NOT NULL REFERENCES users (user_hash) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL,
    device_name  TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER
  ) STRICT;
  CREATE INDEX clients_user ON clients (user_hash);

  -- Members keep the order they were given in; lookups by pair try both orders.
  CREATE TABLE chats (
    chat_id          TEXT PRIMARY KEY,
    user_a           TEXT NOT NULL,
    user_b           TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('active', 'ended')),
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    end_reason       TEXT CHECK (end_reason IN ('left', 'blocked', 'banned', 'deleted')),
    last_seq         INTEGER NOT NULL DEFAULT 0,
    last_activity_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX chats_pair ON chats (user_a, user_b);
  CREATE INDEX chats_user_b ON chats (user_b);

  -- Messages and cursors go with their chat, so erasing a chat cannot leave content behind.
  CREATE TABLE messages (
    chat_id            TEXT NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    seq                INTEGER NOT NULL,
    message_id         TEXT NOT NULL,
    sender_user_hash   TEXT NOT NULL,
    sender_client_hash TEXT NOT NULL,
    client_message_id  TEXT NOT NULL,
    envelope           TEXT NOT NULL,
    sent_at            INTEGER NOT NULL,
    PRIMARY KEY (chat_id, seq)
  ) STRICT, WITHOUT ROWID;
  CREATE UNIQUE INDEX messages_idempotency
    ON messages (chat_id, sender_client_hash, client_message_id);
  CREATE INDEX messages_sent_at ON messages (sent_at);

  CREATE TABLE chat_cursors (
    chat_id       TEXT NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    user_hash     TEXT NOT NULL,
    delivered_seq INTEGER NOT NULL DEFAULT 0,
    read_seq      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_hash)
  ) STRICT, WITHOUT ROWID;

  -- AUTOINCREMENT: ids are resume cursors held by clients, so one must never be reused
  -- after the newest events are purged or erased.
  CREATE TABLE events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_hash  TEXT NOT NULL,
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX events_user ON events (user_hash, id);
  CREATE INDEX events_created_at ON events (created_at);
  `,
  // 2: end-to-end encryption: public keys of devices. They go with their device.
  `
  CREATE TABLE device_keys (
    client_hash       TEXT PRIMARY KEY REFERENCES clients (client_hash) ON DELETE CASCADE,
    signing_pub       TEXT NOT NULL,
    dh_pub            TEXT NOT NULL,
    signed_prekey     TEXT NOT NULL
  ) STRICT;

  CREATE TABLE one_time_prekeys (
    client_hash TEXT NOT NULL REFERENCES device_keys (client_hash) ON DELETE CASCADE,
    id          INTEGER NOT NULL,
    pub         TEXT NOT NULL,
    PRIMARY KEY (client_hash, id)
  ) STRICT, WITHOUT ROWID;
  `,
  // 3: blocks, reports, bans, the audit log and network sightings. None references users:
  // bans and the audit log must outlive the account, and deleteUser erases the rest itself.
  `
  CREATE TABLE blocks (
    blocker_user_hash TEXT NOT NULL,
    blocked_user_hash TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (blocker_user_hash, blocked_user_hash)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX blocks_blocked ON blocks (blocked_user_hash);

  CREATE TABLE reports (
    report_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id            TEXT NOT NULL,
    reporter_user_hash TEXT NOT NULL,
    reported_user_hash TEXT NOT NULL,
    reason             TEXT NOT NULL,
    urgent             INTEGER NOT NULL CHECK (urgent IN (0, 1)),
    note               TEXT,
    disclosed          TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    resolved_at        INTEGER,
    resolution         TEXT CHECK (resolution IN ('actioned', 'dismissed')),
    resolved_by        TEXT,
    resolution_note    TEXT,
    UNIQUE (chat_id, reporter_user_hash)
  ) STRICT;
  CREATE INDEX reports_reported ON reports (reported_user_hash, created_at);
  CREATE INDEX reports_reporter ON reports (reporter_user_hash);
  CREATE INDEX reports_open ON reports (urgent, created_at) WHERE resolved_at IS NULL;

  CREATE TABLE bans (
    ban_id        INTEGER PRIMARY KEY AUTOINCREMENT,
    layer         TEXT NOT NULL CHECK (layer IN ('account', 'device', 'network')),
    target        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    revoked_by    TEXT,
    parent_ban_id INTEGER REFERENCES bans (ban_id)
  ) STRICT;
  CREATE INDEX bans_target ON bans (layer, target);
  CREATE INDEX bans_unrevoked ON bans (expires_at) WHERE revoked_at IS NULL;
  CREATE INDEX bans_parent ON bans (parent_ban_id) WHERE parent_ban_id IS NOT NULL;
  CREATE TRIGGER bans_kept BEFORE DELETE ON bans
    BEGIN SELECT RAISE(ABORT, 'bans are revoked, never deleted'); END;

  CREATE TABLE audit_log (
    audit_id INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    details  TEXT NOT NULL
  ) STRICT;
  CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

  CREATE TABLE sightings (
    client_hash  TEXT NOT NULL,
    network_key  TEXT NOT NULL,
    user_hash    TEXT NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (client_hash, network_key)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX sightings_user ON sightings (user_hash, last_seen_at);
  `,
  // 4: one stream per user. A message is stored once, with its id in each member's stream;
  // other events keep their rows, numbered per user. Old cursors keep their meaning: every
  // old event keeps its global id as its id in its user's stream, every message takes the
  // ids of its old message.new events, and each stream continues above the old high-water mark.
  `
  CREATE TABLE streams (
    user_hash     TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  INSERT INTO streams (user_hash, last_event_id)
    SELECT user_hash, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events')
    FROM (SELECT user_hash FROM users UNION SELECT user_hash FROM events);

  CREATE TABLE stream_events (
    user_hash  TEXT NOT NULL,
    id         INTEGER NOT NULL,
    type       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_hash, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX stream_events_created_at ON stream_events (created_at);
  INSERT INTO stream_events SELECT user_hash, id, type, payload, created_at FROM events
    WHERE type <> 'message.new';

  ALTER TABLE messages ADD COLUMN event_id_a INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE messages ADD COLUMN event_id_b INTEGER NOT NULL DEFAULT 0;
  CREATE TEMP TABLE old_message_events AS
    SELECT id, user_hash, json_extract(payload, '$.chatId') AS chat_id,
      json_extract(payload, '$.seq') AS seq
    FROM events WHERE type = 'message.new';
  CREATE INDEX temp.old_message_events_key ON old_message_events (chat_id, seq, user_hash);
  UPDATE messages SET
    event_id_a = coalesce((SELECT o.id FROM old_message_events o, chats c
      WHERE c.chat_id = messages.chat_id AND o.chat_id = c.chat_id AND o.seq = messages.seq
        AND o.user_hash = c.user_a), 0),
    event_id_b = coalesce((SELECT o.id FROM old_message_events o, chats c
      WHERE c.chat_id = messages.chat_id AND o.chat_id = c.chat_id AND o.seq = messages.seq
        AND o.user_hash = c.user_b), 0);
  DROP TABLE temp.old_message_events;
  DROP TABLE events;
  CREATE INDEX messages_stream_a ON messages (chat_id, event_id_a);
  CREATE INDEX messages_stream_b ON messages (chat_id, event_id_b);
  `,
  // 5: reports against a user outlive the account for the report retention (deleteUser marks them).
  `
  ALTER TABLE reports ADD COLUMN reported_deleted_at INTEGER;
  CREATE INDEX reports_reported_deleted ON reports (reported_deleted_at) WHERE reported_deleted_at IS NOT NULL;
  `,
  // 6: E2E v2 (PQXDH): a device's signed ML-KEM-768 prekeys, the last-resort one beside its
  // signed curve prekey (JSON {id, pub, signature}), the one-time ones handed out once.
  `
  ALTER TABLE device_keys ADD COLUMN last_resort_kem_prekey TEXT;

  CREATE TABLE one_time_kem_prekeys (
    client_hash TEXT NOT NULL REFERENCES device_keys (client_hash) ON DELETE CASCADE,
    id          INTEGER NOT NULL,
    pub         TEXT NOT NULL,
    signature   TEXT NOT NULL,
    PRIMARY KEY (client_hash, id)
  ) STRICT, WITHOUT ROWID;
  `,
  // 7: messages in a rowid table, so a new one lands at the table's right edge. Keyed by
  // (chat_id, seq), with rows of ~450 bytes, each insert went into the middle of the b-tree
  // and every few rebalanced three pages: 2.4 pages written per message (bench/wal-pages.ts).
  // (chat_id, seq) stays unique, as a small index.
  `
  CREATE TABLE messages_v7 (
    id                 INTEGER PRIMARY KEY,
    chat_id            TEXT NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    seq                INTEGER NOT NULL,
    message_id         TEXT NOT NULL,
    sender_user_hash   TEXT NOT NULL,
    sender_client_hash TEXT NOT NULL,
    client_message_id  TEXT NOT NULL,
    envelope           TEXT NOT NULL,
    sent_at            INTEGER NOT NULL,
    event_id_a         INTEGER NOT NULL,
    event_id_b         INTEGER NOT NULL
  ) STRICT;
  INSERT INTO messages_v7 (chat_id, seq, message_id, sender_user_hash, sender_client_hash,
      client_message_id, envelope, sent_at, event_id_a, event_id_b)
    SELECT chat_id, seq, message_id, sender_user_hash, sender_client_hash, client_message_id,
      envelope, sent_at, event_id_a, event_id_b
    FROM messages ORDER BY sent_at, chat_id, seq;
  DROP TABLE messages;
  ALTER TABLE messages_v7 RENAME TO messages;
  CREATE UNIQUE INDEX messages_seq ON messages (chat_id, seq);
  CREATE UNIQUE INDEX messages_idempotency
    ON messages (chat_id, sender_client_hash, client_message_id);
  CREATE INDEX messages_sent_at ON messages (sent_at);
  CREATE INDEX messages_stream_a ON messages (chat_id, event_id_a);
  CREATE INDEX messages_stream_b ON messages (chat_id, event_id_b);
  `,
  // 8: a message wrote a random page in each of five indexes; three go. The stream ids of a
  // chat's messages grow with seq, so a stream is read through (chat_id, seq) (streams.ts,
  // readStream), and rows are stored in time order, so the purge scans from the table's start.
  // bench/wal-pages.ts: 7.4 -> 3.8 pages written per message at one message per commit.
  `
  DROP INDEX messages_stream_a;
  DROP INDEX messages_stream_b;
  DROP INDEX messages_sent_at;
  `,
];

/**
 * Brings the schema up to date, one migration per transaction. Each step reads the version
 * inside its own write lock, so two processes opening the same file cannot both run it.
 */
export function migrate(db: Database): number {
  const step = db.transaction((): boolean => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `database schema v${version} is newer than this server knows (v${MIGRATIONS.length})`,
      );
    }
    const sql = MIGRATIONS[version];
    if (sql === undefined) return false;
    db.exec(sql);
    db.pragma(`user_version = ${version + 1}`);
    return true;
  });
  while (step.immediate());
  return MIGRATIONS.length;
}
