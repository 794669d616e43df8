// Browser end-to-end tests: real tabs in headless Chromium, each a full node,
// talking through a real relay on the dev network.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchBrowser, openTab, waitFor } from './harness.mjs';

let relay;
let browser;

before(async () => {
  relay = await Relay.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test('a post written in tab A is mined by tab B and shows in tab C', async () => {
  const [a, b, c] = [await openTab(browser.context, relay), await openTab(browser.context, relay), await openTab(browser.context, relay)];
  const txId = await a.evaluate(() => window.tabchain.post('alice', 'hello from tab A'));
  assert.match(txId, /^[0-9a-f]{64}$/);
  // B hears of it and mines it.
  await waitFor(b, (id) => window.tabchain.pending().some((p) => p.txId === id), txId, { what: 'the post in B' });
  await b.evaluate(() => window.tabchain.mine(true, 1));
  const confirmed = await waitFor(
    c,
    (id) => window.tabchain.posts().find((p) => p.txId === id),
    txId,
    { what: "the post confirmed in C's feed" },
  );
  await b.evaluate(() => window.tabchain.mine(false));
  assert.equal(confirmed.author, 'alice');
  assert.equal(confirmed.content, 'hello from tab A');
  assert.equal(confirmed.verified, true);
  assert.ok(confirmed.height >= 1);
  // It is on the page as text, in C's feed.
  await c.waitForSelector(`#feed li[data-txid="${txId}"]`);
  assert.equal(await c.locator(`#feed li[data-txid="${txId}"] .post-content`).textContent(), 'hello from tab A');
  // All three agree on the tip.
  const tipB = await b.evaluate(() => window.tabchain.tip());
  for (const page of [a, c]) {
    await waitFor(page, (tip) => window.tabchain.tip() === tip, tipB, { what: 'the same tip' });
  }
  for (const page of [a, b, c]) await page.close();
});

test('user text is rendered as text, and the tamper demo turns red', async () => {
  const page = await openTab(browser.context, relay);
  await page.evaluate(() => {
    window.alerted = false;
    window.alert = () => {
      window.alerted = true;
    };
  });
  const evil = '<img src=x onerror=alert(1)>';
  const txId = await page.evaluate((text) => window.tabchain.post('mallory', text), evil);
  await page.evaluate(() => window.tabchain.mine(true, 1));
  const mined = await waitFor(page, (id) => window.tabchain.posts().find((p) => p.txId === id), txId, {
    what: 'the post mined',
  });
  await page.evaluate(() => window.tabchain.mine(false));
  const item = page.locator(`#feed li[data-txid="${txId}"] .post-content`);
  await item.waitFor();
  assert.equal(await item.textContent(), evil);
  assert.equal(await page.locator('#feed img').count(), 0, 'no <img> element was created');
  assert.equal(await page.evaluate(() => window.alerted), false);

  // Copy the block holding the post and the next ones, then tamper with the copy.
  await page.fill('#tamper-from', String(mined.height));
  await page.click('#tamper-load');
  const copies = page.locator('#tamper li');
  await copies.first().waitFor();
  const count = await copies.count();
  let edited = -1;
  for (let i = 0; i < count; i++) {
    const area = copies.nth(i).locator('textarea');
    const text = await area.inputValue();
    if (text.includes('onerror=alert(1)')) {
      await area.fill(text.replace('onerror=alert(1)', 'onerror=alert(2)'));
      edited = i;
    }
  }
  assert.ok(edited >= 0, 'the copy holds the post');
  await page.click('#tamper-check');
  await waitFor(page, (i) => document.querySelectorAll('#tamper li')[i].classList.contains('broken'), edited, {
    what: 'the edited block marked broken',
  });
  for (let i = 0; i < edited; i++) {
    assert.equal(await copies.nth(i).getAttribute('class'), 'ok', `block copy ${i} before the edit stays valid`);
  }
  for (let i = edited + 1; i < count; i++) {
    assert.equal(await copies.nth(i).getAttribute('class'), 'broken', `block copy ${i} after the edit is broken`);
  }
  // The real chain is untouched.
  assert.ok(await page.evaluate((id) => window.tabchain.posts().some((p) => p.txId === id), txId));
  await page.close();
});

test('without IndexedDB a tab still works and says its chain lives in memory', async () => {
  const noStorage = await launchBrowser();
  try {
    // As in a browser with storage disabled: no `indexedDB` at all.
    await noStorage.context.addInitScript(() => {
      delete window.indexedDB;
      Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
    });
    const page = await openTab(noStorage.context, relay);
    await waitFor(page, () => document.querySelector('#st-storage').textContent === 'memory only', undefined, {
      what: 'the storage status',
    });
    await waitFor(page, () => document.querySelector('#log').textContent.includes('storage unavailable'), undefined, {
      what: 'the log line about storage',
    });
    // It syncs, posts and mines like any tab.
    const txId = await page.evaluate(() => window.tabchain.post('memory', 'kept in memory only'));
    await page.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(page, (id) => window.tabchain.posts().some((p) => p.txId === id), txId, {
      what: 'the post mined in the tab without storage',
    });
    await page.evaluate(() => window.tabchain.mine(false));
    await page.evaluate(() => window.tabchain.saved());
  } finally {
    await noStorage.close();
  }
});
