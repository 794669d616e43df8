//! What the driver does with each message from the relay: the relay's own
//! news (`Welcome`, `PeerJoined`, `PeerLeft`), posts and blocks, and the
//! requests it answers (`GetBlocks`, `GetMempool`, `Ping`). Sync pages
//! (`Blocks`) are in `sync.rs`.

use super::misbehaviour::{PENALTY_BAD_MESSAGE, PENALTY_INVALID_POST};
use super::output::{Event, Output};
use super::peers::note_reported_block;
use super::{Driver, send};
use crate::block::Block;
use crate::chain::BlockStatus;
use crate::hash::BlockHash;
use crate::params::Network;
use crate::post::Post;
use crate::state::PostRejected;
use crate::validate::BlockError;
use crate::wire::{
    self, Envelope, MAX_HEADERS_PER_MESSAGE, MAX_TXS_PER_MESSAGE, Message, PROTOCOL_VERSION, PeerId, PeerInfo,
    WireError,
};

/// Own pending posts announced again when the node joins: a node with more
/// waits for blocks to take the oldest first (the relay allows a burst of
/// about a thousand messages per peer).
pub const MAX_RESENT_OWN_POSTS: usize = 256;

impl Driver {
    /// Carries out one decoded message. Blocks and posts from a peer whose
    /// misbehaviour reached the limit are dropped unread, and a message only
    /// the relay sends is ignored when a peer sent it.
    pub(super) fn on_message(&mut self, envelope: Envelope, now_ms: u64, out: &mut Vec<Output>) {
        let from = envelope.from;
        match &envelope.message {
            Message::Tx { .. } | Message::Mempool { .. } | Message::Block { .. } | Message::Blocks { .. }
                if self.is_ignored(from) =>
            {
                return;
            }
            Message::Welcome { .. } | Message::PeerJoined { .. } | Message::PeerLeft { .. } | Message::Peers { .. }
                if from.is_some() =>
            {
                let reason = format!("{} from a peer: only the relay sends it", envelope.message.kind());
                out.push(Output::Event(Event::BadMessage { reason }));
                self.penalise(from, PENALTY_BAD_MESSAGE, out);
                return;
            }
            _ => {}
        }
        match envelope.message {
            Message::Welcome { peer_id, network, chain_id, peers } => {
                self.on_welcome(peer_id, network, chain_id, peers, now_ms, out);
            }
            Message::PeerJoined { peer } => self.on_peer_joined(peer, now_ms, out),
            Message::PeerLeft { peer_id } => self.on_peer_left(peer_id, now_ms, out),
            Message::Peers { peers } => self.on_peers(peers, now_ms),
            Message::Tx { tx } => {
                let author = tx.author.clone();
                match self.state.submit_post(tx, now_ms) {
                    Ok(tx_id) => out.push(Output::Event(Event::PostReceived { tx_id, author, from })),
                    Err(PostRejected::Invalid(_)) => self.penalise(from, PENALTY_INVALID_POST, out),
                    Err(_) => {}
                }
            }
            Message::Block { block } => self.on_block(from, block, now_ms, out),
            Message::GetBlocks { locator, limit } => {
                if let Some(asker) = from {
                    self.answer_get_blocks(asker, &locator, limit, out);
                }
            }
            Message::Blocks { blocks } => self.on_blocks(from, blocks, now_ms, out),
            Message::GetHeaders { locator, limit } => {
                if let Some(asker) = from {
                    let limit = (limit as usize).min(MAX_HEADERS_PER_MESSAGE);
                    let headers = self.state.chain().headers_after(&locator, limit);
                    send(Envelope::to(asker, Message::Headers { headers }), out);
                }
            }
            Message::Headers { headers } => self.on_headers(from, headers, now_ms, out),
            Message::GetMempool {} => {
                if let Some(asker) = from {
                    let txs: Vec<Post> =
                        self.state.mempool().iter().take(MAX_TXS_PER_MESSAGE).map(|(_, p)| p.clone()).collect();
                    send_trimmed(asker, txs, |txs| Message::Mempool { txs }, out);
                }
            }
            Message::Mempool { txs } => {
                let received = txs.len();
                let mut accepted = 0;
                for tx in txs {
                    match self.state.submit_post(tx, now_ms) {
                        Ok(_) => accepted += 1,
                        Err(PostRejected::Invalid(_)) => {
                            self.penalise(from, PENALTY_INVALID_POST, out);
                            if self.is_ignored(from) {
                                break;
                            }
                        }
                        Err(_) => {}
                    }
                }
                out.push(Output::Event(Event::MempoolReceived { from, received, accepted }));
            }
            Message::Ping { nonce } => {
                if let Some(peer) = from {
                    send(Envelope::to(peer, Message::Pong { nonce }), out);
                }
            }
            Message::Error { code, message } => out.push(Output::Event(Event::PeerError { from, code, message })),
            // Only the relay reads Hello and GetPeers; a Pong needs nothing.
            Message::Hello { .. } | Message::GetPeers {} | Message::Pong { .. } => {}
        }
    }

    /// Our `Hello`: chain, protocol, agent and best tip.
    pub(super) fn hello(&self) -> Message {
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
        now_ms: u64,
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
        for info in self.peers.values() {
            note_reported_block(&mut self.last_block_ms, info, now_ms);
        }
        out.push(Output::Event(Event::Welcomed { peer_id, network, peers: self.peers.len() }));
        self.send_hello(None, out);
    }

    /// Another peer joined, or (our own id) we did: then announce our own
    /// pending posts again, sync from the peer claiming the most work if it
    /// claims more than ours, and ask it for its mempool.
    fn on_peer_joined(&mut self, peer: PeerInfo, now_ms: u64, out: &mut Vec<Output>) {
        if Some(peer.id) == self.me {
            if self.joined {
                return;
            }
            self.joined = true;
            let resent = self.resend_own_posts(out);
            out.push(Output::Event(Event::Joined { peer_id: peer.id, resent }));
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
        // A new Hello: a new chain to judge.
        self.doubted.remove(&id);
        if !self.peers.contains_key(&id) {
            let event = Event::PeerJoined { id, agent: peer.agent.clone(), best_height: peer.best_height };
            out.push(Output::Event(event));
        }
        note_reported_block(&mut self.last_block_ms, &peer, now_ms);
        self.peers.insert(id, peer);
        if self.joined && self.sync.is_none() && more_work {
            self.start_sync(id, 0, now_ms, out);
        }
    }

    /// Announces the oldest [`MAX_RESENT_OWN_POSTS`] own pending posts;
    /// returns how many.
    fn resend_own_posts(&self, out: &mut Vec<Output>) -> usize {
        let own: Vec<Post> = self
            .state
            .mempool()
            .iter()
            .filter(|(id, _)| self.own.contains(id))
            .take(MAX_RESENT_OWN_POSTS)
            .map(|(_, post)| post.clone())
            .collect();
        let count = own.len();
        for tx in own {
            send(Envelope::broadcast(Message::Tx { tx }), out);
        }
        count
    }

    fn on_peer_left(&mut self, id: PeerId, now_ms: u64, out: &mut Vec<Output>) {
        self.doubted.remove(&id);
        self.scores.remove(&id);
        self.last_block_ms.remove(&id);
        if self.peers.remove(&id).is_none() {
            return;
        }
        out.push(Output::Event(Event::PeerLeft { id }));
        if self.sync.as_ref().is_some_and(|s| s.peer() == id) {
            self.sync_elsewhere(format!("peer {id} left"), now_ms, out);
        }
    }

    /// An announced block: stored, or an orphan that starts a sync from its
    /// sender (from a sibling: a walk through storage), or refused with
    /// `invalid_block` to the sender.
    fn on_block(&mut self, from: Option<PeerId>, block: Block, now_ms: u64, out: &mut Vec<Output>) {
        let hash = block.hash();
        let header = block.header;
        let height = header.height;
        match self.state.submit_block(block, now_ms) {
            Ok(BlockStatus::Stored(stored)) => {
                self.on_stored(&stored, from, true, out);
                self.credit(from, &hash);
                self.note_announced_by(from, now_ms);
            }
            Ok(BlockStatus::Duplicate) => {
                self.credit(from, &hash);
                self.note_announced_by(from, now_ms);
            }
            // Less work than our chain: not kept, nothing to do.
            Ok(BlockStatus::LessWork { .. }) => {}
            // From another tab of this browser (no sender): its ancestors
            // are in the storage the tabs share (`siblings.rs`).
            Ok(BlockStatus::Orphan { .. }) if from.is_none() => self.walk_stored(hash, now_ms, out),
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
            // Not a verdict: load the old post ids its check needs, and
            // fetch it again with a sync from its sender.
            Err(BlockError::PostIdsNotInMemory { .. }) => {
                self.load_for(&header, out);
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

    /// Raises what we know of `from`'s chain to a block of ours it sent.
    pub(super) fn credit(&mut self, from: Option<PeerId>, hash: &BlockHash) {
        let (Some(from), Some(entry)) = (from, self.state.chain().get(hash)) else { return };
        if let Some(info) = self.peers.get_mut(&from) {
            info.best_height = info.best_height.max(entry.height());
            info.total_work = info.total_work.max(entry.chain_work);
        }
    }

    /// The peer claiming the most work (lowest id on ties), except `except`
    /// except doubted peers and peers whose blocks we ignore.
    pub(super) fn best_peer(&self, except: Option<PeerId>) -> Option<&PeerInfo> {
        self.peers
            .values()
            .filter(|p| Some(p.id) != except && !self.doubted.contains(&p.id) && !self.is_ignored(Some(p.id)))
            .max_by(|a, b| a.total_work.cmp(&b.total_work).then(b.id.cmp(&a.id)))
    }
}

/// Sends `wrap(items)` to `to`, dropping items from the end until the
/// message fits [`wire::MAX_MESSAGE_BYTES`].
pub(super) fn send_trimmed<T: Clone>(
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
