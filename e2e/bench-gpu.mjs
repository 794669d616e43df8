// `cargo xtask bench gpu`: the WebGPU mining kernel (www/gpu-miner.js,
// www/sha256-miner.wgsl) next to the wasm workers (www/miner.js), measured
// in the same run in headless Chromium. Without a GPU, Chromium runs WebGPU
// on SwiftShader, on the CPU: that rate says the kernel works, not how fast
// a GPU mines (it is labelled "SwiftShader (CPU), correctness only"). With
// `--adapter default` the browser's own adapter is asked for instead (on a
// machine with a GPU and drivers Chromium accepts).
//
// Serves www/ (with the built pkg/) and the page in e2e/bench/ at /bench/
// from a static server on 127.0.0.1 and drives window.bench with
// playwright-core.
//
// Usage: node bench-gpu.mjs [--secs 5] [--warmup-secs 2] [--adapter swiftshader|default]
// Environment (set by xtask): TABCHAIN_WWW (the web app with the built wasm), CHROMIUM.

import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser, WEBGPU_ARGS } from './harness.mjs';
import { startStaticServer } from './static-server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const WWW = process.env.TABCHAIN_WWW || join(HERE, '..', 'www');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function parseArgs(argv) {
  const opts = { secs: 5, warmupSecs: 2, adapter: 'swiftshader' };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    if (flag === '--secs' || flag === '--warmup-secs') {
      const n = Number(value);
      if (!(n > 0)) throw new Error(`${flag} needs a positive number`);
      opts[flag === '--secs' ? 'secs' : 'warmupSecs'] = n;
    } else if (flag === '--adapter' && (value === 'swiftshader' || value === 'default')) {
      opts.adapter = value;
    } else {
      throw new Error(`unknown argument ${argv[i]}; flags: --secs N --warmup-secs N --adapter swiftshader|default`);
    }
  }
  return opts;
}

function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return `${CHROMIUM} (version unknown)`;
  }
}

const mega = (x) => `${(x / 1e6).toFixed(2)} M`;

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const swiftshader = opts.adapter === 'swiftshader';
  console.log('tabchain GPU mining benchmark (cargo xtask bench gpu)');
  console.log(`CPU: ${cpus()[0]?.model || 'unknown'}, ${cpus().length} logical CPUs; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${chromiumVersion()} headless; ${opts.warmupSecs} s warm-up, ${opts.secs} s counted per row`);
  const server = await startStaticServer([
    ['/bench/', join(HERE, 'bench')],
    ['/', WWW],
  ]);
  const extraArgs = swiftshader ? WEBGPU_ARGS : ['--enable-unsafe-webgpu'];
  const browser = await launchBrowser({ extraArgs });
  try {
    const page = await browser.context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error') console.error(`[page] ${msg.text()}`);
    });
    await page.goto(`http://127.0.0.1:${server.address().port}/bench/`);
    await page.waitForFunction(() => window.bench, null, { timeout: 30_000 });
    const timing = { warmupMs: opts.warmupSecs * 1000, measureMs: opts.secs * 1000 };
    const gpu = await page.evaluate((t) => window.bench.gpu(t), timing);
    console.log(`  GPU kernel on ${gpu.adapter}: ${mega(gpu.hashesPerSec)} hashes/s, ${gpu.perDispatch} nonces per dispatch, ${gpu.dispatchMs.toFixed(1)} ms each`);
    const workers = [];
    for (const n of [1, 2]) {
      const r = await page.evaluate(([count, t]) => window.bench.mine(count, t), [n, timing]);
      workers.push(r);
      console.log(`  www/miner.js, ${n} worker${n > 1 ? 's' : ''}: ${mega(r.hashesPerSec)} hashes/s`);
    }
    const label = swiftshader ? 'SwiftShader (CPU), correctness only' : gpu.adapter;
    const rows = [
      [`WebGPU kernel (www/gpu-miner.js): ${label}`, mega(gpu.hashesPerSec), `${gpu.adapter}; ${gpu.perDispatch} nonces per dispatch, ${gpu.dispatchMs.toFixed(1)} ms each (means)`],
      ['wasm 4-lane (www/miner.js), 1 worker', mega(workers[0].hashesPerSec), 'the CPU miner, same run'],
      ['wasm 4-lane (www/miner.js), 2 workers', mega(workers[1].hashesPerSec), ''],
    ];
    const wa = Math.max(...rows.map((r) => r[0].length));
    const wb = Math.max(...rows.map((r) => r[1].length), 'hashes/s'.length);
    const line = (a, b, c) => `| ${a.padEnd(wa)} | ${b.padStart(wb)} | ${c}`.trimEnd();
    console.log('');
    console.log(line('what', 'hashes/s', 'note'));
    console.log(`|${'-'.repeat(wa + 2)}|${'-'.repeat(wb + 1)}:|`);
    for (const r of rows) console.log(line(...r));
    if (swiftshader) {
      console.log('');
      console.log('SwiftShader runs the kernel on the CPU: this checks the kernel, it does not measure a GPU.');
    }
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((err) => {
  console.error(`bench-gpu: ${err.stack || err}`);
  process.exit(1);
});
