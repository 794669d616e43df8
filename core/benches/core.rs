//! `cargo bench -p tabchain-core`: mining kernel speed and chain validation speed.
//!
//! Prints numbers, asserts nothing about them: machines differ (see README).

mod common;

use std::hint::black_box;
use std::time::Instant;
use tabchain_core::block::Block;
use tabchain_core::mining::{Kernel, MiningJob};
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::stamp::{DEFAULT_STAMP_FACTOR, stamp_job, stamp_post};
use tabchain_core::state::ChainState;
use tabchain_core::testkit::{dev, seal, stamped};

const HASHES: u64 = 4_000_000;
const CHAIN_BLOCKS: usize = 10_000;

fn hashes_per_second(kernel: Kernel) -> f64 {
    // A target no hash meets, so the whole range is searched.
    let job = MiningJob::new(&common::bench_header()).expect("valid target");
    let mut best = 0f64;
    for round in 0..3u64 {
        let start = Instant::now();
        let out = job.mine(kernel, round * HASHES, black_box(HASHES));
        let rate = out.hashes as f64 / start.elapsed().as_secs_f64();
        assert!(out.found.is_none());
        best = best.max(rate);
    }
    best
}

/// A dev chain: every block one unsigned post, every 10th also a signed one.
fn build_chain(params: &Params) -> Vec<Block> {
    let mut node = ChainState::new(params.clone());
    let mut blocks = Vec::with_capacity(CHAIN_BLOCKS);
    let mut time = params.genesis_timestamp_ms;
    for i in 0..CHAIN_BLOCKS as u64 {
        time += params.target_block_interval_ms;
        let mut posts = vec![stamped(Post::new("bench", &format!("post {i}"), time).expect("valid"))];
        if i % 10 == 0 {
            let signed = Post::new_signed("signer", &format!("signed {i}"), time, &[9; 32], &params.chain_id());
            posts.push(stamped(signed.expect("valid")));
        }
        let mut block = node.block_template(time);
        block.header.timestamp_ms = time;
        block.posts = posts;
        let block = seal(block);
        node.submit_block(block.clone(), time).expect("valid block");
        blocks.push(block);
    }
    blocks
}

fn main() {
    println!("tabchain-core benchmarks ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });
    println!("mining, one thread, best of 3 x {HASHES} nonces:");
    let full = hashes_per_second(Kernel::Reference);
    for &kernel in Kernel::ALL {
        if !kernel.is_available() {
            println!("  {:<18} skipped: this CPU cannot run it", kernel.name());
            continue;
        }
        let rate = if kernel == Kernel::Reference { full } else { hashes_per_second(kernel) };
        println!("  {:<18} {:>8.2} M hashes/s  ({:.2}x full header)", kernel.name(), rate / 1e6, rate / full);
    }
    println!("  kernel chosen here: {}", Kernel::detect().name());

    let params = dev();
    let blocks = build_chain(&params);
    let now = params.genesis_timestamp_ms + (CHAIN_BLOCKS as u64 + 1) * params.target_block_interval_ms;
    let mut best = f64::MAX;
    for _ in 0..3 {
        let mut node = ChainState::new(params.clone());
        let start = Instant::now();
        for block in &blocks {
            node.submit_block(black_box(block.clone()), now).expect("valid block");
        }
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(node.chain().height(), CHAIN_BLOCKS as u64);
    }
    println!("validate + connect a {CHAIN_BLOCKS}-block dev chain (11,000 posts, 1,000 signed), best of 3:");
    println!("  {:>8.1} ms  ({:.0} blocks/s)", best * 1e3, CHAIN_BLOCKS as f64 / best);

    stamping();
}

/// Stamping a short signed post on main (the price every post pays), one
/// thread with the kernel chosen here: the mean over 20 posts, whose search
/// lengths vary (a stamp takes a geometric number of hashes).
fn stamping() {
    let main = Params::for_network(Network::Main);
    let chain_id = main.chain_id();
    println!("stamping a short signed post on main, one thread, mean of 20:");
    for factor in [1, DEFAULT_STAMP_FACTOR] {
        let start = Instant::now();
        for i in 0..20u64 {
            let post = Post::new_signed("bench", &format!("hello {i}"), 1_795_564_800_000 + i, &[9; 32], &chain_id)
                .expect("valid");
            let expected = stamp_job(&post, &main, factor).0.to_target().expect("target").expected_hashes();
            let post = stamp_post(black_box(post), &main, factor);
            assert!(post.validate(&main).is_ok());
            if i == 0 {
                print!("  {factor}x the minimum ({:.1} M hashes expected): ", expected / 1e6);
            }
        }
        println!("{:.0} ms per post", start.elapsed().as_secs_f64() * 1e3 / 20.0);
    }
}
