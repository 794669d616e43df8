// A mining worker: its own wasm instance and Miner, working through the nonce
// range it is given in short slices, so a new job (new tip, new posts)
// replaces the old one within a slice (~25 ms, well inside the 100 ms a new
// tip or new posts may take to reach every worker; 10 ms slices cost 2–3% of
// the hash rate in yields). Reports hashes every ~100 ms and the first nonce
// that meets the target.

import init, { Miner } from './pkg/tabchain_wasm.js';

// Tells the pool once the wasm is in, or that it is not (e.g. the relay that
// serves it is down and no service worker has it cached): the pool starts a
// new worker later.
const ready = init({ module_or_path: new URL('./pkg/tabchain_wasm_bg.wasm', import.meta.url) }).then(
  () => {
    self.postMessage({ type: 'ready' });
    return true;
  },
  (err) => {
    self.postMessage({ type: 'failed', message: `the wasm did not load: ${err && err.message ? err.message : err}` });
    return false;
  },
);
const SLICE_MS = 25;
const REPORT_MS = 100;

let job = null;
let running = false;
let slice = 20_000;

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === 'job') {
    if (!(await ready)) return;
    try {
      job = { id: msg.id, miner: new Miner(msg.headerBytes), next: msg.start, end: msg.end };
    } catch (err) {
      job = null;
      self.postMessage({ type: 'error', message: String(err) });
      return;
    }
    if (!running) loop();
  } else if (msg.type === 'stop') {
    job = null;
  }
};

// Lets queued messages (a new job, a stop) run between slices.
function yieldToMessages() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });
}

async function loop() {
  running = true;
  let hashes = 0;
  let since = performance.now();
  while (job) {
    const current = job;
    const remaining = current.end - current.next;
    if (remaining <= 0n) {
      job = null;
      break;
    }
    const count = BigInt(slice) < remaining ? slice : Number(remaining);
    const started = performance.now();
    const found = current.miner.mineRange(current.next, count);
    const took = performance.now() - started;
    // A find ends the slice early: only the nonces up to it were hashed (on
    // the dev network that is a few of a slice's thousands, and counting
    // them all made the rate jump to G/s).
    hashes += found ? Number(found.nonce - current.next) + 1 : count;
    current.next += BigInt(count);
    // Aim each slice at SLICE_MS so a new job is picked up quickly.
    if (took > 0) slice = Math.max(1_000, Math.min(2_000_000, Math.round((slice * SLICE_MS) / took)));
    if (found && job === current) {
      self.postMessage({ type: 'found', id: current.id, nonce: found.nonce, hash: found.hash });
      job = null;
    }
    const now = performance.now();
    if (now - since >= REPORT_MS) {
      self.postMessage({ type: 'progress', hashes, ms: now - since });
      hashes = 0;
      since = now;
    }
    await yieldToMessages();
  }
  const now = performance.now();
  if (hashes > 0) self.postMessage({ type: 'progress', hashes, ms: now - since });
  self.postMessage({ type: 'idle' });
  running = false;
}
