// Persistence in IndexedDB: one database per network, so a tab that switches
// network never mixes chains. What is written is what the node asked to keep
// (`apply`: its `store` outputs, replayed in order in one transaction):
// blocks by hash as their consensus bytes (exact, compact, no JSON number
// pitfalls), so tabs of one origin share them (the best tip follows from the
// blocks: no need to keep it), with each block's first 100 bytes (its header
// and post count) in `headers`, so a restore orders the blocks without
// reading their bodies; and this tab's own pending posts in `outbox` until a
// block holds them. `meta` keeps the key pair and the author name.
//
// The node keeps only recent bodies in memory: older blocks are read back
// from here (`getBlocks`) to serve peers, for the feed's older posts and the
// explorer.
//
// When IndexedDB is unavailable (private mode, disabled storage, a broken
// profile) `openStore` returns a MemoryStore with the same interface, and
// `persistent` is false so the page can say so.

/**
 * The database layout version. 2: protocol 2 (stamped posts, a new genesis):
 * blocks and own posts kept by an older page belong to a chain that no
 * longer exists, so the upgrade drops them instead of restoring garbage.
 * 3: `headers` (each block's first `HEADER_BYTES`), filled from the blocks
 * kept at the upgrade.
 */
const VERSION = 3;

/** A block's 96-byte header and 4-byte post count: what `headers` keeps. */
const HEADER_BYTES = 100;

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
      const fill = !db.objectStoreNames.contains('headers');
      if (fill) db.createObjectStore('headers');
      if (event.oldVersion > 0 && event.oldVersion < 2) {
        req.transaction.objectStore('blocks').clear();
        req.transaction.objectStore('outbox').clear();
      } else if (fill && event.oldVersion > 0) {
        const headers = req.transaction.objectStore('headers');
        req.transaction.objectStore('blocks').openCursor().onsuccess = (e) => {
          const cursor = e.target.result;
          if (!cursor) return;
          headers.put(cursor.value.slice(0, HEADER_BYTES), cursor.key);
          cursor.continue();
        };
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

  /** Every stored block's header bytes (see `HEADER_BYTES`; any order): what a restore orders blocks by. */
  async allHeaders() {
    const tx = this.db.transaction('headers', 'readonly');
    return request(tx.objectStore('headers').getAll());
  }

  /** The bytes of the blocks `hashes`, in order, `undefined` for a block not stored; one transaction. */
  async getBlocks(hashes) {
    const tx = this.db.transaction('blocks', 'readonly');
    const blocks = tx.objectStore('blocks');
    return Promise.all(hashes.map((hash) => request(blocks.get(hash))));
  }

  /** What the chain takes here: `{blocks, bytes}` (block bytes plus their kept headers). */
  async usage() {
    const tx = this.db.transaction(['blocks', 'headers'], 'readonly');
    let blocks = 0;
    let bytes = 0;
    for (const name of ['blocks', 'headers']) {
      await new Promise((resolve, reject) => {
        const req = tx.objectStore(name).openCursor();
        req.onsuccess = () => {
          const cursor = req.result;
          if (!cursor) return resolve();
          if (name === 'blocks') blocks += 1;
          bytes += cursor.value.byteLength;
          cursor.continue();
        };
        req.onerror = () => reject(req.error);
      });
    }
    return { blocks, bytes };
  }

  /** Replays the node's changes to keep (see `replay`), in one transaction. */
  async apply(changes) {
    if (changes.length === 0) return;
    const tx = this.db.transaction(['blocks', 'headers', 'outbox'], 'readwrite');
    replay(changes, {
      putBlock: (hash, bytes) => {
        tx.objectStore('blocks').put(bytes, hash);
        tx.objectStore('headers').put(bytes.slice(0, HEADER_BYTES), hash);
      },
      deleteBlock: (hash) => {
        tx.objectStore('blocks').delete(hash);
        tx.objectStore('headers').delete(hash);
      },
      putOwn: (item) => tx.objectStore('outbox').put(item, item.txId),
      deleteOwn: (txId) => tx.objectStore('outbox').delete(txId),
    });
    await done(tx);
  }

  async clearBlocks() {
    const tx = this.db.transaction(['blocks', 'headers'], 'readwrite');
    tx.objectStore('blocks').clear();
    tx.objectStore('headers').clear();
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

  async allHeaders() {
    return [...this.blocks.values()].map((bytes) => bytes.slice(0, HEADER_BYTES));
  }

  async getBlocks(hashes) {
    return hashes.map((hash) => this.blocks.get(hash));
  }

  async usage() {
    let bytes = 0;
    for (const block of this.blocks.values()) bytes += block.byteLength;
    return { blocks: this.blocks.size, bytes };
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
