// The tamper demo: an editable local copy of three blocks; each edit is
// checked by core (`tamperRebuild`), which says which copies no longer match
// the chain (hash, proof of work, signatures). The real chain is untouched.

import { tamperRebuild } from '../pkg/tabchain_wasm.js';
import { $, el, short } from './dom.js';

const TAMPER_BLOCKS = 3;

/** Binds copying blocks and checking the copy (on the button and on every edit). */
export function mount(host) {
  $('tamper-load').addEventListener('click', () => loadCopy(host).catch((err) => host.log(`tamper demo: ${err}`)));
  $('tamper-check').addEventListener('click', () => checkCopy(host));
  $('tamper').addEventListener('input', () => checkCopy(host));
}

/** The copy changes only when asked to: nothing to render. */
export function render(_view) {}

/** Sets the height the next copy starts from (the explorer calls this on a click). */
export function pickHeight(height) {
  $('tamper-from').value = height;
}

async function loadCopy(host) {
  const node = host.node;
  if (!node) return;
  // From the height picked (typed, or clicked in the explorer), else the last few.
  const height = node.height();
  const picked = Number.parseInt($('tamper-from').value, 10);
  const from = picked >= 0 && picked <= height ? picked : Math.max(0, height - TAMPER_BLOCKS + 1);
  const blocks = node.blocks(from, TAMPER_BLOCKS);
  // Old blocks' bodies are read from storage: the node keeps only recent ones.
  const views = await Promise.all(blocks.map((b) => host.blockView(b.hash)));
  $('tamper').replaceChildren(
    ...blocks.map((b, i) => {
      const text = el('textarea', { spellcheck: 'false', 'aria-label': `block ${b.height} (editable copy)` });
      text.value = views[i] ? views[i].json : '';
      return el(
        'li',
        { 'data-hash': b.hash },
        el('div', { class: 'row' }, el('strong', { text: `block ${b.height}` }), el('span', { class: 'verdict' })),
        text,
      );
    }),
  );
  checkCopy(host);
}

function checkCopy(host) {
  const items = [...$('tamper').children];
  if (items.length === 0) return;
  // Joined as text: the copies are never parsed by JavaScript (u64 nonces).
  const json = `[${items.map((li) => li.querySelector('textarea').value).join(',')}]`;
  let results;
  try {
    results = tamperRebuild(json, host.network);
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
    if (!r.postsOk) problems.push('a stamp or signature no longer holds');
    const broken = problems.length > 0;
    li.className = broken ? 'broken' : 'ok';
    const verdict = li.querySelector('.verdict');
    verdict.className = `verdict ${broken ? 'broken' : 'ok'}`;
    verdict.textContent = broken ? problems.join('; ') : `hash ${short(r.hash)}: as on the chain`;
  });
}
