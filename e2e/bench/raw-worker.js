// For context: the wasm Miner's own speed, without www/miner.js's slicing,
// yields and reports: `mineRange(nonce, 1_000_000)` in a tight loop for
// `warmupMs` and then `measureMs`; answers {hashes, ms}.

import init, { Miner } from '/pkg/tabchain_wasm.js';
import { benchHeader } from './header.js';

const CHUNK = 1_000_000;

self.onmessage = async (event) => {
  const { warmupMs, measureMs } = event.data;
  try {
    await init({ module_or_path: new URL('/pkg/tabchain_wasm_bg.wasm', self.location.href) });
    const miner = new Miner(benchHeader());
    let nonce = 0n;
    const run = (ms) => {
      let hashes = 0;
      const start = performance.now();
      let now = start;
      while (now - start < ms) {
        if (miner.mineRange(nonce, CHUNK)) throw new Error('the bench target was met');
        nonce += BigInt(CHUNK);
        hashes += CHUNK;
        now = performance.now();
      }
      return { hashes, ms: now - start };
    };
    run(warmupMs);
    self.postMessage(run(measureMs));
  } catch (err) {
    self.postMessage({ error: String(err && err.stack ? err.stack : err) });
  }
};
