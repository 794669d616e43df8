//! Multi-node scenarios: sync by locator, reorgs and the mempool, orphans, retarget.

use tabchain_core::chain::BlockStatus;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::PostError;
use tabchain_core::retarget::next_target;
use tabchain_core::state::ChainState;
use tabchain_core::target::Target;
use tabchain_core::testkit::*;

/// Pulls pages of at most `page` blocks from `from` into `to` until `to` has
/// nothing left to fetch: the first request carries the best-tip locator, the
/// next ones the locator of the last block received. Returns the number of
/// pages. (Blocks are kept whatever their rank, as the driver's sync keeps
/// blocks of a header chain it checked to outrank its own.)
fn sync(to: &mut ChainState, from: &ChainState, page: usize) -> usize {
    let mut pages = 0;
    let mut last = None;
    loop {
        let locator = match last {
            None => to.locator(),
            Some(hash) => to.locator_from(&hash).expect("received block is stored"),
        };
        let blocks = from.blocks_after(&locator, page, 1 << 20);
        if blocks.is_empty() {
            return pages;
        }
        pages += 1;
        let fetched = blocks.len();
        last = blocks.last().map(|b| b.hash());
        for b in blocks {
            let status = to.submit_kept_block((*b).clone(), NOW).expect("peer blocks are valid");
            assert!(!matches!(status, BlockStatus::Orphan { .. }), "pages arrive in order");
        }
        if fetched < page {
            return pages;
        }
    }
}

/// Mines with a time offset so two nodes never produce the same block.
fn mine_offset(node: &mut ChainState, n: usize, offset: u64, author: &str) {
    for i in 0..n {
        node.submit_post(post(author, i as u64), NOW).unwrap();
        let tip_time = node.chain().tip().timestamp_ms();
        let t = tip_time + node.params().target_block_interval_ms + offset;
        let mut b = node.block_template(t);
        b.header.timestamp_ms = t;
        node.submit_block(seal(b), NOW).unwrap();
    }
}

#[test]
fn two_nodes_mine_apart_then_sync_and_converge() {
    let mut a = dev_node();
    let mut b = dev_node();
    mine_offset(&mut a, 5, 0, "alice");
    mine_offset(&mut b, 8, 7, "bob");
    assert_ne!(a.chain().tip().hash, b.chain().tip().hash);

    // A is behind in work: it fetches B's branch in pages of 3 and reorganises.
    let pages = sync(&mut a, &b, 3);
    assert_eq!(pages, 3);
    assert_eq!(a.chain().tip().hash, b.chain().tip().hash);
    assert_eq!(a.chain().height(), 8);
    // Alice's five posts left the best chain and wait in A's mempool again.
    assert_eq!(a.mempool().len(), 5);

    // A mines them; B fetches only the one new block.
    let before = b.chain().block_count();
    mine(&mut a, 1);
    assert_eq!(sync(&mut b, &a, 3), 1);
    assert_eq!(b.chain().block_count(), before + 1);
    assert_eq!(a.chain().tip().hash, b.chain().tip().hash);
    assert_eq!(a.mempool().len(), 0);
    assert_eq!(sync(&mut b, &a, 3), 0, "nothing left to fetch");
}

#[test]
fn reorg_returns_blocks_and_restores_mempool() {
    let mut node = dev_node();
    let mut rival = dev_node();
    let p1 = post("a", 1);
    let p2 = post("a", 2);
    node.submit_post(p1.clone(), NOW).unwrap();
    node.submit_post(p2.clone(), NOW).unwrap();
    let ours = mine(&mut node, 1);
    assert!(node.mempool().is_empty());
    assert_eq!(node.chain().confirmed_height(&p1.txid()), Some(1));

    // The rival branch confirms p2 only, and is longer.
    rival.submit_post(p2.clone(), NOW).unwrap();
    mine_offset(&mut rival, 2, 3, "r");
    let rival_blocks: Vec<_> =
        rival.chain().best_chain().skip(1).map(|e| e.block().unwrap().as_ref().clone()).collect();
    let BlockStatus::Stored(first) = node.submit_block(rival_blocks[0].clone(), NOW).unwrap() else {
        panic!("stored");
    };
    // Equal work: the lower hash is best.
    let rival_is_lower = rival_blocks[0].hash() < ours[0].hash();
    assert_eq!(first.tip_change.is_some(), rival_is_lower);
    let BlockStatus::Stored(stored) = node.submit_block(rival_blocks[1].clone(), NOW).unwrap() else {
        panic!("stored");
    };
    // The whole move from our block to the rival branch, in one change or two.
    let change = match first.tip_change {
        Some(mut change) => {
            let second = stored.tip_change.expect("growth");
            assert!(!second.is_reorg());
            change.connected.extend(second.connected);
            change
        }
        None => stored.tip_change.expect("reorg"),
    };
    assert!(change.is_reorg());
    assert_eq!(change.fork_height, 0);
    assert_eq!(change.disconnected.clone(), vec![ours[0].hash()]);
    assert_eq!(change.connected.clone(), rival_blocks.iter().map(|b| b.hash()).collect::<Vec<_>>());
    // p1 is pending again; p2 is confirmed on the new branch, so not pending.
    assert!(node.mempool().contains(&p1.txid()));
    assert!(!node.mempool().contains(&p2.txid()));
    assert_eq!(node.chain().confirmed_height(&p1.txid()), None);
    assert!(node.chain().confirmed_height(&p2.txid()).is_some());
}

#[test]
fn children_before_parents_connect_when_the_parent_arrives() {
    let mut miner = dev_node();
    let blocks = mine(&mut miner, 20);
    let mut node = dev_node();
    for b in blocks.iter().skip(1).rev() {
        let status = node.submit_block(b.clone(), NOW).unwrap();
        assert!(matches!(status, BlockStatus::Orphan { .. }));
    }
    assert_eq!(node.chain().orphan_count(), 19);
    assert_eq!(node.chain().height(), 0);
    let BlockStatus::Stored(stored) = node.submit_block(blocks[0].clone(), NOW).unwrap() else {
        panic!("stored");
    };
    assert_eq!(stored.hashes.len(), 20);
    assert_eq!(node.chain().height(), 20);
    assert_eq!(node.chain().orphan_count(), 0);
    assert_eq!(stored.tip_change.unwrap().connected.len(), 20);
}

#[test]
fn orphan_pool_is_bounded() {
    let mut miner = dev_node();
    let blocks = mine(&mut miner, 12);
    let mut node = ChainState::new(Params { max_orphans: 5, ..dev() });
    for b in blocks.iter().skip(1) {
        node.submit_block(b.clone(), NOW).unwrap();
    }
    assert_eq!(node.chain().orphan_count(), 5);
    // The newest five stayed; the parent of the oldest kept one never arrives,
    // so only block 1 connects.
    node.submit_block(blocks[0].clone(), NOW).unwrap();
    assert_eq!(node.chain().height(), 1);
}

#[test]
fn locator_is_dense_then_exponential_and_pages_respect_limits() {
    let mut node = dev_node();
    mine(&mut node, 100);
    let loc = node.locator();
    let heights: Vec<u64> = loc.iter().map(|h| node.chain().get(h).unwrap().height()).collect();
    assert_eq!(&heights[..10], &[100, 99, 98, 97, 96, 95, 94, 93, 92, 91]);
    assert_eq!(&heights[10..], &[89, 85, 77, 61, 29, 0]);
    // From a block on a side branch: its own ancestors, then the shared chain.
    let mut side = dev_node();
    for e in node.chain().best_chain().skip(1).take(50) {
        side.submit_block(e.block().unwrap().as_ref().clone(), NOW).unwrap();
    }
    mine_offset(&mut side, 3, 5, "side");
    let side_tip = side.chain().tip().hash;
    for e in side.chain().best_chain().skip(51) {
        node.submit_kept_block(e.block().unwrap().as_ref().clone(), NOW).unwrap();
    }
    let from_side = node.locator_from(&side_tip).unwrap();
    assert_eq!(from_side, side.locator());
    assert_eq!(node.locator_from(&tabchain_core::hash::BlockHash::ZERO), None);

    // A peer at height 40 of the same chain gets blocks 41.. in pages.
    let mut peer = dev_node();
    for e in node.chain().best_chain().skip(1).take(40) {
        peer.submit_block(e.block().unwrap().as_ref().clone(), NOW).unwrap();
    }
    let page = node.blocks_after(&peer.locator(), 25, 1 << 20);
    assert_eq!(page.len(), 25);
    assert_eq!(page[0].header.height, 41);
    // The byte budget stops a page early but always returns at least one block.
    let one = node.blocks_after(&peer.locator(), 25, 1);
    assert_eq!(one.len(), 1);
    // Unknown locator hashes fall back to genesis.
    let all = node.blocks_after(&[tabchain_core::hash::BlockHash::from_bytes([7; 32])], 500, 1 << 30);
    assert_eq!(all.len(), 100);
}

#[test]
fn mempool_rejects_confirmed_duplicate_and_future_posts() {
    use tabchain_core::state::PostRejected;
    let mut node = dev_node();
    let p = post("a", 1);
    node.submit_post(p.clone(), NOW).unwrap();
    assert!(matches!(node.submit_post(p.clone(), NOW), Err(PostRejected::Mempool(_))));
    mine(&mut node, 1);
    assert!(matches!(node.submit_post(p.clone(), NOW), Err(PostRejected::AlreadyConfirmed { height: 1, .. })));
    let future = stamped(tabchain_core::post::Post::new("a", "later", NOW + 10 * 3_600_000).unwrap());
    assert!(matches!(node.submit_post(future, NOW), Err(PostRejected::FromTheFuture { .. })));
    let old = stamped(tabchain_core::post::Post::new("a", "earlier", NOW - 3_600_001).unwrap());
    assert!(matches!(node.submit_post(old, NOW), Err(PostRejected::TooOld { .. })));
    let empty = tabchain_core::post::Post { content: " ".into(), ..post("a", 2) };
    assert!(matches!(node.submit_post(empty, NOW), Err(PostRejected::Invalid(_))));
    let unstamped = tabchain_core::post::Post::new("a", "free", NOW).unwrap();
    assert!(matches!(node.submit_post(unstamped, NOW), Err(PostRejected::Invalid(PostError::Stamp(_)))));
}

/// Deterministic uniform (0, 1] from xorshift64*.
struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// Simulates `blocks` blocks at `hashrate` hashes/ms; returns solve times and targets.
fn simulate(params: &Params, hashrate: f64, blocks: usize) -> (Vec<f64>, Vec<Target>) {
    let rp = params.retarget();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut target = params.genesis_bits.to_target().unwrap();
    let mut times = Vec::new();
    let mut targets = Vec::new();
    for _ in 0..blocks {
        let solve_ms = -rng.unit().ln() * target.expected_hashes() / hashrate;
        times.push(solve_ms);
        targets.push(target);
        // As the chain does it: the next target is rounded to compact form.
        target = next_target(&rp, target, solve_ms as i64).to_compact().to_target().unwrap();
    }
    (times, targets)
}

#[test]
fn retarget_drives_block_times_to_the_interval() {
    let params = Params::for_network(Network::Main);
    let genesis_hashes = params.genesis_bits.to_target().unwrap().expected_hashes();
    for speedup in [4.0, 50.0, 1000.0] {
        // Hashrate that would solve genesis-difficulty blocks `speedup` times too fast.
        let hashrate = speedup * genesis_hashes / params.target_block_interval_ms as f64;
        let (times, _) = simulate(&params, hashrate, 3000);
        let tail = &times[2000..];
        let mean = tail.iter().sum::<f64>() / tail.len() as f64;
        let interval = params.target_block_interval_ms as f64;
        assert!((mean - interval).abs() < 0.1 * interval, "speedup {speedup}: mean {mean} ms");
    }
}

#[test]
fn retarget_never_passes_the_easiest_target() {
    let params = Params::for_network(Network::Main);
    let easiest = params.easiest_target();
    let genesis_hashes = easiest.expected_hashes();
    // A tenth of the hashrate the easiest target is made for: blocks stay slow
    // and the target stays pinned at the easiest.
    let hashrate = 0.1 * genesis_hashes / params.target_block_interval_ms as f64;
    let (_, targets) = simulate(&params, hashrate, 500);
    assert!(targets.iter().all(|t| *t <= easiest));
    assert!(targets[100..].iter().filter(|t| **t == easiest).count() > 350);
}

#[test]
fn a_full_sync_page_of_worst_case_blocks_fits_one_message() {
    use tabchain_core::block::Block;
    use tabchain_core::chain::SYNC_PAGE_BYTES;
    use tabchain_core::post::Post;
    use tabchain_core::wire::{Envelope, MAX_MESSAGE_BYTES, Message, encode};
    // Tiny posts of quote characters: the JSON view's worst expansion.
    let stamp = tabchain_core::stamp::Stamp { bits: tabchain_core::target::CompactTarget(u32::MAX), nonce: u64::MAX };
    let post =
        Post { author: "\"".into(), content: "\\".into(), timestamp_ms: 1_795_564_800_123, signature: None, stamp };
    let template = dev_node().block_template(NOW);
    let block = Block { posts: vec![post; dev().max_block_posts], ..template };
    let mut page = Vec::new();
    let mut bytes = 0;
    // The same rule as Chain::blocks_after: stop before passing the budget.
    while bytes + block.encoded_len() <= SYNC_PAGE_BYTES {
        bytes += block.encoded_len();
        page.push(block.clone());
    }
    let text = encode(&Envelope::broadcast(Message::Blocks { blocks: page })).expect("page fits a message");
    assert!(text.len() <= MAX_MESSAGE_BYTES);
    println!("{bytes} encoded bytes -> {} JSON bytes ({:.2}x)", text.len(), text.len() as f64 / bytes as f64);
}
