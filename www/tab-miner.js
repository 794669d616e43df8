// This tab's side of mining: the browser's one miner (`mining-lock.js`: the
// tab holding the lock runs it), the worker pool and the GPU beside it
// (`miners.js`, `gpu-miner.js`), the templates the node hands them (at most
// one every 50 ms unless forced), and the nonces they find going back to the
// node. The GPU (experimental) is probed once at start (`gpuSupport`); one
// that fails or answers what the wasm reference refutes is turned off for
// good in this tab (`gpuFailure`).
//
// It works for a `Host` (host.js): reads its node, runs node calls through its
// queue, logs, and tells it when something on screen changed.

import { MiningManager } from './miners.js';
import { GpuKernel, probeGpu } from './gpu-miner.js';
import { MiningLock } from './mining-lock.js';

const TEMPLATE_MIN_GAP_MS = 50;

export class TabMiner {
  /** `host`: its node, `enqueue`, `log`, `changed`, `clock`, `siblings` and `workers` events. */
  constructor(host) {
    this.host = host;
    /** The worker count offered by default: all cores but one. */
    this.defaultWorkers = Math.max(1, (navigator.hardwareConcurrency || 2) - 1);
    /** Blocks this tab's node accepted from its miners, and of those from the GPU. */
    this.mined = 0;
    this.minedGpu = 0;
    this.templateTimer = null;
    this.lastTemplateAt = 0;
    /** The workers and the GPU of this tab. */
    this.pool = new MiningManager({
      onFound: (id, nonce, source) => host.enqueue(() => this.onFound(id, nonce, source)),
      onError: (message) => host.log(`miner: ${message}`),
      onGpuFailure: (reason) => this.onGpuFailure(reason),
    });
    /** Whether this page can mine on the GPU: `{ok, reason, adapter}`, null until probed. */
    this.gpuSupport = null;
    /** Why the GPU was turned off for good in this tab (null: it was not). */
    this.gpuFailure = null;
    /** The test hook's own kernel (`gpuSearch`), made on first use. */
    this.testKernel = null;
    /** The browser's one miner: runs here while this tab holds the lock. */
    this.lock = new MiningLock({
      run: (workers, gpu) => this.run(workers, gpu),
      stop: () => this.run(0, false),
      tell: (on, workers, gpu, held) => host.siblings.mining(on, workers, gpu, held),
      changed: () => host.changed(),
    });
  }

  /** Finds out once whether this page can mine on the GPU. */
  probe() {
    probeGpu().then((support) => {
      this.gpuSupport = support;
      this.host.changed();
    });
  }

  /**
   * Starts (with `workers`, else the current or default count; with the GPU
   * if `gpu`, else as set) or stops the browser's mining: this tab runs the
   * workers and the GPU if it holds the mining lock (at once when no other
   * tab mines), else the mining tab takes the setting.
   */
  set(on, workers, gpu) {
    const count = Number.isInteger(workers) ? Math.max(0, workers) : this.lock.workers || this.defaultWorkers;
    const withGpu = typeof gpu === 'boolean' ? gpu : this.lock.gpu;
    this.host.dispatchEvent(new CustomEvent('workers', { detail: count }));
    this.lock.set(Boolean(on), count, withGpu);
    const what = `${count} worker(s)${withGpu ? ' and the GPU' : ''}`;
    this.host.log(this.lock.on ? `mining with ${what}` : `mining stopped${withGpu ? ' (GPU on when mining)' : ''}`);
    this.host.changed();
  }

  /** Runs `workers` miners in this tab (0: none), and the GPU if `gpu`; the mining lock decides. */
  run(workers, gpu) {
    const useGpu = Boolean(gpu) && this.gpuFailure === null;
    const was = this.pool.enabled ? this.pool.workerCount : 0;
    const wasGpu = this.pool.gpuWanted;
    this.pool.configure(workers > 0 || useGpu, workers, useGpu);
    this.refreshTemplate(true);
    if ((workers !== was || useGpu !== wasGpu) && this.lock.locks) {
      const what = `${workers} worker(s)${useGpu ? ' and the GPU' : ''}`;
      this.host.log(workers > 0 || useGpu ? `this tab mines for the browser (${what})` : 'this tab stopped mining');
    }
    this.host.changed();
  }

  /** The GPU failed or could not start: it stays off in this tab, and the browser's setting drops it. */
  onGpuFailure(reason) {
    console.error(`tabchain: GPU turned off: ${reason}`);
    this.gpuFailure = reason;
    this.host.log(`GPU turned off: ${reason}`);
    this.set(this.lock.on, this.lock.workers, false);
  }

  /**
   * `window.tabchain.gpu()`: {supported, failed (turned off for good),
   * reason (why not, or why it was turned off), adapter, enabled (the
   * browser's setting), running (mining here now), hashrate, perDispatch
   * (nonces per ~50 ms dispatch), blocks (accepted from the GPU)}.
   */
  gpuStatus() {
    const support = this.gpuSupport;
    const lane = this.pool.gpuStatus();
    return {
      supported: Boolean(support && support.ok) && this.gpuFailure === null,
      failed: this.gpuFailure !== null,
      reason: this.gpuFailure ?? (support ? support.reason : 'checking for WebGPU'),
      adapter: lane.adapter ?? (support ? support.adapter : null),
      enabled: this.lock.gpu,
      running: lane.running,
      hashrate: lane.hashrate,
      perDispatch: lane.perDispatch,
      blocks: this.minedGpu,
    };
  }

  /**
   * The test hook `window.tabchain.gpuSearch`: runs the GPU kernel on the
   * 96-byte header `headerBytes` over `count` nonces from `start` (bigint),
   * on a device of its own; see `GpuKernel.searchRange`.
   */
  async gpuSearch(headerBytes, start, count, options) {
    if (!this.testKernel) this.testKernel = GpuKernel.create();
    return (await this.testKernel).searchRange(headerBytes, start, count, options);
  }

  /** Hashes per second of all this tab's miners now (0 when not mining). */
  hashrate() {
    return this.pool.enabled ? this.pool.hashrate() : 0;
  }

  /** Workers running in this tab (0 when it does not mine). */
  workersHere() {
    return this.pool.enabled ? this.pool.workerCount : 0;
  }

  /**
   * Gives the miners a fresh template (the node says when theirs is stale:
   * a new tip, new posts, or its age), at most every 50 ms unless forced.
   */
  refreshTemplate(force) {
    const host = this.host;
    if (!this.pool.enabled || !host.node) return;
    const now = Date.now();
    const wait = force ? 0 : Math.max(0, TEMPLATE_MIN_GAP_MS - (now - this.lastTemplateAt));
    host.clock.cancel(this.templateTimer);
    this.templateTimer = null;
    const give = () =>
      host.enqueue(() => {
        if (!this.pool.enabled) return;
        const template = host.node.template(Date.now());
        this.lastTemplateAt = Date.now();
        this.pool.setJob({ id: template.id, headerBytes: template.headerBytes });
      });
    if (wait === 0) give();
    else this.templateTimer = host.clock.after(wait, give);
  }

  /** A miner found `nonce` for template `id`: the node builds the block. Run it through `enqueue`. */
  onFound(id, nonce, source) {
    const host = this.host;
    let outputs;
    try {
      outputs = host.node.foundNonce(id, nonce, Date.now());
    } catch (err) {
      // A template the tip already moved past: nothing lost.
      console.debug('stale nonce', err);
      return;
    }
    this.mined += 1;
    if (source === 'gpu') this.minedGpu += 1;
    host.log(`mined block ${host.node.height()}${source === 'gpu' ? ' on the GPU' : ''}`);
    host.apply(outputs);
    // The node said the template is stale; after our own block, don't wait the 50 ms.
    this.refreshTemplate(true);
  }
}
