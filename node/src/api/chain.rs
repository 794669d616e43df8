//! `GET /chain` and `POST /add_block`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use tabchain_core::block::Block;

use super::{Api, bad_request, body, internal, json_response, text};
use crate::service::now_ms;

#[derive(Serialize)]
struct ChainView<'a> {
    length: usize,
    chain: Vec<&'a Block>,
    peers: Vec<String>,
}

/// The `/chain` answer: `{length, chain: [blocks, genesis first], peers}`,
/// from memory (the node's driver keeps every body: it sets no body limit).
fn chain_json(api: &Api) -> anyhow::Result<String> {
    let peers: Vec<String> = api.service.http_peers.lock().iter().cloned().collect();
    api.service.read(|driver| {
        let blocks: Option<Vec<_>> = driver.state().chain().best_chain().map(|entry| entry.block().cloned()).collect();
        let blocks = blocks.ok_or_else(|| anyhow::anyhow!("a best-chain body is not in memory"))?;
        let chain: Vec<&Block> = blocks.iter().map(|b| b.as_ref()).collect();
        Ok(serde_json::to_string(&ChainView { length: chain.len(), chain, peers })?)
    })
}

/// `GET /chain` → `{length, chain: [blocks, genesis first], peers}`.
pub(super) async fn chain(State(api): State<Api>) -> Response {
    match chain_json(&api) {
        Ok(body) => json_response(body),
        Err(e) => internal(e),
    }
}

/// `POST /add_block` block JSON → 201 when valid on a known parent (a
/// heavier branch reorgs), 409 when the node has the block already (nothing
/// was added: the tutorial's node refuses it too), else 400 with the reason
/// and nothing kept (not even a block whose parent is unknown).
pub(super) async fn add_block(State(api): State<Api>, body: Bytes) -> Response {
    const WHAT: &str = "The block was discarded by the node";
    let block = match body::block(&body) {
        Ok(block) => block,
        Err(e) => return bad_request(WHAT, e),
    };
    let hash = block.hash();
    if api.service.read(|driver| driver.state().chain().get(&hash).is_some()) {
        return text(StatusCode::CONFLICT, format!("The block {hash} is already known: nothing was added"));
    }
    let result = api.service.try_update(move |driver| driver.submit_block(block, now_ms())).await;
    match result {
        Ok(Ok(())) => text(StatusCode::CREATED, "Block added to the chain"),
        Ok(Err(reason)) => bad_request(WHAT, reason),
        Err(e) => internal(e),
    }
}
