//! The hub: who is connected, what each peer claims about its chain, and
//! where each message goes. Connections ([`crate::connection`]) check what
//! they read and hand it here; the hub queues it to the right peers.
//!
//! Fan-out never waits: a message is put on each receiver's bounded queue with
//! `try_send` (one shared [`Utf8Bytes`], a reference-count bump per receiver),
//! and a receiver whose queue is full is kicked instead of slowing anyone.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use serde::Serialize;
use tabchain_core::block::Block;
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::params::Params;
use tabchain_core::target::Work;
use tabchain_core::validate::BlockError;
use tabchain_core::wire::{self, Envelope, ErrorCode, MAX_PEERS_PER_MESSAGE, Message, PeerId, PeerInfo};
use tokio::sync::{Notify, mpsc, watch};

use crate::budget::BroadcastBudget;
use crate::cluster::{BroadcastId, Cluster, PeerStatus};
use crate::config::Config;
use crate::metrics::{DisconnectReason, DropReason, Metrics};
use crate::seen::KnownBlock;
use crate::seen::Seen;

/// Least time between two `GetPeers` a peer may send: the answer lists up
/// to a thousand peers, so asking is charged more than a message.
pub const PEER_LIST_INTERVAL: Duration = Duration::from_secs(1);

/// What a peer said about its chain in `Hello`, updated by the blocks it announces.
#[derive(Clone, Debug)]
pub(crate) struct Status {
    /// Its software.
    pub agent: String,
    /// Height of its best block.
    pub best_height: u64,
    /// Its best block.
    pub best_hash: BlockHash,
    /// Work of its best chain.
    pub total_work: Work,
}

/// One connection, as the hub sees it.
pub(crate) struct Peer {
    /// Its number.
    pub id: PeerId,
    queue: mpsc::Sender<Utf8Bytes>,
    queued_bytes: AtomicUsize,
    max_queued_bytes: usize,
    kicked: AtomicBool,
    kick: Notify,
    joined: AtomicBool,
    status: Mutex<Option<Status>>,
    connected_at: Instant,
    /// When it last announced a block no one had announced before.
    last_block: Mutex<Option<Instant>>,
    /// When it last asked for the peer list (`GetPeers`, one a second).
    peers_asked: Mutex<Option<Instant>>,
    owed_answers: AtomicUsize,
    max_owed_answers: usize,
}

impl Peer {
    /// Queues `text` without waiting; a full queue kicks the peer. Returns
    /// whether it was queued.
    pub fn enqueue(&self, text: Utf8Bytes) -> bool {
        if self.kicked.load(Ordering::Relaxed) {
            return false;
        }
        let len = text.len();
        if self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len > self.max_queued_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.kick();
            return false;
        }
        match self.queue.try_send(text) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                self.kick();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                false
            }
        }
    }

    /// The writer took `len` bytes off the queue.
    pub fn dequeued(&self, len: usize) {
        self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
    }

    /// Marks the peer too slow; its connection task closes it.
    fn kick(&self) {
        if !self.kicked.swap(true, Ordering::Relaxed) {
            self.kick.notify_one();
        }
    }

    /// Resolves once the peer has been kicked for being slow.
    pub async fn kicked(&self) {
        self.kick.notified().await;
    }

    /// The relay routed it a request (`Ping`, `GetBlocks`, `GetHeaders`,
    /// `GetMempool`): it owes one answer more, up to as many as its queue
    /// holds messages.
    fn owe_answer(&self) {
        let max = self.max_owed_answers;
        let _ = self.owed_answers.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1));
    }

    /// Whether it owes answers to requests the relay routed to it.
    pub fn owes_answers(&self) -> bool {
        self.owed_answers.load(Ordering::Acquire) > 0
    }

    /// Takes one owed answer: `true` if there was one. Answers it owes are
    /// charged to whoever asked, not to its own message rate limit.
    pub fn take_owed_answer(&self) -> bool {
        self.owed_answers.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok()
    }

    /// Whether it has said `Hello` (only then does it receive broadcasts).
    pub fn is_joined(&self) -> bool {
        self.joined.load(Ordering::Acquire)
    }

    fn status(&self) -> Option<Status> {
        self.status.lock().clone()
    }

    /// What the other relays of a cluster are told about it.
    fn cluster_status(&self) -> Option<PeerStatus> {
        self.status().map(|s| PeerStatus {
            id: self.id,
            agent: s.agent,
            best_height: s.best_height,
            best_hash: s.best_hash,
            total_work: s.total_work,
            connected_secs: self.connected_at.elapsed().as_secs(),
            last_block_secs: self.last_block.lock().map(|at| at.elapsed().as_secs()),
        })
    }

    /// What tabs are told about it (`relay`: this relay's name in a cluster).
    fn info(&self, relay: Option<&str>) -> Option<PeerInfo> {
        self.cluster_status().map(|s| s.info(relay, 0))
    }

    /// Notes a `GetPeers`: `false` if it asked less than a second ago.
    pub fn ask_for_peers(&self) -> bool {
        let mut asked = self.peers_asked.lock();
        if asked.is_some_and(|at| at.elapsed() < PEER_LIST_INTERVAL) {
            return false;
        }
        *asked = Some(Instant::now());
        true
    }
}

/// A connection slot, held from the upgrade request until the connection ends.
pub(crate) struct Slot(Arc<Hub>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether a message of type `kind` ([`Message::kind`]) asks its receiver
/// for an answer.
fn is_request(kind: &str) -> bool {
    matches!(kind, "Ping" | "GetBlocks" | "GetHeaders" | "GetMempool")
}

/// Whether `message` answers a request ([`is_request`]).
pub(crate) fn is_answer(message: &Message) -> bool {
    matches!(message, Message::Pong { .. } | Message::Blocks { .. } | Message::Headers { .. } | Message::Mempool { .. })
}

/// One row of `GET /api/peers`.
#[derive(Serialize, Debug)]
pub struct PeerView {
    /// Its number.
    pub id: PeerId,
    /// Whether it has said `Hello`.
    pub joined: bool,
    /// Its software (empty before `Hello`).
    pub agent: String,
    /// Height of its best block.
    pub best_height: u64,
    /// Its best block (absent before `Hello`).
    pub best_hash: Option<BlockHash>,
    /// Work of its best chain.
    pub total_work: Work,
    /// Seconds since it connected.
    pub connected_secs: u64,
    /// Name of the relay it is connected to (`--relay-name`; absent when
    /// the relay is not in a cluster).
    pub relay: Option<String>,
}

/// Shared state of the relay: config, peers, duplicate filter, invalid
/// blocks, counters.
pub(crate) struct Hub {
    /// Settings.
    pub config: Config,
    /// Consensus parameters of the network served.
    pub params: Params,
    /// Genesis hash of the network served.
    pub chain_id: BlockHash,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    peers: RwLock<HashMap<PeerId, Arc<Peer>>>,
    seen: Mutex<Seen>,
    broadcasts: BroadcastBudget,
    next_id: AtomicU64,
    slots: AtomicUsize,
    shutdown: watch::Sender<bool>,
    /// The other relays, when this one is in a cluster (`--cluster`).
    pub cluster: Option<Arc<Cluster>>,
}

impl Hub {
    /// A hub for a validated `config`, alone or in `cluster`.
    pub fn new(config: Config, cluster: Option<Arc<Cluster>>) -> Self {
        let params = Params::for_network(config.network);
        let genesis_work = params.genesis().header.bits.to_target().map_or(Work::ZERO, |target| target.work());
        let chain_id = params.chain_id();
        Self {
            chain_id,
            params,
            metrics: Metrics::default(),
            peers: RwLock::new(HashMap::new()),
            seen: Mutex::new(Seen::new(config.seen_ids, chain_id, genesis_work)),
            broadcasts: BroadcastBudget::new(&config.broadcast, Instant::now()),
            next_id: AtomicU64::new(1),
            slots: AtomicUsize::new(0),
            shutdown: watch::Sender::new(false),
            config,
            cluster,
        }
    }

    fn peers(&self) -> RwLockReadGuard<'_, HashMap<PeerId, Arc<Peer>>> {
        self.peers.read()
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock()
    }

    /// Takes a connection slot, or `None` when `max_peers` are connected.
    pub fn reserve_slot(self: &Arc<Self>) -> Option<Slot> {
        let taken = self.slots.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(self.clone());
        (taken < self.config.max_peers).then_some(slot)
    }

    /// Adds a connection, its `Welcome` already queued: returns it and the
    /// receiving end of its queue. The welcome is built and the peer added
    /// under one lock, so every later peer event reaches it after the welcome.
    pub fn register(&self) -> (Arc<Peer>, mpsc::Receiver<Utf8Bytes>) {
        let counter = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = self.cluster.as_ref().map_or(PeerId(counter), |cluster| cluster.peer_id(counter));
        let (queue, rx) = mpsc::channel(self.config.queue_messages);
        let peer = Arc::new(Peer {
            id,
            queue,
            queued_bytes: AtomicUsize::new(0),
            max_queued_bytes: self.config.queue_bytes,
            kicked: AtomicBool::new(false),
            kick: Notify::new(),
            joined: AtomicBool::new(false),
            status: Mutex::new(None),
            connected_at: Instant::now(),
            last_block: Mutex::new(None),
            peers_asked: Mutex::new(None),
            owed_answers: AtomicUsize::new(0),
            max_owed_answers: self.config.queue_messages,
        });
        let mut peers = self.peers.write();
        let listed = self.listed_peers(&peers);
        let (network, chain_id) = (self.config.network, self.chain_id);
        self.send_to_peer(
            &peer,
            &Envelope::broadcast(Message::Welcome { peer_id: id, network, chain_id, peers: listed }),
        );
        peers.insert(id, peer.clone());
        drop(peers);
        self.metrics.connected();
        (peer, rx)
    }

    /// Removes a connection and tells the others if it had joined.
    pub fn unregister(&self, peer: &Peer, reason: DisconnectReason) {
        self.peers.write().remove(&peer.id);
        self.broadcasts.forget(peer.id);
        self.metrics.disconnected(reason);
        if peer.is_joined() {
            self.announce(&Envelope::broadcast(Message::PeerLeft { peer_id: peer.id }));
            if let Some(cluster) = &self.cluster {
                cluster.peer_left(peer.id);
            }
        }
    }

    /// The peers that have joined (here and, in a cluster, at the other
    /// relays), most work first, at most [`MAX_PEERS_PER_MESSAGE`]: what a
    /// `Welcome` and a `Peers` answer list.
    fn listed_peers(&self, peers: &HashMap<PeerId, Arc<Peer>>) -> Vec<PeerInfo> {
        let relay = self.cluster.as_ref().map(|cluster| cluster.name());
        let mut listed: Vec<PeerInfo> =
            peers.values().filter(|p| p.is_joined()).filter_map(|p| p.info(relay)).collect();
        listed.extend(self.cluster.as_ref().map(|cluster| cluster.remote_infos()).unwrap_or_default());
        listed.sort_by(|a, b| b.total_work.cmp(&a.total_work).then(a.id.cmp(&b.id)));
        listed.truncate(MAX_PEERS_PER_MESSAGE);
        listed
    }

    /// Answers a peer's `GetPeers` with the peer list as it is now.
    pub fn send_peer_list(&self, to: &Peer) {
        let listed = self.listed_peers(&self.peers.read());
        self.send_to_peer(to, &Envelope::broadcast(Message::Peers { peers: listed }));
    }

    /// Records a peer's `Hello`: the first one joins it (everyone, itself
    /// included, gets `PeerJoined`); later ones update what it claims. A
    /// claim is the peer's own: it touches neither the duplicate filter nor
    /// the work the relay knows of any block.
    pub fn hello(&self, peer: &Peer, status: Status) {
        *peer.status.lock() = Some(status);
        let first = !peer.joined.swap(true, Ordering::AcqRel);
        let relay = self.cluster.as_ref().map(|cluster| cluster.name());
        if first && let Some(info) = peer.info(relay) {
            self.announce(&Envelope::broadcast(Message::PeerJoined { peer: info }));
        }
        if let (Some(cluster), Some(status)) = (&self.cluster, peer.cluster_status()) {
            if first { cluster.peer_joined(status) } else { cluster.peer_status(status) }
        }
    }

    /// Notes a block announced by `from`: returns `false` if it was already
    /// announced (a duplicate, not to be forwarded again). Credits `from` with
    /// the block's chain when the relay knows the block's ancestry, or when
    /// the block extends the best block `from` itself claims (then from its
    /// own claim, which stays its own: nothing is learnt about the block).
    pub fn note_announced_block(&self, from: &Peer, block: &Block, block_work: Work) -> bool {
        let hash = block.hash();
        let Some(known) = self.seen().announce(hash, &block.header.prev_hash, block_work) else { return false };
        *from.last_block.lock() = Some(Instant::now());
        if let Some(status) = from.status.lock().as_mut() {
            let claimed =
                (status.best_hash == block.header.prev_hash).then(|| status.total_work.saturating_add(block_work));
            if let Some(work) = known.or(claimed)
                && work > status.total_work
            {
                status.total_work = work;
                status.best_hash = hash;
                status.best_height = block.header.height;
            }
        }
        // Also with its work unchanged: the other relays learn when its last block came.
        if let (Some(cluster), Some(status)) = (&self.cluster, from.cluster_status()) {
            cluster.peer_status(status);
        }
        true
    }

    /// Remembers the chain work of blocks passing through in a sync answer,
    /// so later announcements on top of them can be credited.
    pub fn note_synced_blocks(&self, blocks: &[(BlockHash, BlockHash, Work)]) {
        let mut seen = self.seen();
        for &(hash, prev, block_work) in blocks {
            seen.learn_work(hash, &prev, block_work);
        }
    }

    /// One lookup before a block is checked: is it (or its parent) known to
    /// be invalid, else was it already broadcast?
    pub fn known_block(&self, hash: &BlockHash, parent: &BlockHash) -> KnownBlock {
        self.seen().known_block(hash, parent)
    }

    /// Remembers a block that failed for good ([`BlockError::is_intrinsic`]),
    /// so a copy sent again costs one lookup.
    pub fn note_invalid_block(&self, hash: BlockHash, error: &BlockError) {
        self.seen().note_invalid_block(hash, error);
    }

    /// Notes a post: returns `false` if it was seen recently.
    pub fn note_tx(&self, txid: TxId) -> bool {
        self.seen().note_tx(txid)
    }

    /// Whether the post was forwarded already (without noting it): checked
    /// before its signature, so a re-sent post costs one lookup.
    pub fn tx_seen(&self, txid: &TxId) -> bool {
        self.seen().tx_seen(txid)
    }

    /// The joined peer with the most work, other than `asker` (lowest id
    /// on ties); in a cluster, of every relay.
    pub fn best_peer(&self, asker: PeerId) -> Option<PeerId> {
        let local = self
            .peers()
            .values()
            .filter(|p| p.id != asker && p.is_joined())
            .filter_map(|p| {
                let work = p.status.lock().as_ref()?.total_work;
                Some((work, std::cmp::Reverse(p.id)))
            })
            .max();
        let remote = self.cluster.as_ref().and_then(|c| c.best()).map(|(work, id)| (work, std::cmp::Reverse(id)));
        local.max(remote).map(|(_, std::cmp::Reverse(id))| id)
    }

    /// Writes a message once for any number of receivers.
    pub fn encode(envelope: &Envelope) -> Option<Utf8Bytes> {
        match wire::encode(envelope) {
            Ok(text) => Some(Utf8Bytes::from(text)),
            Err(e) => {
                tracing::error!(kind = envelope.message.kind(), "cannot encode: {e}");
                None
            }
        }
    }

    /// Whether `sender` may broadcast a message of `len` bytes now, within
    /// its share of the relay's broadcast budget (taken if so). Asked before
    /// the costly checks, so a flooder's excess costs little.
    pub fn allow_broadcast(&self, sender: PeerId, len: usize) -> bool {
        let peers = self.peers().len();
        self.broadcasts.allow(sender, len, peers, Instant::now())
    }

    /// How many peers broadcast in the last few seconds.
    pub fn broadcasters(&self) -> usize {
        self.broadcasts.senders()
    }

    /// Queues `envelope` (a post or a block, checked and new) to every
    /// joined peer except `except`, and to the other relays of a cluster.
    pub fn broadcast(&self, except: PeerId, envelope: &Envelope) {
        let Some(text) = Self::encode(envelope) else { return };
        self.fan_out_text(&text, envelope.message.kind_index(), |peer| peer.id != except && peer.is_joined());
        // Alone, nothing more: the id (a hash) is worked out only for the cluster.
        let Some(cluster) = &self.cluster else { return };
        let id = match &envelope.message {
            Message::Tx { tx } => BroadcastId::Tx(tx.txid()),
            Message::Block { block } => BroadcastId::Block {
                hash: block.hash(),
                prev: block.header.prev_hash,
                work: block.header.bits.to_target().map_or(Work::ZERO, |target| target.work()),
            },
            _ => return,
        };
        cluster.broadcast(&text, id);
    }

    /// A post or block another relay of the cluster broadcast (checked
    /// there, and charged to its sender's share of that relay's broadcast
    /// budget): queued to every joined peer here, unless it was seen
    /// already (a block announced on two relays reaches each peer once).
    pub fn deliver_relayed_broadcast(&self, text: Utf8Bytes, id: BroadcastId) {
        let (kind, new) = match id {
            BroadcastId::Tx(txid) => (Message::KINDS.iter().position(|k| *k == "Tx"), self.note_tx(txid)),
            BroadcastId::Block { hash, prev, work } => {
                (Message::KINDS.iter().position(|k| *k == "Block"), self.seen().announce(hash, &prev, work).is_some())
            }
        };
        if !new {
            self.metrics.dropped(DropReason::Duplicate, 1);
            return;
        }
        let Some(kind) = kind else { return };
        self.fan_out_text(&text, kind, |peer| peer.is_joined());
    }

    /// A frame of message type `kind` another relay routed to `to`: queued
    /// if `to` is joined here (a request makes it owe an answer), else
    /// dropped and counted (it left meanwhile).
    pub fn deliver_relayed(&self, to: PeerId, text: Utf8Bytes, kind: usize) {
        let Some(peer) = self.peers().get(&to).filter(|p| p.is_joined()).cloned() else {
            self.metrics.dropped(DropReason::UnknownPeer, 1);
            return;
        };
        let len = text.len();
        if peer.enqueue(text) {
            self.metrics.sent(kind, 1, len);
            if is_request(Message::KINDS[kind]) {
                peer.owe_answer();
            }
        } else {
            self.metrics.dropped(DropReason::QueueFull, 1);
        }
    }

    /// The joined peers here with ids above `after`, by id, at most `limit`:
    /// a page of the snapshot other relays of a cluster ask for.
    pub fn joined_statuses(&self, after: PeerId, limit: usize) -> Vec<PeerStatus> {
        let mut statuses: Vec<PeerStatus> = self
            .peers()
            .values()
            .filter(|p| p.id > after && p.is_joined())
            .filter_map(|p| p.cluster_status())
            .collect();
        statuses.sort_by_key(|s| s.id);
        statuses.truncate(limit);
        statuses
    }

    /// Queues peer news to every connection, joined or not, so that the list
    /// in a `Welcome` stays current until its peer says `Hello`.
    pub fn announce(&self, envelope: &Envelope) {
        self.fan_out(envelope, |_| true);
    }

    fn fan_out(&self, envelope: &Envelope, wanted: impl Fn(&Peer) -> bool) {
        let Some(text) = Self::encode(envelope) else { return };
        self.fan_out_text(&text, envelope.message.kind_index(), wanted);
    }

    /// Queues `text` (a message of type `kind`) to every peer `wanted`.
    fn fan_out_text(&self, text: &Utf8Bytes, kind: usize, wanted: impl Fn(&Peer) -> bool) {
        let (mut sent, mut full) = (0, 0);
        for peer in self.peers().values() {
            if !wanted(peer) {
                continue;
            }
            if peer.enqueue(text.clone()) {
                sent += 1;
            } else {
                full += 1;
            }
        }
        self.metrics.sent(kind, sent, text.len());
        if full > 0 {
            self.metrics.dropped(DropReason::QueueFull, full);
        }
    }

    /// Queues `envelope` to one joined peer; `false` if it is not connected
    /// (or has not said `Hello`). A request queued makes the peer owe an
    /// answer ([`Peer::take_owed_answer`]).
    /// In a cluster, a peer of another relay is sent the frame there.
    pub fn send_to(&self, to: PeerId, envelope: &Envelope) -> bool {
        let Some(peer) = self.peers().get(&to).filter(|p| p.is_joined()).cloned() else {
            let Some(cluster) = &self.cluster else { return false };
            let Some(text) = Self::encode(envelope) else { return false };
            return cluster.send_to(to, text, envelope.message.kind());
        };
        if self.send_to_peer(&peer, envelope) && is_request(envelope.message.kind()) {
            peer.owe_answer();
        }
        true
    }

    /// Queues `envelope` to `peer`, whether or not it has joined (for the
    /// relay's own replies); `false` if it could not be queued.
    pub fn send_to_peer(&self, peer: &Peer, envelope: &Envelope) -> bool {
        let Some(text) = Self::encode(envelope) else { return false };
        let len = text.len();
        let queued = peer.enqueue(text);
        if queued {
            self.metrics.sent(envelope.message.kind_index(), 1, len);
        } else {
            self.metrics.dropped(DropReason::QueueFull, 1);
        }
        queued
    }

    /// Replies with an `Error` message to `peer`.
    pub fn send_error(&self, peer: &Peer, code: ErrorCode, message: String) {
        let mut message = message;
        if message.chars().count() > wire::MAX_ERROR_MESSAGE_CHARS {
            message = message.chars().take(wire::MAX_ERROR_MESSAGE_CHARS).collect();
        }
        self.send_to_peer(peer, &Envelope::broadcast(Message::Error { code, message }));
    }

    /// Counts of joined and not-yet-joined peers.
    pub fn peer_counts(&self) -> (usize, usize) {
        let peers = self.peers();
        let joined = peers.values().filter(|p| p.is_joined()).count();
        (joined, peers.len() - joined)
    }

    /// Every connection, for `GET /api/peers`, by id; in a cluster, with
    /// the other relays' joined peers.
    pub fn peer_views(&self) -> Vec<PeerView> {
        let relay = self.cluster.as_ref().map(|cluster| cluster.name().to_owned());
        let mut views: Vec<PeerView> = self
            .peers()
            .values()
            .map(|p| {
                let status = p.status();
                PeerView {
                    id: p.id,
                    joined: p.is_joined(),
                    agent: status.as_ref().map(|s| s.agent.clone()).unwrap_or_default(),
                    best_height: status.as_ref().map_or(0, |s| s.best_height),
                    best_hash: status.as_ref().map(|s| s.best_hash),
                    total_work: status.as_ref().map_or(Work::ZERO, |s| s.total_work),
                    connected_secs: p.connected_at.elapsed().as_secs(),
                    relay: relay.clone(),
                }
            })
            .collect();
        let remote = self.cluster.as_ref().map(|cluster| cluster.remote_peers()).unwrap_or_default();
        views.extend(remote.into_iter().map(|p| PeerView {
            id: p.status.id,
            joined: true,
            agent: p.status.agent,
            best_height: p.status.best_height,
            best_hash: Some(p.status.best_hash),
            total_work: p.status.total_work,
            connected_secs: p.status.connected_secs + p.heard.elapsed().as_secs(),
            relay: Some(p.relay),
        }));
        views.sort_by_key(|v| v.id);
        views
    }

    /// A receiver that turns `true` when the relay shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Whether [`Hub::shut_down`] was called.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Tells every connection to close.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Whether any connection is still open: counted by slots, which a
    /// connection holds until its close handshake is over (a peer leaves the
    /// peer list before its close frame is written; a shutdown that waited on
    /// that list could end the process first).
    pub fn has_connections(&self) -> bool {
        self.slots.load(Ordering::Acquire) > 0
    }
}
