//! The relay's websocket protocol, end to end: a relay on `127.0.0.1:0` and
//! real websocket clients.
//!
//! Covered: `Welcome` / `Hello` / `PeerJoined` / `PeerLeft`; refusal of another
//! chain or protocol (1008) and of anything before `Hello`; broadcast to joined
//! peers only, stamped with `from`; addressed delivery and unknown peers;
//! requests without `to` going to the peer with the most work (from `Hello`,
//! then from announced blocks); the relay's own `Pong`; the block and post
//! checks (proof of work, easiest target, Merkle root, post signatures and
//! fields — but not signatures inside blocks); a block sent again checked
//! once (duplicates and remembered invalid blocks, the latter still charged
//! for); duplicate dropping; garbage, binary frames and the misbehaviour ban
//! (1008), its points forgiven over time; oversize frames (1009); rate limits; a slow consumer dropped while 50 readers get every block; 200
//! clients at once; `max_peers` (503); hello and idle timeouts; shutdown
//! (1001) and refusal of new connections meanwhile; `/metrics`; peer news
//! reaching a peer between its `Welcome` and its `Hello`; the close handshake
//! waiting for a peer that reads late; admission per address (eight clients
//! from 127.0.0.2 leave room for 127.0.0.3; the connect rate; `429`), by
//! `Origin` (`403`), and an upgrade that never reads nor says `Hello`
//! giving its slot back.
//!
//! Ordering is never left to sleeps when something observable exists: a
//! client knows it joined when it sees its own `PeerJoined`, and
//! [`Client::sync`] (a `Ping` answered by the relay) proves that everything an
//! earlier message of the same client caused has been queued. Short silences
//! (`expect_silence`) only check that something did *not* arrive.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tabchain_core::block::Block;
use tabchain_core::hash::{BlockHash, MerkleRoot};
use tabchain_core::params::Params;
use tabchain_core::post::Post;
use tabchain_core::target::Work;
use tabchain_core::validate::counts;
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PROTOCOL_VERSION, PeerId, PeerInfo};
use tabchain_relay::{BroadcastLimits, DisconnectReason, Network, RateLimits};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Close codes (RFC 6455 §7.4.1).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;

fn info(client: &Client, total_work: u64) -> PeerInfo {
    PeerInfo::new(client.id, client.name.clone(), 7, work(total_work))
}

/// Asserts `envelope` is `message` relayed from `from` (broadcast: no `to`).
#[track_caller]
fn assert_relayed(envelope: &Envelope, from: &Client, message: &Message) {
    assert_eq!(envelope.from, Some(from.id), "stamped with the sender: {envelope:?}");
    assert_eq!(&envelope.message, message);
}

#[tokio::test]
async fn welcome_hello_join_and_leave() {
    let t = TestRelay::default().await;
    let mut a = join(t.addr, "a", work(10)).await;
    assert!(a.welcome_peers.is_empty(), "first peer sees nobody: {:?}", a.welcome_peers);

    let mut b = Client::connect(t.addr, "b").await;
    assert_ne!(a.id, b.id);
    assert_eq!(b.welcome_peers, vec![info(&a, 10)], "the second Welcome lists the first peer");
    b.hello(work(20), fake_hash("b")).await;
    let b_joined = Envelope::broadcast(Message::PeerJoined { peer: info(&b, 20) });
    for client in [&mut a, &mut b] {
        assert_eq!(client.recv().await, b_joined, "{}", client.name);
    }
    let views = t.relay.peers();
    assert_eq!(
        views.iter().map(|v| (v.id, v.joined, v.agent.as_str())).collect::<Vec<_>>(),
        [(a.id, true, "a"), (b.id, true, "b")]
    );

    // A third one, connected but silent, is listed as pending; its Welcome lists both.
    let c = Client::connect(t.addr, "c").await;
    assert_eq!(c.welcome_peers, vec![info(&b, 20), info(&a, 10)], "most work first");
    assert!(!t.relay.peers().iter().find(|v| v.id == c.id).unwrap().joined);

    let b_id = b.id;
    drop(b);
    assert_eq!(a.recv().await, Envelope::broadcast(Message::PeerLeft { peer_id: b_id }));
    // c never joined: nobody hears about it leaving.
    drop(c);
    eventually("only a is left", || t.peer_ids() == [a.id]).await;
    a.expect_silence(100).await;
}

#[tokio::test]
async fn wrong_chain_or_protocol_is_refused_with_1008() {
    let t = TestRelay::default().await;
    let mut watcher = join(t.addr, "watcher", work(1)).await;
    let main_chain = Params::for_network(Network::Main).chain_id();
    let hellos = [
        Message::Hello {
            chain_id: main_chain,
            protocol: PROTOCOL_VERSION,
            agent: "main".into(),
            best_height: 0,
            best_hash: main_chain,
            total_work: work(1),
        },
        Message::Hello {
            chain_id: dev_chain_id(),
            protocol: PROTOCOL_VERSION + 1,
            agent: "future".into(),
            best_height: 0,
            best_hash: dev_chain_id(),
            total_work: work(1),
        },
    ];
    for hello in hellos {
        let mut client = Client::connect(t.addr, "stranger").await;
        client.broadcast(hello).await;
        client.expect_error(ErrorCode::WrongChain).await;
        assert_eq!(client.expect_close().await, POLICY);
    }
    eventually("both refused", || t.relay.disconnects(DisconnectReason::WrongChain) == 2).await;
    assert_eq!(t.peer_ids(), [watcher.id]);
    watcher.expect_silence(100).await;
}

#[tokio::test]
async fn messages_before_hello_are_refused() {
    let t = TestRelay::default().await;
    let mut c = Client::connect(t.addr, "early").await;
    for message in [tx(post("alice", 1)), Message::GetMempool {}, Message::Ping { nonce: 1 }] {
        c.broadcast(message).await;
        let text = c.expect_error(ErrorCode::BadMessage).await;
        assert!(text.contains("send Hello first"), "{text}");
    }
    // Three refusals (60 points) do not ban: the Hello still works.
    c.hello(work(1), fake_hash("early")).await;
    let joined = c.recv().await;
    assert!(matches!(joined.message, Message::PeerJoined { peer } if peer.id == c.id), "joined");
}

#[tokio::test]
async fn broadcasts_reach_other_joined_peers_only() {
    let t = TestRelay::default().await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;
    let mut c = join(t.addr, "c", work(1)).await;
    let mut pending = Client::connect(t.addr, "pending").await;

    let message = tx(post("alice", 1));
    a.broadcast(message.clone()).await;
    for receiver in [&mut b, &mut c] {
        assert_relayed(&receiver.recv_kind("Tx").await, &a, &message);
    }
    a.sync_quiet().await;

    let message = block_msg(dev_block(1));
    b.broadcast(message.clone()).await;
    for receiver in [&mut a, &mut c] {
        let got = receiver.recv_kind("Block").await;
        assert_relayed(&got, &b, &message);
        assert_eq!(got.to, None);
    }
    b.sync_quiet().await;

    // A `from` set by the sender is replaced by the relay.
    let message = tx(post("alice", 2));
    c.send(Envelope { from: Some(a.id), to: None, message: message.clone() }).await;
    assert_relayed(&a.recv_kind("Tx").await, &c, &message);
    assert_relayed(&b.recv_kind("Tx").await, &c, &message);

    pending.expect_silence(200).await;
}

#[tokio::test]
async fn addressed_messages_reach_only_their_peer() {
    let t = TestRelay::default().await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;
    let mut c = join(t.addr, "c", work(1)).await;
    let mut pending = Client::connect(t.addr, "pending").await;

    let messages = [
        Message::GetBlocks { locator: vec![fake_hash("tip")], limit: 10 },
        Message::Blocks { blocks: vec![dev_block(1), block_on(dev_block(1).hash(), 2, vec![post("alice", 2)])] },
        Message::GetMempool {},
        Message::Mempool { txs: vec![post("alice", 3), signed_post(4)] },
        Message::Ping { nonce: 5 },
        Message::Pong { nonce: 6 },
        Message::Error { code: ErrorCode::Internal, message: "disk full".into() },
        tx(post("alice", 7)),
        block_msg(dev_block(8)),
    ];
    for message in &messages {
        a.send_to(b.id, message.clone()).await;
    }
    for message in &messages {
        let got = b.recv_kind(message.kind()).await;
        assert_eq!(got, Envelope { from: Some(a.id), to: Some(b.id), message: message.clone() });
    }
    a.sync_quiet().await;

    // Unknown and not-yet-joined peers cannot be addressed.
    for to in [PeerId(999_999), pending.id] {
        a.send_to(to, Message::GetMempool {}).await;
        let text = a.expect_error(ErrorCode::UnknownPeer).await;
        assert!(text.contains(&to.to_string()), "{text}");
    }
    c.expect_silence(200).await;
    pending.expect_silence(0).await;
    b.expect_silence(0).await;
}

#[tokio::test]
async fn relay_answers_ping_without_to() {
    let t = TestRelay::default().await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;
    a.broadcast(Message::Ping { nonce: 42 }).await;
    assert_eq!(a.recv_kind("Pong").await, Envelope::broadcast(Message::Pong { nonce: 42 }));
    // Pong and Error without `to` are for the relay: nobody gets them.
    a.broadcast(Message::Pong { nonce: 43 }).await;
    a.broadcast(Message::Error { code: ErrorCode::Internal, message: "x".into() }).await;
    a.sync_quiet().await;
    b.expect_silence(200).await;
}

/// The relay's idea of `client`'s chain: (total work, best height, best hash).
fn known_chain(t: &TestRelay, client: &Client) -> (Work, u64, Option<BlockHash>) {
    let view = t.relay.peers().into_iter().find(|v| v.id == client.id).expect("connected");
    (view.total_work, view.best_height, view.best_hash)
}

/// The work of the dev genesis block (where the relay's known chain work starts).
fn genesis_work() -> Work {
    dev().genesis_bits.to_target().unwrap().work()
}

/// `parent_work` plus one dev block's work.
fn plus_block(parent_work: Work) -> Work {
    parent_work.saturating_add(dev_block_work())
}

#[tokio::test]
async fn requests_without_to_go_to_the_peer_with_most_work() {
    let t = TestRelay::default().await;
    let get_blocks = Message::GetBlocks { locator: vec![dev_chain_id()], limit: 100 };

    // Alone: there is nobody to ask.
    let mut poor = join(t.addr, "poor", work(3)).await;
    for request in [get_blocks.clone(), Message::GetMempool {}] {
        poor.broadcast(request).await;
        poor.expect_error(ErrorCode::UnknownPeer).await;
    }

    let mut rich = join(t.addr, "rich", work(5)).await;
    let mut asker = join(t.addr, "asker", work(2)).await;
    for request in [get_blocks.clone(), Message::GetMempool {}] {
        asker.broadcast(request.clone()).await;
        assert_relayed(&rich.recv_kind(request.kind()).await, &asker, &request);
    }
    // Never back to the asker: the richest asks the next richest.
    rich.broadcast(get_blocks.clone()).await;
    assert_relayed(&poor.recv_kind("GetBlocks").await, &rich, &get_blocks);
    rich.sync_quiet().await;
    asker.sync_quiet().await;
    poor.expect_silence(100).await;

    // poor announces a block on genesis, whose work the relay knows: poor's
    // chain has genesis's work and the block's (4, under rich's claim of 5);
    // then one on top of it: poor has the most work (6).
    let first = block_on(dev_chain_id(), 1, vec![post("alice", 1)]);
    let announced = block_msg(first.clone());
    poor.broadcast(announced.clone()).await;
    for receiver in [&mut rich, &mut asker] {
        assert_relayed(&receiver.recv_kind("Block").await, &poor, &announced);
    }
    poor.sync_quiet().await;
    assert_eq!(known_chain(&t, &poor), (plus_block(genesis_work()), 1, Some(first.hash())));
    let second = block_on(first.hash(), 2, vec![post("alice", 2)]);
    poor.broadcast(block_msg(second.clone())).await;
    poor.sync_quiet().await;
    for receiver in [&mut rich, &mut asker] {
        receiver.recv_kind("Block").await;
    }
    assert_eq!(known_chain(&t, &poor), (plus_block(plus_block(genesis_work())), 2, Some(second.hash())));
    asker.broadcast(get_blocks.clone()).await;
    assert_relayed(&poor.recv_kind("GetBlocks").await, &asker, &get_blocks);
    asker.sync_quiet().await;
    rich.expect_silence(100).await;

    // Blocks passing through in a sync answer teach the relay their work too:
    // asker announces on a block it was sent by rich.
    let synced = block_on(second.hash(), 3, vec![post("alice", 3)]);
    rich.send_to(asker.id, Message::Blocks { blocks: vec![synced.clone()] }).await;
    asker.recv_kind("Blocks").await;
    let third = block_on(synced.hash(), 4, vec![post("alice", 4)]);
    asker.broadcast(block_msg(third.clone())).await;
    asker.sync_quiet().await;
    for receiver in [&mut rich, &mut poor] {
        receiver.recv_kind("Block").await;
    }
    let expected = plus_block(plus_block(plus_block(plus_block(genesis_work()))));
    assert_eq!(known_chain(&t, &asker), (expected, 4, Some(third.hash())));
    poor.broadcast(get_blocks.clone()).await;
    assert_relayed(&asker.recv_kind("GetBlocks").await, &poor, &get_blocks);
    poor.sync_quiet().await;

    // A block on an unknown parent credits nothing, nor does one on the best
    // block another peer claims (a claim is not known work)...
    rich.broadcast(block_msg(block_on(fake_hash("nowhere"), 500, vec![post("alice", 5)]))).await;
    rich.sync_quiet().await;
    for receiver in [&mut poor, &mut asker] {
        receiver.recv_kind("Block").await;
    }
    assert_eq!(known_chain(&t, &rich).0, work(5));
    poor.broadcast(block_msg(block_on(fake_hash("rich"), 8, vec![post("alice", 6)]))).await;
    poor.sync_quiet().await;
    for receiver in [&mut rich, &mut asker] {
        receiver.recv_kind("Block").await;
    }
    assert_eq!(known_chain(&t, &poor).1, 2, "poor's chain is unchanged");
    // ... but a block on the peer's own claimed best block adds to its own claim.
    let on_own = block_on(fake_hash("rich"), 8, vec![post("alice", 7)]);
    rich.broadcast(block_msg(on_own.clone())).await;
    rich.sync_quiet().await;
    for receiver in [&mut poor, &mut asker] {
        receiver.recv_kind("Block").await;
    }
    assert_eq!(known_chain(&t, &rich), (plus_block(work(5)), 8, Some(on_own.hash())));

    // A later Hello updates the claim, without a new PeerJoined.
    rich.hello(work(1_000), fake_hash("rich 2")).await;
    rich.sync_quiet().await;
    assert_eq!(known_chain(&t, &rich).0, work(1_000));
    poor.broadcast(get_blocks.clone()).await;
    assert_relayed(&rich.recv_kind("GetBlocks").await, &poor, &get_blocks);
    poor.sync_quiet().await;
    for client in [&mut poor, &mut rich, &mut asker] {
        let news = client.sync().await;
        assert!(news.is_empty(), "{}: {news:?}", client.name);
        client.expect_silence(0).await;
    }
}

/// The dev block `n` with a nonce that misses its target.
fn block_without_pow(n: u64) -> Block {
    let mut block = dev_block(n);
    let target = block.header.bits.to_target().unwrap();
    while target.is_met_by(&block.header.hash()) {
        block.header.nonce += 1;
    }
    block
}

#[tokio::test]
async fn invalid_blocks_and_posts_are_refused_but_block_signatures_are_not_checked() {
    let t = start(|c| c.ban_score = 10_000).await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;

    let too_easy = {
        let mut block = dev_block(2);
        block.header.bits = bits(0x2100_ffff);
        assert!(block.header.bits.to_target().unwrap() > dev().easiest_target());
        seal_header(block)
    };
    let wrong_root = {
        let mut block = dev_block(3);
        block.header.merkle_root = MerkleRoot::from_bytes([9; 32]);
        seal_header(block)
    };
    for (what, block) in [("no proof of work", block_without_pow(1)), ("too easy", too_easy), ("bad root", wrong_root)]
    {
        a.broadcast(block_msg(block.clone())).await;
        let text = a.expect_error(ErrorCode::InvalidBlock).await;
        assert!(text.contains(&block.hash().to_string()), "{what}: {text}");
        a.send_to(b.id, block_msg(block)).await;
        a.expect_error(ErrorCode::InvalidBlock).await;
    }
    // One bad block spoils a sync answer.
    a.send_to(b.id, Message::Blocks { blocks: vec![dev_block(4), block_without_pow(5)] }).await;
    a.expect_error(ErrorCode::InvalidBlock).await;

    let empty = Post { content: String::new(), ..post("alice", 8) };
    let unstamped = Post::new("alice", "free ride", 1_795_564_800_000).unwrap();
    for post in [forged_post(1), empty, unstamped] {
        a.broadcast(tx(post.clone())).await;
        a.expect_error(ErrorCode::InvalidTx).await;
        a.send_to(b.id, tx(post)).await;
        a.expect_error(ErrorCode::InvalidTx).await;
    }
    a.send_to(b.id, Message::Mempool { txs: vec![post("alice", 6), forged_post(7)] }).await;
    a.expect_error(ErrorCode::InvalidTx).await;

    // Nothing of that reached b: a's next valid message is the first it sees.
    let marker = tx(post("alice", 8));
    a.broadcast(marker.clone()).await;
    assert_relayed(&b.recv().await, &a, &marker);

    // The relay checks proof of work and the Merkle root, not the signatures
    // inside a block: a forged signed post in a well-formed block passes.
    let forged = block_msg(block_on(dev_chain_id(), 1, vec![forged_post(9)]));
    a.broadcast(forged.clone()).await;
    assert_relayed(&b.recv().await, &a, &forged);
    a.sync_quiet().await;
    assert!(t.peer_ids().contains(&a.id));
}

/// A dev block on genesis of 1,000 posts: 999 signed, then `last`.
fn block_of_1000_ending_with(last: Post) -> Block {
    let mut posts: Vec<Post> = (0..999).map(signed_post).collect();
    posts.push(last);
    block_on(dev_chain_id(), 1, posts)
}

#[tokio::test]
async fn a_block_sent_100_times_is_checked_once_and_invalid_ones_still_cost_points() {
    let t = start(|c| {
        c.ban_score = 10_000;
        c.rate.bytes_per_sec = 1e9;
        c.rate.burst_bytes = 1e9;
    })
    .await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;

    // Invalid after its Merkle root matched (an empty post): the relay
    // refuses it every time, but checks it once.
    let empty = Post { content: String::new(), ..post("bob", 77) };
    let invalid = block_msg(block_of_1000_ending_with(empty));
    let before = counts::structures();
    for n in 1..=100 {
        a.broadcast(invalid.clone()).await;
        a.expect_error(ErrorCode::InvalidBlock).await;
        assert_eq!(counts::structures() - before, 1, "send {n} was checked again");
    }
    // A bad signature the relay cannot see (it checks none inside blocks):
    // forwarded once, the copies dropped before any check.
    let forged = block_msg(block_of_1000_ending_with(forged_post(999)));
    let before = counts::structures();
    for _ in 0..100 {
        a.broadcast(forged.clone()).await;
    }
    a.sync_quiet().await;
    assert_eq!(counts::structures() - before, 1);
    assert_relayed(&b.recv_kind("Block").await, &a, &forged);
    b.expect_silence(100).await;

    // At the default ban score a peer sending the invalid block again is
    // still charged for each copy: the fourth closes the connection.
    let t = TestRelay::default().await;
    let mut x = join(t.addr, "x", work(1)).await;
    let before = counts::structures();
    for _ in 0..3 {
        x.broadcast(invalid.clone()).await;
        x.expect_error(ErrorCode::InvalidBlock).await;
    }
    x.broadcast(invalid).await;
    x.expect_error(ErrorCode::InvalidBlock).await;
    assert_eq!(x.expect_close().await, POLICY);
    assert_eq!(counts::structures() - before, 1);
}

#[tokio::test]
async fn duplicates_are_forwarded_once() {
    let t = TestRelay::default().await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;
    let mut c = join(t.addr, "c", work(1)).await;

    for (kind, first, marker) in [
        ("Tx", tx(post("alice", 1)), tx(post("alice", 2))),
        ("Block", block_msg(dev_block(1)), block_msg(dev_block(2))),
    ] {
        a.broadcast(first.clone()).await;
        assert_relayed(&b.recv_kind(kind).await, &a, &first);
        assert_relayed(&c.recv_kind(kind).await, &a, &first);
        // Again from the same peer and from another: dropped without an error.
        a.broadcast(first.clone()).await;
        a.sync_quiet().await;
        b.broadcast(first.clone()).await;
        b.sync_quiet().await;
        // Had either copy been forwarded, it would come before the marker.
        a.broadcast(marker.clone()).await;
        assert_relayed(&b.recv_kind(kind).await, &a, &marker);
        assert_relayed(&c.recv_kind(kind).await, &a, &marker);
    }
}

#[tokio::test]
async fn garbage_is_refused_and_repeat_offenders_are_banned() {
    let t = TestRelay::default().await;
    let mut x = join(t.addr, "offender", work(1)).await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;

    // Four bad messages (80 points): refused one by one, still connected.
    let bad: [WsMessage; 4] = [
        WsMessage::text("{"),
        WsMessage::text("hello"),
        WsMessage::text(r#"{"type":"Nope","x":1}"#),
        WsMessage::binary(b"{\"type\":\"Ping\",\"nonce\":1}".to_vec()),
    ];
    for (n, frame) in bad.into_iter().enumerate() {
        x.send_frame(frame).await;
        x.expect_error(ErrorCode::BadMessage).await;
        let message = tx(post("alice", n as u64));
        a.broadcast(message.clone()).await;
        for receiver in [&mut b, &mut x] {
            assert_relayed(&receiver.recv_kind("Tx").await, &a, &message);
        }
    }
    x.sync_quiet().await;

    // The fifth reaches the ban score: an Error, then a 1008 close.
    x.send_text(r#"{"type":"Tx"}"#).await;
    x.expect_error(ErrorCode::BadMessage).await;
    assert_eq!(x.expect_close().await, POLICY);
    eventually("the offender is gone", || !t.peer_ids().contains(&x.id)).await;
    assert_eq!(t.relay.disconnects(DisconnectReason::Misbehaving), 1);

    let message = tx(post("alice", 100));
    a.broadcast(message.clone()).await;
    assert_relayed(&b.recv_kind("Tx").await, &a, &message);
    a.sync_quiet().await;
}

#[tokio::test]
async fn misbehaviour_points_are_forgiven_over_time() {
    // 50 points forgiven a second: four bad messages (80 points), a pause of
    // 1.5 s (75 forgiven),
    // and four more (85) stay under the ban score of 100; eight at once would not.
    let t = start(|c| c.ban_decay = 50.0).await;
    let mut x = join(t.addr, "sometimes wrong", work(1)).await;
    for round in 0..2 {
        for _ in 0..4 {
            x.send_text("{").await;
            x.expect_error(ErrorCode::BadMessage).await;
        }
        x.sync_quiet().await;
        if round == 0 {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
    }
    assert!(t.peer_ids().contains(&x.id), "still connected");
    assert_eq!(t.relay.disconnects(DisconnectReason::Misbehaving), 0);
}

#[tokio::test]
async fn oversize_frame_closes_with_1009() {
    let t = start(|c| c.max_frame_bytes = 64 * 1024).await;
    let mut x = join(t.addr, "big", work(1)).await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;

    x.send_text(&"x".repeat(100 * 1024)).await;
    match x.ended().await {
        Ended::Close(code, reason) => assert_eq!(code, TOO_BIG, "close reason {reason:?}"),
        other => panic!("expected a 1009 close frame, the client saw {other:?}"),
    }
    eventually("the sender is gone", || !t.peer_ids().contains(&x.id)).await;
    assert_eq!(t.relay.disconnects(DisconnectReason::FrameTooLarge), 1);

    let message = tx(post("alice", 1));
    a.broadcast(message.clone()).await;
    assert_relayed(&b.recv_kind("Tx").await, &a, &message);
}

#[tokio::test]
async fn rate_limit_drops_the_excess() {
    // A burst of 5 (the Hello takes one), then one message every 5 s: nothing
    // refills during the test.
    let t =
        start(|c| c.rate = RateLimits { messages_per_sec: 0.2, burst_messages: 5.0, ..RateLimits::default() }).await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;

    for nonce in 0..20 {
        a.broadcast(Message::Ping { nonce }).await;
    }
    a.send_to(b.id, Message::Ping { nonce: 99 }).await;
    let (mut pongs, mut limited) = (Vec::new(), 0);
    for _ in 0..21 {
        let envelope = a.recv_kind_of(&["Pong", "Error"]).await;
        match envelope.message {
            Message::Pong { nonce } => pongs.push(nonce),
            Message::Error { code: ErrorCode::RateLimited, .. } => limited += 1,
            other => panic!("expected Pong or rate_limited, got {other:?}"),
        }
    }
    assert_eq!(pongs, [0, 1, 2, 3], "the burst left after Hello is answered, the rest is not");
    assert_eq!(limited, 17);
    b.expect_silence(200).await;

    // 5 of the 17 are excused (up to twice the rate the excess is only
    // dropped), 12 × 2 points is under the ban score: a is still connected
    // and receives.
    assert!(t.peer_ids().contains(&a.id));
    let message = tx(post("alice", 1));
    b.broadcast(message.clone()).await;
    assert_relayed(&a.recv_kind("Tx").await, &b, &message);
}

/// A distinct dev block of about 2 KiB of JSON: two long posts.
fn big_block(i: u64) -> Block {
    let content = |j: u64| format!("{i}-{j} {}", "x".repeat(900));
    let posts = (0..2).map(|j| stamped(Post::new("filler", &content(j), 1_795_564_800_000 + i).unwrap())).collect();
    block_on(fake_hash(&format!("parent {i}")), i + 1, posts)
}

/// The blocks announced so far, as each reader must receive them, and how
/// many each reader has received (with a wake-up for the sender).
struct Feed {
    expected: Mutex<Vec<Arc<str>>>,
    received: Vec<AtomicUsize>,
    progress: Notify,
}

impl Feed {
    fn slowest(&self) -> usize {
        self.received.iter().map(|c| c.load(Ordering::Acquire)).min().unwrap_or(0)
    }

    fn expected(&self, i: usize) -> Arc<str> {
        self.expected.lock().unwrap()[i].clone()
    }
}

/// Reads blocks until the end marker (a `Tx`), checking each against the
/// feed; returns the client, how many blocks it got, and who it heard leave.
async fn read_feed(mut reader: Client, index: usize, feed: Arc<Feed>, end: Envelope) -> (Client, usize, Vec<PeerId>) {
    let (mut got, mut left) = (0, Vec::new());
    loop {
        let text = reader.recv_raw().await;
        // Blocks are checked byte for byte against what the relay should send
        // (cheap for 50 readers); anything else is decoded.
        if got < feed.expected.lock().unwrap().len() && *text == *feed.expected(got) {
            got += 1;
            feed.received[index].store(got, Ordering::Release);
            feed.progress.notify_waiters();
            continue;
        }
        let envelope = wire::decode(&text).unwrap();
        match envelope.message {
            Message::PeerJoined { .. } => {}
            Message::PeerLeft { peer_id } => left.push(peer_id),
            _ if envelope == end => return (reader, got, left),
            _ => {
                let want = wire::decode(&feed.expected(got)).unwrap();
                panic!("{}: block {got}: expected {want:?}, got {envelope:?}", reader.name);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_is_dropped_while_readers_get_every_block() {
    const READERS: usize = 50;
    /// At least this many blocks are announced, and more until the slow peer
    /// is dropped: kernel socket buffers absorb a few MB (about 4 MB with
    /// Linux defaults) before the relay's queue for it even starts to fill.
    const MIN_BLOCKS: usize = 2_000;
    const MAX_BLOCKS: usize = 20_000;
    /// Blocks the sender may be ahead of the slowest reader: well under the
    /// queue bound, so the readers themselves never fill their queues.
    const WINDOW: usize = 24;
    let t = start(|c| {
        c.queue_messages = 32;
        c.queue_bytes = 256 * 1024;
        c.max_frame_bytes = 64 * 1024;
        c.rate = RateLimits { messages_per_sec: 1e6, burst_messages: 1e6, bytes_per_sec: 1e9, burst_bytes: 1e9 };
        // Every client from 127.0.0.1, at once.
        c.connect_burst = READERS as f64 + 2.0;
        c.broadcast =
            BroadcastLimits { messages_per_sec: 1e6, burst_messages: 1e6, bytes_per_sec: 1e9, burst_bytes: 1e9 };
    })
    .await;
    let mut readers = Vec::new();
    for i in 0..READERS {
        readers.push(join(t.addr, &format!("reader-{i}"), work(1)).await);
    }
    let slow = join(t.addr, "slow", work(1)).await; // and never read again
    let mut sender = join(t.addr, "sender", work(1)).await;

    let feed = Arc::new(Feed {
        expected: Mutex::new(Vec::new()),
        received: (0..READERS).map(|_| AtomicUsize::new(0)).collect(),
        progress: Notify::new(),
    });
    let end = Envelope { from: Some(sender.id), to: None, message: tx(post("alice", 0)) };
    let tasks: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, reader)| tokio::spawn(read_feed(reader, i, feed.clone(), end.clone())))
        .collect();

    let started = Instant::now();
    let mut sent = 0;
    let mut kicked_after = None;
    while sent < MIN_BLOCKS || kicked_after.is_none() {
        assert!(sent < MAX_BLOCKS, "the slow peer was not dropped after {sent} blocks");
        let message = block_msg(big_block(sent as u64));
        let relayed = wire::encode(&Envelope { from: Some(sender.id), to: None, message: message.clone() }).unwrap();
        feed.expected.lock().unwrap().push(relayed.into());
        loop {
            let notified = feed.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if sent < feed.slowest() + WINDOW {
                break;
            }
            tokio::time::timeout(TIMEOUT, notified).await.expect("readers stalled");
        }
        sender.broadcast(message).await;
        sent += 1;
        if kicked_after.is_none() && t.relay.disconnects(DisconnectReason::Slow) > 0 {
            kicked_after = Some(sent);
        }
    }
    sender.broadcast(end.message.clone()).await;
    let mut readers = Vec::new();
    for task in tasks {
        readers.push(tokio::time::timeout(Duration::from_secs(20), task).await.expect("reader done").unwrap());
    }
    eprintln!(
        "{sent} blocks of ~2 KiB to {READERS} readers in {:?}; the slow peer was dropped after {kicked_after:?}",
        started.elapsed()
    );

    for (reader, got, _) in &readers {
        assert_eq!(*got, sent, "{} got every block", reader.name);
    }
    assert!(!t.peer_ids().contains(&slow.id), "the slow peer is gone");
    assert_eq!(t.relay.disconnects(DisconnectReason::Slow), 1, "and nobody else was too slow");
    let ids = t.peer_ids();
    assert_eq!(ids.len(), READERS + 1, "every reader and the sender are still connected");
    assert!(readers.iter().all(|(r, _, _)| ids.contains(&r.id)) && ids.contains(&sender.id));
    // Everyone hears that the slow peer left.
    for (reader, _, left) in &mut readers {
        if left.is_empty() {
            let envelope = reader.recv_kind("PeerLeft").await;
            let Message::PeerLeft { peer_id } = envelope.message else { unreachable!() };
            left.push(peer_id);
        }
        assert_eq!(*left, [slow.id], "{}", reader.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_at_once() {
    const CLIENTS: usize = 200;
    // All from 127.0.0.1, handshaking at once: more websockets and HTTP
    // connections than one address may open by default.
    let t = start(|c| {
        c.connect_burst = CLIENTS as f64;
        c.max_http_per_address = CLIENTS;
    })
    .await;
    let addr = t.addr;
    let joins = (0..CLIENTS).map(|i| async move { join(addr, &format!("client-{i}"), work(1)).await });
    let mut clients = futures_util::future::join_all(joins).await;

    let (status, body) = http_get(t.addr, "/api/peers").await;
    assert_eq!(status, 200);
    let peers: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(peers.len(), CLIENTS);
    assert!(peers.iter().all(|p| p["joined"] == true), "{body}");

    let (first, others) = clients.split_first_mut().unwrap();
    let message = block_msg(dev_block(1));
    first.broadcast(message.clone()).await;
    for other in others {
        assert_relayed(&other.recv_kind("Block").await, first, &message);
    }
    first.sync_quiet().await;
}

#[tokio::test]
async fn hello_timeout_closes_with_1008() {
    let t = start(|c| c.hello_timeout = Duration::from_millis(200)).await;
    let mut silent = Client::connect(t.addr, "silent").await;
    assert_eq!(silent.expect_close().await, POLICY);
    assert_eq!(t.relay.disconnects(DisconnectReason::HelloTimeout), 1);
}

#[tokio::test]
async fn idle_timeout_spares_readers_and_drops_the_silent() {
    let t = start(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let mut reader = join(t.addr, "reader", work(1)).await;
    let deaf = join(t.addr, "deaf", work(1)).await;
    // Reading lets tungstenite answer the relay's pings.
    reader.recv_kind("PeerJoined").await;
    let peer_left = reader.recv().await;
    assert_eq!(peer_left.message, Message::PeerLeft { peer_id: deaf.id }, "the deaf client is dropped first");
    reader.expect_silence(700).await;
    assert_eq!(t.peer_ids(), [reader.id]);
    assert_eq!(t.relay.disconnects(DisconnectReason::IdleTimeout), 1);
    reader.sync_quiet().await;
    // What the deaf client finds when it reads at last: see
    // `a_client_reading_late_still_gets_the_close_frame`.
    drop(deaf);
}

#[tokio::test]
async fn shutdown_closes_everyone_with_1001() {
    let t = TestRelay::default().await;
    let mut clients = vec![
        join(t.addr, "a", work(1)).await,
        join(t.addr, "b", work(2)).await,
        join(t.addr, "c", work(3)).await,
        Client::connect(t.addr, "pending").await,
    ];
    t.relay.shut_down(Duration::from_secs(2)).await;
    assert!(t.relay.peers().is_empty());
    for client in &mut clients {
        assert_eq!(client.expect_close().await, GOING_AWAY, "{}", client.name);
    }
    assert_eq!(t.relay.disconnects(DisconnectReason::Shutdown), 4);
}

#[tokio::test]
async fn metrics_count_traffic() {
    let t = TestRelay::default().await;
    let mut a = join(t.addr, "a", work(1)).await;
    let mut b = join(t.addr, "b", work(1)).await;
    let message = block_msg(dev_block(1));
    a.broadcast(message.clone()).await;
    a.broadcast(message.clone()).await;
    assert_relayed(&b.recv_kind("Block").await, &a, &message);
    a.sync_quiet().await;

    let (status, text) = http_get(t.addr, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "tabchain_relay_peers{state=\"joined\"} 2",
        "tabchain_relay_messages_received_total{type=\"Block\"} 2",
        "tabchain_relay_messages_sent_total{type=\"Block\"} 1",
        "tabchain_relay_dropped_total{reason=\"duplicate\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn connections_beyond_max_peers_get_503() {
    let t = start(|c| {
        c.max_peers = 2;
        c.max_peers_per_address = Some(2);
    })
    .await;
    let a = join(t.addr, "a", work(1)).await;
    let _pending = Client::connect(t.addr, "pending").await;
    let url = format!("ws://{}/ws", t.addr);
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
    // A slot frees when a connection ends (just after the relay forgets the
    // peer, so the first tries may still meet a full relay).
    drop(a);
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok(_) => break,
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 503 => {
                assert!(tokio::time::Instant::now() < deadline, "the slot was never freed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn connections_after_shutdown_are_refused() {
    let t = TestRelay::default().await;
    t.relay.shut_down(Duration::from_secs(1)).await;
    // `Relay::shut_down` promises: "New connections are refused meanwhile."
    match tokio_tungstenite::connect_async(format!("ws://{}/ws", t.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        Err(e) => panic!("expected a 503, got {e}"),
        Ok((_, response)) => panic!("the upgrade was accepted ({}) after shutdown", response.status()),
    }
}

#[tokio::test]
async fn a_new_peer_learns_of_joins_and_leaves_between_welcome_and_hello() {
    let t = TestRelay::default().await;
    let a = join(t.addr, "a", work(1)).await;
    let mut c = Client::connect(t.addr, "c").await;
    let mut known: Vec<PeerId> = c.welcome_peers.iter().map(|p| p.id).collect();
    assert_eq!(known, [a.id]);
    // Before c's Hello: b joins and a leaves.
    let b = join(t.addr, "b", work(1)).await;
    let a_id = a.id;
    drop(a);
    eventually("a is gone", || !t.peer_ids().contains(&a_id)).await;
    c.hello(work(1), fake_hash("c")).await;
    // Everything c hears up to a round trip after its Hello.
    let nonce = 12_345;
    c.broadcast(Message::Ping { nonce }).await;
    loop {
        let envelope = c.recv().await;
        match envelope.message {
            Message::PeerJoined { peer } if peer.id != c.id => known.push(peer.id),
            Message::PeerLeft { peer_id } => known.retain(|id| *id != peer_id),
            Message::Pong { nonce: n } if n == nonce => break,
            _ => {}
        }
    }
    assert_eq!(known, [b.id], "c's view of the joined peers (besides itself)");
}

#[tokio::test]
async fn a_client_reading_late_still_gets_the_close_frame() {
    let t = start(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let mut deaf = join(t.addr, "deaf", work(1)).await;
    eventually("the deaf client is dropped", || t.relay.disconnects(DisconnectReason::IdleTimeout) == 1).await;
    // Reading now: the relay's pings (which tungstenite answers), then the
    // 1000 close. Today the relay has already closed the socket, so the
    // answer to a ping fails and the client sees "Broken pipe" instead.
    assert_eq!(deaf.expect_close().await, NORMAL);
}

/// The `tabchain_relay_refused_total` line for `reason` from `/metrics`.
async fn refused_metric(t: &TestRelay, reason: &str) -> String {
    let (status, text) = http_get(t.addr, "/metrics").await;
    assert_eq!(status, 200);
    let prefix = format!("tabchain_relay_refused_total{{reason=\"{reason}\"}} ");
    text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {prefix:?} in\n{text}")).to_owned()
}

#[tokio::test]
async fn eight_clients_from_one_address_do_not_lock_out_another() {
    let t = start(|c| c.max_peers = 8).await;
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        match try_upgrade_from(t.addr, [127, 0, 0, 2], &[]).await {
            Ok(ws) => held.push(ws),
            Err(status) => statuses.push(status),
        }
    }
    let mut other = join_from(t.addr, [127, 0, 0, 3], "other", work(1)).await;
    other.sync_quiet().await;
    // A quarter of the slots by default: 2 of 8; the rest get 429.
    assert_eq!((held.len(), statuses), (2, vec![429; 6]));
    assert_eq!(refused_metric(&t, "per_address").await, "tabchain_relay_refused_total{reason=\"per_address\"} 6");
    // A closed connection frees its place.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while try_upgrade_from(t.addr, [127, 0, 0, 2], &[]).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the place was never freed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn origins_outside_the_allowed_list_get_403() {
    let t = start(|c| c.allowed_origins = vec!["http://tabs.example".into()]).await;
    let origin = |value| [("origin", value)];
    assert_eq!(try_upgrade_from(t.addr, [127, 0, 0, 2], &origin("http://evil.example")).await.err(), Some(403));
    assert!(try_upgrade_from(t.addr, [127, 0, 0, 2], &origin("http://tabs.example")).await.is_ok());
    // Native nodes send no Origin.
    assert!(try_upgrade_from(t.addr, [127, 0, 0, 2], &[]).await.is_ok());
    assert_eq!(refused_metric(&t, "origin").await, "tabchain_relay_refused_total{reason=\"origin\"} 1");
    // Without a list, any origin.
    let open = TestRelay::default().await;
    assert!(try_upgrade_from(open.addr, [127, 0, 0, 2], &origin("http://evil.example")).await.is_ok());
}

#[tokio::test]
async fn joining_and_leaving_in_a_loop_is_bounded_per_address() {
    let t = start(|c| {
        c.connect_rate = 1.0;
        c.connect_burst = 5.0;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        // Each connection closes before the next: only the rate can refuse.
        statuses.push(try_upgrade_from(t.addr, [127, 0, 0, 2], &[]).await.map(drop).err());
    }
    let refused: Vec<_> = statuses.iter().flatten().collect();
    assert_eq!(refused, [&429; 5], "{statuses:?}");
    assert!(statuses[..5].iter().all(Option::is_none), "the burst passes: {statuses:?}");
    // Another address is not affected.
    join_from(t.addr, [127, 0, 0, 3], "other", work(1)).await.sync_quiet().await;
    assert_eq!(refused_metric(&t, "churn").await, "tabchain_relay_refused_total{reason=\"churn\"} 5");
}

#[tokio::test]
async fn an_upgrade_that_never_reads_nor_says_hello_gives_its_place_back() {
    use tokio::io::AsyncWriteExt;
    let t = start(|c| {
        c.max_peers = 1;
        c.hello_timeout = Duration::from_millis(200);
    })
    .await;
    // A whole upgrade request, then nothing: it never reads the 101, the
    // Welcome or the close frame, and never answers.
    let mut stalled = tokio::net::TcpStream::connect(t.addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        t.addr
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    eventually("the stalled upgrade holds the slot", || t.relay.peers().len() == 1).await;
    assert_eq!(try_upgrade_from(t.addr, [127, 0, 0, 3], &[]).await.err(), Some(503));
    // The Hello timeout, then the close handshake's grace: the slot is free.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while try_upgrade_from(t.addr, [127, 0, 0, 3], &[]).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "the stalled upgrade kept its slot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(t.relay.disconnects(DisconnectReason::HelloTimeout), 1);
    drop(stalled);
}
