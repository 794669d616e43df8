// Shared pieces of the browser end-to-end tests: a relay process on a free
// loopback port (restartable on the same port), a NATS broker for a cluster
// of relays, Debian's Chromium driven by playwright-core, and helpers that
// wait on the page's `window.tabchain` API.
//
// Environment (set by `cargo xtask test`): TABCHAIN_RELAY_BIN (the relay
// binary), TABCHAIN_WWW (the web app with the built wasm), CHROMIUM (browser);
// TABCHAIN_NATS_SERVER (the broker, default Debian's /usr/sbin/nats-server).

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RELAY_BIN = process.env.TABCHAIN_RELAY_BIN || join(ROOT, 'target/debug/tabchain-relay');
/** The web app the relays serve (with the built wasm). */
export const WWW = process.env.TABCHAIN_WWW || join(ROOT, 'www');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const NATS_SERVER = process.env.TABCHAIN_NATS_SERVER || '/usr/sbin/nats-server';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/**
 * Extra launch arguments for WebGPU without a GPU: Debian's Chromium runs
 * compute shaders on SwiftShader, its CPU fallback, and offers it as an
 * adapter on a secure page (http://127.0.0.1 is one). Works beside
 * `--disable-gpu`, which only turns off GPU compositing here.
 */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];

/** Resolves once `child` has exited (at once if it has). */
function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', resolve));
}

/**
 * A relay child process on 127.0.0.1 (port 0 picks one; `restart` reuses it).
 * `args` go on its command line, e.g. `['--cluster', broker.url, '--relay-name', 'one']`;
 * it serves `www` (default: TABCHAIN_WWW).
 */
export class Relay {
  constructor(args = [], { www = WWW } = {}) {
    this.args = args;
    this.www = www;
    this.child = null;
    this.url = null;
    this.port = 0;
  }

  static async start(args = [], options = {}) {
    const relay = new Relay(args, options);
    await relay.spawn(0);
    return relay;
  }

  spawn(port) {
    return new Promise((resolve, reject) => {
      const child = spawn(
        RELAY_BIN,
        ['--listen', `127.0.0.1:${port}`, '--www', this.www, '--network', 'dev', ...this.args],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } },
      );
      this.child = child;
      let stderr = '';
      child.stderr.on('data', (chunk) => {
        stderr = (stderr + chunk).slice(-4000);
        if (process.env.E2E_VERBOSE) process.stderr.write(chunk);
      });
      child.on('exit', (code) => {
        if (!this.url) reject(new Error(`relay exited with ${code} before listening:\n${stderr}`));
      });
      const lines = createInterface({ input: child.stdout });
      lines.once('line', (line) => {
        const match = /listening on (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(line);
        if (!match) return reject(new Error(`unexpected relay output: ${line}`));
        this.url = match[1];
        this.port = Number(match[2]);
        resolve(this);
      });
    });
  }

  /** Its websocket address, `ws://127.0.0.1:PORT/ws`. */
  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Stops the relay (SIGTERM: close frames go out) and waits for it to exit. */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = exited(child);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(timer);
  }

  /** Kills the relay (SIGKILL: no close frames, no goodbye to its cluster) and waits for it to exit. */
  async kill() {
    const child = this.child;
    if (!child) return;
    const done = exited(child);
    child.kill('SIGKILL');
    await done;
  }

  /** `GET /api/relays`: the relays of its cluster, this one first. */
  async relays() {
    const response = await fetch(`${this.url}api/relays`);
    if (!response.ok) throw new Error(`GET /api/relays: ${response.status}`);
    return response.json();
  }

  /** Starts it again on the same port. */
  async restart() {
    const url = this.url;
    this.url = null;
    await this.spawn(this.port);
    if (this.url !== url) throw new Error(`relay came back at ${this.url}, not ${url}`);
  }
}

/**
 * A NATS broker (`nats-server`) on free loopback ports, with the
 * `max_payload` a relay cluster needs (see deploy/nats-server.conf).
 */
export class Broker {
  constructor() {
    this.child = null;
    this.dir = null;
    this.port = 0;
  }

  static async start() {
    const broker = new Broker();
    broker.dir = mkdtempSync(join(tmpdir(), 'tabchain-nats-'));
    const config = join(broker.dir, 'nats.conf');
    writeFileSync(config, 'host: 127.0.0.1\nport: -1\nhttp_port: -1\nmax_payload: 4MB\n');
    const child = spawn(NATS_SERVER, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    broker.child = child;
    await new Promise((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${log}`)), 20_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`starting ${NATS_SERVER} (install Debian's nats-server package): ${err.message}`));
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
      // It logs to stderr; keep reading so it never blocks on a full pipe.
      createInterface({ input: child.stderr }).on('line', (line) => {
        log = (log + line + '\n').slice(-4000);
        if (process.env.E2E_VERBOSE) process.stderr.write(`[nats] ${line}\n`);
        const match = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(line);
        if (match) {
          broker.port = Number(match[1]);
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return broker;
  }

  /** `nats://127.0.0.1:PORT`, for the relays' `--cluster`. */
  get url() {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Stops it and removes its config. */
  async stop() {
    if (this.child) {
      const done = exited(this.child);
      this.child.kill('SIGTERM');
      await done;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts a relay named `name` in the cluster on `broker`. */
export function clusterRelay(broker, name) {
  return Relay.start(['--cluster', broker.url, '--relay-name', name]);
}

/**
 * Waits until every relay of `relays` lists all of them (with their
 * websocket addresses) in `GET /api/relays`: a page loaded then may connect
 * to any of them (its CSP names the others).
 */
export async function clusterFormed(relays, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  const want = relays.map((relay) => relay.wsUrl).sort();
  for (const relay of relays) {
    for (;;) {
      const listed = (await relay.relays()).map((row) => row.url).sort();
      if (JSON.stringify(listed) === JSON.stringify(want)) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not form: ${relay.url} lists ${listed}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Launches headless Chromium with a fresh profile (`options` go to
 * playwright, except `extraArgs`: more command-line flags, e.g. WEBGPU_ARGS).
 */
export async function launchBrowser({ extraArgs = [], ...options } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'tabchain-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    ...options,
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  context.on('weberror', (error) => console.error('page error:', error.error()));
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Launches one headless Chromium whose `newContext()` gives contexts as
 * separate as two browsers (own storage, own service workers), cheaper than
 * a browser each.
 */
export async function launchContexts() {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return {
    async newContext() {
      const context = await browser.newContext();
      context.on('weberror', (error) => console.error('page error:', error.error()));
      return context;
    },
    close: () => browser.close(),
  };
}

/** Opens the app in a new tab of `context` and waits for `tabchain.ready()`. */
export async function openTab(context, relay) {
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' || process.env.E2E_VERBOSE) console.error(`[tab] ${msg.type()}: ${msg.text()}`);
  });
  await page.goto(relay.url);
  await page.evaluate(() => window.tabchain.ready());
  return page;
}

/** Polls `fn` in the page until it returns a truthy value (returned), or fails after `timeoutMs`. */
export async function waitFor(page, fn, arg, { timeoutMs = 30_000, what = 'condition' } = {}) {
  const handle = await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 }).catch((err) => {
    throw new Error(`timed out waiting for ${what}: ${err.message}`);
  });
  return handle.jsonValue();
}

/**
 * A peer that builds a dev chain of `count` blocks one second apart from
 * genesis (at the easiest target, so it takes milliseconds), then joins the
 * relay and stays connected to serve it. It runs the real wasm node inside a
 * page of its own browser profile at the relay's origin. The chain is built
 * before joining: a relay drops a peer announcing more than about a
 * thousand blocks in a burst. `posts` maps heights to the text of a post
 * (signed, stamped) that block holds; `postsPerBlock` puts that many posts
 * in every block besides, each `postChars` characters long (at least its
 * name, "post K of block N"; padded with pseudo-random letters, which
 * compress about as well as text does).
 */
export async function seedChain(relay, count, { posts = {}, postsPerBlock = 0, postChars = 0 } = {}) {
  const seeder = await launchBrowser({ bypassCSP: true });
  const page = await seeder.context.newPage();
  await page.goto(`${relay.url}healthz`);
  const height = await page.evaluate(
    async ({ count, posts, postsPerBlock, postChars }) => {
      const wasm = await import('/pkg/tabchain_wasm.js');
      await wasm.default();
      const node = new wasm.TabNode('dev', 'e2e-seeder/0.1.0');
      const secret = new Uint8Array(32).fill(9);
      const solve = (headerBytes) => {
        const miner = new wasm.Miner(headerBytes);
        let nonce = 0n;
        let found;
        while (!(found = miner.mineRange(nonce, 256))) nonce += 256n;
        return found.nonce;
      };
      const pad = (text, seed) => {
        let letters = text;
        let x = seed;
        while (letters.length < postChars) {
          x = (x * 1103515245 + 12345) % 2147483648;
          letters += String.fromCharCode(97 + (x % 26));
        }
        return letters;
      };
      const genesisMs = node.blocks(0, 1)[0].timestamp;
      for (let i = 1; i <= count; i++) {
        const now = genesisMs + i * 1000;
        const texts = posts[i] ? [posts[i]] : [];
        for (let k = 0; k < postsPerBlock; k++) texts.push(pad(`post ${k} of block ${i} `, i * 1000 + k));
        for (const text of texts) {
          const prepared = node.preparePost('seeder', text, now, secret);
          node.postStamped(prepared.postBytes, prepared.bits, solve(prepared.headerBytes), now);
        }
        const template = node.template(now);
        node.foundNonce(template.id, solve(template.headerBytes), now);
      }
      const socket = new WebSocket(`ws://${location.host}/ws`);
      let joined;
      const joinedPromise = new Promise((resolve) => {
        joined = resolve;
      });
      socket.onmessage = (event) => {
        const outputs = node.onText(event.data, Date.now());
        for (const o of outputs) {
          if (o.kind === 'send') socket.send(o.text);
          if (o.kind === 'event' && o.event.type === 'joined') joined();
        }
      };
      await joinedPromise;
      window.seeder = { node, socket };
      return node.height();
    },
    { count, posts, postsPerBlock, postChars },
  );
  return {
    height,
    /** The seeder's page (`window.seeder.node` is its wasm node). */
    page,
    async close() {
      await seeder.close();
    },
  };
}
