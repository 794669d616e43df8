// Mining on the GPU with WebGPU, beside the CPU workers (experimental, off
// by default): the kernel is www/sha256-miner.wgsl, fed the job as words by
// the wasm `Miner.gpuJob()` (midstate, padded tail, target; see
// tabchain_core::mining::GpuJob). Nonces are made on the GPU from a 64-bit
// base given as two u32 halves; each dispatch is sized to take about 50 ms,
// so the page stays responsive and a new job is picked up quickly. The GPU's
// answer is never trusted: every found nonce is re-checked with the wasm
// reference (`Miner.check`) and its GPU-computed hash compared; a mismatch
// turns the GPU off.
//
// `probeGpu()` says whether this browser can; `GpuKernel` searches a range
// (also the test hook `window.tabchain.gpuSearch`); `GpuLane` follows the
// mining pool's jobs like a worker (www/miners.js).

import { Miner } from './pkg/tabchain_wasm.js';

const WORKGROUP = 64;
/** The index in `Result` (www/sha256-miner.wgsl) meaning "nothing found". */
const NONE = 0xffffffff;
/** Words in the job buffer: midstate 8, tail 16, target 8, base_lo, base_hi, count, row. */
const JOB_WORDS = 36;
const PARAMS_OFFSET = 32 * 4;
/** Words in the result buffer: found, then the hash's 8. */
const RESULT_WORDS = 9;
/** What one dispatch should take. */
export const DISPATCH_MS = 50;
/** Nonces per dispatch: a first guess, the least and the most. */
const FIRST_DISPATCH = WORKGROUP * 64;
const MIN_DISPATCH = WORKGROUP * 4;
const MAX_DISPATCH = 1 << 28;
const REPORT_MS = 100;
const TWO_64 = 1n << 64n;

/** `{ok, reason, adapter}`: whether this page can mine on the GPU, why not, and the adapter's name. */
export async function probeGpu() {
  if (!window.isSecureContext) return { ok: false, reason: 'WebGPU needs a secure context (https)', adapter: null };
  if (!navigator.gpu) return { ok: false, reason: 'this browser has no WebGPU', adapter: null };
  try {
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return { ok: false, reason: 'no WebGPU adapter (GPU blocked or missing)', adapter: null };
    return { ok: true, reason: null, adapter: adapterName(adapter) };
  } catch (err) {
    return { ok: false, reason: `WebGPU failed: ${err.message || err}`, adapter: null };
  }
}

/** An adapter as people name it: vendor, architecture, description (what the browser tells). */
function adapterName(adapter) {
  const info = adapter.info || {};
  const parts = [info.vendor, info.architecture, info.description].filter(Boolean);
  const name = parts.length > 0 ? parts.join(' ') : 'unknown GPU';
  return info.isFallbackAdapter ? `${name} (fallback)` : name;
}

/** A nonce as the u32 halves the kernel adds with carry. */
const halves = (nonce) => [Number(nonce >> 32n), Number(nonce & 0xffffffffn)];

/** The hash words as 64 hex digits (what `Miner.check` returns). */
const wordsHex = (words) => Array.from(words, (w) => w.toString(16).padStart(8, '0')).join('');

/** The WebGPU device, the kernel's two pipelines and its buffers: made once, one job at a time. */
export class GpuKernel {
  /** Requests the adapter and device and compiles the kernel; throws with a reason when it cannot. */
  static async create() {
    if (!navigator.gpu) throw new Error('this browser has no WebGPU');
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) throw new Error('no WebGPU adapter');
    const device = await adapter.requestDevice();
    const response = await fetch(new URL('./sha256-miner.wgsl', import.meta.url));
    if (!response.ok) throw new Error(`sha256-miner.wgsl: HTTP ${response.status}`);
    const module = device.createShaderModule({ code: await response.text() });
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length > 0) throw new Error(`sha256-miner.wgsl: ${errors.map((m) => `${m.lineNum}: ${m.message}`).join('; ')}`);
    return new GpuKernel(device, module, adapterName(adapter));
  }

  constructor(device, module, adapter) {
    this.device = device;
    this.adapter = adapter;
    /** Why the device is gone (null while it works). */
    this.lost = null;
    device.lost.then((info) => {
      this.lost = `GPU device lost: ${info.message || info.reason}`;
    });
    // A validation or out-of-memory error leaves results that mean nothing: the next dispatch fails instead.
    device.addEventListener('uncapturederror', (event) => {
      this.lost = `GPU error: ${event.error.message}`;
    });
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      ],
    });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const pipeline = (entryPoint) => device.createComputePipeline({ layout: pipelineLayout, compute: { module, entryPoint } });
    this.search = pipeline('search');
    this.hashFound = pipeline('hash_found');
    this.jobBuffer = device.createBuffer({ size: JOB_WORDS * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.resultBuffer = device.createBuffer({
      size: RESULT_WORDS * 4,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    });
    this.readBuffer = device.createBuffer({ size: RESULT_WORDS * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.bindGroup = device.createBindGroup({
      layout,
      entries: [
        { binding: 0, resource: { buffer: this.jobBuffer } },
        { binding: 1, resource: { buffer: this.resultBuffer } },
      ],
    });
    this.maxRowGroups = device.limits.maxComputeWorkgroupsPerDimension;
    /** Nonces per dispatch, adapted to take DISPATCH_MS. */
    this.perDispatch = FIRST_DISPATCH;
  }

  /** Uploads a job (`Miner.gpuJob()`): midstate, tail and target. */
  setJob(job) {
    const words = new Uint32Array(32);
    words.set(job.midstate, 0);
    words.set(job.tail, 8);
    words.set(job.target, 24);
    this.device.queue.writeBuffer(this.jobBuffer, 0, words);
  }

  /**
   * Hashes `count` nonces from `base` (a bigint; wraps past 2^64) in one
   * dispatch: `{index (of the first that met the target, or null), hash
   * (its hash words as the GPU computed them), ms}`.
   */
  async dispatch(base, count) {
    if (this.lost) throw new Error(this.lost);
    const groups = Math.ceil(count / WORKGROUP);
    const x = Math.min(groups, this.maxRowGroups);
    const y = Math.ceil(groups / x);
    const [hi, lo] = halves(base);
    this.device.queue.writeBuffer(this.jobBuffer, PARAMS_OFFSET, new Uint32Array([lo, hi, count, x * WORKGROUP]));
    this.device.queue.writeBuffer(this.resultBuffer, 0, new Uint32Array([NONE]));
    const started = performance.now();
    const encoder = this.device.createCommandEncoder();
    for (const [pipeline, size] of [
      [this.search, [x, y]],
      [this.hashFound, [1, 1]],
    ]) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.bindGroup);
      pass.dispatchWorkgroups(...size);
      pass.end();
    }
    encoder.copyBufferToBuffer(this.resultBuffer, 0, this.readBuffer, 0, RESULT_WORDS * 4);
    this.device.queue.submit([encoder.finish()]);
    await this.readBuffer.mapAsync(GPUMapMode.READ);
    const words = new Uint32Array(this.readBuffer.getMappedRange().slice(0));
    this.readBuffer.unmap();
    const ms = performance.now() - started;
    const index = words[0] === NONE ? null : words[0];
    return { index, hash: index === null ? null : words.slice(1), ms };
  }

  /** The next dispatch's size after one of `count` nonces took `ms`: aimed at DISPATCH_MS, at most 4× bigger. */
  adapt(count, ms) {
    if (ms <= 0) return;
    const aimed = Math.round((count * DISPATCH_MS) / ms);
    const next = Math.min(aimed, count * 4, MAX_DISPATCH);
    this.perDispatch = Math.max(MIN_DISPATCH, Math.ceil(next / WORKGROUP) * WORKGROUP);
  }

  /**
   * Searches `count` nonces from `start` of the 96-byte header `headerBytes`
   * (the test hook and the benchmark): `{found: {nonce (bigint), hash (the
   * GPU's, hex), checked (the wasm reference's hash, or undefined)} or null,
   * hashes, dispatches, ms}`. `perDispatch` fixes the dispatch size (else it
   * adapts to ~50 ms).
   */
  async searchRange(headerBytes, start, count, { perDispatch } = {}) {
    const miner = new Miner(headerBytes);
    try {
      this.setJob(miner.gpuJob());
      let done = 0;
      let dispatches = 0;
      const started = performance.now();
      while (done < count) {
        const n = Math.min(perDispatch || this.perDispatch, count - done);
        const base = (start + BigInt(done)) % TWO_64;
        const r = await this.dispatch(base, n);
        dispatches += 1;
        if (!perDispatch) this.adapt(n, r.ms);
        if (r.index !== null) {
          const nonce = (base + BigInt(r.index)) % TWO_64;
          const found = { nonce, hash: wordsHex(r.hash), checked: miner.check(nonce) };
          return { found, hashes: done + r.index + 1, dispatches, ms: performance.now() - started };
        }
        done += n;
      }
      return { found: null, hashes: count, dispatches, ms: performance.now() - started };
    } finally {
      miner.free();
    }
  }

  /** Releases the device (it counts as lost from now on). */
  destroy() {
    this.lost = this.lost ?? 'GPU device released';
    this.device.destroy();
  }
}

/**
 * The GPU as one more miner of the pool: follows its jobs (`{id,
 * headerBytes, start, end}`) dispatch after dispatch until stopped or given
 * another, reports `{hashes, ms}` about every 100 ms, and hands on a found
 * nonce only once the wasm reference agrees (else `onFailure`, and it stops).
 */
export class GpuLane {
  /**
   * @param {GpuKernel} kernel
   * @param {{onProgress: (hashes: number, ms: number) => void, onFound: (id: number, nonce: bigint) => void, onFailure: (reason: string) => void}} handlers
   */
  constructor(kernel, handlers) {
    this.kernel = kernel;
    this.handlers = handlers;
    this.job = null;
    this.running = false;
    this.closed = false;
  }

  /** Mines `job` from now on (replacing the current one within a dispatch). */
  setJob(job) {
    if (this.closed) return;
    let miner;
    try {
      miner = new Miner(job.headerBytes);
    } catch (err) {
      this.fail(`GPU job: ${err.message || err}`);
      return;
    }
    if (this.job) this.job.miner.free();
    this.job = { id: job.id, miner, words: miner.gpuJob(), next: job.start, end: job.end, uploaded: false };
    if (!this.running) this.loop();
  }

  /** Stops mining (until the next job). */
  stop() {
    if (this.job) this.job.miner.free();
    this.job = null;
  }

  /** Stops for good and releases the device. */
  close() {
    this.closed = true;
    this.stop();
    if (!this.running) this.kernel.destroy();
  }

  fail(reason) {
    this.stop();
    this.closed = true;
    this.handlers.onFailure(reason);
  }

  async loop() {
    this.running = true;
    let hashes = 0;
    let since = performance.now();
    try {
      while (this.job && !this.closed) {
        const job = this.job;
        if (!job.uploaded) {
          this.kernel.setJob(job.words);
          job.uploaded = true;
        }
        const remaining = job.end - job.next;
        if (remaining <= 0n) {
          this.stop();
          break;
        }
        const n = BigInt(this.kernel.perDispatch) < remaining ? this.kernel.perDispatch : Number(remaining);
        const base = job.next;
        const r = await this.kernel.dispatch(base % TWO_64, n);
        this.kernel.adapt(n, r.ms);
        job.next += BigInt(n);
        hashes += r.index === null ? n : r.index + 1;
        // A job replaced meanwhile: its find is stale, and `job.miner` freed.
        if (r.index !== null && this.job === job) {
          const nonce = (base + BigInt(r.index)) % TWO_64;
          const gpuHash = wordsHex(r.hash);
          const checked = job.miner.check(nonce);
          if (checked !== gpuHash) {
            this.fail(`the GPU's nonce ${nonce} (hash ${gpuHash}) does not match the reference (${checked ?? 'misses the target'})`);
            break;
          }
          this.stop();
          this.handlers.onFound(job.id, nonce);
        }
        const now = performance.now();
        if (now - since >= REPORT_MS) {
          this.handlers.onProgress(hashes, now - since);
          hashes = 0;
          since = now;
        }
      }
    } catch (err) {
      this.fail(`GPU: ${err.message || err}`);
    } finally {
      this.running = false;
      if (hashes > 0) this.handlers.onProgress(hashes, performance.now() - since);
      if (this.closed) this.kernel.destroy();
    }
  }
}
