// The host loop of a tab's full node: owns the wasm `TabNode` (the core
// protocol driver), the IndexedDB store, the relay connection and the miners,
// and carries out what the node asks for. The node decides; this file does.
//
// Data flow: relay text → `node.onText` → outputs → `apply`: changes to keep
// (written to IndexedDB in the background, a burst in one transaction), texts
// to send, "the mining template is stale", events to log. Everything that
// touches the node runs one task at a time on a serial queue (`enqueue`).
// Nothing here interprets chain data and nothing here touches the page: the
// panels (`ui/`) read this object when they render, and listen to its events:
//
// - `change`: something on screen may differ (the page re-renders, throttled);
// - `author` (detail: the name): the author name stored with this chain;
// - `workers` (detail: the count): mining was configured with that many workers;
// - `reorg` (detail: `{forkHeight, forkHash, depth, newTip, newHeight,
//   disconnected, at}`): the best chain moved to another branch (the last
//   five are kept in `reorgs`, for the block tree to mark).
//
// Mining (the browser's one miner, this tab's workers and GPU, templates and
// found nonces) is `tab-miner.js`, as `host.miner`.
//
// This tab's own posts (written offline or not yet in a block) are the node's
// business: it marks them `own` in the changes to keep (the store's `outbox`),
// takes them back on `restore`, and announces them again on every join.
//
// The node keeps only the last 1,000 bodies in memory, and no more than
// 64 MiB of them (`?bodies=N` in the URL picks another number, `?bodies=all`
// keeps all): older blocks live in the store only. The node asks for them when a peer wants them
// (`serveBlocks`) or a check needs their post ids (`loadBlocks`), and the
// page reads them for the feed's older posts and the explorer (`blockView`).
//
// The tabs of one browser hand each other the posts and blocks they announce
// (`tabs.js`: untrusted frames, checked by the node like the relay's) and
// share one miner (`mining-lock.js`); a sibling's block whose parent this tab
// lacks makes the node read the blocks before it from the store the tabs share
// (`readBlock`). Nothing essential waits on the page's
// own timers, which a hidden tab's browser throttles: the tick, the template
// gap and the relay's reconnect wait run on a worker's clock (`clock.js`).

import init, { TabNode, blockView, publicKeyId, welcomeNetwork, legacyOutboxPost } from './pkg/tabchain_wasm.js';
import { openStore, keeps } from './store.js';
import { RelayConnection, relayList } from './relay.js';
import { Stamper } from './stamper.js';
import { Clock } from './clock.js';
import { Siblings } from './tabs.js';
import { TabMiner } from './tab-miner.js';
import { short } from './ui/dom.js';

const AGENT = 'tabchain-tab/0.1.0';
const OFFLINE_READY_MS = 5_000;
const TICK_MS = 1_000;
// How often a visible tab asks the relay for its peer list (heights, relay,
// last block); the relay allows one a second.
const PEERS_POLL_MS = 5_000;
const SYNC_BAR_LINGER_MS = 1_500;
const LOG_LINES = 200;
/** Reorgs remembered for the block tree to mark. */
const REORGS_KEPT = 5;
const NETWORK_KEY = 'tabchain.network';
/** Bodies of the last blocks kept in wasm memory; the rest stays in the store. */
const BODY_LIMIT = 1_000;
/** At most this many bytes of them (full main-network blocks are 256 KiB). */
const BODY_BYTES = 64 * 1024 * 1024;
/** Blocks read from the store and handed to the node at once during a restore. */
const RESTORE_BATCH = 500;

/** The body limit: `?bodies=N` (N ≥ 1) or `?bodies=all` (no limit), else `BODY_LIMIT`. */
function bodyLimit() {
  const asked = new URLSearchParams(location.search).get('bodies');
  if (asked === 'all') return null;
  const n = Number.parseInt(asked ?? '', 10);
  return n >= 1 ? n : BODY_LIMIT;
}

export class Host extends EventTarget {
  constructor() {
    super();
    this.network = null;
    this.node = null;
    this.store = null;
    this.relay = null;
    /** The relays this tab may use, `[{name, url}]`: its page's first, then the cluster's others (see `relayList`). */
    this.relays = [];
    /** Picks the order this tab tries the other relays in. */
    this.relaySeed = crypto.getRandomValues(new Uint32Array(1))[0];
    this.connected = false;
    this.secret = null;
    this.keyId = null;
    this.syncShownUntil = 0;
    this.logLines = [];
    /** The last reorgs, oldest first (see the `reorg` event). */
    this.reorgs = [];
    this.pendingChanges = [];
    this.storeQueued = false;
    this.storing = Promise.resolve();
    this.queue = Promise.resolve();
    this.clock = new Clock();
    /** This tab's mining: the browser's one miner, the workers, the GPU. */
    this.miner = new TabMiner(this);
    /** This browser's other tabs. */
    this.siblings = new Siblings({
      onFrame: (network, text) => this.enqueue(() => this.onSibling(network, text)),
      onMining: (on, workers, gpu, held) => {
        this.miner.lock.heard(on, workers, gpu, held);
        this.dispatchEvent(new CustomEvent('workers', { detail: workers }));
      },
      onAsk: () => this.miner.lock.asked(),
    });
    /** Stamps this tab's posts (half the cores: mining may run beside it). */
    this.stamper = new Stamper(Math.max(1, Math.floor((navigator.hardwareConcurrency || 2) / 2)));
    /** Resolves once wasm is loaded, the chain restored and the relay joined (or after 5 s offline). */
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  /** Whether the relay announced this node's Hello (the node knows). */
  get joined() {
    return Boolean(this.node && this.node.status().joined);
  }

  /** Tells the page something on screen may have changed. */
  changed() {
    this.dispatchEvent(new Event('change'));
  }

  /** Serialises everything that touches the node: relay frames, posts, found nonces. */
  enqueue(task) {
    const run = this.queue.then(task);
    this.queue = run.catch((err) => {
      console.error(err);
      this.log(`error: ${err && err.message ? err.message : err}`);
    });
    return run;
  }

  /** Loads wasm and the remembered chain, connects to the relay, starts the clock. */
  async start() {
    this.wasm = await init();
    const remembered = localStorage.getItem(NETWORK_KEY);
    if (remembered) await this.load(remembered);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.relays = relayList(`${scheme}://${location.host}/ws`, null);
    this.refreshRelays();
    const handlers = {
      onOpen: (url) => this.enqueue(() => this.onOpen(url)),
      onText: (text) => this.enqueue(() => this.onText(text)),
      onClose: (info) => this.enqueue(() => this.onClose(info)),
    };
    this.relay = new RelayConnection(() => this.relays.map((relay) => relay.url), handlers, this.clock);
    this.relay.start();
    this.clock.after(OFFLINE_READY_MS, () => {
      if (!this.joined) {
        this.log('relay unreachable: working offline');
        this.enqueue(async () => {
          if (!this.node) await this.load(remembered || 'main');
          this.resolveReady();
        });
      }
    });
    this.clock.every(TICK_MS, () => this.enqueue(() => this.tick()));
    this.clock.every(PEERS_POLL_MS, () => this.enqueue(() => this.askPeers()));
    // A tab opened while another mines learns the browser's mining setting.
    this.siblings.ask();
    this.miner.probe();
    this.changed();
  }

  /** Opens (or switches to) the chain of `network`: storage, node, key, outbox. */
  async load(network) {
    this.miner.pool.setJob(null);
    // What the previous network's node asked to store goes to its own store.
    if (this.store) {
      this.flushStores();
      await this.storing;
    }
    this.network = network;
    localStorage.setItem(NETWORK_KEY, network);
    this.store = await openStore(network);
    this.node = new TabNode(network, AGENT);
    this.reorgs = [];
    this.node.setBodyLimit(bodyLimit(), BODY_BYTES);
    const started = performance.now();
    const report = await this.restore();
    const ms = Math.round(performance.now() - started);
    if (report.accepted + report.rejected > 0) {
      this.log(`restored ${report.accepted} blocks from storage in ${ms} ms (height ${report.height})`);
    }
    if (report.rejected > 0) this.log(`ignored ${report.rejected} stored blocks that did not validate`);
    this.apply(report.outputs);
    this.secret = await this.loadSecret();
    this.keyId = publicKeyId(this.secret);
    const author = (await this.store.getMeta('author')) || '';
    if (author) this.dispatchEvent(new CustomEvent('author', { detail: author }));
    if (!this.store.persistent) this.log(`storage unavailable (${this.store.problem}): the chain lives in memory only`);
    this.miner.refreshTemplate(true);
    this.changed();
  }

  /**
   * Gives the node what the store kept, a batch of blocks at a time (the
   * order from their headers alone), so no more than a batch of bodies is
   * held at once; resolves the node's restore report.
   */
  async restore() {
    const order = this.node.restoreOrder(await this.store.allHeaders());
    for (let i = 0; i < order.length; i += RESTORE_BATCH) {
      const blocks = await this.store.getBlocks(order.slice(i, i + RESTORE_BATCH));
      this.keep(this.node.restoreBlocks(blocks.filter(Boolean), Date.now()));
    }
    return this.node.finishRestore(Date.now(), await this.ownPosts());
  }

  /** The own posts kept in the store's outbox, oldest first, as post bytes. */
  async ownPosts() {
    const posts = [];
    for (const item of await this.store.outbox()) {
      // Entries kept by pages before the node owned its posts hold the Tx text.
      const bytes = item.bytes instanceof Uint8Array ? item.bytes : legacyOutboxPost(String(item.text ?? ''));
      if (bytes) posts.push(bytes);
    }
    return posts;
  }

  /** This browser's signing key for the chain's store, made on first use. */
  async loadSecret() {
    let secret = await this.store.getMeta('secretKey');
    if (!(secret instanceof Uint8Array) || secret.length !== 32) {
      secret = crypto.getRandomValues(new Uint8Array(32));
      await this.store.setMeta('secretKey', secret);
    }
    return secret;
  }

  // ---- relay ----

  /**
   * Asks this page's relay (its origin: the only one the page may fetch from)
   * for the relays of its cluster; the list stays as it was when that fails.
   */
  async refreshRelays() {
    try {
      const response = await fetch('/api/relays', { cache: 'no-store' });
      if (!response.ok) return;
      this.relays = relayList(this.relays[0].url, await response.json(), this.relaySeed);
      this.changed();
    } catch {
      // This page's relay is away (the tab may be on another one): keep the list.
    }
  }

  /** The relay this tab is connected to, `{name, url}` (`name` null for a relay alone), or null. */
  relayInUse() {
    return this.relay && this.relay.connected ? this.relayNamed(this.relay.url) : null;
  }

  /** `{name, url}` of the relay at `url` (`name` null when not known). */
  relayNamed(url) {
    const known = this.relays.find((relay) => relay.url === url);
    return { name: known ? known.name : null, url };
  }

  onOpen(url) {
    this.connected = true;
    const { name } = this.relayNamed(url);
    this.log(name === null ? 'connected to the relay' : `connected to relay ${name} (${url})`);
    this.refreshRelays();
    this.changed();
  }

  async onText(text) {
    if (!this.node) {
      // No chain open yet: the relay's Welcome says which network to open.
      const network = welcomeNetwork(text);
      if (!network) return;
      await this.load(network);
    }
    const outputs = this.node.onText(text, Date.now());
    // The node refuses a Welcome of another network: open that network's chain and hand it the Welcome.
    const other = outputs.find((o) => o.kind === 'event' && o.event.type === 'wrongNetwork');
    if (other && other.event.network !== this.network) {
      this.log(`relay serves the ${other.event.network} network; switching`);
      await this.load(other.event.network);
      this.apply(this.node.onText(text, Date.now()));
      return;
    }
    this.apply(outputs);
  }

  onClose(info) {
    const was = this.joined;
    this.connected = false;
    if (this.node) this.node.onDisconnected();
    const why = info.reason ? ` (${info.code} ${info.reason})` : '';
    const { name, url } = this.relayNamed(info.next);
    const where = this.relays.length > 1 ? ` ${name ?? url}` : '';
    const wait = `${(info.retryInMs / 1000).toFixed(1)} s`;
    if (was || info.wasConnected) this.log(`disconnected${why}; retrying${where} in ${wait}`);
    this.changed();
  }

  tick() {
    if (!this.node) return;
    this.apply(this.node.tick(Date.now()));
  }

  /** Asks the relay for the current peer list, when someone can see it. */
  askPeers() {
    if (!this.node || !this.connected || document.visibilityState !== 'visible') return;
    const request = this.node.peersRequest();
    if (request && this.relay) this.relay.send(request);
  }

  /** A post or block another tab of this browser announced: checked by the node like a relay frame. */
  onSibling(network, text) {
    if (!this.node || network !== this.network) return;
    const outputs = this.node.onSiblingText(text, Date.now());
    for (const output of outputs) if (output.kind === 'event') output.event.sibling = true;
    this.apply(outputs);
  }

  // ---- the node's outputs ----

  /** Carries out what the node asked for: changes kept first, then the rest in order. */
  apply(outputs) {
    this.keep(outputs);
    for (const output of outputs) {
      if (output.kind === 'send') {
        this.relay && this.relay.send(output.text);
      } else if (output.kind === 'sibling') {
        // A post written or block mined here: the other tabs hear it at once, also with the relay away.
        this.siblings.frame(this.network, output.text);
      } else if (output.kind === 'templateStale') {
        this.miner.refreshTemplate(false);
      } else if (output.kind === 'event') {
        this.onEvent(output.event);
      } else if (output.kind === 'serveBlocks') {
        this.serveBlocks(output.to, output.hashes);
      } else if (output.kind === 'loadBlocks') {
        this.loadBlocks(output.hashes);
      } else if (output.kind === 'readBlock') {
        this.readBlock(output.hash);
      }
    }
    this.changed();
  }

  /**
   * The bytes of the blocks `hashes` from the store, in order (`undefined`
   * for one not stored), once everything queued so far is written: the node
   * asks only for blocks it told the tab to keep.
   */
  async readBlocks(hashes) {
    await this.saved();
    return this.store.getBlocks(hashes);
  }

  /** A peer's `GetBlocks` whose bodies the node no longer holds: answered from the store, up to a block it lacks. */
  async serveBlocks(to, hashes) {
    const node = this.node;
    try {
      const found = await this.readBlocks(hashes);
      const end = found.indexOf(undefined);
      const blocks = end < 0 ? found : found.slice(0, end);
      await this.enqueue(() => {
        if (this.node === node) this.apply(node.sendBlocks(to, blocks));
      });
    } catch (err) {
      this.log(`could not read blocks for peer ${to}: ${err}`);
    }
  }

  /** Old blocks whose post ids a check needs (a fork older than the post window): read and handed to the node. */
  async loadBlocks(hashes) {
    const node = this.node;
    try {
      const blocks = (await this.readBlocks(hashes)).filter(Boolean);
      this.log(`loaded ${blocks.length} old blocks from storage for a deep fork's checks`);
      await this.enqueue(() => {
        if (this.node === node) this.apply(node.blocksLoaded(blocks, Date.now()));
      });
    } catch (err) {
      this.log(`could not load old blocks: ${err}`);
    }
  }

  /**
   * A block below another tab's block that this tab lacks: read from the
   * store the tabs share (the other tab kept it) and handed to the node,
   * which asks for the next one down until the gap is closed.
   */
  async readBlock(hash) {
    const node = this.node;
    let bytes;
    try {
      [bytes] = await this.readBlocks([hash]);
    } catch (err) {
      this.log(`could not read block ${hash.slice(0, 12)}… from storage: ${err}`);
    }
    await this.enqueue(() => {
      if (this.node === node) this.apply(node.blockRead(hash, bytes, Date.now()));
    });
  }

  /**
   * Queues the changes among `outputs` that a tab keeps (blocks and its own
   * pending posts; see `store.js`) and starts writing them.
   */
  keep(outputs) {
    for (const output of outputs) {
      if (output.kind === 'store' && keeps(output)) this.pendingChanges.push(output);
    }
    if (this.pendingChanges.length > 0) this.flushStores();
  }

  /**
   * Writes the queued changes: one transaction at a time, each taking
   * everything queued meanwhile, so a burst of blocks (a sync page, fast dev
   * mining) costs a write or two, not one per block, and storage never falls
   * far behind the chain.
   */
  flushStores() {
    if (this.storeQueued) return;
    this.storeQueued = true;
    this.storing = this.storing.then(async () => {
      this.storeQueued = false;
      const batch = this.pendingChanges;
      this.pendingChanges = [];
      if (batch.length === 0) return;
      try {
        await this.store.apply(batch);
      } catch (err) {
        this.log(`could not store ${batch.length} changes: ${err}`);
      }
    });
  }

  /** Resolves once every change the tab keeps so far (blocks, own posts) is in storage. */
  saved() {
    this.flushStores();
    return this.storing;
  }

  /** Logs a node event and keeps the page state it changes (the sync bar, readiness). */
  onEvent(event) {
    const peer = (id) => (id !== null && id !== undefined ? `peer ${id}` : event.sibling ? 'another tab' : 'this tab');
    switch (event.type) {
      case 'welcomed':
        this.log(`connected as peer ${event.peerId} on the ${event.network} network (${event.peers} peers)`);
        break;
      case 'wrongNetwork':
        this.log(`the relay serves ${event.network}, this node ${event.expectedNetwork}: not joining`);
        break;
      case 'joined':
        this.log('joined the relay');
        if (event.resent > 0) this.log(`sent ${event.resent} post(s) written while offline`);
        this.resolveReady();
        break;
      case 'peerJoined':
        this.log(`peer ${event.id} joined (${event.agent}, height ${event.bestHeight})`);
        break;
      case 'peerLeft':
        this.log(`peer ${event.id} left`);
        break;
      case 'blockAccepted':
        if (event.from !== null && event.from !== undefined) this.log(`block ${event.height} from peer ${event.from}`);
        break;
      case 'reorg':
        this.log(`reorg of depth ${event.depth} at height ${event.forkHeight}: new tip at height ${event.newHeight}`);
        this.noteReorg(event);
        break;
      case 'syncStarted':
        this.syncShownUntil = Infinity;
        this.log(`syncing from peer ${event.peer} (its height ${event.targetHeight})`);
        break;
      case 'syncProgress':
        break;
      case 'synced':
        // Keep the finished bar on screen a moment: a fast sync should still be seen.
        this.syncShownUntil = Date.now() + SYNC_BAR_LINGER_MS;
        setTimeout(() => this.changed(), SYNC_BAR_LINGER_MS + 100);
        this.log(`synced ${event.blocks} blocks (height ${event.height})`);
        break;
      case 'syncRetry':
        this.log(`peer ${event.peer} did not answer; asking again`);
        break;
      case 'syncAbandoned':
        this.syncShownUntil = 0;
        this.log(`sync from peer ${event.peer} abandoned: ${event.reason}`);
        break;
      case 'postReceived':
        this.log(`post from ${event.author}${event.from !== null && event.from !== undefined ? ` via peer ${event.from}` : ''}`);
        break;
      case 'mempoolReceived':
        if (event.accepted > 0) this.log(`${event.accepted} pending post(s) from peer ${event.from}`);
        break;
      case 'blockRejected':
        this.log(`rejected block ${short(event.hash)} from ${peer(event.from)}: ${event.reason}`);
        break;
      case 'peerDoubted':
        this.log(`not syncing from peer ${event.peer} any more: ${event.reason}`);
        break;
      case 'postExpired':
        this.log(`your post ${short(event.txId)} waited an hour without a block: it expired`);
        break;
      case 'peerIgnored':
        this.log(`peer ${event.id} sent too much invalid data: its blocks and posts are ignored`);
        break;
      case 'peerError':
        this.log(`${peer(event.from)} says ${event.code}: ${event.message}`);
        break;
      case 'badMessage':
        this.log(`unreadable message from the relay: ${event.reason}`);
        break;
      default: {
        const { type, ...rest } = event;
        this.log(`${type} ${JSON.stringify(rest)}`);
      }
    }
  }

  /**
   * Remembers a reorg (the last five) with its fork point, the best-chain
   * block at the fork height now, and tells the page (`reorg` event).
   */
  noteReorg(event) {
    const fork = this.node.blocks(event.forkHeight, 1)[0];
    const reorg = {
      forkHeight: event.forkHeight,
      forkHash: fork ? fork.hash : null,
      depth: event.depth,
      newTip: event.newTip,
      newHeight: event.newHeight,
      disconnected: event.disconnected,
      at: Date.now(),
    };
    this.reorgs.push(reorg);
    if (this.reorgs.length > REORGS_KEPT) this.reorgs.splice(0, this.reorgs.length - REORGS_KEPT);
    this.dispatchEvent(new CustomEvent('reorg', { detail: reorg }));
  }

  // ---- what the page and window.tabchain ask for ----

  /**
   * Signs, stamps and sends a post; resolves its tx id. Stamping (the post's
   * proof of work, about a second of CPU on main) runs in workers outside the
   * serial queue, so the node keeps answering the relay meanwhile;
   * `onProgress(fraction)` hears how far it is. Do not wrap it in `enqueue`.
   */
  async post(author, content, onProgress) {
    author = String(author ?? '').trim();
    content = String(content ?? '');
    const prepared = await this.enqueue(() => this.node.preparePost(author, content, Date.now(), this.secret));
    const nonce = await this.stamper.stamp(prepared.headerBytes, prepared.expectedHashes, onProgress);
    return this.enqueue(async () => {
      const result = this.node.postStamped(prepared.postBytes, prepared.bits, nonce, Date.now());
      // Kept before it is sent: a post written here is never lost to a closed tab.
      this.keep(result.outputs);
      await this.saved();
      await this.store.setMeta('author', author);
      this.apply(result.outputs.filter((o) => o.kind !== 'store'));
      this.miner.refreshTemplate(true);
      return result.txId;
    });
  }

  /** Drops the local chain and fetches it again from the relay. Run it through `enqueue`. */
  async resync() {
    this.log('resync: dropping the local chain and fetching it again');
    this.pendingChanges = [];
    await this.storing;
    await this.store.clearBlocks();
    this.relay.stop();
    await this.load(this.network);
    this.relay.start();
  }

  // ---- what the page shows ----

  /**
   * A block as the page shows it (see `blockView` in the wasm module: header
   * fields, posts, JSON), from memory or else the store; null if neither has it.
   */
  async blockView(hash) {
    const bytes = this.node.blockBytes(hash) ?? (await this.readBlocks([hash]))[0];
    return bytes ? blockView(bytes) : null;
  }

  /**
   * Confirmed posts of best-chain blocks below `beforeHeight`, newest first,
   * at least `minPosts` of them unless the chain has fewer (whole blocks),
   * read from memory or the store: `{posts, lowest}` (`lowest`: the height
   * of the oldest block read, where the next page starts; 0 at genesis).
   */
  async olderPosts(beforeHeight, minPosts) {
    const node = this.node;
    const blocks = node.postBlocks(beforeHeight, minPosts);
    const stored = blocks.filter((b) => !b.inMemory).map((b) => b.hash);
    const read = new Map();
    (await this.readBlocks(stored)).forEach((bytes, i) => read.set(stored[i], bytes));
    const posts = [];
    for (const block of blocks) {
      const bytes = block.inMemory ? node.blockBytes(block.hash) : read.get(block.hash);
      if (bytes) posts.push(...blockView(bytes).posts);
    }
    return { posts, lowest: blocks.length > 0 ? blocks[blocks.length - 1].height : 0 };
  }

  /**
   * What the chain takes in this tab: `{wasmBytes (the wasm memory), blocks,
   * bodies, bodyBytes, bodyLimit, bodyBytesLimit}` (see `TabNode.memoryUse`).
   */
  memory() {
    const use = this.node ? this.node.memoryUse() : {};
    return { wasmBytes: this.wasm ? this.wasm.memory.buffer.byteLength : 0, ...use };
  }

  /** Adds a line to the activity log (the newest 200 are kept). */
  log(text) {
    this.logLines.push({ at: Date.now(), text });
    if (this.logLines.length > LOG_LINES) this.logLines.splice(0, this.logLines.length - LOG_LINES);
    this.changed();
  }

  /**
   * `window.tabchain.status()`: {connected, peer, syncing, height, tip,
   * workers (this tab's), hashrate (this tab's), miner ('here', 'elsewhere':
   * another tab of this browser mines, or null: mining is off)}.
   */
  status() {
    const s = this.node ? this.node.status() : null;
    return {
      connected: this.joined,
      peer: s && s.joined ? s.me : null,
      syncing: Boolean(s && s.syncing),
      height: s ? s.height : 0,
      tip: s ? s.tip : '',
      workers: this.miner.workersHere(),
      hashrate: this.miner.hashrate(),
      miner: this.miner.pool.enabled ? 'here' : this.miner.lock.elsewhere ? 'elsewhere' : null,
    };
  }
}
