//! Startup: rebuilding a driver from what its host kept ([`Saved`]: the
//! blocks and the pending posts), the same way on every node.

use super::Driver;
use super::output::{Change, Output};
use crate::block::Block;
use crate::chain::{BlockStatus, Chain, TipRank};
use crate::hash::{BlockHash, TxId};
use crate::header::BlockHeader;
use crate::post::Post;
use crate::state::PostRejected;
use crate::target::Work;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// What a host kept of the [`Change`]s it was given, handed back to
/// [`Driver::restore`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Saved {
    /// Every kept block's bytes ([`Change::Block`]), in any order. The best
    /// tip follows from them (the fork choice depends on nothing else).
    pub blocks: Vec<Vec<u8>>,
    /// The kept pending posts, oldest first.
    pub pending: Vec<SavedPost>,
}

/// One kept pending post ([`Change::PendingAdded`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedPost {
    /// [`Post::to_bytes`].
    pub bytes: Vec<u8>,
    /// Whether it is an own post (announced again on every join).
    pub own: bool,
}

/// A kept post that did not go back into the mempool for now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefusedPost {
    /// Its id, when its bytes decode.
    pub tx_id: Option<TxId>,
    /// Why.
    pub reason: String,
}

/// What [`Driver::restore`] made of the kept state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Blocks stored in the tree.
    pub accepted: usize,
    /// Bytes that did not decode as a block, or blocks that failed validation.
    pub rejected: usize,
    /// Blocks already known (genesis, or the same block kept twice).
    pub duplicates: usize,
    /// Blocks whose parent was not among them (kept in the orphan pool).
    pub orphans: usize,
    /// Side blocks pruned (behind the best chain or over the side budget): a
    /// [`Change::BlockRemoved`] for each is among the outputs.
    pub pruned: usize,
    /// Best height afterwards.
    pub height: u64,
    /// Best tip afterwards.
    pub tip: BlockHash,
    /// Kept posts back in the mempool.
    pub pending_restored: usize,
    /// Kept posts a best-chain block already holds: dropped, and a
    /// [`Change::PendingRemoved`] for each is among the outputs.
    pub pending_confirmed: usize,
    /// Kept posts older than the post window: no block may hold them any
    /// more, so they are dropped (a [`Change::PendingRemoved`] each, and an
    /// `postExpired` event for own ones).
    pub pending_expired: usize,
    /// Kept posts refused for another reason (bytes that do not decode, a
    /// clock behind the post's time, a full mempool): no change is asked
    /// for, so a host keeps them and they are tried again next start.
    pub pending_refused: Vec<RefusedPost>,
}

impl Driver {
    /// Rebuilds the chain and the mempool from what the host kept, in one
    /// call: [`Driver::restore_order`], [`Driver::restore_blocks`] and
    /// [`Driver::finish_restore`] on `saved` (every block in memory at once;
    /// a host with a body limit and many blocks calls the three itself, a
    /// batch of blocks at a time). Blocks are decoded and submitted with the
    /// clock `now_ms`, parents first, so no orphan pool limit applies. Needs
    /// no network; the outputs are the [`Change`]s that bring the host's
    /// copy up to date (side blocks pruned, posts that a block already holds
    /// or that expired) and a `postExpired` event for each expired own post.
    pub fn restore(&mut self, saved: Saved, now_ms: u64) -> (RestoreReport, Vec<Output>) {
        let mut report = RestoreReport::default();
        let mut blocks = HashMap::new();
        for bytes in saved.blocks {
            match Block::from_bytes(&bytes) {
                Ok(block) => {
                    if blocks.insert(block.hash(), block).is_some() {
                        report.duplicates += 1;
                    }
                }
                Err(_) => report.rejected += 1,
            }
        }
        let order = self.restore_order(blocks.values().map(|b| b.header));
        let mut out = Vec::new();
        for hash in order {
            if let Some(block) = blocks.remove(&hash) {
                self.restore_block(block, now_ms, &mut report, &mut out);
            }
        }
        out.extend(self.finish_restore(saved.pending, now_ms, &mut report));
        (report, out)
    }

    /// The order in which to hand kept blocks to [`Driver::restore_blocks`],
    /// worked out from their headers alone (a host need not read the bodies
    /// for it): first the chain of the block that will be the best tip (from
    /// the blocks' targets with the fork choice, [`crate::chain::TipRank`]),
    /// then the other branches by height. The order changes nothing in the
    /// result, only its cost: the best tip never moves to a side branch and
    /// back (a reorganisation per height, quadratic for long branches of
    /// equal work), and with a body limit, old bodies leave memory as the
    /// best chain grows. A header given twice is ordered once.
    pub fn restore_order(&self, headers: impl IntoIterator<Item = BlockHeader>) -> Vec<BlockHash> {
        let mut headers: Vec<(BlockHash, BlockHeader)> = headers.into_iter().map(|h| (h.hash(), h)).collect();
        let mut seen = HashSet::new();
        headers.retain(|(hash, _)| seen.insert(*hash));
        let preferred = match expected_tip(self.state.chain(), &headers) {
            Some(tip) => chain_of(&headers, tip),
            None => HashSet::new(),
        };
        headers.sort_by_key(|(hash, header)| (!preferred.contains(hash), header.height, *hash));
        headers.into_iter().map(|(hash, _)| hash).collect()
    }

    /// A batch of kept blocks ([`Change::Block`] bytes), in
    /// [`Driver::restore_order`]'s order: decoded, submitted and dropped one
    /// at a time (with a body limit, old bodies leave memory as it goes),
    /// counted in `report`. The outputs delete blocks a reorganisation
    /// removed from the tree (rare: see [`crate::chain::Chain::set_body_limit`]).
    pub fn restore_blocks(&mut self, blocks: Vec<Vec<u8>>, now_ms: u64, report: &mut RestoreReport) -> Vec<Output> {
        let mut out = Vec::new();
        for bytes in blocks {
            match Block::from_bytes(&bytes) {
                Ok(block) => self.restore_block(block, now_ms, report, &mut out),
                Err(_) => report.rejected += 1,
            }
        }
        out
    }

    fn restore_block(&mut self, block: Block, now_ms: u64, report: &mut RestoreReport, out: &mut Vec<Output>) {
        match self.state.submit_kept_block(block, now_ms) {
            Ok(BlockStatus::Stored(stored)) => {
                report.accepted += stored.hashes.len();
                report.rejected += stored.rejected_orphans.len();
                out.extend(stored.removed.into_iter().map(|hash| Output::Store(Change::BlockRemoved { hash })));
            }
            Ok(BlockStatus::Duplicate) => report.duplicates += 1,
            Ok(BlockStatus::Orphan { .. }) => report.orphans += 1,
            Ok(BlockStatus::LessWork { .. }) | Err(_) => report.rejected += 1,
        }
        self.state.trim_bodies();
    }

    /// The end of a restore: side branches are pruned, then the kept posts
    /// go back into the mempool. Fills in the rest of `report`; the outputs
    /// are the [`Change`]s that bring the host's copy up to date (pruned
    /// blocks, posts that a block already holds or that expired) and a
    /// `postExpired` event for each expired own post.
    pub fn finish_restore(&mut self, pending: Vec<SavedPost>, now_ms: u64, report: &mut RestoreReport) -> Vec<Output> {
        let mut out = Vec::new();
        let removed = self.state.prune();
        report.pruned += removed.len();
        out.extend(removed.into_iter().map(|hash| Output::Store(Change::BlockRemoved { hash })));
        for saved_post in pending {
            let post = match Post::from_bytes(&saved_post.bytes) {
                Ok(post) => post,
                Err(e) => {
                    report.pending_refused.push(RefusedPost { tx_id: None, reason: format!("does not decode: {e}") });
                    continue;
                }
            };
            let tx_id = post.txid();
            match self.state.submit_post(post, now_ms) {
                Ok(_) => {
                    report.pending_restored += 1;
                    if saved_post.own {
                        self.own.insert(tx_id);
                        self.state.pin_post(tx_id);
                    }
                }
                Err(PostRejected::AlreadyConfirmed { .. }) => {
                    report.pending_confirmed += 1;
                    out.push(Output::Store(Change::PendingRemoved { tx_id, own: saved_post.own }));
                }
                Err(PostRejected::TooOld { .. }) => {
                    report.pending_expired += 1;
                    out.push(Output::Store(Change::PendingRemoved { tx_id, own: saved_post.own }));
                    if saved_post.own {
                        out.push(Output::Event(super::Event::PostExpired { tx_id }));
                    }
                }
                Err(e) => report.pending_refused.push(RefusedPost { tx_id: Some(tx_id), reason: e.to_string() }),
            }
        }
        // What was restored is kept already: nothing more to store.
        self.state.take_mempool_changes();
        self.state.trim_bodies();
        report.height = self.height();
        report.tip = self.tip();
        out
    }
}

/// The block among `headers` that is the best tip once they are all stored,
/// if they are valid: the greatest [`TipRank`], with the work their targets
/// prove on top of the work of their ancestors already in `chain`. A block
/// whose ancestry is not there, or whose target does not decode, does not
/// count.
fn expected_tip(chain: &Chain, headers: &[(BlockHash, BlockHeader)]) -> Option<BlockHash> {
    let mut by_height: Vec<&(BlockHash, BlockHeader)> = headers.iter().collect();
    by_height.sort_by_key(|(_, header)| header.height);
    let mut work: HashMap<BlockHash, Work> = HashMap::new();
    let mut best: Option<TipRank> = None;
    for (hash, header) in by_height {
        let parent = &header.prev_hash;
        let Some(parent_work) = work.get(parent).copied().or_else(|| chain.get(parent).map(|e| e.chain_work)) else {
            continue;
        };
        let Ok(target) = header.bits.to_target() else { continue };
        let rank = TipRank { chain_work: parent_work.saturating_add(target.work()), hash: *hash };
        work.insert(*hash, rank.chain_work);
        best = best.max(Some(rank));
    }
    best.map(|rank| rank.hash)
}

/// The hashes of `tip` and its ancestors among `headers` (at most every
/// block: the walk stops at the first parent not among them).
fn chain_of(headers: &[(BlockHash, BlockHeader)], tip: BlockHash) -> HashSet<BlockHash> {
    let parents: HashMap<BlockHash, BlockHash> =
        headers.iter().map(|(hash, header)| (*hash, header.prev_hash)).collect();
    let mut chain = HashSet::new();
    let mut next = tip;
    while let Some(&parent) = parents.get(&next) {
        if !chain.insert(next) {
            break;
        }
        next = parent;
    }
    chain
}
