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
        let duplicate_in = |entry: &BlockEntry| entry.txids.iter().find(|t| new.contains(t)).copied();
        let mut walked = 0usize;
        // Side blocks with posts, newest first, until the best chain. Blocks
        // skipped on the way have no posts, so the first best-chain block
        // met stands in for the fork point (the best blocks between them are
        // empty too).
        let mut at = self.entries[parent].with_posts;
        let mut fork_height = None;
        while let Some(index) = at {
            let entry = &self.entries[index];
            if self.on_best(index) {
                fork_height = Some(entry.height());
                break;
            }
            walked += 1;
            if entry.max_time_ms < cutoff {
                break;
            }
            if let Some(txid) = duplicate_in(entry) {
                return Err(BlockError::DuplicatePostOnBranch(txid));
            }
            at = entry.parent.and_then(|p| self.entries[p].with_posts);
        }
        self.note_walk(walked);
        let Some(fork_height) = fork_height else { return Ok(()) };
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
            for txid in &entry.txids {
                self.best_txs.remove(txid);
            }
            self.indexed_from += 1;
        }
    }
}
