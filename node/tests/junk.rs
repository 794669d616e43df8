//! Side branches cost the attacker, not us, end to end: a relay, a native
//! node with a short chain, and a peer announcing 2,000 distinct children of
//! genesis through the relay at its rate limit. The node's store (redb) and
//! memory stay bounded: not one of them is kept.

mod common;

use std::time::Duration;

use common::{dev_config, dev_relay, hello_text};
use futures_util::SinkExt;
use tabchain_core::target::Work;
use tabchain_core::testkit::{block_on_at, dev, dev_chain};
use tabchain_core::wire::{self, Envelope, Message};
use tabchain_node::start;
use tabchain_node::store::Store;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_children_of_genesis_leave_the_store_bounded() {
    let (running, _www, ws) = dev_relay().await;
    let relay = running.relay.clone();
    let data = tempfile::tempdir().unwrap();
    let config = dev_config(&[&ws], data.path());
    let node = start(config.clone()).await.unwrap();
    let chain = dev_chain(5);
    node.service
        .update_blocking(move |driver| {
            let now = tabchain_node::service::now_ms();
            let (outputs, result) = driver.submit_blocks(chain, now);
            (result.map_err(|(_, e)| e.to_string()), outputs)
        })
        .await
        .unwrap()
        .unwrap();

    // The attacker joins, then announces its junk at the relay's sustained rate.
    let (mut attacker, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
    attacker.send(WsMessage::text(hello_text("junk", 1, Work::ZERO))).await.unwrap();
    let chain_id = dev().chain_id();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while relay.peers().iter().filter(|p| p.joined).count() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both peers join");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let genesis_ms = dev().genesis_timestamp_ms;
    let junk: Vec<String> = (0..2_000u64)
        .map(|n| {
            let block = block_on_at(chain_id, 1, genesis_ms + 1 + n, Vec::new());
            wire::encode(&Envelope::broadcast(Message::Block { block })).unwrap()
        })
        .collect();
    let mut interval = tokio::time::interval(Duration::from_millis(5)); // 200 a second
    for text in junk {
        interval.tick().await;
        attacker.send(WsMessage::text(text)).await.unwrap();
    }
    // Let the last ones arrive, then look at the node.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (height, in_memory) = node.service.read(|d| (d.height(), d.state().chain().block_count()));
    assert_eq!(height, 5);
    assert_eq!(in_memory, 6, "the node holds its chain and nothing else");
    node.shut_down().await.unwrap();
    let store = Store::open(&config.data, &dev()).unwrap();
    assert_eq!(store.load_blocks().unwrap().len(), 5, "the store holds the node's chain and nothing else");
    drop(store);
    running.shut_down().await.unwrap();
}
