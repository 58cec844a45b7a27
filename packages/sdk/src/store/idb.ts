/**
 * One IndexedDB object store, opened on first use. Calls resolve when their transaction
 * commits (only then is a write durable); IndexedDB runs transactions on the same store in
 * the order they were created, so writes never overtake one another.
 */
export class IdbStore {
  private db: Promise<IDBDatabase> | undefined;

  constructor(
    private readonly databaseName: string,
    private readonly storeName: string,
  ) {}

  run<T>(mode: IDBTransactionMode, operation: (store: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
    return this.open().then(
      (db) =>
        new Promise<T | undefined>((resolve, reject) => {
          const tx = db.transaction(this.storeName, mode);
          const request = operation(tx.objectStore(this.storeName));
          tx.oncomplete = () => resolve(request ? request.result : undefined);
          tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
          tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
        }),
    );
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise((resolve, reject) => {
      const request = globalThis.indexedDB.open(this.databaseName, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(this.storeName);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => {
        // Let the next call try again instead of failing forever on a transient error.
        this.db = undefined;
        reject(request.error ?? new Error('IndexedDB open failed'));
      };
    });
    return this.db;
  }
}
