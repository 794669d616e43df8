//! The REST API's HTTP server against clients that hold sockets: a request
//! head that never ends, a body that stalls, an idle keep-alive connection,
//! one address opening connections until nobody else could.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod common;

use common::dev_config;
use tabchain_node::{Config, RunningNode, start};
use tabchain_process::http::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn node(dir: &tempfile::TempDir, http_limits: HttpLimits) -> RunningNode {
    start(Config { http_limits, ..dev_config(&[], dir.path()) }).await.unwrap()
}

/// Whether the node closed `stream` (EOF or reset) within `within`; a
/// response before the close is read and skipped.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Connects to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn partial_requests_and_idle_connections_are_closed_within_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HttpLimits { header_timeout: Duration::from_millis(400), ..HttpLimits::default() };
    let node = node(&dir, limits).await;
    let half_line = b"GET /cha".as_slice();
    let half_headers = b"POST /new_transaction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app".as_slice();
    let idle_after_a_request = b"GET /pending_tx HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".as_slice();
    for sent in [half_line, half_headers, idle_after_a_request] {
        let mut stream = TcpStream::connect(node.addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let started = Instant::now();
        let what = String::from_utf8_lossy(sent);
        assert!(closed_within(&mut stream, Duration::from_secs(3)).await, "still open after 3 s: {what:?}");
        assert!(started.elapsed() >= Duration::from_millis(300), "closed before the timeout: {what:?}");
    }
    assert_eq!(node.http_stats.header_timeouts(), 3);
    node.shut_down().await.unwrap();
}

#[tokio::test]
async fn a_stalled_body_is_refused_and_closed_within_the_body_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HttpLimits { body_timeout: Duration::from_millis(400), ..HttpLimits::default() };
    let node = node(&dir, limits).await;
    let mut stream = TcpStream::connect(node.addr).await.unwrap();
    let head =
        "POST /add_block HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(format!("{head}{{\"index\": 1,").as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "still open after 3 s");
    assert!(started.elapsed() >= Duration::from_millis(300), "closed before the timeout");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "a client error: {answer}");
    node.shut_down().await.unwrap();
}

#[tokio::test]
async fn one_address_cannot_hold_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HttpLimits { max_connections_per_address: 3, ..HttpLimits::default() };
    let node = node(&dir, limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2], node.addr).await);
    }
    let mut fourth = connect_from([127, 0, 0, 2], node.addr).await;
    assert!(closed_within(&mut fourth, Duration::from_secs(3)).await, "a fourth from one address is closed");
    let mut other = connect_from([127, 0, 0, 3], node.addr).await;
    other.write_all(b"GET /pending_tx HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), other.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "another address is served: {answer}");
    assert_eq!(node.http_stats.refused_per_address(), 1);
    drop(held);
    node.shut_down().await.unwrap();
}
