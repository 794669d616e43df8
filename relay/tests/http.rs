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
    get_with(addr, path, &[]).await
}

/// Sends `GET path` with `headers` and returns (status code, lowercase
/// headers, body, de-chunked when sent chunked).
async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}\r\n");
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
        .collect::<Vec<_>>();
    let body = if header(&headers, "transfer-encoding") == Some("chunked") { dechunk(&body) } else { body };
    (status, headers, body)
}

/// The data of a `Transfer-Encoding: chunked` body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return data;
        }
        data.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
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

/// A `www` directory in the temp dir for one test: `pkg/app_bg.wasm` with
/// made-up precompressed siblings (`.br`, `.gz`: served as they are),
/// `app.js` with none, and `index.html`. Returns (dir, wasm, app.js).
fn compressible_www(name: &str) -> (PathBuf, Vec<u8>, Vec<u8>) {
    let www = std::env::temp_dir().join(format!("tabchain-relay-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&www);
    std::fs::create_dir_all(www.join("pkg")).unwrap();
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend(std::iter::repeat_n(b"some wasm bytes ".as_slice(), 256).flatten());
    std::fs::write(www.join("pkg/app_bg.wasm"), &wasm).unwrap();
    std::fs::write(www.join("pkg/app_bg.wasm.br"), b"brotli bytes of the wasm").unwrap();
    std::fs::write(www.join("pkg/app_bg.wasm.gz"), b"gzip bytes of the wasm").unwrap();
    let script: Vec<u8> =
        std::iter::repeat_n(b"console.log('tabchain');\n".as_slice(), 200).flatten().copied().collect();
    std::fs::write(www.join("app.js"), &script).unwrap();
    std::fs::write(www.join("index.html"), "<!doctype html><title>t</title>").unwrap();
    (www, wasm, script)
}

fn brotli_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &data[..], &mut out).expect("valid Brotli");
    out
}

fn gzip_decode(data: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).expect("valid gzip");
    out
}

#[tokio::test]
async fn static_files_are_compressed_as_accepted_and_revalidated() {
    let (www, wasm, script) = compressible_www("compression");
    let relay = spawn_relay(www.clone()).await;
    let addr = relay.addr;
    let wasm_path = "/pkg/app_bg.wasm";

    // The wasm: its precompressed sibling, Brotli first, still application/wasm.
    let (status, headers, body) = get_with(addr, wasm_path, &[("Accept-Encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(body, b"brotli bytes of the wasm");
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let (_, headers, body) = get_with(addr, wasm_path, &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(body, b"gzip bytes of the wasm");
    // Without Accept-Encoding: the file itself.
    let (status, headers, body) = get(addr, wasm_path).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(header(&headers, "content-type"), Some("application/wasm"));
    assert_eq!(header(&headers, "content-length"), Some(wasm.len().to_string().as_str()));
    assert_eq!(body, wasm);
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));

    // A script without precompressed siblings: compressed on the fly.
    let (status, headers, body) = get_with(addr, "/app.js", &[("Accept-Encoding", "br")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("br"));
    assert!(header(&headers, "content-type").unwrap().starts_with("text/javascript"));
    assert!(body.len() < script.len() / 4, "{} bytes of {}", body.len(), script.len());
    assert_eq!(brotli_decode(&body), script);
    let (_, headers, body) = get_with(addr, "/app.js", &[("Accept-Encoding", "gzip")]).await;
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    assert_eq!(gzip_decode(&body), script);
    assert_eq!(header(&headers, "vary"), Some("accept-encoding"));
    let (_, headers, body) = get_with(addr, "/app.js", &[("Accept-Encoding", "identity")]).await;
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(body, script);
    let (_, headers, body) = get(addr, "/app.js").await;
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(body, script);

    // Unchanged: 304, compressed or not.
    let last_modified = header(&headers, "last-modified").expect("a validator").to_owned();
    for accept in ["br", "gzip", "identity"] {
        for path in [wasm_path, "/app.js"] {
            let asked = [("Accept-Encoding", accept), ("If-Modified-Since", last_modified.as_str())];
            let (status, headers, body) = get_with(addr, path, &asked).await;
            assert_eq!(status, 304, "{path} ({accept})");
            assert!(body.is_empty());
            assert_eq!(header(&headers, "content-encoding"), None);
        }
    }
    // A new build: the new file, though the browser holds the old one.
    let new_script = b"console.log('the next build');\n".repeat(50);
    std::fs::write(www.join("app.js"), &new_script).unwrap();
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options().write(true).open(www.join("app.js")).unwrap().set_modified(later).unwrap();
    let asked = [("Accept-Encoding", "br"), ("If-Modified-Since", last_modified.as_str())];
    let (status, headers, body) = get_with(addr, "/app.js", &asked).await;
    assert_eq!(status, 200);
    assert_eq!(brotli_decode(&body), new_script);
    assert_ne!(header(&headers, "last-modified"), Some(last_modified.as_str()));

    // The relay's own routes are not compressed, nor cached as files.
    let (status, headers, body) = get_with(addr, "/metrics", &[("Accept-Encoding", "br, gzip")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(header(&headers, "cache-control"), None);
    assert!(String::from_utf8(body).unwrap().contains("tabchain_relay_peers"));
    let (_, headers, body) = get_with(addr, "/healthz", &[("Accept-Encoding", "br, gzip")]).await;
    assert_eq!((header(&headers, "content-encoding"), body.as_slice()), (None, b"ok".as_slice()));

    // A websocket upgrade with Accept-Encoding (browsers send it) still upgrades.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Accept-Encoding: gzip, deflate, br, zstd\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    drop(stream);

    relay.shut_down().await.unwrap();
    std::fs::remove_dir_all(&www).unwrap();
}

#[tokio::test]
async fn no_compression_serves_every_file_as_it_is() {
    let (www, wasm, script) = compressible_www("no-compression");
    let mut config = Config::new(Network::Dev, www.clone());
    config.no_compression = true;
    let relay = tabchain_relay::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for (path, content) in [("/pkg/app_bg.wasm", &wasm), ("/app.js", &script)] {
        let (status, headers, body) = get_with(relay.addr, path, &[("Accept-Encoding", "gzip, br")]).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-encoding"), None, "{path}");
        assert_eq!(&body, content, "{path}");
        assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    }
    relay.shut_down().await.unwrap();
    std::fs::remove_dir_all(&www).unwrap();
}
