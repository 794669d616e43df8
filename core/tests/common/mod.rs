//! The driver tests' harness: drivers wired together through a tiny
//! in-test relay that routes their `Output::Send` texts the way
//! `tabchain-relay` does, each with a model of a host's storage that applies
//! their `Output::Store` changes and answers their reads (`ServeBlocks`,
//! `LoadBlocks`) from it (`ReadBlock`: from any node's, as tabs of one
//! browser share their storage).

#![allow(dead_code)] // each test file uses its own subset

use std::collections::{BTreeMap, HashSet, VecDeque};
use tabchain_core::block::Block;
use tabchain_core::driver::{Change, Driver, Event, Output, SYNC_PAGE_LIMIT, Saved, SavedPost};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::post::Post;
use tabchain_core::testkit::{NOW, dev, next_mined_block};
use tabchain_core::wire::{self, Envelope, Message, PeerId, PeerInfo};

/// Nodes plus a relay: numbers connections, sends `Welcome`, turns a first
/// `Hello` into `PeerJoined` for everyone (a later one updates what it knows
/// of the sender), answers `GetPeers`, stamps `from`, and delivers to `to`,
/// to every other joined peer (`Tx`, `Block`) or to the peer with the most work
/// (requests without `to`). Everything is delivered in order by [`Net::run`].
pub struct Net {
    pub nodes: Vec<Driver>,
    pub ids: Vec<PeerId>,
    /// What the relay knows of each joined slot (from its `Hello`).
    pub joined: BTreeMap<usize, PeerInfo>,
    pub connected: HashSet<usize>,
    /// Slots whose incoming messages vanish (a hung peer).
    pub deaf: HashSet<usize>,
    pub queue: VecDeque<(usize, String)>,
    /// Every block each node asked to store, by hash.
    pub stored: Vec<BTreeMap<BlockHash, Vec<u8>>>,
    /// The rest of what each node asked to keep.
    pub kept: Vec<Kept>,
    pub events: Vec<Vec<Event>>,
    /// Every message each node sent, as the relay decoded it.
    pub sent: Vec<Vec<Envelope>>,
    /// How many `ServeBlocks` and `LoadBlocks` each node's host carried out.
    pub serves: Vec<usize>,
    pub loads: Vec<usize>,
    /// How many `ReadBlock`s (a sibling's orphan's ancestors) each node's host carried out.
    pub reads: Vec<usize>,
    pub next_id: u64,
    pub now: u64,
}

impl Net {
    pub fn new(n: usize) -> Net {
        Net {
            nodes: (0..n).map(|i| Driver::new(dev(), &format!("test-node/{i}"))).collect(),
            ids: vec![PeerId(0); n],
            joined: BTreeMap::new(),
            connected: HashSet::new(),
            deaf: HashSet::new(),
            queue: VecDeque::new(),
            stored: vec![BTreeMap::new(); n],
            kept: vec![Kept { best: vec![dev().chain_id()], pending: BTreeMap::new() }; n],
            events: vec![Vec::new(); n],
            sent: vec![Vec::new(); n],
            serves: vec![0; n],
            loads: vec![0; n],
            reads: vec![0; n],
            next_id: 1,
            now: NOW,
        }
    }

    pub fn slot_of(&self, id: PeerId) -> Option<usize> {
        (0..self.nodes.len()).find(|&s| self.ids[s] == id && self.connected.contains(&s))
    }

    pub fn deliver(&mut self, slot: usize, envelope: &Envelope) {
        if self.deaf.contains(&slot) {
            return;
        }
        let text = wire::encode(envelope).expect("relay re-encodes what it decoded");
        self.queue.push_back((slot, text));
    }

    /// Opens slot's connection: a new number and a `Welcome`.
    pub fn connect(&mut self, slot: usize) {
        self.ids[slot] = PeerId(self.next_id);
        self.next_id += 1;
        self.connected.insert(slot);
        let mut peers: Vec<PeerInfo> = self.joined.values().cloned().collect();
        peers.sort_by(|a, b| b.total_work.cmp(&a.total_work).then(a.id.cmp(&b.id)));
        let params = dev();
        let welcome =
            Message::Welcome { peer_id: self.ids[slot], network: params.network, chain_id: params.chain_id(), peers };
        self.deliver(slot, &Envelope::broadcast(welcome));
    }

    pub fn disconnect(&mut self, slot: usize) {
        self.nodes[slot].on_disconnected();
        self.connected.remove(&slot);
        if self.joined.remove(&slot).is_some() {
            let left = Envelope::broadcast(Message::PeerLeft { peer_id: self.ids[slot] });
            for s in self.connected.clone() {
                self.deliver(s, &left);
            }
        }
    }

    /// Carries out a node's outputs; sends go through the relay.
    pub fn handle(&mut self, slot: usize, outputs: Vec<Output>) {
        for output in outputs {
            match output {
                Output::Send(text) => self.route(slot, &text),
                Output::Store(Change::Block { hash, height, bytes }) => {
                    assert_eq!(Block::from_bytes(&bytes).unwrap().header.height, height);
                    self.stored[slot].insert(hash, bytes);
                }
                Output::Store(Change::BlockRemoved { hash }) => {
                    assert!(self.stored[slot].remove(&hash).is_some(), "removed a block never kept: {hash}");
                }
                Output::Store(change) => self.kept[slot].apply(change),
                Output::TemplateStale => {}
                Output::Event(event) => self.events[slot].push(event),
                // The host reads what it kept and hands it back.
                Output::ServeBlocks { to, hashes } => {
                    self.serves[slot] += 1;
                    let bytes = hashes.iter().filter_map(|h| self.stored[slot].get(h).cloned()).collect();
                    let outputs = self.nodes[slot].send_blocks(to, bytes);
                    self.handle(slot, outputs);
                }
                Output::LoadBlocks { hashes } => {
                    self.loads[slot] += 1;
                    let bytes = hashes.iter().filter_map(|h| self.stored[slot].get(h).cloned()).collect();
                    let outputs = self.nodes[slot].blocks_loaded(bytes, self.now);
                    self.handle(slot, outputs);
                }
                // Siblings share one storage: any slot's kept block.
                Output::ReadBlock { hash } => {
                    self.reads[slot] += 1;
                    let bytes = self.stored.iter().find_map(|kept| kept.get(&hash).cloned());
                    let outputs = self.nodes[slot].block_read(hash, bytes, self.now);
                    self.handle(slot, outputs);
                }
            }
        }
    }

    pub fn route(&mut self, slot: usize, text: &str) {
        let mut envelope = wire::decode(text).expect("nodes send what the relay accepts");
        assert_eq!(envelope.from, None, "nodes never set from");
        self.sent[slot].push(envelope.clone());
        if !self.connected.contains(&slot) {
            return;
        }
        envelope.from = Some(self.ids[slot]);
        let me = self.ids[slot];
        match &envelope.message {
            Message::Hello { agent, best_height, total_work, .. } => {
                let info = PeerInfo::new(me, agent.clone(), *best_height, *total_work);
                let first = self.joined.insert(slot, info.clone()).is_none();
                if first {
                    let joined = Envelope::broadcast(Message::PeerJoined { peer: info });
                    for s in self.connected.clone() {
                        self.deliver(s, &joined);
                    }
                }
            }
            _ if !self.joined.contains_key(&slot) => panic!("slot {slot} sent before Hello: {text}"),
            Message::GetPeers {} => {
                let peers = self.joined.values().cloned().collect();
                self.deliver(slot, &Envelope::broadcast(Message::Peers { peers }));
            }
            Message::Tx { .. } | Message::Block { .. } if envelope.to.is_none() => {
                for s in self.joined.keys().copied().collect::<Vec<_>>() {
                    if s != slot {
                        self.deliver(s, &envelope);
                    }
                }
            }
            Message::GetBlocks { .. } | Message::GetMempool {} if envelope.to.is_none() => {
                let best = self
                    .joined
                    .iter()
                    .filter(|(s, _)| **s != slot)
                    .max_by(|a, b| a.1.total_work.cmp(&b.1.total_work).then(b.1.id.cmp(&a.1.id)))
                    .map(|(s, _)| *s);
                if let Some(s) = best {
                    self.deliver(s, &envelope);
                }
            }
            _ => {
                let to = envelope.to.expect("answers are addressed");
                if let Some(s) = self.slot_of(to) {
                    self.deliver(s, &envelope);
                }
            }
        }
    }

    /// Delivers until nothing is queued.
    pub fn run(&mut self) {
        let mut steps = 0;
        while let Some((slot, text)) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "the nodes keep talking forever");
            let outputs = self.nodes[slot].on_text(&text, self.now);
            self.handle(slot, outputs);
        }
    }

    /// Delivers until nothing is queued, each step taking a queued message
    /// chosen by `seed` instead of the oldest: any interleaving of the
    /// nodes' messages (a relay may hand a peer one announcement before
    /// another it received earlier).
    pub fn run_interleaved(&mut self, mut seed: u64) {
        let mut steps = 0;
        while !self.queue.is_empty() {
            steps += 1;
            assert!(steps < 100_000, "the nodes keep talking forever");
            seed = next_random(seed);
            let pick = (seed >> 33) as usize % self.queue.len();
            let Some((slot, text)) = self.queue.remove(pick) else { unreachable!() };
            let outputs = self.nodes[slot].on_text(&text, self.now);
            self.handle(slot, outputs);
        }
    }

    /// Slot mines one block on its tip (`offset` ms later than one interval
    /// after it, so two nodes never mine the same block) through
    /// template + nonce; returns it. `route: false` keeps it from the relay.
    pub fn mine(&mut self, slot: usize, offset: u64, route: bool) -> Block {
        let block = next_mined_block(&mut self.nodes[slot], offset);
        let outputs = self.nodes[slot].submit_mined(block.clone(), self.now).expect("own block is valid");
        if route {
            self.handle(slot, outputs);
        } else {
            let outputs = outputs.into_iter().filter(|o| !matches!(o, Output::Send(_))).collect();
            self.handle(slot, outputs);
        }
        block
    }

    pub fn mine_n(&mut self, slot: usize, n: usize, offset: u64) {
        for _ in 0..n {
            self.mine(slot, offset, true);
        }
    }

    /// Every sync request (`GetHeaders` or `GetBlocks`) `slot` sent: to whom.
    pub fn sync_requests_sent(&self, slot: usize) -> Vec<Option<PeerId>> {
        self.sent[slot]
            .iter()
            .filter(|e| matches!(e.message, Message::GetHeaders { .. } | Message::GetBlocks { .. }))
            .map(|e| e.to)
            .collect()
    }

    pub fn get_blocks_sent(&self, slot: usize) -> Vec<(Option<PeerId>, Vec<BlockHash>)> {
        self.sent[slot]
            .iter()
            .filter_map(|e| match &e.message {
                Message::GetBlocks { locator, limit } => {
                    assert_eq!(*limit, SYNC_PAGE_LIMIT);
                    Some((e.to, locator.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

pub fn tip(node: &Driver) -> BlockHash {
    node.tip()
}

/// A host's storage apart from blocks: the best chain by height (genesis
/// first, as a host starts) and the pending posts, as the `Change`s left them.
#[derive(Clone, Debug)]
pub struct Kept {
    pub best: Vec<BlockHash>,
    pub pending: BTreeMap<TxId, (Post, bool)>,
}

impl Kept {
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Block { .. } | Change::BlockRemoved { .. } => unreachable!("blocks are kept in Net::stored"),
            Change::BestChain { from_height, hashes } => {
                let from = from_height as usize;
                assert!((1..=self.best.len()).contains(&from), "a best-chain change keeps genesis, leaves no gap");
                self.best.truncate(from);
                self.best.extend(hashes);
            }
            Change::PendingAdded { tx_id, post, own } => {
                assert_eq!(post.txid(), tx_id);
                assert!(self.pending.insert(tx_id, (post, own)).is_none(), "added twice: {tx_id}");
            }
            Change::PendingRemoved { tx_id, own } => {
                let kept = self.pending.remove(&tx_id);
                assert_eq!(kept.map(|(_, o)| o), Some(own), "removed what was not kept: {tx_id}");
            }
        }
    }
}

impl Net {
    /// What `slot` kept equals its driver: every tree block, the best chain
    /// above genesis, the mempool with its own posts.
    pub fn assert_kept_matches(&self, slot: usize) {
        let node = &self.nodes[slot];
        let chain = node.state().chain();
        assert_eq!(self.stored[slot].len(), chain.block_count() - 1, "every block but genesis");
        let best: Vec<BlockHash> = chain.best_chain().map(|e| e.hash).collect();
        assert_eq!(self.kept[slot].best, best, "best chain");
        let pending: Vec<TxId> = node.state().mempool().iter().map(|(id, _)| *id).collect();
        let kept: HashSet<TxId> = self.kept[slot].pending.keys().copied().collect();
        assert_eq!(kept, pending.iter().copied().collect::<HashSet<_>>(), "mempool");
        for (id, (_, own)) in &self.kept[slot].pending {
            assert_eq!(node.is_own(id), *own, "own flag of {id}");
        }
    }

    /// What `slot` kept, as a host hands it back at startup.
    pub fn saved(&self, slot: usize) -> Saved {
        Saved {
            blocks: self.stored[slot].values().cloned().collect(),
            pending: self.kept[slot]
                .pending
                .values()
                .map(|(post, own)| SavedPost { bytes: post.to_bytes(), own: *own })
                .collect(),
        }
    }
}

/// Blocks only, as `Saved`.
pub fn blocks_only(blocks: Vec<Vec<u8>>) -> Saved {
    Saved { blocks, ..Saved::default() }
}

/// The next state of a deterministic generator (no randomness in this
/// crate's tests either): Knuth's MMIX LCG; use the high bits.
pub fn next_random(seed: u64) -> u64 {
    seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407)
}
