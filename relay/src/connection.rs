//! One websocket connection: a reader that rate-limits, decodes and checks
//! each message before the hub routes it, and a writer task that drains the
//! connection's queue in batches (every queued frame fed, then one flush).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tabchain_core::block::Block;
use tabchain_core::hash::BlockHash;
use tabchain_core::header::{BlockHeader, HEADER_VERSION};
use tabchain_core::params::Params;
use tabchain_core::post::{Post, PostError};
use tabchain_core::stamp::check_stamp;
use tabchain_core::target::Work;
use tabchain_core::validate::{BlockError, check_block_structure_on};
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PROTOCOL_VERSION, PeerId, WireError};
use tabchain_process::http::AddressGuard;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;

use crate::Relay;
use crate::hub::{Hub, Peer, Slot, Status, is_answer};
use crate::metrics::{DisconnectReason, DropReason, RefusedReason};
use crate::ratelimit::PeerLimiter;
use crate::score::Score;
use crate::seen::KnownBlock;

/// Bytes tungstenite gathers before writing to the socket: large enough that
/// a batch of announcements goes out in a few syscalls, small enough that a
/// thousand idle connections cost little memory.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Initial read buffer per connection (grows for large messages): peers
/// mostly send small messages.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// Most frames fed before one flush.
const MAX_BATCH: usize = 256;
/// How long a closing connection may take to write its last frames.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Misbehaviour points for a message that does not decode or is not allowed.
const PENALTY_BAD_MESSAGE: u32 = 20;
/// Misbehaviour points for a block that fails the relay's checks.
const PENALTY_INVALID_BLOCK: u32 = 25;
/// Misbehaviour points for an invalid post.
const PENALTY_INVALID_TX: u32 = 10;
/// Misbehaviour points for a message over the rate limit.
const PENALTY_RATE_LIMITED: u32 = 2;

/// Close codes (RFC 6455 §7.4.1).
mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
}

/// `GET /ws`: upgrades to a websocket if the relay has room (else `503`)
/// and [`crate::admission`] lets the client in (else `403` or `429`).
pub(crate) async fn upgrade(
    State(relay): State<Relay>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let hub = relay.hub;
    if hub.is_shutting_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "relay shutting down\n").into_response();
    }
    let Some(slot) = hub.reserve_slot() else {
        hub.metrics.refused(RefusedReason::Full);
        let text = format!("relay full: {} peers connected\n", hub.config.max_peers);
        return (StatusCode::SERVICE_UNAVAILABLE, text).into_response();
    };
    let address = match relay.admission.admit(remote.ip(), &headers, Instant::now()) {
        Ok(address) => address,
        Err(refusal) => {
            hub.metrics.refused(refusal.into());
            tracing::debug!(%remote, "upgrade refused: {refusal}");
            return (refusal.status(), format!("{refusal}\n")).into_response();
        }
    };
    let max = hub.config.max_frame_bytes;
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(hub, socket, (slot, address)))
}

/// How a connection ends: why, and what the writer still sends.
struct Ending {
    reason: DisconnectReason,
    last_words: LastWords,
}

/// What goes out after the reader stops.
enum LastWords {
    /// What is queued, then this close frame.
    Close(CloseFrame),
    /// Only tungstenite's automatic reply to the peer's close frame.
    AcknowledgeClose,
    /// Nothing: the socket is gone or the peer is not reading.
    Nothing,
}

impl Ending {
    fn close(reason: DisconnectReason, code: u16, text: &str) -> Self {
        Self { reason, last_words: LastWords::Close(CloseFrame { code, reason: Utf8Bytes::from(text) }) }
    }

    fn abrupt(reason: DisconnectReason) -> Self {
        Self { reason, last_words: LastWords::Nothing }
    }
}

/// Runs one connection; `_held` (its slot and its place in its address's
/// count) is freed when it ends.
async fn serve(hub: Arc<Hub>, socket: WebSocket, _held: (Slot, AddressGuard)) {
    let (peer, queue) = hub.register();
    tracing::debug!(peer = %peer.id, "connected");
    let (sink, mut stream) = socket.split();
    let (close_tx, close_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write_loop(sink, queue, peer.clone(), close_rx, hub.config.ping_interval));
    let now = Instant::now();
    let limiter = PeerLimiter::new(&hub.config.rate, now);
    let score = Score::new(hub.config.ban_decay, now);
    let mut connection = Connection { hub: hub.clone(), peer: peer.clone(), limiter, score };
    let ending = connection.read_loop(&mut stream, &mut writer).await;
    hub.unregister(&peer, ending.reason);
    tracing::debug!(peer = %peer.id, reason = ending.reason.as_str(), "disconnected");
    let last_frame = match ending.last_words {
        LastWords::Close(frame) => Some(frame),
        LastWords::AcknowledgeClose => None,
        LastWords::Nothing => {
            writer.abort();
            return;
        }
    };
    let closing_handshake = last_frame.is_some();
    if !writer.is_finished() && close_tx.send(last_frame).is_ok() {
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            let _ = (&mut writer).await;
            // Keep the socket open until the peer answers our close frame, so
            // a peer that reads late still sees it (and why).
            if closing_handshake {
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, WsMessage::Close(_)) {
                        break;
                    }
                }
            }
        })
        .await;
    }
    writer.abort();
}

/// Writes the queue to the socket: takes one frame, feeds every frame already
/// queued (up to [`MAX_BATCH`]), flushes once. While frames keep coming it
/// loops without touching timers; only an empty queue waits in `select!`.
/// Pings every `ping_every`, busy or not. When `close` fires: with a frame,
/// sends what is queued and then the close frame; without, only flushes (the
/// reply to the peer's own close frame).
async fn write_loop(
    mut sink: SplitSink<WebSocket, WsMessage>,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    peer: Arc<Peer>,
    mut close: oneshot::Receiver<Option<CloseFrame>>,
    ping_every: Duration,
) -> Result<(), axum::Error> {
    let mut next_ping = tokio::time::Instant::now() + ping_every;
    loop {
        let first = match queue.try_recv() {
            Ok(text) => Some(text),
            Err(mpsc::error::TryRecvError::Disconnected) => return Ok(()),
            Err(mpsc::error::TryRecvError::Empty) => None,
        };
        let close_now = match close.try_recv() {
            Ok(frame) => Some(frame),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(None),
        };
        let first = match (close_now, first) {
            (Some(frame), first) => return finish(sink, queue, &peer, first, frame).await,
            (None, Some(text)) => text,
            (None, None) => tokio::select! {
                biased;
                frame = &mut close => return finish(sink, queue, &peer, None, frame.ok().flatten()).await,
                text = queue.recv() => match text {
                    Some(text) => text,
                    None => return Ok(()),
                },
                () = tokio::time::sleep_until(next_ping) => {
                    sink.send(WsMessage::Ping(Bytes::new())).await?;
                    next_ping = tokio::time::Instant::now() + ping_every;
                    continue;
                }
            },
        };
        let mut bytes = first.len();
        sink.feed(WsMessage::Text(first)).await?;
        for _ in 1..MAX_BATCH {
            let Ok(text) = queue.try_recv() else { break };
            bytes += text.len();
            sink.feed(WsMessage::Text(text)).await?;
        }
        peer.dequeued(bytes);
        let now = tokio::time::Instant::now();
        if now >= next_ping {
            sink.feed(WsMessage::Ping(Bytes::new())).await?;
            next_ping = now + ping_every;
        }
        sink.flush().await?;
    }
}

/// The writer's last act: with a close frame, everything queued (an `Error`
/// explaining the close) and then the frame; without, only a flush, which
/// sends tungstenite's reply to the peer's own close frame.
async fn finish(
    mut sink: SplitSink<WebSocket, WsMessage>,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    peer: &Peer,
    first: Option<Utf8Bytes>,
    frame: Option<CloseFrame>,
) -> Result<(), axum::Error> {
    if let Some(frame) = frame {
        let queued = std::iter::from_fn(|| queue.try_recv().ok());
        for text in first.into_iter().chain(queued) {
            peer.dequeued(text.len());
            sink.feed(WsMessage::Text(text)).await?;
        }
        sink.feed(WsMessage::Close(Some(frame))).await?;
    }
    sink.flush().await
}

/// The reading side of one connection.
struct Connection {
    hub: Arc<Hub>,
    peer: Arc<Peer>,
    limiter: PeerLimiter,
    score: Score,
}

impl Connection {
    async fn read_loop(
        &mut self,
        stream: &mut SplitStream<WebSocket>,
        writer: &mut JoinHandle<Result<(), axum::Error>>,
    ) -> Ending {
        let config = &self.hub.config;
        let (hello_timeout, idle_timeout) = (config.hello_timeout, config.idle_timeout);
        let mut shutdown = self.hub.shutdown_signal();
        let deadline = tokio::time::sleep(hello_timeout);
        tokio::pin!(deadline);
        loop {
            let frame = tokio::select! {
                biased;
                () = self.peer.kicked() => return Ending::abrupt(DisconnectReason::Slow),
                _ = shutdown.wait_for(|stop| *stop) => {
                    return Ending::close(DisconnectReason::Shutdown, close_code::GOING_AWAY, "relay shutting down");
                }
                _ = &mut *writer => return Ending::abrupt(DisconnectReason::Io),
                () = &mut deadline => {
                    return if self.peer.is_joined() {
                        Ending::close(DisconnectReason::IdleTimeout, close_code::NORMAL, "idle timeout")
                    } else {
                        Ending::close(DisconnectReason::HelloTimeout, close_code::POLICY, "no Hello in time")
                    };
                }
                frame = stream.next() => frame,
            };
            let message = match frame {
                None => return Ending::abrupt(DisconnectReason::Closed),
                Some(Ok(message)) => message,
                Some(Err(error)) => return self.read_error(error),
            };
            let ending = match message {
                WsMessage::Text(text) => self.on_text(text).await,
                WsMessage::Binary(bytes) => {
                    self.hub.metrics.received(None, bytes.len());
                    self.refuse(
                        DropReason::BadMessage,
                        ErrorCode::BadMessage,
                        "binary frames are not used; send JSON text",
                    )
                }
                WsMessage::Ping(_) | WsMessage::Pong(_) => None,
                WsMessage::Close(_) => {
                    return Ending { reason: DisconnectReason::Closed, last_words: LastWords::AcknowledgeClose };
                }
            };
            if let Some(ending) = ending {
                return ending;
            }
            if self.peer.is_joined() {
                deadline.as_mut().reset(tokio::time::Instant::now() + idle_timeout);
            }
        }
    }

    fn read_error(&self, error: axum::Error) -> Ending {
        let inner = error.into_inner();
        match inner.downcast_ref::<tungstenite::Error>() {
            Some(tungstenite::Error::Capacity(detail)) => {
                self.hub.metrics.received(None, 0);
                self.hub.metrics.dropped(DropReason::BadMessage, 1);
                tracing::debug!(peer = %self.peer.id, "frame too large: {detail}");
                // A close reason must fit in 123 bytes.
                let text = format!("frame over the limit of {} bytes", self.hub.config.max_frame_bytes);
                Ending::close(DisconnectReason::FrameTooLarge, close_code::TOO_BIG, &text)
            }
            _ => {
                tracing::debug!(peer = %self.peer.id, "read error: {inner}");
                Ending::abrupt(DisconnectReason::Io)
            }
        }
    }

    /// Adds misbehaviour points; at the limit the connection is closed.
    fn penalise(&mut self, points: u32) -> Option<Ending> {
        let score = self.score.add(points, Instant::now());
        (score >= self.hub.config.ban_score).then(|| {
            tracing::info!(peer = %self.peer.id, score, "disconnecting a misbehaving peer");
            Ending::close(DisconnectReason::Misbehaving, close_code::POLICY, "too many invalid messages")
        })
    }

    /// Counts a drop, tells the peer why, and penalises it.
    fn refuse(&mut self, drop: DropReason, code: ErrorCode, detail: &str) -> Option<Ending> {
        self.hub.metrics.dropped(drop, 1);
        self.hub.send_error(&self.peer, code, detail.to_owned());
        self.penalise(Self::penalty(drop))
    }

    /// Misbehaviour points for a message dropped for `drop`.
    fn penalty(drop: DropReason) -> u32 {
        match drop {
            DropReason::InvalidBlock => PENALTY_INVALID_BLOCK,
            DropReason::InvalidTx => PENALTY_INVALID_TX,
            DropReason::RateLimited => PENALTY_RATE_LIMITED,
            DropReason::BadMessage => PENALTY_BAD_MESSAGE,
            DropReason::Duplicate | DropReason::UnknownPeer | DropReason::QueueFull | DropReason::BroadcastBudget => 0,
        }
    }

    /// Refuses a message over the rate limit; `penalised` says whether it
    /// costs points (not when excused: see [`PeerLimiter`]).
    fn rate_limited(&mut self, penalised: bool) -> Option<Ending> {
        let rate = self.hub.config.rate;
        let detail = format!(
            "over the rate limit of {} messages and {} bytes per second; message dropped",
            rate.messages_per_sec, rate.bytes_per_sec
        );
        if penalised {
            return self.refuse(DropReason::RateLimited, ErrorCode::RateLimited, &detail);
        }
        self.hub.metrics.dropped(DropReason::RateLimited, 1);
        self.hub.send_error(&self.peer, ErrorCode::RateLimited, detail);
        None
    }

    /// Drops a broadcast over the sender's share of the relay's broadcast
    /// budget: counted, and the sender told, but no points (an honest peer
    /// may meet a full budget).
    fn over_budget(&mut self, kind: &str) -> Option<Ending> {
        let budget = self.hub.config.broadcast;
        let detail = format!(
            "{kind} dropped: the relay's broadcast budget ({} messages and {} bytes per second) is taken; {} peers are broadcasting and you sent more than your share",
            budget.messages_per_sec,
            budget.bytes_per_sec,
            self.hub.broadcasters()
        );
        // No points: the penalty of `BroadcastBudget` is 0.
        self.refuse(DropReason::BroadcastBudget, ErrorCode::RateLimited, &detail)
    }

    /// Charges a frame of `len` bytes to the peer's rate limit, before it is
    /// decoded: `Ok(true)` if its message still has to be counted once
    /// decoded ([`Connection::charge_message`]), `Err` with the connection's
    /// end if it is refused and that was one offence too many.
    ///
    /// A peer that owes answers (the relay routed it requests) is charged
    /// only the frame's bytes here: its answers are the askers' doing, so
    /// they do not count against its message rate (else two peers pinging a
    /// third could get it banned), and a frame over its byte rate is dropped
    /// without points, taking one owed answer (so only as many frames go
    /// unpunished as were asked for).
    fn charge_frame(&mut self, len: usize) -> Result<bool, Option<Ending>> {
        let now = Instant::now();
        if !self.peer.owes_answers() {
            if self.limiter.allow(len, now) {
                return Ok(false);
            }
            self.hub.metrics.received(None, len);
            let penalised = !self.limiter.excuse(now);
            return Err(self.rate_limited(penalised));
        }
        if self.limiter.allow_bytes(len, now) {
            return Ok(true);
        }
        self.hub.metrics.received(None, len);
        let penalised = !self.peer.take_owed_answer() && !self.limiter.excuse(now);
        Err(self.rate_limited(penalised))
    }

    /// Counts a decoded message whose frame was charged only its bytes
    /// ([`Connection::charge_frame`]): an answer the peer owes (addressed
    /// to a peer) is free, anything else takes one message of its rate.
    /// `Err` as for [`Connection::charge_frame`].
    fn charge_message(&mut self, envelope: &Envelope) -> Result<(), Option<Ending>> {
        let now = Instant::now();
        let answer = is_answer(&envelope.message) && envelope.to.is_some();
        if (answer && self.peer.take_owed_answer()) || self.limiter.allow_message(now) {
            return Ok(());
        }
        let penalised = !self.limiter.excuse(now);
        Err(self.rate_limited(penalised))
    }

    async fn on_text(&mut self, text: Utf8Bytes) -> Option<Ending> {
        let hub = self.hub.clone();
        let len = text.len();
        let count_after_decoding = match self.charge_frame(len) {
            Ok(later) => later,
            Err(ending) => return ending,
        };
        let envelope = match wire::decode(text.as_str()) {
            Ok(envelope) => envelope,
            Err(error) => {
                hub.metrics.received(None, len);
                let code = if matches!(error, WireError::TooLarge { .. }) {
                    ErrorCode::TooLarge
                } else {
                    ErrorCode::BadMessage
                };
                return self.refuse(DropReason::BadMessage, code, &error.to_string());
            }
        };
        hub.metrics.received(Some(envelope.message.kind_index()), len);
        if count_after_decoding && let Err(ending) = self.charge_message(&envelope) {
            return ending;
        }
        let Envelope { to, message, .. } = envelope;
        if !self.peer.is_joined() && !matches!(message, Message::Hello { .. }) {
            let detail = format!("send Hello first (got {})", message.kind());
            return self.refuse(DropReason::BadMessage, ErrorCode::BadMessage, &detail);
        }
        match message {
            Message::Hello { chain_id, protocol, agent, best_height, best_hash, total_work } => {
                if chain_id != hub.chain_id || protocol != PROTOCOL_VERSION {
                    let detail = format!(
                        "this relay carries the {} network (chain id {}, protocol {PROTOCOL_VERSION}); you sent chain id {chain_id}, protocol {protocol}",
                        hub.config.network, hub.chain_id
                    );
                    hub.metrics.dropped(DropReason::BadMessage, 1);
                    hub.send_error(&self.peer, ErrorCode::WrongChain, detail);
                    return Some(Ending::close(DisconnectReason::WrongChain, close_code::POLICY, "wrong chain"));
                }
                hub.hello(&self.peer, Status { agent, best_height, best_hash, total_work });
                None
            }
            Message::Welcome { .. } | Message::PeerJoined { .. } | Message::PeerLeft { .. } | Message::Peers { .. } => {
                let detail = format!("only the relay sends {}", message.kind());
                self.refuse(DropReason::BadMessage, ErrorCode::BadMessage, &detail)
            }
            Message::Tx { ref tx } => {
                // Cheapest first: fields, the stamp (two hashes), a seen
                // post (one lookup), and the signature last.
                let txid = tx.txid();
                let cheap = tx.check_fields().and_then(|()| Ok(check_stamp(tx, &hub.params, &hub.chain_id)?));
                if let Err(error) = cheap {
                    return self.refuse(DropReason::InvalidTx, ErrorCode::InvalidTx, &format!("post {txid}: {error}"));
                }
                if to.is_none() && hub.tx_seen(&txid) {
                    hub.metrics.dropped(DropReason::Duplicate, 1);
                    return None;
                }
                if to.is_none() && !hub.allow_broadcast(self.peer.id, len) {
                    return self.over_budget("post");
                }
                if let Err(error) = tx.verify_signature(&hub.chain_id) {
                    return self.refuse(DropReason::InvalidTx, ErrorCode::InvalidTx, &format!("post {txid}: {error}"));
                }
                if to.is_none() && !hub.note_tx(txid) {
                    hub.metrics.dropped(DropReason::Duplicate, 1);
                    return None;
                }
                self.forward(to, message)
            }
            Message::Block { ref block } => {
                let hash = block.hash();
                // Cheapest first: one lookup, then the checks.
                let checked = match hub.known_block(&hash, &block.header.prev_hash) {
                    KnownBlock::Invalid(error) => Err(error),
                    KnownBlock::Announced if to.is_none() => {
                        hub.metrics.dropped(DropReason::Duplicate, 1);
                        return None;
                    }
                    KnownBlock::Announced | KnownBlock::New => {
                        if to.is_none() && !hub.allow_broadcast(self.peer.id, len) {
                            return self.over_budget("block");
                        }
                        block_work(&hub.params, &hub.chain_id, block)
                    }
                };
                let work = match checked {
                    Ok(work) => work,
                    Err(error) => {
                        hub.note_invalid_block(hash, &error);
                        let detail = format!("block {hash}: {error}");
                        return self.refuse(DropReason::InvalidBlock, ErrorCode::InvalidBlock, &detail);
                    }
                };
                if to.is_none() && !hub.note_announced_block(&self.peer, block, work) {
                    hub.metrics.dropped(DropReason::Duplicate, 1);
                    return None;
                }
                self.forward(to, message)
            }
            Message::GetBlocks { .. } | Message::GetMempool {} | Message::GetHeaders { .. } => {
                let Some(to) = to.or_else(|| hub.best_peer(self.peer.id)) else {
                    return self.refuse(DropReason::UnknownPeer, ErrorCode::UnknownPeer, "no other peer to ask");
                };
                self.forward(Some(to), message)
            }
            Message::Blocks { ref blocks } => {
                if to.is_none() {
                    return self.refuse(DropReason::BadMessage, ErrorCode::BadMessage, "Blocks needs a `to` peer");
                }
                let mut links = Vec::with_capacity(blocks.len());
                for block in blocks {
                    let hash = block.hash();
                    let prev = block.header.prev_hash;
                    let checked = match hub.known_block(&hash, &prev) {
                        KnownBlock::Invalid(error) => Err(error),
                        KnownBlock::Announced | KnownBlock::New => block_work(&hub.params, &hub.chain_id, block),
                    };
                    match checked {
                        Ok(work) => links.push((hash, prev, work)),
                        Err(error) => {
                            hub.note_invalid_block(hash, &error);
                            let detail = format!("block {hash} in Blocks: {error}");
                            return self.refuse(DropReason::InvalidBlock, ErrorCode::InvalidBlock, &detail);
                        }
                    }
                }
                hub.note_synced_blocks(&links);
                self.forward(to, message)
            }
            Message::Headers { ref headers } => {
                if to.is_none() {
                    return self.refuse(DropReason::BadMessage, ErrorCode::BadMessage, "Headers needs a `to` peer");
                }
                // One hash per header: each must carry its own proof of work.
                if let Some(detail) = first_header_without_work(&hub.params, headers) {
                    return self.refuse(DropReason::InvalidBlock, ErrorCode::InvalidBlock, &detail);
                }
                self.forward(to, message)
            }
            Message::Mempool { txs } => {
                if to.is_none() {
                    return self.refuse(DropReason::BadMessage, ErrorCode::BadMessage, "Mempool needs a `to` peer");
                }
                // Up to thousands of signatures: off the async workers.
                let (params, chain_id) = (hub.params.clone(), hub.chain_id);
                let checked = tokio::task::spawn_blocking(move || {
                    first_invalid_post(&params, &chain_id, &txs).map_or(Ok(txs), Err)
                })
                .await;
                match checked {
                    Ok(Ok(txs)) => self.forward(to, Message::Mempool { txs }),
                    Ok(Err(detail)) => self.refuse(DropReason::InvalidTx, ErrorCode::InvalidTx, &detail),
                    Err(join_error) => {
                        tracing::error!("post check task failed: {join_error}");
                        None
                    }
                }
            }
            Message::GetPeers {} => {
                if to.is_some() {
                    return self.refuse(
                        DropReason::BadMessage,
                        ErrorCode::BadMessage,
                        "GetPeers is for the relay: no `to`",
                    );
                }
                if !self.peer.ask_for_peers() {
                    let detail = "GetPeers: at most one a second; message dropped";
                    return self.refuse(DropReason::RateLimited, ErrorCode::RateLimited, detail);
                }
                hub.send_peer_list(&self.peer);
                None
            }
            Message::Ping { nonce } if to.is_none() => {
                hub.send_to_peer(&self.peer, &Envelope::broadcast(Message::Pong { nonce }));
                None
            }
            Message::Pong { .. } | Message::Error { .. } if to.is_none() => {
                tracing::debug!(peer = %self.peer.id, ?message, "message for the relay");
                None
            }
            Message::Ping { .. } | Message::Pong { .. } | Message::Error { .. } => self.forward(to, message),
        }
    }

    /// Stamps `from` and delivers: to one peer, or to every other joined peer.
    fn forward(&mut self, to: Option<PeerId>, message: Message) -> Option<Ending> {
        let envelope = Envelope { from: Some(self.peer.id), to, message };
        match to {
            None => self.hub.broadcast(self.peer.id, &envelope),
            Some(to) => {
                if !self.hub.send_to(to, &envelope) {
                    let detail = format!("peer {to} is not connected");
                    return self.refuse(DropReason::UnknownPeer, ErrorCode::UnknownPeer, &detail);
                }
            }
        }
        None
    }
}

/// The relay's check of a block on the network `chain_id` (everything but
/// post signatures, see [`check_block_structure_on`]); returns the work its
/// proof of work proves.
fn block_work(params: &Params, chain_id: &BlockHash, block: &Block) -> Result<Work, BlockError> {
    check_block_structure_on(params, chain_id, block)?;
    Ok(block.header.bits.to_target()?.work())
}

/// Why the first header of a `Headers` answer without a valid proof of work
/// (version, a target no easier than the network's, the hash meeting it) is
/// refused, if one is.
fn first_header_without_work(params: &Params, headers: &[BlockHeader]) -> Option<String> {
    headers.iter().find_map(|header| {
        let hash = header.hash();
        let target = header.bits.to_target().ok().filter(|t| *t <= params.easiest_target());
        let ok = header.version == HEADER_VERSION && target.is_some_and(|t| t.is_met_by(&hash));
        (!ok).then(|| format!("header {hash} in Headers has no valid proof of work"))
    })
}

/// Why the first invalid post of a `Mempool` answer is invalid, if one is
/// (every post's fields and stamp first, then the signatures).
fn first_invalid_post(params: &Params, chain_id: &BlockHash, txs: &[Post]) -> Option<String> {
    let explain = |tx: &Post, error: PostError| format!("post {} in Mempool: {error}", tx.txid());
    let cheap = |tx: &Post| tx.check_fields().and_then(|()| Ok(check_stamp(tx, params, chain_id).map(|_| ())?));
    txs.iter()
        .find_map(|tx| cheap(tx).err().map(|e| explain(tx, e)))
        .or_else(|| txs.iter().find_map(|tx| tx.verify_signature(chain_id).err().map(|e| explain(tx, e))))
}
