// `cargo xtask bench wasm`: the browser miner's hash rate in headless Chromium
// with 1 and 2 www/miner.js workers, next to native `sha2` full-header hashing
// on one thread and hash-wasm's SHA-256 in a worker, all in the same run.
//
// Serves www/ (with the built pkg/), the page in e2e/bench/ at /bench/ and
// hash-wasm at /hash-wasm/ from a small static server on 127.0.0.1, and drives
// the page (window.bench, e2e/bench/bench.js) with playwright-core.
//
// Usage: node bench-wasm.mjs [--secs 5] [--warmup-secs 1] [--hash-wasm-secs 3]
//                            [--native-secs 3] [--runs 1]
// With --runs N the 1- and 2-worker measurements alternate N times and the
// table shows the median (and the range).
//
// Environment (set by xtask): TABCHAIN_HASHRATE_BIN (core/examples/hashrate.rs
// built in release), TABCHAIN_WWW (the web app with the built wasm), CHROMIUM.
// Exits non-zero only when something fails to run; goals are reported.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './harness.mjs';
import { startStaticServer } from './static-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const WWW = process.env.TABCHAIN_WWW || join(ROOT, 'www');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HASHRATE_BIN = process.env.TABCHAIN_HASHRATE_BIN || join(ROOT, 'target/release/examples/hashrate');

const GOAL_PER_WORKER = 15e6;
const GOAL_TWO_WORKERS = 1.9;

function parseArgs(argv) {
  const opts = { secs: 5, warmupSecs: 1, hashWasmSecs: 3, nativeSecs: 3, runs: 1 };
  const names = {
    '--secs': 'secs',
    '--warmup-secs': 'warmupSecs',
    '--hash-wasm-secs': 'hashWasmSecs',
    '--native-secs': 'nativeSecs',
    '--runs': 'runs',
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const key = names[flag];
    if (!key) throw new Error(`unknown argument ${argv[i]}; flags: ${Object.keys(names).join(' ')}`);
    const value = Number(inline ?? argv[++i]);
    if (!(value > 0)) throw new Error(`${flag} needs a positive number`);
    opts[key] = key === 'runs' ? Math.round(value) : value;
  }
  return opts;
}

/** The static server: /bench/ → e2e/bench, /hash-wasm/ → hash-wasm's dist, the rest → www/. */
function startServer() {
  return startStaticServer([
    ['/bench/', join(HERE, 'bench')],
    ['/hash-wasm/', join(HERE, 'node_modules/hash-wasm/dist')],
    ['/', WWW],
  ]);
}

function cpuModel() {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.+)$/m.exec(info);
    if (model) return model[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model || 'unknown CPU';
}

/**
 * CPU time (clock ticks) of the whole machine and of this process tree (this
 * Node process, its children such as Chromium, and their reaped children),
 * from Linux /proc; null elsewhere. The difference tells whether other
 * processes ran during a measurement.
 */
function cpuTimes() {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = fields[3] + (fields[4] || 0);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const procs = new Map();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let stat;
      try {
        stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
      procs.set(Number(name), { ppid: Number(rest[1]), ticks });
    }
    const ours = new Set([process.pid]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, p] of procs) {
        if (!ours.has(pid) && ours.has(p.ppid)) {
          ours.add(pid);
          grew = true;
        }
      }
    }
    let mine = 0;
    for (const pid of ours) mine += procs.get(pid)?.ticks || 0;
    return { busy: total - idle, total, mine };
  } catch {
    return null;
  }
}

/** {all, others}: percentages of all CPUs busy between two cpuTimes() samples, or null. */
function busyPercent(before, after) {
  if (!before || !after || after.total === before.total) return null;
  const span = after.total - before.total;
  const all = ((after.busy - before.busy) * 100) / span;
  const others = Math.max(0, ((after.busy - before.busy - (after.mine - before.mine)) * 100) / span);
  return { all, others };
}

/** Other processes' CPU share beyond which a measurement counts as skewed (% of all CPUs). */
const OTHERS_SKEWED = 10;

/** Measured steps during which other processes used the CPUs. */
let skewedSteps = 0;

/** " [other processes: X% of all CPUs…]" for a measured step. */
function busyNote(before, after) {
  const busy = busyPercent(before, after);
  if (busy === null) return '';
  if (busy.others > OTHERS_SKEWED) skewedSteps += 1;
  const skewed = busy.others > OTHERS_SKEWED ? ': SKEWED, re-run when the machine is quiet' : '';
  return ` [other processes: ${busy.others.toFixed(0)}% of all CPUs${skewed}]`;
}

function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return `${CHROMIUM} (version unknown)`;
  }
}

function native(secs) {
  if (!existsSync(HASHRATE_BIN)) {
    throw new Error(`${HASHRATE_BIN} is missing: build it with \`cargo build --release -p tabchain-core --example hashrate\``);
  }
  const out = execFileSync(HASHRATE_BIN, [String(secs)], { encoding: 'utf8' });
  const result = JSON.parse(out.trim().split('\n').pop());
  if (result.build !== 'release') throw new Error(`${HASHRATE_BIN} is a ${result.build} build; build it in release`);
  const rate = (name) => {
    const kernel = result.kernels.find((k) => k.name === name);
    if (!kernel) throw new Error(`hashrate printed no ${name} kernel: ${out}`);
    return kernel.hashes_per_sec;
  };
  return { full: rate('sha2-full-header'), midstate: rate('sha2-midstate'), features: result.cpu_features };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mega = (x) => `${(x / 1e6).toFixed(2)} M`;
const times = (x) => `${x.toFixed(2)}×`;

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const load = loadavg();
  console.log('tabchain wasm mining benchmark (cargo xtask bench wasm)');
  console.log(`CPU: ${cpuModel()}, ${cpus().length} logical CPUs`);
  const idleStart = cpuTimes();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busyAtStart = busyPercent(idleStart, cpuTimes());
  console.log(
    `load average at start: ${load.map((l) => l.toFixed(2)).join(' ')}` +
      (busyAtStart === null ? '' : `; other processes used ${busyAtStart.others.toFixed(0)}% of all CPUs over the last second`),
  );
  const busy = busyAtStart === null ? load[0] > cpus().length * 0.25 : busyAtStart.others > OTHERS_SKEWED;
  if (busy) console.log('warning: the machine is busy; numbers measured now are skewed low');

  console.log(`native: ${HASHRATE_BIN} ${opts.nativeSecs} …`);
  let before = cpuTimes();
  const nat = native(opts.nativeSecs);
  console.log(`  native done${busyNote(before, cpuTimes())}`);

  const server = await startServer();
  const url = `http://127.0.0.1:${server.address().port}/bench/`;
  const browser = await launchBrowser();
  try {
    const version = chromiumVersion();
    const page = await browser.context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.error(`[page] ${msg.text()}`);
    });
    page.on('pageerror', (err) => console.error(`[page] ${err.message}`));
    await page.goto(url);
    await page.waitForFunction(() => window.bench, null, { timeout: 30_000 });
    const hc = await page.evaluate(() => window.bench.hardwareConcurrency);
    console.log(`${version} headless, navigator.hardwareConcurrency ${hc}; Node ${process.version}`);
    console.log(
      `mining www/miner.js on a header no hash meets (bits 0x03000001): ${opts.warmupSecs} s warm-up, ${opts.secs} s counted, ${opts.runs} run(s)`,
    );

    const timing = { warmupMs: opts.warmupSecs * 1000, measureMs: opts.secs * 1000 };
    const one = [];
    const two = [];
    for (let run = 1; run <= opts.runs; run++) {
      for (const [workers, into] of [
        [1, one],
        [2, two],
      ]) {
        before = cpuTimes();
        const r = await page.evaluate(([n, t]) => window.bench.mine(n, t), [workers, timing]);
        const note = busyNote(before, cpuTimes());
        into.push(r);
        const per = r.perWorker.map((w) => mega(w.hashesPerSec)).join(' + ');
        console.log(
          `  run ${run}: ${workers} worker${workers > 1 ? 's' : ' '}: ${mega(r.hashesPerSec)} hashes/s (${per}; wall clock ${mega(r.wallHashesPerSec)})${note}`,
        );
      }
    }

    before = cpuTimes();
    const raw = await page.evaluate((t) => window.bench.raw(t), timing);
    console.log(`  wasm Miner.mineRange tight loop, 1 worker: ${mega(raw.hashesPerSec)} hashes/s${busyNote(before, cpuTimes())}`);

    const hw = {};
    const hwTiming = { warmupMs: 500, measureMs: opts.hashWasmSecs * 1000 };
    for (const variant of ['hasher', 'sha256']) {
      before = cpuTimes();
      hw[variant] = await page.evaluate(([v, t]) => window.bench.hashWasm(v, t), [variant, hwTiming]);
      console.log(`  hash-wasm ${variant}: ${mega(hw[variant].hashesPerSec)} hashes/s${busyNote(before, cpuTimes())}`);
    }
    await page.close();

    const w1 = median(one.map((r) => r.hashesPerSec));
    const w2 = median(two.map((r) => r.hashesPerSec));
    const ratios = one.map((r, i) => two[i].hashesPerSec / r.hashesPerSec);
    const scaling = median(ratios);
    const best = hw.hasher.hashesPerSec >= hw.sha256.hashesPerSec ? hw.hasher : hw.sha256;
    const range = (rs) => (rs.length > 1 ? ` (${mega(Math.min(...rs.map((r) => r.hashesPerSec)))}–${mega(Math.max(...rs.map((r) => r.hashesPerSec)))})` : '');
    const ratioRange = ratios.length > 1 ? ` (${times(Math.min(...ratios))}–${times(Math.max(...ratios))})` : '';

    const rows = [
      ['wasm 4-lane (www/miner.js), 1 worker', `${mega(w1)}${range(one)}`, ''],
      ['wasm 4-lane (www/miner.js), 2 workers', `${mega(w2)}${range(two)}`, `${times(scaling)} 1 worker${ratioRange}`],
      ['wasm Miner.mineRange tight loop, 1 worker (context)', mega(raw.hashesPerSec), `www/miner.js reaches ${((w1 / raw.hashesPerSec) * 100).toFixed(0)}% of it`],
      ['native sha2 full header, 1 thread', mega(nat.full), ''],
      ['native sha2 midstate, 1 thread (context)', mega(nat.midstate), `${times(nat.midstate / nat.full)} full header`],
      ['hash-wasm createSHA256 init/update/digest, 1 worker', mega(hw.hasher.hashesPerSec), ''],
      ['hash-wasm await sha256(), 1 worker', mega(hw.sha256.hashesPerSec), ''],
    ];
    const wa = Math.max(...rows.map((r) => r[0].length));
    const wb = Math.max(...rows.map((r) => r[1].length), 'hashes/s'.length);
    const line = (a, b, c) => `| ${a.padEnd(wa)} | ${b.padStart(wb)} | ${c}`.trimEnd();
    console.log('');
    console.log(line('what', 'hashes/s', 'note'));
    console.log(`|${'-'.repeat(wa + 2)}|${'-'.repeat(wb + 1)}:|`);
    for (const r of rows) console.log(line(...r));
    console.log('');
    console.log(`native CPU features: ${nat.features || 'none detected'}`);
    console.log(`wasm 1 worker ÷ native sha2 full header: ${times(w1 / nat.full)}  (prototype: 1.36×)`);
    console.log(`wasm 1 worker ÷ hash-wasm (${best.variant}, the faster): ${times(w1 / best.hashesPerSec)}  (prototype: 9.5×)`);
    console.log(`wasm 1 worker ÷ hash-wasm (sha256()): ${times(w1 / hw.sha256.hashesPerSec)}`);
    console.log('');
    const met = (ok) => (ok ? 'met' : 'NOT met');
    console.log(
      `goal ≥ 15 M hashes/s per worker: ${met(w1 >= GOAL_PER_WORKER)} (${mega(w1)}, ${((w1 / GOAL_PER_WORKER) * 100).toFixed(0)}% of the goal)`,
    );
    console.log(`goal 2 workers ≥ 1.9× one worker: ${met(scaling >= GOAL_TWO_WORKERS)} (${scaling.toFixed(3)}×)`);
    if (skewedSteps > 0) {
      console.log(`(${skewedSteps} measurement(s) shared the CPUs with other processes: re-run on a quiet machine)`);
    }
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  console.error(`bench-wasm: ${err.stack || err}`);
  process.exit(1);
});
