//! What the relay remembers of blocks and posts it has seen: the duplicate
//! filter, the chain work it worked out itself, and the blocks that failed
//! its checks for good. The hub holds one [`Seen`] behind a lock.
//!
//! The duplicate filter holds only blocks broadcast (each paid for with
//! proof of work, the sender's rate limit and its share of the broadcast
//! budget): never the hashes peers merely claim in `Hello`, nor blocks
//! passing through in sync answers, either of which could push every
//! announced block out. Chain work is kept apart, and only ever worked out
//! from genesis's through blocks that passed the checks.

use std::num::NonZeroUsize;

use lru::LruCache;
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::invalid::{InvalidBlocks, MAX_INVALID_BLOCKS};
use tabchain_core::target::Work;
use tabchain_core::validate::BlockError;

/// What the relay already knows of a block it is sent, from one lookup
/// before any check ([`Seen::known_block`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KnownBlock {
    /// Nothing that spares a check.
    New,
    /// Already broadcast (and checked then).
    Announced,
    /// It or its parent failed the checks for good.
    Invalid(BlockError),
}

/// Recently seen ids, chain work and invalid blocks, each bounded.
pub(crate) struct Seen {
    /// Genesis: where every chain work worked out starts.
    genesis: BlockHash,
    genesis_work: Work,
    /// Blocks already broadcast.
    announced: LruCache<BlockHash, ()>,
    /// Cumulative work of the chain each block ends, where the relay
    /// worked it out.
    work: LruCache<BlockHash, Work>,
    txs: LruCache<TxId, ()>,
    invalid: InvalidBlocks,
}

impl Seen {
    /// Room for `ids` blocks, works and posts each, on the chain starting at
    /// `genesis` (whose block proves `genesis_work`).
    pub fn new(ids: usize, genesis: BlockHash, genesis_work: Work) -> Self {
        let ids = NonZeroUsize::new(ids).unwrap_or(NonZeroUsize::MIN);
        Self {
            genesis,
            genesis_work,
            announced: LruCache::new(ids),
            work: LruCache::new(ids),
            txs: LruCache::new(ids),
            invalid: InvalidBlocks::new(MAX_INVALID_BLOCKS),
        }
    }

    /// The chain work up to `hash` if the relay worked it out (from genesis
    /// through blocks it checked).
    fn known_work(&self, hash: &BlockHash) -> Option<Work> {
        if *hash == self.genesis { Some(self.genesis_work) } else { self.work.peek(hash).copied() }
    }

    /// The chain work up to a block on `prev` proving `block_work`, worked
    /// out and remembered if the relay knows `prev`'s.
    pub fn learn_work(&mut self, hash: BlockHash, prev: &BlockHash, block_work: Work) -> Option<Work> {
        if let Some(work) = self.work.get(&hash) {
            return Some(*work);
        }
        let work = self.known_work(prev)?.saturating_add(block_work);
        self.work.put(hash, work);
        Some(work)
    }

    /// Notes a block broadcast: `None` if it was broadcast already (a
    /// duplicate), else the chain work up to it if the relay knows it.
    pub fn announce(&mut self, hash: BlockHash, prev: &BlockHash, block_work: Work) -> Option<Option<Work>> {
        if self.announced.put(hash, ()).is_some() {
            return None;
        }
        Some(self.learn_work(hash, prev, block_work))
    }

    /// One lookup before a block is checked: is it (or its parent) known to
    /// be invalid, else was it already broadcast?
    pub fn known_block(&self, hash: &BlockHash, parent: &BlockHash) -> KnownBlock {
        if self.invalid.contains(hash) {
            KnownBlock::Invalid(BlockError::KnownInvalid(*hash))
        } else if self.invalid.contains(parent) {
            KnownBlock::Invalid(BlockError::InvalidParent(*parent))
        } else if self.announced.contains(hash) {
            KnownBlock::Announced
        } else {
            KnownBlock::New
        }
    }

    /// Remembers a block that failed for good ([`BlockError::is_intrinsic`]).
    pub fn note_invalid_block(&mut self, hash: BlockHash, error: &BlockError) {
        self.invalid.note(hash, error);
    }

    /// Notes a post: `false` if it was seen recently.
    pub fn note_tx(&mut self, txid: TxId) -> bool {
        self.txs.put(txid, ()).is_none()
    }

    /// Whether the post was seen recently (without noting it).
    pub fn tx_seen(&self, txid: &TxId) -> bool {
        self.txs.contains(txid)
    }
}
