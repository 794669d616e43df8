//! `tabchain-node`: the native full node. It keeps the chain durable when
//! every tab is closed, mines on all cores when asked, follows the relay like
//! a tab does (the same core driver), and speaks the classic tutorial REST API.
//!
//! [`start`] runs a node on a given configuration (tests use port 0);
//! `main` adds the command line and signals.

pub mod api;
pub mod http_peers;
pub mod miner;
pub mod peer_origin;
pub mod relay_client;
pub mod service;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tabchain_core::driver::Driver;
use tabchain_core::mining::Kernel;
use tabchain_core::params::{Network, Params};
use tabchain_process::http::{HttpLimits, ServeStats};
use tokio::sync::{mpsc, watch};

use crate::miner::MinerPool;
use crate::service::{AGENT, Service, now_ms};
use crate::store::Store;

/// How a node runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The chain.
    pub network: Network,
    /// Relay websocket addresses (`ws://…/ws`), tried in turn.
    pub relays: Vec<String>,
    /// Address of the REST API.
    pub http: SocketAddr,
    /// Directory of the database.
    pub data: PathBuf,
    /// Mine in the background.
    pub mine: bool,
    /// Mining threads (background miner and `GET /mine`).
    pub threads: usize,
    /// HTTP peers to announce blocks to from the start.
    pub peers: Vec<http_peers::PeerOrigin>,
    /// Host names the REST API answers besides IP addresses and `localhost`
    /// (see `api/browser_guard.rs`).
    pub allowed_hosts: Vec<String>,
    /// What the REST API allows a client: header timeout, connections per
    /// address and in all ([`HttpLimits::default`]: 10 s, 64, 1,024).
    pub http_limits: HttpLimits,
}

/// A running node.
pub struct RunningNode {
    /// Where the REST API listens.
    pub addr: SocketAddr,
    /// The shared state (for tests and statistics).
    pub service: Arc<Service>,
    /// What the REST API's server refused or cut short (for tests and statistics).
    pub http_stats: Arc<ServeStats>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningNode {
    /// Stops serving, the miners and the relay connection, and waits for all
    /// of them, so the database is closed when this returns.
    pub async fn shut_down(self) -> Result<()> {
        // First: a `GET /mine` in progress would hold the server's graceful shutdown.
        self.service.stop_mining();
        self.stop.send_replace(true);
        let served = self.server.await.context("the HTTP server task failed");
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
        served
    }
}

/// Opens the store, restores the chain, and starts the relay client, the
/// miners and the REST API.
pub async fn start(config: Config) -> Result<RunningNode> {
    let params = Params::for_network(config.network);
    let (store, driver) = {
        let (data, params) = (config.data.clone(), params.clone());
        tokio::task::spawn_blocking(move || -> Result<(Store, Driver)> {
            let store = Store::open(&data, &params)?;
            let mut driver = Driver::new(params, AGENT);
            let summary = store.restore(&mut driver, now_ms())?;
            tracing::info!(?summary, height = driver.height(), tip = %driver.tip(), "chain restored");
            Ok((store, driver))
        })
        .await
        .context("restoring the chain")??
    };
    let (found_tx, mut found_rx) = mpsc::channel(16);
    let miner = if config.mine {
        let pool = MinerPool::start(config.threads, Kernel::detect(), found_tx).context("starting the miners")?;
        tracing::info!(threads = pool.threads(), kernel = pool.kernel().name(), "mining");
        Some(pool)
    } else {
        None
    };
    let service = Service::new(driver, store, miner, config.threads.max(1));
    for peer in &config.peers {
        service.http_peers.add(peer.clone()).context("--peer")?;
    }
    let (stop, shutdown) = watch::channel(false);

    let on_found = service.clone();
    let mut tasks = vec![tokio::spawn(async move {
        while let Some(found) = found_rx.recv().await {
            let service = on_found.clone();
            let _ = tokio::task::spawn_blocking(move || service.on_found(found)).await;
        }
    })];
    tasks.push(tokio::spawn(relay_client::run(config.relays.clone(), service.clone(), shutdown.clone())));
    let api = api::Api::new(service.clone(), config.allowed_hosts.clone())?;
    tasks.push(tokio::spawn(api::announce_to_peers(api.clone(), shutdown.clone())));

    let listener =
        tokio::net::TcpListener::bind(config.http).await.with_context(|| format!("binding {}", config.http))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut shutdown_http = shutdown;
    let http_stats = Arc::new(ServeStats::default());
    let router = api::router(api);
    let server = tokio::spawn(tabchain_process::http::serve(
        listener,
        config.http_limits,
        http_stats.clone(),
        move |_| router.clone(),
        async move {
            let _ = shutdown_http.wait_for(|stop| *stop).await;
        },
    ));
    Ok(RunningNode { addr, service, http_stats, stop, server, tasks })
}
