// The peers panel: the relay this tab is connected to, the other nodes on the
// relay (or its cluster) with their agent, height, work, relay and the time
// since each last announced a block, and the Resync button (drop the local
// chain and fetch it again). Heights stay current: the host asks the relay
// for its peer list every few seconds while the tab is visible, and nodes
// tell the relay when their tip moves (see docs/PROTOCOL.md, `GetPeers`).

import { $, el, relayText, formatDuration } from './dom.js';

/** Binds the Resync button. */
export function mount(host) {
  $('resync').addEventListener('click', () => host.enqueue(() => host.resync()));
}

/** Work in expected hashes, short: `812`, `4.1 k`, `3.2 M`, `1.5 G`, … */
function formatWork(hashes) {
  const units = ['', ' k', ' M', ' G', ' T', ' P', ' E'];
  let value = hashes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? String(Math.round(value)) : `${value.toFixed(1)}${units[unit]}`;
}

/** One peer's line. */
function peerItem(peer, now) {
  const lastBlock =
    peer.lastBlockMs === null ? 'no block seen' : `last block ${formatDuration(Math.max(0, now - peer.lastBlockMs) / 1000)} ago`;
  const facts = [`height ${peer.height}`, `work ${formatWork(peer.work)}`];
  if (peer.relay) facts.push(`on ${peer.relay}`);
  facts.push(lastBlock);
  return el(
    'li',
    { 'data-peer': String(peer.id) },
    el('strong', { text: `peer ${peer.id}` }),
    ` ${peer.agent}`,
    el('br'),
    el('span', { class: 'muted', text: facts.join(' · ') }),
  );
}

/** Names the relay in use and lists the peers, most work first. */
export function render({ host, node, peers }) {
  const relay = host.relayInUse();
  $('peers-relay').textContent = `relay: ${relay ? relayText(relay) : 'not connected'}`;
  if (!node) return;
  const now = Date.now();
  const sorted = [...peers].sort((a, b) => b.work - a.work || a.id - b.id);
  $('peers').replaceChildren(...sorted.map((p) => peerItem(p, now)));
}
