// tabchain in a tab: a full node (the wasm `TabNode` over tabchain-core), its
// IndexedDB storage, its relay connection, its miners, and the page.
//
// Data flow: relay text → `node.onText` → outputs (texts to send, blocks to
// store, events to show) → `apply`. Nothing here interprets chain data; the
// page only renders what the node returns, always as text (never as HTML).
//
// `window.tabchain` is the automation API the end-to-end tests use (see README).

import init, { TabNode, publicKeyId, tamperRebuild } from './pkg/tabchain_wasm.js';
import { openStore } from './store.js';
import { RelayConnection } from './relay.js';
import { MiningManager } from './mining.js';

const AGENT = 'tabchain-tab/0.1.0';
const OFFLINE_READY_MS = 5_000;
const TICK_MS = 1_000;
const TEMPLATE_REFRESH_MS = 10_000;
const RENDER_MS = 150;
const LOG_LINES = 200;
const FEED_POSTS = 100;
const EXPLORER_BLOCKS = 25;
const TAMPER_BLOCKS = 3;
const NETWORK_KEY = 'tabchain.network';

const $ = (id) => document.getElementById(id);

/** Text-only element builder: children are nodes or strings (set as text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function short(hash) {
  return hash ? `${hash.slice(0, 10)}…${hash.slice(-6)}` : '–';
}

function formatRate(hashesPerSecond) {
  if (hashesPerSecond >= 1e6) return `${(hashesPerSecond / 1e6).toFixed(2)} MH/s`;
  if (hashesPerSecond >= 1e3) return `${(hashesPerSecond / 1e3).toFixed(1)} kH/s`;
  return `${Math.round(hashesPerSecond)} H/s`;
}

function formatDuration(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function formatTime(ms) {
  return new Date(ms).toLocaleTimeString();
}

class App {
  constructor() {
    this.network = null;
    this.node = null;
    this.store = null;
    this.relay = null;
    this.connected = false;
    this.joined = false;
    this.me = null;
    this.secret = null;
    this.keyId = null;
    this.mined = 0;
    this.syncShownUntil = 0;
    this.logLines = [];
    this.pendingStores = [];
    this.storeQueued = false;
    this.storing = Promise.resolve();
    this.queue = Promise.resolve();
    this.renderTimer = null;
    this.templateTimer = null;
    this.lastTemplateAt = 0;
    this.defaultWorkers = Math.max(1, (navigator.hardwareConcurrency || 2) - 1);
    this.mining = new MiningManager({
      onFound: (id, nonce) => this.enqueue(() => this.onFound(id, nonce)),
      onError: (message) => this.log(`miner: ${message}`),
    });
    let resolveReady;
    this.readyPromise = new Promise((resolve) => {
      resolveReady = resolve;
    });
    this.resolveReady = resolveReady;
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

  async start() {
    this.bindUi();
    this.registerServiceWorker();
    await init();
    const remembered = localStorage.getItem(NETWORK_KEY);
    if (remembered) await this.load(remembered);
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.relay = new RelayConnection(`${scheme}://${location.host}/ws`, {
      onOpen: () => this.enqueue(() => this.onOpen()),
      onText: (text) => this.enqueue(() => this.onText(text)),
      onClose: (info) => this.enqueue(() => this.onClose(info)),
    });
    this.relay.start();
    setTimeout(() => {
      if (!this.joined) {
        this.log('relay unreachable: working offline');
        this.enqueue(async () => {
          if (!this.node) await this.load(remembered || 'main');
          this.resolveReady();
        });
      }
    }, OFFLINE_READY_MS);
    setInterval(() => this.enqueue(() => this.tick()), TICK_MS);
    this.scheduleRender();
  }

  /** The app shell stays available offline (see sw.js); failure only costs that. */
  registerServiceWorker() {
    if (!('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register('./sw.js').catch((err) => console.warn('tabchain: no offline app shell:', err));
  }

  /** Opens (or switches to) the chain of `network`: storage, node, key, outbox. */
  async load(network) {
    this.mining.setJob(null);
    // What the previous network's node asked to store goes to its own store.
    if (this.store) {
      this.flushStores();
      await this.storing;
    }
    this.network = network;
    localStorage.setItem(NETWORK_KEY, network);
    this.store = await openStore(network);
    this.node = new TabNode(network, AGENT);
    const stored = await this.store.allBlocks();
    const started = performance.now();
    const report = this.restoreChain(stored, await this.store.getMeta('tip'));
    const ms = Math.round(performance.now() - started);
    if (stored.length > 0) {
      this.log(`restored ${report.accepted} blocks from storage in ${ms} ms (height ${report.height})`);
    }
    if (report.rejected > 0) this.log(`ignored ${report.rejected} stored blocks that did not validate`);
    this.secret = await this.loadSecret();
    this.keyId = publicKeyId(this.secret);
    const author = (await this.store.getMeta('author')) || '';
    if (author && !$('post-author').value) $('post-author').value = author;
    for (const item of await this.store.outbox()) {
      // Back into the mempool (a Tx without `from`, as if just written).
      this.apply(this.node.onText(item.text, Date.now()));
    }
    if (!this.store.persistent) this.log(`storage unavailable (${this.store.problem}): the chain lives in memory only`);
    this.refreshTemplate(true);
    this.scheduleRender();
  }

  /** Rebuilds the chain from stored blocks, keeping the stored tip among equal-work branches. */
  restoreChain(stored, tip) {
    if (typeof tip === 'string') {
      try {
        return this.node.restore(stored, Date.now(), tip);
      } catch (err) {
        this.log(`ignored the stored tip: ${err.message}`);
      }
    }
    return this.node.restore(stored, Date.now());
  }

  async loadSecret() {
    let secret = await this.store.getMeta('secretKey');
    if (!(secret instanceof Uint8Array) || secret.length !== 32) {
      secret = crypto.getRandomValues(new Uint8Array(32));
      await this.store.setMeta('secretKey', secret);
    }
    return secret;
  }

  onOpen() {
    this.connected = true;
    this.log('connected to the relay');
    this.scheduleRender();
  }

  async onText(text) {
    // The relay's Welcome names the network: switch chains before the node sees it.
    if (text.startsWith('{"type":"Welcome"')) {
      const match = /"network":"([a-z]+)"/.exec(text);
      if (match && match[1] !== this.network) {
        if (this.network) this.log(`relay serves the ${match[1]} network; switching`);
        await this.load(match[1]);
      }
    }
    this.apply(this.node.onText(text, Date.now()));
  }

  onClose(info) {
    const was = this.joined;
    this.connected = false;
    this.joined = false;
    this.me = null;
    if (this.node) this.node.onDisconnected();
    const why = info.reason ? ` (${info.code} ${info.reason})` : '';
    if (was || info.wasConnected) this.log(`disconnected${why}; retrying in ${(info.retryInMs / 1000).toFixed(1)} s`);
    this.scheduleRender();
  }

  tick() {
    if (!this.node) return;
    this.apply(this.node.tick(Date.now()));
    if (this.mining.enabled && Date.now() - this.lastTemplateAt > TEMPLATE_REFRESH_MS) this.refreshTemplate(true);
    this.scheduleRender();
  }

  /** Carries out what the node asked for. */
  apply(outputs) {
    let changed = false;
    for (const output of outputs) {
      if (output.kind === 'send') {
        this.relay && this.relay.send(output.text);
      } else if (output.kind === 'store') {
        this.pendingStores.push({ hash: output.hash, bytes: output.bytes });
        changed = true;
      } else if (output.kind === 'event') {
        if (this.onEvent(output.event)) changed = true;
      }
    }
    if (this.pendingStores.length > 0) this.flushStores();
    if (changed) this.refreshTemplate(false);
    this.scheduleRender();
  }

  /**
   * Writes the blocks the node asked to store, with the best tip they lead to:
   * one transaction at a time, each taking everything queued meanwhile, so a
   * burst of blocks (a sync page, fast dev mining) costs a write or two, not
   * one per block, and storage never falls far behind the chain.
   */
  flushStores() {
    if (this.storeQueued) return;
    this.storeQueued = true;
    this.storing = this.storing.then(async () => {
      this.storeQueued = false;
      const batch = this.pendingStores;
      this.pendingStores = [];
      if (batch.length === 0) return;
      try {
        await this.store.putBlocks(batch, this.node.tip());
      } catch (err) {
        this.log(`could not store ${batch.length} blocks: ${err}`);
      }
    });
  }

  /** Logs an event; returns whether the tip or the mempool may have changed. */
  onEvent(event) {
    const peer = (id) => (id === null || id === undefined ? 'this tab' : `peer ${id}`);
    switch (event.type) {
      case 'welcomed':
        this.me = event.peerId;
        this.log(`connected as peer ${event.peerId} on the ${event.network} network (${event.peers} peers)`);
        return false;
      case 'wrongNetwork':
        this.log(`the relay serves ${event.network}, this node ${event.expectedNetwork}: not joining`);
        return false;
      case 'joined':
        this.joined = true;
        this.log('joined the relay');
        this.sendOutbox();
        this.resolveReady();
        return false;
      case 'peerJoined':
        if (event.id !== this.me) this.log(`peer ${event.id} joined (${event.agent}, height ${event.bestHeight})`);
        return false;
      case 'peerLeft':
        this.log(`peer ${event.id} left`);
        return false;
      case 'blockAccepted':
        if (event.from !== null && event.from !== undefined) this.log(`block ${event.height} from peer ${event.from}`);
        this.confirmOutbox();
        return true;
      case 'reorg':
        this.log(`reorg of depth ${event.depth}: new tip at height ${event.newHeight}`);
        this.confirmOutbox();
        return true;
      case 'syncStarted':
        this.syncShownUntil = Infinity;
        this.log(`syncing from peer ${event.peer} (its height ${event.targetHeight})`);
        return false;
      case 'syncProgress':
        return true;
      case 'synced':
        // Keep the finished bar on screen a moment: a fast sync should still be seen.
        this.syncShownUntil = Date.now() + 1_500;
        setTimeout(() => this.scheduleRender(), 1_600);
        this.log(`synced ${event.blocks} blocks (height ${event.height})`);
        this.confirmOutbox();
        return true;
      case 'syncRetry':
        this.log(`peer ${event.peer} did not answer; asking again`);
        return false;
      case 'syncAbandoned':
        this.syncShownUntil = 0;
        this.log(`sync from peer ${event.peer} abandoned: ${event.reason}`);
        return false;
      case 'postReceived':
        this.log(`post from ${event.author}${event.from !== null && event.from !== undefined ? ` via peer ${event.from}` : ''}`);
        return true;
      case 'mempoolReceived':
        if (event.accepted > 0) this.log(`${event.accepted} pending post(s) from peer ${event.from}`);
        return event.accepted > 0;
      case 'blockRejected':
        this.log(`rejected block ${short(event.hash)} from ${peer(event.from)}: ${event.reason}`);
        return false;
      case 'peerError':
        this.log(`${peer(event.from)} says ${event.code}: ${event.message}`);
        return false;
      case 'badMessage':
        this.log(`unreadable message from the relay: ${event.reason}`);
        return false;
      default: {
        const { type, ...rest } = event;
        this.log(`${type} ${JSON.stringify(rest)}`);
        return true;
      }
    }
  }

  async sendOutbox() {
    const items = await this.store.outbox();
    for (const item of items) this.relay.send(item.text);
    if (items.length > 0) this.log(`sent ${items.length} post(s) written while offline`);
  }

  async confirmOutbox() {
    const items = await this.store.outbox();
    if (items.length === 0) return;
    const confirmed = new Set(this.node.posts(10_000).map((p) => p.txId));
    const done = items.filter((item) => confirmed.has(item.txId)).map((item) => item.txId);
    await this.store.removeFromOutbox(done);
  }

  async post(author, content) {
    author = String(author ?? '').trim();
    content = String(content ?? '');
    const result = this.node.post(author, content, Date.now(), this.secret);
    await this.store.addToOutbox({ txId: result.txId, text: result.txText, seq: Date.now() });
    await this.store.setMeta('author', author);
    this.apply(result.outputs);
    this.refreshTemplate(true);
    return result.txId;
  }

  setMining(on, workers) {
    const count = Number.isInteger(workers) ? Math.max(0, workers) : this.mining.workerCount || this.defaultWorkers;
    $('mine-workers').value = String(count);
    this.mining.configure(Boolean(on), count);
    this.refreshTemplate(true);
    this.log(on && count > 0 ? `mining with ${count} worker(s)` : 'mining stopped');
    this.scheduleRender();
  }

  /** Gives the workers a fresh template, at most every 50 ms unless forced. */
  refreshTemplate(force) {
    if (!this.mining.enabled || !this.node) return;
    const now = Date.now();
    const wait = force ? 0 : Math.max(0, 50 - (now - this.lastTemplateAt));
    clearTimeout(this.templateTimer);
    this.templateTimer = setTimeout(() => {
      this.enqueue(() => {
        const template = this.node.template(Date.now());
        this.lastTemplateAt = Date.now();
        this.mining.setJob({ id: template.id, headerBytes: template.headerBytes });
      });
    }, wait);
  }

  onFound(id, nonce) {
    let outputs;
    try {
      outputs = this.node.foundNonce(id, nonce, Date.now());
    } catch (err) {
      // A template the tip already moved past: nothing lost.
      console.debug('stale nonce', err);
      return;
    }
    this.mined += 1;
    this.log(`mined block ${this.node.height()}`);
    this.apply(outputs);
    this.refreshTemplate(true);
  }

  async resync() {
    this.log('resync: dropping the local chain and fetching it again');
    this.pendingStores = [];
    await this.storing;
    await this.store.clearBlocks();
    this.relay.stop();
    await this.load(this.network);
    this.relay.start();
  }

  log(text) {
    this.logLines.push({ at: Date.now(), text });
    if (this.logLines.length > LOG_LINES) this.logLines.splice(0, this.logLines.length - LOG_LINES);
    this.scheduleRender();
  }

  status() {
    const s = this.node ? this.node.status() : null;
    return {
      connected: this.joined,
      syncing: Boolean(s && s.syncing),
      height: s ? s.height : 0,
      tip: s ? s.tip : '',
      workers: this.mining.enabled ? this.mining.workerCount : 0,
      hashrate: this.mining.enabled ? this.mining.hashrate() : 0,
    };
  }

  // ---- page ----

  bindUi() {
    $('post-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const author = $('post-author').value;
      const content = $('post-content').value;
      this.enqueue(() => this.post(author, content))
        .then((txId) => {
          $('post-content').value = '';
          $('post-result').textContent = `posted ${short(txId)}`;
        })
        .catch((err) => {
          $('post-result').textContent = `not posted: ${err && err.message ? err.message : err}`;
        });
    });
    $('mine-workers').max = String(navigator.hardwareConcurrency || 4);
    $('mine-workers').value = String(this.defaultWorkers);
    $('mine-toggle').addEventListener('click', () => {
      const workers = Number.parseInt($('mine-workers').value, 10) || 0;
      this.setMining(!this.mining.enabled, workers);
    });
    $('mine-workers').addEventListener('change', () => {
      if (this.mining.enabled) this.setMining(true, Number.parseInt($('mine-workers').value, 10) || 0);
    });
    $('resync').addEventListener('click', () => this.enqueue(() => this.resync()));
    $('explorer').querySelector('tbody').addEventListener('click', (event) => {
      const row = event.target.closest('tr');
      if (!row || !this.node) return;
      const detail = $('block-detail');
      detail.textContent = this.node.blockJson(row.dataset.hash);
      detail.hidden = false;
      $('tamper-from').value = row.dataset.height;
    });
    $('tamper-load').addEventListener('click', () => this.loadTamperCopy());
    $('tamper-check').addEventListener('click', () => this.checkTamperCopy());
    $('tamper').addEventListener('input', () => this.checkTamperCopy());
  }

  scheduleRender() {
    if (this.renderTimer) return;
    this.renderTimer = setTimeout(() => {
      this.renderTimer = null;
      this.render();
    }, RENDER_MS);
  }

  render() {
    const node = this.node;
    const badge = $('st-connection');
    badge.textContent = this.joined ? `online (peer ${this.me})` : this.connected ? 'connecting…' : 'offline';
    badge.className = `badge ${this.joined ? 'online' : 'offline'}`;
    $('st-network').textContent = this.network || '–';
    $('key-id').textContent = this.keyId || '–';
    $('st-storage').textContent = this.store ? (this.store.persistent ? 'IndexedDB' : 'memory only') : '–';
    if (!node) return;
    const status = node.status();
    $('st-height').textContent = String(status.height);
    $('st-tip').textContent = short(status.tip);
    $('st-tip').title = status.tip;
    const peers = node.peers();
    $('st-peers').textContent = String(peers.length);

    const sync = $('sync');
    const showSync = status.syncing || Date.now() < this.syncShownUntil;
    sync.hidden = !showSync;
    if (showSync) {
      const target = Math.max(status.syncTarget || 0, status.height, 1);
      $('sync-progress').max = target;
      $('sync-progress').value = status.height;
      $('sync-text').textContent = `${status.height} / ${target}`;
    }

    $('mine-toggle').textContent = this.mining.enabled ? 'Stop mining' : 'Start mining';
    const rate = this.mining.enabled ? this.mining.hashrate() : 0;
    $('mine-rate').textContent = formatRate(rate);
    $('mine-found').textContent = String(this.mined);
    $('mine-difficulty').textContent = status.expectedHashes ? Math.round(status.expectedHashes).toLocaleString() : '–';
    $('mine-eta').textContent = rate > 0 ? formatDuration(status.expectedHashes / rate) : '–';

    this.renderPosts($('feed'), node.posts(FEED_POSTS), true);
    this.renderPosts($('pending'), node.pending(), false);
    this.renderExplorer(status.height);
    $('peers').replaceChildren(
      ...peers.map((p) => el('li', {}, el('strong', { text: `peer ${p.id}` }), ` ${p.agent} · height ${p.height}`)),
    );
    $('log').replaceChildren(
      ...this.logLines
        .slice()
        .reverse()
        .map((line) => el('li', {}, el('time', { text: formatTime(line.at) }), line.text)),
    );
  }

  renderPosts(list, posts, confirmed) {
    list.replaceChildren(
      ...posts.map((p) => {
        const head = el('div', { class: 'post-head' }, el('span', { class: 'post-author', text: p.author }));
        if (p.keyId) head.append(el('span', { class: 'verified', text: `✔ verified ${p.keyId}` }));
        else head.append(el('span', { class: 'unsigned', text: 'unsigned' }));
        const meta = confirmed ? `block ${p.height} · ${formatTime(p.timestamp)}` : formatTime(p.timestamp);
        head.append(el('span', { class: 'muted', text: meta }));
        return el('li', { 'data-txid': p.txId }, head, el('div', { class: 'post-content', text: p.content }));
      }),
    );
  }

  renderExplorer(height) {
    const from = Math.max(0, height - EXPLORER_BLOCKS + 1);
    const blocks = this.node.blocks(from, EXPLORER_BLOCKS).slice().reverse();
    $('explorer').querySelector('tbody').replaceChildren(
      ...blocks.map((b) => {
        const row = el(
          'tr',
          { 'data-hash': b.hash, 'data-height': String(b.height) },
          el('td', { text: String(b.height) }),
          el('td', { class: 'hash', text: b.hash, title: b.hash }),
          el('td', { class: 'hash', text: b.prevHash, title: b.prevHash }),
          el('td', { text: b.nonce }),
          el('td', { text: String(b.txCount) }),
          el('td', { text: formatTime(b.timestamp) }),
        );
        return row;
      }),
    );
  }

  loadTamperCopy() {
    if (!this.node) return;
    // From the height picked (typed, or clicked in the explorer), else the last few.
    const height = this.node.height();
    const picked = Number.parseInt($('tamper-from').value, 10);
    const from = picked >= 0 && picked <= height ? picked : Math.max(0, height - TAMPER_BLOCKS + 1);
    const blocks = this.node.blocks(from, TAMPER_BLOCKS);
    $('tamper').replaceChildren(
      ...blocks.map((b) => {
        const text = el('textarea', { spellcheck: 'false', 'aria-label': `block ${b.height} (editable copy)` });
        text.value = this.node.blockJson(b.hash);
        return el(
          'li',
          { 'data-hash': b.hash },
          el('div', { class: 'row' }, el('strong', { text: `block ${b.height}` }), el('span', { class: 'verdict' })),
          text,
        );
      }),
    );
    this.checkTamperCopy();
  }

  checkTamperCopy() {
    const items = [...$('tamper').children];
    if (items.length === 0) return;
    // Joined as text: the copies are never parsed by JavaScript (u64 nonces).
    const json = `[${items.map((li) => li.querySelector('textarea').value).join(',')}]`;
    let results;
    try {
      results = tamperRebuild(json);
    } catch (err) {
      for (const li of items) {
        li.className = 'broken';
        li.querySelector('.verdict').textContent = `not a block any more: ${err.message || err}`;
        li.querySelector('.verdict').className = 'verdict broken';
      }
      return;
    }
    results.forEach((r, i) => {
      const li = items[i];
      const problems = [];
      if (r.changed) problems.push(`hash is now ${short(r.hash)}, the chain has ${short(r.original)}`);
      if (!r.powOk) problems.push('proof of work no longer met');
      if (!r.postsOk) problems.push('a signature no longer verifies');
      const broken = problems.length > 0;
      li.className = broken ? 'broken' : 'ok';
      const verdict = li.querySelector('.verdict');
      verdict.className = `verdict ${broken ? 'broken' : 'ok'}`;
      verdict.textContent = broken ? problems.join('; ') : `hash ${short(r.hash)}: as on the chain`;
    });
  }
}

const app = new App();

window.tabchain = {
  /** Resolves once wasm is loaded, the chain restored and the relay joined (or after 5 s offline). */
  ready: () => app.readyPromise,
  height: () => (app.node ? app.node.height() : 0),
  tip: () => (app.node ? app.node.tip() : ''),
  post: (author, content) => app.enqueue(() => app.post(author, content)),
  pending: () => (app.node ? app.node.pending().map(({ txId, author, content }) => ({ txId, author, content })) : []),
  posts: () =>
    app.node
      ? app.node
          .posts(10_000)
          .map(({ txId, author, content, timestamp, height, verified }) => ({
            txId,
            author,
            content,
            timestamp,
            height,
            verified,
          }))
      : [],
  mine: (on, workers) => app.setMining(on, workers),
  hashrate: () => (app.mining.enabled ? app.mining.hashrate() : 0),
  peers: () => (app.node ? app.node.peers() : []),
  status: () => app.status(),
  /** Resolves once every block accepted so far (and the best tip) is in storage. */
  saved: () => {
    app.flushStores();
    return app.storing;
  },
};

app.start().catch((err) => {
  console.error(err);
  $('st-connection').textContent = `failed to start: ${err && err.message ? err.message : err}`;
});
