// `cargo xtask bench join`: what a tab's chain costs, and how long a new tab
// takes to join. A seeder page builds a dev chain of `--blocks` blocks
// (`--posts` signed, stamped posts in each, `--post-chars` characters long)
// offline, joins a relay (release build) on 127.0.0.1, and serves it; then
// fresh tabs (fresh profiles, so fresh IndexedDB) open the real page and
// sync it:
//
// 1. a tab keeping the default 1,000 bodies in memory;
// 2. a tab keeping every body (`?bodies=all`), for comparison;
// 3. with the seeder gone, a tab syncing from tab 1: its old blocks come
//    from tab 1's IndexedDB (`serveBlocks`).
//
// For each: the join time (navigation start to the last block in the tree,
// measured in the page; and to everything written to IndexedDB), the wasm
// memory (`memory.buffer.byteLength`, which never shrinks: the high-water
// mark) each time the tab passes another 1,000 blocks, and at the end the
// bytes the chain takes in IndexedDB (the stored values, and the browser's
// own estimate for the origin).
//
// Usage: node bench-join.mjs [--blocks 10000] [--posts 0] [--post-chars 0] [--runs 1]
// Environment (set by xtask): TABCHAIN_RELAY_BIN (release relay),
// TABCHAIN_WWW (the web app with the release wasm), CHROMIUM.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { Relay, launchBrowser, seedChain } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const GOAL_JOIN_MS = 2_000;

function parseArgs(argv) {
  const opts = { blocks: 10_000, posts: 0, postChars: 0, runs: 1 };
  const names = { '--blocks': 'blocks', '--posts': 'posts', '--post-chars': 'postChars', '--runs': 'runs' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = names[flag];
    if (!key) throw new Error(`unknown argument ${argv[i]}; flags: ${Object.keys(names).join(' ')}`);
    const value = Number(inline ?? argv[++i]);
    const least = key === 'blocks' || key === 'runs' ? 1 : 0;
    if (!(Number.isInteger(value) && value >= least)) throw new Error(`${flag} needs a whole number ≥ ${least}`);
    opts[key] = value;
  }
  return opts;
}

function cpuModel() {
  try {
    const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (model) return model[1].trim();
  } catch {
    // not Linux
  }
  return cpus()[0]?.model || 'unknown CPU';
}

function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return `${CHROMIUM} (version unknown)`;
  }
}

/**
 * Installed in each joining page before its scripts run: samples the chain's
 * height and memory every 20 ms and notes when it passes each 1,000 blocks
 * and reaches `target` (epoch ms, as `performance.timeOrigin`).
 */
function sampler(target) {
  window.joinBench = { start: performance.timeOrigin, marks: [], done: null, ready: null };
  let waiting = false;
  const timer = setInterval(() => {
    const api = window.tabchain;
    if (!api) return;
    if (!waiting) {
      waiting = true;
      api.ready().then(() => (window.joinBench.ready = Date.now()));
    }
    const height = api.height();
    const marks = window.joinBench.marks;
    const next = (marks.length + 1) * 1_000;
    if (height >= next || height >= target) {
      marks.push({ height, at: Date.now(), ...api.memory() });
    }
    if (height >= target) {
      window.joinBench.done = Date.now();
      clearInterval(timer);
    }
  }, 20);
}

/** Opens the page (`query` appended) in a fresh profile and waits for `target` blocks, then for storage. */
async function join(relay, target, query) {
  const browser = await launchBrowser();
  const page = await browser.context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[tab] ${msg.text()}`);
  });
  await page.addInitScript(sampler, target);
  await page.goto(`${relay.url}${query}`);
  await page.waitForFunction(() => window.joinBench && window.joinBench.done, null, { timeout: 600_000, polling: 100 });
  await page.evaluate(() => window.tabchain.saved());
  const savedAt = await page.evaluate(() => Date.now());
  const bench = await page.evaluate(() => window.joinBench);
  const storage = await page.evaluate(() => window.tabchain.storage());
  const memory = await page.evaluate(() => window.tabchain.memory());
  return { browser, page, bench, savedAt, storage, memory };
}

const mb = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const kb = (bytes) => `${(bytes / 1e3).toFixed(0)} kB`;
const secs = (ms) => `${(ms / 1e3).toFixed(2)} s`;

function report(name, r, blocks) {
  const { bench, storage, memory } = r;
  const joinMs = bench.done - bench.start;
  console.log(`\n${name}`);
  console.log(
    `  joined ${blocks} blocks in ${secs(joinMs)} from navigation (page and wasm ready, relay joined after ${secs(bench.ready - bench.start)}); everything in IndexedDB after ${secs(r.savedAt - bench.start)}`,
  );
  console.log('  height | wasm memory | bodies in memory (bytes)');
  for (const m of bench.marks) {
    console.log(`  ${String(m.height).padStart(6)} | ${mb(m.wasmBytes).padStart(11)} | ${m.bodies} (${kb(m.bodyBytes)})`);
  }
  const first = bench.marks[0];
  const last = bench.marks[bench.marks.length - 1];
  const perThousand = last.height > first.height ? ((last.wasmBytes - first.wasmBytes) * 1_000) / (last.height - first.height) : 0;
  console.log(`  wasm memory growth from ${first.height} to ${last.height} blocks: ${kb(perThousand)} per 1,000 blocks`);
  const estimate = storage.estimate === null ? 'n/a' : `${mb(storage.estimate)} (${kb((storage.estimate * 1_000) / blocks)} per 1,000 blocks)`;
  console.log(
    `  IndexedDB: ${storage.blocks} blocks, ${mb(storage.bytes)} stored (${kb((storage.bytes * 1_000) / blocks)} per 1,000 blocks); browser estimate for the origin ${estimate}`,
  );
  return { joinMs, perThousand, wasmBytes: memory.wasmBytes, storageBytes: storage.bytes };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  console.log('tabchain join benchmark (cargo xtask bench join)');
  console.log(`CPU: ${cpuModel()}, ${cpus().length} logical CPUs; ${chromiumVersion()} headless; Node ${process.version}`);
  const results = [];
  for (let run = 1; run <= opts.runs; run++) {
    const relay = await Relay.start();
    const seedStarted = Date.now();
    const seeder = await seedChain(relay, opts.blocks, { postsPerBlock: opts.posts, postChars: opts.postChars });
    const shape = opts.posts === 0 ? 'no posts' : `${opts.posts} signed post(s) of ${opts.postChars || 'about 20'} characters each`;
    console.log(`\nrun ${run}: seeder built ${seeder.height} blocks with ${shape} in ${secs(Date.now() - seedStarted)} and joined the relay`);
    const opened = [];
    try {
      const limited = await join(relay, opts.blocks, '');
      opened.push(limited);
      const a = report('a new tab (1,000 bodies in memory, the default), from the seeder (all in its memory):', limited, opts.blocks);
      const all = await join(relay, opts.blocks, '?bodies=all');
      await all.browser.close();
      const b = report('a new tab keeping every body (?bodies=all), from the seeder:', all, opts.blocks);
      await seeder.close();
      const fromTab = await join(relay, opts.blocks, '');
      opened.push(fromTab);
      const c = report('a new tab (1,000 bodies), from the first tab (old blocks read from its IndexedDB):', fromTab, opts.blocks);
      results.push({ a, b, c });
    } finally {
      for (const r of opened) await r.browser.close();
      await seeder.close();
      await relay.stop();
    }
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const joinA = median(results.map((r) => r.a.joinMs));
  const joinC = median(results.map((r) => r.c.joinMs));
  console.log('\nsummary (median of runs):');
  console.log(`  join ${opts.blocks} blocks from a node holding them in memory: ${secs(joinA)}; from a tab reading them from IndexedDB: ${secs(joinC)}`);
  console.log(
    `  wasm memory at ${opts.blocks} blocks: ${mb(median(results.map((r) => r.a.wasmBytes)))} with 1,000 bodies, ${mb(median(results.map((r) => r.b.wasmBytes)))} with every body`,
  );
  console.log(
    `  wasm memory growth per 1,000 blocks: ${kb(median(results.map((r) => r.a.perThousand)))} with 1,000 bodies, ${kb(median(results.map((r) => r.b.perThousand)))} with every body`,
  );
  console.log(`  IndexedDB per 1,000 blocks: ${kb((median(results.map((r) => r.a.storageBytes)) * 1_000) / opts.blocks)}`);
  const met = joinA < GOAL_JOIN_MS;
  console.log(`goal: a new tab joins a ${opts.blocks}-block chain in < 2 s on localhost: ${met ? 'met' : 'NOT met'} (${secs(joinA)})`);
}

main().catch((err) => {
  console.error(`bench-join: ${err.stack || err}`);
  process.exit(1);
});
