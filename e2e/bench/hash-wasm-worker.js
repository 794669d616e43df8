// Hashes the 96-byte bench header with hash-wasm's SHA-256 in a loop, a new
// nonce each time, for `warmupMs` and then `measureMs`; answers {hashes, ms}.
//
// Variants: 'hasher' — one createSHA256() hasher, init/update/digest('binary')
// per header; 'sha256' — `await sha256(header)` (hex) per header.

import { createSHA256, sha256 } from '/hash-wasm/index.esm.js';
import { benchHeader } from './header.js';

const BATCH = 2_000;

self.onmessage = async (event) => {
  const { variant, warmupMs, measureMs } = event.data;
  try {
    const header = benchHeader();
    const view = new DataView(header.buffer);
    let sink = 0;
    let nonce = 0;
    let batch;
    if (variant === 'hasher') {
      const hasher = await createSHA256();
      batch = async () => {
        for (let i = 0; i < BATCH; i++) {
          view.setUint32(88, nonce++, true);
          hasher.init();
          hasher.update(header);
          sink ^= hasher.digest('binary')[0];
        }
      };
    } else if (variant === 'sha256') {
      batch = async () => {
        for (let i = 0; i < BATCH; i++) {
          view.setUint32(88, nonce++, true);
          sink ^= (await sha256(header)).charCodeAt(0);
        }
      };
    } else {
      throw new Error(`unknown hash-wasm variant ${variant}`);
    }
    const run = async (ms) => {
      let hashes = 0;
      const start = performance.now();
      let now = start;
      while (now - start < ms) {
        await batch();
        hashes += BATCH;
        now = performance.now();
      }
      return { hashes, ms: now - start };
    };
    await run(warmupMs);
    const result = await run(measureMs);
    self.postMessage({ ...result, sink });
  } catch (err) {
    self.postMessage({ error: String(err && err.stack ? err.stack : err) });
  }
};
