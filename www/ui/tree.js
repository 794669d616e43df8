// The block tree: the last 50 heights of every branch the node knows, as an
// SVG built with DOM calls (the page's CSP allows no inline styles or
// markup), the tip on top. The best chain runs down lane 0; side branches
// (kept for a possible reorg) and orphans (waiting for a parent the node
// does not have) take lanes to the right; the core lays the lanes out
// (`TabNode.treeView`). The last reorgs the host heard of (`host.reorgs`)
// are marked: the fork point, the blocks that left the best chain (which
// flash for a few seconds after it) and a line each above the tree.
//
// A click on a block, or Enter or Space on the focused one, opens it in the
// explorer's detail view. From the keyboard the tree is one Tab stop: the
// arrow keys (and Home, End) move between blocks, highest first.

import { $, el, formatTime } from './dom.js';
import { showBlock } from './explorer.js';

const DEPTH = 50;
const SVG = 'http://www.w3.org/2000/svg';
/** Pixels per height (rows) and per lane (columns), and the heights column. */
const ROW = 28;
const LANE = 92;
const LEFT = 46;
const NODE_W = 78;
const NODE_H = 20;
/** A reorg's blocks flash this long after it. */
const FLASH_MS = 4_000;
const KEYS = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1 };

/** What the tree shows now (see `drawn`). */
let shown = { tipHeight: 0, fromHeight: 0, truncated: false, nodes: [], reorgs: [] };
/** What the SVG was built from, to skip rebuilding an unchanged tree. */
let shownKey = '';
/** The block in the Tab order (the last one focused). */
let current = null;

/** Binds clicks and keys on the tree, and re-renders when a reorg's flash ends. */
export function mount(host) {
  const svg = $('tree');
  svg.addEventListener('click', (event) => open(host, event.target.closest('.block')));
  svg.addEventListener('focusin', (event) => {
    const block = event.target.closest('.block');
    if (block) current = block.dataset.hash;
    setTabStop(svg);
  });
  svg.addEventListener('keydown', (event) => {
    const block = event.target.closest('.block');
    if (!block) return;
    const blocks = [...svg.querySelectorAll('.block')];
    const at = blocks.indexOf(block);
    if (event.key === 'Enter' || event.key === ' ') open(host, block);
    else if (KEYS[event.key]) blocks[at + KEYS[event.key]]?.focus();
    else if (event.key === 'Home') blocks[0]?.focus();
    else if (event.key === 'End') blocks[blocks.length - 1]?.focus();
    else return;
    event.preventDefault();
  });
  host.addEventListener('reorg', () => setTimeout(() => host.changed(), FLASH_MS + 100));
}

/** Opens a block of the tree in the explorer's detail view. */
function open(host, block) {
  if (!block) return;
  const best = block.dataset.best === 'true';
  showBlock(host, block.dataset.hash, best ? block.dataset.height : null);
  $('block-detail').scrollIntoView({ block: 'nearest' });
}

/**
 * What the tree shows: `{tipHeight, fromHeight, truncated, nodes: [{hash,
 * parent, height, best, orphan, reorged, fork, lane}], reorgs: [{forkHeight,
 * depth, newTip, newHeight, label}]}` (`window.tabchain.tree()`).
 */
export function drawn() {
  return shown;
}

/** The tree of `view` with the host's reorgs marked, highest block first. */
function model(host, node) {
  const tree = node.treeView(DEPTH);
  const reorged = new Set(host.reorgs.flatMap((r) => r.disconnected));
  const forks = new Set(host.reorgs.map((r) => r.forkHash));
  const flashing = new Set(host.reorgs.filter((r) => Date.now() - r.at < FLASH_MS).flatMap((r) => r.disconnected));
  const nodes = tree.nodes
    .map((n) => ({
      hash: n.hash,
      parent: n.parent,
      height: n.height,
      best: n.best,
      orphan: n.orphan,
      reorged: reorged.has(n.hash),
      fork: n.best && forks.has(n.hash),
      lane: n.lane,
      postCount: n.postCount,
      timestampMs: n.timestampMs,
      flash: flashing.has(n.hash),
    }))
    .sort((a, b) => b.height - a.height || a.lane - b.lane);
  const reorgs = host.reorgs
    .slice()
    .reverse()
    .map(({ forkHeight, depth, newTip, newHeight, at }) => ({
      forkHeight,
      depth,
      newTip,
      newHeight,
      at,
      label: `reorg: ${depth} block${depth === 1 ? '' : 's'} at height ${forkHeight}`,
    }));
  return { tipHeight: tree.tipHeight, fromHeight: tree.fromHeight, truncated: tree.truncated, nodes, reorgs };
}

/** Redraws the tree when its blocks or marks changed. */
export function render({ host, node }) {
  if (!node) return;
  const next = model(host, node);
  const key = JSON.stringify([next.nodes, next.reorgs.map((r) => r.at), next.truncated]);
  if (key === shownKey) return;
  shownKey = key;
  shown = {
    ...next,
    nodes: next.nodes.map(({ hash, parent, height, best, orphan, reorged, fork, lane }) => ({
      hash,
      parent,
      height,
      best,
      orphan,
      reorged,
      fork,
      lane,
    })),
    reorgs: next.reorgs.map(({ forkHeight, depth, newTip, newHeight, label }) => ({
      forkHeight,
      depth,
      newTip,
      newHeight,
      label,
    })),
  };
  $('tree-reorgs').replaceChildren(
    ...next.reorgs.map((r) => el('li', {}, el('time', { text: formatTime(r.at) }), r.label)),
  );
  const side = next.nodes.filter((n) => !n.best && !n.orphan).length;
  const orphans = next.nodes.filter((n) => n.orphan).length;
  $('tree-summary').textContent =
    `heights ${next.fromHeight}–${next.tipHeight}: ${next.nodes.length} blocks, ${side} on side branches, ` +
    `${orphans} orphan${orphans === 1 ? '' : 's'}${next.truncated ? ' (more left out)' : ''}`;
  draw($('tree'), next);
}

/** Makes an SVG element with attributes. */
function svgEl(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** What a block is, in words (its accessible name). */
function describe(n) {
  const kind = n.best ? 'best chain' : n.orphan ? 'orphan, parent unknown' : 'side branch';
  const marks = [n.fork ? 'fork point' : '', n.reorged ? 'left the best chain in a reorg' : ''].filter(Boolean);
  const posts = `${n.postCount} post${n.postCount === 1 ? '' : 's'}`;
  // Ends with the hash digits drawn on the block: its visible text is part of its name.
  return `block ${n.height}, ${[kind, ...marks].join(', ')}, ${posts}, hash ${n.hash.slice(0, 8)}`;
}

/** Builds the SVG: height labels, links to parents, then the blocks. */
function draw(svg, tree) {
  const focused = svg.contains(document.activeElement) ? document.activeElement.dataset.hash : null;
  const top = Math.max(tree.tipHeight, ...tree.nodes.map((n) => n.height));
  const lanes = Math.max(0, ...tree.nodes.map((n) => n.lane)) + 1;
  const rows = top - tree.fromHeight + 1;
  const width = LEFT + lanes * LANE;
  const height = rows * ROW + ROW / 2;
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const x = (lane) => LEFT + lane * LANE + NODE_W / 2;
  const y = (h) => (top - h) * ROW + ROW / 2;
  const at = new Map(tree.nodes.map((n) => [n.hash, n]));
  const parts = [];
  for (const h of new Set(tree.nodes.map((n) => n.height))) {
    const label = svgEl('text', { x: LEFT - 8, y: y(h) + 4, class: 'tree-height', 'text-anchor': 'end' });
    label.textContent = String(h);
    parts.push(label);
  }
  for (const n of tree.nodes) {
    const parent = at.get(n.parent);
    const [x1, y1] = [x(n.lane), y(n.height) + NODE_H / 2];
    let edge;
    if (parent) {
      const [x2, y2] = [x(parent.lane), y(parent.height) - NODE_H / 2];
      const mid = (y1 + y2) / 2;
      edge = svgEl('path', { d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}` });
    } else if (n.height > 0) {
      // The parent is below the window, or (an orphan) unknown.
      edge = svgEl('path', { d: `M${x1},${y1} L${x1},${y1 + ROW / 2}` });
    }
    if (edge) {
      edge.setAttribute('class', `link${n.best ? ' best' : ''}${n.orphan || !parent ? ' open' : ''}`);
      parts.push(edge);
    }
  }
  for (const n of tree.nodes) {
    const kind = n.best ? 'best' : n.orphan ? 'orphan' : 'side';
    const classes = ['block', kind];
    if (n.reorged) classes.push('reorged');
    if (n.fork) classes.push('fork');
    if (n.flash) classes.push('flash');
    if (n.best && n.height === tree.tipHeight) classes.push('tip');
    const group = svgEl('g', {
      class: classes.join(' '),
      role: 'button',
      tabindex: -1,
      'aria-label': describe(n),
      'data-hash': n.hash,
      'data-height': n.height,
      'data-best': n.best,
    });
    const title = svgEl('title');
    title.textContent = `${describe(n)}\n${n.hash}\n${formatTime(n.timestampMs)}`;
    const box = svgEl('rect', {
      x: x(n.lane) - NODE_W / 2,
      y: y(n.height) - NODE_H / 2,
      width: NODE_W,
      height: NODE_H,
      rx: n.orphan ? 10 : 4,
    });
    const text = svgEl('text', { x: x(n.lane), y: y(n.height) + 4, 'text-anchor': 'middle' });
    text.textContent = n.hash.slice(0, 8);
    group.append(title, box, text);
    parts.push(group);
  }
  svg.replaceChildren(...parts);
  setTabStop(svg);
  // A focused block that left the window hands the focus to the tip.
  if (focused) {
    const blocks = [...svg.querySelectorAll('.block')];
    (blocks.find((b) => b.dataset.hash === focused) || svg.querySelector('.block.tip'))?.focus();
  }
}

/** Puts the current block (else the tip) in the Tab order, and only it. */
function setTabStop(svg) {
  const blocks = [...svg.querySelectorAll('.block')];
  const stop =
    blocks.find((b) => b.dataset.hash === current) || blocks.find((b) => b.classList.contains('tip')) || blocks[0];
  for (const b of blocks) b.setAttribute('tabindex', b === stop ? '0' : '-1');
}
