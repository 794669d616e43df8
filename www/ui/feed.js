// The feed: posts confirmed on the best chain (newest first) and the pending
// posts, with author, signature check and time. Posts are hostile input: every
// field is set as text.

import { $, el, formatTime } from './dom.js';
import { identicon } from './identicon.js';

const FEED_POSTS = 100;

/** The feed has no controls. */
export function mount(_host) {}

/** Shows the newest confirmed posts and the mempool. */
export function render({ node }) {
  if (!node) return;
  renderPosts($('feed'), node.posts(FEED_POSTS), true);
  renderPosts($('pending'), node.pending(), false);
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
