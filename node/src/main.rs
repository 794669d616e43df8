//! `tabchain-node`: the native full node.
//!
//! For now it prints the selected network, its chain id and its genesis header
//! and exits; the node itself is added by its own issue.

use anyhow::Result;
use clap::Parser;
use tabchain_core::params::{Network, Params};

/// tabchain native full node.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Network to join: main or dev.
    #[arg(long, default_value = "main")]
    network: Network,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let params = Params::for_network(args.network);
    let genesis = params.genesis();
    println!("network: {}", args.network);
    println!("chain id: {}", params.chain_id());
    println!("genesis header: {}", hex::encode(genesis.header.to_bytes()));
    Ok(())
}
