//! The page's node: the core protocol driver (`tabchain_core::driver::Driver`) behind the JS class `TabNode`.
//!
//! Everything returned is plain data: numbers (heights, times in Unix ms),
//! strings (hashes as 64 hex digits, nonces as decimal), `Uint8Array`s (block
//! bytes, header bytes), `null` for absent values, and plain objects and
//! arrays of those. Times come in as `nowMs` numbers (`Date.now()`).
//!
//! An output list (`Output[]`) is what the host must do: keep every
//! `store` first (see `core::driver::Change`), then the rest in order:
//!
//! ```text
//! {kind: "store", change: "block", hash, height, bytes}       keep bytes (Uint8Array) under hash
//! {kind: "store", change: "blockRemoved", hash}               a side block was pruned: delete it
//! {kind: "store", change: "bestChain", fromHeight, hashes}    the best chain from fromHeight; the last hash is the tip
//! {kind: "store", change: "pendingAdded", txId, bytes, own}   a pending post (bytes: Uint8Array); a tab keeps own ones
//! {kind: "store", change: "pendingRemoved", txId, own}        a pending post left the mempool
//! {kind: "send", text}                                        write text to the websocket as is
//! {kind: "sibling", text}                                     hand text to this browser's other tabs (onSiblingText):
//!                                                             a post written or block mined here, connected or not
//! {kind: "templateStale"}                                     if mining, take a new template
//! {kind: "event", event: {type, ...}}                         show or log (see core::driver::Event)
//! {kind: "serveBlocks", to, hashes}                           read these blocks from storage (in order) and call sendBlocks(to, bytes[])
//! {kind: "loadBlocks", hashes}                                read these blocks from storage and call blocksLoaded(bytes[], nowMs)
//! {kind: "readBlock", hash}                                   read this block from storage and call blockRead(hash, bytes | undefined, nowMs)
//! ```
//!
//! `serveBlocks` and `loadBlocks` come only with a body limit
//! (`setBodyLimit`): the node keeps the bodies of recent blocks in memory and
//! asks for older ones when a peer wants them or, rarely, a check needs their
//! post ids. `readBlock` comes after a block from another tab (`onSiblingText`)
//! whose parent the node lacks: the tabs share their storage, so the blocks
//! before it are read from there. Read after the changes handed out so far
//! are stored.

use std::collections::VecDeque;
use std::str::FromStr;

use js_sys::{Array, Uint8Array};
use serde::Serialize;
use tabchain_core::block::Block;
use tabchain_core::chain::{BlockEntry, BlockPace, BodyLimit, DEFAULT_TREE_DEPTH};
use tabchain_core::driver::{Driver, RestoreReport, Saved, SavedPost};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::header::BlockHeader;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::stamp::{DEFAULT_STAMP_FACTOR, Stamp, stamp_job};
use tabchain_core::target::CompactTarget;
use tabchain_core::wire::{Message, PeerId};
use wasm_bindgen::prelude::*;

use crate::js::{Bytes, ms, outputs_to_js, push_sibling, whole, with_outputs};
pub(crate) use crate::js::{secret_key, to_js};

/// Templates kept for `foundNonce`; older ids are forgotten.
const MAX_TEMPLATES: usize = 8;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostResult {
    tx_id: TxId,
}

/// What `preparePost` returns.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreparedPost<'a> {
    post_bytes: Bytes<'a>,
    header_bytes: Bytes<'a>,
    bits: u32,
    expected_hashes: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TemplateInfo<'a> {
    id: u32,
    header_bytes: Bytes<'a>,
    height: u64,
    bits: u32,
    tx_count: usize,
    target: String,
    expected_hashes: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    me: Option<u64>,
    network: Network,
    joined: bool,
    height: u64,
    tip: BlockHash,
    syncing: bool,
    sync_height: Option<u64>,
    sync_target: Option<u64>,
    peers: usize,
    pending: usize,
    bits: u32,
    expected_hashes: f64,
    target_interval_ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerRow<'a> {
    id: u64,
    agent: &'a str,
    height: u64,
    /// Cumulative work of its best chain, in expected hashes.
    work: f64,
    /// The relay holding it (in a cluster of relays).
    relay: Option<&'a str>,
    /// When it last announced a block (host clock, ms), if known.
    last_block_ms: Option<f64>,
}

/// A confirmed post as the feed shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostRow<'a> {
    tx_id: TxId,
    author: &'a str,
    content: &'a str,
    timestamp: u64,
    height: u64,
    verified: bool,
    key_id: Option<String>,
}

/// The posts of a block the node accepted, newest (last) first.
pub(crate) fn post_rows(block: &Block) -> impl Iterator<Item = PostRow<'_>> {
    let height = block.header.height;
    block.posts.iter().rev().map(move |post| PostRow {
        tx_id: post.txid(),
        author: &post.author,
        content: &post.content,
        timestamp: post.timestamp_ms,
        height,
        // Signed, and verified when the block was accepted.
        verified: post.signature.is_some(),
        key_id: post.key_id(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PendingRow<'a> {
    tx_id: TxId,
    author: &'a str,
    content: &'a str,
    timestamp: u64,
    key_id: Option<String>,
}

/// A block as the explorer lists it (from its header alone).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlockRow {
    height: u64,
    hash: BlockHash,
    prev_hash: BlockHash,
    nonce: String,
    timestamp: u64,
    tx_count: usize,
}

impl BlockRow {
    pub(crate) fn new(header: &BlockHeader, hash: BlockHash, tx_count: usize) -> BlockRow {
        BlockRow {
            height: header.height,
            hash,
            prev_hash: header.prev_hash,
            nonce: header.nonce.to_string(),
            timestamp: header.timestamp_ms,
            tx_count,
        }
    }

    fn of(entry: &BlockEntry) -> BlockRow {
        BlockRow::new(&entry.header, entry.hash, entry.post_count)
    }
}

/// A best-chain block as the charts plot it (see `core::chain::BlockPace`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaceRow {
    height: u64,
    hash: BlockHash,
    timestamp: u64,
    interval_ms: Option<i64>,
    expected_hashes: f64,
}

impl From<BlockPace> for PaceRow {
    fn from(pace: BlockPace) -> PaceRow {
        PaceRow {
            height: pace.height,
            hash: pace.hash,
            timestamp: pace.timestamp_ms,
            interval_ms: pace.interval_ms,
            expected_hashes: pace.expected_hashes,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemoryUse {
    blocks: usize,
    bodies: usize,
    body_bytes: usize,
    body_limit: Option<u64>,
    body_bytes_limit: Option<f64>,
}

/// A full node for the page: chain, mempool, peers and sync, driven by the
/// page's websocket, clock and storage (see the module docs for outputs).
#[wasm_bindgen(js_name = TabNode)]
pub struct TabNode {
    node: Driver,
    templates: VecDeque<(u32, Block)>,
    next_template: u32,
    /// What a restore in batches (`restoreBlocks`) counted so far.
    restoring: RestoreReport,
}

#[wasm_bindgen(js_class = TabNode)]
impl TabNode {
    /// A node at genesis of `network` (`"main"` or `"dev"`; the page takes it
    /// from the relay's `Welcome`) that calls itself `agent` in `Hello`.
    ///
    /// Throws an `Error` for an unknown network name.
    #[wasm_bindgen(constructor)]
    pub fn new(network: &str, agent: &str) -> Result<TabNode, JsError> {
        let network = Network::from_str(network).map_err(|e| JsError::new(&e.to_string()))?;
        let node = Driver::new(Params::for_network(network), agent);
        Ok(TabNode { node, templates: VecDeque::new(), next_template: 1, restoring: RestoreReport::default() })
    }

    /// Rebuilds the chain from what the page kept: block bytes (the `bytes`
    /// of `block` changes) in any order (the best tip follows from them) and
    /// the own posts still pending (optional, the `bytes` of own
    /// `pendingAdded` changes). Returns `{accepted, rejected, duplicates,
    /// orphans, height, tip, pendingRestored, pendingConfirmed,
    /// pendingRefused: [{txId|null, reason}], outputs}`: the outputs drop
    /// own posts a block already holds.
    pub fn restore(
        &mut self,
        blocks: Vec<Uint8Array>,
        now_ms: f64,
        own_posts: Option<Vec<Uint8Array>>,
    ) -> Result<JsValue, JsError> {
        let now = ms(now_ms)?;
        let saved = Saved {
            blocks: blocks.iter().map(Uint8Array::to_vec).collect(),
            pending: own_posts
                .unwrap_or_default()
                .iter()
                .map(|bytes| SavedPost { bytes: bytes.to_vec(), own: true })
                .collect(),
        };
        let (report, outputs) = self.node.restore(saved, now);
        with_outputs(to_js(&report)?, &outputs)
    }

    /// Keeps the bodies of only the last `blocks` best-chain blocks in
    /// memory, fewer while all bodies in memory come to more than `bytes` of
    /// encodings (default: no byte budget); `blocks` `null`/`undefined`
    /// keeps every body (the default). Older bodies are the page's to read
    /// from storage, and the outputs may then ask for them (`serveBlocks`,
    /// `loadBlocks`). Call it before restoring.
    #[wasm_bindgen(js_name = setBodyLimit)]
    pub fn set_body_limit(&mut self, blocks: Option<f64>, bytes: Option<f64>) -> Result<(), JsError> {
        let bytes = bytes.map(|n| whole("bytes", n)).transpose()?.map_or(usize::MAX, |n| n as usize);
        let limit = blocks.map(|n| whole("blocks", n)).transpose()?.map(|blocks| BodyLimit { blocks, bytes });
        self.node.set_body_limit(limit);
        Ok(())
    }

    /// A restore in batches, step 1: the order (block hashes) in which to
    /// hand the kept blocks to `restoreBlocks`, from their headers alone
    /// (the first 96 bytes of each kept block's bytes; longer arrays are
    /// read up to there, shorter ones skipped).
    #[wasm_bindgen(js_name = restoreOrder)]
    pub fn restore_order(&self, headers: Vec<Uint8Array>) -> Vec<String> {
        let headers = headers.iter().filter_map(|bytes| {
            let bytes = bytes.to_vec();
            BlockHeader::from_bytes(bytes.get(..tabchain_core::header::HEADER_BYTES)?).ok()
        });
        self.node.restore_order(headers).iter().map(BlockHash::to_hex).collect()
    }

    /// Step 2: a batch of kept blocks' bytes in `restoreOrder`'s order (the
    /// page reads a batch at a time, so no more than a batch of bodies is
    /// held at once). Returns `Output[]` (blocks a reorganisation removed).
    #[wasm_bindgen(js_name = restoreBlocks)]
    pub fn restore_blocks(&mut self, blocks: Vec<Uint8Array>, now_ms: f64) -> Result<Array, JsError> {
        let now = ms(now_ms)?;
        let blocks = blocks.iter().map(Uint8Array::to_vec).collect();
        let outputs = self.node.restore_blocks(blocks, now, &mut self.restoring);
        outputs_to_js(&outputs)
    }

    /// Step 3: the own posts still pending (as for `restore`); returns what
    /// `restore` returns, counting every batch since the last finish.
    #[wasm_bindgen(js_name = finishRestore)]
    pub fn finish_restore(&mut self, now_ms: f64, own_posts: Option<Vec<Uint8Array>>) -> Result<JsValue, JsError> {
        let now = ms(now_ms)?;
        let pending =
            own_posts.unwrap_or_default().iter().map(|bytes| SavedPost { bytes: bytes.to_vec(), own: true }).collect();
        let mut report = std::mem::take(&mut self.restoring);
        let outputs = self.node.finish_restore(pending, now, &mut report);
        with_outputs(to_js(&report)?, &outputs)
    }

    /// The answer to a `serveBlocks` output: the blocks' bytes in the order
    /// asked (those storage does not have left out). Returns `Output[]`
    /// (the `send` of the answer).
    #[wasm_bindgen(js_name = sendBlocks)]
    pub fn send_blocks(&self, to: f64, blocks: Vec<Uint8Array>) -> Result<Array, JsError> {
        let to = PeerId(whole("to", to)?);
        let outputs = self.node.send_blocks(to, blocks.iter().map(Uint8Array::to_vec).collect());
        outputs_to_js(&outputs)
    }

    /// The answer to a `loadBlocks` output: the blocks' bytes, any order.
    /// Returns `Output[]` (the sync that waited asks for its next page).
    #[wasm_bindgen(js_name = blocksLoaded)]
    pub fn blocks_loaded(&mut self, blocks: Vec<Uint8Array>, now_ms: f64) -> Result<Array, JsError> {
        let now = ms(now_ms)?;
        let outputs = self.node.blocks_loaded(blocks.iter().map(Uint8Array::to_vec).collect(), now);
        outputs_to_js(&outputs)
    }

    /// The answer to a `readBlock` output: the block's bytes, or `undefined`
    /// when storage does not have it. Returns `Output[]` (the next block to
    /// read, or the blocks connected).
    #[wasm_bindgen(js_name = blockRead)]
    pub fn block_read(&mut self, hash: &str, bytes: Option<Uint8Array>, now_ms: f64) -> Result<Array, JsError> {
        let hash = BlockHash::from_str(hash).map_err(|e| JsError::new(&e.to_string()))?;
        let now = ms(now_ms)?;
        let outputs = self.node.block_read(hash, bytes.map(|bytes| bytes.to_vec()), now);
        outputs_to_js(&outputs)
    }

    /// One text frame from the relay. Returns `Output[]`.
    #[wasm_bindgen(js_name = onText)]
    pub fn on_text(&mut self, text: &str, now_ms: f64) -> Result<Array, JsError> {
        let outputs = self.node.on_text(text, ms(now_ms)?);
        outputs_to_js(&outputs)
    }

    /// One text frame from another tab of this browser (its `sibling` send,
    /// over a `BroadcastChannel`): untrusted like a relay frame; only a post
    /// or block for everyone is taken, and checked as if the relay had
    /// brought it. Returns `Output[]`.
    #[wasm_bindgen(js_name = onSiblingText)]
    pub fn on_sibling_text(&mut self, text: &str, now_ms: f64) -> Result<Array, JsError> {
        let outputs = self.node.on_sibling_text(text, ms(now_ms)?);
        outputs_to_js(&outputs)
    }

    /// The websocket closed: peers and the sync in flight are forgotten (the
    /// chain and the pending posts stay). Reconnect and feed the new `Welcome`.
    #[wasm_bindgen(js_name = onDisconnected)]
    pub fn on_disconnected(&mut self) {
        self.node.on_disconnected();
    }

    /// Timers (call every second or so): resends an unanswered sync request.
    /// Returns `Output[]`.
    pub fn tick(&mut self, now_ms: f64) -> Result<Array, JsError> {
        let outputs = self.node.tick(ms(now_ms)?);
        outputs_to_js(&outputs)
    }

    /// The first half of posting: a post signed with the 32-byte Ed25519
    /// `secretKey` at time `nowMs`, ready to be stamped with `factor` times
    /// the network's minimum work (see `core::stamp`; default 4, which ranks
    /// it above posts paying the minimum). Returns `{postBytes,
    /// headerBytes (the 96-byte stamp header: mine it with a `Miner` in a
    /// worker), bits (number), expectedHashes}`. Nothing is kept yet: pass
    /// the nonce found to `postStamped`.
    ///
    /// Throws an `Error` saying why if the post is invalid (empty, too long,
    /// control or invisible formatting characters).
    #[wasm_bindgen(js_name = preparePost)]
    pub fn prepare_post(
        &self,
        author: &str,
        content: &str,
        now_ms: f64,
        secret_key: &[u8],
        factor: Option<u32>,
    ) -> Result<JsValue, JsError> {
        let now = ms(now_ms)?;
        let key = self::secret_key(secret_key)?;
        let params = self.node.params();
        let post = Post::new_signed(author, content, now, &key, &self.node.state().chain().genesis().hash)
            .map_err(|e| JsError::new(&e.to_string()))?;
        let factor = factor.map_or(DEFAULT_STAMP_FACTOR, u64::from);
        let (bits, job) = stamp_job(&post, params, factor);
        let target = bits.to_target().map_err(|e| JsError::new(&e.to_string()))?;
        to_js(&PreparedPost {
            post_bytes: Bytes(&post.to_bytes()),
            header_bytes: Bytes(&job.header_with_nonce(0).to_bytes()),
            bits: bits.0,
            expected_hashes: target.expected_hashes(),
        })
    }

    /// The second half of posting: the prepared `postBytes` with its stamp
    /// (`bits` from `preparePost`, the `nonce` bigint a `Miner` found) go
    /// into the mempool as an own post, announced now if joined and again
    /// on every join until a block holds it. Returns `{txId, outputs}`; the
    /// outputs include the own `pendingAdded` change to keep, and end with
    /// the post for the browser's other tabs (`sibling`).
    ///
    /// Throws an `Error` saying why if the bytes are not a post, the stamp
    /// does not hold, or the mempool refuses the post.
    #[wasm_bindgen(js_name = postStamped)]
    pub fn post_stamped(&mut self, post_bytes: &[u8], bits: u32, nonce: u64, now_ms: f64) -> Result<JsValue, JsError> {
        let now = ms(now_ms)?;
        let mut post = Post::from_bytes(post_bytes).map_err(|e| JsError::new(&format!("not a post: {e}")))?;
        post.stamp = Stamp { bits: CompactTarget(bits), nonce };
        let tx = post.clone();
        let (tx_id, outputs) = self.node.submit_own_post(post, now).map_err(|e| JsError::new(&e.to_string()))?;
        let array = outputs_to_js(&outputs)?;
        push_sibling(&array, Message::Tx { tx })?;
        let object = to_js(&PostResult { tx_id })?;
        js_sys::Reflect::set(&object, &"outputs".into(), array.as_ref())
            .map_err(|_| JsError::new("cannot set outputs"))?;
        Ok(object)
    }

    /// A mining job on the best tip with the oldest pending posts: `{id,
    /// headerBytes (96-byte Uint8Array for new Miner), height, bits (number),
    /// txCount, target (64 hex digits), expectedHashes}`. The node keeps the
    /// last 8 templates for `foundNonce`.
    pub fn template(&mut self, now_ms: f64) -> Result<JsValue, JsError> {
        let block = self.node.template(ms(now_ms)?);
        let id = self.next_template;
        self.next_template = self.next_template.wrapping_add(1).max(1);
        let header = block.header;
        let header_bytes = header.to_bytes();
        let target = header.bits.to_target().map_err(|e| JsError::new(&e.to_string()))?;
        let info = TemplateInfo {
            id,
            header_bytes: Bytes(&header_bytes),
            height: header.height,
            bits: header.bits.0,
            tx_count: block.posts.len(),
            target: hex::encode(target.to_be_bytes()),
            expected_hashes: target.expected_hashes(),
        };
        let js = to_js(&info)?;
        self.templates.push_back((id, block));
        while self.templates.len() > MAX_TEMPLATES {
            self.templates.pop_front();
        }
        Ok(js)
    }

    /// Submits template `id` with the `nonce` (a bigint, as `Miner.mineRange`
    /// finds it): validated, stored and announced. Returns `Output[]`,
    /// ending with the block for the browser's other tabs (`sibling`).
    ///
    /// Throws an `Error` if the id is unknown (or older than the last 8
    /// templates), the tip moved since the template (stale), or the block is
    /// invalid (the nonce does not meet the target).
    #[wasm_bindgen(js_name = foundNonce)]
    pub fn found_nonce(&mut self, id: u32, nonce: u64, now_ms: f64) -> Result<Array, JsError> {
        let now = ms(now_ms)?;
        let index =
            self.templates.iter().position(|(t, _)| *t == id).ok_or_else(|| {
                JsError::new(&format!("unknown template {id} (only the last {MAX_TEMPLATES} are kept)"))
            })?;
        let mut block = self.templates[index].1.clone();
        block.header.nonce = nonce;
        let outputs = self.node.submit_mined(block.clone(), now).map_err(|e| JsError::new(&e.to_string()))?;
        self.templates.remove(index);
        let array = outputs_to_js(&outputs)?;
        push_sibling(&array, Message::Block { block })?;
        Ok(array)
    }

    /// Height of the best tip.
    pub fn height(&self) -> f64 {
        self.node.height() as f64
    }

    /// Hash of the best tip, 64 hex digits.
    pub fn tip(&self) -> String {
        self.node.tip().to_hex()
    }

    /// `{me (number|null), network, joined, height, tip, syncing, syncHeight,
    /// syncTarget (numbers, null when not syncing), peers (count), pending
    /// (count), bits (next block's, number), expectedHashes (next block's),
    /// targetIntervalMs (the time between blocks the retarget aims at)}`.
    pub fn status(&self) -> Result<JsValue, JsError> {
        let (bits, _) = self.node.state().chain().next_block_rules();
        let expected_hashes = bits.to_target().map(|t| t.expected_hashes()).unwrap_or(0.0);
        let sync = self.node.sync_progress();
        to_js(&Status {
            me: self.node.me().map(|p| p.0),
            network: self.node.params().network,
            joined: self.node.is_joined(),
            height: self.node.height(),
            tip: self.node.tip(),
            syncing: sync.is_some(),
            sync_height: sync.map(|s| s.height),
            sync_target: sync.map(|s| s.target_height),
            peers: self.node.peers().len(),
            pending: self.node.state().mempool().len(),
            bits: bits.0,
            expected_hashes,
            target_interval_ms: self.node.params().target_block_interval_ms,
        })
    }

    /// The other joined peers: `[{id, agent, height, work (expected
    /// hashes), relay (string|null), lastBlockMs (host clock ms|null)}]`,
    /// as current as the relay's last `Peers` answer and the blocks they sent.
    pub fn peers(&self) -> Result<JsValue, JsError> {
        let rows: Vec<PeerRow> = self
            .node
            .peers()
            .values()
            .map(|p| PeerRow {
                id: p.id.0,
                agent: &p.agent,
                height: p.best_height,
                work: p.total_work.to_f64(),
                relay: p.relay.as_deref(),
                last_block_ms: self.node.peer_last_block_ms(p.id).map(|ms| ms as f64),
            })
            .collect();
        to_js(&rows)
    }

    /// The `GetPeers` frame to send to ask the relay for its current peer
    /// list, or `undefined` before the node has joined. The relay answers
    /// at most one a second; the page asks every few seconds while visible.
    #[wasm_bindgen(js_name = peersRequest)]
    pub fn peers_request(&self) -> Option<String> {
        self.node.peers_request()
    }

    /// Up to `limit` posts of the best chain, newest first, from the blocks
    /// whose bodies are in memory (all of them without a body limit; with
    /// one, older posts come from storage: `postBlocks`, `blockView`):
    /// `[{txId, author, content, timestamp (ms), height, verified (signed,
    /// and the signature verified when its block was accepted), keyId
    /// (string|null)}]`.
    pub fn posts(&self, limit: u32) -> Result<JsValue, JsError> {
        let chain = self.node.state().chain();
        let bodies = chain.best_blocks_with_posts_below(chain.height() + 1).map_while(BlockEntry::block);
        let rows: Vec<PostRow> = bodies.flat_map(|block| post_rows(block)).take(limit as usize).collect();
        to_js(&rows)
    }

    /// Best-chain blocks with posts below `beforeHeight`, newest first,
    /// until they hold `minPosts` posts (or genesis): `[{height, hash,
    /// prevHash, nonce, timestamp, txCount, inMemory}]`. Empty blocks are
    /// skipped at no cost: a page of older posts for the feed, whose bodies
    /// come from `blockBytes` or storage.
    #[wasm_bindgen(js_name = postBlocks)]
    pub fn post_blocks(&self, before_height: f64, min_posts: u32) -> Result<JsValue, JsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct PostBlock {
            #[serde(flatten)]
            row: BlockRow,
            in_memory: bool,
        }
        let before = whole("beforeHeight", before_height)?;
        let mut posts = 0usize;
        let rows: Vec<PostBlock> = self
            .node
            .state()
            .chain()
            .best_blocks_with_posts_below(before)
            .take_while(|entry| {
                let more = posts < min_posts as usize;
                posts += entry.post_count;
                more
            })
            .map(|entry| PostBlock { row: BlockRow::of(entry), in_memory: entry.block().is_some() })
            .collect();
        to_js(&rows)
    }

    /// A block's bytes if its body is in memory (any branch, or the orphan
    /// pool), else `undefined`: read it from storage then.
    #[wasm_bindgen(js_name = blockBytes)]
    pub fn block_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>, JsError> {
        let hash = BlockHash::from_str(hash).map_err(|e| JsError::new(&e.to_string()))?;
        let chain = self.node.state().chain();
        let in_tree = chain.get(&hash).and_then(BlockEntry::block).map(|block| block.to_bytes());
        Ok(in_tree.or_else(|| chain.orphan(&hash).map(Block::to_bytes)))
    }

    /// The block tree of the last `depth` heights (default 50, at most 200)
    /// for the page to draw: `{tipHeight, fromHeight, toHeight, truncated,
    /// nodes: [{hash, parent, height, best, orphan, chainWork (64 hex
    /// digits, null for an orphan), postCount, timestampMs, lane (0: the best
    /// chain)}]}`, best chain tip first, then side branches, then orphans,
    /// at most 400 nodes (see `core::chain::tree_view`).
    #[wasm_bindgen(js_name = treeView)]
    pub fn tree_view(&self, depth: Option<f64>) -> Result<JsValue, JsError> {
        let depth = depth.map(|n| whole("depth", n)).transpose()?.unwrap_or(DEFAULT_TREE_DEPTH);
        to_js(&self.node.state().chain().tree_view(depth))
    }

    /// What the chain holds in memory: `{blocks (in the tree), bodies (of
    /// those), bodyBytes, bodyLimit (blocks; null: none), bodyBytesLimit
    /// (null: none)}`.
    #[wasm_bindgen(js_name = memoryUse)]
    pub fn memory_use(&self) -> Result<JsValue, JsError> {
        let chain = self.node.state().chain();
        let (bodies, body_bytes) = chain.body_usage();
        let limit = chain.body_limit();
        to_js(&MemoryUse {
            blocks: chain.block_count(),
            bodies,
            body_bytes,
            body_limit: limit.map(|l| l.blocks),
            body_bytes_limit: limit.filter(|l| l.bytes < usize::MAX).map(|l| l.bytes as f64),
        })
    }

    /// The pending posts, oldest first: `[{txId, author, content, timestamp,
    /// keyId}]`.
    pub fn pending(&self) -> Result<JsValue, JsError> {
        let rows: Vec<PendingRow> = self
            .node
            .state()
            .mempool()
            .iter()
            .map(|(tx_id, post)| PendingRow {
                tx_id: *tx_id,
                author: &post.author,
                content: &post.content,
                timestamp: post.timestamp_ms,
                key_id: post.key_id(),
            })
            .collect();
        to_js(&rows)
    }

    /// Best-chain blocks from `fromHeight`, at most `count`, lowest first:
    /// `[{height, hash, prevHash, nonce (decimal string), timestamp (ms), txCount}]`.
    pub fn blocks(&self, from_height: f64, count: u32) -> Result<JsValue, JsError> {
        let from = whole("fromHeight", from_height)?;
        let rows: Vec<BlockRow> = self
            .node
            .state()
            .chain()
            .best_chain()
            .skip(usize::try_from(from).unwrap_or(usize::MAX))
            .take(count as usize)
            .map(BlockRow::of)
            .collect();
        to_js(&rows)
    }

    /// The last `count` best-chain blocks (fewer on a shorter chain), lowest
    /// first, for the page's charts: `[{height, hash, timestamp (ms),
    /// intervalMs (its timestamp minus its parent's; null for genesis),
    /// expectedHashes (its difficulty)}]`. From headers alone, recomputed
    /// at every call (a reorganisation shows at once).
    #[wasm_bindgen(js_name = recentPace)]
    pub fn recent_pace(&self, count: u32) -> Result<JsValue, JsError> {
        let rows: Vec<PaceRow> =
            self.node.state().chain().recent_pace(count as usize).into_iter().map(PaceRow::from).collect();
        to_js(&rows)
    }

    /// The JSON view of a block the node has in memory (any branch),
    /// pretty-printed. Hand the text to `tamperRebuild` as is: do not
    /// `JSON.parse` it (nonces are 64-bit). Throws an `Error` for a malformed
    /// or unknown hash, or a block whose body is not in memory (read it from
    /// storage and use `blockView`).
    #[wasm_bindgen(js_name = blockJson)]
    pub fn block_json(&self, hash: &str) -> Result<String, JsError> {
        let hash = BlockHash::from_str(hash).map_err(|e| JsError::new(&e.to_string()))?;
        let entry =
            self.node.state().chain().get(&hash).ok_or_else(|| JsError::new(&format!("unknown block {hash}")))?;
        let block = entry.block().ok_or_else(|| JsError::new(&format!("block {hash} is not in memory")))?;
        serde_json::to_string_pretty(block.as_ref()).map_err(|e| JsError::new(&e.to_string()))
    }
}
