// Browser end-to-end tests of a relay cluster: three relays on one NATS
// broker act as one network for tabs loaded from each of them, and a tab
// whose relay dies (SIGKILL) fails over to another relay of the cluster.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, clusterRelay, clusterFormed, launchContexts, openTab, waitFor } from './harness.mjs';

const NAMES = ['one', 'two', 'three'];

let broker;
let relays = [];
let browser;
/** Tabs `a`, `b`, `c` on relays one, two, three, each in a context of its own. */
let tabs;

before(async () => {
  broker = await Broker.start();
  relays = await Promise.all(NAMES.map((name) => clusterRelay(broker, name)));
  // A page's CSP lets it reach only the relays its relay knew when serving it.
  await clusterFormed(relays);
  browser = await launchContexts();
  const [a, b, c] = await Promise.all(relays.map(async (relay) => openTab(await browser.newContext(), relay)));
  tabs = { a, b, c };
});

after(async () => {
  await browser?.close();
  for (const relay of relays) await relay.stop();
  await broker?.stop();
});

/** The peer ids `page` lists, as strings. */
const peerIds = (page) => page.evaluate(() => window.tabchain.peers().map((p) => String(p.id)));
/** `page`'s own peer id, as a string (null when not joined). */
const peerId = (page) => page.evaluate(() => String(window.tabchain.status().peer ?? '') || null);

test('a post from a tab on relay one is mined on relay two and shows on relay three', async () => {
  const { a, b, c } = tabs;
  // Every tab is on its own page's relay and knows all three.
  for (const [i, page] of [a, b, c].entries()) {
    assert.equal(await page.evaluate(() => window.tabchain.relayUrl()), relays[i].wsUrl);
    await waitFor(page, () => window.tabchain.relays().length === 3, undefined, { what: 'the cluster fetched' });
    const known = await page.evaluate(() => window.tabchain.relays());
    assert.deepEqual(known.map((r) => r.name).sort(), [...NAMES].sort());
    assert.equal(known[0].name, NAMES[i]);
    const named = (name) => document.querySelector('#peers-relay').textContent.startsWith(`relay: ${name} (ws://`);
    await waitFor(page, named, NAMES[i], { what: 'the relay named in the peers panel' });
  }
  // Every tab sees the other two, across relays.
  const ids = await Promise.all([a, b, c].map(peerId));
  for (const [i, page] of [a, b, c].entries()) {
    const others = ids.filter((_, j) => j !== i);
    const seen = (others) => others.every((id) => window.tabchain.peers().some((p) => String(p.id) === id));
    await waitFor(page, seen, others, { what: `tab ${i} seeing the tabs of the other relays` });
  }

  const txId = await a.evaluate(() => window.tabchain.post('alice', 'hello across relays'));
  await waitFor(b, (id) => window.tabchain.pending().some((p) => p.txId === id), txId, { what: 'the post in B' });
  await b.evaluate(() => window.tabchain.mine(true, 1));
  const confirmed = await waitFor(c, (id) => window.tabchain.posts().find((p) => p.txId === id), txId, {
    what: "the post confirmed in C's feed",
  });
  await b.evaluate(() => window.tabchain.mine(false));
  assert.equal(confirmed.author, 'alice');
  assert.equal(confirmed.content, 'hello across relays');
  assert.equal(confirmed.verified, true);
  await c.waitForSelector(`#feed li[data-txid="${txId}"]`);
  assert.equal(await c.locator(`#feed li[data-txid="${txId}"] .post-content`).textContent(), 'hello across relays');
  // All three agree on the tip.
  const tipB = await b.evaluate(() => window.tabchain.tip());
  for (const page of [a, c]) {
    await waitFor(page, (tip) => window.tabchain.tip() === tip, tipB, { what: 'the same tip' });
  }
});

test('a tab whose relay is killed fails over to another relay, and the others see it move', async () => {
  const { a, b, c } = tabs;
  const oldId = await peerId(b);
  assert.ok(oldId, 'B is joined');
  for (const page of [a, c]) {
    await waitFor(page, (id) => window.tabchain.peers().some((p) => String(p.id) === id), oldId, { what: 'B listed' });
  }

  const killedAt = Date.now();
  await relays[1].kill();
  // B moves to relay one or three, as a new peer.
  const survivors = [relays[0].wsUrl, relays[2].wsUrl];
  const url = await waitFor(
    b,
    ({ survivors, oldId }) => {
      const url = window.tabchain.relayUrl();
      const peer = window.tabchain.status().peer;
      return survivors.includes(url) && peer !== null && String(peer) !== oldId && url;
    },
    { survivors, oldId },
    { timeoutMs: 10_000, what: 'B joined on a surviving relay' },
  );
  const movedMs = Date.now() - killedAt;
  const newId = await peerId(b);
  // The tabs of the surviving relays see B's new id, and B's old one leave (PeerLeft).
  for (const page of [a, c]) {
    await waitFor(
      page,
      ({ oldId, newId }) => {
        const ids = window.tabchain.peers().map((p) => String(p.id));
        return ids.includes(newId) && !ids.includes(oldId);
      },
      { oldId, newId },
      { timeoutMs: 15_000, what: "B's new id listed and its old one gone" },
    );
    await waitFor(page, (id) => document.querySelector('#log').textContent.includes(`peer ${id} left`), oldId, {
      what: 'the PeerLeft in the log',
    });
  }
  const settledMs = Date.now() - killedAt;
  const name = url === relays[0].wsUrl ? 'one' : 'three';
  await waitFor(b, (name) => document.querySelector('#peers-relay').textContent.startsWith(`relay: ${name} (`), name, {
    what: 'the new relay named in the peers panel',
  });
  console.log(`failover: B on relay ${name} after ${movedMs} ms, old peer gone everywhere after ${settledMs} ms`);

  // B still takes part: its post reaches A and C.
  const txId = await b.evaluate(() => window.tabchain.post('bob', 'still here'));
  for (const page of [a, c]) {
    await waitFor(page, (id) => window.tabchain.pending().some((p) => p.txId === id), txId, {
      what: "B's post after the failover",
    });
  }
});
