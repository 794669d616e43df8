// The header: relay badge, network, height, tip, peer count, storage, and the
// sync bar while the tab catches up with a peer (kept a moment after it ends).

import { $, short, relayText } from './dom.js';

/** The header has no controls. */
export function mount(_host) {}

/** Shows the connection, the chain's height and tip, and the sync progress. */
export function render({ host, node, status, peers }) {
  const badge = $('st-connection');
  const joined = Boolean(status && status.joined);
  badge.textContent = joined ? `online (peer ${status.me})` : host.connected ? 'connecting…' : 'offline';
  badge.className = `badge ${joined ? 'online' : 'offline'}`;
  const relay = host.relayInUse();
  badge.title = relay ? `relay: ${relayText(relay)}` : '';
  $('st-network').textContent = host.network || '–';
  $('st-storage').textContent = host.store ? (host.store.persistent ? 'IndexedDB' : 'memory only') : '–';
  if (!node) return;
  $('st-height').textContent = String(status.height);
  $('st-tip').textContent = short(status.tip);
  $('st-tip').title = status.tip;
  $('st-peers').textContent = String(peers.length);

  const sync = $('sync');
  const showSync = status.syncing || Date.now() < host.syncShownUntil;
  sync.hidden = !showSync;
  if (showSync) {
    const target = Math.max(status.syncTarget || 0, status.height, 1);
    $('sync-progress').max = target;
    $('sync-progress').value = status.height;
    $('sync-text').textContent = `${status.height} / ${target}`;
  }
}

/** Says in the badge that the tab could not start. */
export function showFailure(err) {
  $('st-connection').textContent = `failed to start: ${err && err.message ? err.message : err}`;
}
