// The peers panel: the other nodes on the relay with their agent and height,
// and the Resync button (drop the local chain and fetch it again).

import { $, el } from './dom.js';

/** Binds the Resync button. */
export function mount(host) {
  $('resync').addEventListener('click', () => host.enqueue(() => host.resync()));
}

/** Lists the peers. */
export function render({ node, peers }) {
  if (!node) return;
  $('peers').replaceChildren(
    ...peers.map((p) => el('li', {}, el('strong', { text: `peer ${p.id}` }), ` ${p.agent} · height ${p.height}`)),
  );
}
