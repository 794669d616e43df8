// The page side of `cargo xtask bench wasm` (e2e/bench-wasm.mjs) and `bench
// gpu` (e2e/bench-gpu.mjs): runs the real www/miner.js workers the way
// www/miners.js's MiningManager does, hash-wasm in a worker, and the WebGPU
// kernel of www/gpu-miner.js, and reports hashes per second.

import { benchHeader } from './header.js';

const RANGE_BITS = 56n;

/**
 * Mines the bench header with `workers` www/miner.js workers (disjoint nonce
 * ranges, as MiningManager dispatches them). Once every worker has reported
 * progress, waits `warmupMs`, then sums the workers' `progress` messages
 * ({hashes, ms}) received during `measureMs`. Resolves to
 * {hashesPerSec (sum of the workers' rates, as MiningManager computes its
 * hash rate), wallHashesPerSec (all hashes counted ÷ wall time), perWorker:
 * [{hashes, ms, reports, hashesPerSec}]}.
 */
function mine(workers, { warmupMs, measureMs }) {
  return new Promise((resolve, reject) => {
    const headerBytes = benchHeader();
    const spawned = [];
    const stats = [];
    const started = new Set();
    let phase = 'starting';
    let measureStart = 0;
    let timer = null;
    const finish = (error, value) => {
      clearTimeout(timer);
      for (const w of spawned) w.terminate();
      phase = 'done';
      if (error) reject(error);
      else resolve(value);
    };
    const startupTimer = setTimeout(() => {
      if (phase === 'starting') finish(new Error(`only ${started.size} of ${workers} miner workers reported progress within 30 s`));
    }, 30_000);
    const onMessage = (index, msg) => {
      if (phase === 'done') return;
      if (msg.type === 'progress') {
        if (phase === 'starting') {
          started.add(index);
          if (started.size === workers) {
            clearTimeout(startupTimer);
            phase = 'warmup';
            timer = setTimeout(() => {
              phase = 'measure';
              measureStart = performance.now();
              timer = setTimeout(() => {
                const wallMs = performance.now() - measureStart;
                const perWorker = stats.map((s) => ({ ...s, hashesPerSec: s.ms > 0 ? (s.hashes * 1000) / s.ms : 0 }));
                const hashesPerSec = perWorker.reduce((sum, s) => sum + s.hashesPerSec, 0);
                const wallHashesPerSec = (perWorker.reduce((sum, s) => sum + s.hashes, 0) * 1000) / wallMs;
                finish(null, { workers, hashesPerSec, wallHashesPerSec, perWorker });
              }, measureMs);
            }, warmupMs);
          }
        } else if (phase === 'measure') {
          const s = stats[index];
          s.hashes += msg.hashes;
          s.ms += msg.ms;
          s.reports += 1;
        }
      } else if (msg.type === 'found') {
        finish(new Error(`worker ${index} met the bench target (nonce ${msg.nonce}): it must be unreachable`));
      } else if (msg.type === 'error') {
        finish(new Error(`miner worker ${index}: ${msg.message}`));
      } else if (msg.type === 'idle') {
        finish(new Error(`miner worker ${index} went idle`));
      }
    };
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(new URL('/miner.js', location.href), { type: 'module' });
      worker.onmessage = (event) => onMessage(i, event.data);
      worker.onerror = (event) => finish(new Error(`miner worker ${i}: ${event.message || 'failed to start'}`));
      spawned.push(worker);
      stats.push({ hashes: 0, ms: 0, reports: 0 });
    }
    spawned.forEach((worker, i) => {
      const start = BigInt(i) << RANGE_BITS;
      const end = BigInt(i + 1) << RANGE_BITS;
      worker.postMessage({ type: 'job', id: 1, headerBytes, start, end });
    });
  });
}

/** Runs one module worker that answers one message with {hashes, ms} (or {error}). */
function timedWorker(script, what, request) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(script, import.meta.url), { type: 'module' });
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(`${what} worker: ${event.message || 'failed to start'}`));
    };
    worker.onmessage = (event) => {
      worker.terminate();
      const msg = event.data;
      if (msg.error) reject(new Error(`${what} worker: ${msg.error}`));
      else resolve({ hashes: msg.hashes, ms: msg.ms, hashesPerSec: (msg.hashes * 1000) / msg.ms });
    };
    worker.postMessage(request);
  });
}

/** hash-wasm's SHA-256 over the bench header in one worker: {variant, hashes, ms, hashesPerSec}. */
async function hashWasm(variant, { warmupMs, measureMs }) {
  const result = await timedWorker('./hash-wasm-worker.js', 'hash-wasm', { variant, warmupMs, measureMs });
  return { variant, ...result };
}

/** The wasm Miner in a tight mineRange loop in one worker, without www/miner.js: {hashes, ms, hashesPerSec}. */
function raw({ warmupMs, measureMs }) {
  return timedWorker('./raw-worker.js', 'raw Miner', { warmupMs, measureMs });
}

/**
 * The WebGPU kernel (www/gpu-miner.js) on the bench header, in ranges of four
 * dispatches, each sized (as when mining) to take ~50 ms: `warmupMs`, then
 * `measureMs` counted. Resolves {adapter, hashesPerSec, perDispatch, dispatchMs} (the last two: means).
 */
async function gpu({ warmupMs, measureMs }) {
  const wasm = await import('/pkg/tabchain_wasm.js');
  await wasm.default({ module_or_path: '/pkg/tabchain_wasm_bg.wasm' });
  const { GpuKernel } = await import('/gpu-miner.js');
  const kernel = await GpuKernel.create();
  const headerBytes = benchHeader();
  let nonce = 0n;
  const run = async (ms) => {
    let hashes = 0;
    let dispatches = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      const count = kernel.perDispatch * 4;
      const r = await kernel.searchRange(headerBytes, nonce, count);
      if (r.found) throw new Error(`the GPU met the bench target (nonce ${r.found.nonce}): it must be unreachable`);
      nonce += BigInt(count);
      hashes += r.hashes;
      dispatches += r.dispatches;
      now = performance.now();
    }
    return { hashes, dispatches, ms: now - start };
  };
  try {
    await run(warmupMs);
    const r = await run(measureMs);
    return {
      adapter: kernel.adapter,
      hashesPerSec: (r.hashes * 1000) / r.ms,
      perDispatch: Math.round(r.hashes / r.dispatches),
      dispatchMs: r.ms / r.dispatches,
    };
  } finally {
    kernel.destroy();
  }
}

window.bench = { mine, hashWasm, raw, gpu, hardwareConcurrency: navigator.hardwareConcurrency };
