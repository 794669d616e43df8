//! `tabchain-relay`: the HTTP server in front of the browser nodes.
//!
//! For now it serves the static web app (`www/`, including the wasm bundle in
//! `www/pkg`) and a health check. Peer relaying is added by its own issue.

use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use tabchain_core::params::Network;

/// Shared state of the relay's handlers.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Network this relay serves.
    pub network: Network,
    /// Directory of static files served at `/`.
    pub www: PathBuf,
}

/// Builds the relay's router: `GET /healthz` and static files from `state.www`
/// (`.wasm` files are served as `application/wasm`).
pub fn app(state: AppState) -> Router {
    let static_files = ServeDir::new(&state.www).append_index_html_on_directories(true);
    Router::new()
        .route("/healthz", get(healthz))
        .fallback_service(static_files)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Liveness probe: always `200 ok`.
async fn healthz() -> &'static str {
    "ok"
}
