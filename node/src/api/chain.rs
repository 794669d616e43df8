//! `GET /chain` and `POST /add_block`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tabchain_core::block::Block;
use tabchain_core::hash::BlockHash;

use super::{Api, bad_request, body, busy, internal, text};
use crate::service::{Service, now_ms};

/// The `chain` array of the `/chain` answer for the latest tip asked for:
/// built once per tip, outside the driver's lock, and shared by every
/// answer until the tip moves.
#[derive(Default)]
pub(super) struct ChainCache {
    built: tokio::sync::Mutex<Option<BuiltChain>>,
}

/// The encoded best chain up to `tip`.
#[derive(Clone)]
struct BuiltChain {
    tip: BlockHash,
    length: usize,
    /// `[block, …]`, genesis first.
    json: Bytes,
}

impl ChainCache {
    /// The best chain, encoded: from the cache when the tip has not moved,
    /// else built (one build at a time; the others wait and share it).
    async fn best_chain(&self, service: &Arc<Service>) -> anyhow::Result<BuiltChain> {
        let mut built = self.built.lock().await;
        let tip = service.read(|driver| driver.tip());
        if let Some(chain) = built.as_ref().filter(|chain| chain.tip == tip) {
            return Ok(chain.clone());
        }
        // Under the lock only the block pointers are copied.
        let blocks: Option<Vec<Arc<Block>>> =
            service.read(|driver| driver.state().chain().best_chain().map(|entry| entry.block().cloned()).collect());
        let blocks = blocks.ok_or_else(|| anyhow::anyhow!("a best-chain body is not in memory"))?;
        let tip = blocks.last().map_or(tip, |block| block.hash());
        let length = blocks.len();
        let json = tokio::task::spawn_blocking(move || {
            let refs: Vec<&Block> = blocks.iter().map(|block| block.as_ref()).collect();
            serde_json::to_vec(&refs)
        })
        .await??;
        let chain = BuiltChain { tip, length, json: Bytes::from(json) };
        *built = Some(chain.clone());
        Ok(chain)
    }
}

/// The `/chain` answer: `{length, chain: [blocks, genesis first], peers}`
/// (the node's driver keeps every body: it sets no body limit), streamed
/// from the cached chain without copying it.
async fn chain_answer(api: &Api) -> anyhow::Result<Response> {
    let chain = match api.chain_cache.built.try_lock().ok().and_then(|built| built.clone()) {
        Some(chain) if chain.tip == api.service.read(|driver| driver.tip()) => chain,
        // A new tip: building it is heavy work.
        _ => {
            let Some(_slot) = api.limits.heavy.enter().await else { return Ok(busy("/chain")) };
            api.chain_cache.best_chain(&api.service).await?
        }
    };
    let peers: Vec<String> = api.service.http_peers.list().iter().map(|peer| peer.to_string()).collect();
    let head = Bytes::from(format!("{{\"length\":{},\"chain\":", chain.length));
    let tail = Bytes::from(format!(",\"peers\":{}}}", serde_json::to_string(&peers)?));
    let parts = [head, chain.json, tail].map(Ok::<_, std::convert::Infallible>);
    let body = Body::from_stream(futures_util::stream::iter(parts));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /chain` → `{length, chain: [blocks, genesis first], peers}`.
pub(super) async fn chain(State(api): State<Api>) -> Response {
    match chain_answer(&api).await {
        Ok(response) => response,
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
