//! Blocks known to be invalid ([`crate::invalid`]): refused with one lookup
//! when they come again, and so are the orphans built on them.

use super::Chain;
use crate::block::Block;
use crate::hash::BlockHash;
use crate::validate::{BlockError, check_block};

impl Chain {
    /// Checks a block whose parent is not in the tree, as far as that goes
    /// without the parent ([`check_block`]), without keeping it. A failure is
    /// remembered as in [`Chain::submit`].
    pub fn check_detached(&mut self, block: &Block) -> Result<(), BlockError> {
        let hash = block.hash();
        let result = self
            .refuse_known_invalid(hash, &block.header.prev_hash)
            .and_then(|()| check_block(&self.params, block).map(drop));
        if let Err(error) = &result {
            self.condemn(hash, error);
        }
        result
    }

    /// Whether the block is remembered as invalid.
    pub fn is_known_invalid(&self, hash: &BlockHash) -> bool {
        self.invalid.contains(hash)
    }

    /// Blocks remembered as invalid (at most [`crate::invalid::MAX_INVALID_BLOCKS`]).
    pub fn known_invalid_count(&self) -> usize {
        self.invalid.len()
    }

    /// Refuses a block remembered as invalid, or one whose parent is.
    pub(super) fn refuse_known_invalid(&self, hash: BlockHash, parent: &BlockHash) -> Result<(), BlockError> {
        if self.invalid.contains(&hash) {
            return Err(BlockError::KnownInvalid(hash));
        }
        if self.invalid.contains(parent) {
            return Err(BlockError::InvalidParent(*parent));
        }
        Ok(())
    }

    /// Remembers `hash` as invalid if `error` condemns every copy of it, and
    /// drops (and remembers) the orphans that build on it.
    pub(super) fn condemn(&mut self, hash: BlockHash, error: &BlockError) {
        if !self.invalid.note(hash, error) {
            return;
        }
        let mut queue = vec![hash];
        while let Some(parent) = queue.pop() {
            for (child, _) in self.orphans.take_children(&parent) {
                self.invalid.insert(child);
                queue.push(child);
            }
        }
    }
}
