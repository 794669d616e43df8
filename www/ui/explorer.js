// The chain explorer: 25 blocks of the best chain as a table, the newest by
// default, paged back and forth with "older" / "newer"; a click on a row
// shows that block's JSON (from memory, or read from storage for old blocks
// whose bodies the node no longer holds) and picks its height for the tamper
// demo. From the keyboard the table is one Tab stop: the arrow keys (and
// Home, End) move between rows, Enter or Space opens one. The block tree
// (`tree.js`) opens its blocks in the same detail view (`showBlock`).

import { $, el, formatTime } from './dom.js';
import { pickHeight } from './tamper.js';

const EXPLORER_BLOCKS = 25;

/** Height of the top row, or null to follow the tip. */
let top = null;
/** The hashes of the rows shown, joined (to skip rebuilding an unchanged table). */
let shownKey = '';
/** The block of the row in the Tab order (the last one focused), if shown. */
let current = null;
const ROW_KEYS = { ArrowDown: 'next', ArrowUp: 'previous', Home: 'first', End: 'last' };

/** Binds the rows (a click, or Enter or Space: block detail; arrows, Home, End: move) and the paging buttons. */
export function mount(host) {
  const rows = $('explorer').querySelector('tbody');
  rows.addEventListener('click', (event) => showRow(host, event.target.closest('tr')));
  rows.addEventListener('focusin', (event) => {
    current = event.target.dataset.hash;
    setTabStop(rows);
  });
  rows.addEventListener('keydown', (event) => {
    const row = event.target.closest('tr');
    if (event.key === 'Enter' || event.key === ' ') showRow(host, row);
    else if (ROW_KEYS[event.key]) {
      const to = {
        next: row.nextElementSibling,
        previous: row.previousElementSibling,
        first: rows.firstElementChild,
        last: rows.lastElementChild,
      }[ROW_KEYS[event.key]];
      to?.focus();
    } else return;
    event.preventDefault();
  });
  $('explorer-older').addEventListener('click', () => {
    const height = host.node ? host.node.height() : 0;
    top = Math.max(EXPLORER_BLOCKS - 1, (top ?? height) - EXPLORER_BLOCKS);
    if (top >= height) top = null;
    host.changed();
  });
  $('explorer-newer').addEventListener('click', () => {
    const height = host.node ? host.node.height() : 0;
    top = top === null || top + EXPLORER_BLOCKS >= height ? null : top + EXPLORER_BLOCKS;
    host.changed();
  });
}

/** Shows the block of a table row (see `showBlock`). */
function showRow(host, row) {
  if (row) showBlock(host, row.dataset.hash, row.dataset.height);
}

/**
 * Shows the JSON of block `hash` (any branch, or an orphan) in the detail
 * view, and picks `height` for the tamper demo when given (a best-chain block).
 */
export async function showBlock(host, hash, height = null) {
  if (!hash || !host.node) return;
  if (height !== null) pickHeight(height);
  const detail = $('block-detail');
  detail.hidden = false;
  detail.textContent = 'reading…';
  try {
    const view = await host.blockView(hash);
    detail.textContent = view ? view.json : 'this block is neither in memory nor in storage';
  } catch (err) {
    detail.textContent = `cannot read this block: ${err && err.message ? err.message : err}`;
  }
}

/** Shows a page of blocks, highest first (headers: the node holds them all). */
export function render({ node, status }) {
  if (!node) return;
  const first = Math.min(top ?? status.height, status.height);
  const from = Math.max(0, first - EXPLORER_BLOCKS + 1);
  const blocks = node.blocks(from, first - from + 1).slice().reverse();
  $('explorer-newer').disabled = top === null;
  $('explorer-older').disabled = from === 0;
  // Rows are rebuilt only when the page of blocks changes, and the focus
  // stays in the table (keyboard users would lose their place at every block).
  const key = blocks.map((b) => b.hash).join();
  if (key === shownKey) return;
  shownKey = key;
  const tbody = $('explorer').querySelector('tbody');
  const focused = tbody.contains(document.activeElement) ? document.activeElement.dataset.hash : null;
  tbody.replaceChildren(
    ...blocks.map((b) =>
      el(
        'tr',
        { 'data-hash': b.hash, 'data-height': String(b.height), tabindex: '-1' },
        el('td', { text: String(b.height) }),
        el('td', { class: 'hash', text: b.hash, title: b.hash }),
        el('td', { class: 'hash', text: b.prevHash, title: b.prevHash }),
        el('td', { text: b.nonce }),
        el('td', { text: String(b.txCount) }),
        el('td', { text: formatTime(b.timestamp) }),
      ),
    ),
  );
  setTabStop(tbody);
  // A focused block pushed off the page by new ones hands the focus to the oldest row.
  if (focused) ([...tbody.children].find((row) => row.dataset.hash === focused) || tbody.lastElementChild)?.focus();
}

/** Puts the current row (else the first) in the Tab order, and only it. */
function setTabStop(tbody) {
  const rows = [...tbody.children];
  const stop = rows.find((row) => row.dataset.hash === current) || rows[0];
  for (const row of rows) row.tabIndex = row === stop ? 0 : -1;
}
