//! Runs the relay's router on an ephemeral port and talks raw HTTP/1.1 to it.

use std::net::SocketAddr;
use std::path::PathBuf;

use tabchain_relay::{CONTENT_SECURITY_POLICY, Config, Network, RunningRelay};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Serves a dev relay for a `www` directory on `127.0.0.1:0`.
async fn spawn_relay(www: PathBuf) -> RunningRelay {
    tabchain_relay::start(Config::new(Network::Dev, www), SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap()
}

/// Sends `GET path` and returns (status code, lowercase headers, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response has a header terminator");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn healthz_and_wasm_mime_type() {
    let www = std::env::temp_dir().join(format!("tabchain-relay-test-{}", std::process::id()));
    std::fs::create_dir_all(www.join("pkg")).unwrap();
    let wasm = b"\0asm\x01\0\0\0";
    std::fs::write(www.join("pkg/app_bg.wasm"), wasm).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>t</title>").unwrap();

    let relay = spawn_relay(www.clone()).await;
    let addr = relay.addr;

    let (status, _, body) = get(addr, "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, b"ok");

    let (status, headers, body) = get(addr, "/pkg/app_bg.wasm").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(body, wasm);

    let (status, headers, _) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").unwrap().starts_with("text/html"));
    assert_eq!(header(&headers, "content-security-policy"), Some(CONTENT_SECURITY_POLICY));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

    let (status, headers, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("tabchain_relay_peers{state=\"joined\"} 0"), "{text}");

    let (status, headers, body) = get(addr, "/api/peers").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(body, b"[]");

    // A plain GET of the websocket route is refused, not served as a file.
    let (status, _, _) = get(addr, "/ws").await;
    assert_eq!(status, 400);

    let (status, _, _) = get(addr, "/missing.js").await;
    assert_eq!(status, 404);

    relay.shut_down().await.unwrap();
    std::fs::remove_dir_all(&www).unwrap();
}

/// Whether the relay closed `stream` (EOF or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: std::time::Duration) -> bool {
    let mut buf = [0; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {} // a response before the close
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn partial_requests_and_idle_connections_are_closed_within_the_header_timeout() {
    use std::time::{Duration, Instant};
    let www = std::env::temp_dir().join(format!("tabchain-relay-test-timeout-{}", std::process::id()));
    let mut config = Config::new(Network::Dev, www);
    config.header_timeout = Duration::from_millis(400);
    let relay = tabchain_relay::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let half_line = b"GET /heal".as_slice();
    let half_headers = b"GET /ws HTTP/1.1\r\nHost: relay\r\nUpgrade: websocket\r\n".as_slice();
    let idle_after_a_request = b"GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n".as_slice();
    for sent in [half_line, half_headers, idle_after_a_request] {
        let mut stream = TcpStream::connect(relay.addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let started = Instant::now();
        let what = String::from_utf8_lossy(sent);
        assert!(closed_within(&mut stream, Duration::from_secs(3)).await, "still open after 3 s: {what:?}");
        assert!(started.elapsed() >= Duration::from_millis(300), "closed before the timeout: {what:?}");
    }
    assert_eq!(relay.relay.http_stats().header_timeouts(), 3);
    relay.shut_down().await.unwrap();
}

#[tokio::test]
async fn one_address_cannot_hold_every_http_connection() {
    use tokio::net::TcpSocket;
    let www = std::env::temp_dir().join(format!("tabchain-relay-test-http-cap-{}", std::process::id()));
    let mut config = Config::new(Network::Dev, www);
    config.max_http_per_address = 3;
    let relay = tabchain_relay::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let connect_from = |from: [u8; 4]| async move {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((from, 0))).unwrap();
        socket.connect(relay.addr).await.unwrap()
    };
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from([127, 0, 0, 2]).await);
    }
    let mut fourth = connect_from([127, 0, 0, 2]).await;
    assert!(closed_within(&mut fourth, std::time::Duration::from_secs(3)).await, "a fourth from one address is closed");
    let (status, _, body) = get(relay.addr, "/healthz").await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()), "another address is served");
    assert_eq!(relay.relay.http_stats().refused_per_address(), 1);
}
