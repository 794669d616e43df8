// Page load benchmark (`cargo xtask bench page`): how many bytes a tab pulls
// over the network and how long it takes from navigation to
// `window.tabchain.ready()` and to its first hash, cold (a new browser
// context: empty HTTP cache, no service worker) and warm (a reload of the
// same tab: HTTP cache and service worker in place), with the relay
// compressing (precompressed wasm, Brotli/gzip on the fly for the rest) and
// with `--no-compression`.
//
// Bytes: every response that came over the network (headers and encoded
// body, as playwright's `request.sizes()` reports them), the service
// worker's own fetches included, those it answered from its cache not,
// until the first hash and the worker's install settle. Times: the page's
// `performance.now()` (milliseconds since navigation started) when ready()
// resolved, and when `hashrate()` first turned positive after mining with
// one worker started right after ready() (the worker reports every ~100 ms,
// or at once when it finds a block: dev network).
//
// Options: --runs N (default 3) loads of each kind per mode; prints each
// run, then the medians.
//
// Environment: TABCHAIN_RELAY_BIN (a release relay), TABCHAIN_WWW (the web
// app with the release wasm and its precompressed copies), CHROMIUM.

import { chromium } from 'playwright-core';
import { Relay } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const RUNS = option('runs', 3);
const SETTLE_MS = 1_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Loads the app in `page` (a navigation, or a reload when `reload`), mines
 * until the first hash, and returns {bytes, requests, bodiless, readyMs, hashMs}.
 */
async function load(context, page, url, reload) {
  const traffic = { bytes: 0, requests: 0, bodiless: 0 };
  const pending = [];
  const onFinished = (request) => {
    pending.push(
      (async () => {
        const response = await request.response();
        if (!response || response.fromServiceWorker()) return;
        const sizes = await request.sizes().catch(() => null);
        if (!sizes) return;
        traffic.bytes += sizes.responseHeadersSize + sizes.responseBodySize;
        traffic.requests += 1;
        // A revalidation answered 304 (reported as the cached 200).
        if (sizes.responseBodySize === 0) traffic.bodiless += 1;
      })(),
    );
  };
  context.on('requestfinished', onFinished);
  if (reload) await page.reload({ waitUntil: 'commit' });
  else await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(() => window.tabchain, undefined, { polling: 5 });
  const readyMs = await page.evaluate(async () => {
    await window.tabchain.ready();
    return performance.now();
  });
  const hashMs = await page.evaluate(async () => {
    window.tabchain.mine(true, 1);
    while (!(window.tabchain.hashrate() > 0)) await new Promise((resolve) => setTimeout(resolve, 2));
    return performance.now();
  });
  await page.evaluate(() => window.tabchain.mine(false));
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.evaluate(() => window.tabchain.saved());
  await sleep(SETTLE_MS);
  context.off('requestfinished', onFinished);
  await Promise.all(pending);
  return { ...traffic, readyMs, hashMs };
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

async function benchMode(browser, name, relayArgs) {
  const relay = await Relay.start(relayArgs);
  const rows = { cold: [], warm: [] };
  try {
    for (let run = 1; run <= RUNS; run++) {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        page.on('pageerror', (err) => console.error(`[${name}] page error: ${err.message}`));
        const cold = await load(context, page, relay.url, false);
        const warm = await load(context, page, relay.url, true);
        for (const [kind, result] of [
          ['cold', cold],
          ['warm', warm],
        ]) {
          rows[kind].push(result);
          console.log(
            `${name} run ${run} ${kind}: ${kib(result.bytes)} in ${result.requests} responses (${result.bodiless} without a body), ` +
              `ready ${result.readyMs.toFixed(0)} ms, first hash ${result.hashMs.toFixed(0)} ms`,
          );
        }
      } finally {
        await context.close();
      }
    }
  } finally {
    await relay.stop();
  }
  return rows;
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking'],
});
const results = {};
try {
  results.compressed = await benchMode(browser, 'compressed', []);
  results.uncompressed = await benchMode(browser, 'uncompressed', ['--no-compression']);
} finally {
  await browser.close();
}

console.log(`\nmedians of ${RUNS} runs:`);
console.log('| relay | load | bytes over the network | navigation → ready() | navigation → first hash |');
console.log('|---|---|---:|---:|---:|');
for (const [mode, rows] of Object.entries(results)) {
  for (const kind of ['cold', 'warm']) {
    const runs = rows[kind];
    console.log(
      `| ${mode} | ${kind} | ${kib(median(runs.map((r) => r.bytes)))} | ${median(runs.map((r) => r.readyMs)).toFixed(0)} ms | ` +
        `${median(runs.map((r) => r.hashMs)).toFixed(0)} ms |`,
    );
  }
}
