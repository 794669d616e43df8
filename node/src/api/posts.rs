//! `POST /new_transaction` and `GET /pending_tx`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tabchain_core::post::Post;
use tabchain_core::stamp::{DEFAULT_STAMP_FACTOR, stamp_post};

use super::body::{self, NewTransaction};
use super::{Api, bad_request, internal, text};
use crate::service::now_ms;

/// Stamps `post` at the default factor on a blocking thread, in one of the
/// stamping slots; `None` when too many posts wait for one already.
async fn stamp(api: &Api, post: Post) -> Option<anyhow::Result<Post>> {
    let _slot = api.limits.stamping.enter().await?;
    let params = api.service.params();
    let stamped = tokio::task::spawn_blocking(move || stamp_post(post, &params, DEFAULT_STAMP_FACTOR)).await;
    Some(stamped.map_err(|e| anyhow::anyhow!("stamping failed: {e}")))
}

/// `POST /new_transaction {author, content}` → 201 `Success`: an own post of
/// this node, stamped here with [`DEFAULT_STAMP_FACTOR`] times the minimum
/// work (the tutorial's body has no stamp), kept until a block holds it and
/// announced again on every join. 503 while too many posts wait for stamping.
pub(super) async fn new_transaction(State(api): State<Api>, body: Bytes) -> Response {
    const WHAT: &str = "Invalid transaction data";
    let NewTransaction { author, content } = match body::parse(&body) {
        Ok(fields) => fields,
        Err(reason) => return bad_request(WHAT, reason),
    };
    let post = match Post::new(&author, &content, now_ms()) {
        Ok(post) => post,
        Err(e) => return bad_request(WHAT, e),
    };
    let post = match stamp(&api, post).await {
        Some(Ok(post)) => post,
        Some(Err(e)) => return internal(e),
        None => return text(StatusCode::SERVICE_UNAVAILABLE, "Too many posts are being stamped; try again shortly"),
    };
    let now = now_ms();
    let result =
        api.service.try_update(move |driver| driver.submit_own_post(post, now).map(|(_, outputs)| outputs)).await;
    match result {
        Ok(Ok(())) => text(StatusCode::CREATED, "Success"),
        Ok(Err(reason)) => bad_request(WHAT, reason),
        Err(e) => internal(e),
    }
}

/// `GET /pending_tx` → the pending posts, those paying the most stamp work
/// per byte first (the order miners take them in).
pub(super) async fn pending_tx(State(api): State<Api>) -> Response {
    let posts: Vec<Post> =
        api.service.read(|driver| driver.state().mempool().iter().map(|(_, post)| post.clone()).collect());
    Json(posts).into_response()
}
