//! Blocks that arrived before their parent, kept (bounded) until it does.

use crate::block::Block;
use crate::hash::BlockHash;
use std::collections::{HashMap, VecDeque};

/// Bounded pool of parentless blocks, oldest evicted first.
#[derive(Clone, Debug)]
pub struct OrphanPool {
    blocks: HashMap<BlockHash, (Block, usize)>,
    by_parent: HashMap<BlockHash, Vec<BlockHash>>,
    order: VecDeque<BlockHash>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl OrphanPool {
    /// An empty pool of at most `max_count` blocks and `max_bytes` bytes.
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Self {
            blocks: HashMap::new(),
            by_parent: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    /// Whether the block is waiting here.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// A block waiting here (the page shows an orphan's detail).
    pub fn get(&self, hash: &BlockHash) -> Option<&Block> {
        self.blocks.get(hash).map(|(block, _)| block)
    }

    /// Every block waiting, in no particular order (the block tree's view).
    pub fn iter(&self) -> impl Iterator<Item = (&BlockHash, &Block)> + '_ {
        self.blocks.iter().map(|(hash, (block, _))| (hash, block))
    }

    /// Blocks waiting.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Keeps `block`, evicting the oldest orphans to stay within the bounds.
    /// Returns how many were evicted.
    pub fn insert(&mut self, hash: BlockHash, block: Block) -> usize {
        if self.blocks.contains_key(&hash) || self.max_count == 0 {
            return 0;
        }
        let size = block.encoded_len();
        let mut evicted = 0;
        while !self.blocks.is_empty() && (self.blocks.len() >= self.max_count || self.bytes + size > self.max_bytes) {
            if let Some(oldest) = self.order.pop_front()
                && self.remove(&oldest).is_some()
            {
                evicted += 1;
            }
        }
        if size > self.max_bytes {
            return evicted;
        }
        self.by_parent.entry(block.header.prev_hash).or_default().push(hash);
        self.bytes += size;
        self.blocks.insert(hash, (block, size));
        self.order.push_back(hash);
        // Connected orphans leave stale ids in `order`; drop them before it grows.
        if self.order.len() > 2 * self.max_count {
            let blocks = &self.blocks;
            self.order.retain(|h| blocks.contains_key(h));
        }
        evicted
    }

    /// Takes out every block whose parent is `parent`, in arrival order.
    pub fn take_children(&mut self, parent: &BlockHash) -> Vec<(BlockHash, Block)> {
        let Some(children) = self.by_parent.remove(parent) else {
            return Vec::new();
        };
        children
            .into_iter()
            .filter_map(|h| {
                let (block, size) = self.blocks.remove(&h)?;
                self.bytes -= size;
                Some((h, block))
            })
            .collect()
    }

    fn remove(&mut self, hash: &BlockHash) -> Option<Block> {
        let (block, size) = self.blocks.remove(hash)?;
        self.bytes -= size;
        if let Some(siblings) = self.by_parent.get_mut(&block.header.prev_hash) {
            siblings.retain(|h| h != hash);
            if siblings.is_empty() {
                self.by_parent.remove(&block.header.prev_hash);
            }
        }
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::MerkleRoot;
    use crate::header::BlockHeader;
    use crate::target::CompactTarget;

    fn orphan(parent: u8, nonce: u64) -> (BlockHash, Block) {
        let header = BlockHeader {
            version: 1,
            height: 5,
            prev_hash: BlockHash::from_bytes([parent; 32]),
            merkle_root: MerkleRoot::ZERO,
            timestamp_ms: 0,
            bits: CompactTarget(0x207fffff),
            nonce,
        };
        let block = Block { header, posts: vec![] };
        (block.hash(), block)
    }

    #[test]
    fn evicts_oldest_beyond_count() {
        let mut pool = OrphanPool::new(2, 1 << 20);
        let (a, ba) = orphan(1, 1);
        let (b, bb) = orphan(1, 2);
        let (c, bc) = orphan(2, 3);
        pool.insert(a, ba);
        pool.insert(b, bb);
        assert_eq!(pool.insert(c, bc), 1);
        assert!(!pool.contains(&a) && pool.contains(&b) && pool.contains(&c));
        let kids = pool.take_children(&BlockHash::from_bytes([1; 32]));
        assert_eq!(kids.into_iter().map(|(h, _)| h).collect::<Vec<_>>(), vec![b]);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn bounded_by_bytes_and_stale_order_is_compacted() {
        let size = orphan(1, 0).1.encoded_len();
        let mut pool = OrphanPool::new(1000, size * 3);
        for n in 0..10 {
            let (h, b) = orphan(n as u8, n);
            pool.insert(h, b);
            assert!(pool.len() <= 3);
        }
        let mut churn = OrphanPool::new(5, 1 << 20);
        for n in 10..100u64 {
            let (h, b) = orphan(200, n);
            churn.insert(h, b);
            assert_eq!(churn.take_children(&BlockHash::from_bytes([200; 32])).len(), 1);
            assert!(churn.order.len() <= 2 * 5 + 1);
        }
        assert!(churn.is_empty());
    }
}
