//! The classic tutorial node's REST API, so its clients work unchanged:
//! `/new_transaction`, `/pending_tx`, `/mine`, `/chain`, `/register_node`,
//! `/register_with`, `/add_block`. One file per group of routes:
//! `posts.rs` (new and pending posts), `mine.rs`, `chain.rs` (the chain and
//! `/add_block`), `peers.rs` (HTTP peers); `body.rs` reads request bodies,
//! `browser_guard.rs` refuses what a web page could send (other `Host`
//! names, cross-site requests, bodies not declared JSON) and
//! `admission.rs` bounds the expensive requests.
//!
//! Unlike the Python original: bad input is a 400 with the reason (never a
//! 500), a peer's chain is adopted only if it is valid and has more work,
//! peers are fetched with timeouts and size limits, requests that change the
//! chain are serialized by the core driver's lock, and every block is on disk
//! before it is acknowledged. The handlers only translate HTTP to driver
//! calls and back: the core driver validates, stores and announces.

mod admission;
mod body;
mod browser_guard;
mod chain;
mod mine;
mod peers;
mod posts;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::peer_origin;
use crate::service::Service;

pub use peers::announce_to_peers;

/// Largest request body: a block of the maximum size in the JSON view fits.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Largest `/chain` answer read from a peer.
pub const MAX_PEER_CHAIN_BYTES: usize = 64 * 1024 * 1024;
/// Posts stamped at once for `/new_transaction` (each is a fraction of a
/// second of one core on main).
pub const MAX_CONCURRENT_STAMPS: usize = 2;
/// Posts waiting for a stamping slot beyond which `/new_transaction`
/// answers 503: an HTTP client cannot queue unbounded work on the node.
pub const MAX_WAITING_STAMPS: usize = 64;
/// `GET /mine` requests waiting while one mines (they mine one at a time);
/// more answer 503.
pub const MAX_WAITING_MINES: usize = 8;
/// Heavy requests at once: building the `/chain` answer for a new tip,
/// `/register_node` (answers the chain) and `/register_with` (reads up to
/// [`MAX_PEER_CHAIN_BYTES`] from a peer and validates it).
pub const MAX_CONCURRENT_HEAVY: usize = 4;
/// Heavy requests waiting for a slot beyond which they answer 503.
pub const MAX_WAITING_HEAVY: usize = 16;

/// The bounds of [`admission`], one per kind of expensive work.
struct Limits {
    stamping: admission::Admission,
    mining: admission::Admission,
    heavy: admission::Admission,
}

/// State of the API handlers.
#[derive(Clone)]
pub struct Api {
    service: Arc<Service>,
    client: reqwest::Client,
    limits: Arc<Limits>,
    chain_cache: Arc<chain::ChainCache>,
    allowed_hosts: Arc<[String]>,
}

impl Api {
    /// Handlers over `service`, answering requests whose `Host` is an IP
    /// address, `localhost` or one of `allowed_hosts`.
    pub fn new(service: Arc<Service>, allowed_hosts: Vec<String>) -> anyhow::Result<Self> {
        let limits = Limits {
            stamping: admission::Admission::new(MAX_CONCURRENT_STAMPS, MAX_WAITING_STAMPS),
            mining: admission::Admission::new(1, MAX_WAITING_MINES),
            heavy: admission::Admission::new(MAX_CONCURRENT_HEAVY, MAX_WAITING_HEAVY),
        };
        Ok(Self {
            service,
            client: crate::http_peers::peer_client()?,
            limits: Arc::new(limits),
            chain_cache: Arc::default(),
            allowed_hosts: allowed_hosts.into(),
        })
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
        .layer(axum::middleware::from_fn_with_state(api.clone(), browser_guard::guard))
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

/// 503: too many requests of this kind are running or waiting.
fn busy(what: &str) -> Response {
    text(StatusCode::SERVICE_UNAVAILABLE, format!("Too many {what} requests at once; try again shortly"))
}
