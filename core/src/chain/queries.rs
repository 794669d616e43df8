//! What peers ask the tree for during sync: locators, pages of best-chain
//! blocks after a locator, and header chains' starting points.

use super::{BlockEntry, Chain, MAX_LOCATOR_LEN};
use crate::block::Block;
use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::headers::HeaderTip;
use std::collections::VecDeque;
use std::sync::Arc;

impl Chain {
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
    /// first, at most `max_bytes` of block encodings. What a `GetBlocks` is
    /// answered with; their bodies may not all be in memory (see
    /// [`Chain::set_body_limit`]).
    pub fn page_after(&self, locator: &[BlockHash], limit: usize, max_bytes: usize) -> Vec<&BlockEntry> {
        let fork_height = self.fork_height(locator);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for &index in self.best.iter().skip(fork_height as usize + 1).take(limit) {
            let entry = &self.entries[index];
            bytes += entry.size;
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(entry);
        }
        out
    }

    /// The bodies of [`Chain::page_after`]'s blocks, up to the first whose
    /// body is not in memory.
    pub fn blocks_after(&self, locator: &[BlockHash], limit: usize, max_bytes: usize) -> Vec<Arc<Block>> {
        self.page_after(locator, limit, max_bytes).into_iter().map_while(|entry| entry.block().cloned()).collect()
    }

    /// Best-chain blocks with posts below `height`, newest first: empty
    /// blocks are skipped at no cost (each entry knows its nearest ancestor
    /// with posts). Their bodies may not all be in memory.
    pub fn best_blocks_with_posts_below(&self, height: u64) -> impl Iterator<Item = &BlockEntry> + '_ {
        let top = height.min(self.height() + 1).checked_sub(1);
        let start = top.and_then(|h| self.best.get(h as usize)).and_then(|&i| self.entries[i].with_posts);
        std::iter::successors(start, |&i| self.entries[i].parent.and_then(|p| self.entries[p].with_posts))
            .map(|i| &self.entries[i])
    }

    /// The height of the first locator hash on our best chain (0, genesis,
    /// if none is).
    fn fork_height(&self, locator: &[BlockHash]) -> u64 {
        locator
            .iter()
            .filter_map(|h| self.by_hash.get(h))
            .find(|&&i| self.on_best(i))
            .map_or(0, |&i| self.entries[i].height())
    }

    /// Best-chain headers after the first locator hash on our best chain
    /// (genesis if none is), lowest first, at most `limit`: the answer to
    /// `GetHeaders`.
    pub fn headers_after(&self, locator: &[BlockHash], limit: usize) -> Vec<BlockHeader> {
        let from = self.fork_height(locator) as usize + 1;
        self.best.iter().skip(from).take(limit).map(|&i| self.entries[i].header).collect()
    }

    /// The block `hash` as the start of a header chain: what a header
    /// building on it must satisfy ([`HeaderTip::extend`]).
    pub fn header_tip(&self, hash: &BlockHash) -> Option<HeaderTip> {
        let &index = self.by_hash.get(hash)?;
        let entry = &self.entries[index];
        let mut recent_times_ms = VecDeque::with_capacity(self.params.median_time_span);
        let mut at = Some(index);
        while let Some(i) = at {
            if recent_times_ms.len() == self.params.median_time_span {
                break;
            }
            recent_times_ms.push_front(self.entries[i].timestamp_ms());
            at = self.entries[i].parent;
        }
        Some(HeaderTip {
            hash: entry.hash,
            height: entry.height(),
            target: entry.target,
            timestamp_ms: entry.timestamp_ms(),
            parent_timestamp_ms: entry.parent.map(|p| self.entries[p].timestamp_ms()),
            recent_times_ms,
            chain_work: entry.chain_work,
        })
    }
}
