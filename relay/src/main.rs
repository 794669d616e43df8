//! `tabchain-relay` binary: parses the command line, serves [`tabchain_relay::app`]
//! and, on SIGINT or SIGTERM, closes every websocket with a close frame and exits.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::serve::ListenerExt;
use clap::Parser;
use tabchain_relay::{Config, Network, RateLimits, Relay, app};
use tracing_subscriber::EnvFilter;

/// How long connections get to close after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// tabchain relay: serves the web app and relays messages between browser
/// tabs and native nodes.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Directory of the web app (with the built wasm in pkg/).
    #[arg(long, default_value = "www")]
    www: PathBuf,
    /// Network to serve: main or dev.
    #[arg(long, default_value = "main")]
    network: Network,
    /// Most websocket connections at once.
    #[arg(long, default_value_t = 1024)]
    max_peers: usize,
    /// Largest websocket message, in bytes; a bigger one closes the connection.
    #[arg(long, default_value_t = tabchain_core::wire::MAX_MESSAGE_BYTES)]
    max_frame_bytes: usize,
    /// Messages per second each peer may send, sustained.
    #[arg(long, default_value_t = RateLimits::default().messages_per_sec)]
    rate_msgs: f64,
    /// Messages each peer may send in a burst.
    #[arg(long, default_value_t = RateLimits::default().burst_messages)]
    rate_burst_msgs: f64,
    /// Bytes per second each peer may send, sustained.
    #[arg(long, default_value_t = RateLimits::default().bytes_per_sec)]
    rate_bytes: f64,
    /// Bytes each peer may send in a burst (at least --max-frame-bytes).
    #[arg(long, default_value_t = RateLimits::default().burst_bytes)]
    rate_burst_bytes: f64,
    /// Most messages queued to one peer; a peer whose queue fills is disconnected.
    #[arg(long, default_value_t = 1024)]
    queue_messages: usize,
    /// Most bytes queued to one peer.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    queue_bytes: usize,
    /// Seconds between pings to each peer.
    #[arg(long, default_value_t = 20)]
    ping_interval_secs: u64,
    /// Seconds of silence after which a peer is disconnected.
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Seconds a new peer has to send Hello.
    #[arg(long, default_value_t = 10)]
    hello_timeout_secs: u64,
    /// Misbehaviour points at which a peer is disconnected.
    #[arg(long, default_value_t = 100)]
    ban_score: u32,
}

impl Args {
    fn config(&self) -> Config {
        let mut config = Config::new(self.network, self.www.clone());
        config.max_peers = self.max_peers;
        config.max_frame_bytes = self.max_frame_bytes;
        config.rate = RateLimits {
            messages_per_sec: self.rate_msgs,
            burst_messages: self.rate_burst_msgs,
            bytes_per_sec: self.rate_bytes,
            burst_bytes: self.rate_burst_bytes,
        };
        config.queue_messages = self.queue_messages;
        config.queue_bytes = self.queue_bytes;
        config.ping_interval = Duration::from_secs(self.ping_interval_secs);
        config.idle_timeout = Duration::from_secs(self.idle_timeout_secs);
        config.hello_timeout = Duration::from_secs(self.hello_timeout_secs);
        config.ban_score = self.ban_score;
        config
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = Args::parse();
    let relay = Relay::new(args.config()).context("invalid settings")?;
    raise_open_file_limit(args.max_peers);
    if !args.www.is_dir() {
        tracing::warn!(www = %args.www.display(), "static directory does not exist");
    }
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // The one line on stdout, for people and for scripts that started us on port 0.
    println!("tabchain-relay listening on http://{addr}/");
    std::io::stdout().flush().context("writing to stdout")?;
    tracing::info!(%addr, network = %args.network, www = %args.www.display(), max_peers = args.max_peers, "relay ready");
    let on_signal = {
        let relay = relay.clone();
        async move {
            shutdown_signal().await;
            relay.shut_down(SHUTDOWN_GRACE).await;
        }
    };
    // Frames are small and latency matters: no Nagle delay (writes are batched already).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
    });
    axum::serve(listener, app(relay)).with_graceful_shutdown(on_signal).await.context("serving HTTP")?;
    tracing::info!("relay stopped");
    Ok(())
}

/// Each connection is a file descriptor; the usual soft limit of 1024 makes
/// the 1,011th client hang in the handshake. Raise it as far as the hard
/// limit allows and warn when that is below what `max_peers` needs.
fn raise_open_file_limit(max_peers: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < max_peers as u64 + 64 => {
            tracing::warn!(limit, max_peers, "open-file limit is below --max-peers; connections may fail")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; closing connections");
}
