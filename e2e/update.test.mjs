// A new build served by the relay: a reload runs it (no old script with a
// new wasm), the service worker replaces its cache with the new build whole,
// and the page still loads offline afterwards, from the new build.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { Relay, WWW, launchBrowser, openTab } from './harness.mjs';

const WASM = 'pkg/tabchain_wasm_bg.wasm';

/** A wasm custom section (id 0) `name` holding `text`: appended to a module, it stays a valid module. */
function customSection(name, text) {
  const body = Buffer.concat([Buffer.from([name.length]), Buffer.from(name), Buffer.from(text)]);
  const size = [];
  let n = body.length;
  do {
    size.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>= 7;
  } while (n > 0);
  return Buffer.concat([Buffer.from([0]), Buffer.from(size), body]);
}

/** Writes `file` of `www`, and its precompressed copies when it has them, as `cargo xtask build-wasm` does. */
function rewrite(www, file, content) {
  writeFileSync(join(www, file), content);
  if (existsSync(join(www, `${file}.br`))) writeFileSync(join(www, `${file}.br`), brotliCompressSync(content));
  if (existsSync(join(www, `${file}.gz`))) writeFileSync(join(www, `${file}.gz`), gzipSync(content));
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The service worker's caches, by name. */
const cacheNames = (page) => page.evaluate(() => caches.keys());

/** Bytes of the wasm the page instantiated (its Resource Timing entry). */
const loadedWasmBytes = (page) =>
  page.evaluate(() => performance.getEntriesByType('resource').find((e) => e.name.endsWith('_bg.wasm'))?.decodedBodySize);

/** Polls `check` until it returns true, or fails after `timeoutMs`. */
async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('a new build is run on reload and replaces the offline cache whole', async () => {
  const www = mkdtempSync(join(tmpdir(), 'tabchain-www-'));
  cpSync(WWW, www, { recursive: true });
  const buildFile = join(www, 'pkg/build-id.js');
  assert.ok(existsSync(buildFile), 'www/pkg/build-id.js (run `cargo xtask build-wasm`)');
  const firstBuild = /TABCHAIN_BUILD = '([^']+)'/.exec(readFileSync(buildFile, 'utf8'))[1];
  const relay = await Relay.start([], { www });
  const browser = await launchBrowser();
  try {
    const page = await openTab(browser.context, relay);
    await page.evaluate(() => navigator.serviceWorker.ready);
    await until(async () => (await cacheNames(page)).length > 0, 'the shell cached');
    assert.deepEqual(await cacheNames(page), [`tabchain-shell-${firstBuild}`]);
    const firstWasm = readFileSync(join(www, WASM));
    assert.equal(await loadedWasmBytes(page), firstWasm.length);
    assert.equal(await page.evaluate(() => window.tabchainTestBuild), undefined);

    // The next build: another app.js and wasm, and so another build id.
    // Last-Modified counts whole seconds: let one pass.
    await sleep(1_100);
    rewrite(www, 'app.js', `${readFileSync(join(www, 'app.js'), 'utf8')}\nwindow.tabchainTestBuild = 'second';\n`);
    const wasm = Buffer.concat([firstWasm, customSection('tabchain-test', 'the second build')]);
    rewrite(www, WASM, wasm);
    writeFileSync(buildFile, "self.TABCHAIN_BUILD = 'second';\n");

    await page.reload();
    await page.evaluate(() => window.tabchain.ready());
    assert.equal(await page.evaluate(() => window.tabchainTestBuild), 'second', 'the new app.js');
    assert.equal(await loadedWasmBytes(page), wasm.length, 'the new wasm');
    // The browser found the new build id: a new worker, its cache in place of the old one.
    await until(
      async () => JSON.stringify(await cacheNames(page)) === JSON.stringify(['tabchain-shell-second']),
      'the new build cached and the old cache deleted',
    );
    await page.evaluate(() => window.tabchain.saved());

    // Offline: the new build, from the new cache.
    await relay.stop();
    await page.reload();
    await page.evaluate(() => window.tabchain.ready());
    assert.equal(await page.evaluate(() => window.tabchain.status().connected), false);
    assert.equal(await page.evaluate(() => window.tabchainTestBuild), 'second', 'the new app.js, offline');
    assert.equal(await loadedWasmBytes(page), wasm.length, 'the new wasm, offline');
  } finally {
    await browser.close();
    await relay.stop();
    rmSync(www, { recursive: true, force: true });
  }
});
