//! `tabchain-relay`: the hub between browser tabs and native nodes.
//!
//! It serves the web app and, on `GET /ws`, forwards messages between peers:
//! announced posts and blocks to everyone else, sync requests and answers to
//! the peer they are addressed to (or, for a request without one, to the peer
//! with the most work). It keeps no chain, but checks what it forwards (a
//! block's proof of work and shape, a post's fields and signature), drops
//! duplicates, and keeps one bad or slow peer from hurting the others:
//! per-peer rate limits, a misbehaviour score, and bounded outbound queues
//! whose owner is disconnected when it does not read. One host cannot fill
//! it either: websockets and new connections are bounded per address, the
//! page's origin can be required (`admission`), and HTTP requests have
//! header and body timeouts ([`tabchain_process::http`]). With `--cluster`,
//! several relays on one NATS broker act as one network (`cluster`). The
//! protocol is in `docs/PROTOCOL.md`.
//!
//! [`start`] serves [`app`] on an address (tests use port 0) and returns a
//! [`RunningRelay`]; `main` adds the command line, logging and signals.

mod admission;
mod budget;
mod cluster;
mod config;
mod connection;
mod hub;
mod metrics;
mod ratelimit;
mod score;
mod seen;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::{
    BroadcastLimits, Config, ConfigError, MAX_HTTP_CONNECTIONS, MIN_CONNECT_RATE, MIN_FRAME_BYTES, RateLimits,
};
pub use hub::PeerView;
pub use metrics::{DisconnectReason, DropReason, RefusedReason};
pub use tabchain_core::params::Network;

use admission::Admission;
use cluster::{Cluster, ClusterTasks};
use hub::Hub;
use metrics::{BrokerDrop, ClusterGauges};
use tabchain_core::params::Params;
use tabchain_process::http::ServeStats;
use tower_layer::Layer as _;

/// Content-Security-Policy of every response: only this origin's scripts,
/// module workers and websocket; wasm compilation allowed; no inline script,
/// no plugins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
worker-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `Cache-Control` of the web app's files: a browser may keep them but asks
/// the relay each time (`If-Modified-Since`, answered `304` when unchanged),
/// so a page never mixes the scripts of one build with the wasm of another.
pub const STATIC_CACHE_CONTROL: &str = "no-cache";

/// A running relay's shared state; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    hub: Arc<Hub>,
    admission: Arc<Admission>,
    http: Arc<ServeStats>,
}

impl Relay {
    /// A relay with `config`, if the settings can work; in a cluster
    /// (`config.cluster`) once connected to its broker, whose tasks run
    /// until the returned [`ClusterTasks`] is dropped.
    async fn connect(config: Config) -> anyhow::Result<(Self, Option<ClusterTasks>)> {
        config.validate().context("invalid settings")?;
        let admission = Arc::new(Admission::new(&config));
        let cluster = match config.cluster {
            Some(_) => Some(Cluster::connect(&config, &Params::for_network(config.network).chain_id()).await?),
            None => None,
        };
        let hub = Arc::new(Hub::new(config, cluster));
        let tasks = match hub.cluster {
            Some(_) => Some(cluster::spawn(hub.clone()).await.context("subscribing on the broker")?),
            None => None,
        };
        Ok((Self { hub, admission, http: Arc::default() }, tasks))
    }

    /// Its settings.
    pub fn config(&self) -> &Config {
        &self.hub.config
    }

    /// Every connection, by id.
    pub fn peers(&self) -> Vec<PeerView> {
        self.hub.peer_views()
    }

    /// How many connections ended for `reason` so far.
    pub fn disconnects(&self, reason: DisconnectReason) -> u64 {
        self.hub.metrics.disconnects(reason)
    }

    /// How many websocket upgrades were refused for `reason` so far.
    pub fn refusals(&self, reason: RefusedReason) -> u64 {
        self.hub.metrics.refusals(reason)
    }

    /// What the HTTP server refused or cut short so far.
    pub fn http_stats(&self) -> &ServeStats {
        &self.http
    }

    /// In a cluster: whether the broker connection is up, and how many
    /// other relays and peers of theirs this relay knows (`None` alone).
    pub fn cluster_state(&self) -> Option<(bool, usize, usize)> {
        let cluster = self.hub.cluster.as_ref()?;
        let (relays, peers) = cluster.remote_counts();
        Some((cluster.is_connected(), relays, peers))
    }

    /// In a cluster: messages published to the broker, messages not
    /// published because it was away, reconnections and peer lists of
    /// other relays fetched so far.
    pub fn broker_counts(&self) -> Option<BrokerCounts> {
        let stats = &self.hub.cluster.as_ref()?.stats;
        Some(BrokerCounts {
            published: stats.published_count(),
            dropped_disconnected: stats.drops(BrokerDrop::Disconnected),
            reconnects: stats.reconnects(),
            snapshots: stats.snapshots(),
        })
    }

    /// Sends every peer a close frame (1001) and waits, at most `grace`,
    /// for the connections to end. New connections are refused meanwhile.
    pub async fn shut_down(&self, grace: Duration) {
        if let Some(cluster) = &self.hub.cluster {
            cluster.leave().await;
        }
        self.hub.shut_down();
        let deadline = tokio::time::Instant::now() + grace;
        while self.hub.has_connections() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A cluster member's broker counters ([`Relay::broker_counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokerCounts {
    /// Messages published to the broker.
    pub published: u64,
    /// Messages not published because the broker was away.
    pub dropped_disconnected: u64,
    /// Reconnections after losing the broker.
    pub reconnects: u64,
    /// Peer lists of other relays fetched (a new relay, or news gone missing).
    pub snapshots: u64,
}

/// How long [`RunningRelay::shut_down`] gives connections to close.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A relay serving on a bound address, from [`start`].
///
/// Dropping it leaves the relay serving until the tokio runtime ends (like
/// dropping a task's `JoinHandle`); [`RunningRelay::shut_down`] stops it.
pub struct RunningRelay {
    /// Where it listens (the real port when asked for port 0).
    pub addr: SocketAddr,
    /// Its shared state: peers, counters, shutdown.
    pub relay: Relay,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    cluster: Option<ClusterTasks>,
}

impl RunningRelay {
    /// Closes every websocket with a close frame (1001), waiting at most
    /// [`SHUTDOWN_GRACE`] for the connections to end, then stops serving
    /// HTTP and waits for the server.
    pub async fn shut_down(self) -> anyhow::Result<()> {
        self.relay.shut_down(SHUTDOWN_GRACE).await;
        self.stop.send_replace(true);
        drop(self.cluster);
        self.server.await.context("the HTTP server task failed")
    }
}

/// Checks `config`, binds `listen` and serves [`app`] on it in a tokio task
/// with [`tabchain_process::http::serve`]: `TCP_NODELAY` on every connection
/// (frames are small and latency matters; writes are batched already), the
/// header timeout and the per-address HTTP connection limit of
/// [`Config::http_limits`], and each request's `ConnectInfo<SocketAddr>`.
pub async fn start(config: Config, listen: SocketAddr) -> anyhow::Result<RunningRelay> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut config = config;
    if config.public_url.is_none() && config.cluster.is_some() && !addr.ip().is_unspecified() {
        config.public_url = Some(format!("ws://{addr}/ws"));
    }
    let (relay, cluster) = Relay::connect(config).await?;
    let (stop, mut stopped) = watch::channel(false);
    let shutdown = async move {
        // A dropped handle never asks for the stop: the relay serves on.
        if stopped.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let (limits, stats) = (relay.config().http_limits(), relay.http.clone());
    let router = app(relay.clone());
    let make_service = move |remote: SocketAddr| axum::Extension(ConnectInfo(remote)).layer(router.clone());
    let server = tokio::spawn(tabchain_process::http::serve(listener, limits, stats, make_service, shutdown));
    Ok(RunningRelay { addr, relay, stop, server, cluster })
}

/// The relay's routes: `/ws`, `/healthz`, `/metrics`, `/api/peers`, and the
/// web app from `config.www` ([`static_files`]), all with a strict
/// [`CONTENT_SECURITY_POLICY`]. `/ws` needs each request's
/// `ConnectInfo<SocketAddr>` (as [`start`] serves it).
pub fn app(relay: Relay) -> Router {
    let static_files = static_files(&relay.hub.config);
    let policy_of = relay.clone();
    Router::new()
        .route("/ws", get(connection::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/peers", get(peers))
        .route("/api/relays", get(relays))
        .fallback_service(static_files)
        .layer(SetResponseHeaderLayer::overriding(header::CONTENT_SECURITY_POLICY, move |_: &Response| {
            Some(content_security_policy(&policy_of))
        }))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(relay)
}

/// The web app's files from `config.www` (`.wasm` as `application/wasm`),
/// each with [`STATIC_CACHE_CONTROL`] and `Last-Modified` (a request with
/// `If-Modified-Since` gets `304` when the file is unchanged). Unless
/// `config.no_compression`, compressed as the browser accepts: a file's
/// precompressed `.br` or `.gz` sibling when there is one (`cargo xtask
/// build-wasm` writes them for `pkg/`, the wasm above all, and `vendor/`), else Brotli
/// (quality 4) or gzip (level 6) on the fly; `Vary: Accept-Encoding` either
/// way. Only these routes: the websocket and `/metrics` are never compressed.
fn static_files(config: &Config) -> Router {
    let compress = !config.no_compression;
    let mut files = ServeDir::new(&config.www).append_index_html_on_directories(true);
    if compress {
        files = files.precompressed_br().precompressed_gzip();
    }
    // Default quality: Brotli 4 and gzip 6, fast enough for the page's
    // scripts (the wasm comes precompressed). Off: it passes files through.
    let compression = CompressionLayer::new().br(compress).gzip(compress).no_deflate().no_zstd();
    Router::new()
        .fallback_service(files)
        .layer(compression)
        .layer(SetResponseHeaderLayer::if_not_present(header::VARY, HeaderValue::from_static("accept-encoding")))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(STATIC_CACHE_CONTROL),
        ))
}

/// [`CONTENT_SECURITY_POLICY`], and in a cluster the other relays'
/// websocket origins added to `connect-src` (for a page's failover).
fn content_security_policy(relay: &Relay) -> HeaderValue {
    let static_policy = HeaderValue::from_static(CONTENT_SECURITY_POLICY);
    let Some(cluster) = &relay.hub.cluster else { return static_policy };
    let others: Vec<String> =
        cluster.relays().into_iter().skip(1).filter_map(|(_, url)| websocket_origin(&url?)).collect();
    if others.is_empty() {
        return static_policy;
    }
    let policy =
        CONTENT_SECURITY_POLICY.replace("connect-src 'self'", &format!("connect-src 'self' {}", others.join(" ")));
    HeaderValue::from_str(&policy).unwrap_or(static_policy)
}

/// `ws[s]://host[:port]` of a websocket URL, rebuilt from its parsed parts
/// (a URL heard from the broker never puts its own text in the header).
fn websocket_origin(url: &str) -> Option<String> {
    let uri = url.parse::<axum::http::Uri>().ok()?;
    let scheme = uri.scheme_str().filter(|s| matches!(*s, "ws" | "wss"))?;
    let authority = uri.authority()?;
    let host = authority.host();
    let host_ok = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b));
    let port = authority.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    host_ok.then(|| format!("{scheme}://{host}{port}"))
}

/// Liveness probe: always `200 ok`.
async fn healthz() -> &'static str {
    "ok"
}

/// Prometheus text exposition of the relay's counters.
async fn metrics(State(relay): State<Relay>) -> impl IntoResponse {
    let (joined, pending) = relay.hub.peer_counts();
    let cluster_gauges = relay.hub.cluster.as_ref().map(|cluster| {
        let (relays, remote_peers) = cluster.remote_counts();
        ClusterGauges { stats: &cluster.stats, connected: cluster.is_connected(), relays, remote_peers }
    });
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        relay.hub.metrics.render(joined, pending, relay.http.as_ref().into(), cluster_gauges),
    )
}

/// One row of `GET /api/relays`.
#[derive(serde::Serialize)]
struct RelayView {
    /// Its `--relay-name` (absent for a relay alone).
    name: Option<String>,
    /// Its websocket address for pages (`--public-url`), if known.
    url: Option<String>,
    /// Whether it is the relay answering.
    this: bool,
}

/// The relays a page may connect to, this one first: in a cluster every
/// relay heard from, so a page can fail over when its relay goes away.
async fn relays(State(relay): State<Relay>) -> Json<Vec<RelayView>> {
    let Some(cluster) = &relay.hub.cluster else {
        return Json(vec![RelayView { name: None, url: None, this: true }]);
    };
    let views = cluster
        .relays()
        .into_iter()
        .enumerate()
        .map(|(i, (name, url))| RelayView { name: Some(name), url, this: i == 0 })
        .collect();
    Json(views)
}

/// The connected peers as JSON.
async fn peers(State(relay): State<Relay>) -> Json<Vec<PeerView>> {
    Json(relay.peers())
}
