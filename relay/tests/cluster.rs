//! Several relays as one network over a real `nats-server` (started by the
//! tests on free loopback ports; Debian's package, which `cargo xtask test`
//! installs when missing).
//!
//! Covered: a block announced on one relay reaches every client of the
//! others exactly once and is not echoed to its own relay's clients, also
//! when two relays are sent the same block at once; a post likewise;
//! addressed requests and answers across relays; a request without `to`
//! going to the most-work peer of the whole cluster; `Welcome`,
//! `PeerJoined` and `PeerLeft` across relays; a relay killed with SIGKILL
//! (its peers leave everyone's lists within 10 s); the broker killed and
//! restarted (local delivery goes on, cross-relay delivery comes back
//! without restarting a relay); a broker whose `max_payload` is too small
//! refused at start; `/api/peers`, `/api/relays`, the CSP and `/metrics`.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use tabchain_core::wire::{Envelope, Message, PeerId, PeerInfo};
use tabchain_process::nats::NatsServer;
use tabchain_process::spawn::{Spawned, spawn};
use tabchain_relay::{Config, Network};

/// A relay named `name` in the cluster on `broker`.
async fn member(broker: &NatsServer, name: &str) -> TestRelay {
    let url = broker.url();
    let name = name.to_owned();
    start(move |config| {
        config.cluster = Some(url);
        config.relay_name = Some(name);
    })
    .await
}

/// Waits until every relay of `relays` knows all the others (and their peers: `peers` in all).
async fn formed(relays: &[&TestRelay], peers: usize) {
    for relay in relays {
        eventually("the cluster has formed", || {
            // `peers()` lists this relay's connections and the others' joined peers.
            let joined = relay.relay.peers().iter().filter(|p| p.joined).count();
            relay
                .relay
                .cluster_state()
                .is_some_and(|(connected, others, _)| connected && others == relays.len() - 1 && joined == peers)
        })
        .await;
    }
}

/// Reads messages until `kind` arrives, skipping peer news.
async fn recv_skipping_news(client: &mut Client) -> Envelope {
    loop {
        let envelope = client.recv().await;
        if !is_peer_news(&envelope) {
            return envelope;
        }
    }
}

/// Three relays on one broker with clients `a1`, `a2` on the first, `b` on
/// the second and `c` on the third, all joined and known everywhere.
struct Three {
    broker: NatsServer,
    relays: [TestRelay; 3],
    a1: Client,
    a2: Client,
    b: Client,
    c: Client,
}

async fn three() -> Three {
    let broker = NatsServer::start().expect("nats-server starts");
    let relays = [member(&broker, "one").await, member(&broker, "two").await, member(&broker, "three").await];
    formed(&relays.iter().collect::<Vec<_>>(), 0).await;
    let a1 = join(relays[0].addr, "a1", work(10)).await;
    let a2 = join(relays[0].addr, "a2", work(11)).await;
    let b = join(relays[1].addr, "b", work(20)).await;
    let c = join(relays[2].addr, "c", work(30)).await;
    formed(&relays.iter().collect::<Vec<_>>(), 4).await;
    Three { broker, relays, a1, a2, b, c }
}

#[tokio::test]
async fn a_block_reaches_every_client_of_every_relay_once_and_is_not_echoed() {
    let Three { broker: _broker, relays: _relays, mut a1, mut a2, mut b, mut c } = three().await;
    let block = block_msg(dev_block(1));
    a1.broadcast(block.clone()).await;
    for client in [&mut a2, &mut b, &mut c] {
        let got = recv_skipping_news(client).await;
        assert_eq!((got.from, &got.message), (Some(a1.id), &block), "{}", client.name);
    }
    // The same block announced again, on another relay: a duplicate everywhere.
    b.broadcast(block.clone()).await;
    // A block sent to two relays at once reaches each client once.
    let twice = block_msg(dev_block(2));
    let (one, two) = (a1.broadcast(twice.clone()), b.broadcast(twice.clone()));
    tokio::join!(one, two);
    for client in [&mut a2, &mut c] {
        let got = recv_skipping_news(client).await;
        assert_eq!(got.message, twice, "{}", client.name);
    }
    // And a post. A sender of the block may get it once from the other
    // sender (its own copy reached its relay second, as a duplicate).
    let post = tx(signed_post(1));
    c.broadcast(post.clone()).await;
    for client in [&mut a1, &mut a2, &mut b] {
        let mut copies = 0;
        let got = loop {
            let got = recv_skipping_news(client).await;
            if got.message != twice || copies > 0 || !["a1", "b"].contains(&client.name.as_str()) {
                break got;
            }
            copies += 1;
        };
        assert_eq!((got.from, &got.message), (Some(c.id), &post), "{}", client.name);
    }
    for client in [&mut a1, &mut a2, &mut b, &mut c] {
        let extra: Vec<Envelope> = client.sync().await.into_iter().filter(|e| !is_peer_news(e)).collect();
        assert!(extra.is_empty(), "{} got more: {extra:?}", client.name);
        client.expect_silence(300).await;
    }
}

#[tokio::test]
async fn requests_and_answers_cross_relays_and_the_best_peer_is_the_clusters() {
    let Three { broker: _broker, relays: _relays, mut a1, a2: _a2, b: _b, mut c } = three().await;
    let ask = Message::GetBlocks { locator: vec![dev_chain_id()], limit: 10 };
    a1.send_to(c.id, ask.clone()).await;
    let got = recv_skipping_news(&mut c).await;
    assert_eq!((got.from, got.to, &got.message), (Some(a1.id), Some(c.id), &ask));
    let answer = Message::Blocks { blocks: vec![dev_block(1)] };
    c.send_to(a1.id, answer.clone()).await;
    let got = recv_skipping_news(&mut a1).await;
    assert_eq!((got.from, got.to, &got.message), (Some(c.id), Some(a1.id), &answer));
    // Without `to`: the most work in the cluster is c's (30), on relay three.
    a1.send(Envelope { from: None, to: None, message: ask.clone() }).await;
    let got = recv_skipping_news(&mut c).await;
    assert_eq!((got.from, &got.message), (Some(a1.id), &ask));
    // A peer that no relay lists.
    a1.send_to(PeerId(u64::from(u32::MAX)), Message::Ping { nonce: 1 }).await;
    a1.expect_error(tabchain_core::wire::ErrorCode::UnknownPeer).await;
}

#[tokio::test]
async fn welcome_and_peer_news_list_every_relays_peers() {
    let Three { broker: _broker, relays, mut a1, a2, b, mut c } = three().await;
    let late = Client::connect(relays[2].addr, "late").await;
    let mut listed: Vec<PeerId> = late.welcome_peers.iter().map(|p| p.id).collect();
    listed.sort();
    let mut expected = vec![a1.id, a2.id, b.id, c.id];
    expected.sort();
    assert_eq!(listed, expected, "the Welcome on relay three lists every relay's peers");
    assert_eq!(late.welcome_peers[0].id, c.id, "most work first");

    let a3 = join(relays[0].addr, "a3", work(5)).await;
    let joined = news_of(&mut c, a3.id).await;
    assert!(matches!(joined, Message::PeerJoined { ref peer } if peer.agent == "a3"), "{joined:?}");
    let a3_id = a3.id;
    drop(a3);
    assert_eq!(news_of(&mut c, a3_id).await, Message::PeerLeft { peer_id: a3_id });

    // Every relay's peers, and which relay holds each.
    let (status, body) = http_get(relays[2].addr, "/api/peers").await;
    assert_eq!(status, 200);
    let peers: serde_json::Value = serde_json::from_str(&body).unwrap();
    let relay_of = |id: PeerId| {
        peers.as_array().unwrap().iter().find(|p| p["id"] == id.0).map(|p| p["relay"].as_str().unwrap().to_owned())
    };
    assert_eq!(relay_of(a1.id).as_deref(), Some("one"));
    assert_eq!(relay_of(b.id).as_deref(), Some("two"));
    assert_eq!(relay_of(c.id).as_deref(), Some("three"));
    let (_, body) = http_get(relays[0].addr, "/api/relays").await;
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["one", "three", "two"], "this relay first, then the others: {body}");
    let url = format!("ws://{}/ws", relays[1].addr);
    assert!(body.contains(&url), "{body}");
    let csp = http_header(relays[0].addr, "/", "content-security-policy").await;
    assert!(csp.contains(&format!("ws://{}", relays[1].addr)), "the page may fail over: {csp}");
    let (_, metrics) = http_get(relays[0].addr, "/metrics").await;
    for line in ["tabchain_relay_broker_connected 1", "tabchain_relay_cluster_relays 2"] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains("tabchain_relay_broker_published_total"));

    // Tabs learn the same: the Welcome and a `Peers` answer name each
    // peer's relay, and a block announced on relay one dates a1's last
    // block for relay three's peers (with the next batch of news).
    let relay_in = |peers: &[PeerInfo], id: PeerId| peers.iter().find(|p| p.id == id).and_then(|p| p.relay.clone());
    assert_eq!(relay_in(&late.welcome_peers, a1.id).as_deref(), Some("one"));
    assert_eq!(relay_in(&late.welcome_peers, c.id).as_deref(), Some("three"));
    a1.broadcast(block_msg(dev_block(1))).await;
    recv_skipping_news(&mut c).await;
    let mut dated = None;
    for _ in 0..10 {
        c.broadcast(Message::GetPeers {}).await;
        let Message::Peers { peers } = c.recv_kind("Peers").await.message else { unreachable!() };
        assert_eq!(relay_in(&peers, b.id).as_deref(), Some("two"));
        dated = peers.iter().find(|p| p.id == a1.id).and_then(|p| p.last_block_secs);
        if dated.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    assert!(dated.is_some_and(|secs| secs <= 10), "a1's last block, as relay three knows it: {dated:?}");
}

/// Reads messages until peer news about `peer` (news of others, which may
/// still be on its way from the cluster forming, is skipped).
async fn news_of(client: &mut Client, peer: PeerId) -> Message {
    loop {
        match client.recv().await.message {
            Message::PeerJoined { peer: info } if info.id == peer => return Message::PeerJoined { peer: info },
            Message::PeerLeft { peer_id } if peer_id == peer => return Message::PeerLeft { peer_id },
            Message::PeerJoined { .. } | Message::PeerLeft { .. } => {}
            other => panic!("{}: expected news of {peer}, got {other:?}", client.name),
        }
    }
}

/// One response header of `GET path`.
async fn http_header(addr: SocketAddr, path: &str, name: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw)).await.unwrap().unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let head = raw.split("\r\n\r\n").next().unwrap().to_owned();
    head.lines()
        .find_map(|line| line.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
        .unwrap_or_default()
        .to_owned()
}

/// A relay process in the cluster on `broker`.
fn relay_process(broker: &NatsServer, name: &str) -> Spawned {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tabchain-relay"));
    cmd.args(["--listen", "127.0.0.1:0", "--network", "dev", "--cluster", &broker.url(), "--relay-name", name]);
    cmd.arg("--www").arg(std::env::temp_dir());
    spawn("tabchain-relay", cmd).expect("the relay starts")
}

#[tokio::test]
async fn a_killed_relays_peers_leave_everyones_lists_within_ten_seconds() {
    let broker = NatsServer::start().expect("nats-server starts");
    let one = relay_process(&broker, "one");
    let mut two = relay_process(&broker, "two");
    let three = relay_process(&broker, "three");
    let mut watcher1 = join(one.addr, "w1", work(1)).await;
    let mut watcher3 = join(three.addr, "w3", work(1)).await;
    let doomed = join(two.addr, "doomed", work(2)).await;
    for watcher in [&mut watcher1, &mut watcher3] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "{} never saw the doomed peer join", watcher.name);
            match watcher.next_within(Duration::from_millis(500)).await {
                Ok(Some(Envelope { message: Message::PeerJoined { peer }, .. })) if peer.id == doomed.id => break,
                _ => {}
            }
        }
    }
    two.kill().expect("SIGKILL");
    let killed = Instant::now();
    for watcher in [&mut watcher1, &mut watcher3] {
        loop {
            let left = Duration::from_secs(10).saturating_sub(killed.elapsed());
            match watcher.next_within(left).await {
                Ok(Some(Envelope { message: Message::PeerLeft { peer_id }, .. })) if peer_id == doomed.id => break,
                Ok(Some(_)) => {}
                other => panic!("{}: no PeerLeft within 10 s of the kill: {other:?}", watcher.name),
            }
        }
    }
    let noticed = killed.elapsed();
    assert!(noticed < Duration::from_secs(10), "noticed after {noticed:?}");
    // The survivors still talk to each other.
    watcher1.broadcast(block_msg(dev_block(1))).await;
    assert_eq!(recv_skipping_news(&mut watcher3).await.from, Some(watcher1.id));
}

#[tokio::test]
async fn without_the_broker_relays_serve_their_own_peers_and_rejoin_when_it_returns() {
    let Three { mut broker, relays, mut a1, mut a2, mut b, mut c } = three().await;
    broker.kill();
    eventually("the relays notice the broker is gone", || {
        relays.iter().all(|r| r.relay.cluster_state().is_some_and(|(connected, _, _)| !connected))
    })
    .await;
    let local = block_msg(dev_block(1));
    a1.broadcast(local.clone()).await;
    assert_eq!(recv_skipping_news(&mut a2).await.message, local, "local delivery goes on");
    eventually("what could not be published is counted", || {
        relays[0].relay.broker_counts().is_some_and(|c| c.dropped_disconnected > 0)
    })
    .await;

    broker.restart().expect("nats-server restarts");
    formed(&relays.iter().collect::<Vec<_>>(), 4).await;
    assert!(relays[0].relay.broker_counts().is_some_and(|c| c.reconnects >= 1));
    let after = block_msg(dev_block(2));
    a1.broadcast(after.clone()).await;
    for client in [&mut a2, &mut b, &mut c] {
        assert_eq!(recv_skipping_news(client).await.message, after, "{}", client.name);
    }
}

#[tokio::test]
async fn a_broker_with_a_small_max_payload_is_refused_at_start() {
    let broker = NatsServer::start_with("1MB").expect("nats-server starts");
    let mut config = Config::new(Network::Dev, std::env::temp_dir());
    config.cluster = Some(broker.url());
    let error = tabchain_relay::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.err().expect("refused");
    let text = format!("{error:#}");
    assert!(text.contains("max_payload") && text.contains("deploy/nats-server.conf"), "{text}");

    let mut config = Config::new(Network::Dev, std::env::temp_dir());
    config.cluster = Some("nats://127.0.0.1:1".into());
    let error = tabchain_relay::start(config, SocketAddr::from(([127, 0, 0, 1], 0))).await.err().expect("refused");
    assert!(format!("{error:#}").contains("cannot connect to the NATS broker"), "{error:#}");
}

#[tokio::test]
async fn a_relay_shutting_down_takes_its_peers_off_every_list_at_once() {
    let Three { broker: _broker, relays, mut a1, a2: _a2, b, c: _c } = three().await;
    let started = Instant::now();
    relays[1].relay.shut_down(Duration::from_secs(1)).await;
    while news_of(&mut a1, b.id).await != (Message::PeerLeft { peer_id: b.id }) {}
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "a leaving relay is not waited for: {took:?}");
    eventually("the others list one relay each", || {
        [&relays[0], &relays[2]].iter().all(|r| r.relay.cluster_state().is_some_and(|(_, others, _)| others == 1))
    })
    .await;
}

#[tokio::test]
async fn peers_coming_and_going_travel_as_news_without_refetching_peer_lists() {
    let Three { broker: _broker, relays, a1: _a1, a2: _a2, b: _b, mut c } = three().await;
    // Let the cluster settle: every relay has fetched the others' lists.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let before: Vec<u64> = relays.iter().map(|r| r.relay.broker_counts().unwrap().snapshots).collect();
    for round in 0..10 {
        let name = format!("churn{round}");
        let peer = join(relays[round % 2].addr, &name, work(1)).await;
        let id = peer.id;
        assert!(matches!(news_of(&mut c, id).await, Message::PeerJoined { .. }));
        drop(peer);
        assert_eq!(news_of(&mut c, id).await, Message::PeerLeft { peer_id: id });
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Two more heartbeats: each names the last batch of news, already applied.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let after: Vec<u64> = relays.iter().map(|r| r.relay.broker_counts().unwrap().snapshots).collect();
    assert_eq!(after, before, "news arrived in order: no peer list was fetched again");
}
