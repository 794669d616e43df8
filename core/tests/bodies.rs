//! A body limit (a tab's memory does not grow with the chain): the chain
//! keeps the bodies of only its last blocks and the post ids of the post
//! window, still checks every rule, serves old blocks through its host,
//! follows reorganisations shallow and deep, and restores in batches.

mod common;

use common::Net;
use tabchain_core::block::Block;
use tabchain_core::chain::{BlockStatus, BodyLimit, Chain};
use tabchain_core::driver::{Change, Driver, Output, RestoreReport, Saved};
use tabchain_core::params::Params;
use tabchain_core::post::Post;
use tabchain_core::state::ChainState;
use tabchain_core::testkit::{block_on_at, dev, seal_header, stamped};
use tabchain_core::validate::BlockError;
use tabchain_core::wire::Message;

/// A dev chain of `count` blocks one second apart (plus `offset_ms`) on the
/// tip of `prefix` (genesis when empty); the block at height `h` holds the
/// post `"{author} {h}"` when `with_post(h)`.
fn chain_on(prefix: &[Block], count: u64, author: &str, offset_ms: u64, with_post: impl Fn(u64) -> bool) -> Vec<Block> {
    let params = dev();
    let mut state = ChainState::new(params.clone());
    let far = u64::MAX / 2;
    for block in prefix {
        state.submit_block(block.clone(), far).expect("prefix is valid");
    }
    let start = prefix.len() as u64 + 1;
    (start..start + count)
        .map(|height| {
            let time = params.genesis_timestamp_ms + height * 1_000 + offset_ms;
            if with_post(height) {
                let post = stamped(Post::new(author, &format!("{author} {height}"), time).expect("valid post"));
                state.submit_post(post, time).expect("post accepted");
            }
            let block = seal_header(state.block_template(time));
            state.submit_block(block.clone(), far).expect("own block is valid");
            block
        })
        .collect()
}

/// A clock just after block `height` of [`chain_on`]'s chains.
fn clock_after(height: u64) -> u64 {
    dev().genesis_timestamp_ms + (height + 10) * 1_000
}

fn every(_: u64) -> bool {
    true
}

/// The post [`chain_on`] put in block `height` by `author`.
fn chain_post(author: &str, height: u64, offset_ms: u64) -> Post {
    let time = dev().genesis_timestamp_ms + height * 1_000 + offset_ms;
    stamped(Post::new(author, &format!("{author} {height}"), time).expect("valid post"))
}

fn block_changes(outputs: &[Output]) -> usize {
    outputs.iter().filter(|o| matches!(o, Output::Store(Change::Block { .. }))).count()
}

#[test]
fn a_driver_with_a_body_limit_holds_at_most_that_many_bodies_and_checks_the_same() {
    let blocks = chain_on(&[], 5_000, "seed", 0, every);
    let now = clock_after(5_000);
    let limit = 100;
    let mut limited = Driver::new(dev(), "limited");
    limited.set_body_limit(Some(BodyLimit::blocks(limit)));
    let mut full = Driver::new(dev(), "full");
    for chunk in blocks.chunks(250) {
        let (outputs, result) = limited.submit_blocks(chunk.to_vec(), now);
        result.expect("valid chain");
        assert_eq!(block_changes(&outputs), chunk.len(), "every stored block is handed out with its bytes");
        let (bodies, bytes) = limited.state().chain().body_usage();
        assert!(bodies <= limit as usize + 1, "{bodies} bodies in memory (genesis and the last {limit})");
        assert!(bytes < (limit as usize + 1) * 1_000);
        full.submit_blocks(chunk.to_vec(), now).1.expect("valid chain");
    }
    assert_eq!(limited.tip(), full.tip());
    let chain = limited.state().chain();
    assert_eq!(chain.block_count(), 5_001, "every header stays");
    // Bodies: genesis and the last `limit`; post ids: those and the post window.
    let window = (dev().post_window_ms + dev().max_future_drift_ms) / 1_000 + dev().median_time_span as u64;
    for entry in chain.best_chain().skip(1) {
        let depth = 5_000 - entry.height();
        assert_eq!(entry.block().is_some(), depth < limit, "body of block {}", entry.height());
        if depth > window {
            assert!(entry.txids().is_none(), "post ids of block {} (depth {depth})", entry.height());
        }
        if depth < window - 20 {
            assert!(entry.txids().is_some(), "post ids of block {} (depth {depth})", entry.height());
        }
    }
    assert!(chain.best_at(4_000).unwrap().block().is_none());

    // The duplicate rule still holds for the whole window: a post of block
    // 4,000 (its body long gone) cannot come again.
    let time = dev().genesis_timestamp_ms + 5_001 * 1_000;
    let again = block_on_at(limited.tip(), 5_001, time, vec![chain_post("seed", 4_000, 0)]);
    for node in [&mut limited, &mut full] {
        let (_, result) = node.submit_blocks(vec![again.clone()], now);
        let (_, error) = result.expect_err("a duplicate post");
        assert!(matches!(error, tabchain_core::driver::SubmitError::Invalid(BlockError::DuplicatePostOnBranch(_))));
    }
    let fresh = block_on_at(limited.tip(), 5_001, time, vec![chain_post("new", 5_001, 0)]);
    for node in [&mut limited, &mut full] {
        node.submit_blocks(vec![fresh.clone()], now).1.expect("a new post");
    }
    assert_eq!(limited.tip(), full.tip());
    assert!(limited.state().chain().body_usage().0 <= limit as usize + 1);
}

#[test]
fn a_byte_budget_keeps_fewer_bodies_but_always_the_tip() {
    let blocks = chain_on(&[], 300, "seed", 0, every);
    let now = clock_after(300);
    let size = blocks[10].encoded_len();
    let mut node = Driver::new(dev(), "budget");
    node.set_body_limit(Some(BodyLimit { blocks: 1_000, bytes: 20 * size }));
    node.submit_blocks(blocks.clone(), now).1.expect("valid chain");
    let chain = node.state().chain();
    let (bodies, bytes) = chain.body_usage();
    assert!(bytes <= 20 * size, "{bytes} bytes in memory");
    assert!((18..=20).contains(&bodies), "{bodies} bodies");
    assert!(chain.tip().block().is_some() && chain.best_at(280).unwrap().block().is_none());
    // A budget below one block still keeps the tip's.
    node.set_body_limit(Some(BodyLimit { blocks: 1_000, bytes: 1 }));
    let chain = node.state().chain();
    assert_eq!(chain.body_usage().0, 2, "genesis and the tip");
    assert!(chain.tip().block().is_some());
}

#[test]
fn old_blocks_are_served_through_the_host_and_a_limited_node_syncs_from_one() {
    let blocks = chain_on(&[], 1_200, "seed", 0, every);
    let mut net = Net::new(3);
    net.now = clock_after(1_200);
    for slot in [0, 2] {
        net.nodes[slot].set_body_limit(Some(BodyLimit::blocks(50)));
    }
    let (outputs, result) = net.nodes[0].submit_blocks(blocks, net.now);
    result.expect("valid chain");
    net.handle(0, outputs);
    assert_eq!(net.nodes[0].state().chain().body_usage().0, 51);
    net.connect(0);
    net.run();

    // A node without a limit syncs from it: pages come from its storage.
    net.connect(1);
    net.run();
    assert_eq!(net.nodes[1].height(), 1_200);
    assert_eq!(net.nodes[1].tip(), net.nodes[0].tip());
    net.assert_kept_matches(1);
    let answers: Vec<usize> = net.sent[0]
        .iter()
        .filter_map(|e| match &e.message {
            Message::Blocks { blocks } => Some(blocks.len()),
            _ => None,
        })
        .collect();
    assert_eq!(answers.iter().sum::<usize>(), 1_200, "every block sent once: {answers:?}");
    assert!(net.serves[0] >= 2, "pages read from storage: {}", net.serves[0]);

    // A limited node syncs as well, from either, and holds its limit.
    net.connect(2);
    net.run();
    assert_eq!(net.nodes[2].tip(), net.nodes[0].tip());
    assert_eq!(net.nodes[2].state().chain().body_usage().0, 51);
    assert_eq!(net.stored[2].len(), 1_200, "its host keeps every block");
    net.assert_kept_matches(2);
    // A page asked for again is answered the same from storage.
    let locator = vec![net.nodes[0].state().chain().best_at(10).unwrap().hash];
    let served = net.nodes[0].on_envelope(
        tabchain_core::wire::Envelope {
            from: Some(net.ids[1]),
            to: None,
            message: Message::GetBlocks { locator, limit: 5 },
        },
        net.now,
    );
    let Some(Output::ServeBlocks { to, hashes }) = served.first().cloned() else { panic!("{served:?}") };
    assert_eq!(to, net.ids[1]);
    let heights: Vec<u64> = hashes.iter().map(|h| net.nodes[0].state().chain().get(h).unwrap().height()).collect();
    assert_eq!(heights, vec![11, 12, 13, 14, 15]);
    let bytes: Vec<Vec<u8>> = hashes.iter().map(|h| net.stored[0][h].clone()).collect();
    let sent = net.nodes[0].send_blocks(to, bytes[..3].to_vec());
    let [Output::Send(text)] = sent.as_slice() else { panic!("{sent:?}") };
    let Message::Blocks { blocks } = tabchain_core::wire::decode(text).unwrap().message else { panic!("{text}") };
    assert_eq!(blocks.iter().map(|b| b.header.height).collect::<Vec<_>>(), vec![11, 12, 13]);
    // A block storage lost ends the answer there.
    let mut gap = bytes.clone();
    gap[1] = vec![1, 2, 3];
    let sent = net.nodes[0].send_blocks(to, gap);
    let [Output::Send(text)] = sent.as_slice() else { panic!("{sent:?}") };
    assert!(
        matches!(tabchain_core::wire::decode(text).unwrap().message, Message::Blocks { blocks } if blocks.len() == 1)
    );
}

#[test]
fn reorgs_within_the_bodies_kept_take_posts_back_and_deeper_ones_still_move_the_tip() {
    let a = chain_on(&[], 300, "a", 0, every);
    let now = clock_after(400);
    let new_node = |limit: Option<u64>| {
        let mut node = Driver::new(dev(), "t");
        node.set_body_limit(limit.map(BodyLimit::blocks));
        node.submit_blocks(a.clone(), now).1.expect("valid chain");
        node
    };
    // A fork 50 blocks deep: every disconnected body is in memory.
    let b = chain_on(&a[..250], 60, "b", 500, every);
    let mut node = new_node(Some(100));
    node.submit_blocks(b.clone(), now).1.expect("valid branch");
    assert_eq!(node.tip(), b.last().unwrap().hash());
    let pending: Vec<String> = node.state().mempool().iter().map(|(_, p)| p.content.clone()).collect();
    assert_eq!(pending.len(), 50);
    assert!(pending.contains(&"a 251".to_owned()) && pending.contains(&"a 300".to_owned()));

    // A fork 150 blocks deep: bodies of the last 100 only; the tip moves all the same.
    let c = chain_on(&a[..150], 200, "c", 500, every);
    let mut limited = new_node(Some(100));
    let mut full = new_node(None);
    for node in [&mut limited, &mut full] {
        let (outputs, result) = node.submit_blocks(c.clone(), now);
        result.expect("valid branch");
        assert!(!outputs.iter().any(|o| matches!(o, Output::Store(Change::BlockRemoved { .. }))));
    }
    assert_eq!(limited.tip(), c.last().unwrap().hash());
    assert_eq!(limited.tip(), full.tip());
    let back = |node: &Driver| node.state().mempool().iter().map(|(_, p)| p.content.clone()).collect::<Vec<_>>();
    assert_eq!(back(&full).len(), 150, "every disconnected post back");
    let limited_back = back(&limited);
    assert_eq!(limited_back.len(), 100, "only the posts of bodies in memory");
    assert!(limited_back.contains(&"a 201".to_owned()) && !limited_back.contains(&"a 200".to_owned()));
    // And back again to the old branch, extended: its blocks kept their post ids.
    let longer = chain_on(&a, 60, "a", 0, every);
    for node in [&mut limited, &mut full] {
        node.submit_blocks(longer.clone(), now).1.expect("the old branch, longer");
    }
    assert_eq!(limited.tip(), longer.last().unwrap().hash());
    assert_eq!(limited.tip(), full.tip());
}

#[test]
fn a_fork_older_than_the_post_window_loads_old_post_ids_from_the_host() {
    // Node 0 (a tab: 50 bodies) has chain A; node 1 a heavier chain B that
    // forked at height 100, long before node 0's post window. B's first
    // blocks may not repeat posts of A's blocks up to 100, whose ids node 0
    // dropped: it loads them from its storage, then reorganises.
    let a = chain_on(&[], 4_000, "a", 0, every);
    let b = chain_on(&a[..100], 3_950, "b", 500, |h| h < 110);
    let mut net = Net::new(2);
    net.now = clock_after(4_100);
    net.nodes[0].set_body_limit(Some(BodyLimit::blocks(50)));
    let (outputs, result) = net.nodes[0].submit_blocks(a.clone(), net.now);
    result.expect("valid chain");
    net.handle(0, outputs);
    assert!(net.nodes[0].state().chain().best_at(50).unwrap().txids().is_none());
    let (outputs, result) = net.nodes[1].submit_blocks([&a[..100], &b[..]].concat(), net.now);
    result.expect("valid chain");
    net.handle(1, outputs);
    net.connect(1);
    net.run();
    net.connect(0);
    net.run();
    assert_eq!(net.nodes[0].tip(), b.last().unwrap().hash());
    assert!(!net.nodes[0].is_syncing());
    assert_eq!(net.loads[0], 1, "the old post ids were loaded once");
    assert!(net.nodes[0].state().chain().body_usage().0 <= 51);
    // A's blocks above the fork left the tree and storage; what is kept matches.
    assert!(net.nodes[0].state().chain().get(&a[2_000].hash()).is_none());
    net.assert_kept_matches(0);
    // No peer was blamed for it.
    assert_eq!(net.nodes[0].misbehaviour(net.ids[1]), 0);
    assert!(!net.events[0].iter().any(|e| matches!(e, tabchain_core::driver::Event::PeerDoubted { .. })));
}

#[test]
fn a_chain_checks_a_deep_fork_once_its_old_post_ids_are_loaded_and_drops_what_it_cannot_check() {
    // A short post window (12 s with the drift) makes 60 blocks a long chain.
    let mut params: Params = dev();
    params.post_window_ms = 10_000;
    params.max_future_drift_ms = 2_000;
    let now = clock_after(200);
    let a = chain_on(&[], 60, "a", 0, every);
    let mut chain = Chain::new(params);
    chain.set_body_limit(Some(BodyLimit::blocks(5)));
    for block in &a {
        chain.submit(block.clone(), now).unwrap();
        chain.trim_bodies();
    }
    assert_eq!(chain.body_usage().0, 6);
    assert!(chain.best_at(30).unwrap().txids().is_none());
    // A side block on block 30, kept, that the deep reorganisation below takes along.
    let stray = block_on_at(a[29].hash(), 31, a[29].header.timestamp_ms + 700, vec![]);
    assert!(matches!(chain.submit_kept(stray.clone(), now).unwrap(), BlockStatus::Stored(_)));

    // A heavier branch from block 20 (a sync checked its headers: wanted).
    let b = chain_on(&a[..20], 45, "b", 500, every);
    chain.want(b.iter().map(Block::hash));
    let first = &b[0];
    let error = chain.submit(first.clone(), now).unwrap_err();
    assert!(matches!(error, BlockError::PostIdsNotInMemory { height: 20 }), "{error}");
    assert!(!chain.is_known_invalid(&first.hash()), "not a verdict");
    let missing = chain.txids_missing_for(&first.header.prev_hash, first.header.timestamp_ms);
    let heights: Vec<u64> = missing.iter().map(|h| chain.get(h).unwrap().height()).collect();
    assert_eq!(heights, (10..=20).rev().collect::<Vec<u64>>());
    // Only the real blocks are taken back.
    let mut forged = a[19].clone();
    forged.posts.clear();
    assert!(!chain.load_txids(&forged));
    for hash in &missing {
        let block = a.iter().find(|b| b.hash() == *hash).unwrap();
        assert!(chain.load_txids(block));
    }
    // A duplicate of a loaded post is caught; the real branch goes in.
    let dup = block_on_at(a[19].hash(), 21, first.header.timestamp_ms, vec![chain_post("a", 15, 0)]);
    chain.want([dup.hash()]);
    assert!(matches!(chain.submit(dup, now), Err(BlockError::DuplicatePostOnBranch(_))));
    let mut removed = Vec::new();
    for block in &b {
        if let BlockStatus::Stored(stored) = chain.submit(block.clone(), now).unwrap() {
            removed.extend(stored.removed);
        }
        chain.trim_bodies();
    }
    assert_eq!(chain.tip().hash, b.last().unwrap().hash());
    // A's blocks 21..=60 lacked their post ids: they left the tree with the stray block on them.
    assert_eq!(removed.len(), 41, "{} removed", removed.len());
    assert!(removed.contains(&stray.hash()) && removed.contains(&a[20].hash()) && removed.contains(&a[59].hash()));
    assert_eq!(chain.block_count(), 1 + 20 + 45);
    assert_eq!(chain.side_usage(), (0, 0));
    chain.release_loaded();
    assert!(chain.best_at(10).unwrap().txids().is_none());
    assert_eq!(chain.body_usage().0, 6);
}

#[test]
fn a_long_chain_restores_in_batches_within_the_body_limit() {
    let blocks = chain_on(&[], 2_000, "seed", 0, every);
    let now = clock_after(2_000);
    let limit = 100;
    let mut whole = Driver::new(dev(), "whole");
    let (whole_report, _) =
        whole.restore(Saved { blocks: blocks.iter().rev().map(Block::to_bytes).collect(), ..Saved::default() }, now);
    assert_eq!(whole_report.accepted, 2_000);

    let mut node = Driver::new(dev(), "batches");
    node.set_body_limit(Some(BodyLimit::blocks(limit)));
    let order = node.restore_order(blocks.iter().rev().map(|b| b.header));
    assert_eq!(order.first(), Some(&blocks[0].hash()), "parents first");
    let by_hash: std::collections::HashMap<_, _> = blocks.iter().map(|b| (b.hash(), b.to_bytes())).collect();
    let mut report = RestoreReport::default();
    for batch in order.chunks(300) {
        let bytes = batch.iter().map(|h| by_hash[h].clone()).collect();
        node.restore_blocks(bytes, now, &mut report);
        assert!(node.state().chain().body_usage().0 <= limit as usize + 1);
    }
    node.finish_restore(Vec::new(), now, &mut report);
    assert_eq!(report.accepted, 2_000);
    assert_eq!(report.height, 2_000);
    assert_eq!(node.tip(), whole.tip());
    assert_eq!(node.state().chain().body_usage().0, limit as usize + 1);
}
