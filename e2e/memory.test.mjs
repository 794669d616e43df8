// A tab's memory does not grow with the chain: a tab that keeps the bodies
// of only its last 50 blocks (`?bodies=50`) still shows old posts and blocks
// (read from IndexedDB) and serves its whole chain to a new tab.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchBrowser, openTab, seedChain, waitFor } from './harness.mjs';

const OLD = 'an old post, from block 3';
const MIDDLE = 'a post from block 150';
const RECENT = 'a recent post, from block 290';

test('a tab keeping 50 bodies pages back to old posts and blocks from IndexedDB and serves them to a new tab', async () => {
  const relay = await Relay.start();
  const seeder = await seedChain(relay, 300, { posts: { 3: OLD, 150: MIDDLE, 290: RECENT } });
  const one = await launchBrowser();
  const two = await launchBrowser();
  try {
    const page = await one.context.newPage();
    await page.goto(`${relay.url}?bodies=50`);
    await page.evaluate(() => window.tabchain.ready());
    await waitFor(page, () => window.tabchain.height() === 300 && !window.tabchain.status().syncing, undefined, {
      what: 'height 300',
    });
    const memory = await page.evaluate(() => window.tabchain.memory());
    assert.equal(memory.bodyLimit, 50);
    assert.equal(memory.blocks, 301, 'every header');
    assert.ok(memory.bodies <= 51, `${memory.bodies} bodies in memory`);
    assert.ok(memory.wasmBytes > 0);
    await page.evaluate(() => window.tabchain.saved());
    const storage = await page.evaluate(() => window.tabchain.storage());
    assert.equal(storage.blocks, 300, 'every block in IndexedDB');

    // The recent post comes from memory; the older ones only on asking.
    const feed = (text) => page.locator('#feed li', { hasText: text });
    await feed(RECENT).waitFor();
    assert.equal(await feed(OLD).count(), 0);
    assert.deepEqual(
      (await page.evaluate(() => window.tabchain.posts())).map((p) => p.content),
      [RECENT],
      'posts() reads the blocks in memory',
    );
    await page.click('#feed-older');
    await feed(MIDDLE).waitFor();
    await feed(OLD).waitFor();
    await waitFor(page, () => document.getElementById('feed-older').textContent === 'No older posts', undefined, {
      what: 'the end of the feed',
    });
    const texts = await page.locator('#feed li .post-content').allTextContents();
    assert.deepEqual(texts.slice(0, 3), [RECENT, MIDDLE, OLD], 'newest first');

    // The explorer pages back to old blocks and shows their JSON from storage.
    for (let i = 0; i < 11; i++) await page.click('#explorer-older');
    const row = page.locator('#explorer tbody tr[data-height="3"]');
    await row.click();
    await waitFor(page, (text) => document.getElementById('block-detail').textContent.includes(text), OLD, {
      what: 'block 3 in the detail',
    });
    // The tamper demo copies old blocks too.
    await page.fill('#tamper-from', '3');
    await page.click('#tamper-load');
    await waitFor(page, (text) => document.querySelector('#tamper textarea')?.value.includes(text), OLD, {
      what: 'block 3 in the tamper copy',
    });

    // The seeder leaves; a new tab syncs the whole chain from this one.
    await seeder.close();
    const late = await openTab(two.context, relay);
    await waitFor(late, () => window.tabchain.height() === 300, undefined, { what: 'the new tab synced' });
    assert.equal(await late.evaluate(() => window.tabchain.tip()), await page.evaluate(() => window.tabchain.tip()));
    await late.locator('#feed li', { hasText: OLD }).waitFor();
  } finally {
    await one.close();
    await two.close();
    await seeder.close();
    await relay.stop();
  }
});

test('blocks kept by the page before headers had their own store are restored after the upgrade', async () => {
  const relay = await Relay.start();
  const seeder = await seedChain(relay, 20, { posts: { 7: 'kept before the upgrade' } });
  const browser = await launchBrowser();
  try {
    const blocks = await seeder.page.evaluate(() => {
      const node = window.seeder.node;
      return node.blocks(1, 20).map((b) => ({ hash: b.hash, bytes: Array.from(node.blockBytes(b.hash)) }));
    });
    await seeder.close();
    // The database as the previous page version left it (version 2: no `headers`).
    const page = await browser.context.newPage();
    await page.goto(`${relay.url}healthz`);
    await page.evaluate(
      (blocks) =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('tabchain-dev', 2);
          open.onupgradeneeded = () => {
            for (const name of ['blocks', 'meta', 'outbox']) open.result.createObjectStore(name);
          };
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction('blocks', 'readwrite');
            for (const b of blocks) tx.objectStore('blocks').put(new Uint8Array(b.bytes), b.hash);
            tx.oncomplete = () => {
              open.result.close();
              resolve();
            };
            tx.onerror = () => reject(tx.error);
          };
        }),
      blocks,
    );
    await page.evaluate(() => localStorage.setItem('tabchain.network', 'dev'));
    await page.goto(`${relay.url}?bodies=5`);
    await page.evaluate(() => window.tabchain.ready());
    assert.equal(await page.evaluate(() => window.tabchain.height()), 20, 'restored from the upgraded store');
    await waitFor(page, () => /restored 20 blocks from storage/.test(document.getElementById('log').textContent), undefined, {
      what: 'the restore in the log',
    });
    assert.ok((await page.evaluate(() => window.tabchain.memory())).bodies <= 6);
    await page.click('#feed-older');
    await page.locator('#feed li', { hasText: 'kept before the upgrade' }).waitFor();
  } finally {
    await browser.close();
    await seeder.close();
    await relay.stop();
  }
});
