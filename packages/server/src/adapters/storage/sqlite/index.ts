import type { Storage } from '../../../ports/storage.js';
import { SqliteAccounts } from './accounts.js';
import { SqliteChats } from './chats.js';
import { SqliteConnection, type SqliteFigures, type SqliteStorageOptions } from './connection.js';
import { SqliteKeys } from './keys.js';
import { SqliteModeration } from './moderation.js';
import { SqliteStreams } from './streams.js';

/**
 * Storage in one SQLite file: the default for a single server process. Each store prepares
 * its own statements on the one connection, whose write path they share (connection.ts).
 */
export class SqliteStorage implements Storage {
  readonly #connection: SqliteConnection;
  readonly accounts: SqliteAccounts;
  readonly chats: SqliteChats;
  readonly streams: SqliteStreams;
  readonly keys: SqliteKeys;
  readonly moderation: SqliteModeration;

  constructor(options: SqliteStorageOptions) {
    const connection = (this.#connection = new SqliteConnection(options));
    this.moderation = new SqliteModeration(connection);
    this.accounts = new SqliteAccounts(connection, this.moderation);
    this.chats = new SqliteChats(connection);
    this.streams = new SqliteStreams(connection);
    this.keys = new SqliteKeys(connection);
  }

  close(): Promise<void> {
    return this.#connection.close();
  }

  /** The WAL's size and how it has been checkpointed, for /metrics and benchmarks. */
  figures(): SqliteFigures {
    return this.#connection.figures();
  }
}
