//! The REST API against hostile clients: requests it must not make for
//! them (server-side request forgery), requests a web page could make
//! through a visitor's browser, and load it must bound.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{any, post};
use common::dev_config;
use serde_json::{Value, json};
use tabchain_node::{RunningNode, start};

async fn node(dir: &tempfile::TempDir) -> RunningNode {
    let mut config = dev_config(&[], dir.path());
    config.threads = 2;
    start(config).await.unwrap()
}

/// Posts `body` as JSON to `url`; status and text.
async fn post_json(url: String, body: Value) -> (u16, String) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// Serves `router` on a free loopback port; its address.
async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

async fn peers(base: &str) -> Value {
    let text = reqwest::get(format!("{base}/chain")).await.unwrap().text().await.unwrap();
    let chain: Value = serde_json::from_str(&text).unwrap();
    chain["peers"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_addresses_must_be_origins_of_allowed_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let base = format!("http://{}", node.addr);
    for address in [
        "http://169.254.169.254/x?",
        "http://169.254.169.254",
        "http://127.0.0.1:9/latest/meta-data",
        "http://127.0.0.1:9/?q=1",
        "http://127.0.0.1:9/#x",
        "http://user:secret@127.0.0.1:9",
        "http://0.0.0.0:9",
        "http://[::]:9",
        "http://224.0.0.1:9",
        "http://[fe80::1]:9",
        "http://[::ffff:169.254.169.254]",
    ] {
        for route in ["/register_with", "/register_node"] {
            let (status, text) = post_json(format!("{base}{route}"), json!({ "node_address": address })).await;
            assert_eq!(status, 400, "{route} {address}: {text}");
            assert!(text.contains("node_address"), "{text}");
        }
    }
    assert_eq!(peers(&base).await, json!([]), "none was kept");
    // The canonical origin is what is kept.
    let (status, _) = post_json(format!("{base}/register_node"), json!({"node_address": "http://LOCALHOST:9/"})).await;
    assert_eq!(status, 200);
    assert_eq!(peers(&base).await, json!(["http://localhost:9"]));
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_follows_no_redirect_and_reveals_no_status() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let target = serve(Router::new().fallback(any(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "secret" }
    })))
    .await;
    let redirecting = serve(Router::new().route(
        "/register_node",
        post(move || async move { Redirect::temporary(&format!("http://{target}/internal")) }),
    ))
    .await;
    let not_found = serve(Router::new().fallback(any(|| async { StatusCode::NOT_FOUND.into_response() }))).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };

    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let base = format!("http://{}", node.addr);
    let mut answers = Vec::new();
    for remote in [redirecting, not_found, closed] {
        let (status, text) =
            post_json(format!("{base}/register_with"), json!({"node_address": format!("http://{remote}")})).await;
        assert_eq!(status, 502, "{text}");
        answers.push(text.replace(&remote.to_string(), "REMOTE"));
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was not followed");
    assert!(answers.iter().all(|a| *a == answers[0]), "the same answer however it failed: {answers:?}");
    assert_eq!(peers(&base).await, json!([]));
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_keep_failing_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let base = format!("http://{}", node.addr);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dead = format!("http://{closed}");
    assert_eq!(post_json(format!("{base}/register_node"), json!({ "node_address": dead })).await.0, 200);
    assert_eq!(peers(&base).await, json!([dead]));
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for i in 0.. {
        if peers(&base).await == json!([]) {
            // At least MAX_PEER_FAILURES blocks were announced to it.
            assert!(i >= tabchain_node::http_peers::MAX_PEER_FAILURES, "dropped after {i} blocks");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a dead peer is kept after {i} blocks");
        let post = json!({"author": "a", "content": format!("post {i}")});
        assert_eq!(post_json(format!("{base}/new_transaction"), post).await.0, 201);
        let mined = client.get(format!("{base}/mine")).send().await.unwrap();
        assert_eq!(mined.status(), 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_web_page_can_send_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let base = format!("http://{}", node.addr);
    let client = reqwest::Client::new();
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let body = r#"{"author":"mallory","content":"posted by a web page"}"#;
    // A "simple" cross-site POST: a form or text/plain needs no preflight.
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut request = client.post(format!("{base}/new_transaction")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let (status, text) = send(request).await;
        assert_eq!(status, 415, "{content_type:?}: {text}");
        assert!(text.contains("application/json"), "{text}");
    }
    // Marked cross-site by the browser, or from another origin.
    let json_post =
        || client.post(format!("{base}/new_transaction")).header("content-type", "application/json").body(body);
    assert_eq!(send(json_post().header("sec-fetch-site", "cross-site")).await.0, 403);
    assert_eq!(send(json_post().header("origin", "http://evil.example")).await.0, 403);
    assert_eq!(send(client.get(format!("{base}/mine")).header("sec-fetch-site", "cross-site")).await.0, 403);
    // DNS rebinding: the page's own name, resolving to the node.
    let (status, text) = send(client.get(format!("{base}/chain")).header("host", "rebind.evil.example")).await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("--allowed-host"), "{text}");
    assert!(!client.get(format!("{base}/pending_tx")).send().await.unwrap().text().await.unwrap().contains("mallory"));
    // The node's own origin and plain tools pass.
    let own = json_post().header("origin", base.clone()).header("sec-fetch-site", "same-origin");
    assert_eq!(send(own).await.0, 201);
    let localhost = format!("http://localhost:{}", node.addr.port());
    assert_eq!(send(client.get(format!("{localhost}/chain"))).await.0, 200);
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_host_names_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = dev_config(&[], dir.path());
    config.allowed_hosts = vec!["node.example".into()];
    let node = start(config).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/chain", node.addr);
    let status = |host: &'static str| {
        let request = client.get(&url).header("host", host);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("node.example:8001").await, 200);
    assert_eq!(status("NODE.EXAMPLE").await, 200);
    assert_eq!(status("other.example").await, 403);
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_answer_follows_the_tip_and_stays_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let base = format!("http://{}", node.addr);
    let client = reqwest::Client::new();
    let chain = || async { client.get(format!("{base}/chain")).send().await.unwrap().text().await.unwrap() };
    let first = chain().await;
    assert_eq!(first, chain().await, "same tip, same answer");
    post_json(format!("{base}/new_transaction"), json!({"author": "a", "content": "x"})).await;
    assert_eq!(client.get(format!("{base}/mine")).send().await.unwrap().status(), 200);
    let second: Value = serde_json::from_str(&chain().await).unwrap();
    assert_eq!(second["length"], 2, "the cache moved with the tip");
    assert_eq!(second["chain"].as_array().unwrap().len(), 2);
    assert_eq!(second["chain"][1]["transactions"][0]["content"], "x");
    // Many at once all get the whole answer.
    let answers = futures_util::future::join_all((0..16).map(|_| chain())).await;
    assert!(answers.iter().all(|a| serde_json::from_str::<Value>(a).unwrap() == second));
    node.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_down_stops_a_mine_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    // What `GET /mine` runs, on a block no nonce can finish (a target of
    // 1), so only the shutdown can end it.
    let mut block = node.service.template_with_posts().unwrap_or_else(|| {
        let params = tabchain_core::params::Params::for_network(tabchain_core::params::Network::Dev);
        tabchain_core::state::ChainState::new(params.clone()).block_template(params.genesis_timestamp_ms + 1_000)
    });
    block.header.bits = tabchain_core::target::CompactTarget(0x0300_0001);
    let service = node.service.clone();
    let mining = tokio::task::spawn_blocking(move || service.mine_block_now(block));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!mining.is_finished());
    let started = std::time::Instant::now();
    node.shut_down().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown waited {:?}", started.elapsed());
    assert!(mining.await.unwrap().unwrap().is_none(), "the mining was cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_requests_beyond_the_bound_are_refused_at_once() {
    use tabchain_node::api::{MAX_CONCURRENT_HEAVY, MAX_WAITING_HEAVY};
    // A remote that takes its time to answer each registration.
    let slow = serve(Router::new().route(
        "/register_node",
        post(|| async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            StatusCode::NOT_FOUND
        }),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(&dir).await;
    let url = format!("http://{}/register_with", node.addr);
    let extra = 4;
    let requests = (0..MAX_CONCURRENT_HEAVY + MAX_WAITING_HEAVY + extra)
        .map(|_| post_json(url.clone(), json!({"node_address": format!("http://{slow}")})));
    let statuses: Vec<u16> = futures_util::future::join_all(requests).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 503).count(), extra, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 502).count(), MAX_CONCURRENT_HEAVY + MAX_WAITING_HEAVY);
    node.shut_down().await.unwrap();
}
