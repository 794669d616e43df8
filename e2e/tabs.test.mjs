// Tabs of one browser talk directly (a BroadcastChannel) and share one miner
// (a Web Lock): posts and blocks pass between them with the relay stopped,
// the browser runs the chosen number of mining workers in all, mining moves
// to another tab when the mining tab closes, and the relay hears each block
// once per browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchBrowser, openTab, waitFor } from './harness.mjs';

const workers = (page) => page.evaluate(() => window.tabchain.status().workers);

/** The relay's count of `Block` messages received from peers. */
async function blocksReceived(relay) {
  const text = await (await fetch(`${relay.url}metrics`)).text();
  const match = /tabchain_relay_messages_received_total\{type="Block"\} (\d+)/.exec(text);
  return match ? Number(match[1]) : 0;
}

/** Opens two tabs of `context`, then stops `relay` and waits until both know. */
async function twoTabsRelayStopped(context, relay) {
  const tabs = [await openTab(context, relay), await openTab(context, relay)];
  await relay.stop();
  for (const page of tabs) {
    await waitFor(page, () => !window.tabchain.status().connected, undefined, { what: 'the relay gone' });
  }
  return tabs;
}

test('with the relay stopped, a post from tab A is mined in tab B and shows in both', async () => {
  const relay = await Relay.start();
  const browser = await launchBrowser();
  try {
    const [a, b] = await twoTabsRelayStopped(browser.context, relay);
    const txId = await a.evaluate(() => window.tabchain.post('alice', 'from tab A, relay down'));
    await waitFor(b, (id) => window.tabchain.pending().some((p) => p.txId === id), txId, {
      what: 'the post in B over the channel',
    });
    await b.evaluate(() => window.tabchain.mine(true, 1));
    for (const page of [b, a]) {
      const confirmed = await waitFor(page, (id) => window.tabchain.posts().find((p) => p.txId === id), txId, {
        what: 'the post confirmed',
      });
      assert.equal(confirmed.content, 'from tab A, relay down');
      assert.equal(confirmed.verified, true);
    }
    assert.equal(await b.evaluate(() => window.tabchain.status().miner), 'here');
    assert.equal(await a.evaluate(() => window.tabchain.status().miner), 'elsewhere');
    assert.equal(await workers(a), 0, 'only B mines');
    await b.evaluate(() => window.tabchain.mine(false));
    const tip = await b.evaluate(() => window.tabchain.tip());
    await waitFor(a, (t) => window.tabchain.tip() === t, tip, { what: "B's tip in A" });
    assert.equal(await a.evaluate(() => window.tabchain.status().connected), false, 'all without the relay');
  } finally {
    await browser.close();
    await relay.stop();
  }
});

test('a tab that missed blocks from the other tab fills the gap from the storage they share, with the relay stopped', async () => {
  const relay = await Relay.start();
  const browser = await launchBrowser();
  // A tab can miss a sibling's blocks (it restored from IndexedDB just
  // before they were written, or came up mid-burst): here tab B drops the
  // channel's blocks while `window.deafToBlocks` is set.
  await browser.context.addInitScript(() => {
    const Channel = globalThis.BroadcastChannel;
    globalThis.BroadcastChannel = class extends Channel {
      set onmessage(handler) {
        super.onmessage = (event) => {
          const block = event.data && event.data.kind === 'frame' && /"type":"Block"/.test(event.data.text);
          if (!(block && globalThis.deafToBlocks)) handler(event);
        };
      }
    };
  });
  try {
    const [a, b] = await twoTabsRelayStopped(browser.context, relay);
    await b.evaluate(() => {
      window.deafToBlocks = true;
    });
    await a.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(a, () => window.tabchain.height() >= 4, undefined, { what: 'four blocks in A' });
    await a.evaluate(() => window.tabchain.mine(false));
    await a.evaluate(() => window.tabchain.saved());
    const missed = await a.evaluate(() => window.tabchain.height());
    assert.equal(await b.evaluate(() => window.tabchain.height()), 0, 'B heard none of them');
    // A's next block reaches B, whose parent B lacks: B reads the blocks
    // before it from IndexedDB, checks them and catches up.
    await b.evaluate(() => {
      window.deafToBlocks = false;
    });
    await a.evaluate(() => window.tabchain.mine(true, 1));
    const height = await waitFor(a, (h) => window.tabchain.height() > h && window.tabchain.height(), missed, {
      what: "A's next block",
    });
    await a.evaluate(() => window.tabchain.mine(false));
    const tip = await a.evaluate(() => window.tabchain.tip());
    await waitFor(b, (t) => window.tabchain.tip() === t, tip, { what: "A's tip in B, the gap filled from storage" });
    assert.ok((await b.evaluate(() => window.tabchain.height())) >= height);
    assert.equal(await b.evaluate(() => window.tabchain.status().connected), false, 'all without the relay');
  } finally {
    await browser.close();
    await relay.stop();
  }
});

test('the tabs of one browser share one mining budget, and mining moves on when the mining tab closes', async (t) => {
  const relay = await Relay.start();
  const browser = await launchBrowser();
  try {
    const a = await openTab(browser.context, relay);
    const b = await openTab(browser.context, relay);
    await a.evaluate(() => window.tabchain.mine(true, 2));
    await waitFor(a, () => window.tabchain.status().workers === 2, undefined, { what: 'A mining with 2 workers' });
    // B asks too: the browser already mines, in A.
    await b.evaluate(() => window.tabchain.mine(true, 2));
    await b.waitForTimeout(1_000);
    assert.equal((await workers(a)) + (await workers(b)), 2, 'two workers in all');
    assert.equal(await b.evaluate(() => window.tabchain.status().miner), 'elsewhere');
    await waitFor(b, () => document.getElementById('mine-rate').textContent === 'mining in another tab', undefined, {
      what: 'the mining panel in B',
    });
    // A new count from B goes to the mining tab.
    await b.evaluate(() => window.tabchain.mine(true, 3));
    await waitFor(a, () => window.tabchain.status().workers === 3, undefined, { what: 'A taking the count from B' });
    assert.equal(await workers(b), 0);
    // A tab opened now learns that the browser mines, and its stop stops it.
    const c = await openTab(browser.context, relay);
    await waitFor(c, () => window.tabchain.status().miner === 'elsewhere', undefined, { what: 'C told A mines' });
    await c.evaluate(() => window.tabchain.mine(false));
    await waitFor(a, () => window.tabchain.status().miner === null, undefined, { what: 'A stopped by C' });
    assert.equal((await workers(a)) + (await workers(b)) + (await workers(c)), 0);
    await c.close();
    // Mining again, in A; then A closes and B takes over with the same count.
    await a.evaluate(() => window.tabchain.mine(true, 2));
    await waitFor(a, () => window.tabchain.status().workers === 2, undefined, { what: 'A mining again' });
    const height = await b.evaluate(() => window.tabchain.height());
    const closed = Date.now();
    await a.close();
    await waitFor(b, () => window.tabchain.status().workers === 2, undefined, {
      what: 'B mining after A closed',
      timeoutMs: 5_000,
    });
    const tookOver = Date.now() - closed;
    await waitFor(b, (h) => window.tabchain.height() >= h + 2, height, { what: 'blocks mined by B' });
    await b.evaluate(() => window.tabchain.mine(false));
    assert.ok(tookOver < 5_000, `took over in ${tookOver} ms`);
    t.diagnostic(`B took over ${tookOver} ms after A closed`);
  } finally {
    await browser.close();
    await relay.stop();
  }
});

test('the relay hears each block found by one of two tabs of a browser once', async () => {
  const relay = await Relay.start();
  const browser = await launchBrowser();
  const other = await launchBrowser();
  try {
    const a = await openTab(browser.context, relay);
    const b = await openTab(browser.context, relay);
    const elsewhere = await openTab(other.context, relay);
    const before = { count: await blocksReceived(relay), height: await a.evaluate(() => window.tabchain.height()) };
    await a.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(a, (h) => window.tabchain.height() >= h + 3, before.height, { what: 'three blocks mined' });
    await a.evaluate(() => window.tabchain.mine(false));
    await a.evaluate(() => new Promise((resolve) => setTimeout(resolve, 500)));
    const tip = await a.evaluate(() => ({ tip: window.tabchain.tip(), height: window.tabchain.height() }));
    // The other browser hears blocks through the relay only: once it has A's tip, the relay had them all.
    for (const page of [b, elsewhere]) {
      await waitFor(page, (t) => window.tabchain.tip() === t, tip.tip, { what: "A's tip" });
    }
    const announced = (await blocksReceived(relay)) - before.count;
    assert.equal(announced, tip.height - before.height, 'one Block message per block, from the tab that found it');
  } finally {
    await browser.close();
    await other.close();
    await relay.stop();
  }
});
