//! Side branches: blocks off the best chain, kept for a possible reorg but
//! within a budget. A side branch whose tip falls more than
//! [`SIDE_KEEP_DEPTH`] blocks below the best tip is pruned, and all side
//! blocks together stay within the network's `max_side_blocks` and
//! `max_side_bytes`: the lowest-ranked side tip goes first, then its parent
//! if that became a side tip, and so on. Branches a sync wants are spared
//! (they are on a header chain with more work). Only tips are removed, so a
//! kept block's ancestors are always kept.

use super::{Chain, SIDE_KEEP_DEPTH};
use crate::hash::BlockHash;

impl Chain {
    /// A block joined the tree (off the best chain until `set_best` says
    /// otherwise): count it, and its parent is no longer a side tip.
    pub(super) fn side_added(&mut self, index: usize) {
        let parent = self.entries[index].parent;
        if let Some(parent) = parent {
            self.entries[parent].children += 1;
            let rank = self.entries[parent].tip_rank();
            self.side_leaves.remove(&(rank, parent));
        }
        self.joined_side(index);
    }

    /// A block became a side block (new, or disconnected from the best chain).
    pub(super) fn joined_side(&mut self, index: usize) {
        let entry = &self.entries[index];
        self.side_count += 1;
        self.side_bytes += entry.size;
        if entry.children == 0 {
            self.side_leaves.insert((entry.tip_rank(), index));
        }
    }

    /// A side block joined the best chain.
    pub(super) fn left_side(&mut self, index: usize) {
        let entry = &self.entries[index];
        self.side_count -= 1;
        self.side_bytes -= entry.size;
        self.side_leaves.remove(&(entry.tip_rank(), index));
    }

    /// Prunes side tips that fell behind, then the lowest-ranked ones while
    /// over budget; returns the hashes removed.
    pub(super) fn prune_side(&mut self) -> Vec<BlockHash> {
        let mut removed = Vec::new();
        let floor = self.height().saturating_sub(SIDE_KEEP_DEPTH);
        loop {
            let behind = self
                .side_leaves
                .iter()
                .map(|&(_, index)| index)
                .find(|&index| self.entries[index].height() < floor && !self.is_wanted(index));
            let victim = behind.or_else(|| {
                let over =
                    self.side_count > self.params.max_side_blocks || self.side_bytes > self.params.max_side_bytes;
                over.then(|| self.side_leaves.iter().map(|&(_, index)| index).find(|&index| !self.is_wanted(index)))
                    .flatten()
            });
            let Some(index) = victim else { return removed };
            removed.push(self.remove_side_tip(index));
        }
    }

    fn is_wanted(&self, index: usize) -> bool {
        self.wanted.contains(&self.entries[index].hash)
    }

    /// Removes a side tip from the tree; its slot is reused.
    fn remove_side_tip(&mut self, index: usize) -> BlockHash {
        let entry = &self.entries[index];
        let (parent, rank) = (entry.parent, entry.tip_rank());
        self.side_leaves.remove(&(rank, index));
        self.side_count -= 1;
        self.side_bytes -= entry.size;
        let hash = self.free_entry(index);
        if let Some(parent) = parent
            && self.entries[parent].children == 0
            && !self.on_best(parent)
        {
            self.side_leaves.insert((self.entries[parent].tip_rank(), parent));
        }
        hash
    }
}
