//! One test per block rule: each builds a block that breaks exactly that rule.

use tabchain_core::block::Block;
use tabchain_core::chain::BlockStatus;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::{Post, PostError};
use tabchain_core::state::ChainState;
use tabchain_core::target::{CompactTarget, TargetError};
use tabchain_core::testkit::*;
use tabchain_core::validate::{BlockError, check_block_structure};

fn reject(node: &mut ChainState, block: Block) -> BlockError {
    let tip = node.chain().tip().hash;
    let err = node.submit_block(block, NOW).expect_err("block must be rejected");
    assert_eq!(node.chain().tip().hash, tip, "a rejected block changed the tip");
    err
}

/// A sealed block on the tip with the given posts.
fn block_with(node: &ChainState, posts: Vec<Post>) -> Block {
    let mut b = next_block(node);
    b.posts = posts;
    seal(b)
}

#[test]
fn valid_block_is_stored() {
    let mut node = dev_node();
    let b = block_with(&node, vec![post("a", 1)]);
    assert!(matches!(node.submit_block(b.clone(), NOW), Ok(BlockStatus::Stored(_))));
    assert_eq!(node.chain().height(), 1);
    assert_eq!(node.submit_block(b, NOW), Ok(BlockStatus::Duplicate));
}

#[test]
fn bad_version() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    b.header.version = 2;
    assert_eq!(reject(&mut node, seal(b)), BlockError::BadVersion(2));
}

#[test]
fn too_large() {
    let mut node = ChainState::new(Params { max_block_bytes: 150, ..dev() });
    let b = block_with(&node, vec![post("a", 1), post("b", 2), post("c", 3)]);
    assert!(matches!(reject(&mut node, b), BlockError::TooLarge { max: 150, .. }));
}

#[test]
fn too_many_posts() {
    let mut node = ChainState::new(Params { max_block_posts: 2, ..dev() });
    let b = block_with(&node, vec![post("a", 1), post("b", 2), post("c", 3)]);
    assert_eq!(reject(&mut node, b), BlockError::TooManyPosts { count: 3, max: 2 });
}

#[test]
fn undecodable_target() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    b.header.bits = CompactTarget(0x0480_0001);
    assert_eq!(reject(&mut node, b), BlockError::BadTarget(TargetError::Negative(0x0480_0001)));
}

#[test]
fn target_easier_than_allowed() {
    let mut node = ChainState::new(Params::for_network(Network::Main));
    let mut b = node.block_template(NOW);
    b.header.bits = CompactTarget(0x207f_ffff);
    let b = seal(b);
    assert!(matches!(reject(&mut node, b), BlockError::TargetTooEasy { .. }));
}

#[test]
fn insufficient_proof_of_work() {
    let mut node = ChainState::new(Params::for_network(Network::Main));
    let mut b = node.block_template(NOW);
    // Find a nonce that misses main's target (nearly all do).
    while b.header.bits.to_target().unwrap().is_met_by(&b.hash()) {
        b.header.nonce += 1;
    }
    assert!(matches!(reject(&mut node, b), BlockError::InsufficientProofOfWork { .. }));
}

#[test]
fn merkle_root_mismatch() {
    let mut node = dev_node();
    let mut b = block_with(&node, vec![post("a", 1)]);
    b.posts[0].content = "edited after sealing".into();
    // Re-solve the header only, keeping the stale root.
    b.header = tabchain_core::mining::solve(&b.header, 1 << 20).unwrap().unwrap();
    assert!(matches!(reject(&mut node, b), BlockError::MerkleRootMismatch { .. }));
}

#[test]
fn invalid_post() {
    let mut node = dev_node();
    let bad = Post { content: String::new(), ..post("a", 2) };
    let b = block_with(&node, vec![post("a", 1), bad]);
    let expected = BlockError::InvalidPost { index: 1, error: PostError::ContentEmpty };
    assert_eq!(check_block_structure(&Params::for_network(Network::Dev), &b), Err(expected.clone()));
    assert_eq!(reject(&mut node, b), expected);
}

#[test]
fn invalid_signature_in_block() {
    let mut node = dev_node();
    let mut signed =
        Post::new_signed("a", "signed", dev().genesis_timestamp_ms + 10, &[3; 32], &dev_chain_id()).unwrap();
    signed.content = "forged".into();
    let signed = stamped(signed);
    let b = block_with(&node, vec![signed]);
    // The relay's cheap check leaves signatures to the nodes.
    assert!(check_block_structure(&Params::for_network(Network::Dev), &b).is_ok());
    assert_eq!(reject(&mut node, b), BlockError::InvalidPost { index: 0, error: PostError::BadSignature });
}

#[test]
fn duplicate_post_in_block() {
    let mut node = dev_node();
    let p = post("a", 1);
    let b = block_with(&node, vec![p.clone(), p.clone()]);
    assert_eq!(reject(&mut node, b), BlockError::DuplicatePostInBlock(p.txid()));
}

#[test]
fn bad_height() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    b.header.height = 5;
    assert_eq!(reject(&mut node, seal(b)), BlockError::BadHeight { expected: 1, got: 5 });
}

#[test]
fn wrong_target() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    b.header.bits = CompactTarget(0x2000_ffff);
    let err = reject(&mut node, seal(b));
    assert_eq!(err, BlockError::WrongTarget { expected: CompactTarget(0x207f_ffff), got: CompactTarget(0x2000_ffff) });
}

#[test]
fn wrong_target_after_fast_blocks() {
    // Blocks one millisecond apart make the rule demand a harder target than easiest.
    let mut node = dev_node();
    let mut t = node.chain().tip().timestamp_ms();
    for _ in 0..3 {
        t += 1;
        let mut b = node.block_template(t);
        b.header.timestamp_ms = t;
        node.submit_block(seal(b), NOW).unwrap();
    }
    let mut b = node.block_template(t + 1);
    let required = b.header.bits;
    assert_ne!(required, CompactTarget(0x207f_ffff));
    b.header.bits = CompactTarget(0x207f_ffff);
    assert_eq!(
        reject(&mut node, seal(b)),
        BlockError::WrongTarget { expected: required, got: CompactTarget(0x207f_ffff) }
    );
}

#[test]
fn timestamp_not_after_median_time_past() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    b.header.timestamp_ms = node.chain().genesis().timestamp_ms();
    assert!(matches!(reject(&mut node, seal(b)), BlockError::TimestampTooOld { .. }));
}

#[test]
fn timestamp_too_far_ahead() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    b.header.timestamp_ms = NOW + node.params().max_future_drift_ms + 1;
    assert!(matches!(reject(&mut node, seal(b)), BlockError::TimestampTooFarAhead { .. }));
    // Exactly at the drift limit is fine.
    let mut ok = next_block(&node);
    ok.header.timestamp_ms = NOW + node.params().max_future_drift_ms;
    assert!(node.submit_block(seal(ok), NOW).is_ok());
}

#[test]
fn duplicate_post_on_branch() {
    let mut node = dev_node();
    let p = post("a", 1);
    let first = block_with(&node, vec![p.clone()]);
    node.submit_block(first, NOW).unwrap();
    let again = block_with(&node, vec![p.clone()]);
    assert_eq!(reject(&mut node, again), BlockError::DuplicatePostOnBranch(p.txid()));
}

#[test]
fn same_post_allowed_on_competing_branches() {
    let mut node = dev_node();
    let p = post("a", 1);
    let a = block_with(&node, vec![p.clone()]);
    let mut b = next_block(&node);
    b.header.timestamp_ms += 1;
    b.posts = vec![p.clone()];
    let b = seal(b);
    node.submit_block(a, NOW).unwrap();
    // Kept whatever its rank (a sync that wants it): the same post is fine on another branch.
    assert!(matches!(node.submit_kept_block(b, NOW), Ok(BlockStatus::Stored(_))));
    assert_eq!(node.chain().block_count(), 3);
}

#[test]
fn duplicate_post_on_side_branch_is_caught() {
    // Side branch: genesis <- s1 (has p) <- s2 (has p again) must fail even
    // though p is not on the best chain.
    let mut node = dev_node();
    mine(&mut node, 2); // best chain: g, 1, 2
    let p = post("side", 9);
    let genesis_child_time = node.chain().genesis().timestamp_ms() + 500;
    let mut side = ChainState::new(dev());
    let mut s1 = side.block_template(genesis_child_time);
    s1.posts = vec![p.clone()];
    let s1 = seal(s1);
    side.submit_block(s1.clone(), NOW).unwrap();
    let mut s2 = next_block(&side);
    s2.posts = vec![p.clone()];
    let s2 = seal(s2);
    node.submit_kept_block(s1, NOW).unwrap();
    let tip = node.chain().tip().hash;
    assert_eq!(node.submit_kept_block(s2, NOW), Err(BlockError::DuplicatePostOnBranch(p.txid())));
    assert_eq!(node.chain().tip().hash, tip);
}

#[test]
fn posts_outside_the_blocks_window() {
    let mut node = dev_node();
    let mut b = next_block(&node);
    let block_ms = b.header.timestamp_ms;
    let params = dev();
    let at = |ms: u64| stamped(Post::new("a", "when", ms).unwrap());
    // The edges are inside.
    let earliest = block_ms - params.post_window_ms;
    let latest = block_ms + params.max_future_drift_ms;
    for ms in [earliest, latest] {
        b.posts = vec![at(ms)];
        assert!(check_block_structure(&params, &seal(b.clone())).is_ok(), "{ms}");
    }
    for ms in [earliest - 1, latest + 1] {
        b.posts = vec![post("a", 1), at(ms)];
        let expected =
            BlockError::PostOutsideWindow { index: 1, post_ms: ms, earliest_ms: earliest, latest_ms: latest };
        let _ = block_ms;
        assert_eq!(reject(&mut node, seal(b.clone())), expected);
    }
}

#[test]
fn an_unstamped_or_cheap_post_makes_the_block_invalid() {
    let mut node = dev_node();
    let unstamped = Post::new("a", "free ride", dev().genesis_timestamp_ms + 5).unwrap();
    let b = block_with(&node, vec![post("a", 1), unstamped]);
    assert!(matches!(reject(&mut node, b), BlockError::InvalidPost { index: 1, error: PostError::Stamp(_) }));
}

#[test]
fn a_post_cannot_be_mined_twice_within_the_window_on_any_branch() {
    let mut node = dev_node();
    let p = post("a", 1);
    let first = block_with(&node, vec![p.clone()]);
    node.submit_block(first, NOW).unwrap();
    mine(&mut node, 3);
    // Again on the tip: refused.
    let again = block_with(&node, vec![p.clone()]);
    assert_eq!(reject(&mut node, again), BlockError::DuplicatePostOnBranch(p.txid()));
    // On a side branch forking after the first block: refused too.
    let fork_parent = node.chain().best_at(2).unwrap().block().unwrap().as_ref().clone();
    let mut side = block_on(fork_parent.hash(), 3, vec![p.clone()]);
    side.header.timestamp_ms = fork_parent.header.timestamp_ms + 500;
    side.header.bits = node.chain().best_at(3).unwrap().header.bits;
    let side = seal(side);
    assert_eq!(node.submit_kept_block(side, NOW), Err(BlockError::DuplicatePostOnBranch(p.txid())));
    // On a branch from genesis that does not hold it: fine.
    let genesis = node.chain().genesis().hash;
    let mut other = block_on(genesis, 1, vec![p.clone()]);
    other.header.timestamp_ms += 7;
    assert!(matches!(node.submit_kept_block(seal(other), NOW), Ok(BlockStatus::Stored(_))));
}

#[test]
fn the_duplicate_index_holds_the_window_not_the_chain() {
    // Blocks a minute apart, one post each: the index keeps about an hour's worth.
    let params = dev();
    let mut node = ChainState::new(params.clone());
    let mut time = params.genesis_timestamp_ms;
    let now = time + 10 * 3_600_000;
    for n in 0..300u64 {
        time += 60_000;
        let post = stamped(Post::new("a", &format!("minute {n}"), time).unwrap());
        node.submit_post(post, time).unwrap();
        let block = seal(node.block_template(time));
        assert_eq!(block.posts.len(), 1);
        node.submit_block(block, now).unwrap();
    }
    let window_blocks = (params.post_window_ms + params.max_future_drift_ms) / 60_000;
    let indexed = node.chain().indexed_post_count() as u64;
    assert!(indexed <= window_blocks + 12, "{indexed} posts indexed for a window of {window_blocks} blocks");
    assert!(indexed >= window_blocks - 12, "{indexed}");
}
