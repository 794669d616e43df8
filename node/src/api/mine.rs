//! `GET /mine`: mines the pending posts into one block now, on all threads.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tabchain_core::driver::MinedError;

use super::{Api, busy, internal, text};
use crate::service::now_ms;

/// Times `/mine` retries when the tip moves under it.
const MINE_ATTEMPTS: usize = 5;

/// `GET /mine` → `Block #N is mined.`, or `No transactions to mine`. Calls
/// mine one at a time, [`MAX_WAITING_MINES`](super::MAX_WAITING_MINES) more
/// wait (else 503); a block the tip moved past while mining is mined again;
/// shutting the node down stops the mining (503).
pub(super) async fn mine(State(api): State<Api>) -> Response {
    let Some(_one_at_a_time) = api.limits.mining.enter().await else { return busy("/mine") };
    for _ in 0..MINE_ATTEMPTS {
        let Some(template) = api.service.template_with_posts() else {
            return text(StatusCode::OK, "No transactions to mine");
        };
        let service = api.service.clone();
        let mined = match tokio::task::spawn_blocking(move || service.mine_block_now(template)).await {
            Ok(Ok(Some(block))) => block,
            Ok(Ok(None)) => return text(StatusCode::SERVICE_UNAVAILABLE, "The node is shutting down"),
            Ok(Err(e)) => return internal(e),
            Err(e) => return internal(e),
        };
        let height = mined.header.height;
        let result = api.service.try_update(move |driver| driver.submit_mined(mined, now_ms())).await;
        match result {
            Ok(Ok(())) => return text(StatusCode::OK, format!("Block #{height} is mined.")),
            // The tip moved while mining: mine again on the new one.
            Ok(Err(MinedError::Stale { .. } | MinedError::Duplicate(_))) => continue,
            Ok(Err(e)) => return internal(e),
            Err(e) => return internal(e),
        }
    }
    text(StatusCode::SERVICE_UNAVAILABLE, "the tip kept moving while mining; try again")
}
