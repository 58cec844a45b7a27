import type { ClientHash, UserHash } from '@omechat/protocol';
import type { AccountStore, ClientRecord, CreateClientResult, CreateUserResult, UserRecord } from '../../../ports/storage.js';
import { FOREIGN_KEY_VIOLATION, pgCode, type PostgresConnection } from './connection.js';
import { eraseModerationOf } from './moderation.js';

const USER = `user_hash AS "userHash", username, username_key AS "usernameKey", age,
  secret_hash AS "secretHash", created_at AS "createdAt"`;
const CLIENT = `client_hash AS "clientHash", user_hash AS "userHash", token_hash AS "tokenHash",
  device_name AS "deviceName", created_at AS "createdAt", last_seen_at AS "lastSeenAt"`;

export class PostgresAccounts implements AccountStore {
  constructor(private readonly db: PostgresConnection) {}

  async createUser(user: UserRecord): Promise<CreateUserResult> {
    return this.db.read(async (sql) => {
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
    return this.db.one<UserRecord>(`SELECT ${USER} FROM users WHERE user_hash = $1`, [userHash]);
  }

  async getUserByUsernameKey(usernameKey: string): Promise<UserRecord | null> {
    return this.db.one<UserRecord>(`SELECT ${USER} FROM users WHERE username_key = $1`, [usernameKey]);
  }

  async setSecretHash(userHash: UserHash, secretHash: string): Promise<boolean> {
    return this.db.changed('UPDATE users SET secret_hash = $2 WHERE user_hash = $1', [userHash, secretHash]);
  }

  async deleteUser(userHash: UserHash, at: number): Promise<ClientHash[]> {
    return this.db.tx(async (sql) => {
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
      await eraseModerationOf(sql, userHash, at);
      await sql.query('DELETE FROM users WHERE user_hash = $1', [userHash]); // clients and keys cascade
      return clients.rows.map((c) => c.clientHash);
    });
  }

  // --- clients ----------------------------------------------------------------

  async createClient(client: ClientRecord): Promise<CreateClientResult> {
    return this.db.read(async (sql) => {
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
    return this.db.one<ClientRecord>(`SELECT ${CLIENT} FROM clients WHERE client_hash = $1`, [clientHash]);
  }

  async listClients(userHash: UserHash): Promise<ClientRecord[]> {
    return this.db.all<ClientRecord>(
      `SELECT ${CLIENT} FROM clients WHERE user_hash = $1 ORDER BY created_at, client_hash`,
      [userHash],
    );
  }

  async deleteClient(clientHash: ClientHash): Promise<boolean> {
    return this.db.changed('DELETE FROM clients WHERE client_hash = $1', [clientHash]);
  }

  async touchClient(clientHash: ClientHash, at: number): Promise<void> {
    await this.db.changed('UPDATE clients SET last_seen_at = $2 WHERE client_hash = $1', [clientHash, at]);
  }
}
