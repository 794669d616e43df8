//! `GetPeers`: a peer asks the relay for the joined peers as they are now
//! (heights and work from later `Hello`s and announced blocks, the time
//! since each last announced a block), at most once a second; only the
//! relay answers, and only the relay may send `Peers`.

mod common;

use common::*;
use tabchain_core::wire::{ErrorCode, Message, PeerInfo};

/// The `Peers` answer `client` gets for a `GetPeers`.
async fn ask(client: &mut Client) -> Vec<PeerInfo> {
    client.broadcast(Message::GetPeers {}).await;
    let answer = client.recv_kind("Peers").await;
    assert_eq!(answer.from, None, "the relay answers");
    let Message::Peers { peers } = answer.message else { unreachable!() };
    peers
}

#[tokio::test]
async fn get_peers_lists_current_claims_and_last_blocks_once_a_second() {
    let t = TestRelay::default().await;
    let mut miner = join(t.addr, "miner", work(3)).await;
    let mut quiet = join(t.addr, "quiet", work(2)).await;

    // The quiet peer's chain moved by others' blocks: a later Hello says so.
    quiet.hello(work(50), fake_hash("quiet 2")).await;
    // The miner announces a block (on genesis, so the relay knows its work).
    let block = block_on(dev_chain_id(), 1, vec![post("alice", 1)]);
    miner.broadcast(block_msg(block.clone())).await;
    quiet.recv_kind("Block").await;
    miner.sync_quiet().await;

    let peers = ask(&mut miner).await;
    let ids: Vec<_> = peers.iter().map(|p| p.id).collect();
    assert_eq!(ids, [quiet.id, miner.id], "everyone joined, the asker too, most work first");
    assert_eq!(peers[0].total_work, work(50), "the later Hello's claim");
    assert_eq!(peers[0].last_block_secs, None, "it never announced a block");
    assert_eq!(peers[1].best_height, 1, "credited with its block");
    assert_eq!(peers[1].last_block_secs, Some(0));
    assert!(peers.iter().all(|p| p.relay.is_none()), "a relay alone names no relay");

    // Again within the second: refused (and charged) without an answer.
    miner.broadcast(Message::GetPeers {}).await;
    miner.expect_error(ErrorCode::RateLimited).await;
    // For the relay only: not addressed to a peer, and never sent by one.
    miner.send_to(quiet.id, Message::GetPeers {}).await;
    miner.expect_error(ErrorCode::BadMessage).await;
    quiet.broadcast(Message::Peers { peers: vec![] }).await;
    quiet.expect_error(ErrorCode::BadMessage).await;
    for client in [&mut miner, &mut quiet] {
        client.sync_quiet().await;
    }
    miner.expect_silence(100).await;

    // A second later it may ask again, and the block has aged.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let peers = ask(&mut miner).await;
    let aged = peers.iter().find(|p| p.id == miner.id).and_then(|p| p.last_block_secs);
    assert!(aged.is_some_and(|secs| secs >= 1), "{aged:?}");
}
