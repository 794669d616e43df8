//! `POST /new_transaction` and `GET /pending_tx`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tabchain_core::post::Post;

use super::body::{self, NewTransaction};
use super::{Api, bad_request, internal, text};
use crate::service::now_ms;

/// `POST /new_transaction {author, content}` → 201 `Success`: an own post of
/// this node (kept until a block holds it, announced again on every join).
pub(super) async fn new_transaction(State(api): State<Api>, body: Bytes) -> Response {
    const WHAT: &str = "Invalid transaction data";
    let NewTransaction { author, content } = match body::parse(&body) {
        Ok(fields) => fields,
        Err(reason) => return bad_request(WHAT, reason),
    };
    let now = now_ms();
    let post = match Post::new(&author, &content, now) {
        Ok(post) => post,
        Err(e) => return bad_request(WHAT, e),
    };
    let result =
        api.service.try_update(move |driver| driver.submit_own_post(post, now).map(|(_, outputs)| outputs)).await;
    match result {
        Ok(Ok(())) => text(StatusCode::CREATED, "Success"),
        Ok(Err(reason)) => bad_request(WHAT, reason),
        Err(e) => internal(e),
    }
}

/// `GET /pending_tx` → the pending posts, oldest first.
pub(super) async fn pending_tx(State(api): State<Api>) -> Response {
    let posts: Vec<Post> =
        api.service.read(|driver| driver.state().mempool().iter().map(|(_, post)| post.clone()).collect());
    Json(posts).into_response()
}
