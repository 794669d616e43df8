//! `tabchain-relay` binary: parses the command line and serves [`tabchain_relay::app`].

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use tabchain_relay::{AppState, Network, app};
use tracing_subscriber::EnvFilter;

/// tabchain relay: serves the web app and relays between browser nodes.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// Directory of static files to serve (the web app).
    #[arg(long, default_value = "www")]
    www: PathBuf,
    /// Network to serve.
    #[arg(long, default_value = "main")]
    network: Network,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=info")))
        .init();
    let args = Args::parse();
    if !args.www.is_dir() {
        tracing::warn!(www = %args.www.display(), "static directory does not exist");
    }
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(
        %addr,
        network = args.network.as_str(),
        www = %args.www.display(),
        "relay listening on http://{addr}/"
    );
    let state = AppState { network: args.network, www: args.www };
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown_signal()).await.context("serving HTTP")?;
    tracing::info!("relay stopped");
    Ok(())
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
    tracing::info!("shutdown signal received");
}
