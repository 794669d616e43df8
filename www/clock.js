// Timers that keep time in a hidden tab. Browsers throttle a hidden page's
// own setTimeout/setInterval (Chrome: at most once a second, once a minute
// after five minutes hidden), but not a worker's, and a worker's message runs
// the page's handler at once: the host loop's tick, the mining template's
// 50 ms gap and the relay's reconnect wait run on this clock, so a hidden tab
// keeps mining and syncing. Without workers it falls back to the page's timers.

export class Clock {
  constructor() {
    this.handlers = new Map();
    this.nextId = 1;
    try {
      this.worker = new Worker(new URL('./clock-worker.js', import.meta.url));
      this.worker.onmessage = ({ data }) => this.fire(data);
    } catch {
      this.worker = null;
    }
  }

  fire(id) {
    const timer = this.handlers.get(id);
    if (!timer) return;
    if (!timer.repeat) this.handlers.delete(id);
    timer.fn();
  }

  start(ms, fn, repeat) {
    const id = this.nextId++;
    this.handlers.set(id, { fn, repeat });
    if (this.worker) this.worker.postMessage({ id, ms, repeat });
    else timerFallback.set(id, (repeat ? setInterval : setTimeout)(() => this.fire(id), ms));
    return id;
  }

  /** Calls `fn` once after `ms`; returns an id for `cancel`. */
  after(ms, fn) {
    return this.start(ms, fn, false);
  }

  /** Calls `fn` every `ms`; returns an id for `cancel`. */
  every(ms, fn) {
    return this.start(ms, fn, true);
  }

  /** Stops the timer `id` (nothing for null or a timer that fired). */
  cancel(id) {
    if (id === null || id === undefined || !this.handlers.delete(id)) return;
    if (this.worker) this.worker.postMessage({ id, cancel: true });
    else {
      clearTimeout(timerFallback.get(id));
      clearInterval(timerFallback.get(id));
      timerFallback.delete(id);
    }
  }
}

/** The page's own timers, by clock id, when there is no worker. */
const timerFallback = new Map();
