// Smoke test of the wasm build (`cargo xtask build-wasm` first), run with
// `node --test wasm/tests/`. Compares the wasm exports with the native
// values recorded in core/test-vectors.json. Node built-ins only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url);
const pkg = new URL('www/pkg/', root);
const vectors = JSON.parse(fs.readFileSync(new URL('core/test-vectors.json', root), 'utf8'));

const wasm = await import(new URL('tabchain_wasm.js', pkg).href);
wasm.initSync({ module: fs.readFileSync(fileURLToPath(new URL('tabchain_wasm_bg.wasm', pkg))) });

function hexToBytes(hex) {
  assert.equal(hex.length % 2, 0, 'hex has an even length');
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

test('chainId matches the native chain ids', () => {
  assert.equal(wasm.chainId('main'), vectors.chain_id.main);
  assert.equal(wasm.chainId('dev'), vectors.chain_id.dev);
  assert.notEqual(wasm.chainId('main'), wasm.chainId('dev'));
});

test('chainId rejects an unknown network', () => {
  assert.throws(() => wasm.chainId('nope'), /nope/);
});

test('genesisHeaderHex is a 96-byte header', () => {
  for (const network of ['main', 'dev']) {
    const hex = wasm.genesisHeaderHex(network);
    assert.match(hex, /^[0-9a-f]{192}$/);
    // A genesis header must be accepted by the miner.
    new wasm.Miner(hexToBytes(hex)).free();
  }
});

test('Miner rejects a malformed header', () => {
  assert.throws(() => new wasm.Miner(new Uint8Array(10)));
});

test('Miner finds the same nonce and hash as native', () => {
  const m = vectors.mining;
  const miner = new wasm.Miner(hexToBytes(m.header_hex));
  const found = miner.mineRange(BigInt(m.start_nonce), m.count);
  assert.ok(found, 'a nonce is found in the vector range');
  assert.deepEqual(Object.keys(found).sort(), ['hash', 'nonce']);
  assert.equal(typeof found.nonce, 'bigint');
  assert.equal(found.nonce, BigInt(m.nonce));
  assert.equal(found.hash, m.hash);
  assert.equal(miner.hashesDone, m.nonce - m.start_nonce + 1);
  miner.free();
});

test('Miner returns undefined when the range has no solution', () => {
  const m = vectors.mining;
  const miner = new wasm.Miner(hexToBytes(m.header_hex));
  // The vector's nonce is the first solution from start_nonce, so the range
  // just before it has none.
  const before = m.nonce - m.start_nonce;
  if (before > 0) {
    assert.equal(miner.mineRange(BigInt(m.start_nonce), Math.min(before, 1000)), undefined);
    assert.equal(miner.hashesDone, Math.min(before, 1000));
  }
  miner.free();
});

// --- Mining kernel (Kernel::detect(): the 4-lane SIMD128 kernel in wasm) ---

const U64_MAX = 2n ** 64n - 1n;

/** The 256-bit target of compact `bits`, as core/src/target.rs decodes it. */
function compactToTarget(bits) {
  const size = bits >>> 24;
  const word = BigInt(bits & 0x007fffff);
  return size <= 3 ? word >> BigInt(8 * (3 - size)) : word << BigInt(8 * (size - 3));
}

/** `header` (96 bytes) with `nonce` (a bigint) little-endian at offset 88. */
function withNonce(header, nonce) {
  const bytes = Uint8Array.from(header);
  new DataView(bytes.buffer).setBigUint64(88, nonce, true);
  return bytes;
}

/** What `mineRange` must return, hashed with Node's own SHA-256. */
function referenceMine(header, start, count) {
  const target = compactToTarget(new DataView(header.buffer, header.byteOffset).getUint32(84, true));
  for (let i = 0n; i < BigInt(count); i++) {
    const nonce = (start + i) & U64_MAX;
    const hash = crypto.createHash('sha256').update(withNonce(header, nonce)).digest('hex');
    if (BigInt('0x' + hash) <= target) return { nonce, hash, hashes: Number(i) + 1 };
  }
  return { hashes: count };
}

/** A deterministic 96-byte header (xorshift32 from `seed`) with target `bits`. */
function randomHeader(seed, bits) {
  const bytes = new Uint8Array(96);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  new DataView(bytes.buffer).setUint32(84, bits, true);
  return bytes;
}

test('Miner finds the vector nonce when the range is cut into odd-sized slices', () => {
  const m = vectors.mining;
  for (const slice of [1, 3, 5, 7, 1001]) {
    const miner = new wasm.Miner(hexToBytes(m.header_hex));
    let start = BigInt(m.start_nonce);
    let found;
    while (!found) {
      found = miner.mineRange(start, slice);
      start += BigInt(slice);
    }
    assert.equal(found.nonce, BigInt(m.nonce), `slice ${slice}`);
    assert.equal(found.hash, m.hash);
    assert.equal(miner.hashesDone, m.nonce - m.start_nonce + 1);
    miner.free();
  }
});

test('Miner agrees with a Node.js SHA-256 reference on random headers', () => {
  // Every hash meets the first; about half the dev target; one in 256; none.
  const targets = [0x2100ffff, 0x207fffff, 0x2000ffff, 0x03000001];
  const counts = [0, 1, 2, 3, 4, 5, 7, 9, 64, 300];
  for (let i = 0; i < 40; i++) {
    const header = randomHeader(0x9e3779b9 * (i + 1), targets[i % targets.length]);
    const count = counts[i % counts.length];
    // The high half of the nonce changes rarely; the 4-lane kernel treats it as a constant.
    const starts = [BigInt(i * 1000), U64_MAX - BigInt(count) + 1n, U64_MAX - 2n, 2n ** 32n - 3n, 0x9e3779b9n << 32n | BigInt(i * 7919)];
    for (const start of starts) {
      const miner = new wasm.Miner(header);
      const found = miner.mineRange(start & U64_MAX, count);
      const expected = referenceMine(header, start & U64_MAX, count);
      const context = `header ${i}, start ${start}, count ${count}`;
      if (expected.nonce === undefined) {
        assert.equal(found, undefined, context);
      } else {
        assert.ok(found, context);
        assert.equal(found.nonce, expected.nonce, context);
        assert.equal(found.hash, expected.hash, context);
      }
      assert.equal(miner.hashesDone, expected.hashes, context);
      miner.free();
    }
  }
});

test('Miner.gpuJob gives the words a GPU kernel hashes, Miner.check re-checks a nonce', () => {
  const header = randomHeader(77, 0x2000ffff);
  const miner = new wasm.Miner(header);
  const job = miner.gpuJob();
  const view = new DataView(header.buffer);
  assert.equal(job.nonceLoWord, 6);
  assert.equal(job.nonceHiWord, 7);
  assert.ok(job.midstate instanceof Uint32Array && job.midstate.length === 8);
  // The tail: header bytes 64..96 as big-endian words, nonce words zero, then the padding.
  for (let i = 0; i < 8; i++) assert.equal(job.tail[i], i >= 6 ? 0 : view.getUint32(64 + 4 * i, false), `tail word ${i}`);
  assert.deepEqual(Array.from(job.tail.slice(8)), [0x80000000, 0, 0, 0, 0, 0, 0, 768]);
  const target = compactToTarget(0x2000ffff);
  assert.equal(BigInt('0x' + Array.from(job.target, (w) => w.toString(16).padStart(8, '0')).join('')), target);
  const expected = referenceMine(header, 1000n, 5000);
  assert.ok(expected.nonce !== undefined);
  assert.equal(miner.check(expected.nonce), expected.hash);
  assert.equal(miner.check(expected.nonce - 1n), undefined, 'the nonce before the first found misses');
  miner.free();
});

test('Miner hash rate under Node.js', (t) => {
  // The vector header with a target no hash meets, so every nonce is hashed.
  const header = hexToBytes(vectors.mining.header_hex);
  new DataView(header.buffer).setUint32(84, 0x03000001, true);
  const miner = new wasm.Miner(header);
  const slice = 1 << 20;
  let best = 0;
  for (let round = 0; round < 4; round++) {
    const began = performance.now();
    assert.equal(miner.mineRange(BigInt(round * slice), slice), undefined);
    best = Math.max(best, slice / ((performance.now() - began) / 1000));
  }
  assert.equal(miner.hashesDone, 4 * slice);
  miner.free();
  const message = `wasm Miner: ${(best / 1e6).toFixed(2)} M hashes/s (best of 4 x ${slice} nonces, one thread)`;
  t.diagnostic(message);
});
