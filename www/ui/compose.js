// The post form: author and message, signed with this browser's key (its id
// is shown under the form) and stamped with proof of work (progress shown
// while it runs). The author field is filled from the name stored
// with the chain when it is still empty.

import { $, short } from './dom.js';

/** Sends the form as a post (stamping shows its progress); fills the stored author name. */
export function mount(host) {
  $('post-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const author = $('post-author').value;
    const content = $('post-content').value;
    const result = $('post-result');
    result.textContent = 'stamping…';
    const progress = (fraction) => {
      result.textContent = `stamping… ${Math.min(99, Math.round(fraction * 100))}%`;
    };
    host
      .post(author, content, progress)
      .then((txId) => {
        $('post-content').value = '';
        $('post-result').textContent = `posted ${short(txId)}`;
      })
      .catch((err) => {
        $('post-result').textContent = `not posted: ${err && err.message ? err.message : err}`;
      });
  });
  host.addEventListener('author', (event) => {
    if (!$('post-author').value) $('post-author').value = event.detail;
  });
}

/** Shows the id of the key posts are signed with. */
export function render({ host }) {
  $('key-id').textContent = host.keyId || '–';
}
