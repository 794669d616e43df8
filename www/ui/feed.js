// The feed: posts confirmed on the best chain (newest first) and the pending
// posts, with author, signature check and time. Posts are hostile input: every
// field is set as text.
//
// The newest posts come from the blocks the node holds in memory; "Older
// posts" pages further back through the blocks kept in storage (the node
// holds only recent bodies), a page at a time, below the ones shown.

import { $, el, formatTime } from './dom.js';
import { identicon } from './identicon.js';

const FEED_POSTS = 100;
const OLDER_PAGE = 50;

/** Older posts read so far, newest first, and where the next page starts. */
let older = { node: null, posts: [], before: null, done: false, loading: false };

/** Binds the "Older posts" button. */
export function mount(host) {
  $('feed-older').addEventListener('click', () => loadOlder(host));
}

/** Shows the newest confirmed posts (and the older ones read), and the mempool. */
export function render({ node }) {
  if (!node) return;
  if (older.node !== node) older = { node, posts: [], before: null, done: false, loading: false };
  const recent = node.posts(FEED_POSTS);
  const shown = new Set(recent.map((p) => p.txId));
  renderPosts($('feed'), [...recent, ...older.posts.filter((p) => !shown.has(p.txId))], true);
  renderPosts($('pending'), node.pending(), false);
  const button = $('feed-older');
  button.disabled = older.loading || older.done;
  button.textContent = older.done ? 'No older posts' : older.loading ? 'Reading…' : 'Older posts';
}

/** Reads the next page of older posts: below the oldest shown (its block again, for posts cut off). */
async function loadOlder(host) {
  const node = host.node;
  if (!node || older.node !== node || older.loading || older.done) return;
  older.loading = true;
  host.changed();
  const state = older;
  try {
    let before = state.before;
    if (before === null) {
      const recent = node.posts(FEED_POSTS);
      before = recent.length > 0 ? recent[recent.length - 1].height + 1 : node.height() + 1;
    }
    const page = await host.olderPosts(before, OLDER_PAGE);
    const seen = new Set(state.posts.map((p) => p.txId));
    state.posts.push(...page.posts.filter((p) => !seen.has(p.txId)));
    state.before = page.lowest;
    state.done = page.posts.length === 0 || page.lowest === 0;
  } catch (err) {
    host.log(`could not read older posts: ${err && err.message ? err.message : err}`);
  } finally {
    state.loading = false;
    host.changed();
  }
}

function renderPosts(list, posts, confirmed) {
  list.replaceChildren(
    ...posts.map((p) => {
      const head = el('div', { class: 'post-head' }, el('span', { class: 'post-author', text: p.author }));
      if (p.keyId) {
        const picture = identicon(p.keyId);
        if (picture) head.append(picture);
        head.append(el('span', { class: 'verified', text: `✔ verified ${p.keyId}` }));
      }
      else head.append(el('span', { class: 'unsigned', text: 'unsigned' }));
      const meta = confirmed ? `block ${p.height} · ${formatTime(p.timestamp)}` : formatTime(p.timestamp);
      head.append(el('span', { class: 'muted', text: meta }));
      return el('li', { 'data-txid': p.txId }, head, el('div', { class: 'post-content', text: p.content }));
    }),
  );
}
