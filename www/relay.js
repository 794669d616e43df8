// The websocket to the relay: reconnects with exponential backoff and full
// jitter (so a relay restart is not hit by every tab at once), and reports
// open / text / close to its owner. Frames are passed on as text, untouched:
// the wasm node parses them (JSON numbers above 2^53 must not pass through
// JSON.parse).
//
// In a cluster of relays the tab knows several relays' addresses (`relayList`:
// the page's own relay first, then the others of `GET /api/relays` in an
// order of the tab's own, so the tabs of a dead relay spread over the rest):
// every failed or lost connection moves on to the next address, so the first
// retry after its relay dies (within about a second) goes to another relay.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;
/** At most this many relay addresses are kept. */
const MAX_RELAYS = 16;

/** `text` as a normalized ws: or wss: URL (only wss: on an https: page), else null. */
function websocketUrl(text) {
  if (typeof text !== 'string') return null;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  const allowed = location.protocol === 'https:' ? ['wss:'] : ['ws:', 'wss:'];
  return allowed.includes(url.protocol) ? url.href : null;
}

/** A number for `text` that depends on `seed` (FNV-1a from the seed). */
function rank(seed, text) {
  let hash = (seed ^ 2166136261) >>> 0;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619) >>> 0;
  return hash;
}

/**
 * The relays a tab may use, `[{name, url}]`: `own` (this page's relay, named
 * after the row `this` of `rows`) first, then every other row's ws:/wss: url
 * once, in an order `seed` picks (the same every time for one seed), at most
 * 16 in all. `rows` is the JSON of `GET /api/relays`; anything else leaves
 * `own` alone. When other relays share `own`'s address (relays behind one
 * proxy), which one a websocket reaches is not known: `own` has no name.
 */
export function relayList(own, rows, seed = 0) {
  const list = [{ name: null, url: websocketUrl(own) ?? own }];
  if (!Array.isArray(rows)) return list;
  let ownName = null;
  let shared = false;
  for (const row of rows) {
    if (!row || typeof row !== 'object') continue;
    const name = typeof row.name === 'string' ? row.name : null;
    if (row.this === true) {
      ownName = name;
      continue;
    }
    const url = websocketUrl(row.url);
    if (url === list[0].url) shared = true;
    else if (url && list.length < MAX_RELAYS && !list.some((relay) => relay.url === url)) list.push({ name, url });
  }
  list[0].name = shared ? null : ownName;
  const others = list.slice(1).sort((x, y) => rank(seed, x.url) - rank(seed, y.url));
  return [list[0], ...others];
}

export class RelayConnection {
  /**
   * @param {string[] | (() => string[])} relays ws:// or wss:// addresses of relays' /ws, the preferred first
   *   (or a function returning them, asked at every retry)
   * @param {{onOpen: (url: string) => void, onText: (text: string) => void, onClose: (info: {code: number, reason: string, retryInMs: number, wasConnected: boolean, next: string}) => void}} handlers
   * @param {{after: (ms: number, fn: () => void) => any, cancel: (id: any) => void}} [clock] the retry timer
   *   (host.js passes a worker's clock, not throttled in a hidden tab; default: the page's timers)
   */
  constructor(relays, handlers, clock = { after: (ms, fn) => setTimeout(fn, ms), cancel: (id) => clearTimeout(id) }) {
    this.relays = typeof relays === 'function' ? relays : () => relays;
    this.handlers = handlers;
    this.clock = clock;
    /** The address connected to, or being tried. */
    this.url = null;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.connected = false;
  }

  /** Connects (again) to the address in use, the first one at the start. */
  start() {
    this.stopped = false;
    if (this.url === null) this.url = this.relays()[0] ?? null;
    this.connect();
  }

  /** The address after the one in use (wrapping around; the first when it left the list). */
  nextUrl() {
    const list = this.relays();
    if (list.length === 0) return this.url;
    return list[(list.indexOf(this.url) + 1) % list.length];
  }

  connect() {
    this.clock.cancel(this.timer);
    this.timer = null;
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(0, String(err));
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.connected = true;
      this.handlers.onOpen(this.url);
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') this.handlers.onText(event.data);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      const wasConnected = this.connected;
      this.connected = false;
      this.scheduleReconnect(event.code, event.reason, wasConnected);
    };
    socket.onerror = () => {
      // A close event follows; nothing to do here.
    };
  }

  /** After a failure: the next relay, after a random delay that grows with every failure in a row. */
  scheduleReconnect(code, reason, wasConnected = false) {
    if (this.stopped) return;
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(this.attempt, 10));
    const retryInMs = Math.round(Math.random() * cap) + 100;
    this.attempt += 1;
    this.url = this.nextUrl();
    this.handlers.onClose({ code, reason, retryInMs, wasConnected, next: this.url });
    this.timer = this.clock.after(retryInMs, () => this.connect());
  }

  /** Sends a text frame; false when not connected (the caller keeps the data). */
  send(text) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(text);
    return true;
  }

  /** Closes for good (no reconnect). */
  stop() {
    this.stopped = true;
    this.clock.cancel(this.timer);
    this.timer = null;
    if (this.socket) this.socket.close(1000, 'tab closing');
    this.socket = null;
    this.connected = false;
  }
}
