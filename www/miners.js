// Runs N module workers on disjoint nonce ranges of the current template and
// keeps a live hash rate. The host (host.js) calls `setJob` whenever the tip
// or the pending posts change; every worker gets the new job at once.

const RANGE_BITS = 56n;

export class MiningManager {
  /**
   * @param {{onFound: (id: number, nonce: bigint) => void, onError: (message: string) => void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.workers = [];
    this.job = null;
    this.enabled = false;
    this.rates = [];
  }

  /** Starts or stops mining with `count` workers (0 stops). */
  configure(enabled, count) {
    this.enabled = enabled && count > 0;
    const wanted = this.enabled ? count : 0;
    while (this.workers.length > wanted) {
      this.workers.pop().terminate();
      this.rates.pop();
    }
    while (this.workers.length < wanted) this.spawn();
    this.dispatch();
  }

  spawn() {
    const index = this.workers.length;
    const worker = new Worker(new URL('./miner.js', import.meta.url), { type: 'module' });
    worker.onmessage = (event) => this.onMessage(index, event.data);
    worker.onerror = (event) => this.handlers.onError(`miner worker: ${event.message || 'failed to start'}`);
    this.workers.push(worker);
    this.rates.push({ rate: 0, at: performance.now() });
  }

  onMessage(index, msg) {
    if (msg.type === 'progress') {
      const rate = msg.ms > 0 ? (msg.hashes * 1000) / msg.ms : 0;
      const slot = this.rates[index];
      if (slot) {
        slot.rate = slot.rate === 0 ? rate : slot.rate * 0.6 + rate * 0.4;
        slot.at = performance.now();
      }
    } else if (msg.type === 'found') {
      if (this.job && msg.id === this.job.id) this.handlers.onFound(msg.id, msg.nonce);
    } else if (msg.type === 'error') {
      this.handlers.onError(msg.message);
    }
  }

  /** A new template: {id, headerBytes}. */
  setJob(template) {
    this.job = template;
    this.dispatch();
  }

  dispatch() {
    if (!this.enabled || !this.job) {
      for (const worker of this.workers) worker.postMessage({ type: 'stop' });
      return;
    }
    // Worker i searches [i·2^56, (i+1)·2^56), offset by a random start so
    // tabs mining the same template rarely repeat each other's work.
    const offset = BigInt(Math.floor(Math.random() * 2 ** 40));
    this.workers.forEach((worker, i) => {
      const start = (BigInt(i) << RANGE_BITS) + offset;
      const end = (BigInt(i + 1) << RANGE_BITS);
      worker.postMessage({ type: 'job', id: this.job.id, headerBytes: this.job.headerBytes, start, end });
    });
  }

  /** Hashes per second over all workers, from reports of the last 2 s. */
  hashrate() {
    const now = performance.now();
    return Math.round(this.rates.reduce((sum, r) => sum + (now - r.at < 2000 ? r.rate : 0), 0));
  }

  get workerCount() {
    return this.workers.length;
  }
}
