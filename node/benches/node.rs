//! `cargo xtask bench node` (or `cargo bench -p tabchain-node --bench node`):
//! the native node's numbers, measured in one run on this machine.
//!
//! - mining: hashes/s of the kernel the node picks, per thread for 1..=all
//!   threads (goal: ≥ 0.9× the single-thread figure on every core), next to
//!   plain `sha2` full-header hashing on one thread;
//! - `GET /chain` latency for a 1,000-block chain (the Python original: 10.6 ms);
//! - the time a fresh node takes to sync 10,000 blocks from another through
//!   the relay.

use std::time::{Duration, Instant};

use tabchain_core::block::Block;
use tabchain_core::mining::{Kernel, MiningJob};
use tabchain_core::params::{Network, Params};
use tabchain_core::state::ChainState;
use tabchain_core::testkit::dev_chain;
use tabchain_core::wire::{Envelope, Message};
use tabchain_node::miner::{Job, MinerPool};
use tabchain_node::{Config, RunningNode, start};
use tabchain_process::http::HttpLimits;
use tabchain_relay::Config as RelayConfig;

async fn node(data: &std::path::Path, relays: Vec<String>) -> RunningNode {
    start(Config {
        network: Network::Dev,
        relays,
        http: "127.0.0.1:0".parse().expect("address"),
        data: data.to_path_buf(),
        mine: false,
        threads: 1,
        peers: vec![],
        allowed_hosts: vec![],
        http_limits: HttpLimits::default(),
    })
    .await
    .expect("node starts")
}

fn mining() {
    let params = Params::for_network(Network::Main);
    let mut header = ChainState::new(params).block_template(0).header;
    header.bits = tabchain_core::target::CompactTarget(0x0300_0001); // never met
    let job = MiningJob::new(&header).expect("usable target");
    let seconds = 2.0;
    let single = |kernel: Kernel| {
        let started = Instant::now();
        let mut hashes = 0u64;
        while started.elapsed().as_secs_f64() < seconds {
            hashes += job.mine(kernel, hashes, 1 << 20).hashes;
        }
        hashes as f64 / started.elapsed().as_secs_f64()
    };
    let reference = single(Kernel::Reference);
    let kernel = Kernel::detect();
    println!("mining: kernel chosen: {}", kernel.name());
    println!("  sha2 full header, 1 thread: {:.2} M hashes/s", reference / 1e6);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut one_thread = 0.0;
    for threads in 1..=cores {
        let (tx, _rx) = tokio::sync::mpsc::channel(1);
        let pool = MinerPool::start(threads, kernel, tx).expect("threads");
        pool.set_job(Some(Job::new(1, Block { header, posts: vec![] }).expect("job")));
        std::thread::sleep(Duration::from_millis(300));
        let before: u64 = pool.hashes_per_thread().iter().sum();
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        let after: u64 = pool.hashes_per_thread().iter().sum();
        let rate = (after - before) as f64 / started.elapsed().as_secs_f64();
        if threads == 1 {
            one_thread = rate;
        }
        let per_thread = rate / threads as f64;
        println!(
            "  {} × {threads} thread(s): {:.2} M hashes/s ({:.2} M per thread, {:.2}× one thread per thread; {:.2}× sha2 full header)",
            kernel.name(),
            rate / 1e6,
            per_thread / 1e6,
            per_thread / one_thread,
            rate / reference,
        );
        drop(pool);
    }
}

async fn chain_latency() {
    let data = tempfile::tempdir().expect("temp dir");
    let running = node(data.path(), vec![]).await;
    let blocks = dev_chain(1_000);
    feed(&running, blocks).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/chain", running.addr);
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..200 {
        let started = Instant::now();
        let body = client.get(&url).send().await.expect("GET /chain").bytes().await.expect("body");
        times.push(started.elapsed());
        size = body.len();
    }
    times.sort();
    println!(
        "GET /chain, 1,000-block chain ({:.1} MB): p50 {:.2} ms, p90 {:.2} ms (the Python original: 10.6 ms)",
        size as f64 / 1e6,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 9 / 10].as_secs_f64() * 1e3,
    );
    running.shut_down().await.expect("shut down");
}

/// Gives `node` these blocks as if announced, in one commit.
async fn feed(node: &RunningNode, blocks: Vec<Block>) {
    node.service
        .update_blocking(move |n| {
            let mut outputs = Vec::new();
            for block in blocks {
                outputs.extend(
                    n.on_envelope(Envelope::broadcast(Message::Block { block }), tabchain_node::service::now_ms()),
                );
            }
            ((), outputs)
        })
        .await
        .expect("blocks stored");
}

async fn sync_through_relay() {
    let www = tempfile::tempdir().expect("temp dir");
    let listen = "127.0.0.1:0".parse().expect("address");
    let relay = tabchain_relay::start(RelayConfig::new(Network::Dev, www.path()), listen).await.expect("relay");
    let ws = format!("ws://{}/ws", relay.addr);

    let (data_a, data_b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let count = 10_000;
    // A gets the chain first, then joins the relay: its Hello claims the work.
    let a = node(data_a.path(), vec![]).await;
    feed(&a, dev_chain(count)).await;
    a.shut_down().await.expect("shut down");
    let a = node(data_a.path(), vec![ws.clone()]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let b = node(data_b.path(), vec![ws]).await;
    while b.service.read(|n| n.height()) < count {
        assert!(started.elapsed() < Duration::from_secs(120), "sync stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "a fresh node synced {count} blocks from another through the relay in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    b.shut_down().await.expect("shut down");
    a.shut_down().await.expect("shut down");
    relay.shut_down().await.expect("shut down");
}

fn main() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| info.lines().find(|l| l.starts_with("model name")).map(|l| l.to_owned()))
        .unwrap_or_default();
    println!("tabchain-node benchmarks ({cpu})");
    mining();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    runtime.block_on(chain_latency());
    runtime.block_on(sync_through_relay());
}
