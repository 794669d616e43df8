//! `core::driver`: drivers wired together through a tiny in-test relay that
//! routes their `Output::Send` texts the way `tabchain-relay` does, each with
//! a model of a host's storage that applies their `Output::Store` changes
//! (`common::Net`).

mod common;

use common::{Net, blocks_only, next_random, tip};
use tabchain_core::block::Block;
use tabchain_core::driver::{
    Change, Driver, Event, HEADERS_PAGE_LIMIT, MinedError, Output, SYNC_MAX_UNANSWERED, SYNC_TIMEOUT_MS, Saved,
    SavedPost, SubmitError, TEMPLATE_MAX_AGE_MS,
};
use tabchain_core::params::{Network, Params};
use tabchain_core::post::{Post, public_key_id};
use tabchain_core::testkit::{NOW, dev, dev_node, mine, post, seal, seal_header, stamped, work};
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PeerId, PeerInfo};

#[test]
fn a_late_node_syncs_a_long_chain_in_pages() {
    let mut net = Net::new(2);
    net.mine_n(0, 1_200, 0);
    assert_eq!(net.nodes[0].height(), 1_200);
    net.connect(0);
    net.run();
    net.connect(1);
    net.run();

    let (a, b) = (&net.nodes[0], &net.nodes[1]);
    assert_eq!(b.height(), 1_200);
    assert_eq!(tip(b), tip(a));
    assert!(!b.is_syncing());
    assert_eq!(net.stored[1].len(), 1_200);
    net.assert_kept_matches(1);

    // Headers first: one page of 1,200 headers (fewer than asked: A's chain
    // ends there), which outrank B's chain; then blocks in pages of 500, 500,
    // 200, each next request starting at the last block received, and no
    // request once every wanted block is in.
    let headers: Vec<&Envelope> =
        net.sent[1].iter().filter(|e| matches!(e.message, Message::GetHeaders { .. })).collect();
    assert_eq!(headers.len(), 1, "{headers:?}");
    let requests = net.get_blocks_sent(1);
    assert_eq!(requests.len(), 3, "{requests:?}");
    let chain = a.state().chain();
    assert_eq!(requests[0].1[0], chain.genesis().hash);
    for (i, height) in [(1, 500), (2, 1_000)] {
        assert_eq!(requests[i].0, Some(net.ids[0]));
        assert_eq!(requests[i].1[0], chain.best_at(height).unwrap().hash, "request {i}");
    }
    let events = &net.events[1];
    assert!(events.contains(&Event::SyncStarted { peer: net.ids[0], target_height: 1_200 }), "{events:?}");
    assert!(events.contains(&Event::SyncProgress { peer: net.ids[0], height: 500, target_height: 1_200 }));
    assert!(events.contains(&Event::Synced { peer: net.ids[0], blocks: 1_200, height: 1_200 }));
    // B told the relay its new chain, so the relay now knows it at 1,200.
    assert_eq!(net.joined[&1].best_height, 1_200);
    // A answered GetMempool with an empty mempool.
    assert!(events.contains(&Event::MempoolReceived { from: Some(net.ids[0]), received: 0, accepted: 0 }));
}

#[test]
fn a_node_on_a_lighter_fork_reorgs_to_the_heavier_chain() {
    let mut net = Net::new(2);
    net.mine_n(0, 1_200, 0);
    // B's own branch: 600 blocks, the first three with a post.
    let posts: Vec<Post> = (0..3).map(|i| post("bob", i)).collect();
    for p in &posts {
        let (_, outputs) = net.nodes[1].submit_own_post(p.clone(), NOW).unwrap();
        net.handle(1, outputs);
        net.mine(1, 7, true);
    }
    net.mine_n(1, 597, 7);
    assert_eq!(net.nodes[1].height(), 600);
    let old_tip = tip(&net.nodes[1]);

    net.connect(0);
    net.run();
    net.connect(1);
    net.run();

    let (a, b) = (&net.nodes[0], &net.nodes[1]);
    assert_eq!(tip(b), tip(a));
    assert_eq!(b.height(), 1_200);
    // The old branch fell more than SIDE_KEEP_DEPTH blocks behind: pruned,
    // and deleted from B's storage.
    assert!(b.state().chain().get(&old_tip).is_none(), "the old branch is pruned");
    assert_eq!(net.stored[1].len(), 1_200);
    // The first page (1..=500) has less work than B's 600 blocks: the tip only
    // moves at block 601, in the second page, asked for with the locator of
    // block 500 (the best-tip locator would have fetched the first page again).
    // (At block 600 already if A's block 600 has the lower hash: equal work.)
    let reorg = net.events[1].iter().find(|e| matches!(e, Event::Reorg { .. })).expect("a reorg");
    let Event::Reorg { new_height, disconnected, .. } = reorg else { unreachable!() };
    assert!([600, 601].contains(new_height), "{reorg:?}");
    // The blocks that left the best chain nearest the old tip, as many as an event lists.
    assert_eq!(disconnected.len(), tabchain_core::driver::MAX_REORG_HASHES);
    assert_eq!(disconnected[0], old_tip);
    assert_eq!(
        reorg,
        &Event::Reorg {
            depth: 600,
            fork_height: 0,
            new_tip: a.state().chain().best_at(*new_height).unwrap().hash,
            new_height: *new_height,
            from: Some(net.ids[0]),
            disconnected: disconnected.clone(),
        }
    );
    let requests = net.get_blocks_sent(1);
    assert_eq!(requests[1].1[0], a.state().chain().best_at(500).unwrap().hash);
    // The disconnected posts went back to B's mempool (no longer as own posts).
    for p in &posts {
        assert!(b.state().mempool().contains(&p.txid()));
    }
    assert!(net.events[1].contains(&Event::Synced { peer: net.ids[0], blocks: 1_200, height: 1_200 }));
    // B's storage followed: both branches, A's best chain, the returned posts.
    net.assert_kept_matches(1);
    let mut restored = Driver::new(dev(), "restored");
    let (report, outputs) = restored.restore(net.saved(1), NOW);
    assert_eq!((report.tip, report.pending_restored, report.pending_confirmed), (tip(&net.nodes[1]), 3, 0));
    assert!(outputs.is_empty());
}

#[test]
fn a_post_reaches_every_mempool_is_mined_and_seen_confirmed() {
    let mut net = Net::new(3);
    net.connect(0);
    net.connect(1);
    net.run();

    let secret = [42u8; 32];
    let post = stamped(Post::new_signed("alice", "hello, tabs", NOW - 5, &secret, &dev().chain_id()).unwrap());
    assert_eq!(post.key_id().unwrap(), public_key_id(&secret));
    let (txid, outputs) = net.nodes[0].submit_own_post(post.clone(), NOW).unwrap();
    net.handle(0, outputs);
    net.run();
    assert!(net.nodes[1].state().mempool().contains(&txid));
    let received = Event::PostReceived { tx_id: txid, author: "alice".into(), from: Some(net.ids[0]) };
    assert!(net.events[1].contains(&received));

    // C joins later and gets the post from a GetMempool.
    net.connect(2);
    net.run();
    assert!(net.nodes[2].state().mempool().contains(&txid));
    assert!(net.events[2].contains(&Event::MempoolReceived { from: Some(net.ids[0]), received: 1, accepted: 1 }));

    // B mines it: template, nonce, submit.
    let template = net.nodes[1].template(NOW);
    assert_eq!(template.posts, vec![post]);
    let block = seal(template);
    let outputs = net.nodes[1].submit_mined(block.clone(), NOW).unwrap();
    assert!(matches!(&outputs[0], Output::Store(Change::Block { height: 1, .. })));
    net.handle(1, outputs);
    net.run();
    for slot in 0..3 {
        let node = &net.nodes[slot];
        assert_eq!(tip(node), block.hash());
        assert_eq!(node.state().chain().confirmed_height(&txid), Some(1));
        assert!(node.state().mempool().is_empty());
    }
    let accepted = Event::BlockAccepted { hash: block.hash(), height: 1, tx_count: 1, from: Some(net.ids[1]) };
    assert!(net.events[2].contains(&accepted));
    let mined = Event::BlockAccepted { hash: block.hash(), height: 1, tx_count: 1, from: None };
    assert!(net.events[1].contains(&mined));
    assert_eq!(net.stored[2].len(), 1);
    for slot in 0..3 {
        net.assert_kept_matches(slot);
    }
    assert!(net.kept[0].pending.is_empty(), "A's own post left its storage once confirmed");

    // A block that does not build on the tip (here: the same block again) is stale.
    assert_eq!(
        net.nodes[1].submit_mined(block.clone(), NOW),
        Err(MinedError::Stale { prev_hash: block.header.prev_hash, tip: block.hash() })
    );
}

#[test]
fn an_orphan_block_makes_the_node_ask_its_sender() {
    let mut net = Net::new(2);
    net.connect(0);
    net.connect(1);
    net.run();
    // A mines two blocks; B only hears of the second.
    net.mine(0, 0, false);
    let second = net.mine(0, 0, true);
    let (slot, text) = net.queue.pop_front().unwrap();
    assert_eq!(slot, 1);
    let outputs = net.nodes[1].on_text(&text, NOW);
    let asked: Vec<&Output> = outputs.iter().filter(|o| matches!(o, Output::Send(_))).collect();
    assert_eq!(asked.len(), 1);
    let Output::Send(request) = asked[0] else { unreachable!() };
    let envelope = wire::decode(request).unwrap();
    assert_eq!(envelope.to, Some(net.ids[0]));
    assert_eq!(
        envelope.message,
        Message::GetHeaders { locator: net.nodes[1].state().locator(), limit: HEADERS_PAGE_LIMIT }
    );
    assert!(outputs.contains(&Output::Event(Event::SyncStarted { peer: net.ids[0], target_height: 2 })));
    assert_eq!(net.nodes[1].state().chain().orphan_count(), 1);
    net.handle(1, outputs);
    net.run();
    assert_eq!(tip(&net.nodes[1]), second.hash());
    assert_eq!(net.stored[1].len(), 2, "the orphan is stored once its parent arrives");
    net.assert_kept_matches(1);
    assert!(net.events[1].contains(&Event::Synced { peer: net.ids[0], blocks: 2, height: 2 }));
}

/// A deterministic shuffle.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = next_random(seed);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

#[test]
fn restore_from_stored_bytes_in_any_order_gives_the_same_tip() {
    let mut net = Net::new(2);
    net.mine_n(0, 300, 0);
    net.mine_n(1, 200, 5);
    net.connect(0);
    net.run();
    net.connect(1);
    net.run();
    assert_eq!(tip(&net.nodes[1]), tip(&net.nodes[0]));
    // B stored its own branch and A's chain.
    let mut blocks: Vec<Vec<u8>> = net.stored[1].values().cloned().collect();
    assert_eq!(blocks.len(), 500);
    shuffle(&mut blocks, 7);
    blocks.push(vec![1, 2, 3]);
    blocks.push(dev().genesis().to_bytes());

    let mut fresh = Driver::new(dev(), "restored");
    let (report, _) = fresh.restore(blocks_only(blocks), NOW);
    assert_eq!((report.accepted, report.rejected, report.duplicates, report.orphans), (500, 1, 1, 0));
    assert_eq!(report.tip, tip(&net.nodes[1]));
    assert_eq!(report.height, 300);
    assert_eq!(fresh.state().chain().block_count(), net.nodes[1].state().chain().block_count());

    // A block whose parent is missing stays an orphan.
    let mut partial: Vec<Vec<u8>> = net.stored[0].values().cloned().collect();
    let height_of = |b: &Vec<u8>| Block::from_bytes(b).unwrap().header.height;
    partial.retain(|b| height_of(b) != 100);
    let (report, _) = Driver::new(dev(), "partial").restore(blocks_only(partial), NOW);
    assert_eq!((report.accepted, report.orphans, report.height), (99, 200, 99));
}

#[test]
fn restore_picks_the_lower_hash_between_equal_work_branches_in_any_order() {
    let mut a = dev_node();
    let branch_a = mine(&mut a, 5);
    let mut b = dev_node();
    b.submit_post(post("b", 1), NOW).unwrap();
    let branch_b = mine(&mut b, 5);
    let (tip_a, tip_b) = (a.chain().tip().hash, b.chain().tip().hash);
    assert_ne!(tip_a, tip_b);
    assert_eq!(a.chain().tip().chain_work, b.chain().tip().chain_work, "the branches have equal work");
    let lower = tip_a.min(tip_b);
    let bytes = |blocks: &[Block]| blocks.iter().map(Block::to_bytes).collect::<Vec<_>>();
    let a_first = [bytes(&branch_a), bytes(&branch_b)].concat();
    let b_first = [bytes(&branch_b), bytes(&branch_a)].concat();
    for (seed, blocks) in [a_first.clone(), b_first].into_iter().enumerate() {
        let mut shuffled = blocks.clone();
        shuffle(&mut shuffled, seed as u64 + 3);
        for blocks in [blocks, shuffled] {
            let mut restored = Driver::new(dev(), "restored");
            let (report, _) = restored.restore(blocks_only(blocks), NOW);
            assert_eq!((report.tip, report.accepted), (lower, 10));
            assert_eq!(restored.state().chain().block_count(), 11);
        }
    }
    // More work wins over a lower hash.
    let longer = bytes(&mine(&mut a, 1));
    let (report, _) = Driver::new(dev(), "restored").restore(blocks_only([a_first, longer].concat()), NOW);
    assert_eq!(report.tip, a.chain().tip().hash);
}

#[test]
fn restore_never_moves_the_tip_to_a_side_branch_and_back() {
    // Two 300-block branches of equal work at every height, and a third
    // block on one of them: stored by height, the best tip would flip
    // between them at every height where the other branch has the lower
    // hash (a reorganisation as deep as the height each time).
    let mut a = dev_node();
    let branch_a = mine(&mut a, 301);
    let mut b = dev_node();
    b.submit_post(post("b", 1), NOW).unwrap();
    let branch_b = mine(&mut b, 300);
    let mut blocks: Vec<Vec<u8>> = branch_a.iter().chain(&branch_b).map(Block::to_bytes).collect();
    shuffle(&mut blocks, 11);
    let mut restored = Driver::new(dev(), "restored");
    let (report, outputs) = restored.restore(blocks_only(blocks), NOW);
    assert_eq!((report.tip, report.accepted, report.height), (a.chain().tip().hash, 601, 301));
    // The side branch is then cut to the side budget, lowest side tips first.
    let budget = dev().max_side_blocks;
    assert_eq!(report.pruned, 300 - budget);
    assert_eq!(outputs.len(), 300 - budget);
    assert!(outputs.iter().all(|o| matches!(o, Output::Store(Change::BlockRemoved { .. }))));
    assert_eq!(restored.state().chain().block_count(), 1 + 301 + budget);
    assert_eq!(restored.state().mempool().len(), 0, "no post of the side branch was ever disconnected");
}

#[test]
fn garbage_text_gives_an_event_and_changes_nothing() {
    let mut net = Net::new(2);
    net.connect(0);
    net.connect(1);
    net.run();
    net.mine(0, 0, true);
    net.run();
    let node = &mut net.nodes[1];
    let before = (node.height(), node.tip(), node.me(), node.peers().clone(), node.is_joined());
    let too_long = format!("{}{}", r#"{"type":"Ping","nonce":1}"#, " ".repeat(wire::MAX_MESSAGE_BYTES));
    for text in [
        "",
        "{",
        "null",
        r#"{"type":"Nope"}"#,
        r#"{"type":"Ping"}"#,
        r#"{"type":"Block","block":{"index":1}}"#,
        too_long.as_str(),
    ] {
        let outputs = node.on_text(text, NOW);
        assert_eq!(outputs.len(), 1, "{text:.40}");
        assert!(matches!(&outputs[0], Output::Event(Event::BadMessage { .. })), "{outputs:?}");
    }
    assert_eq!(before, (node.height(), node.tip(), node.me(), node.peers().clone(), node.is_joined()));
}

#[test]
fn a_welcome_for_another_network_is_refused() {
    let mut node = Driver::new(dev(), "t");
    let main = Params::for_network(Network::Main);
    for (network, chain_id) in [(Network::Main, main.chain_id()), (Network::Dev, main.chain_id())] {
        let welcome = Message::Welcome { peer_id: PeerId(4), network, chain_id, peers: vec![] };
        let outputs = node.on_text(&wire::encode(&Envelope::broadcast(welcome)).unwrap(), NOW);
        assert_eq!(
            outputs,
            vec![Output::Event(Event::WrongNetwork {
                network,
                chain_id,
                expected_network: Network::Dev,
                expected_chain_id: dev().chain_id(),
            })]
        );
        assert_eq!(node.me(), None);
    }
}

#[test]
fn an_unanswered_sync_request_goes_to_another_peer_then_gives_up() {
    let mut net = Net::new(3);
    net.mine_n(0, 20, 0);
    let blocks: Vec<Vec<u8>> = net.stored[0].values().cloned().collect();
    assert_eq!(net.nodes[2].restore(blocks_only(blocks), NOW).0.accepted, 20);
    net.connect(0);
    net.connect(2);
    net.run();
    // A hangs: B's request to it (the lowest id among equals) gets no answer.
    net.deaf.insert(0);
    net.connect(1);
    net.run();
    assert_eq!(*net.sync_requests_sent(1).last().unwrap(), Some(net.ids[0]));
    assert!(net.nodes[1].is_syncing());
    assert!(net.nodes[1].tick(NOW + SYNC_TIMEOUT_MS - 1).is_empty());
    let outputs = net.nodes[1].tick(NOW + SYNC_TIMEOUT_MS);
    assert!(outputs.contains(&Output::Event(Event::SyncRetry { peer: net.ids[2], unanswered: 1 })));
    net.handle(1, outputs);
    net.run();
    assert_eq!(tip(&net.nodes[1]), tip(&net.nodes[0]));
    assert!(!net.nodes[1].is_syncing());

    // With every peer hung, the sync is given up after a few tries.
    net.deaf.insert(2);
    net.mine(0, 0, false);
    let block = net.mine(0, 0, false);
    let announce = Envelope { from: Some(net.ids[0]), to: None, message: Message::Block { block } };
    let outputs = net.nodes[1].on_text(&wire::encode(&announce).unwrap(), NOW);
    net.handle(1, outputs);
    assert!(net.nodes[1].is_syncing());
    let mut t = NOW;
    for _ in 1..SYNC_MAX_UNANSWERED {
        t += SYNC_TIMEOUT_MS;
        let outputs = net.nodes[1].tick(t);
        assert!(matches!(&outputs[0], Output::Event(Event::SyncRetry { .. })), "{outputs:?}");
    }
    let outputs = net.nodes[1].tick(t + SYNC_TIMEOUT_MS);
    assert!(matches!(&outputs[..], [Output::Event(Event::SyncAbandoned { .. })]), "{outputs:?}");
    assert!(!net.nodes[1].is_syncing());
}

#[test]
fn the_sync_peer_leaving_moves_the_sync_and_disconnecting_forgets_peers() {
    let mut net = Net::new(3);
    net.mine_n(0, 30, 0);
    let blocks: Vec<Vec<u8>> = net.stored[0].values().cloned().collect();
    net.nodes[2].restore(blocks_only(blocks), NOW);
    net.connect(0);
    net.connect(2);
    net.run();
    net.deaf.insert(0);
    net.connect(1);
    net.run();
    assert!(net.nodes[1].is_syncing());
    net.deaf.remove(&0);
    net.disconnect(0);
    net.run();
    assert!(net.events[1].contains(&Event::PeerLeft { id: net.ids[0] }));
    assert!(net.events[1].contains(&Event::SyncStarted { peer: net.ids[2], target_height: 30 }));
    assert_eq!(net.nodes[1].height(), 30);

    net.disconnect(1);
    let node = &net.nodes[1];
    assert_eq!((node.me(), node.is_joined(), node.peers().len(), node.is_syncing()), (None, false, 0, false));
    assert_eq!(node.height(), 30, "the chain stays");
}

#[test]
fn requests_are_answered_and_bad_blocks_refused() {
    let mut node = Driver::new(dev(), "t");
    let mut helper = dev_node();
    mine(&mut helper, 3);
    for block in helper.blocks_after(&[], 10, 1 << 20) {
        node.submit_mined((*block).clone(), NOW).unwrap();
    }
    let text =
        |from: u64, message: Message| wire::encode(&Envelope { from: Some(PeerId(from)), to: None, message }).unwrap();
    let sends = |outputs: Vec<Output>| -> Vec<Envelope> {
        outputs
            .into_iter()
            .filter_map(|o| match o {
                Output::Send(t) => Some(wire::decode(&t).unwrap()),
                _ => None,
            })
            .collect()
    };

    let pong = sends(node.on_text(&text(5, Message::Ping { nonce: 7 }), NOW));
    assert_eq!(pong, vec![Envelope::to(PeerId(5), Message::Pong { nonce: 7 })]);

    let genesis = node.state().chain().genesis().hash;
    let answer = sends(node.on_text(&text(6, Message::GetBlocks { locator: vec![genesis], limit: 2 }), NOW));
    let Message::Blocks { blocks } = &answer[0].message else { panic!("{answer:?}") };
    assert_eq!(answer[0].to, Some(PeerId(6)));
    assert_eq!(blocks.iter().map(|b| b.header.height).collect::<Vec<_>>(), vec![1, 2]);

    node.submit_own_post(post("carol", 1), NOW).unwrap();
    let answer = sends(node.on_text(&text(6, Message::GetMempool {}), NOW));
    assert_eq!(answer, vec![Envelope::to(PeerId(6), Message::Mempool { txs: vec![post("carol", 1)] })]);

    // A block whose posts do not match its Merkle root.
    let mut bad = node.template(NOW);
    bad.posts.clear();
    let bad = Block { header: seal(bad).header, posts: vec![post("mallory", 1)] };
    let outputs = node.on_text(&text(9, Message::Block { block: bad.clone() }), NOW);
    let error = sends(outputs.clone());
    assert!(
        matches!(
            &error[..],
            [Envelope { to: Some(PeerId(9)), message: Message::Error { code: ErrorCode::InvalidBlock, .. }, .. }]
        ),
        "{error:?}"
    );
    assert!(outputs.iter().any(|o| matches!(o, Output::Event(Event::BlockRejected { from: Some(PeerId(9)), .. }))));
    assert_eq!(node.height(), 3);

    let outputs = node.on_text(&text(9, Message::Error { code: ErrorCode::RateLimited, message: "slow".into() }), NOW);
    assert_eq!(
        outputs,
        vec![Output::Event(Event::PeerError {
            from: Some(PeerId(9)),
            code: ErrorCode::RateLimited,
            message: "slow".into()
        })]
    );
}

#[test]
fn a_mempool_answer_is_trimmed_to_fit_one_message() {
    let mut node = Driver::new(dev(), "t");
    let content = "x".repeat(1_000);
    let mut n = 0u64;
    while node.state().mempool().bytes() < 3 * 1024 * 1024 {
        let post = stamped(Post::new("a", &content, NOW - n).unwrap());
        node.submit_own_post(post, NOW).unwrap();
        n += 1;
    }
    let ask = wire::encode(&Envelope { from: Some(PeerId(2)), to: None, message: Message::GetMempool {} }).unwrap();
    let outputs = node.on_text(&ask, NOW);
    let [Output::Send(text)] = &outputs[..] else { panic!("{outputs:?}") };
    assert!(text.len() <= wire::MAX_MESSAGE_BYTES);
    let Message::Mempool { txs } = wire::decode(text).unwrap().message else { panic!() };
    assert!(txs.len() > 1_000 && (txs.len() as u64) < n, "{} of {n}", txs.len());
    // Best paying first (all pay the same here: oldest first): the answer is the front of the mempool.
    let front: Vec<Post> = node.state().mempool().iter().take(txs.len()).map(|(_, p)| p.clone()).collect();
    assert_eq!(txs, front);
}

#[test]
fn a_peer_repeating_the_same_page_cannot_keep_the_sync_going() {
    let mut helper = dev_node();
    mine(&mut helper, 5);
    let page: Vec<Block> = helper.blocks_after(&[], 10, 1 << 20).iter().map(|b| (**b).clone()).collect();
    let headers: Vec<_> = page.iter().map(|b| b.header).collect();
    let x = PeerInfo::new(PeerId(1), "liar".into(), 5, helper.chain().tip().chain_work);
    let mut node = Driver::new(dev(), "t");
    let frame = |from: Option<u64>, message: Message| {
        wire::encode(&Envelope { from: from.map(PeerId), to: None, message }).unwrap()
    };
    let params = dev();
    let welcome = Message::Welcome {
        peer_id: PeerId(2),
        network: params.network,
        chain_id: params.chain_id(),
        peers: vec![x.clone()],
    };
    node.on_text(&frame(None, welcome), NOW);
    let me = PeerInfo::new(PeerId(2), "t".into(), 0, node.total_work());
    let joined = node.on_text(&frame(None, Message::PeerJoined { peer: me }), NOW);
    assert!(joined.contains(&Output::Event(Event::SyncStarted { peer: PeerId(1), target_height: 5 })));
    let sends = |outputs: &[Output], kind: &str| {
        outputs.iter().filter(|o| matches!(o, Output::Send(t) if t.contains(kind))).count()
    };
    assert_eq!(sends(&joined, "GetHeaders"), 1);

    // Five headers, fewer than asked: the chain ends there, with more work than ours.
    let got_headers = node.on_text(&frame(Some(1), Message::Headers { headers: headers.clone() }), NOW);
    assert_eq!(sends(&got_headers, "GetBlocks"), 1);
    let first = node.on_text(&frame(Some(1), Message::Blocks { blocks: page.clone() }), NOW);
    assert_eq!(node.height(), 5);
    assert!(first.contains(&Output::Event(Event::Synced { peer: PeerId(1), blocks: 5, height: 5 })), "{first:?}");
    assert_eq!(sends(&first, "GetBlocks") + sends(&first, "GetHeaders"), 0, "every wanted block is in");
    // The same pages again: nothing new, nothing asked.
    for again in [Message::Headers { headers }, Message::Blocks { blocks: page }] {
        let outputs = node.on_text(&frame(Some(1), again), NOW);
        assert_eq!(sends(&outputs, "Get"), 0, "{outputs:?}");
    }
    assert!(!node.is_syncing());
}

#[test]
fn own_posts_written_offline_are_kept_resent_on_every_join_and_dropped_once_confirmed() {
    let mut net = Net::new(2);
    // Written before joining: kept as own, not sent.
    let offline = post("alice", 1);
    let (tx_id, outputs) = net.nodes[0].submit_own_post(offline.clone(), NOW).unwrap();
    assert_eq!(
        outputs,
        vec![Output::Store(Change::PendingAdded { tx_id, post: offline.clone(), own: true }), Output::TemplateStale]
    );
    net.handle(0, outputs);
    // A peer's post is pending too, but not own.
    let theirs = post("bob", 2);
    let tx = Envelope { from: Some(PeerId(77)), to: None, message: Message::Tx { tx: theirs.clone() } };
    let outputs = net.nodes[0].on_text(&wire::encode(&tx).unwrap(), NOW);
    assert!(outputs.contains(&Output::Store(Change::PendingAdded { tx_id: theirs.txid(), post: theirs, own: false })));
    net.handle(0, outputs);
    net.assert_kept_matches(0);

    // A reload: the kept posts come back, the own one still own.
    let mut reloaded = Driver::new(dev(), "test-node/0");
    let (report, outputs) = reloaded.restore(net.saved(0), NOW);
    assert_eq!((report.pending_restored, report.pending_confirmed, outputs.len()), (2, 0, 0));
    assert!(reloaded.is_own(&tx_id) && !reloaded.is_own(&post("bob", 2).txid()));
    net.nodes[0] = reloaded;

    // Joining announces the own post (and only it), once per join.
    net.connect(1);
    net.run();
    net.connect(0);
    net.run();
    assert!(net.events[0].contains(&Event::Joined { peer_id: net.ids[0], resent: 1 }), "{:?}", net.events[0]);
    let sent: Vec<&Envelope> =
        net.sent[0].iter().filter(|e| matches!(&e.message, Message::Tx { tx } if tx.txid() == tx_id)).collect();
    assert_eq!(sent.len(), 1);
    assert!(net.nodes[1].state().mempool().contains(&tx_id));

    // B mines it: A drops it from its storage as its own post.
    net.mine(1, 0, true);
    net.run();
    assert_eq!(net.nodes[0].state().chain().confirmed_height(&tx_id), Some(1));
    assert!(!net.nodes[0].is_own(&tx_id));
    net.assert_kept_matches(0);
    assert!(!net.kept[0].pending.contains_key(&tx_id));

    // Storage that missed the removal (a crash before writing it): restore drops it and says so.
    let mut stale = net.saved(0);
    stale.pending.push(SavedPost { bytes: offline.to_bytes(), own: true });
    stale.pending.push(SavedPost { bytes: vec![1, 2, 3], own: true });
    let (report, outputs) = Driver::new(dev(), "again").restore(stale, NOW);
    assert_eq!((report.pending_confirmed, report.pending_refused.len()), (1, 1));
    assert_eq!(report.pending_refused[0].tx_id, None);
    assert_eq!(outputs, vec![Output::Store(Change::PendingRemoved { tx_id, own: true })]);
}

#[test]
fn the_driver_says_when_the_mining_template_is_stale() {
    let mut node = Driver::new(dev(), "t");
    assert!(node.tick(NOW).is_empty(), "no template taken: nothing to refresh");
    let template = node.template(NOW);
    assert!(node.tick(NOW + TEMPLATE_MAX_AGE_MS - 1).is_empty());
    assert_eq!(node.tick(NOW + TEMPLATE_MAX_AGE_MS), vec![Output::TemplateStale]);
    assert!(node.tick(NOW + 3 * TEMPLATE_MAX_AGE_MS).is_empty(), "once, until a new template is taken");

    // A new post, a new tip: stale, once per call.
    let (_, outputs) = node.submit_own_post(post("a", 1), NOW).unwrap();
    assert_eq!(outputs.iter().filter(|o| **o == Output::TemplateStale).count(), 1);
    let outputs = node.submit_mined(seal(template), NOW).unwrap();
    assert_eq!(outputs.last(), Some(&Output::TemplateStale));
    // A message that changes neither: not stale.
    let ping = Envelope { from: Some(PeerId(3)), to: None, message: Message::Ping { nonce: 1 } };
    assert!(!node.on_text(&wire::encode(&ping).unwrap(), NOW).contains(&Output::TemplateStale));
}

#[test]
fn blocks_from_the_host_are_stored_announced_or_refused_leaving_nothing() {
    let mut net = Net::new(2);
    net.connect(0);
    net.connect(1);
    net.run();
    let mut helper = dev_node();
    let blocks = mine(&mut helper, 3);

    // An unknown parent: refused, not even kept as an orphan; no outputs.
    let node = &mut net.nodes[0];
    let orphan = blocks[1].clone();
    assert_eq!(node.submit_block(orphan.clone(), NOW), Err(SubmitError::UnknownParent { parent: blocks[0].hash() }));
    assert_eq!((node.state().chain().orphan_count(), node.height()), (0, 0));
    // An invalid block says what is wrong with it, even with an unknown parent.
    let mut forged = orphan;
    forged.posts.push(post("mallory", 9));
    assert!(matches!(node.submit_block(forged, NOW), Err(SubmitError::Invalid(_))));

    // A block on the tip: stored, kept, shown and announced to the relay.
    let outputs = node.submit_block(blocks[0].clone(), NOW).unwrap();
    assert!(matches!(&outputs[0], Output::Store(Change::Block { height: 1, .. })));
    let accepted = Event::BlockAccepted { hash: blocks[0].hash(), height: 1, tx_count: 0, from: None };
    assert!(outputs.contains(&Output::Event(accepted)));
    net.handle(0, outputs);
    net.run();
    assert_eq!(tip(&net.nodes[1]), blocks[0].hash(), "announced through the relay");
    // Known already (genesis too): fine, nothing to do.
    for known in [blocks[0].clone(), dev().genesis()] {
        let outputs = net.nodes[0].submit_block(known, NOW).unwrap();
        assert!(outputs.is_empty(), "{outputs:?}");
    }

    // A chain with a bad block: the good ones before it stay, the bad one is named.
    let mut bad = blocks[2].clone();
    bad.header.nonce ^= 1;
    let (outputs, result) = net.nodes[0].submit_blocks(vec![blocks[1].clone(), bad.clone()], NOW);
    let Err((hash, SubmitError::Invalid(_))) = result else { panic!("{result:?}") };
    assert_eq!(hash, bad.hash());
    net.handle(0, outputs);
    net.run();
    assert_eq!(net.nodes[0].height(), 2);
    assert_eq!(tip(&net.nodes[1]), blocks[1].hash());
    net.assert_kept_matches(0);

    // A side block with less work than the best chain is refused and not kept.
    let side = {
        let mut other = dev_node();
        other.submit_post(post("side", 1), NOW).unwrap();
        mine(&mut other, 1).remove(0)
    };
    assert!(matches!(net.nodes[0].submit_block(side.clone(), NOW), Err(SubmitError::LessWork { .. })));
    assert!(net.nodes[0].state().chain().get(&side.hash()).is_none());
}

#[test]
fn a_page_reads_the_network_of_a_welcome() {
    let params = dev();
    let welcome =
        Message::Welcome { peer_id: PeerId(1), network: Network::Dev, chain_id: params.chain_id(), peers: vec![] };
    assert_eq!(wire::welcome_network(&wire::encode(&Envelope::broadcast(welcome)).unwrap()), Some(Network::Dev));
    let ping = wire::encode(&Envelope::broadcast(Message::Ping { nonce: 1 })).unwrap();
    assert_eq!(wire::welcome_network(&ping), None);
    assert_eq!(wire::welcome_network("{\"type\":\"Welcome\",\"network\":\"main\""), None);
}

#[test]
fn sibling_races_end_on_one_tip_the_lower_hash() {
    // Four connected nodes; each round two or three of them mine a different
    // child of the common tip (equal work) before hearing of the others',
    // and the announcements arrive in an interleaving chosen by the round.
    let mut net = Net::new(4);
    for slot in 0..4 {
        net.connect(slot);
    }
    net.run();
    let mut seed = 1u64;
    let mut moved_by_a_lower_hash = 0;
    for round in 0..100u64 {
        seed = next_random(seed);
        let miners = 2 + (seed >> 40) as usize % 2;
        let first = (seed >> 50) as usize % 4;
        let slots: Vec<usize> = (0..miners).map(|i| (first + i) % 4).collect();
        let parent = tip(&net.nodes[0]);
        let mut hashes = Vec::new();
        for (i, &slot) in slots.iter().enumerate() {
            // Different offsets: different blocks on the same parent.
            let block = net.mine(slot, round * 7 + i as u64, true);
            assert_eq!(block.header.prev_hash, parent, "round {round}: every miner builds on the common tip");
            hashes.push(block.hash());
        }
        let events_before: Vec<usize> = net.events.iter().map(Vec::len).collect();
        net.run_interleaved(seed);
        let lowest = *hashes.iter().min().expect("two or three siblings");
        for slot in 0..4 {
            assert_eq!(tip(&net.nodes[slot]), lowest, "round {round}: node {slot} (miners {slots:?})");
            net.assert_kept_matches(slot);
        }
        // Every miner whose block lost moved to the lowest hash: a reorg event.
        for (&slot, hash) in slots.iter().zip(&hashes) {
            let moved = net.events[slot][events_before[slot]..].iter().any(|e| {
                matches!(e, Event::Reorg { depth: 1, new_tip, new_height, disconnected, .. }
                    if *new_tip == lowest && *new_height == round + 1 && disconnected.len() == 1)
            });
            assert_eq!(moved, *hash != lowest, "round {round}: miner {slot}");
            moved_by_a_lower_hash += usize::from(moved);
        }
    }
    assert!(moved_by_a_lower_hash >= 100);
    assert_eq!(net.nodes[0].height(), 100);
}

#[test]
fn kept_posts_that_expired_meanwhile_are_dropped_at_restore() {
    let mut writer = Driver::new(dev(), "writer");
    let (tx_id, outputs) = writer.submit_own_post(post("olga", 5), NOW).unwrap();
    let bytes = outputs
        .into_iter()
        .find_map(|o| match o {
            Output::Store(Change::PendingAdded { post, .. }) => Some(post.to_bytes()),
            _ => None,
        })
        .unwrap();
    let saved = Saved { blocks: Vec::new(), pending: vec![SavedPost { bytes, own: true }] };
    // Restored two hours later: past the post window.
    let later = NOW + 2 * dev().post_window_ms;
    let (report, outputs) = Driver::new(dev(), "restored").restore(saved, later);
    assert_eq!((report.pending_expired, report.pending_restored), (1, 0));
    assert!(outputs.contains(&Output::Store(Change::PendingRemoved { tx_id, own: true })));
    assert!(outputs.contains(&Output::Event(Event::PostExpired { tx_id })));
}

#[test]
fn pending_posts_expire_on_tick_once_they_leave_the_post_window() {
    let mut node = Driver::new(dev(), "t");
    let (own, _) = node.submit_own_post(post("olga", 5), NOW).unwrap();
    let other = post("peer", 9);
    let text = wire::encode(&Envelope { from: Some(PeerId(4)), to: None, message: Message::Tx { tx: other.clone() } })
        .unwrap();
    node.on_text(&text, NOW);
    assert_eq!(node.state().mempool().len(), 2);
    // The posts are stamped a few ms after genesis: still inside the window at NOW.
    assert!(node.tick(NOW).iter().all(|o| !matches!(o, Output::Store(_))));
    let outputs = node.tick(dev().genesis_timestamp_ms + dev().post_window_ms + 10);
    assert!(outputs.contains(&Output::Store(Change::PendingRemoved { tx_id: own, own: true })), "{outputs:?}");
    assert!(outputs.contains(&Output::Store(Change::PendingRemoved { tx_id: other.txid(), own: false })));
    assert!(outputs.contains(&Output::Event(Event::PostExpired { tx_id: own })));
    assert!(node.state().mempool().is_empty());
}

#[test]
fn an_empty_headers_answer_ends_the_sync_and_doubts_a_peer_that_claimed_more() {
    let frame = |from: Option<u64>, message: Message| {
        wire::encode(&Envelope { from: from.map(PeerId), to: None, message }).unwrap()
    };
    let params = dev();
    let claimer = PeerInfo::new(PeerId(1), "claims".into(), 9, work(1_000));
    let mut node = Driver::new(params.clone(), "t");
    let welcome = Message::Welcome {
        peer_id: PeerId(2),
        network: params.network,
        chain_id: params.chain_id(),
        peers: vec![claimer],
    };
    node.on_text(&frame(None, welcome), NOW);
    let me = PeerInfo::new(PeerId(2), "t".into(), 0, node.total_work());
    let joined = node.on_text(&frame(None, Message::PeerJoined { peer: me }), NOW);
    assert!(joined.contains(&Output::Event(Event::SyncStarted { peer: PeerId(1), target_height: 9 })));
    let outputs = node.on_text(&frame(Some(1), Message::Headers { headers: vec![] }), NOW);
    assert!(
        outputs.iter().any(|o| matches!(o, Output::Event(Event::PeerDoubted { peer: PeerId(1), .. }))),
        "{outputs:?}"
    );
    assert!(!node.is_syncing());
}

#[test]
fn an_own_post_is_not_evicted_by_posts_that_pay_more() {
    let mut params = dev();
    params.max_mempool_posts = 3;
    let mut node = Driver::new(params.clone(), "t");
    let (own, _) = node.submit_own_post(post("me", 1), NOW).unwrap();
    for n in 0..5u64 {
        let rich = tabchain_core::stamp::stamp_post(
            Post::new("rich", &format!("pays more {n}"), NOW - 10).unwrap(),
            &params,
            64,
        );
        let tx = Message::Tx { tx: rich };
        node.on_text(&wire::encode(&Envelope { from: Some(PeerId(4)), to: None, message: tx }).unwrap(), NOW);
        assert!(node.state().mempool().contains(&own), "the own post stays");
        assert!(node.state().mempool().len() <= 3);
    }
    assert!(node.is_own(&own));
}

#[test]
fn a_chain_from_the_host_is_followed_by_a_hello_with_its_work() {
    let mut net = Net::new(2);
    net.connect(0);
    net.connect(1);
    net.run();
    let mut helper = dev_node();
    let blocks = mine(&mut helper, 5);
    let hellos = |net: &Net| net.sent[0].iter().filter(|e| matches!(e.message, Message::Hello { .. })).count();
    let before = hellos(&net);
    // One block on the tip: announced, no Hello needed (the relay knows its parent).
    let outputs = net.nodes[0].submit_block(blocks[0].clone(), NOW).unwrap();
    net.handle(0, outputs);
    assert_eq!(hellos(&net), before);
    // Four more at once (a peer's chain through /register_with): a Hello tells the relay the new work.
    let (outputs, result) = net.nodes[0].submit_blocks(blocks[1..].to_vec(), NOW);
    result.unwrap();
    net.handle(0, outputs);
    net.run();
    assert_eq!(hellos(&net), before + 1);
    assert_eq!(net.joined[&0].total_work, helper.chain().tip().chain_work, "the relay's view of the node is current");
    assert_eq!(tip(&net.nodes[1]), helper.chain().tip().hash, "the other node followed");
}

#[test]
fn sibling_tabs_share_posts_and_blocks_without_announcing_them_again() {
    let mut net = Net::new(2);
    // A's own post and a block holding it, as a tab hands them to its sibling
    // (connected or not: these two never joined a relay).
    let tx = post("alice", 1);
    let (tx_id, _) = net.nodes[0].submit_own_post(tx.clone(), NOW).unwrap();
    let frame = wire::encode(&Envelope::broadcast(Message::Tx { tx })).unwrap();
    let out = net.nodes[1].on_sibling_text(&frame, NOW);
    assert!(out.iter().any(|o| matches!(o, Output::Event(Event::PostReceived { from: None, .. }))), "{out:?}");
    assert!(!out.iter().any(|o| matches!(o, Output::Send(_))), "not announced again: {out:?}");
    assert!(net.nodes[1].state().mempool().get(&tx_id).is_some());

    let block = seal_header(net.nodes[0].template(NOW));
    net.nodes[0].submit_mined(block.clone(), NOW).unwrap();
    let frame = wire::encode(&Envelope::broadcast(Message::Block { block: block.clone() })).unwrap();
    let out = net.nodes[1].on_sibling_text(&frame, NOW);
    assert!(!out.iter().any(|o| matches!(o, Output::Send(_))), "not announced again: {out:?}");
    assert_eq!(tip(&net.nodes[1]), block.hash());
    assert!(net.nodes[1].state().mempool().get(&tx_id).is_none(), "the post is confirmed");

    // Anything but a post or block for everyone is refused unread.
    let asked = wire::encode(&Envelope::broadcast(Message::GetMempool {})).unwrap();
    let addressed = wire::encode(&Envelope::to(PeerId(3), Message::Tx { tx: post("bob", 2) })).unwrap();
    let from = wire::encode(&Envelope { from: Some(PeerId(3)), to: None, message: Message::Tx { tx: post("bob", 3) } })
        .unwrap();
    for text in [&asked, &addressed, &from, &"not json".to_owned()] {
        let out = net.nodes[1].on_sibling_text(text, NOW);
        assert!(matches!(out.as_slice(), [Output::Event(Event::BadMessage { .. })]), "{text}: {out:?}");
    }
    assert_eq!(net.nodes[1].state().mempool().len(), 0);
}
