// The chain explorer: the last blocks of the best chain as a table; a click
// on a row shows that block's JSON and picks its height for the tamper demo.

import { $, el, formatTime } from './dom.js';
import { pickHeight } from './tamper.js';

const EXPLORER_BLOCKS = 25;

/** Binds the row clicks (block detail). */
export function mount(host) {
  $('explorer').querySelector('tbody').addEventListener('click', (event) => {
    const row = event.target.closest('tr');
    if (!row || !host.node) return;
    const detail = $('block-detail');
    detail.textContent = host.node.blockJson(row.dataset.hash);
    detail.hidden = false;
    pickHeight(row.dataset.height);
  });
}

/** Shows the newest blocks, highest first. */
export function render({ node, status }) {
  if (!node) return;
  const from = Math.max(0, status.height - EXPLORER_BLOCKS + 1);
  const blocks = node.blocks(from, EXPLORER_BLOCKS).slice().reverse();
  $('explorer').querySelector('tbody').replaceChildren(
    ...blocks.map((b) =>
      el(
        'tr',
        { 'data-hash': b.hash, 'data-height': String(b.height) },
        el('td', { text: String(b.height) }),
        el('td', { class: 'hash', text: b.hash, title: b.hash }),
        el('td', { class: 'hash', text: b.prevHash, title: b.prevHash }),
        el('td', { text: b.nonce }),
        el('td', { text: String(b.txCount) }),
        el('td', { text: formatTime(b.timestamp) }),
      ),
    ),
  );
}
