//! The relay under attack (issue 13, "Edges under attack"): each test runs
//! one attack against a relay on `127.0.0.1:0` with real websocket clients
//! and checks that honest peers are not hurt.
//!
//! Covered: addressed requests making a victim answer until its own rate
//! limit got it banned; `Hello` claims flushing the duplicate filter and
//! setting the work of blocks the relay did not know; ten flooders at the
//! post rate limit filling an honest tab's queue until it was dropped as slow.

mod common;

use common::*;
use tabchain_core::target::Work;
use tabchain_relay::RateLimits;

/// Joins a relay without rate limits that matter here and sends `count`
/// further `Hello`s, each claiming a different best block.
async fn flood_hellos(t: &TestRelay, count: usize) -> Client {
    let mut liar = join(t.addr, "liar", work(1)).await;
    for i in 0..count {
        liar.hello(work(1_000_000), fake_hash(&format!("claim {i}"))).await;
    }
    liar.sync().await;
    liar
}

/// 16,384 `Hello`s each put their best hash into the relay's 16,384-entry
/// block filter, pushing every block seen out of it: an old block announced
/// again was broadcast again.
#[tokio::test]
async fn hellos_cannot_flush_the_duplicate_filter() {
    let t = start(|c| {
        c.rate = RateLimits { messages_per_sec: 1e6, burst_messages: 1e6, ..RateLimits::default() };
        assert_eq!(c.seen_ids, 16_384, "the default filter size");
    })
    .await;
    let mut announcer = join(t.addr, "announcer", work(1)).await;
    let mut receiver = join(t.addr, "receiver", work(1)).await;
    let old = block_msg(dev_block(1));
    announcer.broadcast(old.clone()).await;
    assert_eq!(receiver.recv_kind("Block").await.message, old);

    let _liar = flood_hellos(&t, 16_384).await;

    announcer.broadcast(old).await;
    announcer.sync_quiet().await;
    let marker = block_msg(dev_block(2));
    announcer.broadcast(marker.clone()).await;
    assert_eq!(receiver.recv_kind("Block").await.message, marker, "the old block was not forwarded again");
}

/// The work of one dev block on genesis, and of genesis itself.
fn genesis_work() -> Work {
    dev().genesis_bits.to_target().unwrap().work()
}

/// The relay's idea of `client`'s chain: (total work, best height, best hash).
fn known_chain(t: &TestRelay, client: &Client) -> (Work, u64, Option<tabchain_core::hash::BlockHash>) {
    let view = t.relay.peers().into_iter().find(|v| v.id == client.id).expect("connected");
    (view.total_work, view.best_height, view.best_hash)
}

/// The first `Hello` naming a hash the relay did not know set that block's
/// work: a liar claiming a block honest peers would build on decided the
/// work the relay credited them with (too little here, so that requests
/// without `to` went to the liar).
#[tokio::test]
async fn a_hello_claim_does_not_set_the_work_of_a_block() {
    let t = TestRelay::default().await;
    let first = dev_block(1);
    let _liar = join_at(t.addr, "liar", work(1), first.hash()).await;
    let mut honest = join(t.addr, "honest", work(1)).await;
    let mut other = join(t.addr, "other", work(1)).await;

    // The relay knows genesis: a block on it has genesis's work plus its own.
    honest.broadcast(block_msg(first.clone())).await;
    honest.sync().await;
    let expected = genesis_work().saturating_add(dev_block_work());
    assert_eq!(known_chain(&t, &honest), (expected, 1, Some(first.hash())));
    let second = block_on(first.hash(), 2, vec![post("alice", 2)]);
    other.broadcast(block_msg(second.clone())).await;
    other.sync().await;
    assert_eq!(known_chain(&t, &other), (expected.saturating_add(dev_block_work()), 2, Some(second.hash())));
}
