import type { ClientHash, UserHash } from '@omechat/protocol';
import type Database from 'better-sqlite3';
import type { AccountStore, ClientRecord, CreateClientResult, CreateUserResult, UserRecord } from '../../../ports/storage.js';
import type { SqliteConnection, Tables } from './connection.js';
import type { SqliteModeration } from './moderation.js';

const USER = `user_hash AS userHash, username, username_key AS usernameKey, age,
  secret_hash AS secretHash, created_at AS createdAt`;
const CLIENT = `client_hash AS clientHash, user_hash AS userHash, token_hash AS tokenHash,
  device_name AS deviceName, created_at AS createdAt, last_seen_at AS lastSeenAt`;

function prepare(db: Database.Database) {
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
  };
}
type Statements = ReturnType<typeof prepare>;

export class SqliteAccounts implements AccountStore {
  readonly #sql: () => Statements;
  readonly #write: Tables<Statements>['write'];

  constructor(
    private readonly conn: SqliteConnection,
    private readonly moderation: SqliteModeration,
  ) {
    ({ sql: this.#sql, write: this.#write } = conn.tables(prepare(conn.db)));
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
      // The peers' stream heads must not fall back with the messages of the chats erased.
      this.conn.saveCounters();
      sql.deleteChatsOf.run({ userHash });
      this.conn.forgetUser(userHash);
      sql.deleteCursorsOf.run(userHash);
      sql.deleteEventsOf.run(userHash);
      sql.deleteStreamOf.run(userHash);
      this.moderation.eraseUser(userHash, at);
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
}
