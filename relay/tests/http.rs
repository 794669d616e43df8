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
