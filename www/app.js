// tabchain in a tab: starts the full node (`host.js`: the wasm node, storage,
// relay and miners), mounts the page's panels (`ui/`), renders them from one
// throttled scheduler, and exposes `window.tabchain`, the automation API the
// end-to-end tests use (see README).
//
// Every panel module exports `mount(host)` (bind its controls and host events,
// once) and `render(view)` (show the current state; `view` is
// `{host, node, status, peers}`, read from the node once per frame).

import { Host } from './host.js';
import * as status from './ui/status.js';
import * as compose from './ui/compose.js';
import * as mining from './ui/mining.js';
import * as charts from './ui/charts.js';
import * as feed from './ui/feed.js';
import * as explorer from './ui/explorer.js';
import * as tree from './ui/tree.js';
import * as tamper from './ui/tamper.js';
import * as peers from './ui/peers.js';
import * as log from './ui/log.js';

const RENDER_MS = 150;
const PANELS = [status, compose, mining, charts, feed, tree, explorer, tamper, peers, log];

const host = new Host();
let renderTimer = null;

/** Renders every panel within 150 ms; calls meanwhile share that one render. */
function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(() => {
    renderTimer = null;
    render();
  }, RENDER_MS);
}

function render() {
  const node = host.node;
  const view = { host, node, status: node ? node.status() : null, peers: node ? node.peers() : [] };
  for (const panel of PANELS) panel.render(view);
}

/** The app shell stays available offline (see sw.js); failure only costs that. */
function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('./sw.js').catch((err) => console.warn('tabchain: no offline app shell:', err));
}

async function start() {
  for (const panel of PANELS) panel.mount(host);
  host.addEventListener('change', scheduleRender);
  registerServiceWorker();
  await host.start();
}

/** Only these fields of a post go out of the API. */
const pendingView = ({ txId, author, content }) => ({ txId, author, content });
const postView = ({ txId, author, content, timestamp, height, verified }) => ({
  txId,
  author,
  content,
  timestamp,
  height,
  verified,
});

window.tabchain = {
  /** Resolves once wasm is loaded, the chain restored and the relay joined (or after 5 s offline). */
  ready: () => host.ready,
  height: () => (host.node ? host.node.height() : 0),
  tip: () => (host.node ? host.node.tip() : ''),
  post: (author, content) => host.post(author, content),
  pending: () => (host.node ? host.node.pending().map(pendingView) : []),
  /** The newest confirmed posts of the blocks held in memory (the last 1,000 blocks; older ones: the feed's "Older posts"). */
  posts: () => (host.node ? host.node.posts(10_000).map(postView) : []),
  /** Starts (with `workers`, and the GPU if `gpu`) or stops the browser's mining: one tab of this browser runs it (see mining-lock.js). */
  mine: (on, workers, gpu) => host.miner.set(on, workers, gpu),
  /** This tab's hash rate, workers and GPU (0 when another tab mines). */
  hashrate: () => host.miner.hashrate(),
  /** The GPU miner: `{supported, failed, reason, adapter, enabled, running, hashrate, perDispatch, blocks}`. */
  gpu: () => host.miner.gpuStatus(),
  /**
   * Test hook: the GPU kernel on the header `headerHex` (192 hex digits) over `count` nonces from `start`
   * (bigint or decimal string): Promise of `{found: {nonce (decimal string), hash (the GPU's), checked (the
   * wasm reference's hash, or null)} or null, hashes, dispatches, ms}`; `options.perDispatch` fixes the dispatch size.
   */
  gpuSearch: async (headerHex, start, count, options) => {
    const bytes = Uint8Array.from(String(headerHex).match(/../g) || [], (h) => Number.parseInt(h, 16));
    const r = await host.miner.gpuSearch(bytes, BigInt(start), count, options);
    const found = r.found && { nonce: r.found.nonce.toString(), hash: r.found.hash, checked: r.found.checked ?? null };
    return { ...r, found };
  },
  peers: () => (host.node ? host.node.peers() : []),
  /** `{connected, peer, syncing, height, tip, workers, hashrate, miner}`: workers and hash rate of this tab; `miner` 'here', 'elsewhere' or null. */
  status: () => host.status(),
  /** The websocket address of the relay the tab is connected to (null when not connected). */
  relayUrl: () => host.relayInUse()?.url ?? null,
  /** The relays the tab may fail over to, its page's first: `[{name, url}]` (`name` null for a relay alone). */
  relays: () => host.relays.map(({ name, url }) => ({ name, url })),
  /**
   * What the charts show: `{library, hashrate: [{time, rate}], blocks: [{height, hash, timestamp, intervalMs,
   * expectedHashes}], plotted, targetIntervalMs}` (see ui/charts.js).
   */
  charts: () => charts.chartData(),
  /** Resolves once every block accepted so far (and the best tip) is in storage. */
  saved: () => host.saved(),
  /** What the chain takes in memory: `{wasmBytes, blocks, bodies, bodyBytes, bodyLimit, bodyBytesLimit}`. */
  memory: () => host.memory(),
  /** The block tree as drawn: `{tipHeight, fromHeight, truncated, nodes: [{hash, parent, height, best, orphan, reorged, fork, lane}], reorgs: [{forkHeight, depth, newTip, newHeight, label}]}`. */
  tree: () => tree.drawn(),
  /** Promise: what it takes in storage, `{blocks, bytes, estimate}` (`estimate`: the browser's whole-origin usage, or null). */
  storage: async () => {
    const usage = host.store ? await host.store.usage() : { blocks: 0, bytes: 0 };
    const estimate = navigator.storage && navigator.storage.estimate ? (await navigator.storage.estimate()).usage : null;
    return { ...usage, estimate };
  },
};

start().catch((err) => {
  console.error(err);
  status.showFailure(err);
});
