//! The classic tutorial node's REST API, so its clients work unchanged:
//! `/new_transaction`, `/pending_tx`, `/mine`, `/chain`, `/register_node`,
//! `/register_with`, `/add_block`.
//!
//! Unlike the Python original: bad input is a 400 with the reason (never a
//! 500), a peer's chain is adopted only if it is valid and has more work,
//! peers are fetched with timeouts and size limits, requests that change the
//! chain are serialized by the core driver's lock, and every block is on disk
//! before it is acknowledged.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use tabchain_core::block::Block;
use tabchain_core::driver::{Event, MinedError, Output};
use tabchain_core::post::Post;
use tabchain_core::wire::{self, Envelope, Message};

use crate::service::{Service, now_ms};

/// Largest request body: a block of the maximum size in the JSON view fits.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Largest `/chain` answer read from a peer.
pub const MAX_PEER_CHAIN_BYTES: usize = 64 * 1024 * 1024;
/// Timeout for every request to a peer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most HTTP peers remembered.
pub const MAX_HTTP_PEERS: usize = 64;
/// Times `/mine` retries when the tip moves under it.
const MINE_ATTEMPTS: usize = 5;

/// State of the API handlers.
#[derive(Clone)]
pub struct Api {
    service: Arc<Service>,
    client: reqwest::Client,
    mine_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Api {
    /// Handlers over `service`.
    pub fn new(service: Arc<Service>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(PEER_TIMEOUT).connect_timeout(PEER_TIMEOUT).build()?;
        Ok(Self { service, client, mine_lock: Arc::new(tokio::sync::Mutex::new(())) })
    }
}

/// The REST API router.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/new_transaction", post(new_transaction))
        .route("/pending_tx", get(pending_tx))
        .route("/mine", get(mine))
        .route("/chain", get(chain))
        .route("/register_node", post(register_node))
        .route("/register_with", post(register_with))
        .route("/add_block", post(add_block))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(api)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.into()).into_response()
}

fn bad_request(what: &str, reason: impl std::fmt::Display) -> Response {
    text(StatusCode::BAD_REQUEST, format!("{what}: {reason}"))
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!("internal error: {e}");
    text(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error: {e}"))
}

/// Parses a JSON object body, with a reason when it is not one.
fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(e) => Err(format!("the body is not JSON: {e}")),
    }
}

fn string_field<'a>(map: &'a serde_json::Map<String, serde_json::Value>, name: &str) -> Result<&'a str, String> {
    match map.get(name) {
        None => Err(format!("`{name}` is missing")),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// `POST /new_transaction {author, content}` → 201 `Success`.
async fn new_transaction(State(api): State<Api>, body: Bytes) -> Response {
    const WHAT: &str = "Invalid transaction data";
    let map = match json_object(&body) {
        Ok(map) => map,
        Err(reason) => return bad_request(WHAT, reason),
    };
    let (author, content) = match (string_field(&map, "author"), string_field(&map, "content")) {
        (Ok(a), Ok(c)) => (a.to_owned(), c.to_owned()),
        (Err(reason), _) | (_, Err(reason)) => return bad_request(WHAT, reason),
    };
    let now = now_ms();
    let post = match Post::new(&author, &content, now) {
        Ok(post) => post,
        Err(e) => return bad_request(WHAT, e),
    };
    let result = api
        .service
        .run_blocking(move |node| match node.submit_post(post, now) {
            Ok((_, outputs)) => (Ok(()), outputs),
            Err(e) => (Err(e.to_string()), Vec::new()),
        })
        .await;
    match result {
        Ok(Ok(())) => text(StatusCode::CREATED, "Success"),
        Ok(Err(reason)) => bad_request(WHAT, reason),
        Err(e) => internal(e),
    }
}

/// `GET /pending_tx` → the pending posts, oldest first.
async fn pending_tx(State(api): State<Api>) -> Response {
    let posts: Vec<Post> =
        api.service.read(|node| node.state().mempool().iter().map(|(_, post)| post.clone()).collect());
    Json(posts).into_response()
}

/// `GET /mine` → mines the pending posts into one block now.
async fn mine(State(api): State<Api>) -> Response {
    let _one_at_a_time = api.mine_lock.lock().await;
    for _ in 0..MINE_ATTEMPTS {
        let template = api.service.read(|node| (!node.state().mempool().is_empty()).then(|| node.template(now_ms())));
        let Some(template) = template else {
            return text(StatusCode::OK, "No transactions to mine");
        };
        let service = api.service.clone();
        let mined = match tokio::task::spawn_blocking(move || service.mine_block_now(template)).await {
            Ok(Ok(block)) => block,
            Ok(Err(e)) => return internal(e),
            Err(e) => return internal(e),
        };
        let height = mined.header.height;
        let result = api
            .service
            .run_blocking(move |node| match node.submit_mined(mined, now_ms()) {
                Ok(outputs) => (Ok(()), outputs),
                Err(e) => (Err(e), Vec::new()),
            })
            .await;
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

#[derive(Serialize)]
struct ChainView<'a> {
    length: usize,
    chain: Vec<&'a Block>,
    peers: Vec<String>,
}

fn chain_json(api: &Api) -> Result<String, serde_json::Error> {
    let peers: Vec<String> = api.service.http_peers.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
    api.service.read(|node| {
        let blocks: Vec<_> = node.state().chain().best_chain().map(|entry| entry.block.clone()).collect();
        let chain: Vec<&Block> = blocks.iter().map(|b| b.as_ref()).collect();
        serde_json::to_string(&ChainView { length: chain.len(), chain, peers })
    })
}

fn json_response(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET /chain` → `{length, chain: [blocks, genesis first], peers}`.
async fn chain(State(api): State<Api>) -> Response {
    match chain_json(&api) {
        Ok(body) => json_response(body),
        Err(e) => internal(e),
    }
}

/// Checks a peer address: `http://host[:port]` (the API is plain HTTP).
fn peer_address(map: &serde_json::Map<String, serde_json::Value>) -> Result<String, String> {
    let address = string_field(map, "node_address")?.trim();
    if address.is_empty() {
        return Err("`node_address` is empty".into());
    }
    let url = reqwest::Url::parse(address).map_err(|e| format!("`node_address` is not a URL: {e}"))?;
    if url.scheme() != "http" || url.host_str().is_none() {
        return Err(format!("`node_address` must be an http:// address of a node, got {address:?}"));
    }
    Ok(address.trim_end_matches('/').to_owned())
}

fn remember_peer(api: &Api, address: String) -> Result<(), String> {
    let mut peers = api.service.http_peers.lock().unwrap_or_else(|e| e.into_inner());
    if !peers.contains(&address) && peers.len() >= MAX_HTTP_PEERS {
        return Err(format!("already {MAX_HTTP_PEERS} peers"));
    }
    peers.insert(address);
    Ok(())
}

/// `POST /register_node {"node_address": url}` → adds the peer, answers the chain.
async fn register_node(State(api): State<Api>, body: Bytes) -> Response {
    let address = match json_object(&body).and_then(|map| peer_address(&map)) {
        Ok(address) => address,
        Err(reason) => return bad_request("Invalid data", reason),
    };
    if let Err(reason) = remember_peer(&api, address) {
        return bad_request("Invalid data", reason);
    }
    chain(State(api)).await
}

/// Reads a peer's answer up to `limit` bytes.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the answer: {e}"))? {
        if body.len() + chunk.len() > limit {
            return Err(format!("the answer is larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `POST /register_with {"node_address": url}` → registers here at the
/// remote, then takes its chain if it is valid and has more work.
async fn register_with(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let remote = match json_object(&body).and_then(|map| peer_address(&map)) {
        Ok(address) => address,
        Err(reason) => return bad_request("Invalid data", reason),
    };
    // The address the caller used to reach us is the one the remote should use.
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return bad_request("Invalid data", "the request has no Host header to give the remote");
    };
    let me = format!("http://{host}");
    let answer = api
        .client
        .post(format!("{remote}/register_node"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({ "node_address": me }).to_string())
        .send()
        .await;
    let response = match answer {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            return text(StatusCode::BAD_GATEWAY, format!("{remote} answered {}", response.status()));
        }
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("{remote} is unreachable: {e}")),
    };
    let body = match read_limited(response, MAX_PEER_CHAIN_BYTES).await {
        Ok(body) => body,
        Err(reason) => return text(StatusCode::BAD_GATEWAY, format!("{remote}: {reason}")),
    };
    let blocks = match parse_chain(&body) {
        Ok(blocks) => blocks,
        Err(reason) => return text(StatusCode::BAD_GATEWAY, format!("{remote} sent an unusable chain: {reason}")),
    };
    if let Err(reason) = remember_peer(&api, remote.clone()) {
        return bad_request("Invalid data", reason);
    }
    // Every block is validated; a branch becomes best only with more work.
    let result = api
        .service
        .run_blocking(move |node| {
            let mut outputs = Vec::new();
            let mut rejected = None;
            for block in blocks {
                let hash = block.hash();
                let envelope = Envelope::broadcast(Message::Block { block });
                for output in node.on_envelope(envelope, now_ms()) {
                    if let Output::Event(Event::BlockRejected { reason, .. }) = &output {
                        rejected.get_or_insert_with(|| format!("block {hash}: {reason}"));
                    }
                    outputs.push(output);
                }
                if rejected.is_some() {
                    break;
                }
            }
            (rejected, outputs)
        })
        .await;
    match result {
        Ok(None) => text(StatusCode::OK, "Registration successful"),
        Ok(Some(reason)) => text(StatusCode::BAD_GATEWAY, format!("{remote} sent an invalid chain: {reason}")),
        Err(e) => internal(e),
    }
}

/// The blocks of a `/chain` answer, genesis first.
fn parse_chain(body: &[u8]) -> Result<Vec<Block>, String> {
    #[derive(serde::Deserialize)]
    struct ChainAnswer {
        chain: Vec<Block>,
    }
    let answer: ChainAnswer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(answer.chain)
}

/// `POST /add_block` block JSON → 201 when valid (any known parent; a
/// heavier branch reorgs), else 400 with the reason and nothing changed.
async fn add_block(State(api): State<Api>, body: Bytes) -> Response {
    const WHAT: &str = "The block was discarded by the node";
    let block: Block = match serde_json::from_slice(&body) {
        Ok(block) => block,
        Err(e) => return bad_request(WHAT, e),
    };
    let result = api
        .service
        .run_blocking(move |node| {
            let (hash, parent) = (block.hash(), block.header.prev_hash);
            let known = node.state().chain().get(&hash).is_some();
            let mut outputs = node.on_envelope(Envelope::broadcast(Message::Block { block }), now_ms());
            let mut verdict: Result<(), String> = Ok(());
            for output in &outputs {
                if let Output::Event(Event::BlockRejected { reason, .. }) = output {
                    verdict = Err(reason.clone());
                }
            }
            let stored = node.state().chain().get(&hash).map(|entry| entry.block.clone());
            if verdict.is_ok() && !known {
                match stored {
                    // Blocks that arrive over HTTP reach the tabs too.
                    Some(block) => match wire::encode(&Envelope::broadcast(Message::Block { block: (*block).clone() }))
                    {
                        Ok(text) => outputs.push(Output::Send(text)),
                        Err(e) => tracing::warn!("cannot announce block {hash}: {e}"),
                    },
                    None => verdict = Err(format!("its parent {parent} is unknown")),
                }
            }
            (verdict, outputs)
        })
        .await;
    match result {
        Ok(Ok(())) => text(StatusCode::CREATED, "Block added to the chain"),
        Ok(Err(reason)) => bad_request(WHAT, reason),
        Err(e) => internal(e),
    }
}

/// Announces every new best block to the HTTP peers (`POST /add_block`) in the
/// background, each with a timeout: a dead peer never slows anything else.
pub async fn announce_to_peers(api: Api, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tip = api.service.watch_tip();
    loop {
        tokio::select! {
            changed = tip.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let hash = tip.borrow_and_update().hash;
        let block = api.service.read(|node| node.state().chain().get(&hash).map(|e| e.block.clone()));
        let Some(block) = block else { continue };
        let Ok(body) = serde_json::to_string(block.as_ref()) else { continue };
        let peers: Vec<String> =
            api.service.http_peers.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        for peer in peers {
            let request = api
                .client
                .post(format!("{peer}/add_block"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            tokio::spawn(async move {
                match request.send().await {
                    Ok(response) if response.status().is_success() => {}
                    Ok(response) => tracing::debug!(%peer, status = %response.status(), "peer refused our block"),
                    Err(e) => tracing::debug!(%peer, "cannot reach peer: {e}"),
                }
            });
        }
    }
}
