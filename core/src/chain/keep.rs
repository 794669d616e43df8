//! Which blocks are kept (headers first): a valid block is stored only if it
//! extends the best tip, would rank above it, or is on a header chain a sync
//! checked to outrank ours (wanted). The rest is [`super::BlockStatus::LessWork`].

use super::{Chain, MAX_WANTED, TipRank};
use crate::hash::BlockHash;
use crate::target::Work;

impl Chain {
    /// Marks blocks of a header chain a sync has checked to have more work
    /// than the best chain: they are kept when they arrive, whatever their
    /// own rank, and their side branch is not pruned while wanted. At most
    /// [`MAX_WANTED`]; returns how many were taken.
    pub fn want(&mut self, hashes: impl IntoIterator<Item = BlockHash>) -> usize {
        let room = MAX_WANTED.saturating_sub(self.wanted.len());
        let before = self.wanted.len();
        self.wanted.extend(hashes.into_iter().take(room));
        self.wanted.len() - before
    }

    /// Hashes a sync marked wanted (at most [`MAX_WANTED`]).
    pub fn wanted_count(&self) -> usize {
        self.wanted.len()
    }

    /// Prunes side branches that fell behind or are over the side budget
    /// (after a batch of [`Chain::submit_kept`]); returns the hashes removed.
    pub fn prune(&mut self) -> Vec<BlockHash> {
        self.prune_side()
    }

    /// Forgets every wanted hash, and the post ids loaded back for the
    /// sync's checks ([`Chain::release_loaded`]): the sync ended.
    pub fn clear_wanted(&mut self) {
        self.wanted.clear();
        self.release_loaded();
    }

    /// Whether a block is kept when it arrives with `parent` and target work
    /// `work`, while `tip` is the best tip (or the tip a submission is moving
    /// to while it connects orphans): it extends that tip, ranks above it, or
    /// is wanted. `Err((its chain work, the tip's work))` when not.
    pub(super) fn worth_keeping(
        &self,
        parent: usize,
        hash: &BlockHash,
        work: Work,
        tip: usize,
    ) -> Result<(), (Work, Work)> {
        if parent == tip || self.wanted.contains(hash) {
            return Ok(());
        }
        let rank = TipRank { chain_work: self.entries[parent].chain_work.saturating_add(work), hash: *hash };
        let tip = &self.entries[tip];
        if rank > tip.tip_rank() {
            return Ok(());
        }
        Err((rank.chain_work, tip.chain_work))
    }
}
