// Persistence in IndexedDB: one database per network, so a tab that switches
// network never mixes chains. Blocks are stored by hash as their consensus
// bytes (exact, compact, no JSON number pitfalls), so tabs of one origin share
// them. `meta` keeps the key pair, the author name, the best tip (which wins
// ties between equal-work branches on reload) and the like; `outbox`
// keeps signed posts until they are confirmed.
//
// When IndexedDB is unavailable (private mode, disabled storage, a broken
// profile) `openStore` returns a MemoryStore with the same interface, and
// `persistent` is false so the page can say so.

const VERSION = 1;

/** Opens the store for `network`, falling back to memory. */
export async function openStore(network) {
  try {
    if (!globalThis.indexedDB) throw new Error('IndexedDB is not available');
    const db = await openDb(`tabchain-${network}`);
    return new IdbStore(db);
  } catch (err) {
    console.warn('tabchain: storage unavailable, keeping the chain in memory only:', err);
    return new MemoryStore(String(err && err.message ? err.message : err));
  }
}

function openDb(name) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('blocks')) db.createObjectStore('blocks');
      if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
      if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox');
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('the database is blocked by another tab upgrading it'));
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

class IdbStore {
  constructor(db) {
    this.db = db;
    this.persistent = true;
    this.problem = null;
  }

  /** Every stored block's bytes (any order). */
  async allBlocks() {
    const tx = this.db.transaction('blocks', 'readonly');
    return request(tx.objectStore('blocks').getAll());
  }

  /** Stores blocks: [{hash, bytes}], and the best tip they lead to (meta `tip`); one transaction. */
  async putBlocks(blocks, tip) {
    if (blocks.length === 0) return;
    const tx = this.db.transaction(['blocks', 'meta'], 'readwrite');
    const store = tx.objectStore('blocks');
    for (const { hash, bytes } of blocks) store.put(bytes, hash);
    if (tip) tx.objectStore('meta').put(tip, 'tip');
    await done(tx);
  }

  async clearBlocks() {
    const tx = this.db.transaction('blocks', 'readwrite');
    tx.objectStore('blocks').clear();
    await done(tx);
  }

  async getMeta(key) {
    const tx = this.db.transaction('meta', 'readonly');
    return request(tx.objectStore('meta').get(key));
  }

  async setMeta(key, value) {
    const tx = this.db.transaction('meta', 'readwrite');
    tx.objectStore('meta').put(value, key);
    await done(tx);
  }

  /** Posts waiting to be confirmed: [{txId, text}] in the order written. */
  async outbox() {
    const tx = this.db.transaction('outbox', 'readonly');
    const items = await request(tx.objectStore('outbox').getAll());
    return items.sort((a, b) => a.seq - b.seq);
  }

  async addToOutbox(item) {
    const tx = this.db.transaction('outbox', 'readwrite');
    tx.objectStore('outbox').put(item, item.txId);
    await done(tx);
  }

  async removeFromOutbox(txIds) {
    if (txIds.length === 0) return;
    const tx = this.db.transaction('outbox', 'readwrite');
    for (const id of txIds) tx.objectStore('outbox').delete(id);
    await done(tx);
  }
}

class MemoryStore {
  constructor(problem) {
    this.persistent = false;
    this.problem = problem;
    this.blocks = new Map();
    this.meta = new Map();
    this.box = new Map();
  }

  async allBlocks() {
    return [...this.blocks.values()];
  }

  async putBlocks(blocks, tip) {
    if (blocks.length === 0) return;
    for (const { hash, bytes } of blocks) this.blocks.set(hash, bytes);
    if (tip) this.meta.set('tip', tip);
  }

  async clearBlocks() {
    this.blocks.clear();
  }

  async getMeta(key) {
    return this.meta.get(key);
  }

  async setMeta(key, value) {
    this.meta.set(key, value);
  }

  async outbox() {
    return [...this.box.values()].sort((a, b) => a.seq - b.seq);
  }

  async addToOutbox(item) {
    this.box.set(item.txId, item);
  }

  async removeFromOutbox(txIds) {
    for (const id of txIds) this.box.delete(id);
  }
}
