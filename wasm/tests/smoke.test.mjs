// Smoke test of the wasm build (`cargo xtask build-wasm` first), run with
// `node --test wasm/tests/`. Compares the wasm exports with the native
// values recorded in core/test-vectors.json. Node built-ins only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
