// Stamps posts: the proof of work every post pays before the network takes
// it (core::stamp, "Posts pay with work" in docs/PROTOCOL.md). The stamp
// header has a block header's layout, so the mining workers (miner.js, the
// fast SIMD kernel) search it unchanged, each on its own nonce range. One
// stamp at a time; progress is reported as hashes done over hashes expected.

const RANGE_BITS = 56n;

export class Stamper {
  /** @param {number} workers how many workers search one stamp */
  constructor(workers) {
    this.count = Math.max(1, workers);
    this.workers = [];
    this.queue = Promise.resolve();
    this.nextId = 1;
  }

  /**
   * Finds a nonce for the 96-byte stamp header `headerBytes`; resolves it as
   * a bigint. `onProgress(fraction)` hears about every 100 ms (fraction of
   * the expected hashes, can pass 1 on an unlucky search).
   */
  stamp(headerBytes, expectedHashes, onProgress = () => {}) {
    const run = this.queue.then(() => this.search(headerBytes, expectedHashes, onProgress));
    this.queue = run.catch(() => {});
    return run;
  }

  spawn() {
    while (this.workers.length < this.count) {
      this.workers.push(new Worker(new URL('./miner.js', import.meta.url), { type: 'module' }));
    }
  }

  search(headerBytes, expectedHashes, onProgress) {
    this.spawn();
    const id = this.nextId++;
    let hashes = 0;
    return new Promise((resolve, reject) => {
      const finish = (done) => {
        for (const worker of this.workers) {
          worker.postMessage({ type: 'stop' });
          worker.onmessage = null;
          worker.onerror = null;
        }
        done();
      };
      this.workers.forEach((worker, i) => {
        worker.onmessage = (event) => {
          const msg = event.data;
          if (msg.type === 'progress') {
            hashes += msg.hashes;
            onProgress(expectedHashes > 0 ? hashes / expectedHashes : 0);
          } else if (msg.type === 'found' && msg.id === id) {
            finish(() => resolve(BigInt(msg.nonce)));
          } else if (msg.type === 'error') {
            finish(() => reject(new Error(`stamping: ${msg.message}`)));
          }
        };
        worker.onerror = (event) => finish(() => reject(new Error(`stamp worker: ${event.message || 'failed'}`)));
        const start = BigInt(i) << RANGE_BITS;
        const end = BigInt(i + 1) << RANGE_BITS;
        worker.postMessage({ type: 'job', id, headerBytes, start, end });
      });
    });
  }
}
