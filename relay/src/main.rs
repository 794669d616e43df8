//! `tabchain-relay` binary: parses the command line, serves the relay with
//! [`tabchain_relay::start`] and, on SIGINT or SIGTERM, closes every
//! websocket with a close frame and exits.

use std::net::SocketAddr;

use anyhow::Result;
use clap::Parser;
use tabchain_relay::{Config, MAX_HTTP_CONNECTIONS};

/// tabchain relay: serves the web app and relays messages between browser
/// tabs and native nodes.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Everything else: the relay's settings.
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> Result<()> {
    tabchain_process::init_logging();
    let Args { listen, config } = Args::parse();
    let (network, www, max_peers) = (config.network, config.www.clone(), config.max_peers);
    let running = tabchain_relay::start(config, listen).await?;
    raise_open_file_limit(max_peers);
    if !www.is_dir() {
        tracing::warn!(www = %www.display(), "static directory does not exist");
    }
    let addr = running.addr;
    let shutdown = tabchain_process::shutdown_signal();
    // The one line on stdout, for people and for scripts that started us on port 0.
    tabchain_process::announce_listening("tabchain-relay", addr)?;
    tracing::info!(%addr, %network, www = %www.display(), max_peers, "relay ready");
    shutdown.await;
    tracing::info!("shutdown signal received; closing connections");
    running.shut_down().await?;
    tracing::info!("relay stopped");
    Ok(())
}

/// Each connection is a file descriptor; the usual soft limit of 1024 makes
/// the 1,011th client hang in the handshake. Raise it as far as the hard
/// limit allows and warn when that is below what `max_peers` websockets and
/// [`MAX_HTTP_CONNECTIONS`] HTTP connections need.
fn raise_open_file_limit(max_peers: usize) {
    let needed = (max_peers + MAX_HTTP_CONNECTIONS) as u64 + 64;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < needed => {
            tracing::warn!(
                limit,
                needed,
                "open-file limit is below what --max-peers and HTTP need; connections may fail"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}
