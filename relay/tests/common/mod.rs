//! Helpers for the relay's websocket tests: a relay on `127.0.0.1:0`, a
//! websocket [`Client`] with timeouts and clear panics (also from other
//! loopback addresses, 127.0.0.2 and on, and raw upgrades that report the
//! status they were refused with), and the wire messages tests send. Dev-network blocks and posts come from the test kit
//! (`tabchain_core::testkit`), re-exported here.
#![allow(dead_code)]

pub use tabchain_core::testkit::*;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use std::str::FromStr as _;
use tabchain_core::block::Block;
use tabchain_core::hash::BlockHash;
use tabchain_core::post::Post;
use tabchain_core::target::Work;
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PROTOCOL_VERSION, PeerId, PeerInfo};
use tabchain_relay::{Config, Network, RunningRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, client_async, connect_async};

/// How long any single expected event may take before a test fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// A relay serving on an ephemeral loopback port: a [`RunningRelay`]
/// (`relay`, `addr`) with test conveniences.
pub struct TestRelay(RunningRelay);

impl std::ops::Deref for TestRelay {
    type Target = RunningRelay;

    fn deref(&self) -> &RunningRelay {
        &self.0
    }
}

/// A directory for the (unused) web app; it need not hold anything.
fn www() -> PathBuf {
    std::env::temp_dir().join(format!("tabchain-relay-ws-test-{}", std::process::id()))
}

/// Starts a dev relay whose [`Config`] is adjusted by `tweak`.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> TestRelay {
    let mut config = Config::new(Network::Dev, www());
    tweak(&mut config);
    TestRelay(
        tabchain_relay::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("the test relay starts"),
    )
}

impl TestRelay {
    /// A relay with the default dev settings.
    pub async fn default() -> Self {
        start(|_| {}).await
    }

    /// Ids of the connections the relay holds.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.relay.peers().iter().map(|p| p.id).collect()
    }
}

/// Waits (polling every 10 ms, up to [`TIMEOUT`]) until `cond` holds.
pub async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug)]
pub enum Ended {
    /// A close frame with this code and reason.
    Close(u16, String),
    /// A close frame without a code.
    CloseWithoutCode,
    /// The stream ended or failed without a close frame.
    NoCloseFrame(String),
}

/// A client's websocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Whether a message is only news about other peers joining or leaving.
pub fn is_peer_news(envelope: &Envelope) -> bool {
    matches!(envelope.message, Message::PeerJoined { .. } | Message::PeerLeft { .. })
}

/// One websocket peer of the relay.
pub struct Client {
    ws: Ws,
    /// Name in panics (and the agent of its `Hello`).
    pub name: String,
    /// The id from its `Welcome`.
    pub id: PeerId,
    /// The peers listed in its `Welcome`.
    pub welcome_peers: Vec<PeerInfo>,
}

/// Nonces for [`Client::sync`], unique across clients.
static NONCES: AtomicU64 = AtomicU64::new(1 << 40);

impl Client {
    /// Opens `/ws` and reads the `Welcome`, checking its network and chain id.
    pub async fn connect(addr: SocketAddr, name: &str) -> Client {
        let (ws, _) = tokio::time::timeout(TIMEOUT, connect_async(format!("ws://{addr}/ws")))
            .await
            .unwrap_or_else(|_| panic!("{name}: websocket handshake timed out"))
            .unwrap_or_else(|e| panic!("{name}: websocket handshake failed: {e}"));
        Client::welcomed(ws, name).await
    }

    /// [`Client::connect`] from the loopback address `from` (127.0.0.2,
    /// 127.0.0.3, …: distinct client addresses to the relay).
    pub async fn connect_from(addr: SocketAddr, from: [u8; 4], name: &str) -> Client {
        let ws = try_upgrade_from(addr, from, &[])
            .await
            .unwrap_or_else(|status| panic!("{name}: the upgrade was refused with {status}"));
        Client::welcomed(ws, name).await
    }

    /// [`Client::connect`] with the socket's receive buffer set to `bytes`
    /// (which turns off the kernel's growing of it): a client that reads
    /// slowly then fills its queue at the relay after little more than
    /// `bytes`, not after the megabytes Linux would buffer for it.
    pub async fn connect_with_receive_buffer(addr: SocketAddr, name: &str, bytes: u32) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_recv_buffer_size(bytes).expect("setting SO_RCVBUF");
        let stream = tokio::time::timeout(TIMEOUT, socket.connect(addr))
            .await
            .unwrap_or_else(|_| panic!("{name}: TCP connect timed out"))
            .unwrap_or_else(|e| panic!("{name}: TCP connect failed: {e}"));
        let handshake = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), MaybeTlsStream::Plain(stream));
        let (ws, _) = tokio::time::timeout(TIMEOUT, handshake)
            .await
            .unwrap_or_else(|_| panic!("{name}: websocket handshake timed out"))
            .unwrap_or_else(|e| panic!("{name}: websocket handshake failed: {e}"));
        Self::welcomed(ws, name).await
    }

    /// Reads the `Welcome` on a fresh websocket, checking its network and chain id.
    async fn welcomed(ws: Ws, name: &str) -> Client {
        let mut client = Client { ws, name: name.to_owned(), id: PeerId(0), welcome_peers: Vec::new() };
        let welcome = client.recv().await;
        let Message::Welcome { peer_id, network, chain_id, peers } = welcome.message else {
            panic!("{name}: first message is not Welcome: {welcome:?}");
        };
        assert_eq!(network, Network::Dev, "{name}: Welcome network");
        assert_eq!(chain_id, dev_chain_id(), "{name}: Welcome chain id");
        assert_eq!((welcome.from, welcome.to), (None, None), "{name}: Welcome is from the relay");
        client.id = peer_id;
        client.welcome_peers = peers;
        client
    }

    /// Sends one message.
    pub async fn send(&mut self, envelope: Envelope) {
        let text = wire::encode(&envelope).unwrap_or_else(|e| panic!("{}: cannot encode {envelope:?}: {e}", self.name));
        self.send_text(&text).await;
    }

    /// Sends `message` without `to`.
    pub async fn broadcast(&mut self, message: Message) {
        self.send(Envelope::broadcast(message)).await;
    }

    /// Sends `message` addressed to `to`.
    pub async fn send_to(&mut self, to: PeerId, message: Message) {
        self.send(Envelope::to(to, message)).await;
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(WsMessage::text(text)).await;
    }

    /// Sends any websocket frame.
    pub async fn send_frame(&mut self, frame: WsMessage) {
        let name = &self.name;
        tokio::time::timeout(TIMEOUT, self.ws.send(frame))
            .await
            .unwrap_or_else(|_| panic!("{name}: send timed out"))
            .unwrap_or_else(|e| panic!("{name}: send failed: {e}"));
    }

    /// Sends a `Hello` for the dev chain.
    pub async fn hello(&mut self, total_work: Work, best_hash: BlockHash) {
        let hello = hello(&self.name, total_work, best_hash);
        self.broadcast(hello).await;
    }

    /// The next text message within [`TIMEOUT`] (websocket pings and pongs
    /// skipped); panics on anything else.
    pub async fn recv(&mut self) -> Envelope {
        self.recv_within(TIMEOUT).await.unwrap_or_else(|| panic!("{}: no message within {TIMEOUT:?}", self.name))
    }

    /// The next text message, or `None` if `within` passes first.
    async fn recv_within(&mut self, within: Duration) -> Option<Envelope> {
        let name = self.name.clone();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.ok()?;
            match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    return Some(
                        wire::decode(text.as_str())
                            .unwrap_or_else(|e| panic!("{name}: relay sent an undecodable message ({e}): {text}")),
                    );
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                Some(Ok(WsMessage::Binary(b))) => panic!("{name}: unexpected binary frame of {} bytes", b.len()),
                Some(Ok(WsMessage::Close(frame))) => panic!("{name}: expected a message, got close {frame:?}"),
                Some(Err(e)) => panic!("{name}: expected a message, got error {e}"),
                None => panic!("{name}: expected a message, the connection ended"),
            }
        }
    }

    /// The next text frame as it came, within [`TIMEOUT`] (pings and pongs
    /// skipped): for readers that check many messages cheaply.
    pub async fn recv_raw(&mut self) -> String {
        let name = &self.name;
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{name}: no message within {TIMEOUT:?}"));
            match frame {
                Some(Ok(WsMessage::Text(text))) => return text.as_str().to_owned(),
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                other => panic!("{name}: expected a text message, got {other:?}"),
            }
        }
    }

    /// The next message of `kind` (its `"type"`), skipping `PeerJoined` and
    /// `PeerLeft`; panics on any other message.
    pub async fn recv_kind(&mut self, kind: &str) -> Envelope {
        loop {
            let envelope = self.recv().await;
            if envelope.message.kind() == kind {
                return envelope;
            }
            assert!(is_peer_news(&envelope), "{}: expected {kind}, got {envelope:?}", self.name);
        }
    }

    /// The next message of one of `kinds`, skipping peer news; panics on others.
    pub async fn recv_kind_of(&mut self, kinds: &[&str]) -> Envelope {
        loop {
            let envelope = self.recv().await;
            if kinds.contains(&envelope.message.kind()) {
                return envelope;
            }
            assert!(is_peer_news(&envelope), "{}: expected one of {kinds:?}, got {envelope:?}", self.name);
        }
    }

    /// The next `Error` (skipping peer news): asserts its code, returns its text.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        let envelope = self.recv_kind("Error").await;
        let Message::Error { code: got, message } = envelope.message else { unreachable!() };
        assert_eq!(got, code, "{}: error code (message: {message})", self.name);
        assert_eq!(envelope.from, None, "{}: errors come from the relay", self.name);
        message
    }

    /// The next text message within `within`, without panicking: `Ok(None)`
    /// if none came in time, `Err` with what the client saw if the
    /// connection ended (for tests where a disconnection is the failure
    /// being looked for).
    pub async fn next_within(&mut self, within: Duration) -> Result<Option<Envelope>, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let Ok(frame) = tokio::time::timeout_at(deadline, self.ws.next()).await else { return Ok(None) };
            match frame {
                Some(Ok(WsMessage::Text(text))) => {
                    return wire::decode(text.as_str()).map(Some).map_err(|e| format!("undecodable message ({e})"));
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                Some(Ok(WsMessage::Binary(b))) => return Err(format!("a binary frame of {} bytes", b.len())),
                Some(Ok(WsMessage::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Err(e)) => return Err(format!("error: {e}")),
                None => return Err("the connection ended".to_owned()),
            }
        }
    }

    /// Reads, without decoding, every frame already waiting; returns how
    /// many text frames there were (for clients that only need to keep
    /// their queue at the relay from filling). Panics if the connection ended.
    pub async fn drain(&mut self) -> usize {
        let mut count = 0;
        loop {
            match tokio::time::timeout(Duration::ZERO, self.ws.next()).await {
                Err(_) => return count,
                Ok(Some(Ok(WsMessage::Text(_)))) => count += 1,
                Ok(Some(Ok(WsMessage::Close(frame)))) => panic!("{}: closed while draining: {frame:?}", self.name),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => panic!("{}: error while draining: {e}", self.name),
                Ok(None) => panic!("{}: the connection ended while draining", self.name),
            }
        }
    }

    /// Reads until the connection ends, skipping peer news; panics on other messages.
    pub async fn ended(&mut self) -> Ended {
        let name = self.name.clone();
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{name}: connection still open after {TIMEOUT:?}"));
            match frame {
                Some(Ok(WsMessage::Close(Some(frame)))) => {
                    return Ended::Close(frame.code.into(), frame.reason.as_str().to_owned());
                }
                Some(Ok(WsMessage::Close(None))) => return Ended::CloseWithoutCode,
                Some(Ok(WsMessage::Text(text))) => {
                    let envelope = wire::decode(text.as_str()).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
                    assert!(is_peer_news(&envelope), "{name}: expected the close, got {envelope:?}");
                }
                Some(Ok(WsMessage::Binary(b))) => panic!("{name}: unexpected binary frame of {} bytes", b.len()),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::NoCloseFrame(format!("error: {e}")),
                None => return Ended::NoCloseFrame("stream ended".to_owned()),
            }
        }
    }

    /// Waits for the relay's close frame (skipping peer news) and returns its code.
    pub async fn expect_close(&mut self) -> u16 {
        match self.ended().await {
            Ended::Close(code, _) => code,
            other => panic!("{}: expected a close frame, got {other:?}", self.name),
        }
    }

    /// Asserts that no text message arrives for `ms` milliseconds.
    pub async fn expect_silence(&mut self, ms: u64) {
        if let Some(envelope) = self.recv_within(Duration::from_millis(ms)).await {
            panic!("{}: expected nothing, got {envelope:?}", self.name);
        }
    }

    /// Round trip through the relay: pings it and returns everything that
    /// arrived before the `Pong`, peer news left out. The relay handles a
    /// connection's messages in order, so whatever an earlier message of this
    /// client caused to be sent back to it is in the result.
    pub async fn sync(&mut self) -> Vec<Envelope> {
        let nonce = NONCES.fetch_add(1, Ordering::Relaxed);
        self.broadcast(Message::Ping { nonce }).await;
        let mut before = Vec::new();
        loop {
            let envelope = self.recv().await;
            match envelope.message {
                Message::Pong { nonce: n } if n == nonce && envelope.from.is_none() => return before,
                _ if is_peer_news(&envelope) => {}
                _ => before.push(envelope),
            }
        }
    }

    /// [`Client::sync`], asserting nothing else came back.
    pub async fn sync_quiet(&mut self) {
        let got = self.sync().await;
        assert!(got.is_empty(), "{}: expected nothing back, got {got:?}", self.name);
    }
}

/// A dev-chain `Hello` from `agent`.
pub fn hello(agent: &str, total_work: Work, best_hash: BlockHash) -> Message {
    Message::Hello {
        chain_id: dev_chain_id(),
        protocol: PROTOCOL_VERSION,
        agent: agent.to_owned(),
        best_height: 7,
        best_hash,
        total_work,
    }
}

/// Connects and says `Hello` (best hash made up from `agent`), returning once
/// the client has seen its own `PeerJoined`, so it is in the relay's peer list
/// and receives broadcasts.
pub async fn join(addr: SocketAddr, agent: &str, total_work: Work) -> Client {
    join_at(addr, agent, total_work, fake_hash(agent)).await
}

/// [`join`] with a chosen best hash.
pub async fn join_at(addr: SocketAddr, agent: &str, total_work: Work, best_hash: BlockHash) -> Client {
    joined(Client::connect(addr, agent).await, total_work, best_hash).await
}

/// Says `Hello` on a connected `client` and waits for its own `PeerJoined`.
pub async fn joined(mut client: Client, total_work: Work, best_hash: BlockHash) -> Client {
    let agent = client.name.clone();
    let agent = agent.as_str();
    client.hello(total_work, best_hash).await;
    loop {
        let envelope = client.recv().await;
        match envelope.message {
            Message::PeerJoined { peer } if peer.id == client.id => {
                assert_eq!(peer.agent, agent);
                assert_eq!(peer.total_work, total_work);
                assert_eq!(peer.best_height, 7);
                return client;
            }
            Message::PeerJoined { .. } | Message::PeerLeft { .. } => {}
            other => panic!("{agent}: expected its PeerJoined, got {other:?}"),
        }
    }
}

/// Opens `/ws` from the loopback address `from` with extra request
/// `headers`: the websocket, or the HTTP status it was refused with.
pub async fn try_upgrade_from(addr: SocketAddr, from: [u8; 4], headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let stream = tokio::time::timeout(TIMEOUT, socket.connect(addr)).await.expect("TCP connect in time").unwrap();
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(HeaderName::from_str(name).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    let handshake = client_async(request, MaybeTlsStream::Plain(stream));
    match tokio::time::timeout(TIMEOUT, handshake).await.expect("websocket handshake in time") {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("websocket handshake failed: {e}"),
    }
}

/// Connects from `from` and says `Hello` ([`join`] from another address).
pub async fn join_from(addr: SocketAddr, from: [u8; 4], agent: &str, total_work: Work) -> Client {
    let client = Client::connect_from(addr, from, agent).await;
    joined(client, total_work, fake_hash(agent)).await
}

/// `Tx` for `post`.
pub fn tx(post: Post) -> Message {
    Message::Tx { tx: post }
}

/// `Block` for `block`.
pub fn block_msg(block: Block) -> Message {
    Message::Block { block }
}

/// `GET path` over raw HTTP/1.1; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw)).await.expect("HTTP response in time").unwrap();
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a header terminator");
    let status = head.split(' ').nth(1).expect("a status line").parse().expect("a numeric status");
    (status, body.to_owned())
}
