//! Helpers shared by the node's integration tests: the node binary on a free
//! port, a relay and nodes in-process, a test peer's `Hello`. Chain helpers
//! are in the test kit (`tabchain_core::testkit`).

#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::Command;

use tabchain_core::params::{Network, Params};
use tabchain_core::target::Work;
use tabchain_core::wire::{self, Envelope, Message, PROTOCOL_VERSION};
use tabchain_node::Config;
use tabchain_process::http::HttpLimits;
use tabchain_process::spawn::{Spawned, spawn};
use tabchain_relay::{Config as RelayConfig, RunningRelay};

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

/// A dev-network relay in-process on a free loopback port, with its (empty)
/// web directory, and its websocket URL.
pub async fn dev_relay() -> (RunningRelay, tempfile::TempDir, String) {
    let www = tempfile::tempdir().expect("a temporary directory");
    let running = tabchain_relay::start(RelayConfig::new(Network::Dev, www.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the relay starts");
    let ws = format!("ws://{}/ws", running.addr);
    (running, www, ws)
}

/// An in-process node's settings: dev network, REST API on a free port,
/// `relays`, data in `data`, not mining, one thread.
pub fn dev_config(relays: &[&str], data: &Path) -> Config {
    Config {
        network: Network::Dev,
        relays: relays.iter().map(|r| (*r).to_owned()).collect(),
        http: "127.0.0.1:0".parse().unwrap(),
        data: data.to_path_buf(),
        mine: false,
        threads: 1,
        peers: vec![],
        allowed_hosts: vec![],
        http_limits: HttpLimits::default(),
    }
}

/// The `Hello` text of a test peer on the dev network claiming `total_work`
/// at `best_height` (its best hash: genesis).
pub fn hello_text(agent: &str, best_height: u64, total_work: Work) -> String {
    let chain_id = Params::for_network(Network::Dev).chain_id();
    let hello = Message::Hello {
        chain_id,
        protocol: PROTOCOL_VERSION,
        agent: agent.into(),
        best_height,
        best_hash: chain_id,
        total_work,
    };
    wire::encode(&Envelope::broadcast(hello)).expect("a Hello encodes")
}
