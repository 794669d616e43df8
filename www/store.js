// Persistence in IndexedDB: one database per network, so a tab that switches
// network never mixes chains. What is written is what the node asked to keep
// (`apply`: its `store` outputs, replayed in order in one transaction):
// blocks by hash as their consensus bytes (exact, compact, no JSON number
// pitfalls), so tabs of one origin share them (the best tip follows from the
// blocks: no need to keep it); and this tab's own pending posts in `outbox`
// until a block holds them. `meta` keeps the key pair and the author name.
//
// When IndexedDB is unavailable (private mode, disabled storage, a broken
// profile) `openStore` returns a MemoryStore with the same interface, and
// `persistent` is false so the page can say so.

/**
 * The database layout version. 2: protocol 2 (stamped posts, a new genesis):
 * blocks and own posts kept by an older page belong to a chain that no
 * longer exists, so the upgrade drops them instead of restoring garbage.
 */
const VERSION = 2;

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
    req.onupgradeneeded = (event) => {
      const db = req.result;
      if (!db.objectStoreNames.contains('blocks')) db.createObjectStore('blocks');
      if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
      if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox');
      if (event.oldVersion > 0 && event.oldVersion < 2) {
        req.transaction.objectStore('blocks').clear();
        req.transaction.objectStore('outbox').clear();
      }
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

  /** Replays the node's changes to keep (see `replay`), in one transaction. */
  async apply(changes) {
    if (changes.length === 0) return;
    const tx = this.db.transaction(['blocks', 'outbox'], 'readwrite');
    replay(changes, {
      putBlock: (hash, bytes) => tx.objectStore('blocks').put(bytes, hash),
      deleteBlock: (hash) => tx.objectStore('blocks').delete(hash),
      putOwn: (item) => tx.objectStore('outbox').put(item, item.txId),
      deleteOwn: (txId) => tx.objectStore('outbox').delete(txId),
    });
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

  /** Own posts not yet in a block: [{txId, bytes, seq}] in the order written (older pages kept {txId, text, seq}). */
  async outbox() {
    const tx = this.db.transaction('outbox', 'readonly');
    const items = await request(tx.objectStore('outbox').getAll());
    return items.sort((a, b) => a.seq - b.seq);
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

  async apply(changes) {
    replay(changes, {
      putBlock: (hash, bytes) => this.blocks.set(hash, bytes),
      deleteBlock: (hash) => this.blocks.delete(hash),
      putOwn: (item) => this.box.set(item.txId, item),
      deleteOwn: (txId) => this.box.delete(txId),
    });
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
}

let nextSeq = 0;

/**
 * Whether a tab keeps this `store` output of the node: blocks (and their
 * removal, when the node prunes a side branch) and its own
 * pending posts (not other pending posts, and not the best chain, which
 * follows from the blocks).
 */
export function keeps(change) {
  if (change.change === 'pendingAdded' || change.change === 'pendingRemoved') return change.own;
  return change.change === 'block' || change.change === 'blockRemoved';
}

/**
 * Carries out the changes a tab keeps (see `keeps`) in order with `ops`: a
 * block is put under its hash (or deleted when pruned), an own pending post is put in the outbox and
 * removed when it leaves the mempool.
 */
function replay(changes, ops) {
  for (const c of changes) {
    if (c.change === 'block') ops.putBlock(c.hash, c.bytes);
    else if (c.change === 'blockRemoved') ops.deleteBlock(c.hash);
    else if (c.change === 'pendingAdded') {
      ops.putOwn({ txId: c.txId, bytes: c.bytes, seq: Date.now() * 1000 + (nextSeq++ % 1000) });
    } else if (c.change === 'pendingRemoved') ops.deleteOwn(c.txId);
  }
}
