//! `tabchain-node` binary: the command line, logging and signals around
//! [`tabchain_node::start`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Parser;
use tabchain_core::params::Network;
use tabchain_node::http_peers::PeerOrigin;
use tabchain_node::{Config, start};
use tabchain_process::http::HttpLimits;

/// tabchain native full node: relay client, multi-core miner, embedded
/// database and the classic REST API.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Relay websocket address, e.g. ws://127.0.0.1:8000/ws (repeatable: tried in turn).
    #[arg(long = "relay")]
    relays: Vec<String>,
    /// Address of the REST API (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8001")]
    http: SocketAddr,
    /// Directory of the database.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// Mine in the background.
    #[arg(long)]
    mine: bool,
    /// Mining threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Network: main or dev.
    #[arg(long, default_value = "main")]
    network: Network,
    /// HTTP peer to announce blocks to, e.g. http://127.0.0.1:8002 (repeatable).
    #[arg(long = "peer", value_parser = PeerOrigin::parse)]
    peers: Vec<PeerOrigin>,
    /// Host name the REST API answers to besides IP addresses and localhost
    /// (repeatable); requests naming another Host get 403.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<()> {
    tabchain_process::init_logging();
    let args = Args::parse();
    for relay in &args.relays {
        if !(relay.starts_with("ws://") || relay.starts_with("wss://")) {
            bail!("--relay {relay:?} must be a ws:// or wss:// address");
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1"),
        Some(n) => n,
        None => cores,
    };
    let config = Config {
        network: args.network,
        relays: args.relays,
        http: args.http,
        data: args.data,
        mine: args.mine,
        threads,
        peers: args.peers,
        allowed_hosts: args.allowed_hosts,
        http_limits: HttpLimits::default(),
    };
    let node = start(config).await?;
    let shutdown = tabchain_process::shutdown_signal();
    // The one line on stdout, for people and for scripts that used port 0.
    tabchain_process::announce_listening("tabchain-node", node.addr)?;
    shutdown.await;
    tracing::info!("shutting down");
    node.shut_down().await
}
