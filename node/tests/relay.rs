//! A node, a relay and a websocket client posing as a tab exchange posts and
//! blocks: the tab's post reaches the node's mempool, the node mines it, the
//! tab receives the block.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::target::Work;
use tabchain_core::testkit::{dev, stamped};
use tabchain_core::wire::{self, Envelope, Message, PROTOCOL_VERSION};
use tabchain_node::{Config, start};
use tabchain_process::http::HttpLimits;
use tabchain_relay::Config as RelayConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_and_a_node_exchange_posts_and_blocks() {
    let www = tempfile::tempdir().unwrap();
    let running = tabchain_relay::start(RelayConfig::new(Network::Dev, www.path()), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (relay, relay_addr) = (running.relay.clone(), running.addr);

    let data = tempfile::tempdir().unwrap();
    let node = start(Config {
        network: Network::Dev,
        relays: vec![format!("ws://{relay_addr}/ws")],
        http: "127.0.0.1:0".parse().unwrap(),
        data: data.path().to_path_buf(),
        mine: false,
        threads: 2,
        peers: vec![],
        allowed_hosts: vec![],
        http_limits: HttpLimits::default(),
    })
    .await
    .unwrap();

    // The tab: Welcome, Hello, then wait until the node is among the peers.
    let (mut tab, _) = tokio_tungstenite::connect_async(format!("ws://{relay_addr}/ws")).await.unwrap();
    let chain_id = Params::for_network(Network::Dev).chain_id();
    let hello = Envelope::broadcast(Message::Hello {
        chain_id,
        protocol: PROTOCOL_VERSION,
        agent: "test-tab".into(),
        best_height: 0,
        best_hash: chain_id,
        total_work: Work::ZERO,
    });
    tab.send(WsMessage::text(wire::encode(&hello).unwrap())).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while relay.peers().iter().filter(|p| p.joined).count() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the node never joined the relay");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let post =
        Post::new_signed("tab", "hello node", tabchain_node::service::now_ms(), &[9; 32], &dev().chain_id()).unwrap();
    let post = stamped(post);
    let tx = wire::encode(&Envelope::broadcast(Message::Tx { tx: post.clone() })).unwrap();
    tab.send(WsMessage::text(tx)).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", node.addr);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pending = http.get(format!("{base}/pending_tx")).send().await.unwrap().text().await.unwrap();
        if pending.contains("hello node") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the post never reached the node: {pending}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mined = http.get(format!("{base}/mine")).send().await.unwrap().text().await.unwrap();
    assert_eq!(mined, "Block #1 is mined.");
    let block = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = tab.next().await.unwrap().unwrap();
            if let WsMessage::Text(text) = frame
                && let Ok(Envelope { message: Message::Block { block }, from, .. }) = wire::decode(text.as_str())
            {
                assert!(from.is_some(), "stamped by the relay");
                return block;
            }
        }
    })
    .await
    .expect("the tab never received the block");
    assert_eq!(block.header.height, 1);
    assert_eq!(block.posts, vec![post]);
    node.shut_down().await.unwrap();
    running.shut_down().await.unwrap();
}
