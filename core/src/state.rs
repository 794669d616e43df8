//! A node's chain state: the block tree plus the mempool, kept consistent.
//!
//! This is what a browser tab and the native node each own. Blocks and posts
//! come in with the caller's clock; the mempool drops posts as they confirm on
//! the best chain and takes back the posts of blocks a reorg disconnects.

use crate::block::Block;
use crate::chain::{BlockStatus, BodyLimit, Chain, TipChange};
use crate::hash::{BlockHash, TxId};
use crate::header::{BlockHeader, HEADER_BYTES, HEADER_VERSION};
use crate::mempool::{Mempool, MempoolError, PoolChange};
use crate::merkle::merkle_root;
use crate::params::Params;
use crate::post::{Post, PostError};
use crate::validate::{BlockError, post_window};
use std::sync::Arc;

/// Why a post was not taken into the mempool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostRejected {
    /// The post breaks the post rules.
    #[error("invalid post: {0}")]
    Invalid(#[from] PostError),
    /// The post is already in a best-chain block.
    #[error("post {txid} is already confirmed at height {height}")]
    AlreadyConfirmed {
        /// The post's id.
        txid: TxId,
        /// Height of the block holding it.
        height: u64,
    },
    /// The post's timestamp is too far past the node's clock.
    #[error("post timestamp {timestamp_ms} ms is more than the allowed drift ahead (latest {max_ms} ms)")]
    FromTheFuture {
        /// The post's time.
        timestamp_ms: u64,
        /// Latest acceptable time.
        max_ms: u64,
    },
    /// The post is older than the post window: no new block may hold it.
    #[error("post timestamp {timestamp_ms} ms is older than the post window allows (earliest {earliest_ms} ms)")]
    TooOld {
        /// The post's time.
        timestamp_ms: u64,
        /// Earliest acceptable time.
        earliest_ms: u64,
    },
    /// The mempool refused it (duplicate or full).
    #[error(transparent)]
    Mempool(#[from] MempoolError),
}

/// Block tree and mempool of one node.
#[derive(Clone, Debug)]
pub struct ChainState {
    chain: Chain,
    mempool: Mempool,
    /// The genesis hash, which posts' stamps and signatures commit to.
    chain_id: BlockHash,
}

impl ChainState {
    /// A node at genesis with an empty mempool.
    pub fn new(params: Params) -> Self {
        let mempool = Mempool::new(params.max_mempool_posts, params.max_mempool_bytes);
        let chain = Chain::new(params);
        let chain_id = chain.genesis().hash;
        Self { chain, mempool, chain_id }
    }

    /// The block tree.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The pending posts.
    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    /// The network parameters.
    pub fn params(&self) -> &Params {
        self.chain.params()
    }

    /// Starts recording the mempool's changes (see [`Mempool::take_changes`]).
    pub fn track_mempool_changes(&mut self) {
        self.mempool.track_changes();
    }

    /// The mempool's net changes since the last call (see [`Mempool::take_changes`]).
    pub fn take_mempool_changes(&mut self) -> Vec<PoolChange> {
        self.mempool.take_changes()
    }

    /// Validates and adds a block (see [`Chain::submit`]); on a tip change the
    /// mempool drops newly confirmed posts and takes back disconnected ones.
    pub fn submit_block(&mut self, block: Block, now_ms: u64) -> Result<BlockStatus, BlockError> {
        let status = self.chain.submit(block, now_ms)?;
        self.after_block(&status);
        Ok(status)
    }

    /// [`ChainState::submit_block`] that keeps the block whatever its rank
    /// (see [`Chain::submit_kept`]): for blocks this node kept before, and
    /// for a chain whose headers were checked to carry more work.
    pub fn submit_kept_block(&mut self, block: Block, now_ms: u64) -> Result<BlockStatus, BlockError> {
        let status = self.chain.submit_kept(block, now_ms)?;
        self.after_block(&status);
        Ok(status)
    }

    fn after_block(&mut self, status: &BlockStatus) {
        if let BlockStatus::Stored(stored) = status
            && let Some(change) = &stored.tip_change
        {
            self.update_mempool(change);
        }
    }

    /// Prunes side branches (see [`Chain::prune`]).
    pub fn prune(&mut self) -> Vec<BlockHash> {
        self.chain.prune()
    }

    /// Marks blocks a sync will fetch (see [`Chain::want`]).
    pub fn want(&mut self, hashes: impl IntoIterator<Item = BlockHash>) -> usize {
        self.chain.want(hashes)
    }

    /// Forgets the wanted blocks (see [`Chain::clear_wanted`]).
    pub fn clear_wanted(&mut self) {
        self.chain.clear_wanted();
    }

    /// Sets which best-chain bodies stay in memory (see [`Chain::set_body_limit`]).
    pub fn set_body_limit(&mut self, limit: Option<BodyLimit>) {
        self.chain.set_body_limit(limit);
    }

    /// Drops bodies beyond the body limit (see [`Chain::trim_bodies`]).
    pub fn trim_bodies(&mut self) {
        self.chain.trim_bodies();
    }

    /// Takes back a block's post ids for a deep fork's duplicate checks
    /// (see [`Chain::load_txids`]).
    pub fn load_txids(&mut self, block: &Block) -> bool {
        self.chain.load_txids(block)
    }

    /// Checks a block whose parent is unknown without keeping it (see
    /// [`Chain::check_detached`]).
    pub fn check_block(&mut self, block: &Block) -> Result<(), BlockError> {
        self.chain.check_detached(block)
    }

    fn update_mempool(&mut self, change: &TipChange) {
        for hash in &change.connected {
            for txid in self.chain.get(hash).and_then(|e| e.txids()).unwrap_or_default() {
                self.mempool.remove(txid);
            }
        }
        // Oldest disconnected block first, so taken-back posts keep their
        // order (only those whose bodies were in memory: see `Chain::set_body_limit`).
        for block in change.disconnected_bodies.iter().rev() {
            for post in &block.posts {
                if self.chain.confirmed_height(&post.txid()).is_none() {
                    // A full mempool drops the overflow: every bound holds.
                    let _ = self.mempool.insert(post.clone());
                }
            }
        }
    }

    /// Validates a post and adds it to the mempool. Cheapest checks first:
    /// fields, time (at most `max_future_drift_ms` ahead of `now_ms`, at most
    /// `post_window_ms` behind it), already pending or confirmed, then the
    /// stamp, and the signature last.
    pub fn submit_post(&mut self, post: Post, now_ms: u64) -> Result<TxId, PostRejected> {
        post.check_fields()?;
        let params = self.chain.params();
        let max_ms = now_ms.saturating_add(params.max_future_drift_ms);
        if post.timestamp_ms > max_ms {
            return Err(PostRejected::FromTheFuture { timestamp_ms: post.timestamp_ms, max_ms });
        }
        let earliest_ms = now_ms.saturating_sub(params.post_window_ms);
        if post.timestamp_ms < earliest_ms {
            return Err(PostRejected::TooOld { timestamp_ms: post.timestamp_ms, earliest_ms });
        }
        let txid = post.txid();
        if self.mempool.contains(&txid) {
            return Err(MempoolError::Duplicate(txid).into());
        }
        if let Some(height) = self.chain.confirmed_height(&txid) {
            return Err(PostRejected::AlreadyConfirmed { txid, height });
        }
        post.validate_on(params, &self.chain_id)?;
        Ok(self.mempool.insert(post)?)
    }

    /// Spares a pending post from eviction (see [`Mempool::pin`]).
    pub fn pin_post(&mut self, txid: TxId) {
        self.mempool.pin(txid);
    }

    /// Drops pending posts that have left the post window as of `now_ms`
    /// (no block this node mines may hold them any more); returns their ids.
    pub fn expire_posts(&mut self, now_ms: u64) -> Vec<TxId> {
        self.mempool.remove_older_than(now_ms.saturating_sub(self.params().post_window_ms))
    }

    /// A block for miners on the best tip: the pending posts that pay the
    /// most stamp work per byte and fit (and whose time is in the block's
    /// post window), the required target, time `max(now, median time past
    /// + 1)`, nonce 0.
    pub fn block_template(&self, now_ms: u64) -> Block {
        let params = self.params();
        let (bits, earliest_ms) = self.chain.next_block_rules();
        let timestamp_ms = now_ms.max(earliest_ms);
        let window = post_window(params, timestamp_ms);
        let mut posts = Vec::new();
        let mut bytes = HEADER_BYTES + 4;
        for (_, post) in self.mempool.iter() {
            if posts.len() == params.max_block_posts {
                break;
            }
            if !(window.0..=window.1).contains(&post.timestamp_ms) {
                continue;
            }
            let size = post.encoded_len();
            if bytes + size > params.max_block_bytes {
                continue;
            }
            bytes += size;
            posts.push(post.clone());
        }
        let tip = self.chain.tip();
        let header = BlockHeader {
            version: HEADER_VERSION,
            height: tip.height() + 1,
            prev_hash: tip.hash,
            merkle_root: merkle_root(&posts.iter().map(Post::txid).collect::<Vec<_>>()),
            timestamp_ms,
            bits,
            nonce: 0,
        };
        Block { header, posts }
    }

    /// The best chain's locator (see [`Chain::locator`]).
    pub fn locator(&self) -> Vec<BlockHash> {
        self.chain.locator()
    }

    /// A locator starting at a known block (see [`Chain::locator_from`]).
    pub fn locator_from(&self, hash: &BlockHash) -> Option<Vec<BlockHash>> {
        self.chain.locator_from(hash)
    }

    /// A sync page (see [`Chain::blocks_after`]).
    pub fn blocks_after(&self, locator: &[BlockHash], limit: usize, max_bytes: usize) -> Vec<Arc<Block>> {
        self.chain.blocks_after(locator, limit, max_bytes)
    }
}
