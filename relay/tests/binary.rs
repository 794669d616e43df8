//! Runs the `tabchain-relay` binary itself: the URL line on stdout, refusal of
//! bad flags, and a clean exit with close frames on SIGTERM.

use std::process::Command;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

const RELAY: &str = env!("CARGO_BIN_EXE_tabchain-relay");

#[test]
fn bad_flags_are_refused_with_a_reason() {
    for (args, expected) in [
        (&["--max-frame-bytes", "10"][..], "max frame bytes 10 must be between"),
        (&["--rate-burst-bytes", "1000"][..], "byte burst 1000 is smaller than the frame limit"),
        (&["--network", "test"][..], "test"),
        (&["--max-peers", "-1"][..], "-1"),
        (&["--max-peers", "0"][..], "max peers must be greater than zero"),
        (&["--allowed-origin", "https://a.example,https://b.example/"][..], "\"https://b.example/\" is not"),
        (&["--max-peers", "8", "--max-peers-per-address", "9"][..], "max peers per address 9 is above max peers 8"),
        (&["--connect-burst", "0"][..], "connect burst 0 must be at least 1"),
        (&["--header-timeout-secs", "0"][..], "header timeout must be greater than zero"),
    ] {
        let out = Command::new(RELAY).args(["--listen", "127.0.0.1:0"]).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a URL");
    }
}

#[tokio::test]
async fn sigterm_closes_connections_and_exits_cleanly() {
    let www = std::env::temp_dir();
    let mut command = Command::new(RELAY);
    command.args(["--listen", "127.0.0.1:0", "--network", "dev", "--www"]).arg(&www);
    let mut relay = tabchain_process::spawn::spawn("tabchain-relay", command).unwrap();
    let ws_url = format!("ws://{}/ws", relay.addr);

    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let welcome = ws.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().starts_with(r#"{"type":"Welcome""#), "{welcome:?}");

    let status = Command::new("kill").args(["-TERM", &relay.id().to_string()]).status().unwrap();
    assert!(status.success());
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(frame) = ws.next().await {
            if let Ok(Message::Close(frame)) = frame {
                return frame;
            }
        }
        None
    })
    .await
    .expect("no close frame within 5 s")
    .expect("connection ended without a close frame");
    assert_eq!(close.code, CloseCode::Away);

    let exit = tokio::task::spawn_blocking(move || relay.wait().map(|exit| (exit, relay.stderr()))).await.unwrap();
    let (exit, stderr) = exit.unwrap();
    assert!(exit.success(), "relay exited with {exit}; its stderr:\n{stderr}");
}
