//! The block tree: the best chain by cumulative work, the side branches
//! worth keeping, the orphan pool, and the sync queries.
//!
//! Which blocks are kept (headers first, Bitcoin Core's rule for unrequested
//! blocks): a valid block is stored only if it extends the best tip, would
//! rank above it, or lies on a header chain a sync has checked to have more
//! work ([`Chain::want`]); anything else is [`BlockStatus::LessWork`] and is
//! not kept. Side branches that fall more than [`SIDE_KEEP_DEPTH`] blocks
//! behind are pruned, and all side branches together stay within the
//! network's `max_side_blocks` and `max_side_bytes`: the lowest-ranked side
//! tips go first. Pruned blocks are reported ([`Stored::removed`]) so hosts
//! delete them from storage too.
//!
//! The best tip is the block with the most cumulative work; among tips of
//! equal work, the one whose hash is the lower 256-bit big-endian number (see
//! [`TipRank`]). The rule depends only on the blocks, not on the order they
//! arrived in, so nodes holding the same blocks agree on the tip. Switching
//! tips returns a [`TipChange`] listing the blocks disconnected from the old
//! best chain and connected from the new one.
//!
//! What stays in memory: every block's header and what the tree derives from
//! it (work, target, times), for every block. Bodies and post ids stay too,
//! unless the host sets a body limit ([`Chain::set_body_limit`], see
//! `bodies.rs`): then only the last blocks of the best chain, side blocks and
//! the post ids of the post window keep them, and the rest is read from the
//! host's storage when needed.
//!
//! By file: `mod.rs` (the tree, submitting, the fork choice), `keep.rs`
//! (which blocks are kept, wanted blocks), `known_invalid.rs` (blocks refused
//! with one lookup), `duplicates.rs`
//! (posts already on a branch, within the post window), `side.rs` (side
//! branch budget and pruning), `bodies.rs` (which bodies and post ids stay in
//! memory), `entries.rs` (the slots, in chunks), `queries.rs` (locators, sync
//! pages, headers), `tree_view.rs` (the last heights as a page draws them),
//! `pace.rs` (the last blocks' intervals and difficulty, for the page's charts).

mod bodies;

pub use bodies::BodyLimit;
mod duplicates;
mod entries;
mod keep;
mod known_invalid;
mod pace;
mod queries;
mod side;
mod tree_view;

pub use pace::BlockPace;
pub use tree_view::{DEFAULT_TREE_DEPTH, MAX_TREE_DEPTH, MAX_TREE_NODES, TREE_ABOVE_TIP, TreeNode, TreeView};

use crate::block::Block;
use crate::hash::{BlockHash, TxId};
use crate::header::BlockHeader;
use crate::invalid::InvalidBlocks;
use crate::orphans::OrphanPool;
use crate::params::Params;
use crate::retarget::next_target;
use crate::target::{CompactTarget, Target, Work};
use crate::validate::{
    BlockError, ParentContext, check_block_structure_on, check_contextual, check_proof_of_work, check_signatures,
    median_time,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// Side branches whose tip is more than this many blocks below the best tip
/// are pruned: blocks announced on them would have less work than the best
/// chain and not be kept anyway.
pub const SIDE_KEEP_DEPTH: u64 = 100;

/// Most block hashes a sync may mark as wanted at once ([`Chain::want`]).
pub const MAX_WANTED: usize = 100_000;

/// Most hashes a locator built here holds; a chain of 2^50 blocks needs ~60.
pub const MAX_LOCATOR_LEN: usize = 64;

/// Byte budget (block encodings) for one sync page. JSON takes at most about
/// four times the encoding (for blocks of tiny posts; text itself at most
/// doubles), so a page stays under [`crate::wire::MAX_MESSAGE_BYTES`].
pub const SYNC_PAGE_BYTES: usize = 400 * 1024;

/// A block in the tree with what the tree derives from it.
#[derive(Clone, Debug)]
pub struct BlockEntry {
    /// Its header (kept for every block: locators, header sync and the
    /// retarget rule need nothing else).
    pub header: BlockHeader,
    /// Its header hash.
    pub hash: BlockHash,
    /// Its target, decoded.
    pub target: Target,
    /// Work of the chain from genesis up to and including this block.
    pub chain_work: Work,
    /// Latest block timestamp from genesis up to and including this block.
    /// It never decreases along a branch, so once a walk down a branch meets
    /// a block with a small enough `max_time_ms`, every block below is older
    /// still: how duplicate checks stop at the post window.
    pub max_time_ms: u64,
    /// Its encoded size (what the side-branch byte budget and sync pages count).
    pub size: usize,
    /// How many posts it holds.
    pub post_count: usize,
    /// The block (shared: templates and sync pages hand it out without
    /// copying); `None` once a body limit dropped it (see `bodies.rs`).
    body: Option<Arc<Block>>,
    /// Ids of its posts, in order; `None` once dropped with the body outside
    /// the post window (see `bodies.rs`).
    txids: Option<Vec<TxId>>,
    /// Post ids loaded back for a deep fork's duplicate checks, dropped again
    /// by [`Chain::release_loaded`].
    loaded: bool,
    parent: Option<usize>,
    /// Children in the tree (a side block without any is a side tip).
    children: u32,
    /// The nearest block with posts among itself and its ancestors: where a
    /// duplicate check's walk goes next.
    with_posts: Option<usize>,
}

impl BlockEntry {
    /// Height of the block.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// Block time, Unix milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        self.header.timestamp_ms
    }

    /// Where the block stands in the fork choice (see [`TipRank`]).
    pub fn tip_rank(&self) -> TipRank {
        TipRank { chain_work: self.chain_work, hash: self.hash }
    }

    /// The whole block, if its body is in memory (always, without a body
    /// limit; see [`Chain::set_body_limit`]).
    pub fn block(&self) -> Option<&Arc<Block>> {
        self.body.as_ref()
    }

    /// Ids of its posts in order, if they are in memory (always for side
    /// blocks, the post window and blocks whose body is in memory).
    pub fn txids(&self) -> Option<&[TxId]> {
        self.txids.as_deref()
    }

    /// Whether it has posts whose ids are not in memory.
    fn lacks_txids(&self) -> bool {
        self.txids.is_none() && self.post_count > 0
    }
}

/// A block's place in the fork choice: the best tip is the block of the
/// greatest rank. More cumulative work ranks higher; on equal work the lower
/// hash ranks higher, the hash read as a 256-bit big-endian number (the
/// order in which [`Target::is_met_by`] compares a hash with a target, and
/// the order [`BlockHash`] sorts in: its bytes compared first to last). The
/// rank depends only on the block and its ancestors, so nodes holding the
/// same blocks pick the same tip whatever order the blocks came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TipRank {
    /// Work of the chain from genesis up to and including the block.
    pub chain_work: Work,
    /// The block's hash.
    pub hash: BlockHash,
}

impl Ord for TipRank {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.chain_work.cmp(&other.chain_work).then_with(|| other.hash.cmp(&self.hash))
    }
}

impl PartialOrd for TipRank {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// How the best chain moved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipChange {
    /// Height of the last block both chains share.
    pub fork_height: u64,
    /// Blocks that left the best chain, old tip first.
    pub disconnected: Vec<BlockHash>,
    /// The bodies of the disconnected blocks that were in memory, old tip
    /// first: the posts the mempool takes back. With a body limit, blocks
    /// deeper than it have none here, and their posts are not taken back.
    pub disconnected_bodies: Vec<Arc<Block>>,
    /// Blocks that joined it, lowest first (the last one is the new tip).
    pub connected: Vec<BlockHash>,
}

impl TipChange {
    /// Whether blocks were disconnected (a reorganisation, not just growth).
    pub fn is_reorg(&self) -> bool {
        !self.disconnected.is_empty()
    }
}

/// What became of a submitted block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockStatus {
    /// Already in the tree or the orphan pool; nothing changed.
    Duplicate,
    /// Valid on its own but its parent is unknown: kept in the orphan pool.
    /// Ask a peer for the blocks leading to it.
    Orphan {
        /// The parent to fetch.
        missing_parent: BlockHash,
    },
    /// Stored in the tree, with any orphans that waited for it.
    Stored(Stored),
    /// Valid as far as checked, but neither on the best tip nor ranking
    /// above it nor wanted by a sync: not kept (see the module docs).
    LessWork {
        /// The chain work the block would have.
        chain_work: Work,
        /// The best tip's chain work.
        best_work: Work,
    },
}

/// Blocks added to the tree by one submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The submitted block, then orphans connected after it.
    pub hashes: Vec<BlockHash>,
    /// Orphans that turned out invalid once their parent arrived (dropped).
    pub rejected_orphans: Vec<(BlockHash, BlockError)>,
    /// How the best chain moved, if it did.
    pub tip_change: Option<TipChange>,
    /// Side blocks pruned afterwards (behind the best tip, or over the side
    /// budget): no longer in the tree, for hosts to delete.
    pub removed: Vec<BlockHash>,
}

/// Every valid block of one network, and which branch is best.
#[derive(Clone, Debug)]
pub struct Chain {
    params: Params,
    entries: entries::Entries,
    by_hash: HashMap<BlockHash, usize>,
    /// Entry index of the best chain's block at each height.
    best: Vec<usize>,
    /// Height of each post confirmed in the best chain's blocks from height
    /// `indexed_from` up: the blocks a post in a new block on the best tip
    /// could duplicate (see [`Chain::check_branch_duplicates`]).
    best_txs: HashMap<TxId, u64>,
    /// Lowest best-chain height whose posts are in `best_txs`.
    indexed_from: u64,
    orphans: OrphanPool,
    /// Slots of `entries` freed by pruning, reused first.
    free: Vec<usize>,
    /// Side tips (side blocks without children), lowest rank first.
    side_leaves: BTreeSet<(TipRank, usize)>,
    /// Side blocks and their encoded bytes.
    side_count: usize,
    side_bytes: usize,
    /// Blocks on header chains a sync checked to have more work: kept
    /// whatever their own rank (see [`Chain::want`]).
    wanted: HashSet<BlockHash>,
    /// Which bodies stay in memory (`None`: every body; see `bodies.rs`).
    body_limit: Option<BodyLimit>,
    /// Lowest best-chain height above genesis that may still hold a body:
    /// where the next trim starts.
    bodies_from: u64,
    /// Entries holding their body, and those bodies' encoded bytes.
    bodies: usize,
    body_bytes: usize,
    /// Entries whose post ids were loaded back ([`Chain::load_txids`]).
    loaded: Vec<usize>,
    /// Blocks that failed validation for good (bounded).
    invalid: InvalidBlocks,
    #[cfg(any(test, feature = "test-util"))]
    duplicate_walk: std::cell::Cell<usize>,
}

impl Chain {
    /// A chain holding only the network's genesis block.
    pub fn new(params: Params) -> Self {
        let genesis = params.genesis();
        let hash = genesis.hash();
        let target = params.genesis_bits.to_target().unwrap_or(params.easiest_target());
        let txids = genesis.txids();
        let orphans = OrphanPool::new(params.max_orphans, params.max_orphan_bytes);
        let best_txs = txids.iter().map(|t| (*t, 0)).collect();
        let max_time_ms = genesis.header.timestamp_ms;
        let size = genesis.encoded_len();
        let entry = BlockEntry {
            header: genesis.header,
            size,
            post_count: genesis.posts.len(),
            with_posts: (!txids.is_empty()).then_some(0),
            body: Some(Arc::new(genesis)),
            hash,
            txids: Some(txids),
            loaded: false,
            chain_work: target.work(),
            target,
            max_time_ms,
            parent: None,
            children: 0,
        };
        Self {
            params,
            entries: {
                let mut entries = entries::Entries::default();
                entries.push(entry);
                entries
            },
            by_hash: HashMap::from([(hash, 0)]),
            best: vec![0],
            best_txs,
            indexed_from: 0,
            orphans,
            free: Vec::new(),
            side_leaves: BTreeSet::new(),
            side_count: 0,
            side_bytes: 0,
            wanted: HashSet::new(),
            body_limit: None,
            bodies_from: 1,
            bodies: 1,
            body_bytes: size,
            loaded: Vec::new(),
            invalid: InvalidBlocks::default(),
            #[cfg(any(test, feature = "test-util"))]
            duplicate_walk: std::cell::Cell::new(0),
        }
    }

    /// The network parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The best tip.
    pub fn tip(&self) -> &BlockEntry {
        &self.entries[self.tip_index()]
    }

    fn tip_index(&self) -> usize {
        self.best[self.best.len() - 1]
    }

    /// Height of the best tip.
    pub fn height(&self) -> u64 {
        self.tip().height()
    }

    /// The genesis block's entry.
    pub fn genesis(&self) -> &BlockEntry {
        &self.entries[0]
    }

    /// A block anywhere in the tree.
    pub fn get(&self, hash: &BlockHash) -> Option<&BlockEntry> {
        self.by_hash.get(hash).map(|&i| &self.entries[i])
    }

    /// Whether the tree or the orphan pool holds the block.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.by_hash.contains_key(hash) || self.orphans.contains(hash)
    }

    /// The best chain's block at `height`.
    pub fn best_at(&self, height: u64) -> Option<&BlockEntry> {
        let index = usize::try_from(height).ok()?;
        self.best.get(index).map(|&i| &self.entries[i])
    }

    /// The best chain, genesis first.
    pub fn best_chain(&self) -> impl DoubleEndedIterator<Item = &BlockEntry> + ExactSizeIterator + '_ {
        self.best.iter().map(|&i| &self.entries[i])
    }

    /// Height of the best-chain block holding this post, if that block is
    /// recent enough that a post in the next block could still duplicate it
    /// (within the post window: older posts are refused for their age).
    pub fn confirmed_height(&self, txid: &TxId) -> Option<u64> {
        self.best_txs.get(txid).copied()
    }

    /// Posts of best-chain blocks the duplicate index holds (bounded by the
    /// post window, not by the chain's length).
    pub fn indexed_post_count(&self) -> usize {
        self.best_txs.len()
    }

    /// Blocks in the tree (all branches).
    pub fn block_count(&self) -> usize {
        self.by_hash.len()
    }

    /// Blocks off the best chain, and their encoded bytes (both bounded by
    /// the network's side budget).
    pub fn side_usage(&self) -> (usize, usize) {
        (self.side_count, self.side_bytes)
    }

    /// Blocks waiting for their parent.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
    }

    /// A block waiting in the orphan pool for its parent.
    pub fn orphan(&self, hash: &BlockHash) -> Option<&Block> {
        self.orphans.get(hash)
    }

    fn on_best(&self, index: usize) -> bool {
        let height = self.entries[index].height() as usize;
        self.best.get(height) == Some(&index)
    }

    /// The target a child of `parent` must carry.
    fn next_bits(&self, parent: usize) -> CompactTarget {
        let entry = &self.entries[parent];
        match entry.parent {
            None => self.params.genesis_bits,
            Some(grandparent) => {
                let solve = i128::from(entry.timestamp_ms()) - i128::from(self.entries[grandparent].timestamp_ms());
                let solve = solve.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                next_target(&self.params.retarget(), entry.target, solve).to_compact()
            }
        }
    }

    /// Median time of `index` and up to `median_time_span - 1` ancestors.
    fn median_time_past(&self, mut index: usize) -> u64 {
        let mut times = Vec::with_capacity(self.params.median_time_span);
        loop {
            let entry = &self.entries[index];
            times.push(entry.timestamp_ms());
            match entry.parent {
                Some(p) if times.len() < self.params.median_time_span => index = p,
                _ => break,
            }
        }
        median_time(times)
    }

    fn parent_context(&self, parent: usize) -> ParentContext {
        ParentContext {
            height: self.entries[parent].height(),
            next_bits: self.next_bits(parent),
            median_time_past_ms: self.median_time_past(parent),
        }
    }

    /// Target bits and earliest timestamp for a block on the best tip.
    pub fn next_block_rules(&self) -> (CompactTarget, u64) {
        let ctx = self.parent_context(self.tip_index());
        (ctx.next_bits, ctx.median_time_past_ms + 1)
    }

    /// Validates `block` and adds it if it is worth keeping (see the module
    /// docs): to the tree if its parent is known (then connects orphans
    /// waiting for it and moves the best tip if one of them ranks higher, see
    /// [`TipRank`]), else to the orphan pool. `now_ms` is the caller's clock.
    ///
    /// Cheapest first: the duplicate lookup, the lookup among blocks known to
    /// be invalid ([`BlockError::KnownInvalid`], [`BlockError::InvalidParent`]),
    /// the proof of work, whether it is worth keeping, the structure (sizes,
    /// Merkle root, post fields, window, stamps), the rules against the
    /// parent, and only then the signatures. A block that fails for good is
    /// remembered ([`crate::invalid`]), so it costs one lookup when it comes
    /// again; so are the orphans waiting for it.
    pub fn submit(&mut self, block: Block, now_ms: u64) -> Result<BlockStatus, BlockError> {
        self.submit_inner(block, now_ms, false)
    }

    /// [`Chain::submit`] that keeps the block whatever its rank (for blocks
    /// this node kept before, and chains whose headers outrank ours) and
    /// leaves side branches unpruned until [`Chain::prune`]: blocks of one
    /// batch may come in any order.
    pub fn submit_kept(&mut self, block: Block, now_ms: u64) -> Result<BlockStatus, BlockError> {
        self.submit_inner(block, now_ms, true)
    }

    fn submit_inner(&mut self, block: Block, now_ms: u64, keep_any: bool) -> Result<BlockStatus, BlockError> {
        let hash = block.hash();
        if self.contains(&hash) {
            return Ok(BlockStatus::Duplicate);
        }
        let result = self
            .refuse_known_invalid(hash, &block.header.prev_hash)
            .and_then(|()| self.submit_new(hash, block, now_ms, keep_any));
        if let Err(error) = &result {
            self.condemn(hash, error);
        }
        result
    }

    /// [`Chain::submit_inner`] for a block neither in the tree nor known invalid.
    fn submit_new(
        &mut self,
        hash: BlockHash,
        block: Block,
        now_ms: u64,
        keep_any: bool,
    ) -> Result<BlockStatus, BlockError> {
        let work = check_proof_of_work(&self.params, &block)?.work();
        let parent = self.by_hash.get(&block.header.prev_hash).copied();
        if let Some(parent) = parent
            && !keep_any
            && let Err((chain_work, best_work)) = self.worth_keeping(parent, &hash, work, self.tip_index())
        {
            return Ok(BlockStatus::LessWork { chain_work, best_work });
        }
        let chain_id = self.genesis().hash;
        let txids = check_block_structure_on(&self.params, &chain_id, &block)?;
        let Some(parent) = parent else {
            check_signatures(&block, &chain_id)?;
            let missing_parent = block.header.prev_hash;
            self.orphans.insert(hash, block);
            return Ok(BlockStatus::Orphan { missing_parent });
        };
        self.check_against_parent(parent, &block, &txids, now_ms)?;
        check_signatures(&block, &chain_id)?;
        let old_tip = self.tip_index();
        let first = self.store(parent, hash, block, txids)?;
        let mut stored =
            Stored { hashes: vec![hash], rejected_orphans: Vec::new(), tip_change: None, removed: Vec::new() };
        let mut candidate = old_tip;
        if self.is_better_tip(first, candidate) {
            candidate = first;
        }
        let mut queue = vec![(hash, first)];
        while let Some((parent_hash, parent_index)) = queue.pop() {
            for (child_hash, child) in self.orphans.take_children(&parent_hash) {
                let child_work = child.header.bits.to_target().map_or(Work::ZERO, |t| t.work());
                if !keep_any && self.worth_keeping(parent_index, &child_hash, child_work, candidate).is_err() {
                    continue;
                }
                // Orphans passed everything but the parent's rules on arrival;
                // only their ids are recomputed.
                let txids = child.txids();
                let connected = match self.check_against_parent(parent_index, &child, &txids, now_ms) {
                    Ok(()) => self.store(parent_index, child_hash, child, txids),
                    Err(e) => Err(e),
                };
                match connected {
                    Ok(index) => {
                        stored.hashes.push(child_hash);
                        if self.is_better_tip(index, candidate) {
                            candidate = index;
                        }
                        queue.push((child_hash, index));
                    }
                    Err(e) => {
                        self.condemn(child_hash, &e);
                        stored.rejected_orphans.push((child_hash, e));
                    }
                }
            }
        }
        if candidate != old_tip {
            let (change, removed) = self.set_best(candidate);
            stored.tip_change = Some(change);
            stored.removed = removed;
        }
        if !keep_any {
            stored.removed.extend(self.prune_side());
        }
        Ok(BlockStatus::Stored(stored))
    }

    /// Whether entry `a` is a better tip than entry `b` (see [`TipRank`]).
    fn is_better_tip(&self, a: usize, b: usize) -> bool {
        self.entries[a].tip_rank() > self.entries[b].tip_rank()
    }

    /// The rules against the parent: height, target, timestamps
    /// ([`check_contextual`]) and no post already on the branch.
    fn check_against_parent(
        &self,
        parent: usize,
        block: &Block,
        txids: &[TxId],
        now_ms: u64,
    ) -> Result<(), BlockError> {
        check_contextual(&self.params, block, &self.parent_context(parent), now_ms)?;
        self.check_branch_duplicates(parent, block.header.timestamp_ms, txids)
    }

    /// Stores a block that passed every check under `parent`.
    fn store(&mut self, parent: usize, hash: BlockHash, block: Block, txids: Vec<TxId>) -> Result<usize, BlockError> {
        let target = block.header.bits.to_target()?;
        let index = self.free.last().copied().unwrap_or(self.entries.len());
        let size = block.encoded_len();
        let entry = BlockEntry {
            header: block.header,
            chain_work: self.entries[parent].chain_work.saturating_add(target.work()),
            max_time_ms: self.entries[parent].max_time_ms.max(block.header.timestamp_ms),
            size,
            post_count: block.posts.len(),
            with_posts: if txids.is_empty() { self.entries[parent].with_posts } else { Some(index) },
            body: Some(Arc::new(block)),
            hash,
            txids: Some(txids),
            loaded: false,
            target,
            parent: Some(parent),
            children: 0,
        };
        if index == self.entries.len() {
            self.entries.push(entry);
        } else {
            self.free.pop();
            self.entries[index] = entry;
        }
        self.bodies += 1;
        self.body_bytes += size;
        self.by_hash.insert(hash, index);
        self.side_added(index);
        Ok(index)
    }

    /// Frees an entry's slot for reuse. It must have no children left in
    /// the tree; side accounting is the caller's.
    fn free_entry(&mut self, index: usize) -> BlockHash {
        let slot = &mut self.entries[index];
        let (hash, parent) = (slot.hash, slot.parent);
        if slot.body.take().is_some() {
            self.bodies -= 1;
            self.body_bytes -= slot.size;
        }
        slot.txids = None;
        slot.loaded = false;
        slot.parent = None;
        slot.with_posts = None;
        slot.children = 0;
        slot.size = 0;
        slot.post_count = 0;
        self.by_hash.remove(&hash);
        self.free.push(index);
        if let Some(parent) = parent {
            self.entries[parent].children -= 1;
        }
        hash
    }

    /// Makes `new_tip` the best tip and reports the move, with the blocks
    /// removed from the tree on the way (see [`Chain::drop_unchecked`]).
    fn set_best(&mut self, new_tip: usize) -> (TipChange, Vec<BlockHash>) {
        let mut branch = Vec::new();
        let mut index = new_tip;
        while !self.on_best(index) {
            branch.push(index);
            index = self.entries[index].parent.unwrap_or(0);
        }
        let fork_height = self.entries[index].height();
        let keep = fork_height as usize + 1;
        let old_best: Vec<usize> = self.best[keep..].to_vec();
        let mut disconnected = Vec::with_capacity(old_best.len());
        let mut disconnected_bodies = Vec::new();
        for &old in old_best.iter().rev() {
            let entry = &self.entries[old];
            for txid in entry.txids.iter().flatten() {
                self.best_txs.remove(txid);
            }
            disconnected.push(entry.hash);
            disconnected_bodies.extend(entry.body.clone());
        }
        self.best.truncate(keep);
        let removed = self.drop_unchecked(&old_best);
        for &old in &old_best {
            if self.by_hash.get(&self.entries[old].hash) == Some(&old) {
                self.joined_side(old);
            }
        }
        for &new in &branch {
            self.left_side(new);
        }
        // A fork below the index: the new blocks are indexed from the fork up.
        self.indexed_from = self.indexed_from.min(keep as u64);
        // And bodies are trimmed from the fork up (the new blocks have theirs).
        self.bodies_from = self.bodies_from.min(keep as u64).max(1);
        let mut connected = Vec::with_capacity(branch.len());
        for &new in branch.iter().rev() {
            let entry = &self.entries[new];
            for txid in entry.txids.iter().flatten() {
                self.best_txs.insert(*txid, entry.height());
            }
            connected.push(entry.hash);
            self.best.push(new);
        }
        self.prune_index();
        (TipChange { fork_height, disconnected, disconnected_bodies, connected }, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{NOW, block_on, block_on_at, dev, dev_chain_id, forged_post, post, signed_post, work};
    use ruint::aliases::U256;

    /// Two different children of genesis (equal work), lower hash first.
    fn siblings() -> (Block, Block) {
        let a = block_on(dev_chain_id(), 1, vec![post("a", 1)]);
        let b = block_on(dev_chain_id(), 1, vec![post("b", 2)]);
        if a.hash() < b.hash() { (a, b) } else { (b, a) }
    }

    #[test]
    fn rank_is_work_then_the_lower_hash_read_as_a_big_endian_number() {
        let hash = |first: u8, last: u8| {
            let mut bytes = [0u8; 32];
            (bytes[0], bytes[31]) = (first, last);
            BlockHash::from_bytes(bytes)
        };
        let rank = |w: u64, hash: BlockHash| TipRank { chain_work: work(w), hash };
        // The first byte weighs most.
        let (small, big) = (hash(0, 0xff), hash(1, 0));
        assert!(rank(5, small) > rank(5, big));
        assert!(rank(6, big) > rank(5, small));
        assert_eq!(rank(5, small).cmp(&rank(5, small)), std::cmp::Ordering::Equal);
        // The order of the numbers, the way a target check reads a hash.
        let number = |h: &BlockHash| U256::from_be_bytes(*h.as_bytes());
        assert!(number(&small) < number(&big));
        let target = Target::from_u256(number(&small));
        assert!(target.is_met_by(&small) && !target.is_met_by(&big));
    }

    #[test]
    fn equal_work_goes_to_the_lower_hash_in_either_order() {
        let (low, high) = siblings();
        let mut chain = Chain::new(dev());
        chain.submit(low.clone(), NOW).unwrap();
        // A higher hash of equal work would not be best: not kept.
        assert!(matches!(chain.submit(high.clone(), NOW).unwrap(), BlockStatus::LessWork { .. }));
        assert_eq!(chain.tip().hash, low.hash());
        assert!(chain.get(&high.hash()).is_none());

        let mut chain = Chain::new(dev());
        chain.submit(high.clone(), NOW).unwrap();
        let BlockStatus::Stored(stored) = chain.submit(low.clone(), NOW).unwrap() else { panic!("stored") };
        let change = stored.tip_change.expect("a lower hash of equal work moves the tip");
        assert!(change.is_reorg());
        assert_eq!(change.fork_height, 0);
        assert_eq!(change.disconnected, vec![high.hash()]);
        assert_eq!(change.disconnected_bodies, vec![Arc::new(high.clone())]);
        assert_eq!(change.connected, vec![low.hash()]);
        assert_eq!(chain.tip().hash, low.hash());
        assert_eq!(chain.tip().chain_work, chain.get(&high.hash()).unwrap().chain_work);
    }

    #[test]
    fn equal_work_among_connected_orphans_goes_to_the_lower_hash() {
        let (low, _) = siblings();
        // Two children of one parent, arriving before it, connected by one submission.
        let on_low = block_on(low.hash(), 2, vec![post("c", 3)]);
        let twin = block_on(low.hash(), 2, vec![post("e", 5)]);
        let want = on_low.hash().min(twin.hash());
        for pair in [[&on_low, &twin], [&twin, &on_low]] {
            let mut chain = Chain::new(dev());
            for block in pair {
                assert!(matches!(chain.submit(block.clone(), NOW).unwrap(), BlockStatus::Orphan { .. }));
            }
            let BlockStatus::Stored(stored) = chain.submit(low.clone(), NOW).unwrap() else { panic!("stored") };
            assert!(stored.hashes.len() >= 2 && stored.hashes.contains(&want));
            assert_eq!(chain.tip().hash, want);
        }
    }

    #[test]
    fn only_blocks_worth_keeping_are_kept_and_side_branches_stay_in_budget() {
        let mut params = dev();
        params.max_side_blocks = 5;
        let mut chain = Chain::new(params.clone());
        let genesis = chain.genesis().hash;
        for block in crate::testkit::dev_chain(3) {
            chain.submit(block, NOW).unwrap();
        }
        // Children of genesis have far less work than the tip: refused, not kept.
        for n in 0..50 {
            let junk = block_on(genesis, 1, vec![post("junk", 100 + n)]);
            assert!(matches!(chain.submit(junk, NOW).unwrap(), BlockStatus::LessWork { .. }));
        }
        assert_eq!(chain.block_count(), 4);
        // Kept anyway (a restore), they are pruned to the budget afterwards.
        for n in 0..50 {
            let junk = block_on(genesis, 1, vec![post("junk", 200 + n)]);
            assert!(matches!(chain.submit_kept(junk, NOW).unwrap(), BlockStatus::Stored(_)));
        }
        assert_eq!(chain.prune().len(), 45);
        assert!(chain.side_usage().0 <= params.max_side_blocks);
        assert_eq!(chain.block_count(), 4 + 5);
        // Freed slots are reused: the tree's memory does not grow.
        let slots = chain.entries.len();
        for n in 0..50 {
            let junk = block_on(genesis, 1, vec![post("junk", 300 + n)]);
            chain.submit_kept(junk, NOW).unwrap();
            chain.prune();
        }
        assert!(chain.entries.len() <= slots + 1, "{} slots after reuse, {slots} before", chain.entries.len());
    }

    #[test]
    fn extending_a_side_branch_costs_the_same_however_long_it_is() {
        let mut chain = Chain::new(dev());
        for block in crate::testkit::dev_chain(600) {
            chain.submit(block, NOW).unwrap();
        }
        // A side branch from genesis: one post in its first block, then empty
        // blocks; a sync wants it (so it is kept though it has less work).
        let mut side =
            vec![block_on_at(chain.genesis().hash, 1, dev().genesis_timestamp_ms + 1_500, vec![post("s", 1)])];
        for height in 2..=400u64 {
            let parent = side.last().unwrap().hash();
            side.push(block_on_at(parent, height, dev().genesis_timestamp_ms + height * 1_000 + 500, Vec::new()));
        }
        chain.want(side.iter().map(Block::hash));
        let mut walks = Vec::new();
        for (i, block) in side.iter().enumerate() {
            assert!(matches!(chain.submit(block.clone(), NOW).unwrap(), BlockStatus::Stored(_)), "side block {i}");
            // Block L+1 carries a post: what does its duplicate check look at?
            if [10, 100, 399].contains(&i) {
                let next = block_on_at(block.hash(), i as u64 + 2, block.header.timestamp_ms + 700, vec![post("t", 9)]);
                let mut probe = chain.clone();
                probe.submit_kept(next, NOW).unwrap();
                walks.push(probe.last_duplicate_walk());
            }
        }
        assert_eq!(walks, vec![1, 1, 1], "side blocks looked at for L = 11, 101, 400");
        assert_eq!(chain.side_usage().0, 400);
    }

    #[test]
    fn a_block_from_the_future_is_not_remembered_as_invalid() {
        let params = dev();
        let time = params.genesis_timestamp_ms + 10 * params.max_future_drift_ms;
        let block = block_on_at(dev_chain_id(), 1, time, vec![signed_post(1)]);
        let mut chain = Chain::new(params.clone());
        let early = time - params.max_future_drift_ms - 1;
        assert!(matches!(chain.submit(block.clone(), early), Err(BlockError::TimestampTooFarAhead { .. })));
        assert!(!chain.is_known_invalid(&block.hash()));
        // Once the clock caught up it is valid.
        assert!(matches!(chain.submit(block, time), Ok(BlockStatus::Stored(_))));
    }

    #[test]
    fn a_good_header_with_a_bad_body_does_not_condemn_the_block() {
        let block = block_on(dev_chain_id(), 1, vec![signed_post(1), signed_post(2)]);
        let mut chain = Chain::new(dev());
        let mut swapped = block.clone();
        swapped.posts.swap(0, 1);
        let mut forged = block.clone();
        forged.posts[1] = forged_post(2);
        let mut bloated = block.clone();
        bloated.posts.extend((0..dev().max_block_posts as u64).map(|n| post("x", n)));
        for body in [swapped, forged, bloated] {
            assert_eq!(body.hash(), block.hash());
            assert!(chain.submit(body, NOW).is_err());
            assert!(!chain.is_known_invalid(&block.hash()));
        }
        assert!(matches!(chain.submit(block, NOW), Ok(BlockStatus::Stored(_))));
    }

    #[test]
    fn orphans_of_an_invalid_block_are_dropped_and_remembered() {
        let mut posts = vec![signed_post(1)];
        posts.push(forged_post(2));
        let bad = block_on(dev_chain_id(), 1, posts);
        let child = block_on(bad.hash(), 2, vec![post("c", 3)]);
        let grandchild = block_on(child.hash(), 3, vec![post("c", 4)]);
        let mut chain = Chain::new(dev());
        for orphan in [&grandchild, &child] {
            assert!(matches!(chain.submit(orphan.clone(), NOW), Ok(BlockStatus::Orphan { .. })));
        }
        assert!(matches!(chain.submit(bad.clone(), NOW), Err(BlockError::InvalidPost { index: 1, .. })));
        assert_eq!(chain.orphan_count(), 0);
        for block in [&bad, &child, &grandchild] {
            assert!(chain.is_known_invalid(&block.hash()));
        }
        assert_eq!(chain.submit(child.clone(), NOW), Err(BlockError::KnownInvalid(child.hash())));

        // An orphan that breaks a rule against its parent once it arrives:
        // rejected, remembered with its own orphans.
        let parent = block_on(dev_chain_id(), 1, vec![post("p", 5)]);
        let wrong_height = block_on(parent.hash(), 5, vec![post("w", 6)]);
        let on_it = block_on(wrong_height.hash(), 6, vec![post("w", 7)]);
        for orphan in [&wrong_height, &on_it] {
            chain.submit(orphan.clone(), NOW).unwrap();
        }
        let BlockStatus::Stored(stored) = chain.submit(parent, NOW).unwrap() else { panic!("stored") };
        assert_eq!(stored.rejected_orphans, vec![(wrong_height.hash(), BlockError::BadHeight { expected: 2, got: 5 })]);
        assert!(chain.is_known_invalid(&wrong_height.hash()) && chain.is_known_invalid(&on_it.hash()));
        assert_eq!(chain.orphan_count(), 0);
    }
}
