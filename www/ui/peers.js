// The peers panel: the relay this tab is connected to, the other nodes on the
// relay (or its cluster) with their agent and height, and the Resync button
// (drop the local chain and fetch it again).

import { $, el, relayText } from './dom.js';

/** Binds the Resync button. */
export function mount(host) {
  $('resync').addEventListener('click', () => host.enqueue(() => host.resync()));
}

/** Names the relay in use and lists the peers. */
export function render({ host, node, peers }) {
  const relay = host.relayInUse();
  $('peers-relay').textContent = `relay: ${relay ? relayText(relay) : 'not connected'}`;
  if (!node) return;
  $('peers').replaceChildren(
    ...peers.map((p) => el('li', {}, el('strong', { text: `peer ${p.id}` }), ` ${p.agent} · height ${p.height}`)),
  );
}
