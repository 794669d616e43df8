// Consensus under attack, in the browser: a peer announcing 2,000 distinct
// children of genesis (the cheapest valid blocks there are) through the relay
// leaves the tab's IndexedDB and its chain untouched; and a post written in
// the form is stamped with proof of work (progress shown) and mined.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchBrowser, openTab, seedChain, waitFor } from './harness.mjs';

/** Blocks the page keeps in IndexedDB (the `blocks` store of `tabchain-dev`). */
function storedBlocks(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const open = indexedDB.open('tabchain-dev');
        open.onerror = () => reject(open.error);
        open.onsuccess = () => {
          const count = open.result.transaction('blocks').objectStore('blocks').count();
          count.onsuccess = () => resolve(count.result);
          count.onerror = () => reject(count.error);
        };
      }),
  );
}

/**
 * A peer that joins the relay and announces `count` distinct children of
 * genesis at about 190 a second (under the relay's rate limit), each mined
 * with the wasm `Miner` at the dev network's easiest target.
 */
async function announceJunk(relay, count) {
  const attacker = await launchBrowser({ bypassCSP: true });
  try {
    const page = await attacker.context.newPage();
    await page.goto(`${relay.url}healthz`);
    return await page.evaluate(async (count) => {
      const wasm = await import('/pkg/tabchain_wasm.js');
      await wasm.default();
      const chainId = wasm.chainId('dev');
      const genesisHeader = wasm.genesisHeaderHex('dev');
      // Genesis time: bytes 76..84 of its header, little-endian.
      let genesisMs = 0n;
      for (let i = 7; i >= 0; i--) genesisMs = (genesisMs << 8n) | BigInt(parseInt(genesisHeader.slice(152 + 2 * i, 154 + 2 * i), 16));
      const hexBytes = (hex) => Uint8Array.from(hex.match(/../g), (b) => parseInt(b, 16));
      const le = (value, bytes) => {
        const out = new Uint8Array(bytes);
        let v = BigInt(value);
        for (let i = 0; i < bytes; i++) {
          out[i] = Number(v & 0xffn);
          v >>= 8n;
        }
        return out;
      };
      const socket = new WebSocket(`ws://${location.host}/ws`);
      await new Promise((resolve) => {
        socket.onmessage = (event) => {
          if (event.data.includes('"type":"Welcome"')) resolve();
        };
      });
      const zero = '00'.repeat(32);
      socket.send(
        `{"type":"Hello","chain_id":"${chainId}","protocol":2,"agent":"junk/1","best_height":0,"best_hash":"${chainId}","total_work":"${zero}"}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const texts = [];
      for (let n = 0; n < count; n++) {
        const ms = genesisMs + 1n + BigInt(n);
        const header = new Uint8Array(96);
        header.set(le(1, 4), 0);
        header.set(le(1, 8), 4);
        header.set(hexBytes(chainId), 12);
        header.set(le(ms, 8), 76);
        header.set(le(0x207fffff, 4), 84);
        const miner = new wasm.Miner(header);
        let found;
        for (let start = 0n; !(found = miner.mineRange(start, 64)); start += 64n);
        const seconds = Number(ms) / 1000;
        texts.push(
          `{"type":"Block","block":{"index":1,"transactions":[],"timestamp":${seconds},"previous_hash":"${chainId}",` +
            `"nonce":${found.nonce},"hash":"${found.hash}","version":1,"merkle_root":"${zero}","target":"207fffff"}}`,
        );
      }
      // 19 every 100 ms: 190 a second, under the relay's 200.
      for (let i = 0; i < texts.length; i += 19) {
        for (const text of texts.slice(i, i + 19)) socket.send(text);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const open = socket.readyState === WebSocket.OPEN;
      socket.close();
      return { sent: texts.length, open };
    }, count);
  } finally {
    await attacker.close();
  }
}

test('2,000 children of genesis leave the IndexedDB of a tab bounded', async () => {
  const relay = await Relay.start();
  const seeder = await seedChain(relay, 5);
  const browser = await launchBrowser();
  try {
    const page = await openTab(browser.context, relay);
    await waitFor(page, () => window.tabchain.height() === 5, undefined, { what: 'height 5' });
    await page.evaluate(() => window.tabchain.saved());
    assert.equal(await storedBlocks(page), 5);
    const junk = await announceJunk(relay, 2_000);
    assert.deepEqual(junk, { sent: 2_000, open: true }, 'the relay forwarded the junk (valid blocks) without banning');
    await page.evaluate(() => window.tabchain.saved());
    assert.equal(await page.evaluate(() => window.tabchain.height()), 5);
    assert.equal(await storedBlocks(page), 5, 'not one junk block is kept');
  } finally {
    await browser.close();
    await seeder.close();
    await relay.stop();
  }
});

test('a post written in the form is stamped (progress shown), mined, and shows its key picture', async () => {
  const relay = await Relay.start();
  const browser = await launchBrowser();
  try {
    const page = await openTab(browser.context, relay);
    await page.fill('#post-author', 'stamper');
    await page.fill('#post-content', 'paid for with work');
    await page.click('#post-form button[type=submit]');
    await waitFor(page, () => /^posted /.test(document.getElementById('post-result').textContent), undefined, {
      what: 'the post to be stamped and sent',
    });
    const pending = await page.evaluate(() => window.tabchain.pending());
    assert.deepEqual(
      pending.map((p) => p.content),
      ['paid for with work'],
    );
    await page.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(page, () => window.tabchain.posts().some((p) => p.content === 'paid for with work'), undefined, {
      what: 'the post in a block',
    });
    await page.evaluate(() => window.tabchain.mine(false));
    await waitFor(page, () => document.querySelector('#feed .identicon') !== null, undefined, {
      what: 'the key picture in the feed',
    });
    const keyId = await page.evaluate(() => document.getElementById('key-id').textContent);
    assert.match(keyId, /^[0-9a-f]{16}$/);
  } finally {
    await browser.close();
    await relay.stop();
  }
});
