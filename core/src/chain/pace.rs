//! The pace of the best chain: for its last blocks, how long each took after
//! its parent and how hard it was. The page's charts plot this to show the
//! retarget at work (difficulty following the hash rate); it is read from
//! the headers alone, so it costs nothing under a body limit.

use super::Chain;
use crate::hash::BlockHash;

/// One best-chain block as a chart plots it.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockPace {
    /// Its height.
    pub height: u64,
    /// Its hash (a chart redraws when the blocks shown change, reorgs included).
    pub hash: BlockHash,
    /// Its timestamp, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Its timestamp minus its parent's, milliseconds: how long it took, as
    /// the retarget counts it. Negative when a miner's clock was behind (a
    /// timestamp need only pass the median of the last ones); `None` for
    /// genesis.
    pub interval_ms: Option<i64>,
    /// Expected hashes to find a block at its target: its difficulty, the
    /// number the mining panel shows for the next block.
    pub expected_hashes: f64,
}

impl Chain {
    /// The last `count` blocks of the best chain (fewer on a shorter chain),
    /// lowest first, with their intervals and difficulty. Recomputed from
    /// the best chain at every call, so after a reorganisation it shows the
    /// new branch.
    pub fn recent_pace(&self, count: usize) -> Vec<BlockPace> {
        let first = self.best.len().saturating_sub(count);
        (first..self.best.len())
            .map(|i| {
                let entry = &self.entries[self.best[i]];
                let parent = i.checked_sub(1).map(|p| &self.entries[self.best[p]]);
                BlockPace {
                    height: entry.height(),
                    hash: entry.hash,
                    timestamp_ms: entry.timestamp_ms(),
                    interval_ms: parent.map(|parent| {
                        let delta = i128::from(entry.timestamp_ms()) - i128::from(parent.timestamp_ms());
                        delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
                    }),
                    expected_hashes: entry.target.expected_hashes(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::Block;
    use crate::chain::BlockStatus;
    use crate::testkit::{NOW, block_on, dev, post, seal};

    /// A child of the tip stamped `after_ms` after it, with the target the
    /// retarget asks for.
    fn child(chain: &Chain, after_ms: u64) -> Block {
        let tip = chain.tip();
        let (bits, _) = chain.next_block_rules();
        let mut block = block_on(tip.hash, tip.height() + 1, vec![post("pace", tip.height() + 1)]);
        block.header.timestamp_ms = tip.timestamp_ms() + after_ms;
        block.header.bits = bits;
        seal(block)
    }

    #[test]
    fn intervals_and_difficulty_follow_the_blocks() {
        let mut chain = Chain::new(dev());
        // 30 fast blocks (the dev network aims at 1 s) make the target ever
        // harder; two slow ones ease it again.
        let mut gaps = vec![1_000];
        gaps.extend([10; 30]);
        gaps.extend([5_000, 5_000]);
        for &gap in &gaps {
            let block = child(&chain, gap);
            assert!(matches!(chain.submit(block, NOW).unwrap(), BlockStatus::Stored(_)));
        }
        let pace = chain.recent_pace(100);
        assert_eq!(pace.len(), gaps.len() + 1, "the whole chain, genesis included");
        assert_eq!(pace[0].height, 0);
        assert_eq!(pace[0].interval_ms, None);
        for (row, &gap) in pace[1..].iter().zip(&gaps) {
            assert_eq!(row.interval_ms, Some(gap as i64));
        }
        for (row, entry) in pace.iter().zip(chain.best_chain()) {
            assert_eq!((row.height, row.hash, row.timestamp_ms), (entry.height(), entry.hash, entry.timestamp_ms()));
            assert_eq!(row.expected_hashes, entry.target.expected_hashes());
        }
        // Each fast block makes the next one harder (about 7% on dev).
        for pair in pace[2..=32].windows(2) {
            assert!(pair[1].expected_hashes >= pair[0].expected_hashes, "{pair:?}");
        }
        assert!(pace[32].expected_hashes >= 4.0 * pace[2].expected_hashes, "{:?}", &pace[32]);
        // Block 32 took 5 s: block 33 is easier.
        assert!(pace[33].expected_hashes < pace[32].expected_hashes);

        let last = chain.recent_pace(3);
        assert_eq!(last, pace[pace.len() - 3..].to_vec(), "the last ones, lowest first");
        assert_eq!(last[0].interval_ms, Some(10), "the first shown still has its parent's time");
        assert!(chain.recent_pace(0).is_empty());
    }

    #[test]
    fn a_reorganisation_shows_the_new_branch() {
        let mut chain = Chain::new(dev());
        let genesis = chain.genesis().hash;
        let old = block_on(genesis, 1, vec![post("old", 1)]);
        chain.submit(old.clone(), NOW).unwrap();
        assert_eq!(chain.recent_pace(10).last().unwrap().hash, old.hash());

        // A longer branch from genesis, its blocks 3 s apart.
        let mut prev = genesis;
        let mut blocks = Vec::new();
        for height in 1..=2 {
            let mut block = block_on(prev, height, vec![post("new", height)]);
            block.header.timestamp_ms = dev().genesis_timestamp_ms + height * 3_000;
            let block = seal(block);
            prev = block.hash();
            blocks.push(block);
        }
        let branch: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
        // As a sync does: the branch's headers showed more work, so its blocks are kept.
        chain.want(branch.iter().copied());
        for block in blocks {
            assert!(matches!(chain.submit(block, NOW).unwrap(), BlockStatus::Stored(_)));
        }
        let pace = chain.recent_pace(10);
        assert_eq!(pace.iter().skip(1).map(|row| row.hash).collect::<Vec<_>>(), branch);
        assert_eq!(pace[1].interval_ms, Some(3_000));
        assert_eq!(pace[2].interval_ms, Some(3_000));
        assert!(pace.iter().all(|row| row.hash != old.hash()));
    }
}
