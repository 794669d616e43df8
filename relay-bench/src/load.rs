//! The load generator: N WebSocket clients in this process's tokio runtime,
//! the same code for every server so the comparison is fair.
//!
//! Every client reads every frame for the whole run and counts the `Block`
//! frames it receives; a few of them also announce blocks. Against the relay a
//! client first does the protocol handshake (`Welcome` → `Hello` → its own
//! `PeerJoined`); the bare baselines skip it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tabchain_core::target::Work;
use tabchain_core::wire::{Envelope, Message as Wire, PROTOCOL_VERSION, decode, encode};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::blocks::sequence_number;

/// A client connection.
type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
/// The sending half of a client connection.
pub type Sink = SplitSink<Ws, Message>;

/// A registered client: its sending half, its reader task and its counters.
type Connected = (Sink, JoinHandle<()>, Arc<ClientStats>);

/// How long one client may take to connect and finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Where a `Block` frame says so: `"type":"Block"` must be in its first bytes
/// (`{"type":"Block",…` verbatim, or `{"from":ID,"type":"Block",…` from the relay).
const TYPE_BLOCK: &[u8] = br#""type":"Block""#;
/// How many leading bytes of a frame are searched for [`TYPE_BLOCK`].
const HEAD_BYTES: usize = 64;
/// How long a window-limited announcer waits for a wake-up before it looks again.
const WINDOW_POLL: Duration = Duration::from_millis(5);

/// Counters and latency samples of one run, shared by all its clients.
pub struct Shared {
    /// `Block` frames received, by all clients together.
    pub delivered: AtomicU64,
    /// `Block` frames announced, by all announcers together.
    pub announced: AtomicU64,
    /// Connections the server closed or broke while we were not shutting down.
    pub disconnected: AtomicU64,
    /// Set before the benchmark closes the connections itself.
    pub closing: AtomicBool,
    /// Set while receivers should time deliveries.
    pub timing: AtomicBool,
    /// Blocks with this sequence number or above are counted per client in
    /// [`ClientStats::tracked`] (`u64::MAX`: none).
    pub track_from: AtomicU64,
    /// The clock every timestamp counts from.
    epoch: Instant,
    /// Per sequence number: when it was sent, in nanoseconds after `epoch` plus
    /// one (0: not timed).
    sent_at: Vec<AtomicU64>,
    /// Announce-to-receipt latencies, microseconds, per group of receivers
    /// (the relay a client is connected to).
    latencies: Vec<Mutex<Vec<u32>>>,
    /// Wakes window-limited announcers: every `wake_every` deliveries (about
    /// one announcement's worth).
    window_open: Notify,
    wake_every: u64,
}

impl Shared {
    /// Counters for a run over `blocks` distinct sequence numbers with
    /// `receivers` receivers per announcement, in `groups` groups.
    pub fn new(blocks: usize, receivers: u64, groups: usize) -> Arc<Self> {
        Arc::new(Shared {
            delivered: AtomicU64::new(0),
            announced: AtomicU64::new(0),
            disconnected: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            timing: AtomicBool::new(false),
            track_from: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            sent_at: (0..blocks).map(|_| AtomicU64::new(0)).collect(),
            latencies: (0..groups.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
            window_open: Notify::new(),
            wake_every: receivers.max(1),
        })
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Notes that block `seq` is being sent now, for latency timing.
    fn mark_sent(&self, seq: usize) {
        self.sent_at[seq].store(self.now_ns() + 1, Ordering::Release);
    }

    /// Takes the latency samples of receivers in `group` collected so far,
    /// in microseconds.
    pub fn take_latencies(&self, group: usize) -> Vec<u32> {
        std::mem::take(&mut *self.latencies[group].lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Handles one text frame received by `client`.
    fn on_text(&self, text: &str, client: &ClientStats) {
        client.frames.fetch_add(1, Ordering::Relaxed);
        let head = &text.as_bytes()[..text.len().min(HEAD_BYTES)];
        if !head.windows(TYPE_BLOCK.len()).any(|w| w == TYPE_BLOCK) {
            return;
        }
        if (self.delivered.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.wake_every) {
            self.window_open.notify_waiters();
        }
        let timing = self.timing.load(Ordering::Relaxed);
        let track_from = self.track_from.load(Ordering::Relaxed);
        if !timing && track_from == u64::MAX {
            return;
        }
        let Some(seq) = sequence_number(text) else { return };
        if seq as u64 >= track_from {
            client.tracked.fetch_add(1, Ordering::Relaxed);
        }
        if !timing {
            return;
        }
        let Some(sent) = self.sent_at.get(seq) else { return };
        let sent = sent.load(Ordering::Acquire);
        if sent != 0 {
            let micros = (self.now_ns().saturating_sub(sent - 1) / 1_000).min(u32::MAX as u64) as u32;
            let group = client.group.min(self.latencies.len() - 1);
            self.latencies[group].lock().unwrap_or_else(PoisonError::into_inner).push(micros);
        }
    }
}

/// One client's own counters (nobody else writes them: no contention).
pub struct ClientStats {
    /// Its group: the index of the relay it is connected to.
    pub group: usize,
    /// Text frames received, of any type.
    pub frames: AtomicU64,
    /// `Block` frames received whose sequence number is at least
    /// [`Shared::track_from`].
    pub tracked: AtomicU64,
    /// Whether its connection ended without the benchmark closing it.
    pub disconnected: AtomicBool,
}

/// N connected clients: their sending halves, their reader tasks and their
/// counters (index `i` of each is client `i`).
pub struct Clients {
    /// One sending half per client.
    pub sinks: Vec<Sink>,
    readers: Vec<JoinHandle<()>>,
    /// One set of counters per client.
    pub stats: Vec<Arc<ClientStats>>,
}

impl Clients {
    /// Appends the clients of `other` after these.
    pub fn append(&mut self, mut other: Clients) {
        self.sinks.append(&mut other.sinks);
        self.readers.append(&mut other.readers);
        self.stats.append(&mut other.stats);
    }

    /// Text frames received by all clients together.
    pub fn frames(&self) -> u64 {
        self.stats.iter().map(|s| s.frames.load(Ordering::Relaxed)).sum()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Connects `n` clients of group `group` to `url`, at most `concurrency` at a
/// time; with `handshake`, each speaks the relay protocol until it is
/// registered (has seen its own `PeerJoined`). Every client then reads all
/// frames into `shared` and its own counters.
pub async fn connect_all(
    url: &str,
    n: usize,
    concurrency: usize,
    handshake: bool,
    shared: &Arc<Shared>,
    group: usize,
) -> Result<Clients> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let tasks: Vec<JoinHandle<Result<Connected>>> = (0..n)
        .map(|i| {
            let (url, permits, shared) = (url.to_owned(), permits.clone(), shared.clone());
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.context("connection semaphore closed")?;
                let ws = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(&url, handshake))
                    .await
                    .with_context(|| format!("client {i}: no connection and handshake within {HANDSHAKE_TIMEOUT:?}"))?
                    .with_context(|| format!("client {i}"))?;
                let (sink, stream) = ws.split();
                let stats = Arc::new(ClientStats {
                    group,
                    frames: AtomicU64::new(0),
                    tracked: AtomicU64::new(0),
                    disconnected: AtomicBool::new(false),
                });
                Ok((sink, tokio::spawn(read_all(stream, shared, stats.clone())), stats))
            })
        })
        .collect();
    let mut clients =
        Clients { sinks: Vec::with_capacity(n), readers: Vec::with_capacity(n), stats: Vec::with_capacity(n) };
    let mut first_error = None;
    for task in tasks {
        match task.await.context("a client task panicked")? {
            Ok((sink, reader, stats)) => {
                clients.sinks.push(sink);
                clients.readers.push(reader);
                clients.stats.push(stats);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(clients),
    }
}

/// One client's connection, registered at the relay when `handshake` is set.
async fn connect(url: &str, handshake: bool) -> Result<Ws> {
    let config = WebSocketConfig::default().write_buffer_size(0).max_message_size(Some(16 << 20));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    if !handshake {
        return Ok(ws);
    }
    let (peer_id, chain_id) = match next_message(&mut ws).await? {
        Wire::Welcome { peer_id, chain_id, .. } => (peer_id, chain_id),
        other => bail!("expected Welcome first, got {}", other.kind()),
    };
    let hello = Wire::Hello {
        chain_id,
        protocol: PROTOCOL_VERSION,
        agent: "relay-bench".to_owned(),
        best_height: 0,
        best_hash: chain_id,
        total_work: Work::ZERO,
    };
    let text = encode(&Envelope::broadcast(hello)).context("encoding Hello")?;
    ws.send(Message::Text(text.into())).await.context("sending Hello")?;
    loop {
        match next_message(&mut ws).await? {
            Wire::PeerJoined { peer } if peer.id == peer_id => return Ok(ws),
            Wire::Error { code, message } => bail!("the relay refused Hello: {code}: {message}"),
            _ => {}
        }
    }
}

/// The next protocol message on `ws` (skipping control frames).
async fn next_message(ws: &mut Ws) -> Result<Wire> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return Ok(decode(&text).with_context(|| format!("decoding {text:.200}"))?.message);
            }
            Some(Ok(Message::Close(frame))) => {
                bail!("the server closed the connection during the handshake: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("reading during the handshake"),
            None => bail!("the server closed the connection during the handshake"),
        }
    }
}

/// Reads every frame until the connection ends; an end the benchmark did not
/// cause counts as a disconnection.
async fn read_all(mut stream: SplitStream<Ws>, shared: Arc<Shared>, stats: Arc<ClientStats>) {
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(Message::Text(text)) => shared.on_text(&text, &stats),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    if !shared.closing.load(Ordering::Relaxed) {
        shared.disconnected.fetch_add(1, Ordering::Relaxed);
        stats.disconnected.store(true, Ordering::Relaxed);
    }
}

/// What every announcer of a run shares.
#[derive(Clone)]
pub struct Announce {
    /// The pre-encoded blocks; sequence number = index.
    pub blocks: Arc<Vec<Utf8Bytes>>,
    /// Next sequence number to send (wraps around the pool).
    pub next: Arc<AtomicU64>,
    /// Counters of the run.
    pub shared: Arc<Shared>,
    /// Set to stop the announcers.
    pub stop: Arc<AtomicBool>,
}

impl Announce {
    /// Announcers of `blocks` counting into `shared`, from the first block.
    pub fn new(blocks: &Arc<Vec<Utf8Bytes>>, shared: &Arc<Shared>) -> Self {
        Announce {
            blocks: blocks.clone(),
            next: Arc::new(AtomicU64::new(0)),
            shared: shared.clone(),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the announcers went through the whole pool and repeated blocks.
    pub fn wrapped(&self) -> bool {
        self.next.load(Ordering::Relaxed) > self.blocks.len() as u64
    }

    /// Sends the next block on `sink`, timing it when `timed`.
    async fn send_next(&self, sink: &mut Sink, timed: bool) -> Result<()> {
        let seq = (self.next.fetch_add(1, Ordering::Relaxed) % self.blocks.len() as u64) as usize;
        if timed {
            self.shared.mark_sent(seq);
        }
        self.shared.announced.fetch_add(1, Ordering::Relaxed);
        sink.send(Message::Text(self.blocks[seq].clone())).await.context("announcing a block")
    }

    /// Announces as fast as the window allows until stopped: at most `window`
    /// announcements per receiver beyond what has been delivered since
    /// `delivered_base`/`announced_base`, so no server queue overflows.
    /// Returns the sink.
    pub async fn saturate(
        self,
        mut sink: Sink,
        receivers: u64,
        window: u64,
        announced_base: u64,
        delivered_base: u64,
    ) -> Result<Sink> {
        while !self.stop.load(Ordering::Relaxed) {
            // Register for the wake-up before looking, so none is missed.
            let opened = self.shared.window_open.notified();
            let mut opened = std::pin::pin!(opened);
            opened.as_mut().enable();
            let announced = self.shared.announced.load(Ordering::Relaxed) - announced_base;
            let delivered = self.shared.delivered.load(Ordering::Relaxed).saturating_sub(delivered_base);
            if announced * receivers > delivered + window * receivers {
                let _ = tokio::time::timeout(WINDOW_POLL, opened).await;
                continue;
            }
            self.send_next(&mut sink, false).await?;
        }
        Ok(sink)
    }

    /// Announces `rate` timed blocks per second for `duration`; returns the
    /// sink and the number sent.
    pub async fn paced(self, mut sink: Sink, rate: f64, duration: Duration) -> Result<(Sink, u64)> {
        let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let start = Instant::now();
        let mut sent = 0;
        while start.elapsed() < duration {
            ticks.tick().await;
            self.send_next(&mut sink, true).await?;
            sent += 1;
        }
        Ok((sink, sent))
    }
}
