// The tabs of one browser (one origin) talking directly, over a
// BroadcastChannel: a tab hands its siblings the posts it writes and the
// blocks it mines (the node's `sibling` outputs: the same text frames the
// relay carries), so they arrive at once, also with the relay down; and the
// siblings share one mining setting (see mining-lock.js). A frame from a
// sibling is as untrusted as one from the relay: the host gives it to its
// node (`onSiblingText`), which takes only posts and blocks for everyone and
// checks them as it checks everything. Only the tab that found or wrote
// something announces it to the relay: the relay hears it once per browser.
//
// Messages (structured clones): `{kind: 'frame', network, text}`,
// `{kind: 'mining', on, workers, gpu, held}` (the browser's mining setting;
// `gpu`: the GPU mines too; `held`: the sender holds the mining lock),
// `{kind: 'ask'}` (a new tab asks the miner for the setting).

const CHANNEL = 'tabchain';
/** At most this many workers in a mining setting from a sibling. */
const MAX_WORKERS = 256;

export class Siblings {
  /**
   * @param {{onFrame: (network: string, text: string) => void, onMining: (on: boolean, workers: number, gpu: boolean, held: boolean) => void, onAsk: () => void}} handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(CHANNEL) : null;
    if (this.channel) this.channel.onmessage = ({ data }) => this.receive(data);
  }

  /** Checks a sibling's message's shape before any handler sees it. */
  receive(data) {
    if (!data || typeof data !== 'object') return;
    if (data.kind === 'frame' && typeof data.network === 'string' && typeof data.text === 'string') {
      this.handlers.onFrame(data.network, data.text);
    } else if (data.kind === 'mining' && typeof data.on === 'boolean' && Number.isInteger(data.workers)) {
      const workers = Math.min(Math.max(0, data.workers), MAX_WORKERS);
      this.handlers.onMining(data.on, workers, data.gpu === true, data.held === true);
    } else if (data.kind === 'ask') {
      this.handlers.onAsk();
    }
  }

  post(message) {
    if (!this.channel) return;
    try {
      this.channel.postMessage(message);
    } catch (err) {
      console.warn('tabchain: could not tell the other tabs:', err);
    }
  }

  /** Hands the other tabs a post or block frame of `network`. */
  frame(network, text) {
    this.post({ kind: 'frame', network, text });
  }

  /** Tells the other tabs the browser's mining setting (`gpu`: the GPU too; `held`: this tab mines). */
  mining(on, workers, gpu, held) {
    this.post({ kind: 'mining', on, workers, gpu, held });
  }

  /** Asks the mining tab for the setting (a new tab). */
  ask() {
    this.post({ kind: 'ask' });
  }
}
