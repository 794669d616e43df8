//! The classic tutorial node's REST API, so its clients work unchanged:
//! `/new_transaction`, `/pending_tx`, `/mine`, `/chain`, `/register_node`,
//! `/register_with`, `/add_block`. One file per group of routes:
//! `posts.rs` (new and pending posts), `mine.rs`, `chain.rs` (the chain and
//! `/add_block`), `peers.rs` (HTTP peers); `body.rs` reads request bodies.
//!
//! Unlike the Python original: bad input is a 400 with the reason (never a
//! 500), a peer's chain is adopted only if it is valid and has more work,
//! peers are fetched with timeouts and size limits, requests that change the
//! chain are serialized by the core driver's lock, and every block is on disk
//! before it is acknowledged. The handlers only translate HTTP to driver
//! calls and back: the core driver validates, stores and announces.

mod body;
mod chain;
mod mine;
mod peers;
mod posts;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::service::Service;

pub use peers::announce_to_peers;

/// Largest request body: a block of the maximum size in the JSON view fits.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Largest `/chain` answer read from a peer.
pub const MAX_PEER_CHAIN_BYTES: usize = 64 * 1024 * 1024;
/// Timeout for every request to a peer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most HTTP peers remembered.
pub const MAX_HTTP_PEERS: usize = 64;
/// Posts stamped at once for `/new_transaction` (each is a fraction of a
/// second of one core on main).
pub const MAX_CONCURRENT_STAMPS: usize = 2;
/// Posts waiting for a stamping slot beyond which `/new_transaction`
/// answers 503: an HTTP client cannot queue unbounded work on the node.
pub const MAX_WAITING_STAMPS: usize = 64;

/// State of the API handlers.
#[derive(Clone)]
pub struct Api {
    service: Arc<Service>,
    client: reqwest::Client,
    mine_lock: Arc<tokio::sync::Mutex<()>>,
    stamping: Arc<posts::Stamping>,
}

impl Api {
    /// Handlers over `service`.
    pub fn new(service: Arc<Service>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(PEER_TIMEOUT).connect_timeout(PEER_TIMEOUT).build()?;
        let stamping = Arc::new(posts::Stamping::new(MAX_CONCURRENT_STAMPS, MAX_WAITING_STAMPS));
        Ok(Self { service, client, mine_lock: Arc::new(tokio::sync::Mutex::new(())), stamping })
    }
}

/// The REST API router.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/new_transaction", post(posts::new_transaction))
        .route("/pending_tx", get(posts::pending_tx))
        .route("/mine", get(mine::mine))
        .route("/chain", get(chain::chain))
        .route("/add_block", post(chain::add_block))
        .route("/register_node", post(peers::register_node))
        .route("/register_with", post(peers::register_with))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

/// A plain-text answer.
fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

/// `400 {what}: {reason}`.
fn bad_request(what: &str, reason: impl std::fmt::Display) -> Response {
    text(StatusCode::BAD_REQUEST, format!("{what}: {reason}"))
}

/// A 500 for what is our fault (the database failed), logged.
fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("internal error: {e}");
    text(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}"))
}

/// A JSON answer from text already encoded.
fn json_response(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
