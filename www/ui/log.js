// The activity log: the host's log lines, newest first, with their time.

import { $, el, formatTime } from './dom.js';

/** The log has no controls. */
export function mount(_host) {}

/** Shows the log (once the chain is loaded, as every chain panel). */
export function render({ host, node }) {
  if (!node) return;
  $('log').replaceChildren(
    ...host.logLines
      .slice()
      .reverse()
      .map((line) => el('li', {}, el('time', { text: formatTime(line.at) }), line.text)),
  );
}
