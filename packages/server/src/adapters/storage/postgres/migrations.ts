import type { PoolClient } from 'pg';

/**
 * PostgreSQL schema migrations. Migration N (1-based) is recorded as version N in
 * `schema_migrations`. Never edit one that has shipped, since databases in the field already
 * ran it: append. They follow the SQLite adapter's three steps so the two read side by side.
 *
 * Ids and hashes use the "C" collation: lists ordered by them must come out in the same
 * (byte) order as in the other adapters, whatever locale the database was created with.
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: everything the Storage port needs.
  `
  CREATE TABLE users (
    user_hash    text COLLATE "C" PRIMARY KEY,
    username     text NOT NULL,
    username_key text COLLATE "C" NOT NULL UNIQUE,
    age          integer NOT NULL,
    secret_hash  text NOT NULL,
    created_at   bigint NOT NULL
  );

  CREATE TABLE clients (
    client_hash  text COLLATE "C" PRIMARY KEY,
    user_hash    text COLLATE "C" NOT NULL REFERENCES users (user_hash) ON DELETE CASCADE,
    token_hash   text NOT NULL,
    device_name  text,
    created_at   bigint NOT NULL,
    last_seen_at bigint
  );
  CREATE INDEX clients_user ON clients (user_hash);

  -- Members keep the order they were given in; lookups by pair try both orders.
  CREATE TABLE chats (
    chat_id          text COLLATE "C" PRIMARY KEY,
    user_a           text COLLATE "C" NOT NULL,
    user_b           text COLLATE "C" NOT NULL,
    state            text NOT NULL CHECK (state IN ('active', 'ended')),
    created_at       bigint NOT NULL,
    ended_at         bigint,
    end_reason       text CHECK (end_reason IN ('left', 'blocked', 'banned', 'deleted')),
    last_seq         bigint NOT NULL DEFAULT 0,
    last_activity_at bigint NOT NULL
  );
  CREATE INDEX chats_pair ON chats (user_a, user_b);
  CREATE INDEX chats_user_b ON chats (user_b);

  -- Messages and cursors go with their chat, so erasing a chat cannot leave content behind.
  -- The envelope is opaque to the server: text, stored as it came.
  CREATE TABLE messages (
    chat_id            text COLLATE "C" NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    seq                bigint NOT NULL,
    message_id         text NOT NULL,
    sender_user_hash   text COLLATE "C" NOT NULL,
    sender_client_hash text COLLATE "C" NOT NULL,
    client_message_id  text COLLATE "C" NOT NULL,
    envelope           text NOT NULL,
    sent_at            bigint NOT NULL,
    PRIMARY KEY (chat_id, seq)
  );
  CREATE UNIQUE INDEX messages_idempotency
    ON messages (chat_id, sender_client_hash, client_message_id);
  CREATE INDEX messages_sent_at ON messages (sent_at);

  CREATE TABLE chat_cursors (
    chat_id       text COLLATE "C" NOT NULL REFERENCES chats (chat_id) ON DELETE CASCADE,
    user_hash     text COLLATE "C" NOT NULL,
    delivered_seq bigint NOT NULL DEFAULT 0,
    read_seq      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, user_hash)
  );

  -- Event ids come from this one-row counter, not from a sequence: see #appendEvents in
  -- postgres-storage.ts. It is also the high-water mark lastEventId() reports, which must
  -- outlive purged and erased events because clients hold ids as resume cursors.
  CREATE TABLE event_counter (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_id  bigint NOT NULL
  );
  INSERT INTO event_counter (last_id) VALUES (0);

  -- payload is the exact JSON text the core gave, so it is text, not jsonb (which reformats).
  CREATE TABLE events (
    id         bigint PRIMARY KEY,
    user_hash  text COLLATE "C" NOT NULL,
    type       text NOT NULL,
    payload    text NOT NULL,
    created_at bigint NOT NULL
  );
  CREATE INDEX events_user ON events (user_hash, id);
  CREATE INDEX events_created_at ON events (created_at);
  `,
  // 2: end-to-end encryption: public keys of devices. They go with their device.
  `
  CREATE TABLE device_keys (
    client_hash   text COLLATE "C" PRIMARY KEY REFERENCES clients (client_hash) ON DELETE CASCADE,
    signing_pub   text NOT NULL,
    dh_pub        text NOT NULL,
    signed_prekey jsonb NOT NULL
  );

  CREATE TABLE one_time_prekeys (
    client_hash text COLLATE "C" NOT NULL REFERENCES device_keys (client_hash) ON DELETE CASCADE,
    id          bigint NOT NULL,
    pub         text NOT NULL,
    PRIMARY KEY (client_hash, id)
  );
  `,
  // 3: blocks, reports, bans, the audit log and network sightings. None references users:
  // bans and the audit log must outlive the account, and deleteUser erases the rest itself.
  `
  CREATE TABLE blocks (
    blocker_user_hash text COLLATE "C" NOT NULL,
    blocked_user_hash text COLLATE "C" NOT NULL,
    created_at        bigint NOT NULL,
    PRIMARY KEY (blocker_user_hash, blocked_user_hash)
  );
  CREATE INDEX blocks_blocked ON blocks (blocked_user_hash);

  CREATE TABLE reports (
    report_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id            text COLLATE "C" NOT NULL,
    reporter_user_hash text COLLATE "C" NOT NULL,
    reported_user_hash text COLLATE "C" NOT NULL,
    reason             text NOT NULL,
    urgent             boolean NOT NULL,
    note               text,
    disclosed          jsonb NOT NULL,
    created_at         bigint NOT NULL,
    resolved_at        bigint,
    resolution         text CHECK (resolution IN ('actioned', 'dismissed')),
    resolved_by        text,
    resolution_note    text,
    UNIQUE (chat_id, reporter_user_hash)
  );
  CREATE INDEX reports_reported ON reports (reported_user_hash, created_at);
  CREATE INDEX reports_reporter ON reports (reporter_user_hash);
  CREATE INDEX reports_open ON reports (urgent, created_at) WHERE resolved_at IS NULL;

  CREATE TABLE bans (
    ban_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer         text NOT NULL CHECK (layer IN ('account', 'device', 'network')),
    target        text COLLATE "C" NOT NULL,
    reason        text NOT NULL,
    issuer        text NOT NULL,
    created_at    bigint NOT NULL,
    expires_at    bigint,
    revoked_at    bigint,
    revoked_by    text,
    parent_ban_id bigint REFERENCES bans (ban_id)
  );
  CREATE INDEX bans_target ON bans (layer, target);
  CREATE INDEX bans_unrevoked ON bans (expires_at) WHERE revoked_at IS NULL;
  CREATE INDEX bans_parent ON bans (parent_ban_id) WHERE parent_ban_id IS NOT NULL;

  CREATE TABLE audit_log (
    audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       bigint NOT NULL,
    actor    text NOT NULL,
    action   text NOT NULL,
    subject  text NOT NULL,
    details  jsonb NOT NULL
  );

  -- Enforced in the database, so even someone with a SQL prompt cannot quietly rewrite
  -- history. TRUNCATE skips row triggers, hence the statement-level ones.
  CREATE FUNCTION omechat_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '%', TG_ARGV[0]; END
  $$;
  CREATE TRIGGER bans_kept BEFORE DELETE ON bans
    FOR EACH ROW EXECUTE FUNCTION omechat_refuse('bans are revoked, never deleted');
  CREATE TRIGGER bans_kept_truncate BEFORE TRUNCATE ON bans
    FOR EACH STATEMENT EXECUTE FUNCTION omechat_refuse('bans are revoked, never deleted');
  CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION omechat_refuse('the audit log is append-only');
  CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION omechat_refuse('the audit log is append-only');

  CREATE TABLE sightings (
    client_hash  text COLLATE "C" NOT NULL,
    network_key  text COLLATE "C" NOT NULL,
    user_hash    text COLLATE "C" NOT NULL,
    last_seen_at bigint NOT NULL,
    PRIMARY KEY (client_hash, network_key)
  );
  CREATE INDEX sightings_user ON sightings (user_hash, last_seen_at);
  `,
  // 4: one stream per user, as in the SQLite schema's migration 4: a message is stored once
  // with its id in each member's stream, other events are numbered per user, and old cursors
  // keep their meaning (old ids carry over; every stream continues above the old counter).
  // Appends now lock only the streams they write to, never one row shared by all.
  `
  CREATE TABLE streams (
    user_hash     text COLLATE "C" PRIMARY KEY,
    last_event_id bigint NOT NULL
  );
  INSERT INTO streams (user_hash, last_event_id)
    SELECT user_hash, (SELECT last_id FROM event_counter)
    FROM (SELECT user_hash FROM users UNION SELECT user_hash FROM events) AS known;

  CREATE TABLE stream_events (
    user_hash  text COLLATE "C" NOT NULL,
    id         bigint NOT NULL,
    type       text NOT NULL,
    payload    text NOT NULL,
    created_at bigint NOT NULL,
    PRIMARY KEY (user_hash, id)
  );
  CREATE INDEX stream_events_created_at ON stream_events (created_at);
  INSERT INTO stream_events SELECT user_hash, id, type, payload, created_at FROM events
    WHERE type <> 'message.new';

  ALTER TABLE messages ADD COLUMN event_id_a bigint NOT NULL DEFAULT 0,
    ADD COLUMN event_id_b bigint NOT NULL DEFAULT 0;
  UPDATE messages m SET event_id_a = e.id FROM chats c, events e
    WHERE c.chat_id = m.chat_id AND e.type = 'message.new' AND e.user_hash = c.user_a
      AND e.payload::jsonb ->> 'chatId' = m.chat_id AND (e.payload::jsonb ->> 'seq')::bigint = m.seq;
  UPDATE messages m SET event_id_b = e.id FROM chats c, events e
    WHERE c.chat_id = m.chat_id AND e.type = 'message.new' AND e.user_hash = c.user_b
      AND e.payload::jsonb ->> 'chatId' = m.chat_id AND (e.payload::jsonb ->> 'seq')::bigint = m.seq;
  CREATE INDEX messages_stream_a ON messages (chat_id, event_id_a);
  CREATE INDEX messages_stream_b ON messages (chat_id, event_id_b);
  DROP TABLE events;
  DROP TABLE event_counter;
  `,
  // 5: reports against a user outlive the account for the report retention (deleteUser marks them).
  `
  ALTER TABLE reports ADD COLUMN reported_deleted_at bigint;
  CREATE INDEX reports_reported_deleted ON reports (reported_deleted_at) WHERE reported_deleted_at IS NOT NULL;
  `,
  // 6: E2E v2 (PQXDH), as the SQLite schema's migration 6: signed ML-KEM-768 prekeys, the
  // last-resort one beside the signed curve prekey, the one-time ones handed out once.
  `
  ALTER TABLE device_keys ADD COLUMN last_resort_kem_prekey jsonb;

  CREATE TABLE one_time_kem_prekeys (
    client_hash text COLLATE "C" NOT NULL REFERENCES device_keys (client_hash) ON DELETE CASCADE,
    id          bigint NOT NULL,
    pub         text NOT NULL,
    signature   text NOT NULL,
    PRIMARY KEY (client_hash, id)
  );
  `,
];

/** An arbitrary constant: the first half of the advisory lock key that guards migrations. */
const MIGRATION_LOCK_CLASS = 0x0e_c4a7;

/**
 * Brings the schema up to date in one transaction. The advisory lock (keyed by schema) makes
 * a second process that starts at the same moment wait, then find nothing left to do; DDL is
 * transactional in PostgreSQL, so a failed migration leaves no half-built schema behind.
 * `schema` null: whatever schema the connection's search_path names first.
 */
export async function migratePostgres(client: PoolClient, schema: string | null): Promise<number> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext(coalesce($2, current_schema())))', [
      MIGRATION_LOCK_CLASS,
      schema,
    ]);
    if (schema !== null) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const { rows } = await client.query<{ version: number | null }>('SELECT max(version) AS version FROM schema_migrations');
    const version = rows[0]?.version ?? 0;
    if (version > PG_MIGRATIONS.length) {
      throw new Error(`database schema v${version} is newer than this server knows (v${PG_MIGRATIONS.length})`);
    }
    for (let next = version + 1; next <= PG_MIGRATIONS.length; next++) {
      await client.query(PG_MIGRATIONS[next - 1]!);
      await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [next]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  return PG_MIGRATIONS.length;
}

/** Schema names are restricted to plain identifiers, so they can go into SQL and search_path unquoted. */
export function assertSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`);
  }
}

function quoteIdentifier(name: string): string {
  assertSchemaName(name);
  return `"${name}"`;
}
