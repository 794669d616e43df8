// Runs N module workers on disjoint nonce ranges of the current template,
// and optionally the GPU (gpu-miner.js) on a range of its own, and keeps a
// live hash rate of them all. The host (host.js) calls `setJob` whenever the
// tip or the pending posts change; every worker and the GPU get the new job
// at once.

import { GpuKernel, GpuLane } from './gpu-miner.js';

const RANGE_BITS = 56n;
/** Reports older than this no longer count in the hash rate. */
const RATE_WINDOW_MS = 2000;
/** A worker that did not start (its script or wasm did not load) is started again after 1 s, doubling to 30 s. */
const RESTART_MIN_MS = 1000;
const RESTART_MAX_MS = 30_000;

export class MiningManager {
  /**
   * @param {{onFound: (id: number, nonce: bigint, source: 'cpu'|'gpu') => void, onError: (message: string) => void, onGpuFailure: (reason: string) => void}} handlers
   *   `onGpuFailure`: the GPU could not start, failed, or answered what the wasm reference refutes; it is off
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.workers = [];
    this.job = null;
    this.enabled = false;
    this.rates = [];
    /** Failed worker starts in a row (the retry delay grows with it). */
    this.failedStarts = 0;
    /** The random start of every range in the current job (see `dispatch`). */
    this.offset = 0n;
    /** The GPU lane while it mines (null: off or starting). */
    this.gpu = null;
    this.gpuWanted = false;
    this.gpuStarting = null;
    this.gpuRate = { rate: 0, at: 0 };
  }

  /** Starts or stops mining with `count` workers and the GPU if `gpu` (no workers and no GPU stops). */
  configure(enabled, count, gpu = false) {
    this.enabled = enabled && (count > 0 || gpu);
    const wanted = this.enabled ? count : 0;
    while (this.workers.length > wanted) {
      this.workers.pop().terminate();
      this.rates.pop();
    }
    while (this.workers.length < wanted) this.spawn();
    this.useGpu(this.enabled && gpu);
    this.dispatch();
  }

  /** Starts the GPU lane (the device and kernel made at once, asynchronously) or closes it. */
  useGpu(on) {
    this.gpuWanted = on;
    if (!on) {
      if (this.gpu) this.gpu.close();
      this.gpu = null;
      return;
    }
    if (this.gpu || this.gpuStarting) return;
    this.gpuStarting = GpuKernel.create().then(
      (kernel) => {
        this.gpuStarting = null;
        if (!this.gpuWanted) {
          kernel.destroy();
          return;
        }
        this.gpuRate = { rate: 0, at: 0 };
        const lane = new GpuLane(kernel, {
          onProgress: (hashes, ms) => {
            if (this.gpu === lane) this.progress(this.gpuRate, hashes, ms);
          },
          onFound: (id, nonce) => {
            if (this.gpu === lane && this.job && id === this.job.id) this.handlers.onFound(id, nonce, 'gpu');
          },
          onFailure: (reason) => {
            if (this.gpu !== lane) return;
            this.gpu = null;
            this.gpuWanted = false;
            this.handlers.onGpuFailure(reason);
          },
        });
        this.gpu = lane;
        this.dispatch();
      },
      (err) => {
        this.gpuStarting = null;
        this.gpuWanted = false;
        this.handlers.onGpuFailure(`the GPU did not start: ${err.message || err}`);
      },
    );
  }

  /** Whether the GPU mines now, its adapter, its rate and its dispatch size: `{running, adapter, hashrate, perDispatch}`. */
  gpuStatus() {
    const kernel = this.gpu ? this.gpu.kernel : null;
    return {
      running: Boolean(this.gpu),
      adapter: kernel ? kernel.adapter : null,
      hashrate: this.gpu ? Math.round(this.recent(this.gpuRate)) : 0,
      perDispatch: kernel ? kernel.perDispatch : 0,
    };
  }

  /** Adds a worker to the pool. */
  spawn() {
    this.workers.push(null);
    this.rates.push({ rate: 0, at: performance.now() });
    this.start(this.workers.length - 1);
  }

  /** Starts the worker of slot `index`; one that does not load is started again later (`failedStart`). */
  start(index) {
    const worker = new Worker(new URL('./miner.js', import.meta.url), { type: 'module' });
    let started = false;
    worker.onmessage = (event) => {
      const msg = event.data;
      if (msg.type === 'ready') {
        started = true;
        this.failedStarts = 0;
      } else if (msg.type === 'failed') {
        this.failedStart(index, worker, msg.message);
      } else {
        this.onMessage(index, msg);
      }
    };
    worker.onerror = (event) => {
      if (started) {
        this.handlers.onError(`miner worker: ${event.message || 'an error'}`);
      } else {
        event.preventDefault();
        this.failedStart(index, worker, event.message || 'its script did not load');
      }
    };
    this.workers[index] = worker;
  }

  /** A worker that did not start: ended, and its slot started again after a delay while the pool still wants it. */
  failedStart(index, worker, reason) {
    if (this.workers[index] !== worker) return;
    worker.terminate();
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(this.failedStarts, 5));
    this.failedStarts += 1;
    this.handlers.onError(`miner worker ${index + 1} did not start (${reason}); trying again in ${delay / 1000} s`);
    setTimeout(() => {
      if (this.workers[index] !== worker) return; // stopped or resized meanwhile
      this.start(index);
      this.sendJob(index);
    }, delay);
  }

  /** Folds a report of `hashes` in `ms` into a rate slot (smoothed). */
  progress(slot, hashes, ms) {
    if (!slot) return;
    const rate = ms > 0 ? (hashes * 1000) / ms : 0;
    slot.rate = slot.rate === 0 ? rate : slot.rate * 0.6 + rate * 0.4;
    slot.at = performance.now();
  }

  /** A slot's rate if it reported within the last 2 s, else 0. */
  recent(slot) {
    return performance.now() - slot.at < RATE_WINDOW_MS ? slot.rate : 0;
  }

  onMessage(index, msg) {
    if (msg.type === 'progress') {
      this.progress(this.rates[index], msg.hashes, msg.ms);
    } else if (msg.type === 'found') {
      if (this.job && msg.id === this.job.id) this.handlers.onFound(msg.id, msg.nonce, 'cpu');
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
      if (this.gpu) this.gpu.stop();
      return;
    }
    // Worker i searches [i·2^56, (i+1)·2^56), the GPU the range after the
    // workers', offset by a random start so tabs mining the same template
    // rarely repeat each other's work.
    this.offset = BigInt(Math.floor(Math.random() * 2 ** 40));
    this.workers.forEach((_, i) => this.sendJob(i));
    if (this.gpu) this.gpu.setJob({ id: this.job.id, headerBytes: this.job.headerBytes, ...this.range(Math.min(this.workers.length, 255)) });
  }

  /** The nonces of lane `i` in the current job. */
  range(i) {
    return { start: (BigInt(i) << RANGE_BITS) + this.offset, end: BigInt(i + 1) << RANGE_BITS };
  }

  /** Gives worker `i` the current job, if mining. */
  sendJob(i) {
    if (!this.enabled || !this.job) return;
    this.workers[i].postMessage({ type: 'job', id: this.job.id, headerBytes: this.job.headerBytes, ...this.range(i) });
  }

  /** Hashes per second over all workers and the GPU, from reports of the last 2 s. */
  hashrate() {
    const workers = this.rates.reduce((sum, r) => sum + this.recent(r), 0);
    return Math.round(workers + (this.gpu ? this.recent(this.gpuRate) : 0));
  }

  get workerCount() {
    return this.workers.length;
  }
}
