//! The protocol driver every node runs: a browser tab (through
//! `tabchain-wasm`) and the native node (`tabchain-node`).
//!
//! [`Driver`] is pure and synchronous, like the rest of this crate. The host
//! owns the websocket, the clock and the storage: it feeds the driver every
//! text frame from the relay ([`Driver::on_text`]), tells it when the socket
//! closes ([`Driver::on_disconnected`]), calls [`Driver::tick`] every second
//! or so, hands in what happens locally (own posts, mined blocks, blocks from
//! its REST API: `submit.rs`), and carries out the [`Output`]s each call
//! returns: changes to keep ([`Change`]), text frames to write, a stale
//! mining template, events to show. The driver decides; hosts carry out.
//! Nothing here blocks, sleeps or panics on bad input; whatever a peer sends
//! becomes at worst an [`Event`].
//!
//! The protocol is the one in `docs/PROTOCOL.md` ("Wire messages", "Sync",
//! "The relay" and "What every node does"). By file:
//!
//! - `messages.rs`: each relay message. `Welcome` on the node's network →
//!   remember who we are and who is there, answer `Hello`. Our own
//!   `PeerJoined` means we are in: announce our own pending posts again, sync
//!   from the peer claiming the most work if it claims more than ours, and ask
//!   it for its mempool. `Tx` and `Mempool` posts go to the mempool;
//!   announced `Block`s are validated and stored, and an orphan makes us ask
//!   its sender for the blocks leading to it. `GetBlocks` and `GetMempool`
//!   are answered to the asker (`GetBlocks` through the host when bodies are
//!   out of memory: `bodies.rs`); `Ping` with `Pong`.
//! - `sync.rs`: one sync at a time, page by page, with timeouts and retries.
//! - `submit.rs`: own posts, mined blocks, blocks from outside the relay.
//! - `restore.rs`: startup from what the host kept.
//! - `siblings.rs`: posts and blocks from the other tabs of this browser,
//!   and a sibling's orphan's ancestors read back from shared storage.
//! - `misbehaviour.rs`: points per peer for invalid data; past a limit its
//!   blocks and posts are ignored.
//! - `bodies.rs`: a body limit (a tab keeps only recent bodies in memory),
//!   and reading older blocks back through the host.
//! - `output.rs`: [`Output`], [`Change`], [`Event`].

mod bodies;
mod messages;
mod misbehaviour;
mod output;
mod peers;
mod restore;
mod siblings;
mod submit;
mod sync;

pub use messages::MAX_RESENT_OWN_POSTS;
pub use misbehaviour::{IGNORE_SCORE, PENALTY_BAD_MESSAGE, PENALTY_INVALID_BLOCK, PENALTY_INVALID_POST};
pub use output::{Change, Event, MAX_REORG_HASHES, Output};
pub use peers::HELLO_MIN_INTERVAL_MS;
pub use restore::{RefusedPost, RestoreReport, Saved, SavedPost};
pub use siblings::MAX_STORED_WALK;
pub use submit::{MinedError, SubmitError};
pub use sync::{
    HEADERS_PAGE_LIMIT, MAX_SYNC_HEADERS, SYNC_MAX_UNANSWERED, SYNC_PAGE_LIMIT, SYNC_TIMEOUT_MS, SyncStatus,
};

use crate::block::Block;
use crate::chain::Stored;
use crate::hash::{BlockHash, TxId};
use crate::mempool::PoolChange;
use crate::params::Params;
use crate::state::ChainState;
use crate::target::Work;
use crate::validate::BlockError;
use crate::wire::{self, Envelope, ErrorCode, MAX_AGENT_CHARS, MAX_ERROR_MESSAGE_CHARS, Message, PeerId, PeerInfo};
use std::collections::{BTreeMap, HashSet};
use sync::Sync;

/// A mining template older than this is stale ([`Output::TemplateStale`]
/// from [`Driver::tick`]): its timestamp should follow the clock, and the
/// next block's rules may allow an easier target as time passes.
pub const TEMPLATE_MAX_AGE_MS: u64 = 10_000;

/// One node's chain state plus its view of the relay: peers, who we are, the
/// sync in flight, its own pending posts and its mining template's age. See
/// the module docs.
#[derive(Clone, Debug)]
pub struct Driver {
    state: ChainState,
    agent: String,
    me: Option<PeerId>,
    joined: bool,
    peers: BTreeMap<PeerId, PeerInfo>,
    sync: Option<Sync>,
    /// Peers not to sync from until they announce a new chain (see `sync.rs`).
    doubted: HashSet<PeerId>,
    /// Posts written here and still pending (a subset of the mempool).
    own: HashSet<TxId>,
    /// When the host last took a mining template.
    template_ms: Option<u64>,
    /// Misbehaviour points of the peers that sent invalid data.
    scores: BTreeMap<PeerId, u32>,
    /// When (host clock, ms) each peer last announced a block, as the relay
    /// or our own receipt tells; one entry per known peer at most.
    last_block_ms: BTreeMap<PeerId, u64>,
    /// The tip the relay last heard of from us (`Hello` or our own
    /// announced block), and when we last sent a `Hello` (see `tick`).
    claimed_tip: Option<BlockHash>,
    hello_ms: Option<u64>,
    /// A sibling's orphan's ancestors being read from storage (see `siblings.rs`).
    stored_walk: Option<siblings::StoredWalk>,
}

impl Driver {
    /// A node at genesis of `params`' network, not connected. `agent` names
    /// the software in `Hello` (cut to [`MAX_AGENT_CHARS`] characters).
    pub fn new(params: Params, agent: &str) -> Driver {
        let mut state = ChainState::new(params);
        state.track_mempool_changes();
        Driver {
            state,
            agent: agent.chars().take(MAX_AGENT_CHARS).collect(),
            me: None,
            joined: false,
            peers: BTreeMap::new(),
            sync: None,
            doubted: HashSet::new(),
            own: HashSet::new(),
            template_ms: None,
            scores: BTreeMap::new(),
            last_block_ms: BTreeMap::new(),
            claimed_tip: None,
            hello_ms: None,
            stored_walk: None,
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

    /// When (host clock, ms, as passed to the calls) `peer` last announced
    /// a block: from the relay's `Peers` and `Welcome`/`PeerJoined` news, or
    /// a block we got from it. `None` until one is known.
    pub fn peer_last_block_ms(&self, peer: PeerId) -> Option<u64> {
        self.last_block_ms.get(&peer).copied()
    }

    /// Whether a sync is in flight.
    pub fn is_syncing(&self) -> bool {
        self.sync.is_some()
    }

    /// The sync in flight, if any.
    pub fn sync_progress(&self) -> Option<SyncStatus> {
        self.sync.as_ref().map(Sync::status)
    }

    /// Whether the pending post `tx_id` was written here.
    pub fn is_own(&self, tx_id: &TxId) -> bool {
        self.own.contains(tx_id)
    }

    // ---- host calls --------------------------------------------------------

    /// One text frame from the relay. Text that does not decode gives one
    /// [`Event::BadMessage`] and changes nothing.
    pub fn on_text(&mut self, text: &str, now_ms: u64) -> Vec<Output> {
        match wire::decode(text) {
            Ok(envelope) => self.on_envelope(envelope, now_ms),
            Err(e) => vec![Output::Event(Event::BadMessage { reason: e.to_string() })],
        }
    }

    /// One decoded message from the relay (what [`Driver::on_text`] does
    /// after decoding; for hosts that decode frames themselves).
    pub fn on_envelope(&mut self, envelope: Envelope, now_ms: u64) -> Vec<Output> {
        let before = self.tip();
        let mut out = Vec::new();
        self.on_message(envelope, now_ms, &mut out);
        self.finish(before, &mut out);
        out
    }

    /// The websocket closed: peers, our number, the sync in flight and the
    /// peers' misbehaviour scores are forgotten; the chain and the mempool
    /// stay.
    pub fn on_disconnected(&mut self) {
        self.me = None;
        self.joined = false;
        self.peers.clear();
        self.sync = None;
        self.doubted.clear();
        self.state.clear_wanted();
        self.scores.clear();
        self.last_block_ms.clear();
        self.claimed_tip = None;
    }

    /// Timers: a sync request unanswered for [`SYNC_TIMEOUT_MS`] is sent
    /// again (see `sync.rs`), pending posts that left the post window are
    /// dropped ([`Change::PendingRemoved`]; own ones also give
    /// [`Event::PostExpired`]), and a mining template older than
    /// [`TEMPLATE_MAX_AGE_MS`] is reported stale, and a tip the relay has
    /// not heard of goes out in a `Hello` (see `peers.rs`), and a read from
    /// storage overdue by as long ends its walk (see `siblings.rs`).
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let before = self.tip();
        let mut out = Vec::new();
        self.sync_tick(now_ms, &mut out);
        self.stored_walk_tick(now_ms);
        for tx_id in self.state.expire_posts(now_ms) {
            if self.own.contains(&tx_id) {
                out.push(Output::Event(Event::PostExpired { tx_id }));
            }
        }
        if self.template_ms.is_some_and(|at| now_ms.saturating_sub(at) >= TEMPLATE_MAX_AGE_MS) {
            self.template_ms = None;
            out.push(Output::TemplateStale);
        }
        self.tell_tip(now_ms, &mut out);
        self.finish(before, &mut out);
        out
    }

    /// A mining template on the best tip with the oldest pending posts that
    /// fit (see [`ChainState::block_template`]). Its age counts from now for
    /// [`Output::TemplateStale`].
    pub fn template(&mut self, now_ms: u64) -> Block {
        self.template_ms = Some(now_ms);
        self.state.block_template(now_ms)
    }

    // ---- shared by the handlers -------------------------------------------------

    /// The end of every call that may change state: bodies beyond the body
    /// limit leave memory, the mempool's net changes become [`Change`]s (placed before the call's first `Send`, so
    /// a host working in order keeps before it tells), own posts that left
    /// the mempool stop being own, and a moved tip or mempool makes the
    /// template stale.
    fn finish(&mut self, tip_before: BlockHash, out: &mut Vec<Output>) {
        // The call's stored blocks are reported: bodies beyond the limit can go.
        self.state.trim_bodies();
        let changes: Vec<Output> = self
            .state
            .take_mempool_changes()
            .into_iter()
            .filter_map(|change| match change {
                PoolChange::Added(tx_id) => {
                    let post = self.state.mempool().get(&tx_id)?.clone();
                    Some(Change::PendingAdded { tx_id, post, own: self.own.contains(&tx_id) })
                }
                PoolChange::Removed(tx_id) => Some(Change::PendingRemoved { tx_id, own: self.own.remove(&tx_id) }),
            })
            .map(Output::Store)
            .collect();
        let stale = !changes.is_empty() || self.tip() != tip_before;
        let first_send = out.iter().position(|o| matches!(o, Output::Send(_))).unwrap_or(out.len());
        out.splice(first_send..first_send, changes);
        if stale && !out.contains(&Output::TemplateStale) {
            out.push(Output::TemplateStale);
        }
    }

    /// Outputs for blocks added to the tree: keep each, keep the best
    /// chain's change, report orphans that failed, and the tip move (growth
    /// only when `announced`: sync pages report progress instead).
    fn on_stored(&mut self, stored: &Stored, from: Option<PeerId>, announced: bool, out: &mut Vec<Output>) {
        let chain = self.state.chain();
        for hash in &stored.hashes {
            // Just stored: bodies are trimmed only at the end of the call.
            if let Some(block) = chain.get(hash).and_then(|e| e.block()) {
                let change = Change::Block { hash: *hash, height: block.header.height, bytes: block.to_bytes() };
                out.push(Output::Store(change));
            }
        }
        for hash in &stored.removed {
            out.push(Output::Store(Change::BlockRemoved { hash: *hash }));
        }
        for (hash, error) in &stored.rejected_orphans {
            let event = Event::BlockRejected { hash: *hash, from: None, reason: error.to_string() };
            out.push(Output::Event(event));
        }
        let Some(change) = &stored.tip_change else { return };
        let tip = chain.tip();
        let from_height = change.fork_height + 1;
        let hashes = (from_height..=tip.height()).filter_map(|h| chain.best_at(h).map(|e| e.hash)).collect();
        push_best_chain(out, from_height, hashes);
        if change.is_reorg() {
            out.push(Output::Event(Event::Reorg {
                depth: change.disconnected.len() as u64,
                fork_height: change.fork_height,
                new_tip: tip.hash,
                new_height: tip.height(),
                from,
                disconnected: change.disconnected.iter().take(MAX_REORG_HASHES).copied().collect(),
            }));
        } else if announced {
            out.push(Output::Event(Event::BlockAccepted {
                hash: tip.hash,
                height: tip.height(),
                tx_count: tip.post_count,
                from,
            }));
        }
    }

    /// A block failed validation: `invalid_block` to its sender, an event,
    /// and misbehaviour points for the sender.
    fn reject(&mut self, hash: BlockHash, from: Option<PeerId>, error: &BlockError, out: &mut Vec<Output>) {
        let reason = error.to_string();
        if let Some(peer) = from {
            let message: String = format!("block {hash}: {reason}").chars().take(MAX_ERROR_MESSAGE_CHARS).collect();
            send(Envelope::to(peer, Message::Error { code: ErrorCode::InvalidBlock, message }), out);
        }
        out.push(Output::Event(Event::BlockRejected { hash, from, reason }));
        self.penalise_block(from, error, out);
    }
}

/// Adds a best-chain change, merged into the call's previous one when there
/// is one (a sync page moves the tip block by block; the host writes once).
fn push_best_chain(out: &mut Vec<Output>, from_height: u64, hashes: Vec<BlockHash>) {
    let previous = out.iter_mut().rev().find_map(|o| match o {
        Output::Store(Change::BestChain { from_height, hashes }) => Some((from_height, hashes)),
        _ => None,
    });
    match previous {
        Some((prev_from, prev_hashes)) if from_height >= *prev_from => {
            let keep = usize::try_from(from_height - *prev_from).unwrap_or(usize::MAX).min(prev_hashes.len());
            prev_hashes.truncate(keep);
            prev_hashes.extend(hashes);
        }
        Some((prev_from, prev_hashes)) => {
            *prev_from = from_height;
            *prev_hashes = hashes;
        }
        None => out.push(Output::Store(Change::BestChain { from_height, hashes })),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_bytes([n; 32])
    }

    #[test]
    fn best_chain_changes_of_one_call_merge() {
        let mut out = Vec::new();
        push_best_chain(&mut out, 5, vec![hash(5)]);
        push_best_chain(&mut out, 6, vec![hash(6)]);
        out.push(Output::Send("x".into()));
        // A reorg from height 6: the previous 6 is replaced.
        push_best_chain(&mut out, 6, vec![hash(16), hash(17)]);
        assert_eq!(
            out[0],
            Output::Store(Change::BestChain { from_height: 5, hashes: vec![hash(5), hash(16), hash(17)] })
        );
        // A deeper one replaces everything.
        push_best_chain(&mut out, 3, vec![hash(23)]);
        assert_eq!(out[0], Output::Store(Change::BestChain { from_height: 3, hashes: vec![hash(23)] }));
        assert_eq!(out.len(), 2);
    }
}
