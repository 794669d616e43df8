//! Which bodies and post ids stay in memory. Without a body limit, all of
//! them (the native node: its REST API serves the whole chain from memory).
//! With one ([`Chain::set_body_limit`], a browser tab: wasm32 memory ends at
//! 4 GiB, and full blocks come to about 2 GB a day), only:
//!
//! - the bodies of the last `n` best-chain blocks (fewer when all bodies in
//!   memory would pass a byte budget), of side blocks (bounded by the side
//!   budget) and of genesis;
//! - the post ids of those blocks and of the best-chain blocks in the post
//!   window (the duplicate index), which is all a new block on the best
//!   chain is checked against.
//!
//! Every block keeps its header and what the tree derives from it. Older
//! bodies are the host's to keep (it stores every block anyway) and to read
//! back when needed: to serve them to peers (`Output::ServeBlocks` in the
//! driver), and, rarely, to load the post ids a duplicate check of a fork
//! older than the post window needs ([`Chain::txids_missing_for`],
//! [`Chain::load_txids`]). A reorganisation deeper than the bodies kept takes
//! no posts of the blocks it disconnects back into the mempool, and the
//! disconnected blocks whose post ids are gone leave the tree
//! ([`Chain::drop_unchecked`]).

use super::{BlockEntry, Chain};
use crate::block::Block;
use crate::hash::BlockHash;
use crate::merkle::merkle_root;
use serde::Serialize;
use std::collections::HashSet;

/// Which best-chain bodies stay in memory: those of the last `blocks`
/// blocks, and fewer while all bodies in memory (side blocks' too) come to
/// more than `bytes` of encodings. The tip's body always stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BodyLimit {
    /// How many of the best chain's last blocks, the tip included.
    pub blocks: u64,
    /// Most bytes of block encodings in memory, all branches together.
    pub bytes: usize,
}

impl BodyLimit {
    /// The last `blocks` blocks' bodies, whatever their size.
    pub fn blocks(blocks: u64) -> BodyLimit {
        BodyLimit { blocks, bytes: usize::MAX }
    }
}

impl Chain {
    /// Keeps only the bodies `limit` allows from the next
    /// [`Chain::trim_bodies`] on; `None` keeps every body (the default).
    /// Bodies already dropped do not come back.
    pub fn set_body_limit(&mut self, limit: Option<BodyLimit>) {
        self.body_limit = limit;
    }

    /// The body limit (see [`Chain::set_body_limit`]).
    pub fn body_limit(&self) -> Option<BodyLimit> {
        self.body_limit
    }

    /// Blocks whose body is in memory (all branches, genesis included), and
    /// those bodies' encoded bytes.
    pub fn body_usage(&self) -> (usize, usize) {
        (self.bodies, self.body_bytes)
    }

    /// Drops the bodies the limit does not allow, oldest first (and their
    /// post ids, outside the post window). Separate from submitting, so a
    /// caller reports the blocks a call stored (with their bytes) before it
    /// trims; costs one step per block trimmed.
    pub fn trim_bodies(&mut self) {
        let Some(limit) = self.body_limit else { return };
        let keep_from = (self.height() + 1).saturating_sub(limit.blocks);
        while self.bodies_from < self.height() && (self.bodies_from < keep_from || self.body_bytes > limit.bytes) {
            let index = self.best[self.bodies_from as usize];
            let entry = &mut self.entries[index];
            if entry.body.take().is_some() {
                self.bodies -= 1;
                self.body_bytes -= entry.size;
            }
            self.maybe_drop_txids(index);
            self.bodies_from += 1;
        }
    }

    /// Drops a best-chain block's post ids when nothing needs them in
    /// memory: a body limit is set, its body is gone, it is below the post
    /// window's index, and they were not loaded back for a check.
    pub(super) fn maybe_drop_txids(&mut self, index: usize) {
        let entry = &self.entries[index];
        let unneeded = self.body_limit.is_some()
            && entry.body.is_none()
            && !entry.loaded
            && entry.post_count > 0
            && entry.height() < self.indexed_from
            && self.on_best(index);
        if unneeded {
            self.entries[index].txids = None;
        }
    }

    /// After a reorganisation: the disconnected blocks (`old_best`, lowest
    /// first) from the first one whose post ids are no longer in memory up,
    /// and the side blocks built on those, leave the tree. No duplicate
    /// check could walk them and no reorganisation could connect them again
    /// without their post ids; their branch has less work now, and they are
    /// reported for hosts to delete (a peer can send them again). Nothing is
    /// removed without a body limit.
    pub(super) fn drop_unchecked(&mut self, old_best: &[usize]) -> Vec<BlockHash> {
        let Some(cut) = old_best.iter().position(|&i| self.entries[i].lacks_txids()) else { return Vec::new() };
        let mut doomed: HashSet<usize> = old_best[cut..].iter().copied().collect();
        let mut doomed_side = Vec::new();
        for &(_, leaf) in &self.side_leaves {
            let mut path = Vec::new();
            let mut at = leaf;
            loop {
                if doomed.contains(&at) {
                    doomed_side.extend_from_slice(&path);
                    doomed.extend(path);
                    break;
                }
                if self.on_best(at) {
                    break;
                }
                path.push(at);
                match self.entries[at].parent {
                    Some(parent) => at = parent,
                    None => break,
                }
            }
        }
        for &index in &doomed_side {
            let entry = &self.entries[index];
            self.side_leaves.remove(&(entry.tip_rank(), index));
            self.side_count -= 1;
            self.side_bytes -= entry.size;
        }
        // Children before their parents: higher first.
        let mut order: Vec<usize> = doomed.into_iter().collect();
        order.sort_by_key(|&i| std::cmp::Reverse(self.entries[i].height()));
        order.into_iter().map(|index| self.free_entry(index)).collect()
    }

    /// The best-chain blocks whose post ids a duplicate check of a block
    /// stamped `block_ms` on `parent` needs but memory no longer holds (a
    /// fork older than the post window; see [`Chain::load_txids`]), highest
    /// first. Empty when the check can run.
    pub fn txids_missing_for(&self, parent: &BlockHash, block_ms: u64) -> Vec<BlockHash> {
        let Some(&parent) = self.by_hash.get(parent) else { return Vec::new() };
        let cutoff = self.duplicate_cutoff(block_ms);
        let Some(fork_height) = self.side_fork(parent, cutoff) else { return Vec::new() };
        self.below_index(fork_height, cutoff).filter(|e| e.lacks_txids()).map(|e| e.hash).collect()
    }

    /// Takes back the post ids of a best-chain block that lost them (from
    /// the host's storage, for [`Chain::txids_missing_for`]) until
    /// [`Chain::release_loaded`]. Returns whether they were missing and now
    /// are in memory: a block not in the tree, one that has its ids, or one
    /// whose posts do not match its header's Merkle root changes nothing.
    pub fn load_txids(&mut self, block: &Block) -> bool {
        let Some(&index) = self.by_hash.get(&block.hash()) else { return false };
        if !self.entries[index].lacks_txids() {
            return false;
        }
        let txids = block.txids();
        if merkle_root(&txids) != self.entries[index].header.merkle_root {
            return false;
        }
        let entry = &mut self.entries[index];
        entry.txids = Some(txids);
        entry.loaded = true;
        self.loaded.push(index);
        true
    }

    /// Drops the post ids [`Chain::load_txids`] took back, where nothing
    /// else needs them (see `maybe_drop_txids`).
    pub fn release_loaded(&mut self) {
        for index in std::mem::take(&mut self.loaded) {
            let entry = &mut self.entries[index];
            if entry.loaded {
                entry.loaded = false;
                self.maybe_drop_txids(index);
            }
        }
    }

    /// Best-chain entries a duplicate check for a fork at `fork_height`
    /// walks below the index: from the fork (or the index's bottom) down
    /// while they can hold a post of the window (`max_time_ms >= cutoff`).
    pub(super) fn below_index(&self, fork_height: u64, cutoff: u64) -> impl Iterator<Item = &BlockEntry> + '_ {
        let start = fork_height.min(self.indexed_from.saturating_sub(1));
        // Nothing is below an index that starts at genesis.
        let count = if start < self.indexed_from { start + 1 } else { 0 };
        (0..count).rev().map(|h| &self.entries[self.best[h as usize]]).take_while(move |e| e.max_time_ms >= cutoff)
    }
}
