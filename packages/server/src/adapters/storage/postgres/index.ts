import type { Storage } from '../../../ports/storage.js';
import { PostgresAccounts } from './accounts.js';
import { PostgresChats } from './chats.js';
import { PostgresConnection, type PostgresStorageOptions } from './connection.js';
import { PostgresKeys } from './keys.js';
import { PostgresModeration } from './moderation.js';
import { PostgresStreams } from './streams.js';

/**
 * Storage in PostgreSQL, for several server processes sharing one database. Each store runs
 * its statements on the one pool (connection.ts); every method that writes more than one
 * statement runs them in one transaction on one pooled connection.
 */
export class PostgresStorage implements Storage {
  readonly accounts: PostgresAccounts;
  readonly chats: PostgresChats;
  readonly streams: PostgresStreams;
  readonly keys: PostgresKeys;
  readonly moderation: PostgresModeration;

  /** Connects, brings the schema up to date, and returns the storage. */
  static async open(options: PostgresStorageOptions): Promise<PostgresStorage> {
    return new PostgresStorage(await PostgresConnection.open(options));
  }

  private constructor(private readonly db: PostgresConnection) {
    this.accounts = new PostgresAccounts(db);
    this.chats = new PostgresChats(db);
    this.streams = new PostgresStreams(db);
    this.keys = new PostgresKeys(db);
    this.moderation = new PostgresModeration(db);
  }

  /** Resolves when the database answers a trivial query; rejects (UNAVAILABLE) otherwise. */
  ping(): Promise<void> {
    return this.db.ping();
  }

  /** Waits for transactions in flight to finish, then closes every connection. */
  close(): Promise<void> {
    return this.db.close();
  }
}
