//! Block validity rules, one [`BlockError`] variant per rule.
//!
//! [`check_block`] needs nothing but the block and the network parameters and
//! runs cheapest first (sizes, target, proof of work, Merkle root, post
//! fields, then signatures) so junk costs little; [`check_contextual`] checks
//! the block against its parent's branch and is cheap too, so the chain runs
//! it before the signatures ([`check_block_structure`], then
//! [`check_contextual`], then [`check_signatures`]). The post checks come
//! after the Merkle root on purpose: only then are the posts the ones the
//! header hash commits to ([`BlockError::is_intrinsic`]).

use crate::block::Block;
use crate::hash::{BlockHash, MerkleRoot, TxId};
use crate::header::HEADER_VERSION;
use crate::params::Params;
use crate::post::PostError;
use crate::stamp::check_stamp;
use crate::target::{CompactTarget, Target, TargetError};
use std::collections::HashSet;

/// Why a block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header version is not one this code knows.
    #[error("unsupported block version {0}")]
    BadVersion(u32),
    /// The encoded block is larger than the network allows.
    #[error("block is {bytes} bytes, at most {max} allowed")]
    TooLarge {
        /// Encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The block has more posts than the network allows.
    #[error("block has {count} posts, at most {max} allowed")]
    TooManyPosts {
        /// Posts in the block.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The compact target does not decode.
    #[error("bad target: {0}")]
    BadTarget(#[from] TargetError),
    /// The target is easier than the network's easiest.
    #[error("target {bits} is easier than the easiest allowed {easiest}")]
    TargetTooEasy {
        /// The block's target.
        bits: CompactTarget,
        /// The network's easiest target.
        easiest: CompactTarget,
    },
    /// The hash does not meet the block's own target.
    #[error("block hash {hash} does not meet its target {bits}")]
    InsufficientProofOfWork {
        /// The header hash.
        hash: BlockHash,
        /// The declared target.
        bits: CompactTarget,
    },
    /// The header's Merkle root is not the root of the posts.
    #[error("merkle root {header} does not match the posts' root {computed}")]
    MerkleRootMismatch {
        /// Root in the header.
        header: MerkleRoot,
        /// Root computed from the posts.
        computed: MerkleRoot,
    },
    /// A post breaks the post rules.
    #[error("post {index} is invalid: {error}")]
    InvalidPost {
        /// Position in the block.
        index: usize,
        /// What is wrong with it.
        error: PostError,
    },
    /// The same post appears twice in the block.
    #[error("post {0} appears twice in the block")]
    DuplicatePostInBlock(TxId),
    /// The height is not the parent's height plus one.
    #[error("height {got}, expected {expected}")]
    BadHeight {
        /// Parent height + 1.
        expected: u64,
        /// The block's height.
        got: u64,
    },
    /// The target is not what the retarget rule gives for this parent.
    #[error("target {got}, the retarget rule requires {expected}")]
    WrongTarget {
        /// What the rule gives.
        expected: CompactTarget,
        /// What the block has.
        got: CompactTarget,
    },
    /// The timestamp is not after the median of the previous blocks.
    #[error("timestamp {timestamp_ms} ms is not after the median time past {median_ms} ms")]
    TimestampTooOld {
        /// Block time.
        timestamp_ms: u64,
        /// Median of the previous blocks' times.
        median_ms: u64,
    },
    /// The timestamp is too far past the validating node's clock.
    #[error("timestamp {timestamp_ms} ms is more than the allowed drift ahead (latest {max_ms} ms)")]
    TimestampTooFarAhead {
        /// Block time.
        timestamp_ms: u64,
        /// Latest acceptable time.
        max_ms: u64,
    },
    /// A post is already confirmed on the branch this block extends.
    #[error("post {0} is already on this branch")]
    DuplicatePostOnBranch(TxId),
    /// A post's timestamp is outside the block's validity window
    /// ([`post_window`]).
    #[error("post {index} has timestamp {post_ms} ms, outside the block's window {earliest_ms}..={latest_ms} ms")]
    PostOutsideWindow {
        /// Position in the block.
        index: usize,
        /// The post's time.
        post_ms: u64,
        /// Earliest post time the block may hold.
        earliest_ms: u64,
        /// Latest post time the block may hold.
        latest_ms: u64,
    },
    /// The block failed validation before, for good: refused at once, not
    /// checked again (see [`crate::invalid`]).
    #[error("block {0} is known to be invalid")]
    KnownInvalid(BlockHash),
    /// The block's parent failed validation for good, so no block on it can
    /// be valid.
    #[error("its parent {0} is invalid")]
    InvalidParent(BlockHash),
    /// Not a verdict: the duplicate check needs the post ids of an older
    /// best-chain block (at `height`, or near it) that a body limit dropped
    /// from memory (a fork older than the post window). The node loads them
    /// from its host's storage and checks the block again.
    #[error("cannot check it yet: the post ids of block {height} and near it are not in memory")]
    PostIdsNotInMemory {
        /// The first block met whose post ids are missing.
        height: u64,
    },
}

impl BlockError {
    /// Whether every copy of a block with this header hash fails the same
    /// way, so the hash can be remembered as invalid. Not so for a block
    /// "from the future" (it may become valid as the clock moves on), nor for
    /// a failure found before the Merkle root matched, or by it (anyone can
    /// pair a good header with a bad body: remembering its hash would refuse
    /// the real block), nor for one a hash check repeats as cheaply as a
    /// lookup (proof of work, target, version: remembering those would let
    /// free junk push the costly failures out of a bounded memory). What is
    /// found once the Merkle root matched is bound to the hash: the posts
    /// (fields, duplicates, signatures), and the rules against the parent,
    /// which the header names.
    pub fn is_intrinsic(&self) -> bool {
        match self {
            BlockError::InvalidPost { .. }
            | BlockError::DuplicatePostInBlock(_)
            | BlockError::BadHeight { .. }
            | BlockError::WrongTarget { .. }
            | BlockError::TimestampTooOld { .. }
            | BlockError::DuplicatePostOnBranch(_)
            | BlockError::PostOutsideWindow { .. }
            | BlockError::KnownInvalid(_)
            | BlockError::InvalidParent(_) => true,
            BlockError::BadVersion(_)
            | BlockError::TooLarge { .. }
            | BlockError::TooManyPosts { .. }
            | BlockError::BadTarget(_)
            | BlockError::TargetTooEasy { .. }
            | BlockError::InsufficientProofOfWork { .. }
            | BlockError::MerkleRootMismatch { .. }
            | BlockError::TimestampTooFarAhead { .. }
            | BlockError::PostIdsNotInMemory { .. } => false,
        }
    }
}

/// The post timestamps a block stamped `block_ms` may hold, inclusive: at
/// most [`Params::post_window_ms`] before it and at most
/// [`Params::max_future_drift_ms`] after it.
pub fn post_window(params: &Params, block_ms: u64) -> (u64, u64) {
    (block_ms.saturating_sub(params.post_window_ms), block_ms.saturating_add(params.max_future_drift_ms))
}

/// Checks that need only the block, cheapest first: version, sizes, target,
/// proof of work, Merkle root, duplicate posts, post fields, post time
/// window, stamps, then signatures. Returns the post ids, which the caller
/// needs next and should not hash again.
pub fn check_block(params: &Params, block: &Block) -> Result<Vec<TxId>, BlockError> {
    let chain_id = params.chain_id();
    let txids = check_block_structure_on(params, &chain_id, block)?;
    check_signatures(block, &chain_id)?;
    Ok(txids)
}

/// The costly part of [`check_block`], tens of microseconds per signed post:
/// every post's signature for the network `chain_id`. Run it last, once
/// everything cheaper passed.
pub fn check_signatures(block: &Block, chain_id: &BlockHash) -> Result<(), BlockError> {
    for (index, post) in block.posts.iter().enumerate() {
        #[cfg(any(test, feature = "test-util"))]
        counts::add(&counts::SIGNATURES);
        post.verify_signature(chain_id).map_err(|error| BlockError::InvalidPost { index, error })?;
    }
    Ok(())
}

/// Everything [`check_block`] checks except post signatures: what a relay
/// checks before forwarding a block. The proof of work makes a forged block
/// costly, the Merkle root ties the posts to it, and all of it costs a few
/// microseconds per post, where signatures would cost tens.
pub fn check_block_structure(params: &Params, block: &Block) -> Result<Vec<TxId>, BlockError> {
    check_block_structure_on(params, &params.chain_id(), block)
}

/// [`check_block_structure`] with the network's chain id at hand (computing
/// it builds the genesis block: a tree or a relay checking block after block
/// knows it already).
pub fn check_block_structure_on(params: &Params, chain_id: &BlockHash, block: &Block) -> Result<Vec<TxId>, BlockError> {
    #[cfg(any(test, feature = "test-util"))]
    counts::add(&counts::STRUCTURES);
    let header = &block.header;
    if header.version != HEADER_VERSION {
        return Err(BlockError::BadVersion(header.version));
    }
    if block.posts.len() > params.max_block_posts {
        return Err(BlockError::TooManyPosts { count: block.posts.len(), max: params.max_block_posts });
    }
    let bytes = block.encoded_len();
    if bytes > params.max_block_bytes {
        return Err(BlockError::TooLarge { bytes, max: params.max_block_bytes });
    }
    check_proof_of_work(params, block)?;
    let txids = block.txids();
    let computed = crate::merkle::merkle_root(&txids);
    if computed != header.merkle_root {
        return Err(BlockError::MerkleRootMismatch { header: header.merkle_root, computed });
    }
    let mut seen = HashSet::with_capacity(txids.len());
    for txid in &txids {
        if !seen.insert(*txid) {
            return Err(BlockError::DuplicatePostInBlock(*txid));
        }
    }
    let (earliest_ms, latest_ms) = post_window(params, header.timestamp_ms);
    for (index, post) in block.posts.iter().enumerate() {
        post.check_fields().map_err(|error| BlockError::InvalidPost { index, error })?;
        if !(earliest_ms..=latest_ms).contains(&post.timestamp_ms) {
            return Err(BlockError::PostOutsideWindow { index, post_ms: post.timestamp_ms, earliest_ms, latest_ms });
        }
    }
    for (index, post) in block.posts.iter().enumerate() {
        check_stamp(post, params, chain_id)
            .map_err(|error| BlockError::InvalidPost { index, error: PostError::Stamp(error) })?;
    }
    Ok(txids)
}

/// The cheap check a relay can afford: the target decodes, is no easier than the
/// network's easiest, and the header hash meets it. Returns the target.
pub fn check_proof_of_work(params: &Params, block: &Block) -> Result<Target, BlockError> {
    let header = &block.header;
    let target = header.bits.to_target()?;
    if target > params.easiest_target() {
        return Err(BlockError::TargetTooEasy { bits: header.bits, easiest: params.easiest_bits });
    }
    let hash = header.hash();
    if !target.is_met_by(&hash) {
        return Err(BlockError::InsufficientProofOfWork { hash, bits: header.bits });
    }
    Ok(target)
}

/// What [`check_contextual`] needs to know about the parent's branch.
#[derive(Clone, Copy, Debug)]
pub struct ParentContext {
    /// The parent's height.
    pub height: u64,
    /// Target the child must carry, by the retarget rule.
    pub next_bits: CompactTarget,
    /// Median time of the parent and its predecessors.
    pub median_time_past_ms: u64,
}

/// Checks against the parent: height, target, timestamp window. Posts already
/// on the branch are checked by the caller, which knows the branch.
pub fn check_contextual(params: &Params, block: &Block, parent: &ParentContext, now_ms: u64) -> Result<(), BlockError> {
    let header = &block.header;
    let expected = parent.height + 1;
    if header.height != expected {
        return Err(BlockError::BadHeight { expected, got: header.height });
    }
    if header.bits != parent.next_bits {
        return Err(BlockError::WrongTarget { expected: parent.next_bits, got: header.bits });
    }
    if header.timestamp_ms <= parent.median_time_past_ms {
        return Err(BlockError::TimestampTooOld {
            timestamp_ms: header.timestamp_ms,
            median_ms: parent.median_time_past_ms,
        });
    }
    let max_ms = now_ms.saturating_add(params.max_future_drift_ms);
    if header.timestamp_ms > max_ms {
        return Err(BlockError::TimestampTooFarAhead { timestamp_ms: header.timestamp_ms, max_ms });
    }
    Ok(())
}

/// Median of up to [`Params::median_time_span`] timestamps (any order).
pub fn median_time(mut timestamps: Vec<u64>) -> u64 {
    timestamps.sort_unstable();
    timestamps.get(timestamps.len() / 2).copied().unwrap_or(0)
}

/// Test-only counts of the costly checks run on the calling thread, so a
/// test can prove that a check was not run again. Per thread, because tests
/// run in parallel (a relay test on tokio's default current-thread runtime
/// runs the relay on its own thread too).
#[cfg(any(test, feature = "test-util"))]
pub mod counts {
    use std::cell::Cell;
    use std::thread::LocalKey;

    thread_local! {
        pub(super) static SIGNATURES: Cell<u64> = const { Cell::new(0) };
        pub(super) static STRUCTURES: Cell<u64> = const { Cell::new(0) };
    }

    pub(super) fn add(counter: &'static LocalKey<Cell<u64>>) {
        counter.with(|c| c.set(c.get() + 1));
    }

    /// Post signatures verified by [`super::check_signatures`] on this thread.
    pub fn signatures() -> u64 {
        SIGNATURES.with(Cell::get)
    }

    /// Runs of [`super::check_block_structure`] on this thread.
    pub fn structures() -> u64 {
        STRUCTURES.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_time(vec![5, 1, 3]), 3);
        assert_eq!(median_time(vec![4, 1, 3, 2]), 3);
        assert_eq!(median_time(vec![7]), 7);
        assert_eq!(median_time(vec![]), 0);
    }
}
