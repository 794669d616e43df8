//! What the host itself hands in: posts written here, blocks its miners
//! found, and blocks from outside the relay (the REST API's `/add_block` and
//! `/register_with`). Each is validated, kept and announced the same way on
//! every node.

use super::output::{Change, Output};
use super::{Driver, send};
use crate::block::Block;
use crate::chain::{BlockStatus, TipRank};
use crate::hash::{BlockHash, TxId};
use crate::post::Post;
use crate::state::PostRejected;
use crate::target::Work;
use crate::validate::BlockError;
use crate::wire::{Envelope, Message};

/// Why [`Driver::submit_mined`] refused a block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MinedError {
    /// The block does not build on the current best tip (the tip moved while
    /// mining): it is not stored or announced.
    #[error("stale block: it builds on {prev_hash}, the best tip is now {tip}")]
    Stale {
        /// The block's parent.
        prev_hash: BlockHash,
        /// The best tip.
        tip: BlockHash,
    },
    /// The node already has this block.
    #[error("block {0} is already known")]
    Duplicate(BlockHash),
    /// The block breaks a validation rule.
    #[error(transparent)]
    Invalid(#[from] BlockError),
}

/// Why [`Driver::submit_block`] refused a block. Nothing of it was kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// Its parent is not in the tree: the block is not kept (not even as an
    /// orphan), so a host can promise that a refused block changed nothing.
    #[error("its parent {parent} is unknown")]
    UnknownParent {
        /// The missing parent.
        parent: BlockHash,
    },
    /// It breaks a validation rule.
    #[error(transparent)]
    Invalid(#[from] BlockError),
    /// It is valid but neither extends the best tip nor outranks it, and
    /// the chain it came with does not either: not kept.
    #[error(
        "its chain has less work than the best chain ({:.4e} < {:.4e} expected hashes)",
        chain_work.to_f64(),
        best_work.to_f64()
    )]
    LessWork {
        /// The chain work the block would have.
        chain_work: Work,
        /// The best chain's work.
        best_work: Work,
    },
}

impl Driver {
    /// A post written here (built and signed by the host): into the mempool
    /// as an own post ([`crate::driver::Change::PendingAdded`] with `own`),
    /// announced as `Tx` now if we have said `Hello`, and again each time we
    /// join until a best-chain block holds it.
    pub fn submit_own_post(&mut self, post: Post, now_ms: u64) -> Result<(TxId, Vec<Output>), PostRejected> {
        let before = self.tip();
        let mut out = Vec::new();
        let announce = self.me.is_some().then(|| post.clone());
        let tx_id = self.state.submit_post(post, now_ms)?;
        self.own.insert(tx_id);
        self.state.pin_post(tx_id);
        if let Some(tx) = announce {
            send(Envelope::broadcast(Message::Tx { tx }), &mut out);
        }
        self.finish(before, &mut out);
        Ok((tx_id, out))
    }

    /// A block this node mined (a template with a nonce that meets its
    /// target): validated, stored, shown ([`crate::driver::Event::BlockAccepted`])
    /// and announced as `Block` once we have said `Hello`. A block that does
    /// not build on the current tip is refused as [`MinedError::Stale`] and
    /// neither stored nor announced.
    pub fn submit_mined(&mut self, block: Block, now_ms: u64) -> Result<Vec<Output>, MinedError> {
        let tip = self.tip();
        if block.header.prev_hash != tip {
            return Err(MinedError::Stale { prev_hash: block.header.prev_hash, tip });
        }
        let hash = block.hash();
        let mut out = Vec::new();
        match self.submit_one(block, now_ms, true, &mut out) {
            Ok(true) => {
                self.finish_submission(tip, &mut out);
                Ok(out)
            }
            Ok(false) => Err(MinedError::Duplicate(hash)),
            Err(SubmitError::Invalid(e)) => Err(MinedError::Invalid(e)),
            // The parent is the tip, so these cannot happen; refuse it like a stale block.
            Err(SubmitError::UnknownParent { parent }) => Err(MinedError::Stale { prev_hash: parent, tip }),
            Err(SubmitError::LessWork { .. }) => Err(MinedError::Stale { prev_hash: tip, tip }),
        }
    }

    /// A block from outside the relay (the REST API): validated and stored
    /// on any branch whose parent is known; when it becomes the best tip it
    /// is announced as `Block`. A block already known changes nothing and is
    /// not an error. A refused block leaves nothing behind.
    pub fn submit_block(&mut self, block: Block, now_ms: u64) -> Result<Vec<Output>, SubmitError> {
        let (out, result) = self.submit_blocks(vec![block], now_ms);
        result.map(|()| out).map_err(|(_, e)| e)
    }

    /// [`Driver::submit_block`] for a chain of blocks, parents first (a
    /// peer's `/chain`): stops at the first refused block and reports it
    /// with its hash; the blocks before it stay, so the outputs are to be
    /// carried out either way. Only the resulting best tip is announced, once.
    pub fn submit_blocks(
        &mut self,
        blocks: Vec<Block>,
        now_ms: u64,
    ) -> (Vec<Output>, Result<(), (BlockHash, SubmitError)>) {
        let before = self.tip();
        let mut out = Vec::new();
        let mut result = Ok(());
        let keep_all = self.outranks_best(&blocks, now_ms);
        for block in blocks {
            let hash = block.hash();
            if let Err(e) = self.submit_one(block, now_ms, keep_all, &mut out) {
                result = Err((hash, e));
                break;
            }
        }
        if keep_all {
            let removed = self.state.prune();
            out.extend(removed.into_iter().map(|hash| Output::Store(Change::BlockRemoved { hash })));
        }
        self.finish_submission(before, &mut out);
        (out, result)
    }

    /// Whether `blocks` (parents first) are a header chain that builds on
    /// our tree and outranks our best chain: then every one of them is kept,
    /// even while its branch is still behind (headers first for the REST
    /// API's `/register_with`).
    fn outranks_best(&self, blocks: &[Block], now_ms: u64) -> bool {
        let chain = self.state.chain();
        let Some(start) = blocks.iter().position(|b| chain.get(&b.hash()).is_none()) else { return false };
        let Some(mut tip) = chain.header_tip(&blocks[start].header.prev_hash) else { return false };
        for block in &blocks[start..] {
            match tip.extend(self.params(), &block.header, now_ms) {
                Ok(next) => tip = next,
                Err(_) => return false,
            }
        }
        TipRank { chain_work: tip.chain_work, hash: tip.hash } > chain.tip().tip_rank()
    }

    /// Validates and stores one block from the host (`keep`: whatever its
    /// rank); `Ok(false)` when it was already known. An orphan is refused
    /// without keeping it.
    fn submit_one(
        &mut self,
        block: Block,
        now_ms: u64,
        keep: bool,
        out: &mut Vec<Output>,
    ) -> Result<bool, SubmitError> {
        let parent = block.header.prev_hash;
        if self.state.chain().get(&block.hash()).is_some() {
            // Known already (genesis too, whose parent is no block).
            return Ok(false);
        }
        if self.state.chain().get(&parent).is_none() {
            // Say what is wrong with the block itself first, if anything.
            self.state.check_block(&block)?;
            return Err(SubmitError::UnknownParent { parent });
        }
        let status =
            if keep { self.state.submit_kept_block(block, now_ms)? } else { self.state.submit_block(block, now_ms)? };
        match status {
            BlockStatus::Stored(stored) => {
                self.on_stored(&stored, None, true, out);
                Ok(true)
            }
            BlockStatus::Duplicate => Ok(false),
            BlockStatus::Orphan { missing_parent } => Err(SubmitError::UnknownParent { parent: missing_parent }),
            BlockStatus::LessWork { chain_work, best_work } => Err(SubmitError::LessWork { chain_work, best_work }),
        }
    }

    /// Announces the new best tip if the submission moved it, then the usual
    /// end of a call.
    ///
    /// When the tip moved by more than one block on the old one (a chain from
    /// the REST API), a new `Hello` follows: the relay credits an announced
    /// block's work only when it knows its parent's, and peers choose whom to
    /// sync from by the work the relay reports.
    fn finish_submission(&mut self, before: BlockHash, out: &mut Vec<Output>) {
        let tip = self.state.chain().tip();
        let moved = tip.hash != before;
        let one_block_on_before = tip.block().is_some_and(|b| b.header.prev_hash == before);
        // The tip's body is in memory unless a reorganisation went back to
        // a block deeper than the body limit (then there is nothing new to tell).
        if moved
            && self.me.is_some()
            && let Some(tip) = tip.block()
        {
            let block = tip.as_ref().clone();
            send(Envelope::broadcast(Message::Block { block }), out);
            // The relay credits a block to the peer announcing it.
            self.claimed_tip = Some(self.tip());
        }
        if moved && !one_block_on_before && self.me.is_some() {
            self.send_hello(None, out);
        }
        self.finish(before, out);
    }
}
