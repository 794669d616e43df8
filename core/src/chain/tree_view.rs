//! The block tree as a page draws it: every block the node knows in the
//! last `depth` heights — the best chain, the side branches kept for a
//! possible reorg, and orphans waiting for their parent — each with a lane
//! (the best chain is lane 0, every other branch takes the lowest lane free
//! at its heights), so a host draws the tree without walking it. The answer
//! is bounded ([`MAX_TREE_NODES`]): the best chain's blocks first, then the
//! side branches by rank (the one closest to winning first), then orphans,
//! the highest first.

use super::{BlockEntry, Chain};
use crate::block::Block;
use crate::hash::BlockHash;
use crate::target::Work;
use serde::Serialize;
use std::collections::HashSet;

/// Heights a page shows when it asks for no other number.
pub const DEFAULT_TREE_DEPTH: u64 = 50;

/// Most heights one view covers (a larger `depth` is taken as this).
pub const MAX_TREE_DEPTH: u64 = 200;

/// Heights above the best tip a side branch or orphan may claim and still
/// be in the view: few, so the tip stays near the top of the drawing.
pub const TREE_ABOVE_TIP: u64 = 5;

/// Most blocks one view holds, all branches together: the best chain's
/// [`MAX_TREE_DEPTH`] always fit.
pub const MAX_TREE_NODES: usize = 400;

/// Most parent links followed down side branches for one view (branches a
/// sync wants may be long; the view stays cheap enough to ask for at every
/// render).
const MAX_TREE_WALK: usize = 16 * MAX_TREE_NODES;

/// One block of the view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeNode {
    /// Its hash.
    pub hash: BlockHash,
    /// Its parent's hash (for an orphan, the block it waits for).
    pub parent: BlockHash,
    /// Its height (for an orphan, the height its header claims).
    pub height: u64,
    /// On the best chain.
    pub best: bool,
    /// In the orphan pool: valid on its own, its parent unknown.
    pub orphan: bool,
    /// Work of its chain from genesis up to it; `None` for an orphan (its
    /// ancestors are unknown).
    pub chain_work: Option<Work>,
    /// Posts it holds.
    pub post_count: usize,
    /// Its time, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Where to draw it across: 0 for the best chain, 1 and up for the other
    /// branches (two branches share a lane only with a free height between them).
    pub lane: u32,
}

/// The last heights of the tree ([`Chain::tree_view`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeView {
    /// Height of the best tip.
    pub tip_height: u64,
    /// Lowest height shown.
    pub from_height: u64,
    /// Highest height a side branch or orphan may have and be shown
    /// ([`TREE_ABOVE_TIP`] above the tip).
    pub to_height: u64,
    /// The blocks: the best chain tip first, then side branches, then orphans.
    pub nodes: Vec<TreeNode>,
    /// Whether blocks in the window were left out to stay within [`MAX_TREE_NODES`].
    pub truncated: bool,
}

impl Chain {
    /// The blocks of the last `depth` heights (1 to [`MAX_TREE_DEPTH`]):
    /// the best chain's, the side blocks' (down to where they leave the
    /// best chain or the window) and the orphans' whose claimed height is in
    /// the window or up to [`TREE_ABOVE_TIP`] above the tip. See the module docs.
    pub fn tree_view(&self, depth: u64) -> TreeView {
        let depth = depth.clamp(1, MAX_TREE_DEPTH);
        let tip_height = self.height();
        let from_height = (tip_height + 1).saturating_sub(depth);
        let to_height = tip_height.saturating_add(TREE_ABOVE_TIP);
        let mut view = TreeView { tip_height, from_height, to_height, nodes: Vec::new(), truncated: false };
        for height in (from_height..=tip_height).rev() {
            if let Some(entry) = self.best_at(height) {
                view.nodes.push(entry_node(entry, true, 0));
            }
        }
        let mut lanes = Lanes::default();
        for branch in self.side_branches(from_height, to_height) {
            view.add_branch(branch, &mut lanes);
        }
        for branch in self.orphan_branches(from_height, to_height) {
            view.add_branch(branch, &mut lanes);
        }
        view
    }

    /// Side branches in the window, each a run of blocks from a side tip
    /// down to (not including) a best-chain block, a block of a branch
    /// already listed, or the window's floor; the highest-ranked tip first.
    fn side_branches(&self, from: u64, to: u64) -> Vec<Vec<TreeNode>> {
        let mut seen = HashSet::new();
        let mut walked = 0usize;
        let mut branches = Vec::new();
        for &(_, leaf) in self.side_leaves.iter().rev() {
            let mut branch = Vec::new();
            let mut at = Some(leaf);
            while let Some(index) = at {
                let entry = &self.entries[index];
                walked += 1;
                if entry.height() < from || self.on_best(index) || !seen.insert(index) || walked > MAX_TREE_WALK {
                    break;
                }
                if entry.height() <= to {
                    branch.push(entry_node(entry, false, 0));
                }
                at = entry.parent;
            }
            if !branch.is_empty() {
                branches.push(branch);
            }
            if walked > MAX_TREE_WALK {
                break;
            }
        }
        branches
    }

    /// Orphans in the window, in runs that build on each other: from an
    /// orphan no other orphan in the window builds on, down its orphan
    /// parents; the highest run first.
    fn orphan_branches(&self, from: u64, to: u64) -> Vec<Vec<TreeNode>> {
        let mut orphans: Vec<(&BlockHash, &Block)> =
            self.orphans.iter().filter(|(_, block)| (from..=to).contains(&block.header.height)).collect();
        orphans.sort_by(|a, b| b.1.header.height.cmp(&a.1.header.height).then(a.0.cmp(b.0)));
        let in_view: HashSet<&BlockHash> = orphans.iter().map(|(hash, _)| *hash).collect();
        let built_on: HashSet<&BlockHash> = orphans.iter().map(|(_, block)| &block.header.prev_hash).collect();
        let mut seen = HashSet::new();
        let mut branches = Vec::new();
        for &(hash, block) in orphans.iter().filter(|(hash, _)| !built_on.contains(hash)) {
            let mut branch = Vec::new();
            let (mut hash, mut block) = (hash, block);
            while seen.insert(*hash) {
                branch.push(orphan_node(hash, block));
                let parent = &block.header.prev_hash;
                match self.orphans.get(parent) {
                    Some(below) if in_view.contains(parent) => (hash, block) = (parent, below),
                    _ => break,
                }
            }
            branches.push(branch);
        }
        branches
    }
}

impl TreeView {
    /// Adds a branch (highest block first) in a lane of its own, as much of
    /// it as [`MAX_TREE_NODES`] leaves room for.
    fn add_branch(&mut self, mut branch: Vec<TreeNode>, lanes: &mut Lanes) {
        let room = MAX_TREE_NODES.saturating_sub(self.nodes.len());
        if branch.len() > room {
            branch.truncate(room);
            self.truncated = true;
        }
        let (Some(top), Some(bottom)) = (branch.first(), branch.last()) else { return };
        let lane = lanes.take(bottom.height, top.height);
        self.nodes.extend(branch.into_iter().map(|node| TreeNode { lane, ..node }));
    }
}

fn entry_node(entry: &BlockEntry, best: bool, lane: u32) -> TreeNode {
    TreeNode {
        hash: entry.hash,
        parent: entry.header.prev_hash,
        height: entry.height(),
        best,
        orphan: false,
        chain_work: Some(entry.chain_work),
        post_count: entry.post_count,
        timestamp_ms: entry.timestamp_ms(),
        lane,
    }
}

fn orphan_node(hash: &BlockHash, block: &Block) -> TreeNode {
    TreeNode {
        hash: *hash,
        parent: block.header.prev_hash,
        height: block.header.height,
        best: false,
        orphan: true,
        chain_work: None,
        post_count: block.posts.len(),
        timestamp_ms: block.header.timestamp_ms,
        lane: 0,
    }
}

/// Lanes 1 and up for the branches off the best chain: a branch takes the
/// lowest lane where no other branch comes within one height of it (so two
/// branches in one lane never look joined).
#[derive(Default)]
struct Lanes {
    /// Height ranges (lowest, highest) taken in each lane, lane 1 first.
    taken: Vec<Vec<(u64, u64)>>,
}

impl Lanes {
    fn take(&mut self, low: u64, high: u64) -> u32 {
        let apart = |&(a, b): &(u64, u64)| high.saturating_add(1) < a || b.saturating_add(1) < low;
        let free = self.taken.iter().position(|ranges| ranges.iter().all(apart));
        let lane = free.unwrap_or_else(|| {
            self.taken.push(Vec::new());
            self.taken.len() - 1
        });
        self.taken[lane].push((low, high));
        lane as u32 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::BlockStatus;
    use crate::testkit::{NOW, block_on, dev, dev_chain, fake_hash, post};

    /// A chain of `count` dev blocks.
    fn chain_of(count: u64) -> Chain {
        let mut chain = Chain::new(dev());
        for block in dev_chain(count) {
            chain.submit(block, NOW).unwrap();
        }
        chain
    }

    /// `count` blocks on the best block at `height`, each with a post tagged `tag`.
    fn branch_on(chain: &Chain, height: u64, count: u64, tag: u64) -> Vec<Block> {
        let mut parent = chain.best_at(height).unwrap().hash;
        (1..=count)
            .map(|n| {
                let block = block_on(parent, height + n, vec![post("branch", tag * 1_000 + n)]);
                parent = block.hash();
                block
            })
            .collect()
    }

    fn node<'a>(view: &'a TreeView, hash: &BlockHash) -> &'a TreeNode {
        view.nodes.iter().find(|n| n.hash == *hash).expect("in the view")
    }

    #[test]
    fn the_best_chain_tip_first_in_lane_zero() {
        let chain = chain_of(5);
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        assert_eq!((view.tip_height, view.from_height, view.to_height), (5, 0, 5 + TREE_ABOVE_TIP));
        let heights: Vec<u64> = view.nodes.iter().map(|n| n.height).collect();
        assert_eq!(heights, vec![5, 4, 3, 2, 1, 0]);
        assert!(view.nodes.iter().all(|n| n.best && !n.orphan && n.lane == 0 && n.chain_work.is_some()));
        assert_eq!(view.nodes[0].hash, chain.tip().hash);
        assert_eq!(view.nodes[0].parent, chain.best_at(4).unwrap().hash);
        assert_eq!(view.nodes[0].post_count, 1);
        assert!(!view.truncated);
    }

    #[test]
    fn a_fork_is_a_side_branch_in_its_own_lane() {
        let mut chain = chain_of(8);
        // Kept whatever their rank (as a restore or a sync would keep them).
        let side = branch_on(&chain, 3, 2, 1);
        for block in &side {
            assert!(matches!(chain.submit_kept(block.clone(), NOW).unwrap(), BlockStatus::Stored(_)));
        }
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        assert_eq!(view.nodes.len(), 9 + 2);
        for block in &side {
            let n = node(&view, &block.hash());
            assert!(!n.best && !n.orphan);
            assert_eq!(n.lane, 1);
        }
        assert_eq!(node(&view, &side[0].hash()).parent, chain.best_at(3).unwrap().hash);
        // A second branch at the same heights takes the next lane; one a
        // free height above shares lane 1, one right above would not.
        let twin = branch_on(&chain, 3, 1, 2);
        let apart = branch_on(&chain, 6, 1, 3);
        let close = branch_on(&chain, 5, 1, 4);
        for block in twin.iter().chain(&apart).chain(&close) {
            chain.submit_kept(block.clone(), NOW).unwrap();
        }
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        let lane = |block: &Block| node(&view, &block.hash()).lane;
        assert_eq!((lane(&side[0]), lane(&twin[0]), lane(&apart[0])), (1, 2, 1));
        assert_eq!(lane(&close[0]), 2, "height 6: next to lane 1's 4-5 and 7, clear of lane 2's 4");
        assert!(view.nodes.iter().all(|n| n.best == (n.lane == 0)));
    }

    #[test]
    fn after_a_reorg_the_old_blocks_are_a_side_branch() {
        let mut chain = chain_of(5);
        let old: Vec<BlockHash> = (3..=5).map(|h| chain.best_at(h).unwrap().hash).collect();
        let longer = branch_on(&chain, 2, 4, 4);
        // A sync checked its headers: its blocks are kept as they come.
        chain.want(longer.iter().map(Block::hash));
        let mut reorg = None;
        for block in &longer {
            if let BlockStatus::Stored(stored) = chain.submit(block.clone(), NOW).unwrap() {
                reorg = reorg.or(stored.tip_change.filter(|c| c.is_reorg()));
            }
        }
        let change = reorg.expect("the longer branch wins");
        assert_eq!(change.fork_height, 2);
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        assert_eq!(view.tip_height, 6);
        for hash in &old {
            let n = node(&view, hash);
            assert!(!n.best && n.lane == 1, "{n:?}");
        }
        for block in &longer {
            assert!(node(&view, &block.hash()).best);
        }
        assert_eq!(view.nodes.len(), 7 + 3);
    }

    #[test]
    fn orphans_are_shown_in_runs_with_their_claimed_height() {
        let mut chain = chain_of(4);
        let missing = fake_hash("never sent");
        let first = block_on(missing, 6, vec![post("o", 1)]);
        let second = block_on(first.hash(), 7, vec![post("o", 2)]);
        let lone = block_on(fake_hash("also never sent"), 5, vec![post("o", 3)]);
        for block in [&second, &first, &lone] {
            assert!(matches!(chain.submit(block.clone(), NOW).unwrap(), BlockStatus::Orphan { .. }));
        }
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        let (a, b, c) = (node(&view, &first.hash()), node(&view, &second.hash()), node(&view, &lone.hash()));
        assert!(a.orphan && b.orphan && c.orphan && !a.best);
        assert_eq!((a.height, b.height, c.height), (6, 7, 5));
        assert_eq!(a.parent, missing);
        assert_eq!(a.chain_work, None);
        assert_eq!(a.lane, b.lane, "an orphan on an orphan continues its lane");
        assert_ne!(a.lane, c.lane, "heights 6-7 and 5 are adjacent");
        // An orphan claiming a height far above the tip is not in the view.
        let far = block_on(fake_hash("far"), 4 + TREE_ABOVE_TIP + 1, vec![post("o", 4)]);
        chain.submit(far.clone(), NOW).unwrap();
        assert_eq!(chain.orphan_count(), 4);
        assert!(chain.tree_view(DEFAULT_TREE_DEPTH).nodes.iter().all(|n| n.hash != far.hash()));
    }

    #[test]
    fn the_window_cuts_old_heights_and_branches_below_it() {
        let mut chain = chain_of(80);
        let old_side = branch_on(&chain, 10, 2, 5);
        let cut_side = branch_on(&chain, 28, 4, 6);
        for block in old_side.iter().chain(&cut_side) {
            chain.submit_kept(block.clone(), NOW).unwrap();
        }
        let view = chain.tree_view(50);
        assert_eq!(view.from_height, 31);
        assert_eq!(view.nodes.iter().filter(|n| n.best).count(), 50);
        assert!(view.nodes.iter().all(|n| n.height >= 31));
        // Heights 29-32 of the cut branch: only 31 and 32 are in the window.
        let side: Vec<u64> = view.nodes.iter().filter(|n| !n.best).map(|n| n.height).collect();
        assert_eq!(side, vec![32, 31]);
        // Depth is bounded both ways.
        assert_eq!(chain.tree_view(0).nodes.len(), 1);
        assert_eq!(chain.tree_view(u64::MAX).from_height, 0);
        assert_eq!(chain_of(300).tree_view(u64::MAX).nodes.len(), MAX_TREE_DEPTH as usize);
    }

    #[test]
    fn the_view_stays_within_its_node_cap() {
        let mut chain = chain_of(3);
        for n in 0..(MAX_TREE_NODES as u64) {
            let block = block_on(fake_hash(&format!("missing {n}")), 2 + n % 3, vec![post("o", 10 + n)]);
            chain.submit(block, NOW).unwrap();
        }
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        // The orphan pool holds 256: all shown, nothing cut yet.
        assert_eq!(view.nodes.len(), 4 + dev().max_orphans);
        assert!(!view.truncated);
        let mut params = dev();
        params.max_orphans = 2 * MAX_TREE_NODES;
        let mut chain = Chain::new(params);
        for n in 0..(MAX_TREE_NODES as u64) {
            chain.submit(block_on(fake_hash(&format!("missing {n}")), 1, vec![post("o", 10 + n)]), NOW).unwrap();
        }
        let view = chain.tree_view(DEFAULT_TREE_DEPTH);
        assert_eq!(view.nodes.len(), MAX_TREE_NODES);
        assert!(view.truncated);
        assert_eq!(view.nodes[0].hash, chain.genesis().hash);
    }
}
