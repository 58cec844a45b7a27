import type { KeyStore } from './key-store.js';
import { IdbStore } from '../store/idb.js';

/** Browser key store: one record in IndexedDB under `key` (use one key per account and device). */
export class IndexedDbKeyStore implements KeyStore {
  private readonly idb: IdbStore;

  constructor(
    private readonly key: string,
    databaseName = 'omechat',
  ) {
    this.idb = new IdbStore(databaseName, 'e2e-state');
  }

  async load(): Promise<string | null> {
    const value: unknown = await this.idb.run('readonly', (store) => store.get(this.key));
    return typeof value === 'string' ? value : null;
  }

  async save(state: string): Promise<void> {
    await this.idb.run('readwrite', (store) => store.put(state, this.key));
  }

  async clear(): Promise<void> {
    await this.idb.run('readwrite', (store) => store.delete(this.key));
  }
}
