//! `cargo xtask bench node` (or `cargo bench -p tabchain-node --bench store`):
//! the store's timings on this machine: one durable commit per block, commits
//! in batches, opening a 10,000-block store, and restoring from it.

use std::time::{Duration, Instant};

use tabchain_core::block::Block;
use tabchain_core::driver::{Change, Driver};
use tabchain_core::post::Post;
use tabchain_core::state::ChainState;
use tabchain_core::testkit::{NOW, TEST_KEY, block_change, dev, next_block, stamped};
use tabchain_node::store::{DB_FILE, Store};

/// `n` dev blocks on one chain, one 200-byte post each (every tenth signed).
fn chain_of(n: usize) -> Vec<Block> {
    let mut state = ChainState::new(dev());
    (0..n as u64)
        .map(|i| {
            let content = format!("timing post {i}: {}", "y".repeat(200));
            let post = if i % 10 == 0 {
                Post::new_signed("bench", &content, 1_795_564_800_000 + i, &TEST_KEY, &dev().chain_id()).expect("post")
            } else {
                Post::new("bench", &content, 1_795_564_800_000 + i).expect("post")
            };
            let post = stamped(post);
            state.submit_post(post, NOW).expect("post accepted");
            let block = next_block(&state);
            state.submit_block(block.clone(), NOW).expect("valid block");
            block
        })
        .collect()
}

/// The changes a node keeps for these blocks: each block, then the best chain.
fn changes(blocks: &[Block]) -> Vec<Change> {
    let mut changes: Vec<Change> = blocks.iter().map(block_change).collect();
    if let Some(first) = blocks.first() {
        let hashes = blocks.iter().map(Block::hash).collect();
        changes.push(Change::BestChain { from_height: first.header.height, hashes });
    }
    changes
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let blocks = chain_of(10_000);
    let bytes: usize = blocks.iter().map(|b| b.to_bytes().len()).sum();
    println!("store: 10,000 dev blocks, {} bytes each on average", bytes / blocks.len());

    // One block (and the best chain) per commit, as a mining node does.
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Store::open(tmp.path(), &dev()).expect("open");
    let mut each: Vec<Duration> = blocks[..500]
        .chunks(1)
        .map(|one| {
            let started = Instant::now();
            store.persist(&changes(one)).expect("persist");
            started.elapsed()
        })
        .collect();
    each.sort();
    let mean = each.iter().sum::<Duration>() / each.len() as u32;
    println!(
        "  commit 1 block with the best chain (fsync): mean {:.2} ms, median {:.2} ms, p99 {:.2} ms (500 commits)",
        ms(mean),
        ms(each[each.len() / 2]),
        ms(each[each.len() * 99 / 100])
    );
    drop(store);

    for size in [100, 1000] {
        let tmp = tempfile::tempdir().expect("temp dir");
        let store = Store::open(tmp.path(), &dev()).expect("open");
        let started = Instant::now();
        for chunk in blocks.chunks(size) {
            store.persist(&changes(chunk)).expect("persist");
        }
        println!("  commit 10,000 blocks in batches of {size}: {:.0} ms", ms(started.elapsed()));
        drop(store);
        if size == 1000 {
            let file = std::fs::metadata(tmp.path().join(DB_FILE)).expect("file").len();
            println!("  file: {:.1} MB", file as f64 / 1e6);
            let started = Instant::now();
            let store = Store::open(tmp.path(), &dev()).expect("open");
            println!("  open (checksums of the whole file): {:.0} ms", ms(started.elapsed()));
            let started = Instant::now();
            let mut driver = Driver::new(dev(), "bench");
            let summary = store.restore(&mut driver, NOW).expect("restore");
            assert_eq!((summary.report.height, summary.best_mismatch), (10_000, None));
            println!("  restore (load, check, driver restore, best-chain check): {:.0} ms", ms(started.elapsed()));
        }
    }
}
