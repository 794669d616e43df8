//! `kill -9` during a sync: after a restart on the same data directory the
//! node has at least what it had, and finishes the sync.

mod common;

use std::time::{Duration, Instant};

use common::spawn_node;
use tabchain_core::params::Network;
use tabchain_core::testkit::dev_chain;
use tabchain_core::wire::{Envelope, Message};
use tabchain_node::{Config, start};
use tabchain_process::http::HttpLimits;
use tabchain_relay::Config as RelayConfig;

async fn height(client: &reqwest::Client, url: &str) -> Option<usize> {
    let text = client.get(format!("{url}/chain")).send().await.ok()?.text().await.ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(value["length"].as_u64()? as usize - 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_sync_then_resume() {
    let www = tempfile::tempdir().unwrap();
    let relay = tabchain_relay::start(RelayConfig::new(Network::Dev, www.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ws = format!("ws://{}/ws", relay.addr);

    // A holds 6,000 blocks and joins the relay with them.
    let count = 6_000;
    let data_a = tempfile::tempdir().unwrap();
    let config = |relays: Vec<String>| Config {
        network: Network::Dev,
        relays,
        http: "127.0.0.1:0".parse().unwrap(),
        data: data_a.path().to_path_buf(),
        mine: false,
        threads: 1,
        peers: vec![],
        allowed_hosts: vec![],
        http_limits: HttpLimits::default(),
    };
    let a = start(config(vec![])).await.unwrap();
    let blocks = dev_chain(count);
    a.service
        .update_blocking(move |n| {
            let now = tabchain_node::service::now_ms();
            let outputs =
                blocks.into_iter().flat_map(|block| n.on_envelope(Envelope::broadcast(Message::Block { block }), now));
            ((), outputs.collect())
        })
        .await
        .unwrap();
    a.shut_down().await.unwrap();
    let a = start(config(vec![ws.clone()])).await.unwrap();

    let data_b = tempfile::tempdir().unwrap();
    let spawn = || spawn_node(data_b.path(), &["--relay", &ws]);
    let client = reqwest::Client::new();
    let mut had = 0;
    for delay_ms in [100, 150] {
        let (mut child, url) = spawn();
        let restored = height(&client, &url).await.unwrap_or(0);
        assert!(restored >= had, "restart lost blocks: had {had}, restored {restored}");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        had = height(&client, &url).await.unwrap_or(restored);
        child.kill().unwrap(); // SIGKILL, likely mid-sync; reaped
        eprintln!("killed at height {had} of {count}");
    }
    let (mut child, url) = spawn();
    let restored = height(&client, &url).await.unwrap();
    assert!(restored >= had, "restart lost blocks: had {had}, restored {restored}");
    let started = Instant::now();
    while height(&client, &url).await.unwrap_or(0) < count as usize {
        assert!(started.elapsed() < Duration::from_secs(60), "the sync did not finish after the restarts");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    a.shut_down().await.unwrap();
    relay.shut_down().await.unwrap();
}
