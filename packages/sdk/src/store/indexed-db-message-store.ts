import { IdbStore } from './idb.js';
import { mergeMarks, NO_MARKS, type ChatMarks, type MessageStore } from './message-store.js';

/**
 * Browser message store: one IndexedDB record per message, under `prefix` (use one prefix
 * per account and device, like `IndexedDbKeyStore`'s key).
 */
export class IndexedDbMessageStore implements MessageStore {
  private readonly idb: IdbStore;

  constructor(
    private readonly prefix: string,
    databaseName = 'omechat-messages',
  ) {
    this.idb = new IdbStore(databaseName, 'texts');
  }

  async get(chatId: string, seqs: readonly number[]): Promise<Map<number, string>> {
    const found = new Map<number, string>();
    await this.idb.run('readonly', (store) => {
      for (const seq of seqs) {
        const request = store.get(this.key(chatId, seq));
        request.onsuccess = () => {
          if (typeof request.result === 'string') found.set(seq, request.result);
        };
      }
    });
    return found;
  }

  async put(chatId: string, seq: number, text: string): Promise<void> {
    await this.idb.run('readwrite', (store) => store.put(text, this.key(chatId, seq)));
  }

  async marks(chatId: string): Promise<ChatMarks> {
    const found: unknown = await this.idb.run('readonly', (store) => store.get(this.marksKey(chatId)));
    return found && typeof found === 'object' ? mergeMarks(NO_MARKS, found) : NO_MARKS;
  }

  async putMarks(chatId: string, patch: Partial<ChatMarks>): Promise<void> {
    // Read and write in one transaction, so two receipts arriving together both count.
    await this.idb.run('readwrite', (store) => {
      const request = store.get(this.marksKey(chatId));
      request.onsuccess = () => {
        const stored: unknown = request.result;
        const old = stored && typeof stored === 'object' ? mergeMarks(NO_MARKS, stored) : NO_MARKS;
        store.put(mergeMarks(old, patch), this.marksKey(chatId));
      };
    });
  }

  async clear(): Promise<void> {
    // Keys are `${prefix}\u0000…`, so this range holds exactly this prefix's records.
    await this.idb.run('readwrite', (store) => store.delete(IDBKeyRange.bound(`${this.prefix}\u0000`, `${this.prefix}\u0001`, false, true)));
  }

  /** Beside the chat's texts (seqs are numbers), so `clear` removes it with them. */
  private marksKey(chatId: string) {
    return `${this.prefix}\u0000${chatId}\u0000marks`;
  }

  private key(chatId: string, seq: number) {
    return `${this.prefix}\u0000${chatId}\u0000${seq}`;
  }
}
