import type { Clock } from '../../../ports/clock.js';
import type { Storage } from '../../../ports/storage.js';
import { MemoryAccounts } from './accounts.js';
import { MemoryChats } from './chats.js';
import { MemoryKeys } from './keys.js';
import { MemoryModeration } from './moderation.js';
import { MemoryStreams } from './streams.js';
import { MemoryTables } from './tables.js';

/** Storage in process memory, for tests and single-process development. */
export class MemoryStorage implements Storage {
  readonly #tables: MemoryTables;
  readonly accounts: MemoryAccounts;
  readonly chats: MemoryChats;
  readonly streams: MemoryStreams;
  readonly keys: MemoryKeys;
  readonly moderation: MemoryModeration;

  constructor(options: { clock?: Clock } = {}) {
    const tables = (this.#tables = new MemoryTables(options.clock));
    this.moderation = new MemoryModeration(tables);
    this.accounts = new MemoryAccounts(tables, this.moderation);
    this.chats = new MemoryChats(tables);
    this.streams = new MemoryStreams(tables);
    this.keys = new MemoryKeys(tables, this.accounts);
  }

  async close(): Promise<void> {
    this.#tables.closed = true;
  }
}
