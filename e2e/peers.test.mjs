// The peers panel stays current: a tab that never mines still shows its
// height to everyone (its node tells the relay when its tip moves), every tab
// learns other peers' current heights, work and last block from the relay's
// `Peers` answers, and the panel shows them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchContexts, openTab, waitFor } from './harness.mjs';

const me = (page) => page.evaluate(() => window.tabchain.status().peer);
const height = (page) => page.evaluate(() => window.tabchain.status().height);

test('heights, work and last blocks of other peers stay current in the peers panel', async () => {
  const relay = await Relay.start();
  const browsers = await launchContexts();
  try {
    // Three browsers (separate contexts: no channel between them): a miner,
    // a quiet tab that only receives blocks, and a watcher.
    const miner = await openTab(await browsers.newContext(), relay);
    const quiet = await openTab(await browsers.newContext(), relay);
    const watcher = await openTab(await browsers.newContext(), relay);
    const [minerId, quietId] = [await me(miner), await me(quiet)];
    const listedAll = (ids) => ids.every((id) => window.tabchain.peers().some((p) => p.id === id));
    await waitFor(watcher, listedAll, [minerId, quietId], { what: 'both peers listed' });
    const before = await watcher.evaluate((id) => window.tabchain.peers().find((p) => p.id === id), quietId);
    assert.equal(before.height, 0, 'the quiet tab joined at genesis');
    assert.equal(before.lastBlockMs, null);

    await miner.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(miner, () => window.tabchain.status().height >= 3, undefined, { what: 'three blocks mined' });
    await miner.evaluate(() => window.tabchain.mine(false));
    const tip = await miner.evaluate(() => window.tabchain.tip());
    for (const page of [quiet, watcher]) {
      await waitFor(page, (t) => window.tabchain.tip() === t, tip, { what: "the miner's tip" });
    }
    const top = await height(miner);

    // The quiet tab announced nothing, yet the watcher sees its height (the
    // relay heard its Hello; the watcher's next GetPeers brings it).
    const seen = await waitFor(
      watcher,
      ({ id, top }) => window.tabchain.peers().find((p) => p.id === id && p.height === top),
      { id: quietId, top },
      { what: "the quiet tab's current height in the watcher", timeoutMs: 20_000 },
    );
    assert.ok(seen.work > 0);
    const minerRow = await watcher.evaluate((id) => window.tabchain.peers().find((p) => p.id === id), minerId);
    assert.equal(minerRow.height, top);
    assert.ok(minerRow.lastBlockMs !== null && Date.now() - minerRow.lastBlockMs < 60_000, JSON.stringify(minerRow));
    assert.equal(minerRow.relay, null, 'a relay alone names no relay');
    // The miner sees the quiet tab current too.
    const current = ({ id, top }) => window.tabchain.peers().some((p) => p.id === id && p.height === top);
    await waitFor(miner, current, { id: quietId, top }, { what: "the quiet tab's height in the miner", timeoutMs: 20_000 });

    // The panel says so.
    const line = (page, id) => page.locator(`#peers li[data-peer="${id}"]`).innerText();
    const shown = ({ id, top }) => document.querySelector(`#peers li[data-peer="${id}"]`)?.innerText.includes(`height ${top}`);
    await waitFor(watcher, shown, { id: quietId, top }, { what: 'the panel line' });
    const quietLine = await line(watcher, quietId);
    assert.match(quietLine, /no block seen/);
    assert.match(quietLine, /work \d/);
    const minerLine = await line(watcher, minerId);
    assert.match(minerLine, new RegExp(`height ${top}`));
    assert.match(minerLine, /last block [\d.]+ (ms|s|min) ago/);

    // The relay's own list agrees.
    const listed = await (await fetch(`${relay.url}api/peers`)).json();
    assert.equal(listed.find((p) => p.id === quietId).best_height, top);
  } finally {
    await browsers.close();
    await relay.stop();
  }
});
