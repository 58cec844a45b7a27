import type { KeyStore } from './key-store.js';

const STORE = 'e2e-state';

/**
 * Browser key store: one record in IndexedDB under `key` (use one key per account and
 * device). IndexedDB runs transactions on the same store in the order they were created,
 * so saves never overtake one another.
 */
export class IndexedDbKeyStore implements KeyStore {
  private db: Promise<IDBDatabase> | undefined;

  constructor(
    private readonly key: string,
    private readonly databaseName = 'omechat',
  ) {}

  async load(): Promise<string | null> {
    const value = await this.run('readonly', (store) => store.get(this.key));
    return typeof value === 'string' ? value : null;
  }

  async save(state: string): Promise<void> {
    await this.run('readwrite', (store) => store.put(state, this.key));
  }

  async clear(): Promise<void> {
    await this.run('readwrite', (store) => store.delete(this.key));
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const request = globalThis.indexedDB.open(this.databaseName, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => {
        // Let the next call try again instead of failing forever on a transient error.
        this.db = undefined;
        reject(request.error ?? new Error('IndexedDB open failed'));
      };
    });
    return this.db;
  }

  /** Resolves when the transaction commits, not when the request succeeds: only then is it durable. */
  private async run(mode: IDBTransactionMode, operation: (store: IDBObjectStore) => IDBRequest): Promise<unknown> {
    const tx = (await this.open()).transaction(STORE, mode);
    const request = operation(tx.objectStore(STORE));
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }
}
