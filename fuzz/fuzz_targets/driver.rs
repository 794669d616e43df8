//! The protocol driver fed arbitrary sequences of relay messages, clock
//! ticks, disconnections and local submissions, with a host that carries
//! out its outputs (keeps the changes, serves and loads blocks from them).
//!
//! Never a panic. After every step: the orphan pool, the side branches, the
//! mempool, the wanted hashes, the blocks known invalid and the bodies in
//! memory are within their bounds (the network's bounds are made small here
//! so that a short input reaches them), and every frame the driver sends
//! decodes as a message its peers accept. At the end, a driver restored from
//! what the host kept has the same best tip.
//!
//! Messages are built from the input's choices on the dev network: blocks on
//! any block seen so far (sealed, so most are valid unless the input breaks
//! them), posts stamped for real, peers claiming work; raw text frames too,
//! and frames from sibling tabs (`on_sibling_text`), built or raw.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tabchain_core::block::Block;
use tabchain_core::chain::{BodyLimit, MAX_WANTED};
use tabchain_core::driver::{Change, Driver, Output, Saved, SavedPost};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::header::{BlockHeader, HEADER_VERSION};
use tabchain_core::invalid::MAX_INVALID_BLOCKS;
use tabchain_core::merkle::merkle_root;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::{Post, PostSignature};
use tabchain_core::stamp::Stamp;
use tabchain_core::target::{CompactTarget, Work};
use tabchain_core::testkit::{NOW, TEST_KEY, dev, seal_header, stamped};
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PeerId, PeerInfo};

/// Most steps of one input (each may build and seal blocks).
const MAX_STEPS: usize = 48;
/// Most blocks or posts in one message.
const MAX_ITEMS: usize = 8;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Bodies of the last this many best-chain blocks in memory (`None`: all).
    body_limit: Option<u8>,
    steps: Vec<Step>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// A frame from the relay; `from: None` is the relay itself.
    Relay {
        from: Option<u8>,
        message: MessageSpec,
    },
    /// A raw text frame.
    Text(String),
    /// A frame from another tab of this browser (its BroadcastChannel),
    /// built from a message: only a `Tx` or `Block` broadcast is taken.
    Sibling(MessageSpec),
    /// A raw text frame from another tab of this browser.
    SiblingText(String),
    /// The clock moves on (milliseconds; a tick follows).
    Tick(u32),
    /// The clock jumps by this many minutes (a tick follows).
    Jump(u8),
    Disconnect,
    /// A post written here.
    OwnPost(PostSpec),
    /// A block mined here on the tip, this many ms after one interval.
    Mined(u16),
    /// A block from the REST API (`/add_block`).
    Submit(BlockSpec),
    /// A chain from the REST API (`/register_with`).
    SubmitChain(Vec<BlockSpec>),
}

#[derive(Arbitrary, Debug)]
enum MessageSpec {
    Welcome {
        me: u8,
        peers: Vec<PeerSpec>,
        other_network: bool,
    },
    PeerJoined(PeerSpec),
    PeerLeft(u8),
    Hello(PeerSpec),
    Tx(PostSpec),
    Block(BlockSpec),
    Blocks(Vec<BlockSpec>),
    /// Blocks already built, again (answers to what the driver asked).
    KnownBlocks(Vec<u8>),
    GetBlocks {
        locator: Vec<u8>,
        limit: u16,
    },
    GetMempool,
    Mempool(Vec<PostSpec>),
    Ping(u64),
    Pong(u64),
    Error(u8, String),
    GetHeaders {
        locator: Vec<u8>,
        limit: u16,
    },
    /// Headers of blocks built so far, by index.
    Headers(Vec<u8>),
    GetPeers,
    /// The relay's peer list, each with the age of its last block.
    Peers(Vec<(PeerSpec, Option<u32>)>),
}

#[derive(Arbitrary, Debug)]
struct PeerSpec {
    id: u8,
    height: u8,
    /// Claimed work in dev blocks.
    blocks_of_work: u16,
    agent: String,
}

#[derive(Arbitrary, Debug)]
struct PostSpec {
    n: u16,
    /// Written this many seconds before now (negative: after).
    age_secs: i16,
    signed: bool,
    flaw: Option<PostFlaw>,
}

#[derive(Arbitrary, Debug)]
enum PostFlaw {
    Author(String),
    Content(String),
    Unstamped,
    /// Edited after stamping: the stamp no longer holds.
    EditedAfterStamp,
    /// Edited after signing, stamped again: the signature no longer holds.
    EditedAfterSigning,
    Stamp(u32, u64),
}

#[derive(Arbitrary, Debug)]
struct BlockSpec {
    /// Index of the parent among the blocks built so far (genesis first).
    parent: u8,
    posts: Vec<PostSpec>,
    /// Milliseconds after the parent, past one target interval.
    delay_ms: u16,
    flaw: Option<BlockFlaw>,
}

#[derive(Arbitrary, Debug)]
enum BlockFlaw {
    Height(i8),
    Bits(u32),
    Version(u32),
    MerkleRoot,
    /// Stamped before its parent.
    Early(u16),
    /// Not sealed: the hash may miss the target.
    Unsealed(u64),
    /// Its first post twice.
    DuplicatePost,
}

/// Small bounds, so that a short input reaches every one of them.
fn params() -> Params {
    Params {
        max_orphans: 4,
        max_orphan_bytes: 4_096,
        max_side_blocks: 6,
        max_side_bytes: 4_096,
        max_mempool_posts: 6,
        max_mempool_bytes: 1_200,
        ..Params::for_network(Network::Dev)
    }
}

/// The host: the driver, the clock, what it keeps, and the blocks built so far.
struct Host {
    driver: Driver,
    now: u64,
    blocks: HashMap<BlockHash, Vec<u8>>,
    pending: HashMap<TxId, (Vec<u8>, bool)>,
    built: Vec<BlockHeader>,
    built_blocks: Vec<Block>,
    body_limit: Option<BodyLimit>,
}

impl Host {
    fn new(body_limit: Option<u8>) -> Host {
        let params = params();
        let mut driver = Driver::new(params.clone(), "fuzz");
        let body_limit = body_limit.map(|blocks| BodyLimit::blocks(u64::from(blocks)));
        driver.set_body_limit(body_limit);
        let genesis = params.genesis();
        Host {
            driver,
            now: NOW,
            blocks: HashMap::new(),
            pending: HashMap::new(),
            built: vec![genesis.header],
            built_blocks: vec![genesis],
            body_limit,
        }
    }

    /// Carries out outputs: keeps changes, checks frames, serves and loads
    /// blocks from what it keeps.
    fn carry_out(&mut self, outputs: Vec<Output>) {
        let mut queue = outputs;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for output in queue {
                match output {
                    Output::Store(change) => self.keep(change),
                    Output::Send(text) => {
                        let envelope = wire::decode(&text).expect("the driver sends only what decodes");
                        assert_eq!(envelope.from, None, "the relay stamps `from`: {text}");
                    }
                    Output::ServeBlocks { to, hashes } => {
                        let bytes = hashes.iter().filter_map(|hash| self.blocks.get(hash).cloned()).collect();
                        next.extend(self.driver.send_blocks(to, bytes));
                    }
                    Output::LoadBlocks { hashes } => {
                        let bytes = hashes.iter().filter_map(|hash| self.blocks.get(hash).cloned()).collect();
                        next.extend(self.driver.blocks_loaded(bytes, self.now));
                    }
                    // Storage shared with the sibling tabs: what this node
                    // kept, and every block the fuzzer built (a sibling kept it).
                    Output::ReadBlock { hash } => {
                        let bytes = self.blocks.get(&hash).cloned().or_else(|| {
                            self.built_blocks.iter().find(|block| block.hash() == hash).map(|block| block.to_bytes())
                        });
                        next.extend(self.driver.block_read(hash, bytes, self.now));
                    }
                    Output::TemplateStale | Output::Event(_) => {}
                }
            }
            queue = next;
        }
        self.assert_within_bounds();
    }

    fn keep(&mut self, change: Change) {
        match change {
            Change::Block { hash, bytes, .. } => {
                assert_eq!(Block::from_bytes(&bytes).expect("a kept block decodes").hash(), hash);
                self.blocks.insert(hash, bytes);
            }
            Change::BlockRemoved { hash } => {
                self.blocks.remove(&hash);
            }
            Change::PendingAdded { tx_id, post, own } => {
                assert_eq!(post.txid(), tx_id);
                self.pending.insert(tx_id, (post.to_bytes(), own));
            }
            Change::PendingRemoved { tx_id, .. } => {
                self.pending.remove(&tx_id);
            }
            Change::BestChain { hashes, .. } => {
                assert!(!hashes.is_empty() || self.driver.height() == 0, "a best chain names its tip");
            }
        }
    }

    fn assert_within_bounds(&self) {
        let (params, chain, mempool) =
            (self.driver.params(), self.driver.state().chain(), self.driver.state().mempool());
        assert!(chain.orphan_count() <= params.max_orphans, "orphans: {}", chain.orphan_count());
        let (side_blocks, side_bytes) = chain.side_usage();
        assert!(side_blocks <= params.max_side_blocks, "side blocks: {side_blocks}");
        assert!(side_bytes <= params.max_side_bytes, "side bytes: {side_bytes}");
        assert!(mempool.len() <= params.max_mempool_posts, "mempool posts: {}", mempool.len());
        assert!(mempool.bytes() <= params.max_mempool_bytes, "mempool bytes: {}", mempool.bytes());
        assert!(chain.wanted_count() <= MAX_WANTED);
        assert!(chain.known_invalid_count() <= MAX_INVALID_BLOCKS);
        if let Some(limit) = self.body_limit {
            // The limit's best-chain bodies (at least the tip's), side blocks' and genesis'.
            let allowed = limit.blocks.max(1) as usize + side_blocks + 1;
            assert!(chain.body_usage().0 <= allowed, "bodies: {:?}, allowed {allowed}", chain.body_usage());
        }
    }

    fn post(&self, spec: &PostSpec) -> Post {
        let time = self.now.saturating_add_signed(-i64::from(spec.age_secs) * 1_000);
        let content = format!("post {}", spec.n);
        let mut post = if spec.signed {
            Post::new_signed("signer", &content, time, &TEST_KEY, &dev().chain_id()).expect("valid fields")
        } else {
            Post::new(&format!("author {}", spec.n % 4), &content, time).expect("valid fields")
        };
        match &spec.flaw {
            None => stamped(post),
            Some(PostFlaw::Author(author)) => stamped(Post { author: author.clone(), ..post }),
            Some(PostFlaw::Content(content)) => stamped(Post { content: content.clone(), ..post }),
            Some(PostFlaw::Unstamped) => post,
            Some(PostFlaw::EditedAfterStamp) => {
                let mut post = stamped(post);
                post.content.push('!');
                post
            }
            Some(PostFlaw::EditedAfterSigning) => {
                if let Some(PostSignature { signature, .. }) = &mut post.signature {
                    signature[0] ^= 1;
                }
                post.content.push('?');
                stamped(post)
            }
            Some(PostFlaw::Stamp(bits, nonce)) => {
                Post { stamp: Stamp { bits: CompactTarget(*bits), nonce: *nonce }, ..post }
            }
        }
    }

    /// A block on a block built so far, remembered for later messages.
    fn block(&mut self, spec: &BlockSpec) -> Block {
        let parent = self.built[usize::from(spec.parent) % self.built.len()];
        let posts: Vec<Post> = spec.posts.iter().take(MAX_ITEMS).map(|p| self.post(p)).collect();
        let mut header = BlockHeader {
            version: HEADER_VERSION,
            height: parent.height + 1,
            prev_hash: parent.hash(),
            merkle_root: merkle_root(&posts.iter().map(Post::txid).collect::<Vec<_>>()),
            timestamp_ms: parent.timestamp_ms + dev().target_block_interval_ms + u64::from(spec.delay_ms),
            bits: dev().easiest_bits,
            nonce: 0,
        };
        let mut posts = posts;
        let mut seal = true;
        match &spec.flaw {
            None => {}
            Some(BlockFlaw::Height(delta)) => header.height = header.height.saturating_add_signed(i64::from(*delta)),
            Some(BlockFlaw::Bits(bits)) => header.bits = CompactTarget(*bits),
            Some(BlockFlaw::Version(version)) => header.version = *version,
            Some(BlockFlaw::MerkleRoot) => header.merkle_root = merkle_root(&[]),
            Some(BlockFlaw::Early(ms)) => header.timestamp_ms = parent.timestamp_ms.saturating_sub(u64::from(*ms)),
            Some(BlockFlaw::Unsealed(nonce)) => {
                header.nonce = *nonce;
                seal = false;
            }
            Some(BlockFlaw::DuplicatePost) => {
                if let Some(first) = posts.first().cloned() {
                    posts.push(first);
                    header.merkle_root = merkle_root(&posts.iter().map(Post::txid).collect::<Vec<_>>());
                }
            }
        }
        let block = Block { header, posts };
        // A target no nonce meets within the sealing budget stays unsealed.
        let sealable = seal && header.bits.to_target().is_ok_and(|t| t.expected_hashes() < 64.0);
        let block = if sealable { seal_header(block) } else { block };
        self.built.push(block.header);
        self.built_blocks.push(block.clone());
        block
    }

    fn built_block(&self, index: u8) -> Block {
        self.built_blocks[usize::from(index) % self.built_blocks.len()].clone()
    }

    fn hashes(&self, indexes: &[u8]) -> Vec<BlockHash> {
        indexes.iter().map(|i| self.built[usize::from(*i) % self.built.len()].hash()).collect()
    }

    fn peer(spec: &PeerSpec) -> PeerInfo {
        let work = Work::from_hex(&format!("{:064x}", u64::from(spec.blocks_of_work) * 2)).expect("64 hex digits");
        PeerInfo::new(
            PeerId(u64::from(spec.id % 8)),
            spec.agent.chars().take(wire::MAX_AGENT_CHARS).collect(),
            u64::from(spec.height),
            work,
        )
    }

    fn message(&mut self, spec: &MessageSpec) -> Message {
        match spec {
            MessageSpec::Welcome { me, peers, other_network } => Message::Welcome {
                peer_id: PeerId(u64::from(me % 8)),
                network: if *other_network { Network::Main } else { Network::Dev },
                chain_id: if *other_network { Params::for_network(Network::Main).chain_id() } else { dev().chain_id() },
                peers: peers.iter().take(MAX_ITEMS).map(Self::peer).collect(),
            },
            MessageSpec::PeerJoined(peer) => Message::PeerJoined { peer: Self::peer(peer) },
            MessageSpec::GetPeers => Message::GetPeers {},
            MessageSpec::Peers(peers) => Message::Peers {
                peers: peers
                    .iter()
                    .take(MAX_ITEMS)
                    .map(|(peer, secs)| PeerInfo { last_block_secs: secs.map(u64::from), ..Self::peer(peer) })
                    .collect(),
            },
            MessageSpec::PeerLeft(id) => Message::PeerLeft { peer_id: PeerId(u64::from(id % 8)) },
            MessageSpec::Hello(peer) => {
                let info = Self::peer(peer);
                Message::Hello {
                    chain_id: dev().chain_id(),
                    protocol: wire::PROTOCOL_VERSION,
                    agent: info.agent,
                    best_height: info.best_height,
                    best_hash: self.built[usize::from(peer.height) % self.built.len()].hash(),
                    total_work: info.total_work,
                }
            }
            MessageSpec::Tx(post) => Message::Tx { tx: self.post(post) },
            MessageSpec::Block(block) => Message::Block { block: self.block(block) },
            MessageSpec::Blocks(blocks) => {
                Message::Blocks { blocks: blocks.iter().take(MAX_ITEMS).map(|b| self.block(b)).collect() }
            }
            MessageSpec::KnownBlocks(indexes) => {
                Message::Blocks { blocks: indexes.iter().take(MAX_ITEMS).map(|i| self.built_block(*i)).collect() }
            }
            MessageSpec::GetBlocks { locator, limit } => Message::GetBlocks {
                locator: self.hashes(&locator[..locator.len().min(wire::MAX_LOCATOR_HASHES)]),
                limit: u32::from(*limit).clamp(1, wire::MAX_BLOCKS_PER_MESSAGE as u32),
            },
            MessageSpec::GetMempool => Message::GetMempool {},
            MessageSpec::Mempool(posts) => {
                Message::Mempool { txs: posts.iter().take(MAX_ITEMS).map(|p| self.post(p)).collect() }
            }
            MessageSpec::Ping(nonce) => Message::Ping { nonce: *nonce },
            MessageSpec::Pong(nonce) => Message::Pong { nonce: *nonce },
            MessageSpec::Error(code, message) => Message::Error {
                code: ErrorCode::KNOWN[usize::from(*code) % ErrorCode::KNOWN.len()],
                message: message.chars().take(wire::MAX_ERROR_MESSAGE_CHARS).collect(),
            },
            MessageSpec::GetHeaders { locator, limit } => Message::GetHeaders {
                locator: self.hashes(&locator[..locator.len().min(wire::MAX_LOCATOR_HASHES)]),
                limit: u32::from(*limit).clamp(1, wire::MAX_HEADERS_PER_MESSAGE as u32),
            },
            MessageSpec::Headers(indexes) => Message::Headers {
                headers: indexes.iter().map(|i| self.built[usize::from(*i) % self.built.len()]).collect(),
            },
        }
    }

    fn step(&mut self, step: &Step) {
        let outputs = match step {
            Step::Relay { from, message } => {
                let message = self.message(message);
                let envelope = Envelope { from: from.map(|id| PeerId(u64::from(id % 8))), to: None, message };
                self.driver.on_envelope(envelope, self.now)
            }
            Step::Text(text) => self.driver.on_text(text, self.now),
            Step::Sibling(message) => {
                let message = self.message(message);
                match wire::encode(&Envelope::broadcast(message)) {
                    Ok(text) => self.driver.on_sibling_text(&text, self.now),
                    Err(_) => Vec::new(),
                }
            }
            Step::SiblingText(text) => self.driver.on_sibling_text(text, self.now),
            Step::Tick(ms) => {
                self.now += u64::from(*ms);
                self.driver.tick(self.now)
            }
            Step::Jump(minutes) => {
                self.now += u64::from(*minutes) * 60_000;
                self.driver.tick(self.now)
            }
            Step::Disconnect => {
                self.driver.on_disconnected();
                Vec::new()
            }
            Step::OwnPost(spec) => {
                let post = self.post(spec);
                self.driver.submit_own_post(post, self.now).map(|(_, out)| out).unwrap_or_default()
            }
            Step::Mined(offset_ms) => {
                let tip = self.driver.state().chain().tip();
                let time = tip.timestamp_ms() + dev().target_block_interval_ms + u64::from(*offset_ms);
                let mut block = self.driver.template(time);
                block.header.timestamp_ms = time;
                let block = seal_header(block);
                self.driver.submit_mined(block, self.now).unwrap_or_default()
            }
            Step::Submit(spec) => {
                let block = self.block(spec);
                self.driver.submit_block(block, self.now).unwrap_or_default()
            }
            Step::SubmitChain(specs) => {
                let blocks = specs.iter().take(MAX_ITEMS).map(|b| self.block(b)).collect();
                self.driver.submit_blocks(blocks, self.now).0
            }
        };
        self.carry_out(outputs);
    }

    /// A driver restored from what the host kept has the same best tip.
    fn assert_restores(&self) {
        let mut restored = Driver::new(params(), "fuzz");
        restored.set_body_limit(self.body_limit);
        let saved = Saved {
            blocks: self.blocks.values().cloned().collect(),
            pending: self.pending.values().map(|(bytes, own)| SavedPost { bytes: bytes.clone(), own: *own }).collect(),
        };
        let (report, _) = restored.restore(saved, self.now);
        assert_eq!(report.rejected, 0, "every kept block restores: {report:?}");
        assert_eq!(restored.tip(), self.driver.tip(), "the restored tip is the tip: {report:?}");
    }
}

fuzz_target!(|input: Input| {
    let mut host = Host::new(input.body_limit);
    for step in input.steps.iter().take(MAX_STEPS) {
        host.step(step);
    }
    host.assert_restores();
});
