import { decodeCheckpoint, encodeCheckpoint, type Checkpoint, type CheckpointStore } from './checkpoint';

/**
 * Browser checkpoint store: one IndexedDB record per session key, holding the encoded
 * checkpoint bytes (validated on load like the file store). Touches `indexedDB` only when
 * called, so importing this module is safe in Node.
 */
export function createIdbCheckpointStore(key: string, dbName = 'signvote-checkpoints'): CheckpointStore {
  const open = (): Promise<IDBDatabase> =>
    new Promise((resolve, reject) => {
      if (typeof indexedDB === 'undefined') {
        reject(new Error('IndexedDB is not available in this environment'));
        return;
      }
      const req = indexedDB.open(dbName, 1);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains('checkpoints')) req.result.createObjectStore('checkpoints');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error ?? new Error('IndexedDB open failed'));
    });
  const run = async <T>(mode: IDBTransactionMode, fn: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction('checkpoints', mode);
        const req = fn(tx.objectStore('checkpoints'));
        // resolve on commit, not on request success: only then is a save durable
        tx.oncomplete = () => resolve(req.result);
        tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
        tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
      });
    } finally {
      db.close();
    }
  };
  return {
    async save(cp: Checkpoint) {
      const bytes = encodeCheckpoint(cp);
      await run('readwrite', (s) => s.put(bytes, key));
    },
    async load() {
      const value = await run<unknown>('readonly', (s) => s.get(key));
      if (value === undefined) return null;
      if (!(value instanceof Uint8Array)) throw new Error(`IndexedDB checkpoint ${key} is not binary`);
      return decodeCheckpoint(value);
    },
  };
}
