// A hidden tab keeps mining and syncing. Chrome throttles a hidden page's own
// timers (once a second, and once a minute after five minutes hidden), which
// Playwright's headless Chromium does not do; so this test does it to the
// page: before any script runs, `document.hidden` is true and every
// setTimeout/setInterval of the page waits at least a minute. The tab must
// still mine, take blocks from another browser, and reconnect to a relay
// that restarted: nothing essential may wait on the page's own timers (the
// host's clock runs in a worker, see www/clock.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, launchContexts, openTab, waitFor } from './harness.mjs';

/** Runs in the page before its scripts: hidden, and its timers throttled to once a minute. */
function hideAndThrottle() {
  const MINUTE = 60_000;
  const slowTimeout = window.setTimeout.bind(window);
  const slowInterval = window.setInterval.bind(window);
  window.setTimeout = (fn, ms, ...args) => slowTimeout(fn, Math.max(Number(ms) || 0, MINUTE), ...args);
  window.setInterval = (fn, ms, ...args) => slowInterval(fn, Math.max(Number(ms) || 0, MINUTE), ...args);
  Object.defineProperty(document, 'hidden', { get: () => true });
  Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
}

/** Polls `fn` in the page from Node (the page's own timers are throttled), until truthy. */
async function poll(page, fn, arg, { timeoutMs = 60_000, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await page.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test('a hidden tab whose timers run once a minute keeps mining, syncing and reconnecting', async () => {
  const relay = await Relay.start();
  const browsers = await launchContexts();
  try {
    const hiddenContext = await browsers.newContext();
    await hiddenContext.addInitScript(hideAndThrottle);
    const hidden = await openTab(hiddenContext, relay);
    assert.equal(await hidden.evaluate(() => document.visibilityState), 'hidden');
    // The page's own timers are throttled indeed: 10 ms takes a minute.
    await hidden.evaluate(() => setTimeout(() => (window.fired = true), 10));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await hidden.evaluate(() => window.fired), undefined, 'a throttled timer fired early');
    const other = await openTab(await browsers.newContext(), relay);

    // Mining: blocks keep coming with the page's timers throttled.
    await hidden.evaluate(() => window.tabchain.mine(true, 1));
    const start = await hidden.evaluate(() => window.tabchain.status().height);
    await poll(hidden, (h) => window.tabchain.status().height >= h + 3, start, { what: 'three blocks mined while hidden' });
    await hidden.evaluate(() => window.tabchain.mine(false));
    const tip = await hidden.evaluate(() => window.tabchain.tip());
    await waitFor(other, (t) => window.tabchain.tip() === t, tip, { what: "the hidden tab's blocks in the other browser" });

    // Syncing: a post and blocks from the other browser reach the hidden tab.
    const txId = await other.evaluate(() => window.tabchain.post('bob', 'to a hidden tab'));
    await other.evaluate(() => window.tabchain.mine(true, 1));
    await waitFor(other, (id) => window.tabchain.posts().some((p) => p.txId === id), txId, { what: 'the post mined' });
    await other.evaluate(() => window.tabchain.mine(false));
    const otherTip = await other.evaluate(() => window.tabchain.tip());
    await poll(hidden, (t) => window.tabchain.tip() === t, otherTip, { what: "the other browser's tip in the hidden tab" });
    assert.ok(await hidden.evaluate((id) => window.tabchain.posts().some((p) => p.txId === id), txId));

    // Reconnecting: the relay restarts; the hidden tab is back within seconds, not a minute.
    await relay.stop();
    await poll(hidden, () => !window.tabchain.status().connected, undefined, { what: 'the relay gone', timeoutMs: 20_000 });
    const down = Date.now();
    await relay.restart();
    await poll(hidden, () => window.tabchain.status().connected, undefined, { what: 'reconnected', timeoutMs: 30_000 });
    const back = Date.now() - down;
    assert.ok(back < 30_000, `reconnected after ${back} ms`);
  } finally {
    await browsers.close();
    await relay.stop();
  }
});
