// The wasm `TabNode` façade (`cargo xtask build-wasm` first), run with
// `node --test wasm/tests/`: nodes wired through a tiny relay written here,
// a post mined by another node with `template` + `Miner` + `foundNonce`, the
// read side the page uses, `tamperRebuild`, the changes to keep, `restore`
// (with the stored tip deciding between equal-work branches, and own posts
// announced again on joining), a body limit (old blocks served from
// storage, `postBlocks`/`blockView`, restore in batches), `recentPace`,
// `welcomeNetwork`, and the block tree (`treeView`, the reorg event's
// disconnected blocks). Node.js built-ins only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url);
const pkg = new URL('www/pkg/', root);
const wasm = await import(new URL('tabchain_wasm.js', pkg).href);
wasm.initSync({ module: fs.readFileSync(fileURLToPath(new URL('tabchain_wasm_bg.wasm', pkg))) });

// An hour after the dev genesis: a fixed clock, so blocks are never "from the future".
const NOW = 1_795_564_800_000 + 3_600_000;
const SECRET = new Uint8Array(32).fill(7);

/// Writes a post the way the page does: `preparePost`, its stamp mined with
/// a `Miner` (a few hundred hashes on dev), then `postStamped`.
function post(node, author, content, now, secret) {
  const prepared = node.preparePost(author, content, now, secret);
  const miner = new wasm.Miner(prepared.headerBytes);
  let nonce = 0n;
  let found;
  while (!(found = miner.mineRange(nonce, 4096))) nonce += 4096n;
  return node.postStamped(prepared.postBytes, prepared.bits, found.nonce, now);
}

/// Keeps a `store` output the way the page does: blocks, the tip, own posts.
function keep(peer, change) {
  if (change.change === 'block') peer.stored.set(change.hash, change.bytes);
  else if (change.change === 'blockRemoved') peer.stored.delete(change.hash);
  else if (change.change === 'bestChain') peer.tip = change.hashes[change.hashes.length - 1];
  else if (change.change === 'pendingAdded' && change.own) peer.own.set(change.txId, change.bytes);
  else if (change.change === 'pendingRemoved' && change.own) peer.own.delete(change.txId);
  else assert.ok(['pendingAdded', 'pendingRemoved'].includes(change.change), `unknown change ${change.change}`);
}

/// Routes texts like tabchain-relay: numbers connections, sends Welcome,
/// turns a first Hello into PeerJoined for everyone, stamps `from` (by
/// splicing the text: blocks must never go through JSON.parse/stringify),
/// delivers to `to`, to every other joined peer (Tx, Block) or to the peer
/// with the most work (requests without `to`).
class Relay {
  constructor(network) {
    this.network = network;
    this.chainId = wasm.chainId(network);
    this.peers = new Map();
    this.queue = [];
    this.nextId = 1;
  }

  connect(node) {
    const peer = { id: this.nextId++, node, info: null, stored: new Map(), own: new Map(), tip: null, events: [] };
    this.peers.set(peer.id, peer);
    const listed = [...this.peers.values()].filter((p) => p.info).map((p) => p.info);
    listed.sort((a, b) => (a.total_work < b.total_work ? 1 : a.total_work > b.total_work ? -1 : a.id - b.id));
    this.queue.push([peer.id, JSON.stringify({
      type: 'Welcome', peer_id: peer.id, network: this.network, chain_id: this.chainId, peers: listed,
    })]);
    return peer;
  }

  /// Carries out a node's outputs.
  handle(peer, outputs) {
    for (const out of outputs) {
      if (out.kind === 'send') this.route(peer, out.text);
      else if (out.kind === 'store') keep(peer, out);
      else if (out.kind === 'event') peer.events.push(out.event);
      else if (out.kind === 'templateStale') peer.stale = (peer.stale || 0) + 1;
      else if (out.kind === 'sibling') peer.siblingFrames = (peer.siblingFrames || 0) + 1;
      // Reads from storage, as the page does them (there: asynchronously).
      else if (out.kind === 'serveBlocks') {
        peer.served = (peer.served || 0) + 1;
        this.handle(peer, peer.node.sendBlocks(out.to, out.hashes.map((h) => peer.stored.get(h))));
      } else if (out.kind === 'loadBlocks') {
        this.handle(peer, peer.node.blocksLoaded(out.hashes.map((h) => peer.stored.get(h)).filter(Boolean), NOW));
      } else assert.fail(`unknown output kind ${out.kind}`);
    }
  }

  route(peer, text) {
    const msg = JSON.parse(text); // read only: type, to, Hello fields
    assert.equal(msg.from, undefined, 'nodes never set from');
    const stamped = `{"from":${peer.id},${text.slice(1)}`;
    const joined = [...this.peers.values()].filter((p) => p.info);
    const push = (p) => this.queue.push([p.id, stamped]);
    if (msg.type === 'Hello') {
      const first = !peer.info;
      peer.info = { id: peer.id, agent: msg.agent, best_height: msg.best_height, total_work: msg.total_work };
      if (first) {
        const news = JSON.stringify({ type: 'PeerJoined', peer: peer.info });
        for (const p of this.peers.values()) this.queue.push([p.id, news]);
      }
    } else if (msg.to !== undefined) {
      const p = this.peers.get(msg.to);
      if (p) push(p);
    } else if (msg.type === 'Tx' || msg.type === 'Block') {
      joined.filter((p) => p !== peer).forEach(push);
    } else if (msg.type === 'GetBlocks' || msg.type === 'GetMempool') {
      const best = joined.filter((p) => p !== peer)
        .sort((a, b) => (a.info.total_work < b.info.total_work ? 1 : a.info.total_work > b.info.total_work ? -1 : a.id - b.id))[0];
      if (best) push(best);
    } else {
      assert.fail(`unroutable ${text}`);
    }
  }

  run(now = NOW) {
    for (let steps = 0; this.queue.length > 0; steps++) {
      assert.ok(steps < 10_000, 'the nodes keep talking forever');
      const [id, text] = this.queue.shift();
      const peer = this.peers.get(id);
      this.handle(peer, peer.node.onText(text, now));
    }
  }
}

/// Mines the template with a Miner in slices, as a worker would.
function mine(template) {
  const miner = new wasm.Miner(template.headerBytes);
  try {
    for (let start = 0n; ; start += 1000n) {
      const found = miner.mineRange(start, 1000);
      if (found) return found.nonce;
    }
  } finally {
    miner.free();
  }
}

test('a post written on A is mined by B and confirmed on A; tamperRebuild and restore', () => {
  const relay = new Relay('dev');
  const a = relay.connect(new wasm.TabNode('dev', 'js-a'));
  const b = relay.connect(new wasm.TabNode('dev', 'js-b'));
  relay.run();
  assert.equal(a.node.status().joined, true);
  assert.deepEqual(a.node.peers(), [{ id: b.id, agent: 'js-b', height: 0, work: 2, relay: null, lastBlockMs: null }]);
  assert.deepEqual(JSON.parse(a.node.peersRequest()), { type: 'GetPeers' });
  assert.ok(b.events.some((e) => e.type === 'joined' && e.peerId === b.id));

  // A posts; B gets it in its mempool.
  const { txId, outputs } = post(a.node, 'alice', 'hello from A', NOW, SECRET);
  assert.match(txId, /^[0-9a-f]{64}$/);
  assert.deepEqual(outputs.map((o) => o.kind), ['store', 'send', 'templateStale', 'sibling'], 'kept before it is sent');
  assert.equal(outputs[0].change, 'pendingAdded');
  assert.equal(outputs[0].txId, txId);
  assert.equal(outputs[0].own, true);
  assert.ok(outputs[0].bytes instanceof Uint8Array);
  relay.handle(a, outputs);
  assert.deepEqual([...a.own.keys()], [txId]);
  relay.run();
  const keyId = wasm.publicKeyId(SECRET);
  assert.match(keyId, /^[0-9a-f]{16}$/);
  assert.deepEqual(b.node.pending(), [{ txId, author: 'alice', content: 'hello from A', timestamp: NOW, keyId }]);
  assert.ok(b.events.some((e) => e.type === 'postReceived' && e.txId === txId && e.from === a.id));

  // B mines it.
  const template = b.node.template(NOW);
  assert.ok(template.headerBytes instanceof Uint8Array);
  assert.equal(template.headerBytes.length, 96);
  assert.equal(template.height, 1);
  assert.equal(template.txCount, 1);
  assert.equal(typeof template.bits, 'number');
  assert.match(template.target, /^[0-9a-f]{64}$/);
  assert.ok(template.expectedHashes >= 1 && template.expectedHashes < 4, `${template.expectedHashes}`);
  const nonce = mine(template);
  assert.equal(typeof nonce, 'bigint');
  const mined = b.node.foundNonce(template.id, nonce, NOW);
  const store = mined.find((o) => o.kind === 'store' && o.change === 'block');
  assert.equal(store.height, 1);
  const best = mined.find((o) => o.kind === 'store' && o.change === 'bestChain');
  assert.deepEqual([best.fromHeight, best.hashes], [1, [store.hash]]);
  assert.ok(store.bytes instanceof Uint8Array);
  assert.ok(mined.some((o) => o.kind === 'event' && o.event.type === 'blockAccepted' && o.event.from === null));
  assert.ok(mined.some((o) => o.kind === 'send' && o.text.startsWith('{"type":"Block"')));
  relay.handle(b, mined);
  relay.run();
  assert.throws(() => b.node.foundNonce(template.id, nonce, NOW), /unknown template/);

  // A sees it confirmed.
  assert.equal(a.node.height(), 1);
  assert.equal(a.node.tip(), b.node.tip());
  assert.equal(a.node.tip(), store.hash);
  assert.deepEqual(a.node.pending(), []);
  assert.equal(a.own.size, 0, 'its own post left the outbox once a block held it');
  assert.equal(a.tip, a.node.tip());
  const [newest, genesisPost] = a.node.posts(10);
  assert.deepEqual(newest, {
    txId, author: 'alice', content: 'hello from A', timestamp: NOW, height: 1, verified: true, keyId,
  });
  assert.equal(genesisPost.height, 0);
  assert.equal(genesisPost.verified, false);
  assert.equal(genesisPost.keyId, null);
  assert.equal(a.node.posts(1).length, 1);
  assert.ok(a.events.some((e) => e.type === 'blockAccepted' && e.height === 1 && e.from === b.id && e.txCount === 1));

  const status = a.node.status();
  assert.deepEqual(Object.keys(status).sort(), [
    'bits', 'expectedHashes', 'height', 'joined', 'me', 'network', 'peers', 'pending', 'syncHeight',
    'syncTarget', 'syncing', 'targetIntervalMs', 'tip',
  ]);
  assert.equal(status.me, a.id);
  assert.equal(status.network, 'dev');
  assert.equal(status.height, 1);
  assert.equal(status.syncing, false);
  assert.equal(status.syncHeight, null);
  assert.equal(status.peers, 1);

  // The explorer rows.
  const rows = a.node.blocks(0, 10);
  assert.equal(rows.length, 2);
  assert.deepEqual(Object.keys(rows[1]).sort(), ['hash', 'height', 'nonce', 'prevHash', 'timestamp', 'txCount']);
  assert.equal(rows[1].prevHash, rows[0].hash);
  assert.equal(rows[1].hash, a.node.tip());
  assert.equal(rows[1].nonce, nonce.toString());
  assert.equal(rows[1].txCount, 1);
  assert.equal(rows[1].timestamp, NOW);
  assert.deepEqual(a.node.blocks(1, 1).map((r) => r.height), [1]);
  assert.deepEqual(a.node.blocks(5, 1), []);

  // Tamper demo: the JSON view of both blocks, rebuilt as is, then edited.
  const text = `[${a.node.blockJson(rows[0].hash)},${a.node.blockJson(rows[1].hash)}]`;
  const ok = wasm.tamperRebuild(text, 'dev');
  assert.equal(ok.length, 2);
  for (const r of ok) assert.deepEqual([r.changed, r.powOk, r.postsOk], [false, true, true]);
  assert.equal(ok[1].hash, rows[1].hash);
  assert.equal(ok[1].original, rows[1].hash);
  const edited = wasm.tamperRebuild(text.replace('hello from A', 'hello from Mallory'), 'dev');
  assert.equal(edited[0].changed, false);
  assert.equal(edited[1].changed, true);
  assert.notEqual(edited[1].hash, rows[1].hash);
  assert.equal(edited[1].postsOk, false, 'the signature no longer verifies');
  assert.throws(() => wasm.tamperRebuild('not json', 'dev'), Error);
  assert.throws(() => a.node.blockJson('00'.repeat(32)), /unknown block/);

  // A fresh node restores B's stored blocks.
  const c = new wasm.TabNode('dev', 'js-c');
  const report = c.restore([...b.stored.values(), new Uint8Array([1, 2, 3])], NOW);
  assert.deepEqual(report, {
    accepted: 1, rejected: 1, duplicates: 0, orphans: 0, pruned: 0, height: 1, tip: b.node.tip(),
    pendingRestored: 0, pendingConfirmed: 0, pendingExpired: 0, pendingRefused: [], outputs: [],
  });
  assert.equal(c.tip(), b.node.tip());
  assert.equal(c.posts(1)[0].txId, txId);
  for (const n of [a.node, b.node, c]) n.free();
});

/**
 * One block on genesis mined by an unconnected node per agent (the second
 * with a post, so the blocks differ): branches of equal work, `{bytes, hash}`.
 */
function equalWorkBranches(agents) {
  return agents.map((agent, i) => {
    const node = new wasm.TabNode('dev', agent);
    if (i === 1) post(node, agent, 'makes the blocks differ', NOW, SECRET);
    const t = node.template(NOW);
    const store = node.foundNonce(t.id, mine(t), NOW).find((o) => o.kind === 'store' && o.change === 'block');
    assert.equal(store.hash, node.tip());
    node.free();
    return { bytes: store.bytes, hash: store.hash };
  });
}

test('restore picks the lower hash between equal-work branches, in any order', () => {
  // Two unconnected nodes mine one block each (one with a post, so the blocks
  // differ): two branches of equal work.
  const branches = equalWorkBranches(['js-x', 'js-y']).map(({ bytes, hash }) => ({ bytes, tip: hash }));
  assert.notEqual(branches[0].tip, branches[1].tip);
  // Hex digits compare like the 256-bit numbers they spell.
  const lower = branches.map((b) => b.tip).sort()[0];
  for (const blocks of [branches.map((b) => b.bytes), branches.map((b) => b.bytes).reverse()]) {
    const node = new wasm.TabNode('dev', 'js-restored');
    const report = node.restore(blocks, NOW);
    assert.deepEqual([report.accepted, report.tip], [2, lower]);
    assert.equal(node.tip(), lower);
    node.free();
  }
});

test('treeView draws both branches, the best in lane 0; a reorg event lists the blocks that left', () => {
  const blocks = equalWorkBranches(['js-p', 'js-q']);
  const [low, high] = blocks.slice().sort((a, b) => (a.hash < b.hash ? -1 : 1));
  // The higher hash first, then the lower one announced: it takes the tip (equal work).
  const node = new wasm.TabNode('dev', 'js-tree');
  node.restore([high.bytes], NOW);
  const announced = `{"type":"Block","from":5,"block":${wasm.blockView(low.bytes).json}}`;
  const reorg = node.onText(announced, NOW).find((o) => o.kind === 'event' && o.event.type === 'reorg');
  assert.deepEqual(
    [reorg.event.depth, reorg.event.forkHeight, reorg.event.newTip, reorg.event.disconnected],
    [1, 0, low.hash, [high.hash]],
  );
  const view = node.treeView();
  assert.deepEqual([view.tipHeight, view.fromHeight, view.truncated], [1, 0, false]);
  const rows = view.nodes.map(({ hash, height, best, orphan, lane }) => ({ hash, height, best, orphan, lane }));
  assert.deepEqual(rows.slice(0, 1), [{ hash: low.hash, height: 1, best: true, orphan: false, lane: 0 }]);
  assert.deepEqual(rows.slice(2), [{ hash: high.hash, height: 1, best: false, orphan: false, lane: 1 }]);
  assert.equal(rows[1].height, 0);
  assert.match(view.nodes[0].chainWork, /^[0-9a-f]{64}$/);
  assert.equal(typeof view.nodes[0].timestampMs, 'number');
  assert.equal(node.treeView(1).nodes.length, 2, 'height 1 only: the tip and the side block');
  assert.throws(() => node.treeView(-1), /depth must be a non-negative number/);
  node.free();
});

test('recentPace: the last blocks with their intervals and difficulty, and the target interval', () => {
  const node = new wasm.TabNode('dev', 'js-pace');
  const times = [NOW, NOW + 100, NOW + 200, NOW + 1200];
  const difficulty = [];
  for (const time of times) {
    const t = node.template(time);
    difficulty.push(t.expectedHashes);
    node.foundNonce(t.id, mine(t), time);
  }
  const all = node.recentPace(100);
  assert.deepEqual(all.map((b) => b.height), [0, 1, 2, 3, 4]);
  assert.equal(all[0].intervalMs, null, 'genesis has no parent');
  assert.deepEqual(all.slice(1).map((b) => b.timestamp), times);
  assert.deepEqual(all.slice(2).map((b) => b.intervalMs), [100, 100, 1000]);
  assert.deepEqual(all.slice(1).map((b) => b.expectedHashes), difficulty);
  assert.equal(all[4].hash, node.tip());
  assert.deepEqual(node.recentPace(2), all.slice(3));
  assert.equal(node.status().targetIntervalMs, 1000);
  node.free();
});

test('a late node syncs from the relay and reports progress', () => {
  // A mines 30 blocks before it connects: its Hello then claims them.
  const nodeA = new wasm.TabNode('dev', 'js-a');
  for (let i = 0; i < 30; i++) {
    const t = nodeA.template(NOW);
    const outputs = nodeA.foundNonce(t.id, mine(t), NOW);
    assert.deepEqual(
      outputs.map((o) => o.kind),
      ['store', 'store', 'event', 'templateStale', 'sibling'],
      'nothing sent before Welcome (the other tabs hear it)',
    );
  }
  const relay = new Relay('dev');
  const a = relay.connect(nodeA);
  relay.run();
  const b = relay.connect(new wasm.TabNode('dev', 'js-b'));
  relay.run();
  assert.equal(b.node.tip(), a.node.tip());
  assert.equal(b.stored.size, 30);
  const types = b.events.map((e) => e.type);
  for (const type of ['welcomed', 'joined', 'syncStarted', 'syncProgress', 'synced']) {
    assert.ok(types.includes(type), `${type} in ${types}`);
  }
  assert.deepEqual(b.events.find((e) => e.type === 'synced'), { type: 'synced', peer: a.id, blocks: 30, height: 30 });
  assert.deepEqual(b.node.tick(NOW + 60_000), []);
  b.node.onDisconnected();
  assert.equal(b.node.status().me, null);
  assert.equal(b.node.height(), 30);
});

test('a node keeping 5 bodies serves older blocks from storage, pages its posts and restores in batches', () => {
  const nodeA = new wasm.TabNode('dev', 'js-a');
  nodeA.setBodyLimit(5);
  const stored = new Map();
  const genesisMs = nodeA.blocks(0, 1)[0].timestamp;
  for (let i = 1; i <= 30; i++) {
    const now = genesisMs + i * 1000;
    if (i === 2 || i === 29) post(nodeA, 'ann', `post in block ${i}`, now, SECRET);
    const t = nodeA.template(now);
    for (const o of nodeA.foundNonce(t.id, mine(t), now)) {
      if (o.kind === 'store' && o.change === 'block') stored.set(o.hash, o.bytes);
    }
  }
  const use = nodeA.memoryUse();
  assert.deepEqual({ ...use, bodyBytes: 0 }, { blocks: 31, bodies: 6, bodyBytes: 0, bodyLimit: 5, bodyBytesLimit: null });
  // Recent posts from memory; older ones are listed with where to read them.
  assert.deepEqual(nodeA.posts(10).map((p) => p.content), ['post in block 29']);
  const older = nodeA.postBlocks(29, 10);
  assert.deepEqual(older.map((b) => [b.height, b.txCount, b.inMemory]), [[2, 1, false], [0, 1, true]]);
  assert.equal(nodeA.blockBytes(older[0].hash), undefined);
  assert.throws(() => nodeA.blockJson(older[0].hash), /not in memory/);
  const view = wasm.blockView(stored.get(older[0].hash));
  assert.equal(view.height, 2);
  assert.equal(view.hash, older[0].hash);
  assert.deepEqual(view.posts.map((p) => [p.content, p.height, p.verified]), [['post in block 2', 2, true]]);
  assert.equal(JSON.parse(view.json).transactions[0].content, 'post in block 2');
  assert.throws(() => wasm.blockView(new Uint8Array([1, 2, 3])), /not a block/);

  // A node joining later gets the old blocks from A's storage.
  const relay = new Relay('dev');
  const a = relay.connect(nodeA);
  a.stored = stored;
  relay.run();
  const b = relay.connect(new wasm.TabNode('dev', 'js-b'));
  relay.run();
  assert.equal(b.node.tip(), a.node.tip());
  assert.equal(b.stored.size, 30);
  assert.ok(a.served >= 1, 'a page came from storage');

  // Restored in batches from headers, then bodies.
  const c = new wasm.TabNode('dev', 'js-c');
  c.setBodyLimit(5);
  const order = c.restoreOrder([...stored.values()].reverse().map((bytes) => bytes.slice(0, 100)));
  assert.equal(order.length, 30);
  assert.equal(order[0], nodeA.blocks(1, 1)[0].hash, 'parents first');
  for (let i = 0; i < order.length; i += 7) {
    assert.deepEqual(c.restoreBlocks(order.slice(i, i + 7).map((h) => stored.get(h)), NOW), []);
  }
  const report = c.finishRestore(NOW);
  assert.equal(report.accepted, 30);
  assert.equal(report.height, 30);
  assert.equal(c.tip(), nodeA.tip());
  assert.equal(c.memoryUse().bodies, 6);
  // A byte budget keeps fewer, the tip's at least.
  c.setBodyLimit(5, 1);
  assert.deepEqual([c.memoryUse().bodies, c.memoryUse().bodyBytesLimit], [2, 1]);
});

test('errors: bad posts, keys, templates, networks and frames', () => {
  const node = new wasm.TabNode('dev', 'js');
  assert.throws(() => new wasm.TabNode('nope', 'js'), /nope/);
  assert.throws(() => post(node, '', 'x', NOW, SECRET), /author is empty/);
  assert.throws(() => post(node, 'a', 'x', NOW, new Uint8Array(31)), /32 bytes/);
  assert.throws(() => wasm.publicKeyId(new Uint8Array(3)), /32 bytes/);
  assert.throws(() => node.foundNonce(12345, 0n, NOW), /unknown template/);
  assert.throws(() => node.onText('{}', -1), /nowMs/);

  // A template whose tip moved is stale.
  const t1 = node.template(NOW);
  const t2 = node.template(NOW);
  node.foundNonce(t1.id, mine(t1), NOW);
  assert.throws(() => node.foundNonce(t2.id, mine(t2), NOW), /stale/);

  const garbage = node.onText('{"type":"Nope"}', NOW);
  assert.equal(garbage.length, 1);
  assert.equal(garbage[0].kind, 'event');
  assert.equal(garbage[0].event.type, 'badMessage');

  const welcome = JSON.stringify({ type: 'Welcome', peer_id: 3, network: 'main', chain_id: wasm.chainId('main'), peers: [] });
  const refused = node.onText(welcome, NOW);
  assert.deepEqual(refused.map((o) => o.event.type), ['wrongNetwork']);
  assert.equal(node.status().me, null);

  const ping = node.onText('{"from":4,"type":"Ping","nonce":18446744073709551615}', NOW);
  assert.deepEqual(ping, [{ kind: 'send', text: '{"to":4,"type":"Pong","nonce":18446744073709551615}' }]);
  node.free();
});

test('own posts written offline are kept, restored and announced on joining', () => {
  const writer = new wasm.TabNode('dev', 'js-offline');
  const { txId, outputs } = post(writer, 'olga', 'written offline', NOW, SECRET);
  assert.deepEqual(outputs.map((o) => o.kind), ['store', 'templateStale', 'sibling'], 'nothing sent before joining');
  const kept = outputs[0].bytes;
  writer.free();

  // A reload: the outbox goes back in with restore, then the tab joins.
  const relay = new Relay('dev');
  const other = relay.connect(new wasm.TabNode('dev', 'js-other'));
  relay.run();
  const reloaded = new wasm.TabNode('dev', 'js-offline');
  const report = reloaded.restore([], NOW, [kept, new Uint8Array([9])]);
  assert.equal(report.pendingRestored, 1);
  assert.equal(report.pendingRefused.length, 1);
  assert.equal(report.pendingRefused[0].txId, null);
  assert.deepEqual(reloaded.pending().map((p) => p.txId), [txId]);
  const tab = relay.connect(reloaded);
  relay.run();
  assert.ok(tab.events.some((e) => e.type === 'joined' && e.resent === 1), JSON.stringify(tab.events));
  assert.deepEqual(other.node.pending().map((p) => p.txId), [txId], 'the other tab got it');
  for (const n of [reloaded, other.node]) n.free();
});

test('welcomeNetwork reads the relay\'s Welcome; legacyOutboxPost reads old outbox entries', () => {
  const welcome = JSON.stringify({ type: 'Welcome', peer_id: 3, network: 'dev', chain_id: wasm.chainId('dev'), peers: [] });
  assert.equal(wasm.welcomeNetwork(welcome), 'dev');
  assert.equal(wasm.welcomeNetwork('{"type":"Ping","nonce":1}'), undefined);
  assert.equal(wasm.welcomeNetwork('{"type":"Welcome","network":"dev"'), undefined);

  // An older page kept its own posts as the Tx message text.
  const node = new wasm.TabNode('dev', 'js');
  const { outputs } = post(node, 'old', 'kept as Tx text by an older page', NOW, SECRET);
  const t = node.template(NOW);
  node.foundNonce(t.id, mine(t), NOW);
  const tx = JSON.parse(node.blockJson(node.tip())).transactions[0];
  assert.deepEqual(wasm.legacyOutboxPost(JSON.stringify({ type: 'Tx', tx })), outputs[0].bytes);
  assert.equal(wasm.legacyOutboxPost('{"type":"Ping","nonce":1}'), undefined);
  assert.equal(wasm.legacyOutboxPost('not json'), undefined);
  node.free();
});

test('numbers past 2^53 from a peer make no call throw', () => {
  const node = new wasm.TabNode('dev', 'js');
  const chainId = wasm.chainId('dev');
  const zero = '00'.repeat(32);
  const huge = '1152921504606846976'; // 2^60, as JSON text (never through JS numbers)
  const peer = `{"id":7,"agent":"liar","best_height":${huge},"total_work":"${'ff'.repeat(32)}"}`;
  const welcome = `{"type":"Welcome","peer_id":3,"network":"dev","chain_id":"${chainId}","peers":[${peer}]}`;
  assert.doesNotThrow(() => node.onText(welcome, NOW));
  const me = `{"id":3,"agent":"js","best_height":0,"total_work":"${zero}"}`;
  let outputs;
  assert.doesNotThrow(() => {
    outputs = node.onText(`{"type":"PeerJoined","peer":${me}}`, NOW);
  });
  // The sync it starts says where the liar claims to be, however large.
  const started = outputs.find((o) => o.kind === 'event' && o.event.type === 'syncStarted');
  assert.ok(started && started.event.targetHeight >= 2 ** 53, JSON.stringify(outputs.map((o) => o.kind)));
  assert.ok(outputs.some((o) => o.kind === 'send'), 'the GetHeaders request is not lost');
  const joined = `{"type":"PeerJoined","peer":{"id":8,"agent":"other","best_height":${huge},"total_work":"${zero}"}}`;
  assert.doesNotThrow(() => node.onText(joined, NOW));
  assert.doesNotThrow(() => node.peers());
  assert.doesNotThrow(() => node.status());
  assert.ok(node.peers().some((p) => p.height >= 2 ** 53));
  node.free();
});

test('tabs of one browser pass posts and blocks as sibling frames, without a relay', () => {
  const a = new wasm.TabNode('dev', 'js-tab-a');
  const b = new wasm.TabNode('dev', 'js-tab-b');
  const sibling = (outputs) => outputs.filter((o) => o.kind === 'sibling').map((o) => o.text);
  const { txId, outputs } = post(a, 'alice', 'from tab A', NOW, SECRET);
  const [tx] = sibling(outputs);
  assert.ok(tx.startsWith('{"type":"Tx"'), tx.slice(0, 40));
  const heard = b.onSiblingText(tx, NOW);
  assert.ok(heard.some((o) => o.kind === 'event' && o.event.type === 'postReceived' && o.event.from === null));
  assert.ok(!heard.some((o) => o.kind === 'send' || o.kind === 'sibling'), 'not passed on again');
  assert.deepEqual(b.pending().map((p) => p.txId), [txId]);

  const t = b.template(NOW);
  const [block] = sibling(b.foundNonce(t.id, mine(t), NOW));
  const took = a.onSiblingText(block, NOW);
  assert.ok(!took.some((o) => o.kind === 'send' || o.kind === 'sibling'), 'not passed on again');
  assert.ok(took.some((o) => o.kind === 'store' && o.change === 'block'), 'kept like any block');
  assert.equal(a.tip(), b.tip());
  assert.ok(a.posts(10).some((p) => p.txId === txId));

  // Only posts and blocks for everyone: relay news from a tab is refused.
  const welcome = JSON.stringify({ type: 'Welcome', peer_id: 1, network: 'dev', chain_id: wasm.chainId('dev'), peers: [] });
  const refused = a.onSiblingText(welcome, NOW);
  assert.equal(refused.length, 1);
  assert.equal(refused[0].event.type, 'badMessage');
  assert.equal(a.status().me, null);
  a.free();
  b.free();
});
