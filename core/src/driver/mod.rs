//! The protocol state machine every node runs: a browser tab now, the native
//! node later.
//!
//! [`Driver`] is pure and synchronous, like the rest of this crate. The host (the
//! page's JavaScript through `tabchain-wasm`, or the native node) owns the
//! websocket, the clock and the storage: it feeds the node every text frame from
//! the relay ([`Driver::on_text`]), tells it when the socket closes
//! ([`Driver::on_disconnected`]), calls [`Driver::tick`] every second or so, and
//! carries out the [`Output`]s each call returns, in order: write a text frame,
//! store a block, show an event. Nothing here blocks, sleeps or panics on bad
//! input; whatever a peer sends becomes at worst an [`Event`].
//!
//! The protocol is the one in `docs/PROTOCOL.md` ("Wire messages", "Sync" and
//! "The relay"):
//!
//! - `Welcome` on the node's network → remember who we are and who is there,
//!   answer `Hello`. Our own `PeerJoined` means we are in: sync from the peer
//!   claiming the most work if it claims more than ours, and ask it for its
//!   mempool.
//! - `Tx` and `Mempool` posts go to the mempool; announced `Block`s are
//!   validated and stored; an orphan makes us ask its sender for the blocks
//!   leading to it (one sync at a time).
//! - `GetBlocks` and `GetMempool` are answered to the asker; `Ping` with `Pong`.
//! - A sync asks one peer for pages of up to [`SYNC_PAGE_LIMIT`] blocks; each
//!   next page is asked for with the locator of the last block received (not
//!   of the best tip, which does not move while the incoming branch has less
//!   work). An empty page ends it, and so does a page ending where an earlier
//!   request of the same sync started (no progress: a peer cannot keep us in a
//!   loop). A request without an answer in [`SYNC_TIMEOUT_MS`] goes to another
//!   peer if one claims more work than ours, at most [`SYNC_MAX_UNANSWERED`]
//!   times in a row.

use crate::block::Block;
use crate::chain::{BlockStatus, SYNC_PAGE_BYTES, Stored};
use crate::hash::{BlockHash, TxId};
use crate::params::{Network, Params};
use crate::post::Post;
use crate::state::{ChainState, PostRejected};
use crate::target::Work;
use crate::validate::BlockError;
use crate::wire::{
    self, Envelope, ErrorCode, MAX_AGENT_CHARS, MAX_BLOCKS_PER_MESSAGE, MAX_ERROR_MESSAGE_CHARS, MAX_TXS_PER_MESSAGE,
    Message, PROTOCOL_VERSION, PeerId, PeerInfo, WireError,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Blocks asked for per sync request (the protocol's maximum).
pub const SYNC_PAGE_LIMIT: u32 = MAX_BLOCKS_PER_MESSAGE as u32;
/// How long a sync request may go unanswered before [`Driver::tick`] sends it
/// again, to another peer if one claims more work than ours.
pub const SYNC_TIMEOUT_MS: u64 = 10_000;
/// Sync requests in a row without an answer after which the sync is given up
/// ([`Event::SyncAbandoned`]); the next orphan or joining peer starts a new one.
pub const SYNC_MAX_UNANSWERED: u32 = 3;

/// What the host must do after a call, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write this text frame to the relay as is. It is already encoded with
    /// [`wire::encode`], so the host never re-serializes blocks (their `u64`
    /// nonces do not survive JavaScript numbers).
    Send(String),
    /// Persist this block: `bytes` is [`Block::to_bytes`], to be keyed by
    /// `hash`. [`Driver::restore`] takes the stored bytes back in any order.
    Store {
        /// The block's hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its binary encoding.
        bytes: Vec<u8>,
    },
    /// Something to show or log.
    Event(Event),
}

/// What happened, for the page and the logs. Serializes as an object whose
/// `"type"` is the variant name in camelCase (`"blockAccepted"`), with
/// camelCase fields; hashes are 64 hex digits, peer ids numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Event {
    /// The relay welcomed us on our network; `Hello` is on its way.
    Welcomed {
        /// Our number at the relay.
        peer_id: PeerId,
        /// The relay's network (ours).
        network: Network,
        /// How many peers had already joined.
        peers: usize,
    },
    /// The relay serves another network or chain: nothing was sent, and the
    /// relay will close the connection.
    WrongNetwork {
        /// The relay's network.
        network: Network,
        /// The relay's chain id.
        chain_id: BlockHash,
        /// This node's network.
        expected_network: Network,
        /// This node's chain id.
        expected_chain_id: BlockHash,
    },
    /// The relay announced our own `Hello`: we can send and be asked.
    Joined {
        /// Our number at the relay.
        peer_id: PeerId,
    },
    /// Another peer joined.
    PeerJoined {
        /// Its number.
        id: PeerId,
        /// Its software.
        agent: String,
        /// Its best height, as far as the relay knows.
        best_height: u64,
    },
    /// A peer left.
    PeerLeft {
        /// Its number.
        id: PeerId,
    },
    /// The best chain grew (without disconnecting blocks) to `hash`.
    /// Not sent for blocks arriving in sync pages: those report
    /// [`Event::SyncProgress`].
    BlockAccepted {
        /// The new tip.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Posts in the new tip block.
        tx_count: usize,
        /// The peer that announced it; `None` for our own or restored blocks.
        from: Option<PeerId>,
    },
    /// The best tip moved to another branch.
    Reorg {
        /// Blocks disconnected from the old best chain.
        depth: u64,
        /// Height of the last block both branches share.
        fork_height: u64,
        /// The new tip.
        new_tip: BlockHash,
        /// Its height.
        new_height: u64,
        /// The peer whose block caused it; `None` for our own blocks.
        from: Option<PeerId>,
    },
    /// A sync began (or moved to another peer).
    SyncStarted {
        /// The peer asked.
        peer: PeerId,
        /// Its best height as far as we know.
        target_height: u64,
    },
    /// A sync page was processed.
    SyncProgress {
        /// The peer asked.
        peer: PeerId,
        /// Height of the last block received.
        height: u64,
        /// The peer's best height as far as we know.
        target_height: u64,
    },
    /// A sync request got no answer in time and was sent again.
    SyncRetry {
        /// The peer asked now.
        peer: PeerId,
        /// Requests in a row without an answer so far.
        unanswered: u32,
    },
    /// A sync ended: the peer has nothing more for us.
    Synced {
        /// The peer asked last.
        peer: PeerId,
        /// Blocks stored during the sync.
        blocks: u64,
        /// Our best height now.
        height: u64,
    },
    /// A sync was given up.
    SyncAbandoned {
        /// The peer asked last.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// A peer's post entered our mempool.
    PostReceived {
        /// The post's id.
        tx_id: TxId,
        /// Its author.
        author: String,
        /// Who sent it.
        from: Option<PeerId>,
    },
    /// A peer answered our `GetMempool`.
    MempoolReceived {
        /// Who sent it.
        from: Option<PeerId>,
        /// Posts in the answer.
        received: usize,
        /// Posts that entered our mempool.
        accepted: usize,
    },
    /// A block failed validation (the sender, if any, got `invalid_block`).
    BlockRejected {
        /// The block's hash.
        hash: BlockHash,
        /// Who sent it (`None`: an orphan that failed once its parent arrived).
        from: Option<PeerId>,
        /// The rule it broke.
        reason: String,
    },
    /// A peer or the relay refused something we sent.
    PeerError {
        /// The peer; `None` when the relay itself answers.
        from: Option<PeerId>,
        /// The error code.
        code: ErrorCode,
        /// The explanation.
        message: String,
    },
    /// A frame from the relay did not decode; it was ignored.
    BadMessage {
        /// What is wrong with it.
        reason: String,
    },
    /// A message could not be encoded and was not sent.
    SendFailed {
        /// The message's `"type"`.
        kind: String,
        /// Why.
        reason: String,
    },
}

/// What [`Driver::restore`] made of the stored blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Blocks stored in the tree.
    pub accepted: usize,
    /// Bytes that did not decode as a block, or blocks that failed validation.
    pub rejected: usize,
    /// Blocks already known (genesis, or the same block stored twice).
    pub duplicates: usize,
    /// Blocks whose parent was not among them (kept in the orphan pool).
    pub orphans: usize,
    /// Best height afterwards.
    pub height: u64,
    /// Best tip afterwards.
    pub tip: BlockHash,
}

/// Where a sync stands, for the page's progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The peer asked.
    pub peer: PeerId,
    /// Height of the last block received (our height before the first page).
    pub height: u64,
    /// The peer's best height as far as we know.
    pub target_height: u64,
}

/// Why [`Driver::submit_mined`] refused a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinedError {
    /// The block does not build on the current best tip (the tip moved while
    /// mining): it is not stored or announced.
    #[error("stale block: it builds on {prev_hash}, the best tip is now {tip}")]
    Stale {
        /// The block's parent.
        prev_hash: BlockHash,
        /// The best tip.
        tip: BlockHash,
    },
    /// The node already has this block.
    #[error("block {0} is already known")]
    Duplicate(BlockHash),
    /// The block breaks a validation rule.
    #[error(transparent)]
    Invalid(#[from] BlockError),
}

/// A sync in flight.
#[derive(Clone, Debug)]
struct Sync {
    peer: PeerId,
    target_height: u64,
    /// Height of the last block received, our height before the first page.
    height: u64,
    /// The last request's locator: a page answering it starts right after one of these.
    locator: Vec<BlockHash>,
    /// Where every request of this sync started: a page ending at one of
    /// these made no progress.
    starts: HashSet<BlockHash>,
    /// The last block received that is in the tree: where to resume.
    last: Option<BlockHash>,
    sent_ms: u64,
    unanswered: u32,
    /// Blocks stored during this sync.
    stored: u64,
    /// Our best tip when it started.
    start_tip: BlockHash,
}

/// One node's chain state plus its view of the relay: peers, who we are, and
/// the sync in flight. See the module docs.
#[derive(Clone, Debug)]
pub struct Driver {
    state: ChainState,
    agent: String,
    me: Option<PeerId>,
    joined: bool,
    peers: BTreeMap<PeerId, PeerInfo>,
    sync: Option<Sync>,
}

impl Driver {
    /// A node at genesis of `params`' network, not connected. `agent` names
    /// the software in `Hello` (cut to [`MAX_AGENT_CHARS`] characters).
    pub fn new(params: Params, agent: &str) -> Driver {
        Driver {
            state: ChainState::new(params),
            agent: agent.chars().take(MAX_AGENT_CHARS).collect(),
            me: None,
            joined: false,
            peers: BTreeMap::new(),
            sync: None,
        }
    }

    // ---- read side -------------------------------------------------------

    /// The chain and mempool.
    pub fn state(&self) -> &ChainState {
        &self.state
    }

    /// The network parameters.
    pub fn params(&self) -> &Params {
        self.state.params()
    }

    /// Height of the best tip.
    pub fn height(&self) -> u64 {
        self.state.chain().height()
    }

    /// Hash of the best tip.
    pub fn tip(&self) -> BlockHash {
        self.state.chain().tip().hash
    }

    /// Cumulative work of the best chain.
    pub fn total_work(&self) -> Work {
        self.state.chain().tip().chain_work
    }

    /// The `Hello` agent.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// Our number at the relay, once welcomed on our network.
    pub fn me(&self) -> Option<PeerId> {
        self.me
    }

    /// Whether the relay has announced our `Hello` (we are a joined peer).
    pub fn is_joined(&self) -> bool {
        self.joined
    }

    /// The other joined peers, by id, with their latest known height and work.
    pub fn peers(&self) -> &BTreeMap<PeerId, PeerInfo> {
        &self.peers
    }

    /// Whether a sync is in flight.
    pub fn is_syncing(&self) -> bool {
        self.sync.is_some()
    }

    /// The sync in flight, if any.
    pub fn sync_progress(&self) -> Option<SyncStatus> {
        self.sync.as_ref().map(|s| SyncStatus { peer: s.peer, height: s.height, target_height: s.target_height })
    }

    // ---- host calls --------------------------------------------------------

    /// Rebuilds the chain from stored block bytes ([`Output::Store`]), in any
    /// order: they are decoded, sorted by height (parents first) and submitted
    /// with the clock `now_ms`, so no orphan pool limit applies. Needs no
    /// network and produces no outputs. Between branches of equal work the
    /// one stored first at the fork stays best; [`Driver::restore_preferring`]
    /// names the tip to keep instead.
    pub fn restore(&mut self, stored: impl IntoIterator<Item = Vec<u8>>, now_ms: u64) -> RestoreReport {
        self.restore_preferring(stored, None, now_ms)
    }

    /// [`Driver::restore`] keeping `tip` — the best tip when the blocks were
    /// stored — best among branches of equal work: its chain's blocks are
    /// submitted first at each height, and on equal work the block seen first
    /// stays best. A `tip` that is not among the stored blocks changes
    /// nothing.
    pub fn restore_preferring(
        &mut self,
        stored: impl IntoIterator<Item = Vec<u8>>,
        tip: Option<BlockHash>,
        now_ms: u64,
    ) -> RestoreReport {
        let mut report = RestoreReport::default();
        let mut blocks = Vec::new();
        for bytes in stored {
            match Block::from_bytes(&bytes) {
                Ok(block) => blocks.push((block.hash(), block)),
                Err(_) => report.rejected += 1,
            }
        }
        let preferred = match tip {
            Some(tip) => chain_of(&blocks, tip),
            None => HashSet::new(),
        };
        blocks.sort_by_key(|(hash, block)| (block.header.height, !preferred.contains(hash)));
        for (_, block) in blocks {
            match self.state.submit_block(block, now_ms) {
                Ok(BlockStatus::Stored(stored)) => {
                    report.accepted += stored.hashes.len();
                    report.rejected += stored.rejected_orphans.len();
                }
                Ok(BlockStatus::Duplicate) => report.duplicates += 1,
                Ok(BlockStatus::Orphan { .. }) => report.orphans += 1,
                Err(_) => report.rejected += 1,
            }
        }
        report.height = self.height();
        report.tip = self.tip();
        report
    }

    /// One text frame from the relay. Text that does not decode gives one
    /// [`Event::BadMessage`] and changes nothing.
    pub fn on_text(&mut self, text: &str, now_ms: u64) -> Vec<Output> {
        match wire::decode(text) {
            Ok(envelope) => self.on_envelope(envelope, now_ms),
            Err(e) => vec![Output::Event(Event::BadMessage { reason: e.to_string() })],
        }
    }

    /// One decoded message from the relay (what [`Driver::on_text`] does after
    /// decoding; for hosts that decode frames themselves).
    pub fn on_envelope(&mut self, envelope: Envelope, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let from = envelope.from;
        match envelope.message {
            Message::Welcome { peer_id, network, chain_id, peers } => {
                self.on_welcome(peer_id, network, chain_id, peers, &mut out);
            }
            Message::PeerJoined { peer } => self.on_peer_joined(peer, now_ms, &mut out),
            Message::PeerLeft { peer_id } => self.on_peer_left(peer_id, now_ms, &mut out),
            Message::Tx { tx } => {
                let author = tx.author.clone();
                if let Ok(tx_id) = self.state.submit_post(tx, now_ms) {
                    out.push(Output::Event(Event::PostReceived { tx_id, author, from }));
                }
            }
            Message::Block { block } => self.on_block(from, block, now_ms, &mut out),
            Message::GetBlocks { locator, limit } => {
                if let Some(asker) = from {
                    let limit = (limit as usize).min(MAX_BLOCKS_PER_MESSAGE);
                    let blocks = self.state.blocks_after(&locator, limit, SYNC_PAGE_BYTES);
                    let blocks: Vec<Block> = blocks.iter().map(|b| (**b).clone()).collect();
                    self.send_trimmed(asker, blocks, |blocks| Message::Blocks { blocks }, &mut out);
                }
            }
            Message::Blocks { blocks } => self.on_blocks(from, blocks, now_ms, &mut out),
            Message::GetMempool {} => {
                if let Some(asker) = from {
                    let txs: Vec<Post> =
                        self.state.mempool().iter().take(MAX_TXS_PER_MESSAGE).map(|(_, p)| p.clone()).collect();
                    self.send_trimmed(asker, txs, |txs| Message::Mempool { txs }, &mut out);
                }
            }
            Message::Mempool { txs } => {
                let received = txs.len();
                let accepted = txs.into_iter().filter(|tx| self.state.submit_post(tx.clone(), now_ms).is_ok()).count();
                out.push(Output::Event(Event::MempoolReceived { from, received, accepted }));
            }
            Message::Ping { nonce } => {
                if let Some(peer) = from {
                    send(Envelope::to(peer, Message::Pong { nonce }), &mut out);
                }
            }
            Message::Error { code, message } => out.push(Output::Event(Event::PeerError { from, code, message })),
            // Only the relay reads Hello; a Pong needs nothing.
            Message::Hello { .. } | Message::Pong { .. } => {}
        }
        out
    }

    /// The websocket closed: peers, our number and the sync in flight are
    /// forgotten; the chain and the mempool stay.
    pub fn on_disconnected(&mut self) {
        self.me = None;
        self.joined = false;
        self.peers.clear();
        self.sync = None;
    }

    /// Timers: a sync request unanswered for [`SYNC_TIMEOUT_MS`] is sent again,
    /// to another peer claiming more work than ours if there is one; after
    /// [`SYNC_MAX_UNANSWERED`] in a row the sync is abandoned.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let our_work = self.total_work();
        let Some(sync) = &self.sync else { return out };
        if now_ms.saturating_sub(sync.sent_ms) < SYNC_TIMEOUT_MS {
            return out;
        }
        let unanswered = sync.unanswered + 1;
        let current = sync.peer;
        if unanswered >= SYNC_MAX_UNANSWERED {
            self.sync = None;
            let reason = format!("{unanswered} requests in a row got no answer");
            out.push(Output::Event(Event::SyncAbandoned { peer: current, reason }));
            return out;
        }
        let peer = self.best_peer(Some(current)).filter(|p| p.total_work > our_work).map_or(current, |p| p.id);
        let claimed = self.peers.get(&peer).map_or(0, |p| p.best_height);
        if let Some(sync) = &mut self.sync {
            sync.unanswered = unanswered;
            sync.peer = peer;
            sync.target_height = sync.target_height.max(claimed);
            let locator = sync.locator.clone();
            out.push(Output::Event(Event::SyncRetry { peer, unanswered }));
            self.request_page(locator, now_ms, &mut out);
        }
        out
    }

    /// A post written here (built and signed by the host): into the mempool,
    /// and announced as `Tx` once we have said `Hello`.
    pub fn submit_post(&mut self, post: Post, now_ms: u64) -> Result<(TxId, Vec<Output>), PostRejected> {
        let mut out = Vec::new();
        let announce = self.me.is_some().then(|| post.clone());
        let tx_id = self.state.submit_post(post, now_ms)?;
        if let Some(tx) = announce {
            send(Envelope::broadcast(Message::Tx { tx }), &mut out);
        }
        Ok((tx_id, out))
    }

    /// A mining template on the best tip with the oldest pending posts that
    /// fit (see [`ChainState::block_template`]).
    pub fn template(&self, now_ms: u64) -> Block {
        self.state.block_template(now_ms)
    }

    /// A block this node mined (a template with a nonce that meets its
    /// target): validated, stored ([`Output::Store`]), shown
    /// ([`Event::BlockAccepted`]) and announced as `Block` once we have said
    /// `Hello`. A block that does not build on the current tip is refused as
    /// [`MinedError::Stale`] and neither stored nor announced.
    pub fn submit_mined(&mut self, block: Block, now_ms: u64) -> Result<Vec<Output>, MinedError> {
        let tip = self.tip();
        if block.header.prev_hash != tip {
            return Err(MinedError::Stale { prev_hash: block.header.prev_hash, tip });
        }
        let hash = block.hash();
        let mut out = Vec::new();
        match self.state.submit_block(block, now_ms)? {
            BlockStatus::Stored(stored) => {
                self.on_stored(&stored, None, true, &mut out);
                if self.me.is_some()
                    && let Some(entry) = self.state.chain().get(&hash)
                {
                    send(Envelope::broadcast(Message::Block { block: (*entry.block).clone() }), &mut out);
                }
                Ok(out)
            }
            BlockStatus::Duplicate => Err(MinedError::Duplicate(hash)),
            // The parent is the tip, so this cannot happen; refuse it like a stale block.
            BlockStatus::Orphan { missing_parent } => Err(MinedError::Stale { prev_hash: missing_parent, tip }),
        }
    }

    // ---- message handlers ---------------------------------------------------

    fn hello(&self) -> Message {
        let tip = self.state.chain().tip();
        Message::Hello {
            chain_id: self.state.chain().genesis().hash,
            protocol: PROTOCOL_VERSION,
            agent: self.agent.clone(),
            best_height: tip.height(),
            best_hash: tip.hash,
            total_work: tip.chain_work,
        }
    }

    fn on_welcome(
        &mut self,
        peer_id: PeerId,
        network: Network,
        chain_id: BlockHash,
        peers: Vec<PeerInfo>,
        out: &mut Vec<Output>,
    ) {
        let expected_network = self.params().network;
        let expected_chain_id = self.state.chain().genesis().hash;
        if network != expected_network || chain_id != expected_chain_id {
            out.push(Output::Event(Event::WrongNetwork { network, chain_id, expected_network, expected_chain_id }));
            return;
        }
        // A second Welcome means a new connection the host did not report.
        self.on_disconnected();
        self.me = Some(peer_id);
        self.peers = peers.into_iter().filter(|p| p.id != peer_id).map(|p| (p.id, p)).collect();
        out.push(Output::Event(Event::Welcomed { peer_id, network, peers: self.peers.len() }));
        send(Envelope::broadcast(self.hello()), out);
    }

    fn on_peer_joined(&mut self, peer: PeerInfo, now_ms: u64, out: &mut Vec<Output>) {
        if Some(peer.id) == self.me {
            if self.joined {
                return;
            }
            self.joined = true;
            out.push(Output::Event(Event::Joined { peer_id: peer.id }));
            if let Some(best) = self.best_peer(None) {
                let (id, more_work) = (best.id, best.total_work > self.total_work());
                if more_work {
                    self.start_sync(id, 0, now_ms, out);
                }
                send(Envelope::to(id, Message::GetMempool {}), out);
            }
            return;
        }
        let (id, more_work) = (peer.id, peer.total_work > self.total_work());
        if !self.peers.contains_key(&id) {
            let event = Event::PeerJoined { id, agent: peer.agent.clone(), best_height: peer.best_height };
            out.push(Output::Event(event));
        }
        self.peers.insert(id, peer);
        if self.joined && self.sync.is_none() && more_work {
            self.start_sync(id, 0, now_ms, out);
        }
    }

    fn on_peer_left(&mut self, id: PeerId, now_ms: u64, out: &mut Vec<Output>) {
        if self.peers.remove(&id).is_none() {
            return;
        }
        out.push(Output::Event(Event::PeerLeft { id }));
        if self.sync.as_ref().is_some_and(|s| s.peer == id) {
            self.sync_elsewhere(format!("peer {id} left"), now_ms, out);
        }
    }

    fn on_block(&mut self, from: Option<PeerId>, block: Block, now_ms: u64, out: &mut Vec<Output>) {
        let hash = block.hash();
        let height = block.header.height;
        match self.state.submit_block(block, now_ms) {
            Ok(BlockStatus::Stored(stored)) => {
                self.on_stored(&stored, from, true, out);
                self.credit(from, &hash);
            }
            Ok(BlockStatus::Duplicate) => self.credit(from, &hash),
            Ok(BlockStatus::Orphan { .. }) => {
                if let Some(peer) = from
                    && let Some(info) = self.peers.get_mut(&peer)
                {
                    info.best_height = info.best_height.max(height);
                }
                if let Some(peer) = from
                    && self.joined
                    && self.sync.is_none()
                {
                    self.start_sync(peer, height, now_ms, out);
                }
            }
            Err(e) => self.reject(hash, from, &e, out),
        }
    }

    fn on_blocks(&mut self, from: Option<PeerId>, blocks: Vec<Block>, now_ms: u64, out: &mut Vec<Output>) {
        // Only an answer to our latest request moves the sync on: its first
        // block follows one of the hashes we sent.
        let answers_sync = match (&self.sync, from) {
            (Some(sync), Some(from)) => {
                sync.peer == from && blocks.first().is_none_or(|b| sync.locator.contains(&b.header.prev_hash))
            }
            _ => false,
        };
        let mut stored_count = 0u64;
        let mut last = None;
        let mut failure = None;
        for block in blocks {
            let hash = block.hash();
            let height = block.header.height;
            match self.state.submit_block(block, now_ms) {
                Ok(BlockStatus::Stored(stored)) => {
                    stored_count += stored.hashes.len() as u64;
                    self.on_stored(&stored, from, false, out);
                }
                Ok(BlockStatus::Duplicate | BlockStatus::Orphan { .. }) => {}
                Err(e) => {
                    failure = Some(format!("invalid block {hash}: {e}"));
                    self.reject(hash, from, &e, out);
                    break;
                }
            }
            last = Some((hash, height));
        }
        if let Some((hash, _)) = last {
            self.credit(from, &hash);
        }
        if !answers_sync {
            return;
        }
        if let Some(reason) = failure {
            if let Some(sync) = &mut self.sync {
                sync.stored += stored_count;
            }
            self.sync_elsewhere(reason, now_ms, out);
            return;
        }
        let Some(sync) = &mut self.sync else { return };
        sync.stored += stored_count;
        sync.unanswered = 0;
        let Some((hash, height)) = last else {
            self.finish_sync(out);
            return;
        };
        sync.height = height;
        sync.target_height = sync.target_height.max(height);
        let progress = Event::SyncProgress { peer: sync.peer, height, target_height: sync.target_height };
        out.push(Output::Event(progress));
        let no_progress = sync.starts.contains(&hash);
        match self.state.locator_from(&hash) {
            Some(_) if no_progress => self.finish_sync(out),
            Some(locator) => {
                if let Some(sync) = &mut self.sync {
                    sync.last = Some(hash);
                }
                self.request_page(locator, now_ms, out);
            }
            None => self.sync_elsewhere(format!("the page's last block {hash} does not connect"), now_ms, out),
        }
    }

    // ---- helpers --------------------------------------------------------------

    /// Outputs for blocks added to the tree: `Store` each, report orphans that
    /// failed, and the tip move (growth only when `announced`: sync pages
    /// report progress instead).
    fn on_stored(&mut self, stored: &Stored, from: Option<PeerId>, announced: bool, out: &mut Vec<Output>) {
        let chain = self.state.chain();
        for hash in &stored.hashes {
            if let Some(entry) = chain.get(hash) {
                out.push(Output::Store { hash: *hash, height: entry.height(), bytes: entry.block.to_bytes() });
            }
        }
        for (hash, error) in &stored.rejected_orphans {
            let event = Event::BlockRejected { hash: *hash, from: None, reason: error.to_string() };
            out.push(Output::Event(event));
        }
        if let Some(change) = &stored.tip_change {
            let tip = chain.tip();
            if change.is_reorg() {
                out.push(Output::Event(Event::Reorg {
                    depth: change.disconnected.len() as u64,
                    fork_height: change.fork_height,
                    new_tip: tip.hash,
                    new_height: tip.height(),
                    from,
                }));
            } else if announced {
                out.push(Output::Event(Event::BlockAccepted {
                    hash: tip.hash,
                    height: tip.height(),
                    tx_count: tip.block.posts.len(),
                    from,
                }));
            }
        }
    }

    /// Raises what we know of `from`'s chain to a block of ours it sent.
    fn credit(&mut self, from: Option<PeerId>, hash: &BlockHash) {
        let (Some(from), Some(entry)) = (from, self.state.chain().get(hash)) else { return };
        if let Some(info) = self.peers.get_mut(&from) {
            info.best_height = info.best_height.max(entry.height());
            info.total_work = info.total_work.max(entry.chain_work);
        }
    }

    fn reject(&mut self, hash: BlockHash, from: Option<PeerId>, error: &BlockError, out: &mut Vec<Output>) {
        let reason = error.to_string();
        if let Some(peer) = from {
            let message: String = format!("block {hash}: {reason}").chars().take(MAX_ERROR_MESSAGE_CHARS).collect();
            send(Envelope::to(peer, Message::Error { code: ErrorCode::InvalidBlock, message }), out);
        }
        out.push(Output::Event(Event::BlockRejected { hash, from, reason }));
    }

    /// The peer claiming the most work (lowest id on ties), except `except`.
    fn best_peer(&self, except: Option<PeerId>) -> Option<&PeerInfo> {
        self.peers
            .values()
            .filter(|p| Some(p.id) != except)
            .max_by(|a, b| a.total_work.cmp(&b.total_work).then(b.id.cmp(&a.id)))
    }

    /// Starts a sync from `peer` with our best-tip locator.
    fn start_sync(&mut self, peer: PeerId, target_height: u64, now_ms: u64, out: &mut Vec<Output>) {
        let target_height = target_height.max(self.peers.get(&peer).map_or(0, |p| p.best_height));
        self.sync = Some(Sync {
            peer,
            target_height,
            height: self.height(),
            locator: Vec::new(),
            starts: HashSet::new(),
            last: None,
            sent_ms: now_ms,
            unanswered: 0,
            stored: 0,
            start_tip: self.tip(),
        });
        out.push(Output::Event(Event::SyncStarted { peer, target_height }));
        self.request_page(self.state.locator(), now_ms, out);
    }

    /// Sends `GetBlocks` with `locator` to the sync peer.
    fn request_page(&mut self, locator: Vec<BlockHash>, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &mut self.sync else { return };
        if let Some(first) = locator.first() {
            sync.starts.insert(*first);
        }
        sync.locator = locator.clone();
        sync.sent_ms = now_ms;
        let peer = sync.peer;
        send(Envelope::to(peer, Message::GetBlocks { locator, limit: SYNC_PAGE_LIMIT }), out);
    }

    /// The sync peer failed: resume from the last block received with the
    /// peer claiming the most work, if it claims more than ours; else give up.
    fn sync_elsewhere(&mut self, reason: String, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = self.sync.take() else { return };
        let our_work = self.total_work();
        let next = self.best_peer(Some(sync.peer)).filter(|p| p.total_work > our_work).map(|p| (p.id, p.best_height));
        let Some((peer, claimed)) = next else {
            out.push(Output::Event(Event::SyncAbandoned { peer: sync.peer, reason }));
            return;
        };
        let locator = sync.last.and_then(|h| self.state.locator_from(&h)).unwrap_or_else(|| self.state.locator());
        let target_height = sync.target_height.max(claimed);
        self.sync = Some(Sync { peer, target_height, unanswered: 0, ..sync });
        out.push(Output::Event(Event::SyncStarted { peer, target_height }));
        self.request_page(locator, now_ms, out);
    }

    /// The sync peer has nothing more: report, and tell the relay our new
    /// chain (a later `Hello` updates what it knows of us, so it can send
    /// others' requests our way).
    fn finish_sync(&mut self, out: &mut Vec<Output>) {
        let Some(sync) = self.sync.take() else { return };
        out.push(Output::Event(Event::Synced { peer: sync.peer, blocks: sync.stored, height: self.height() }));
        if sync.start_tip != self.tip() && self.me.is_some() {
            send(Envelope::broadcast(self.hello()), out);
        }
    }

    /// Sends `wrap(items)` to `to`, dropping items from the end until the
    /// message fits [`wire::MAX_MESSAGE_BYTES`].
    fn send_trimmed<T: Clone>(
        &self,
        to: PeerId,
        mut items: Vec<T>,
        wrap: impl Fn(Vec<T>) -> Message,
        out: &mut Vec<Output>,
    ) {
        loop {
            let envelope = Envelope::to(to, wrap(items.clone()));
            match wire::encode(&envelope) {
                Ok(text) => {
                    out.push(Output::Send(text));
                    return;
                }
                Err(WireError::TooLarge { len, max }) if items.len() > 1 => {
                    // Shrink in proportion, with a margin; always by at least one.
                    let fit = (items.len() as u128 * max as u128 / len.max(1) as u128) * 9 / 10;
                    let keep = (fit as usize).clamp(1, items.len() - 1);
                    items.truncate(keep);
                }
                Err(e) => {
                    let event = Event::SendFailed { kind: envelope.message.kind().to_owned(), reason: e.to_string() };
                    out.push(Output::Event(event));
                    return;
                }
            }
        }
    }
}

/// Encodes and queues a message; a failure becomes [`Event::SendFailed`].
fn send(envelope: Envelope, out: &mut Vec<Output>) {
    match wire::encode(&envelope) {
        Ok(text) => out.push(Output::Send(text)),
        Err(e) => out
            .push(Output::Event(Event::SendFailed { kind: envelope.message.kind().to_owned(), reason: e.to_string() })),
    }
}

/// The short key id posts signed with this Ed25519 secret key show
/// ([`Post::key_id`]): the first 8 hex digits of the public key.
pub fn public_key_id(secret_key: &[u8; 32]) -> String {
    let public = ed25519_dalek::SigningKey::from_bytes(secret_key).verifying_key().to_bytes();
    hex::encode(&public[..4])
}

/// The hashes of `tip` and its ancestors among `blocks` (at most every block:
/// the walk stops at the first parent not among them).
fn chain_of(blocks: &[(BlockHash, Block)], tip: BlockHash) -> HashSet<BlockHash> {
    let parents: HashMap<BlockHash, BlockHash> =
        blocks.iter().map(|(hash, block)| (*hash, block.header.prev_hash)).collect();
    let mut chain = HashSet::new();
    let mut next = tip;
    while let Some(&parent) = parents.get(&next) {
        if !chain.insert(next) {
            break;
        }
        next = parent;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_id_matches_signed_posts() {
        let secret = [9u8; 32];
        let post = Post::new_signed("a", "b", 1, &secret).unwrap();
        assert_eq!(post.key_id().as_deref(), Some(public_key_id(&secret).as_str()));
    }

    #[test]
    fn events_serialize_camel_case_with_a_type_tag() {
        let event = Event::PostReceived { tx_id: TxId::from_bytes([1; 32]), author: "a".into(), from: Some(PeerId(3)) };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], "postReceived");
        assert_eq!(json["txId"], "01".repeat(32));
        assert_eq!(json["from"], 3);
        let json = serde_json::to_value(Event::SyncStarted { peer: PeerId(2), target_height: 7 }).unwrap();
        assert_eq!(json, serde_json::json!({"type": "syncStarted", "peer": 2, "targetHeight": 7}));
    }
}
