// One miner per browser: the tabs of one origin share one mining setting
// (on or off, and how many workers), and only the tab holding the Web Lock
// `tabchain-miner` runs workers; the others wait in the lock's queue while
// mining is on. Start or stop in any tab changes the setting for all of them
// (told over the channel, tabs.js); when the mining tab closes, the browser
// releases its lock and a waiting tab takes over with the same worker count.
// The tab where mining starts asks for the lock first; the others queue once
// the holder says it mines, so the tab that was asked is the one that mines.
// Without Web Locks (an old browser, an insecure context) each tab mines for
// itself, as before.

const LOCK = 'tabchain-miner';

export class MiningLock {
  /**
   * @param {{run: (workers: number) => void, stop: () => void, tell: (on: boolean, workers: number, held: boolean) => void, changed: () => void}} handlers
   *   `run`: mine here with that many workers; `stop`: stop mining here; `tell`: the setting for the other
   *   tabs (`held`: this tab holds the lock); `changed`: the setting or the holder changed
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.locks = navigator.locks && typeof navigator.locks.request === 'function' ? navigator.locks : null;
    this.on = false;
    this.workers = 0;
    /** Whether this tab holds the lock (and mines). */
    this.holding = false;
    this.waiting = null;
    this.release = null;
  }

  /** This tab's user (or API) sets the browser's mining: every tab hears it. */
  set(on, workers) {
    on = Boolean(on) && workers > 0;
    if (on) {
      // Asked for first: this tab mines unless another already does.
      this.adopt(on, workers, true);
      this.handlers.tell(on, workers, this.holding);
    } else {
      // Told first: a tab waiting for the lock this one releases should hear "off" before it gets it.
      this.handlers.tell(on, workers, this.holding);
      this.adopt(on, workers, true);
    }
  }

  /** Another tab set the browser's mining (`held`: that tab mines). */
  heard(on, workers, held) {
    if (!this.locks) return;
    this.adopt(on, workers, held);
  }

  /** A new tab asks: the mining tab tells it the setting. */
  asked() {
    if (this.holding) this.handlers.tell(this.on, this.workers, true);
  }

  /** Takes the setting; queues for the lock only when `queue` (this tab asked, or a holder said it mines). */
  adopt(on, workers, queue) {
    this.on = Boolean(on) && workers > 0;
    this.workers = workers;
    if (!this.locks) {
      if (this.on) this.handlers.run(this.workers);
      else this.handlers.stop();
    } else if (this.holding) {
      if (this.on) this.handlers.run(this.workers);
      else this.release();
    } else if (this.on) {
      if (queue) this.wait();
    } else if (this.waiting) {
      this.waiting.abort();
      this.waiting = null;
    }
    this.handlers.changed();
  }

  /** Queues for the lock; mines while holding it, until mining stops or the tab closes. */
  wait() {
    if (this.waiting) return;
    const waiting = new AbortController();
    this.waiting = waiting;
    this.locks
      .request(LOCK, { signal: waiting.signal }, async () => {
        if (this.waiting === waiting) this.waiting = null;
        if (!this.on) return;
        this.holding = true;
        this.handlers.run(this.workers);
        // The others queue behind this tab now.
        this.handlers.tell(this.on, this.workers, true);
        this.handlers.changed();
        await new Promise((resolve) => {
          this.release = resolve;
        });
        this.release = null;
        this.holding = false;
        this.handlers.stop();
        this.handlers.changed();
      })
      .catch((err) => {
        if (this.waiting === waiting) this.waiting = null;
        if (err && err.name !== 'AbortError') console.warn('tabchain: mining lock:', err);
      });
  }

  /** Mining is on but another tab of this browser runs it. */
  get elsewhere() {
    return Boolean(this.locks) && this.on && !this.holding;
  }
}
