// One miner per browser: the tabs of one origin share one mining setting
// (on or off, how many workers, and whether the GPU mines too), and only the
// tab holding the Web Lock `tabchain-miner` runs workers and the GPU. The first tab asked to mine takes the lock
// and keeps it until it closes (mining off leaves it idle: no hand-over, no
// race between "stop" and the next tab's turn); the others queue behind it
// once it says it holds the lock. Start or stop in any tab changes the
// setting for all (told over the channel, tabs.js), and the holder follows
// it; when the holder closes, the browser releases its lock and the next tab
// in the queue takes over with the same setting. Without Web Locks (an old
// browser, an insecure context) each tab mines for itself, as before.

const LOCK = 'tabchain-miner';

export class MiningLock {
  /**
   * @param {{run: (workers: number, gpu: boolean) => void, stop: () => void, tell: (on: boolean, workers: number, gpu: boolean, held: boolean) => void, changed: () => void}} handlers
   *   `run`: mine here with that many workers (and the GPU); `stop`: stop mining here; `tell`: the setting for the other
   *   tabs (`held`: this tab holds the lock); `changed`: the setting or the holder changed
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.locks = navigator.locks && typeof navigator.locks.request === 'function' ? navigator.locks : null;
    this.on = false;
    this.workers = 0;
    /** Whether the GPU mines beside the workers. */
    this.gpu = false;
    /** Whether this tab holds the lock (and mines while the setting is on). */
    this.holding = false;
    this.queued = false;
  }

  /** This tab's user (or API) sets the browser's mining: every tab hears it. */
  set(on, workers, gpu) {
    this.adopt(on, workers, gpu, true);
    this.handlers.tell(this.on, this.workers, this.gpu, this.holding);
  }

  /** Another tab set the browser's mining (`held`: that tab holds the lock). */
  heard(on, workers, gpu, held) {
    if (!this.locks) return;
    this.adopt(on, workers, gpu, held);
  }

  /** A new tab asks: the holder tells it the setting. */
  asked() {
    if (this.holding) this.handlers.tell(this.on, this.workers, this.gpu, true);
  }

  /** Takes the setting; queues for the lock when mining is on and `queue` (this tab asked, or a holder spoke). */
  adopt(on, workers, gpu, queue) {
    this.gpu = Boolean(gpu);
    this.on = Boolean(on) && (workers > 0 || this.gpu);
    this.workers = workers;
    if (!this.locks || this.holding) {
      if (this.on) this.handlers.run(this.workers, this.gpu);
      else this.handlers.stop();
    } else if (this.on && queue) {
      this.queue();
    }
    this.handlers.changed();
  }

  /** Queues for the lock, once; holds it until the tab closes. */
  queue() {
    if (this.queued) return;
    this.queued = true;
    this.locks
      .request(LOCK, async () => {
        this.holding = true;
        if (this.on) this.handlers.run(this.workers, this.gpu);
        // The others queue behind this tab now.
        this.handlers.tell(this.on, this.workers, this.gpu, true);
        this.handlers.changed();
        await new Promise(() => {});
      })
      .catch((err) => console.warn('tabchain: mining lock:', err));
  }

  /** Mining is on but another tab of this browser runs it. */
  get elsewhere() {
    return Boolean(this.locks) && this.on && !this.holding;
  }
}
