//! Helpers shared by the integration tests: dev-network nodes and mining.
#![allow(dead_code)]

use tabchain_core::block::Block;
use tabchain_core::merkle::merkle_root;
use tabchain_core::mining::solve;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::state::ChainState;

/// Dev parameters.
pub fn dev() -> Params {
    Params::for_network(Network::Dev)
}

/// A dev node at genesis.
pub fn dev_node() -> ChainState {
    ChainState::new(dev())
}

/// A clock far enough ahead that no test block is "from the future".
pub const NOW: u64 = 1_795_564_800_000 + 365 * 24 * 3_600_000;

/// Re-computes the Merkle root and finds a nonce (dev targets: a few hashes).
pub fn seal(mut block: Block) -> Block {
    block.header.merkle_root = merkle_root(&block.txids());
    block.header = solve(&block.header, 1 << 24).expect("valid target").expect("a nonce within 2^24 hashes");
    block
}

/// The node's template on its tip, one interval after the tip, sealed.
pub fn next_block(node: &ChainState) -> Block {
    let tip_time = node.chain().tip().timestamp_ms();
    let interval = node.params().target_block_interval_ms;
    let mut block = node.block_template(tip_time + interval);
    block.header.timestamp_ms = tip_time + interval;
    seal(block)
}

/// Mines `n` blocks on the node's tip (including its pending posts), returning them.
pub fn mine(node: &mut ChainState, n: usize) -> Vec<Block> {
    (0..n)
        .map(|_| {
            let block = next_block(node);
            node.submit_block(block.clone(), NOW).expect("own block is valid");
            block
        })
        .collect()
}

/// A distinct unsigned post.
pub fn post(author: &str, n: u64) -> Post {
    Post::new(author, &format!("post number {n}"), 1_795_564_800_000 + n).expect("valid post")
}
