//! Helpers shared by the node's integration tests: the node binary on a free
//! port. Chain helpers are in the test kit (`tabchain_core::testkit`).

#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::Command;

use tabchain_process::spawn::{Spawned, spawn};

/// The node binary under test.
pub const NODE: &str = env!("CARGO_BIN_EXE_tabchain-node");

/// Starts the node binary on the dev network, REST API on a free port, with
/// `args` and `--data data`; returns it (killed when dropped) and its base URL
/// `http://ADDR` (from its one stdout line).
pub fn spawn_node(data: &Path, args: &[&str]) -> (Spawned, String) {
    let mut command = Command::new(NODE);
    command.args(["--network", "dev", "--http", "127.0.0.1:0"]).args(args).arg("--data").arg(data);
    let node = spawn("tabchain-node", command).expect("the node binary starts");
    let url = node.url();
    (node, url)
}
