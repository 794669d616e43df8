//! A sync cannot be captured, end to end: a relay, an honest native node
//! with a 50-block chain, and a liar that claims the maximum work and answers
//! each `GetHeaders` 9 s late with one header. A new native node joining
//! must have the honest chain within 15 s.

mod common;

use std::time::{Duration, Instant};

use common::{dev_config, dev_relay, hello_text};
use futures_util::{SinkExt, StreamExt};
use tabchain_core::target::Work;
use tabchain_core::testkit::{block_on, dev, dev_chain};
use tabchain_core::wire::{self, Envelope, Message};
use tabchain_node::start;
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_syncs_from_the_honest_peer_next_to_a_liar_within_15_s() {
    let (running, _www, ws) = dev_relay().await;

    // The honest node: its chain is built before it joins (so its Hello
    // claims that chain's work).
    let honest_data = tempfile::tempdir().unwrap();
    let honest = start(dev_config(&[], honest_data.path())).await.unwrap();
    let chain = dev_chain(50);
    honest
        .service
        .update_blocking(move |driver| {
            let (outputs, result) = driver.submit_blocks(chain, tabchain_node::service::now_ms());
            (result.map_err(|(_, e)| e.to_string()), outputs)
        })
        .await
        .unwrap()
        .unwrap();
    let honest_tip = honest.service.read(|d| d.tip());
    honest.shut_down().await.unwrap();
    let honest = start(dev_config(&[&ws], honest_data.path())).await.unwrap();

    // The liar: claims the most work there could be, answers late and short.
    let (liar, _) = tokio_tungstenite::connect_async(&ws).await.unwrap();
    let (mut liar_out, mut liar_in) = liar.split();
    let claim = Work::from_hex(&"f".repeat(64)).unwrap();
    liar_out.send(WsMessage::text(hello_text("liar", 1_000_000, claim))).await.unwrap();
    let one_header = block_on(dev().chain_id(), 1, Vec::new()).header;
    let (answers, mut to_send) = tokio::sync::mpsc::channel::<String>(16);
    let liar_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                frame = liar_in.next() => {
                    let Some(Ok(WsMessage::Text(text))) = frame else { return };
                    let Ok(envelope) = wire::decode(text.as_str()) else { continue };
                    if let (Message::GetHeaders { .. }, Some(asker)) = (envelope.message, envelope.from) {
                        let answers = answers.clone();
                        let reply = Envelope::to(asker, Message::Headers { headers: vec![one_header] });
                        let text = wire::encode(&reply).unwrap();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(9)).await;
                            let _ = answers.send(text).await;
                        });
                    }
                }
                Some(text) = to_send.recv() => {
                    if liar_out.send(WsMessage::text(text)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.relay.peers().iter().filter(|p| p.joined).count() < 2 {
        assert!(Instant::now() < deadline, "the honest node and the liar join");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The new node joins and must not stay with the liar.
    let started = Instant::now();
    let new_data = tempfile::tempdir().unwrap();
    let new = start(dev_config(&[&ws], new_data.path())).await.unwrap();
    let deadline = started + Duration::from_secs(15);
    while new.service.read(|d| d.tip()) != honest_tip {
        assert!(Instant::now() < deadline, "the new node did not sync from the honest peer within 15 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("synced 50 blocks from the honest peer after {:?} next to the liar", started.elapsed());

    liar_task.abort();
    new.shut_down().await.unwrap();
    honest.shut_down().await.unwrap();
    running.shut_down().await.unwrap();
}
