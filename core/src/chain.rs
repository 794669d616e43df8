//! The block tree: every valid block, the best chain by cumulative work, the
//! orphan pool, and the sync queries (locator, blocks after a locator).
//!
//! The best tip is the block with the most cumulative work; among tips of
//! equal work, the one whose hash is the lower 256-bit big-endian number (see
//! [`TipRank`]). The rule depends only on the blocks, not on the order they
//! arrived in, so nodes holding the same blocks agree on the tip. Switching
//! tips returns a [`TipChange`] listing the blocks disconnected from the old
//! best chain and connected from the new one.

use crate::block::Block;
use crate::hash::{BlockHash, TxId};
use crate::orphans::OrphanPool;
use crate::params::Params;
use crate::retarget::next_target;
use crate::target::{CompactTarget, Target, Work};
use crate::validate::{BlockError, ParentContext, check_block, check_contextual, median_time};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Most hashes a locator built here holds; a chain of 2^50 blocks needs ~60.
pub const MAX_LOCATOR_LEN: usize = 64;

/// Byte budget (block encodings) for one sync page. JSON takes at most about
/// four times the encoding (for blocks of tiny posts; text itself at most
/// doubles), so a page stays under [`crate::wire::MAX_MESSAGE_BYTES`].
pub const SYNC_PAGE_BYTES: usize = 400 * 1024;

/// A block in the tree with what the tree derives from it.
#[derive(Clone, Debug)]
pub struct BlockEntry {
    /// The block (shared: templates and sync pages hand it out without copying).
    pub block: Arc<Block>,
    /// Its header hash.
    pub hash: BlockHash,
    /// Ids of its posts, in order.
    pub txids: Vec<TxId>,
    /// Its target, decoded.
    pub target: Target,
    /// Work of the chain from genesis up to and including this block.
    pub chain_work: Work,
    /// Latest block timestamp from genesis up to and including this block.
    /// It never decreases along a branch, so once a walk down a branch meets
    /// a block with a small enough `max_time_ms`, every block below is older
    /// still: how duplicate checks stop at the post window.
    pub max_time_ms: u64,
    parent: Option<usize>,
}

impl BlockEntry {
    /// Height of the block.
    pub fn height(&self) -> u64 {
        self.block.header.height
    }

    /// Block time, Unix milliseconds.
    pub fn timestamp_ms(&self) -> u64 {
        self.block.header.timestamp_ms
    }

    /// Where the block stands in the fork choice (see [`TipRank`]).
    pub fn tip_rank(&self) -> TipRank {
        TipRank { chain_work: self.chain_work, hash: self.hash }
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
    pub disconnected: Vec<Arc<Block>>,
    /// Blocks that joined it, lowest first (the last one is the new tip).
    pub connected: Vec<Arc<Block>>,
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
}

/// Every valid block of one network, and which branch is best.
#[derive(Clone, Debug)]
pub struct Chain {
    params: Params,
    entries: Vec<BlockEntry>,
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
        let entry = BlockEntry {
            block: Arc::new(genesis),
            hash,
            txids,
            chain_work: target.work(),
            target,
            max_time_ms,
            parent: None,
        };
        Self {
            params,
            entries: vec![entry],
            by_hash: HashMap::from([(hash, 0)]),
            best: vec![0],
            best_txs,
            indexed_from: 0,
            orphans,
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
        self.entries.len()
    }

    /// Blocks waiting for their parent.
    pub fn orphan_count(&self) -> usize {
        self.orphans.len()
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

    /// Validates `block` and adds it: to the tree if its parent is known (then
    /// connects orphans waiting for it and moves the best tip if one of them
    /// ranks higher, see [`TipRank`]), else to the orphan pool. `now_ms` is
    /// the caller's clock.
    pub fn submit(&mut self, block: Block, now_ms: u64) -> Result<BlockStatus, BlockError> {
        let hash = block.hash();
        if self.contains(&hash) {
            return Ok(BlockStatus::Duplicate);
        }
        let txids = check_block(&self.params, &block)?;
        let Some(&parent) = self.by_hash.get(&block.header.prev_hash) else {
            let missing_parent = block.header.prev_hash;
            self.orphans.insert(hash, block);
            return Ok(BlockStatus::Orphan { missing_parent });
        };
        let old_tip = self.tip_index();
        let first = self.connect(parent, hash, block, txids, now_ms)?;
        let mut stored = Stored { hashes: vec![hash], rejected_orphans: Vec::new(), tip_change: None };
        let mut candidate = old_tip;
        if self.is_better_tip(first, candidate) {
            candidate = first;
        }
        let mut queue = vec![(hash, first)];
        while let Some((parent_hash, parent_index)) = queue.pop() {
            for (child_hash, child) in self.orphans.take_children(&parent_hash) {
                // Orphans passed check_block on arrival; only their ids are recomputed.
                let txids = child.txids();
                match self.connect(parent_index, child_hash, child, txids, now_ms) {
                    Ok(index) => {
                        stored.hashes.push(child_hash);
                        if self.is_better_tip(index, candidate) {
                            candidate = index;
                        }
                        queue.push((child_hash, index));
                    }
                    Err(e) => stored.rejected_orphans.push((child_hash, e)),
                }
            }
        }
        if candidate != old_tip {
            stored.tip_change = Some(self.set_best(candidate));
        }
        Ok(BlockStatus::Stored(stored))
    }

    /// Whether entry `a` is a better tip than entry `b` (see [`TipRank`]).
    fn is_better_tip(&self, a: usize, b: usize) -> bool {
        self.entries[a].tip_rank() > self.entries[b].tip_rank()
    }

    /// Contextual checks, then stores the block under `parent`.
    fn connect(
        &mut self,
        parent: usize,
        hash: BlockHash,
        block: Block,
        txids: Vec<TxId>,
        now_ms: u64,
    ) -> Result<usize, BlockError> {
        check_contextual(&self.params, &block, &self.parent_context(parent), now_ms)?;
        self.check_branch_duplicates(parent, block.header.timestamp_ms, &txids)?;
        let target = block.header.bits.to_target()?;
        let entry = BlockEntry {
            chain_work: self.entries[parent].chain_work.saturating_add(target.work()),
            max_time_ms: self.entries[parent].max_time_ms.max(block.header.timestamp_ms),
            block: Arc::new(block),
            hash,
            txids,
            target,
            parent: Some(parent),
        };
        let index = self.entries.len();
        self.entries.push(entry);
        self.by_hash.insert(hash, index);
        Ok(index)
    }

    /// Fails if a post in `txids` (of a block stamped `block_ms`) is already
    /// on the branch ending at `parent`. Only blocks that could hold a post
    /// of the new block's window are looked at: a post in block A is stamped
    /// at most `max_future_drift_ms` after A, and the new block's posts at
    /// most `post_window_ms` before it, so blocks whose `max_time_ms` is
    /// below `block_ms - post_window_ms - max_future_drift_ms` (and all
    /// blocks under them) cannot hold one. The side branch is walked; the
    /// best chain's part is looked up in the index, and walked only below
    /// the index (a fork deeper than the index).
    fn check_branch_duplicates(&self, parent: usize, block_ms: u64, txids: &[TxId]) -> Result<(), BlockError> {
        if txids.is_empty() {
            return Ok(());
        }
        let cutoff = self.duplicate_cutoff(block_ms);
        let new: HashSet<TxId> = txids.iter().copied().collect();
        let duplicate_in = |entry: &BlockEntry| entry.txids.iter().find(|t| new.contains(t)).copied();
        let mut index = parent;
        while !self.on_best(index) {
            let entry = &self.entries[index];
            if entry.max_time_ms < cutoff {
                return Ok(());
            }
            if let Some(txid) = duplicate_in(entry) {
                return Err(BlockError::DuplicatePostOnBranch(txid));
            }
            // Genesis is always on the best chain, so every side block has a parent.
            index = entry.parent.unwrap_or(0);
        }
        let fork_height = self.entries[index].height();
        if let Some(txid) = txids.iter().find(|t| self.best_txs.get(t).is_some_and(|&h| h <= fork_height)) {
            return Err(BlockError::DuplicatePostOnBranch(*txid));
        }
        let mut height = fork_height.min(self.indexed_from.saturating_sub(1));
        while height < self.indexed_from {
            let entry = &self.entries[self.best[height as usize]];
            if entry.max_time_ms < cutoff {
                break;
            }
            if let Some(txid) = duplicate_in(entry) {
                return Err(BlockError::DuplicatePostOnBranch(txid));
            }
            match height.checked_sub(1) {
                Some(below) => height = below,
                None => break,
            }
        }
        Ok(())
    }

    /// Blocks whose `max_time_ms` is below this cannot hold a post that a
    /// block stamped `block_ms` could duplicate.
    fn duplicate_cutoff(&self, block_ms: u64) -> u64 {
        block_ms.saturating_sub(self.params.post_window_ms).saturating_sub(self.params.max_future_drift_ms)
    }

    /// Drops from the duplicate index the best-chain blocks that no block on
    /// the tip can duplicate any more (its timestamp must pass the tip's
    /// median time past).
    fn prune_index(&mut self) {
        let cutoff = self.duplicate_cutoff(self.median_time_past(self.tip_index()).saturating_add(1));
        while self.indexed_from < self.height() {
            let entry = &self.entries[self.best[self.indexed_from as usize]];
            if entry.max_time_ms >= cutoff {
                break;
            }
            for txid in &entry.txids {
                self.best_txs.remove(txid);
            }
            self.indexed_from += 1;
        }
    }

    /// Makes `new_tip` the best tip and reports the move.
    fn set_best(&mut self, new_tip: usize) -> TipChange {
        let mut branch = Vec::new();
        let mut index = new_tip;
        while !self.on_best(index) {
            branch.push(index);
            index = self.entries[index].parent.unwrap_or(0);
        }
        let fork_height = self.entries[index].height();
        let keep = fork_height as usize + 1;
        let mut disconnected = Vec::with_capacity(self.best.len() - keep);
        for &old in self.best[keep..].iter().rev() {
            let entry = &self.entries[old];
            for txid in &entry.txids {
                self.best_txs.remove(txid);
            }
            disconnected.push(entry.block.clone());
        }
        self.best.truncate(keep);
        // A fork below the index: the new blocks are indexed from the fork up.
        self.indexed_from = self.indexed_from.min(keep as u64);
        let mut connected = Vec::with_capacity(branch.len());
        for &new in branch.iter().rev() {
            let entry = &self.entries[new];
            for txid in &entry.txids {
                self.best_txs.insert(*txid, entry.height());
            }
            connected.push(entry.block.clone());
            self.best.push(new);
        }
        self.prune_index();
        TipChange { fork_height, disconnected, connected }
    }

    /// Hashes describing the best chain to a peer: the tip, the 9 blocks below
    /// it, then exponentially spaced back, always ending with genesis.
    pub fn locator(&self) -> Vec<BlockHash> {
        self.locator_at(self.tip_index())
    }

    /// A locator that starts at `hash` instead of the best tip. A node syncing
    /// a branch that does not yet have more work than its own asks for the next
    /// page with the locator of the last block it received, or it would be sent
    /// the same page again.
    pub fn locator_from(&self, hash: &BlockHash) -> Option<Vec<BlockHash>> {
        self.by_hash.get(hash).map(|&i| self.locator_at(i))
    }

    fn locator_at(&self, start: usize) -> Vec<BlockHash> {
        let mut hashes = Vec::new();
        let mut index = start;
        let mut step = 1u64;
        loop {
            let entry = &self.entries[index];
            hashes.push(entry.hash);
            if entry.height() == 0 {
                break;
            }
            if hashes.len() == MAX_LOCATOR_LEN - 1 {
                hashes.push(self.genesis().hash);
                break;
            }
            if hashes.len() >= 10 {
                step = step.saturating_mul(2);
            }
            index = self.ancestor(index, entry.height().saturating_sub(step));
        }
        hashes
    }

    /// The ancestor of `index` at `height` (at most its own height): parent
    /// links until the branch meets the best chain, then a direct lookup.
    fn ancestor(&self, mut index: usize, height: u64) -> usize {
        while self.entries[index].height() > height && !self.on_best(index) {
            index = self.entries[index].parent.unwrap_or(0);
        }
        if self.on_best(index) { self.best[height as usize] } else { index }
    }

    /// Best-chain blocks after the first locator hash that is on our best chain
    /// (genesis if none is), lowest first: at most `limit` blocks and, past the
    /// first, at most `max_bytes` of block encodings.
    pub fn blocks_after(&self, locator: &[BlockHash], limit: usize, max_bytes: usize) -> Vec<Arc<Block>> {
        let fork_height = locator
            .iter()
            .filter_map(|h| self.by_hash.get(h))
            .find(|&&i| self.on_best(i))
            .map_or(0, |&i| self.entries[i].height());
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for &index in self.best.iter().skip(fork_height as usize + 1).take(limit) {
            let block = &self.entries[index].block;
            bytes += block.encoded_len();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(block.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{NOW, block_on, dev, dev_chain_id, post, work};
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
        let BlockStatus::Stored(stored) = chain.submit(high.clone(), NOW).unwrap() else { panic!("stored") };
        assert_eq!(stored.tip_change, None, "a higher hash of equal work does not move the tip");
        assert_eq!(chain.tip().hash, low.hash());

        let mut chain = Chain::new(dev());
        chain.submit(high.clone(), NOW).unwrap();
        let BlockStatus::Stored(stored) = chain.submit(low.clone(), NOW).unwrap() else { panic!("stored") };
        let change = stored.tip_change.expect("a lower hash of equal work moves the tip");
        assert!(change.is_reorg());
        assert_eq!(change.fork_height, 0);
        assert_eq!(change.disconnected, vec![Arc::new(high.clone())]);
        assert_eq!(change.connected, vec![Arc::new(low.clone())]);
        assert_eq!(chain.tip().hash, low.hash());
        assert_eq!(chain.tip().chain_work, chain.get(&high.hash()).unwrap().chain_work);
    }

    #[test]
    fn equal_work_among_connected_orphans_goes_to_the_lower_hash() {
        let (low, high) = siblings();
        // Children of each sibling, arriving before their parents.
        let on_low = block_on(low.hash(), 2, vec![post("c", 3)]);
        let on_high = block_on(high.hash(), 2, vec![post("d", 4)]);
        let want = on_low.hash().min(on_high.hash());
        for order in [[&on_low, &on_high, &low, &high], [&on_high, &on_low, &high, &low]] {
            let mut chain = Chain::new(dev());
            for block in order {
                chain.submit(block.clone(), NOW).unwrap();
            }
            assert_eq!(chain.tip().hash, want);
        }
        // Two children of one parent connected by the same submission.
        let twin = block_on(low.hash(), 2, vec![post("e", 5)]);
        let want = on_low.hash().min(twin.hash());
        for pair in [[&on_low, &twin], [&twin, &on_low]] {
            let mut chain = Chain::new(dev());
            for block in pair {
                assert!(matches!(chain.submit(block.clone(), NOW).unwrap(), BlockStatus::Orphan { .. }));
            }
            let BlockStatus::Stored(stored) = chain.submit(low.clone(), NOW).unwrap() else { panic!("stored") };
            assert_eq!(stored.hashes.len(), 3);
            assert_eq!(chain.tip().hash, want);
        }
    }
}
