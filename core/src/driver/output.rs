//! What the driver asks its host to do ([`Output`]): texts to send, changes
//! to keep on disk ([`Change`]), a new mining template, and events to show
//! ([`Event`]).

use crate::hash::{BlockHash, TxId};
use crate::params::Network;
use crate::post::Post;
use crate::wire::{ErrorCode, PeerId};
use serde::Serialize;

/// Most hashes of disconnected blocks an [`Event::Reorg`] lists (a deep
/// reorg lists the ones nearest the old tip: what a page's tree shows).
pub const MAX_REORG_HASHES: usize = 64;

/// What the host must do after a call, in this order: apply every
/// [`Output::Store`] of the call (in one transaction, durably where the host
/// promises durability), then write the [`Output::Send`]s, then the rest. A
/// block or post is thus on disk before anyone is told about it.
///
/// Two outputs ask the host to read blocks it kept and hand them back
/// ([`Output::ServeBlocks`], [`Output::LoadBlocks`]): only a driver with a
/// body limit ([`super::Driver::set_body_limit`]) gives them. The host reads
/// after the changes it was given so far are kept, and may answer later (the
/// driver stays pure and synchronous: it keeps no state for a serve, and a
/// load that never comes times out like an unanswered sync request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Write this text frame to the relay as is. It is already encoded with
    /// [`crate::wire::encode`], so the host never re-serializes blocks (their
    /// `u64` nonces do not survive JavaScript numbers).
    Send(String),
    /// Keep this change on disk; [`super::Driver::restore`] takes back what
    /// was kept.
    Store(Change),
    /// The mining template is stale (the tip or the pending posts changed,
    /// or it is older than [`super::TEMPLATE_MAX_AGE_MS`]): a host that
    /// mines asks [`super::Driver::template`] for a new one. At most one per
    /// call; a host that does not mine ignores it.
    TemplateStale,
    /// Something to show or log.
    Event(Event),
    /// Peer `to` asked for blocks (`GetBlocks`) whose bodies are not all in
    /// memory: read `hashes` (the answer, in order) from storage and hand
    /// their bytes, in the same order, to [`super::Driver::send_blocks`],
    /// which answers. Blocks storage does not have are left out: the answer
    /// ends before the first of them.
    ServeBlocks {
        /// The asking peer.
        to: PeerId,
        /// The blocks of the answer, lowest first.
        hashes: Vec<BlockHash>,
    },
    /// A block could not be checked yet: its duplicate check needs the post
    /// ids of these older best-chain blocks, dropped from memory by the body
    /// limit (a fork older than the post window). Read them from storage and
    /// hand their bytes (any order, missing ones left out) to
    /// [`super::Driver::blocks_loaded`]; the sync that needed them goes on.
    LoadBlocks {
        /// The blocks to read.
        hashes: Vec<BlockHash>,
    },
    /// A block from another tab of this browser is an orphan: read the
    /// block `hash` below it from the storage the tabs share and hand its
    /// bytes (`None` when it is not there) to
    /// [`super::Driver::block_read`]. Only siblings' blocks give it: a host
    /// without siblings (the native node) never sees it.
    ReadBlock {
        /// The block to read.
        hash: BlockHash,
    },
}

impl Output {
    /// The change to keep, if this is one: `outputs.into_iter().filter_map(Output::into_change)`
    /// is what a host persists.
    pub fn into_change(self) -> Option<Change> {
        match self {
            Output::Store(change) => Some(change),
            _ => None,
        }
    }
}

/// One change to what a node keeps. Applying a call's changes in order
/// keeps the host's copy equal to what the driver would restore. Every host
/// keeps the blocks and the best tip; what it keeps of the pending posts is
/// its choice (the native node keeps them all, a tab only its own posts:
/// `own`), and [`super::Driver::restore`] takes back whatever it kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A block entered the tree (on any branch): keep `bytes`
    /// ([`crate::block::Block::to_bytes`]) under `hash`.
    Block {
        /// The block's hash.
        hash: BlockHash,
        /// Its height.
        height: u64,
        /// Its binary encoding.
        bytes: Vec<u8>,
    },
    /// The best chain from `from_height` up is now `hashes` (lowest first;
    /// the last is the best tip), and no height above the last is on it.
    BestChain {
        /// Height of the first hash.
        from_height: u64,
        /// The best chain's hashes from there to the tip.
        hashes: Vec<BlockHash>,
    },
    /// A post entered the mempool.
    PendingAdded {
        /// Its id.
        tx_id: TxId,
        /// The post ([`Post::to_bytes`] is what to keep).
        post: Post,
        /// Written on this node ([`super::Driver::submit_own_post`]): kept
        /// until a block on the best chain holds it, and announced again
        /// each time the node joins the relay.
        own: bool,
    },
    /// A side block was pruned from the tree (it fell behind the best chain,
    /// or side branches were over their budget): delete it.
    BlockRemoved {
        /// The block's hash.
        hash: BlockHash,
    },
    /// A post left the mempool (a best-chain block holds it now, or it was
    /// dropped).
    PendingRemoved {
        /// Its id.
        tx_id: TxId,
        /// Whether it was this node's own post.
        own: bool,
    },
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
    /// relay will close the connection. A host that can follow the relay's
    /// network (a tab) opens that network's chain and feeds it the same
    /// `Welcome`.
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
        /// Own posts still pending that were announced again (posts written
        /// while offline, or not yet in a block).
        resent: usize,
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
        /// The peer that announced it; `None` for our own blocks and blocks
        /// submitted by the host.
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
        /// Blocks that left the best chain, old tip first, at most
        /// [`MAX_REORG_HASHES`] (the ones nearest the tip): what a page marks.
        disconnected: Vec<BlockHash>,
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
    /// A peer was dropped from syncing: its headers fell short of the work
    /// it claimed, were invalid, or its pages stopped making progress. It is
    /// not synced from again until it announces a new chain (`Hello`).
    PeerDoubted {
        /// The peer.
        peer: PeerId,
        /// What it did.
        reason: String,
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
    /// One of our own pending posts left the post window before a block
    /// held it: it can no longer be mined and was dropped.
    PostExpired {
        /// The post's id.
        tx_id: TxId,
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
    /// A peer's misbehaviour points reached [`super::IGNORE_SCORE`]: its
    /// blocks and posts are ignored from now on (until it reconnects).
    PeerIgnored {
        /// The peer.
        id: PeerId,
        /// Its points.
        score: u32,
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
    /// A frame from the relay did not decode, or a peer sent what only the
    /// relay may send; it was ignored.
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

#[cfg(test)]
mod tests {
    use super::*;

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
