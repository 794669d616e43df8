// The websocket to the relay: reconnects with exponential backoff and full
// jitter (so a relay restart is not hit by every tab at once), and reports
// open / text / close to its owner. Frames are passed on as text, untouched:
// the wasm node parses them (JSON numbers above 2^53 must not pass through
// JSON.parse).

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;

export class RelayConnection {
  /**
   * @param {string} url ws:// or wss:// address of the relay's /ws
   * @param {{onOpen: () => void, onText: (text: string) => void, onClose: (info: {code: number, reason: string, retryInMs: number}) => void}} handlers
   */
  constructor(url, handlers) {
    this.url = url;
    this.handlers = handlers;
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.connected = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    clearTimeout(this.timer);
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
      this.handlers.onOpen();
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

  scheduleReconnect(code, reason, wasConnected = false) {
    if (this.stopped) return;
    const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** Math.min(this.attempt, 10));
    const retryInMs = Math.round(Math.random() * cap) + 100;
    this.attempt += 1;
    this.handlers.onClose({ code, reason, retryInMs, wasConnected });
    this.timer = setTimeout(() => this.connect(), retryInMs);
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
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, 'tab closing');
    this.socket = null;
  }
}
