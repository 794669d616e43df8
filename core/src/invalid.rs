//! Hashes of blocks that failed validation for good, remembered (bounded) so
//! that a block sent again costs one lookup instead of the same checks.
//!
//! Only failures that every copy of the block would meet again belong here
//! ([`BlockError::is_intrinsic`]): a block "from the future" may become valid
//! as the clock moves, a body that does not match its header says nothing
//! about the block the header names, and an unknown parent is missing data,
//! not a fault.

use crate::hash::BlockHash;
use crate::validate::BlockError;
use std::collections::{HashSet, VecDeque};

/// How many invalid block hashes a node or the relay remembers: past this the
/// oldest is forgotten (a block sent again after that is checked again).
/// 4,096 hashes are about 200 KiB with the set's overhead.
pub const MAX_INVALID_BLOCKS: usize = 4_096;

/// A bounded set of invalid block hashes, oldest forgotten first.
#[derive(Clone, Debug)]
pub struct InvalidBlocks {
    set: HashSet<BlockHash>,
    order: VecDeque<BlockHash>,
    capacity: usize,
}

impl Default for InvalidBlocks {
    fn default() -> Self {
        Self::new(MAX_INVALID_BLOCKS)
    }
}

impl InvalidBlocks {
    /// An empty set holding at most `capacity` hashes (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { set: HashSet::with_capacity(capacity), order: VecDeque::with_capacity(capacity), capacity }
    }

    /// Whether `hash` failed validation (as far as the set remembers).
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.set.contains(hash)
    }

    /// Hashes remembered.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Remembers `hash`, forgetting the oldest when full.
    pub fn insert(&mut self, hash: BlockHash) {
        if !self.set.insert(hash) {
            return;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        self.order.push_back(hash);
    }

    /// Remembers `hash` if `error` condemns every copy of the block
    /// ([`BlockError::is_intrinsic`]); returns whether it did.
    pub fn note(&mut self, hash: BlockHash, error: &BlockError) -> bool {
        let intrinsic = error.is_intrinsic();
        if intrinsic {
            self.insert(hash);
        }
        intrinsic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(n: u8) -> BlockHash {
        BlockHash::from_bytes([n; 32])
    }

    #[test]
    fn bounded_oldest_forgotten_first() {
        let mut set = InvalidBlocks::new(3);
        for n in 0..3 {
            set.insert(hash(n));
        }
        set.insert(hash(1));
        assert_eq!(set.len(), 3);
        set.insert(hash(3));
        assert!(!set.contains(&hash(0)) && set.contains(&hash(1)) && set.contains(&hash(3)));
        assert_eq!((set.len(), set.order.len()), (3, 3));
        assert_eq!(InvalidBlocks::default().capacity, MAX_INVALID_BLOCKS);
        assert_eq!(InvalidBlocks::new(0).capacity, 1);
    }

    #[test]
    fn only_intrinsic_failures_are_noted() {
        let mut set = InvalidBlocks::default();
        let future = BlockError::TimestampTooFarAhead { timestamp_ms: 2, max_ms: 1 };
        assert!(!set.note(hash(1), &future));
        assert!(set.note(hash(2), &BlockError::BadHeight { expected: 1, got: 2 }));
        assert!(!set.contains(&hash(1)) && set.contains(&hash(2)));
    }
}
