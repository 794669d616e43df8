//! `tabchain-node`: the native full node.
//!
//! For now it prints the selected network, its chain id and its genesis header
//! and exits; the node itself is added by its own issue.

use anyhow::Result;
use clap::{Parser, ValueEnum};
use tabchain_core::params::{Network, Params};

/// Network selection on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum NetworkArg {
    /// The main network.
    Main,
    /// The development network.
    Dev,
}

impl From<NetworkArg> for Network {
    fn from(n: NetworkArg) -> Network {
        match n {
            NetworkArg::Main => Network::Main,
            NetworkArg::Dev => Network::Dev,
        }
    }
}

/// tabchain native full node.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Network to join.
    #[arg(long, value_enum, default_value_t = NetworkArg::Main)]
    network: NetworkArg,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let network = Network::from(args.network);
    let params = Params::for_network(network);
    let genesis = params.genesis();
    println!("network: {}", network.as_str());
    println!("chain id: {}", params.chain_id());
    println!("genesis header: {}", hex::encode(genesis.header.to_bytes()));
    Ok(())
}
