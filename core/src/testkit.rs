//! The test kit: what tests and benchmarks across the workspace need to build
//! dev-network chains, blocks and posts quickly and the same way everywhere.
//!
//! Compiled for core's own unit tests and, with the `test-util` feature, for
//! other crates' tests and benchmarks (`[dev-dependencies] tabchain-core =
//! { workspace = true, features = ["test-util"] }`); never in a release build of
//! the page or the node. Everything here panics with a clear message instead of
//! returning errors: a helper that cannot do its job is a broken test.
//!
//! Blocks are built on the dev network, whose easiest target is met by about
//! every other hash, so sealing one takes a few hashes.

#![warn(missing_docs)]

use crate::block::Block;
use crate::driver::{Change, Driver};
use crate::hash::{BlockHash, sha256};
use crate::header::{BlockHeader, HEADER_VERSION};
use crate::merkle::merkle_root;
use crate::mining::solve;
use crate::params::{Network, Params};
use crate::post::Post;
use crate::stamp::stamp_post;
use crate::state::ChainState;
use crate::target::{CompactTarget, Work};

/// The genesis time of both networks (2026-11-25T00:00:00Z), in milliseconds;
/// the kit's posts are stamped a few milliseconds after it.
const GENESIS_TIME_MS: u64 = 1_795_564_800_000;

/// A clock an hour after genesis, for every `now_ms` argument a test does
/// not care about: the kit's posts (stamped just after genesis) are still in
/// the post window, and blocks one second apart reach it only after 3,600
/// blocks, so no test block is "from the future".
pub const NOW: u64 = GENESIS_TIME_MS + 3_600_000;

/// Most hashes [`seal`] and [`seal_header`] try (dev targets need a few).
const MAX_HASHES: u64 = 1 << 24;

/// The secret key [`signed_post`] signs with.
pub const TEST_KEY: [u8; 32] = [7; 32];

/// Dev-network parameters.
pub fn dev() -> Params {
    Params::for_network(Network::Dev)
}

/// A dev-network chain state at genesis.
pub fn dev_node() -> ChainState {
    ChainState::new(dev())
}

/// The dev network's chain id (its genesis hash).
pub fn dev_chain_id() -> BlockHash {
    dev().chain_id()
}

/// Re-computes the block's Merkle root from its posts and finds a nonce
/// meeting its `bits` (everything else in the header is kept).
pub fn seal(mut block: Block) -> Block {
    block.header.merkle_root = merkle_root(&block.txids());
    seal_header(block)
}

/// Finds a nonce meeting the block's own `bits`, keeping everything else,
/// the Merkle root included (so a test can seal a block whose root is wrong).
pub fn seal_header(mut block: Block) -> Block {
    block.header = solve(&block.header, MAX_HASHES).expect("valid target").expect("a nonce within 2^24 hashes");
    block
}

/// The state's block template on its tip (its pending posts included),
/// stamped one target interval after the tip, sealed.
pub fn next_block(state: &ChainState) -> Block {
    let tip_time = state.chain().tip().timestamp_ms();
    let interval = state.params().target_block_interval_ms;
    let mut block = state.block_template(tip_time + interval);
    block.header.timestamp_ms = tip_time + interval;
    seal(block)
}

/// The driver's mining template (its pending posts included), stamped one
/// target interval plus `offset_ms` after the tip and sealed: what its miner
/// would find. (Different offsets give different blocks on the same tip.)
pub fn next_mined_block(driver: &mut Driver, offset_ms: u64) -> Block {
    let time = driver.state().chain().tip().timestamp_ms() + driver.params().target_block_interval_ms + offset_ms;
    let mut block = driver.template(time);
    block.header.timestamp_ms = time;
    seal(block)
}

/// The change that keeps `block` ([`Change::Block`]), as a host gets it.
pub fn block_change(block: &Block) -> Change {
    Change::Block { hash: block.hash(), height: block.header.height, bytes: block.to_bytes() }
}

/// Mines `n` blocks on the state's tip with [`next_block`] (pending posts
/// included), submitting each at [`NOW`]; returns them in order.
pub fn mine(state: &mut ChainState, n: usize) -> Vec<Block> {
    (0..n)
        .map(|_| {
            let block = next_block(state);
            state.submit_block(block.clone(), NOW).expect("own block is valid");
            block
        })
        .collect()
}

/// A dev chain of `count` blocks from genesis, one second apart, one post
/// each (`post {height}` by `seed`), at the easiest target: built in
/// milliseconds, so tests and benchmarks can use thousands of blocks.
pub fn dev_chain(count: u64) -> Vec<Block> {
    let params = dev();
    let mut state = ChainState::new(params.clone());
    let now = params.genesis_timestamp_ms + (count + 10) * 1_000;
    (1..=count)
        .map(|height| {
            let time = params.genesis_timestamp_ms + height * 1_000;
            let post = stamped(Post::new("seed", &format!("post {height}"), time).expect("valid post"));
            state.submit_post(post, time).expect("post accepted");
            let block = seal_header(state.block_template(time));
            state.submit_block(block.clone(), now).expect("own block is valid");
            block
        })
        .collect()
}

/// `post` with a dev-network stamp of the minimum work (a few hundred hashes).
pub fn stamped(post: Post) -> Post {
    stamp_post(post, &dev(), 1)
}

/// A distinct unsigned post by `author`: content `post number {n}`, written
/// `n` milliseconds after genesis, stamped for the dev network.
pub fn post(author: &str, n: u64) -> Post {
    stamped(Post::new(author, &format!("post number {n}"), GENESIS_TIME_MS + n).expect("valid post"))
}

/// A distinct post by `bob` signed with [`TEST_KEY`] for the dev network:
/// content `signed post {n}`, written `n` milliseconds after genesis, stamped.
pub fn signed_post(n: u64) -> Post {
    let post = Post::new_signed("bob", &format!("signed post {n}"), GENESIS_TIME_MS + n, &TEST_KEY, &dev_chain_id());
    stamped(post.expect("valid post"))
}

/// [`signed_post`] with its content changed after signing and stamped
/// again: the stamp holds, the signature no longer verifies (asserted).
pub fn forged_post(n: u64) -> Post {
    let mut post = signed_post(n);
    post.content.push_str(" (edited)");
    let post = stamped(post);
    assert!(matches!(post.validate(&dev()), Err(crate::post::PostError::BadSignature)), "the forgery is detectable");
    post
}

/// A dev block on `prev` at `height` holding `posts`, stamped `height`
/// seconds after genesis, with a correct Merkle root and a nonce meeting the
/// dev network's easiest target. Nothing checks that `prev` is at
/// `height - 1`: a relay does not care, a chain refuses it.
pub fn block_on(prev: BlockHash, height: u64, posts: Vec<Post>) -> Block {
    block_on_at(prev, height, dev().genesis_timestamp_ms + height * 1_000, posts)
}

/// [`block_on`] stamped `timestamp_ms`.
pub fn block_on_at(prev: BlockHash, height: u64, timestamp_ms: u64, posts: Vec<Post>) -> Block {
    seal_header(Block {
        header: BlockHeader {
            version: HEADER_VERSION,
            height,
            prev_hash: prev,
            merkle_root: merkle_root(&posts.iter().map(Post::txid).collect::<Vec<_>>()),
            timestamp_ms,
            bits: dev().easiest_bits,
            nonce: 0,
        },
        posts,
    })
}

/// A valid dev block on genesis carrying one post, [`post`]`("alice", n)`.
pub fn dev_block(n: u64) -> Block {
    block_on(dev_chain_id(), 1, vec![post("alice", n)])
}

/// The work one block at the dev network's easiest target proves.
pub fn dev_block_work() -> Work {
    dev().easiest_target().work()
}

/// `n` units of work.
pub fn work(n: u64) -> Work {
    Work::from_hex(&format!("{n:064x}")).expect("64 hex digits")
}

/// A made-up block hash, distinct per `tag`.
pub fn fake_hash(tag: &str) -> BlockHash {
    BlockHash::from_bytes(sha256(tag.as_bytes()))
}

/// `value` as a compact target, for readability.
pub fn bits(value: u32) -> CompactTarget {
    CompactTarget(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_blocks_are_valid_where_they_claim_to_be() {
        let mut state = dev_node();
        let blocks = mine(&mut state, 3);
        assert_eq!(state.chain().height(), 3);
        assert_eq!(state.chain().tip().hash, blocks[2].hash());

        let chain = dev_chain(5);
        let mut state = dev_node();
        for block in chain {
            state.submit_block(block, NOW).expect("a dev chain block is valid");
        }
        assert_eq!(state.chain().height(), 5);

        let block = dev_block(1);
        assert_eq!(block.header.merkle_root, block.compute_merkle_root());
        assert!(block.header.bits.to_target().unwrap().is_met_by(&block.hash()));
        let mut state = dev_node();
        state.submit_block(block, NOW).expect("a dev block on genesis is valid");
        assert!(signed_post(1).validate(&dev()).is_ok());
        assert_eq!(forged_post(1).author, "bob");
    }
}
