//! HTTP peers: `POST /register_node`, `POST /register_with`, and announcing
//! new best blocks to every peer in the background.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::body::{peer_address, peer_chain};
use super::chain::chain;
use super::{Api, MAX_PEER_CHAIN_BYTES, bad_request, busy, internal, text};
use crate::http_peers::PeerOrigin;
use crate::service::now_ms;

/// `POST /register_node {"node_address": url}` → adds the peer, answers the chain.
pub(super) async fn register_node(State(api): State<Api>, body: Bytes) -> Response {
    let address = match peer_address(&body) {
        Ok(address) => address,
        Err(reason) => return bad_request("Invalid data", reason),
    };
    if let Err(reason) = api.service.http_peers.add(address) {
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
/// remote, then takes its chain: every block is validated, and its branch
/// becomes best only with more work.
pub(super) async fn register_with(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let remote = match peer_address(&body) {
        Ok(address) => address,
        Err(reason) => return bad_request("Invalid data", reason),
    };
    let Some(_slot) = api.limits.heavy.enter().await else { return busy("/register_with") };
    // The address the caller used to reach us is the one the remote should use.
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return bad_request("Invalid data", "the request has no Host header to give the remote");
    };
    let me = format!("http://{host}");
    let answer = api
        .client
        .post(remote.url("/register_node"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(serde_json::json!({ "node_address": me }).to_string())
        .send()
        .await;
    // One answer for every way of failing (refused, timed out, a redirect,
    // an error status): the API is not a port scanner. The log has details.
    let response = match answer {
        Ok(response) if response.status().is_success() => response,
        Ok(response) => {
            tracing::debug!(%remote, status = %response.status(), "registration refused");
            return not_a_node(&remote);
        }
        Err(e) => {
            tracing::debug!(%remote, "registration failed: {e}");
            return not_a_node(&remote);
        }
    };
    let body = match read_limited(response, MAX_PEER_CHAIN_BYTES).await {
        Ok(body) => body,
        Err(reason) => return text(StatusCode::BAD_GATEWAY, format!("{remote}: {reason}")),
    };
    let blocks = match peer_chain(&body) {
        Ok(blocks) => blocks,
        Err(reason) => return text(StatusCode::BAD_GATEWAY, format!("{remote} sent an unusable chain: {reason}")),
    };
    if let Err(reason) = api.service.http_peers.add(remote.clone()) {
        return bad_request("Invalid data", reason);
    }
    let result = api
        .service
        .update_blocking(move |driver| {
            let (outputs, result) = driver.submit_blocks(blocks, now_ms());
            (result, outputs)
        })
        .await;
    match result {
        Ok(Ok(())) => text(StatusCode::OK, "Registration successful"),
        Ok(Err((hash, reason))) => {
            text(StatusCode::BAD_GATEWAY, format!("{remote} sent an invalid chain: block {hash}: {reason}"))
        }
        Err(e) => internal(e),
    }
}

/// `502`: registering at `remote` did not work, whatever the reason.
fn not_a_node(remote: &PeerOrigin) -> Response {
    text(StatusCode::BAD_GATEWAY, format!("{remote} did not accept the registration (is a tabchain node there?)"))
}

/// Announces every new best block to the HTTP peers (`POST /add_block`) in the
/// background, each with a timeout: a dead peer never slows anything else.
/// A peer gets one announcement at a time (one still running means this
/// block is skipped for it), and one that fails
/// [`MAX_PEER_FAILURES`](crate::http_peers::MAX_PEER_FAILURES) times in a
/// row is dropped. A 4xx answer (it has the block, or lacks its parent) is
/// not a failure: the peer is there.
pub async fn announce_to_peers(api: Api, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut tip = api.service.watch_tip();
    loop {
        tokio::select! {
            changed = tip.changed() => if changed.is_err() { return },
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let hash = tip.borrow_and_update().hash;
        let block = api.service.read(|driver| driver.state().chain().get(&hash).and_then(|e| e.block().cloned()));
        let Some(block) = block else { continue };
        let Ok(body) = serde_json::to_string(block.as_ref()) else { continue };
        for peer in api.service.http_peers.start_announcements() {
            let request = api
                .client
                .post(peer.url("/add_block"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            let service = api.service.clone();
            tokio::spawn(async move {
                let reached = match request.send().await {
                    Ok(response) if response.status().is_client_error() || response.status().is_success() => true,
                    Ok(response) => {
                        tracing::debug!(%peer, status = %response.status(), "peer failed on our block");
                        false
                    }
                    Err(e) => {
                        tracing::debug!(%peer, "cannot reach peer: {e}");
                        false
                    }
                };
                if reached {
                    service.http_peers.succeeded(&peer);
                } else if service.http_peers.failed(&peer) {
                    tracing::info!(%peer, "dropped an HTTP peer that keeps failing");
                }
            });
        }
    }
}
