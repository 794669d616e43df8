//! Helpers shared by the node's integration tests.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use tabchain_core::block::Block;
use tabchain_core::mining::solve;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::state::ChainState;

/// The node binary under test.
pub const NODE: &str = env!("CARGO_BIN_EXE_tabchain-node");

/// Starts the node binary on the dev network, REST API on a free port, with
/// `args` and `--data data`; returns it and its base URL (from its one stdout line).
pub fn spawn_node(data: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(NODE)
        .args(["--network", "dev", "--http", "127.0.0.1:0"])
        .args(args)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("tabchain-node listening on ").expect(&line).trim_end_matches('/').to_owned();
    (child, url)
}

/// A dev chain of `count` blocks one second apart from genesis, one post
/// each, at the easiest target: built in milliseconds.
pub fn dev_chain(count: u64) -> Vec<Block> {
    let params = Params::for_network(Network::Dev);
    let mut state = ChainState::new(params.clone());
    let now = params.genesis_timestamp_ms + (count + 10) * 1_000;
    (1..=count)
        .map(|height| {
            let time = params.genesis_timestamp_ms + height * 1_000;
            state.submit_post(Post::new("seed", &format!("post {height}"), time).unwrap(), now).unwrap();
            let mut block = state.block_template(time);
            block.header = solve(&block.header, 1 << 24).unwrap().unwrap();
            state.submit_block(block.clone(), now).unwrap();
            block
        })
        .collect()
}
