//! Posts already on a branch: the duplicate rule, which the post window
//! makes cheap. A post in block A is stamped at most `max_future_drift_ms`
//! after A, and a new block's posts at most `post_window_ms` before it, so
//! only blocks whose `max_time_ms` reaches back that far can hold a
//! duplicate; `max_time_ms` never decreases along a branch, so a walk down
//! stops at the first older block. Blocks without posts are skipped (each
//! entry points at its nearest ancestor with posts), so the walk costs the
//! posts of the window, not the branch's length.

use super::{BlockEntry, Chain};
use crate::hash::TxId;
use crate::validate::BlockError;
use std::collections::HashSet;

impl Chain {
    /// Fails if a post in `txids` (of a block stamped `block_ms`) is already
    /// on the branch ending at `parent`. Only blocks that could hold a post
    /// of the new block's window are looked at: a post in block A is stamped
    /// at most `max_future_drift_ms` after A, and the new block's posts at
    /// most `post_window_ms` before it, so blocks whose `max_time_ms` is
    /// below `block_ms - post_window_ms - max_future_drift_ms` (and all
    /// blocks under them) cannot hold one. The side branch is walked; the
    /// best chain's part is looked up in the index, and walked only below
    /// the index (a fork deeper than the index).
    pub(super) fn check_branch_duplicates(
        &self,
        parent: usize,
        block_ms: u64,
        txids: &[TxId],
    ) -> Result<(), BlockError> {
        if txids.is_empty() {
            return Ok(());
        }
        let cutoff = self.duplicate_cutoff(block_ms);
        let new: HashSet<TxId> = txids.iter().copied().collect();
        // Post ids a body limit dropped cannot be checked: the caller loads
        // them back (`txids_missing_for`, `load_txids`) and tries again.
        let duplicate_in = |entry: &BlockEntry| match &entry.txids {
            Some(ids) => {
                ids.iter().find(|t| new.contains(t)).map_or(Ok(()), |t| Err(BlockError::DuplicatePostOnBranch(*t)))
            }
            None if entry.post_count == 0 => Ok(()),
            None => Err(BlockError::PostIdsNotInMemory { height: entry.height() }),
        };
        let mut walked = 0usize;
        let fork_height = self.walk_side(parent, cutoff, |entry| {
            walked += 1;
            duplicate_in(entry)
        });
        self.note_walk(walked);
        let Some(fork_height) = fork_height? else { return Ok(()) };
        if let Some(txid) = txids.iter().find(|t| self.best_txs.get(t).is_some_and(|&h| h <= fork_height)) {
            return Err(BlockError::DuplicatePostOnBranch(*txid));
        }
        self.below_index(fork_height, cutoff).try_for_each(duplicate_in)
    }

    /// Walks the side blocks with posts of the branch ending at `parent`,
    /// newest first, while they can hold a post of the window
    /// (`max_time_ms >= cutoff`), calling `visit` on each. Returns the height where the
    /// branch meets the best chain, or `None` when the walk stopped before
    /// (nothing older matters). Blocks skipped on the way have no posts, so
    /// the first best-chain block met stands in for the fork point (the best
    /// blocks between them are empty too).
    pub(super) fn walk_side<E>(
        &self,
        parent: usize,
        cutoff: u64,
        mut visit: impl FnMut(&BlockEntry) -> Result<(), E>,
    ) -> Result<Option<u64>, E> {
        let mut at = self.entries[parent].with_posts;
        while let Some(index) = at {
            let entry = &self.entries[index];
            if self.on_best(index) {
                return Ok(Some(entry.height()));
            }
            if entry.max_time_ms < cutoff {
                return Ok(None);
            }
            visit(entry)?;
            at = entry.parent.and_then(|p| self.entries[p].with_posts);
        }
        Ok(None)
    }

    /// [`Chain::walk_side`] without a visit: where the branch meets the best
    /// chain, if the window reaches that far.
    pub(super) fn side_fork(&self, parent: usize, cutoff: u64) -> Option<u64> {
        self.walk_side(parent, cutoff, |_| Ok::<(), std::convert::Infallible>(()))
            .unwrap_or_else(|never| match never {})
    }

    /// Side blocks the last duplicate check looked at (for tests: a long
    /// side branch of empty blocks costs nothing to extend).
    #[cfg(any(test, feature = "test-util"))]
    pub fn last_duplicate_walk(&self) -> usize {
        self.duplicate_walk.get()
    }

    #[cfg(any(test, feature = "test-util"))]
    fn note_walk(&self, walked: usize) {
        self.duplicate_walk.set(walked);
    }

    #[cfg(not(any(test, feature = "test-util")))]
    fn note_walk(&self, _walked: usize) {}

    /// Blocks whose `max_time_ms` is below this cannot hold a post that a
    /// block stamped `block_ms` could duplicate.
    pub(super) fn duplicate_cutoff(&self, block_ms: u64) -> u64 {
        block_ms.saturating_sub(self.params.post_window_ms).saturating_sub(self.params.max_future_drift_ms)
    }

    /// Drops from the duplicate index the best-chain blocks that no block on
    /// the tip can duplicate any more (its timestamp must pass the tip's
    /// median time past).
    pub(super) fn prune_index(&mut self) {
        let cutoff = self.duplicate_cutoff(self.median_time_past(self.tip_index()).saturating_add(1));
        while self.indexed_from < self.height() {
            let entry = &self.entries[self.best[self.indexed_from as usize]];
            if entry.max_time_ms >= cutoff {
                break;
            }
            let index = self.best[self.indexed_from as usize];
            for txid in self.entries[index].txids.iter().flatten() {
                self.best_txs.remove(txid);
            }
            self.indexed_from += 1;
            self.maybe_drop_txids(index);
        }
    }
}
