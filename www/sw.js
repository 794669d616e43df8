// Service worker: keeps the app shell (page, scripts, wasm) so a tab reloads
// and restores its chain from IndexedDB even when the relay, which serves the
// page, is down. Network first, so a running relay always serves the newest
// files; the cache only answers when the network cannot.
//
// The cache is named after the build (pkg/build-id.js, written by `cargo xtask
// build-wasm`): the browser checks this script and the ones it imports on
// every navigation, so a new build installs a new worker, which fills a cache
// of its own with the whole shell and, once active, deletes the old one.

try {
  importScripts('./pkg/build-id.js');
} catch {
  // A www/ not built by xtask: one cache for whatever it serves.
  self.TABCHAIN_BUILD = 'unversioned';
}
const CACHE = `tabchain-shell-${self.TABCHAIN_BUILD}`;
const SHELL = [
  './',
  './index.html',
  './style.css',
  './app.js',
  './host.js',
  './store.js',
  './relay.js',
  './miners.js',
  './miner.js',
  './stamper.js',
  './clock.js',
  './clock-worker.js',
  './tabs.js',
  './mining-lock.js',
  './tab-miner.js',
  './gpu-miner.js',
  './sha256-miner.wgsl',
  './ui/dom.js',
  './ui/status.js',
  './ui/compose.js',
  './ui/mining.js',
  './ui/charts.js',
  './ui/feed.js',
  './ui/identicon.js',
  './ui/explorer.js',
  './ui/tree.js',
  './ui/tamper.js',
  './ui/peers.js',
  './ui/log.js',
  './pkg/tabchain_wasm.js',
  './pkg/tabchain_wasm_bg.wasm',
];
// The vendored chart library (`cargo xtask build-wasm`): cached when there,
// and a www/ without it still installs (the page works without charts).
const OPTIONAL = ['./vendor/uplot/uPlot.esm.js', './vendor/uplot/uPlot.min.css'];
const LIVE = ['/ws', '/healthz', '/metrics', '/api/'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) =>
        cache.addAll(SHELL).then(() => Promise.all(OPTIONAL.map((url) => cache.add(url).catch(() => undefined)))),
      )
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (LIVE.some((prefix) => url.pathname === prefix || url.pathname.startsWith(prefix))) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(request, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(request, { ignoreSearch: true }).then((cached) => {
          if (cached) return cached;
          return new Response('offline and not cached', { status: 503, headers: { 'content-type': 'text/plain' } });
        }),
      ),
  );
});
