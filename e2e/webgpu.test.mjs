// The WebGPU mining kernel (www/gpu-miner.js, www/sha256-miner.wgsl) against
// the wasm reference, bit for bit, in Chromium on SwiftShader (WebGPU on the
// CPU: no GPU needed, so this checks correctness, not speed): the first
// nonce found and its hash on random headers, ranges in the nonce's high
// half, across a 2^32 boundary and past 2^64, ranges without a solution;
// then a tab mining a dev block on the GPU alone, from the mining panel's
// checkbox, that its node accepts; a lying kernel (served to one browser in
// its place) refuted by the wasm reference and turned off; and a browser
// without WebGPU showing why. Without a WebGPU adapter these tests fail:
// they never skip.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Relay, launchBrowser, openTab, waitFor, WEBGPU_ARGS } from './harness.mjs';

const TWO_32 = 1n << 32n;
const TWO_64 = 1n << 64n;
/** About one hash in 256 meets it. */
const EASY = 0x2000ffff;
/** About one hash in 65,536. */
const HARDER = 0x1f00ffff;
/** Every hash meets it. */
const ANY = 0x2100ffff;
/** No hash meets it. */
const NONE = 0x03000001;

let relay;
let browser;
let page;

before(async () => {
  relay = await Relay.start();
  browser = await launchBrowser({ extraArgs: WEBGPU_ARGS });
  page = await openTab(browser.context, relay);
  const gpu = await waitFor(page, () => window.tabchain.gpu().reason !== 'checking for WebGPU' && window.tabchain.gpu(), undefined, {
    what: 'the WebGPU probe',
  });
  assert.ok(gpu.supported, `no WebGPU adapter on SwiftShader (${gpu.reason}): this machine must have one`);
  assert.match(gpu.adapter, /swiftshader/i);
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** A random 96-byte header (hex) with target `bits`. */
function randomHeader(bits) {
  const bytes = randomBytes(96);
  bytes.writeUInt32LE(bits, 84);
  return bytes.toString('hex');
}

const randomNonce = () => randomBytes(8).readBigUInt64LE();

/** The GPU kernel's answer: {found: {nonce, hash, checked} | null, hashes, dispatches}. */
function gpu(header, start, count, options = {}) {
  return page.evaluate(([h, s, c, o]) => window.tabchain.gpuSearch(h, s, c, o), [header, start.toString(), count, options]);
}

/** The wasm reference's first nonce in the range: {nonce, hash, hashes} | null (count below 2^32). */
function reference(header, start, count) {
  return page.evaluate(
    async ([h, s, c]) => {
      const { Miner } = await import('/pkg/tabchain_wasm.js');
      const miner = new Miner(Uint8Array.from(h.match(/../g), (x) => Number.parseInt(x, 16)));
      const found = miner.mineRange(BigInt(s), c);
      miner.free();
      return found ? { nonce: found.nonce.toString(), hash: found.hash } : null;
    },
    [header, start.toString(), count],
  );
}

/** Asserts the GPU finds exactly what the reference finds in the range; returns the reference's answer. */
async function agree(header, start, count, options = {}, what = '') {
  const want = await reference(header, start, count);
  const got = await gpu(header, start, count, options);
  const where = `${what} header ${header} start ${start} count ${count} ${JSON.stringify(options)}`;
  if (want === null) {
    assert.equal(got.found, null, `GPU found a nonce the reference does not: ${where}`);
    assert.equal(got.hashes, count, where);
  } else {
    assert.ok(got.found, `GPU found nothing, reference ${want.nonce}: ${where}`);
    assert.equal(got.found.nonce, want.nonce, `first nonce: ${where}`);
    assert.equal(got.found.hash, want.hash, `the GPU's hash: ${where}`);
    assert.equal(got.found.checked, want.hash, `re-checked: ${where}`);
    const offset = (BigInt(want.nonce) - start + TWO_64) % TWO_64;
    assert.equal(BigInt(got.hashes), offset + 1n, `hashes: ${where}`);
  }
  return want;
}

test('random headers: the first nonce found and its hash are the reference’s, bit for bit', async () => {
  let found = 0;
  const sizes = [undefined, 64, 100, 1000];
  for (let i = 0; i < 48; i++) {
    const want = await agree(randomHeader(EASY), randomNonce(), 3000, { perDispatch: sizes[i % sizes.length] }, `#${i}`);
    if (want) found += 1;
  }
  assert.ok(found >= 40, `only ${found} of 48 ranges had a solution: the test lost its point`);
  for (let i = 0; i < 4; i++) {
    assert.ok(await agree(randomHeader(HARDER), BigInt(i) << 40n, 400_000, {}, `harder #${i}`), 'a rarer solution found');
  }
  // Every hash meets it: the first nonce of the range, at once.
  const any = await gpu(randomHeader(ANY), 5n, 1000);
  assert.equal(any.found.nonce, '5');
  assert.equal(any.hashes, 1);
});

test('the high nonce half: ranges across 2^32 boundaries and past 2^64', async () => {
  for (const start of [0x1_ffff_ff00n, 0xdead_beef_1234_5678n, TWO_64 - 256n, TWO_64 - 100n]) {
    for (const perDispatch of [undefined, 64, 100]) {
      await agree(randomHeader(EASY), start, 600, { perDispatch }, 'high');
    }
  }
  // Headers whose first solution lies just past a boundary, where the high
  // half went up by the carry: in the kernel (dispatches of 100 across the
  // boundary) or between dispatches (of 64, one starting at it), and past 2^64.
  for (const boundary of [2n * TWO_32, 0x7fff_ffffn * TWO_32, TWO_64]) {
    const start = boundary - 64n;
    let header;
    for (let tries = 0; ; tries++) {
      assert.ok(tries < 1000, 'no header with a solution just past the boundary');
      header = randomHeader(EASY);
      const want = await reference(header, start % TWO_64, 600);
      if (want && (BigInt(want.nonce) - start + TWO_64) % TWO_64 >= 64n) break;
    }
    for (const perDispatch of [undefined, 64, 100]) {
      const want = await agree(header, start % TWO_64, 600, { perDispatch }, `past ${boundary.toString(16)}`);
      assert.equal(BigInt(want.nonce) >> 32n, (boundary % TWO_64) >> 32n, 'the solution is past the boundary');
    }
  }
});

test('a range without a solution finds none and counts every hash', async () => {
  for (const start of [0n, 0xffff_fff0_0000_0000n]) {
    const got = await gpu(randomHeader(NONE), start, 200_000);
    assert.equal(got.found, null);
    assert.equal(got.hashes, 200_000);
  }
  await agree(randomHeader(NONE), TWO_64 - 1000n, 5000, { perDispatch: 333 }, 'none');
});

test('with the GPU checkbox on and no CPU workers, the tab mines dev blocks its node accepts', async () => {
  const status = () => page.evaluate(() => ({ ...window.tabchain.status(), gpu: window.tabchain.gpu() }));
  assert.equal((await status()).gpu.enabled, false, 'the GPU is off by default');
  await waitFor(page, () => !document.getElementById('mine-gpu').disabled, undefined, { what: 'the GPU checkbox enabled' });
  await page.fill('#mine-workers', '0');
  await page.check('#mine-gpu');
  await page.click('#mine-toggle');
  const height = await page.evaluate(() => window.tabchain.height());
  // Or the GPU turned off (a reason): fail at once.
  await waitFor(page, (h) => (window.tabchain.gpu().blocks >= 2 && window.tabchain.height() >= h + 2) || window.tabchain.gpu().reason, height, {
    timeoutMs: 120_000,
    what: 'two blocks mined on the GPU',
  });
  const s = await status();
  assert.equal(s.gpu.reason, null, 'the GPU was not turned off');
  assert.equal(s.workers, 0, 'no CPU worker mined');
  assert.equal(s.miner, 'here');
  assert.equal(s.gpu.enabled, true);
  assert.equal(s.gpu.running, true);
  assert.ok(s.gpu.perDispatch > 0);
  await waitFor(page, () => window.tabchain.gpu().hashrate > 0 && window.tabchain.hashrate() > 0, undefined, {
    what: 'the GPU rate counted in the tab rate',
  });
  // The log panel renders up to 150 ms after the line is written.
  await waitFor(page, () => /mined block \d+ on the GPU/.test(document.getElementById('log').innerText), undefined, {
    what: 'the log line of a block mined on the GPU',
  });
  await page.click('#mine-toggle');
  await waitFor(page, () => !window.tabchain.gpu().running && window.tabchain.status().miner === null, undefined, {
    what: 'mining stopped',
  });
  // The tip it mined is on the relay: a fresh peer syncs it.
  const tip = await page.evaluate(() => window.tabchain.tip());
  const other = await openTab(browser.context, relay);
  await waitFor(other, (t) => window.tabchain.tip() === t, tip, { what: 'the GPU-mined tip in another tab' });
  await other.close();
});

test('a GPU whose answer the wasm reference refutes is turned off, and none of its blocks is used', async () => {
  // The kernel served to this browser lies: it reports the first nonce that
  // does NOT meet the target. (No service worker, so the route sees the fetch.)
  const liar = await launchBrowser({ extraArgs: WEBGPU_ARGS, serviceWorkers: 'block' });
  try {
    await liar.context.route('**/sha256-miner.wgsl', async (route) => {
      const honest = await (await route.fetch()).text();
      const lie = honest.replace('if (meets(hash_nonce(nonce.x, nonce.y)))', 'if (!meets(hash_nonce(nonce.x, nonce.y)))');
      assert.notEqual(lie, honest, 'the kernel still has the line this test changes');
      await route.fulfill({ body: lie, contentType: 'text/plain' });
    });
    const tab = await openTab(liar.context, relay);
    await waitFor(tab, () => window.tabchain.gpu().supported, undefined, { what: 'the WebGPU probe' });
    const height = await tab.evaluate(() => window.tabchain.height());
    await tab.evaluate(() => window.tabchain.mine(true, 0, true));
    const gpu = await waitFor(tab, () => window.tabchain.gpu().reason && window.tabchain.gpu(), undefined, {
      timeoutMs: 60_000,
      what: 'the GPU turned off',
    });
    assert.match(gpu.reason, /does not match the reference \(misses the target\)/);
    assert.equal(gpu.supported, false);
    assert.equal(gpu.enabled, false, "the browser's setting dropped the GPU");
    assert.equal(gpu.running, false);
    assert.equal(gpu.blocks, 0);
    // The panel shows it at its next render (within 150 ms).
    await waitFor(tab, () => document.getElementById('mine-gpu').disabled, undefined, { what: 'the checkbox disabled' });
    await waitFor(tab, () => /GPU turned off/.test(document.getElementById('mine-gpu-note').textContent), undefined, {
      what: 'the panel saying why',
    });
    assert.equal(await tab.evaluate(() => window.tabchain.status().miner), null, 'with no workers, mining stopped');
    assert.equal(await tab.evaluate(() => window.tabchain.height()), height, 'no block from the lying GPU');
  } finally {
    await liar.close();
  }
});

test('without WebGPU the checkbox is disabled and says why', async () => {
  const plain = await launchBrowser();
  try {
    const tab = await openTab(plain.context, relay);
    const gpu = await waitFor(tab, () => window.tabchain.gpu().reason !== 'checking for WebGPU' && window.tabchain.gpu(), undefined, {
      what: 'the WebGPU probe',
    });
    assert.equal(gpu.supported, false);
    // The panel shows it at its next render (within 150 ms).
    await waitFor(tab, () => /^GPU unavailable: /.test(document.getElementById('mine-gpu-note').textContent), undefined, {
      what: 'the panel saying why',
    });
    assert.equal(await tab.isDisabled('#mine-gpu'), true);
  } finally {
    await plain.close();
  }
});
