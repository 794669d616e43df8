// The page's relay failover (www/relay.js) without a browser: `relayList`
// reads `GET /api/relays`, and `RelayConnection` moves on to the next relay
// on every failure, against a stand-in WebSocket.

import { test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';

globalThis.location = { protocol: 'http:' };

/** A WebSocket that the test opens and closes by hand; `sockets` lists every one made. */
class FakeSocket {
  static OPEN = 1;
  static sockets = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    FakeSocket.sockets.push(this);
  }
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen();
  }
  fail(code = 1006) {
    this.readyState = 3;
    this.onclose({ code, reason: '' });
  }
  close() {
    this.readyState = 3;
  }
}
globalThis.WebSocket = FakeSocket;

const { relayList, RelayConnection } = await import('../www/relay.js');

const OWN = 'ws://127.0.0.1:8001/ws';
const ROWS = [
  { name: 'two', url: 'ws://127.0.0.1:8001/ws', this: true },
  { name: 'one', url: 'ws://127.0.0.1:8000/ws', this: false },
  { name: 'three', url: 'ws://127.0.0.1:8002/ws', this: false },
];

const random = Math.random;
beforeEach(() => {
  FakeSocket.sockets = [];
  // The shortest backoff: 100 ms.
  Math.random = () => 0;
});
afterEach(() => {
  Math.random = random;
});

/** Resolves once the connection has made its `n`th socket. */
async function socketNumber(n) {
  for (let waited = 0; FakeSocket.sockets.length < n; waited += 10) {
    if (waited > 2_000) throw new Error(`no socket ${n} after 2 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return FakeSocket.sockets[n - 1];
}

test('relayList: own first (named by its row), the others once, ws/wss only, at most 16', () => {
  const list = relayList(OWN, ROWS, 7);
  assert.deepEqual(list[0], { name: 'two', url: OWN });
  assert.deepEqual(list.slice(1).map((r) => r.name).sort(), ['one', 'three']);
  // The same seed, the same order.
  assert.deepEqual(relayList(OWN, ROWS, 7), list);

  const odd = [
    { name: 'none', url: null },
    { name: 'http', url: 'http://127.0.0.1:9000/ws' },
    { name: 'junk', url: 'not a url' },
    { name: 'dup', url: 'ws://127.0.0.1:8000/ws' },
    ...ROWS,
  ];
  assert.deepEqual(relayList(OWN, odd, 7).map((r) => r.name).sort(), ['dup', 'three', 'two']);
  const many = Array.from({ length: 40 }, (_, i) => ({ name: `r${i}`, url: `wss://relay${i}.example/ws` }));
  assert.equal(relayList(OWN, many).length, 16);
  // Relays behind one proxy share its address: one entry, and no telling which relay it reaches.
  const proxied = [
    { name: 'r1', url: 'ws://127.0.0.1:8001/ws', this: true },
    { name: 'r2', url: 'ws://127.0.0.1:8001/ws', this: false },
  ];
  assert.deepEqual(relayList(OWN, proxied), [{ name: null, url: OWN }]);
  // A relay alone, or an answer that is not a list: just the page's own.
  assert.deepEqual(relayList(OWN, [{ name: null, url: null, this: true }]), [{ name: null, url: OWN }]);
  assert.deepEqual(relayList(OWN, { error: 'nope' }), [{ name: null, url: OWN }]);
});

test('relayList: an https page keeps only wss relays', () => {
  globalThis.location = { protocol: 'https:' };
  try {
    const rows = [{ name: 'a', url: 'ws://a.example/ws' }, { name: 'b', url: 'wss://b.example/ws' }];
    assert.deepEqual(relayList('wss://own.example/ws', rows).map((r) => r.name), [null, 'b']);
  } finally {
    globalThis.location = { protocol: 'http:' };
  }
});

test('RelayConnection: every failure moves to the next relay; a lost relay is left at once', async () => {
  const urls = ['ws://a/ws', 'ws://b/ws', 'ws://c/ws'];
  const closes = [];
  const opened = [];
  const relay = new RelayConnection(() => urls, {
    onOpen: (url) => opened.push(url),
    onText: () => {},
    onClose: (info) => closes.push(info),
  });
  relay.start();
  try {
    (await socketNumber(1)).open();
    assert.deepEqual(opened, ['ws://a/ws']);
    assert.equal(relay.url, 'ws://a/ws');
    // a dies: the retry goes to b, which is down too, then c.
    FakeSocket.sockets[0].fail();
    assert.equal(closes[0].wasConnected, true);
    assert.equal(closes[0].next, 'ws://b/ws');
    assert.ok(closes[0].retryInMs <= 600, 'the first retry after a lost relay comes within about a second');
    const b = await socketNumber(2);
    assert.equal(b.url, 'ws://b/ws');
    b.fail();
    const c = await socketNumber(3);
    assert.equal(c.url, 'ws://c/ws');
    c.open();
    assert.equal(relay.url, 'ws://c/ws');
    assert.equal(relay.connected, true);
    // Past the end of the list: back to the first.
    c.fail();
    assert.equal((await socketNumber(4)).url, 'ws://a/ws');
  } finally {
    relay.stop();
  }
});

test('RelayConnection: a relay alone is retried, and a plain list works too', async () => {
  const relay = new RelayConnection([OWN], { onOpen: () => {}, onText: () => {}, onClose: () => {} });
  relay.start();
  try {
    (await socketNumber(1)).fail();
    (await socketNumber(2)).fail();
    assert.deepEqual(
      FakeSocket.sockets.map((s) => s.url),
      [OWN, OWN],
    );
    assert.equal((await socketNumber(3)).url, OWN);
  } finally {
    relay.stop();
  }
});
