//! Native mining speed on one thread, for `cargo xtask bench wasm`: mines a
//! header whose target no hash meets with each kernel for a fixed time and
//! prints one JSON line `{"cpu_features": …, "kernels": [{"name", "hashes",
//! "secs", "hashes_per_sec"}, …]}`.
//!
//! `cargo run --release -p tabchain-core --example hashrate -- [SECS]`
//! (default 3 s for `sha2` full-header hashing, the reference kernel; the
//! midstate kernel, printed for context, runs for 2/3 of that).

#[path = "../benches/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};
use tabchain_core::mining::{Kernel, MiningJob};

/// Nonces per call to [`MiningJob::mine`] between clock reads.
const CHUNK: u64 = 250_000;

/// Hashes with `kernel` for `warmup` (not counted) and then for at least `secs`.
fn measure(job: &MiningJob, kernel: Kernel, warmup: Duration, secs: Duration) -> (u64, f64) {
    let mut nonce = 0u64;
    let start = Instant::now();
    while start.elapsed() < warmup {
        assert!(job.mine(kernel, nonce, black_box(CHUNK)).found.is_none(), "the target is never met");
        nonce += CHUNK;
    }
    let start = Instant::now();
    let mut hashes = 0u64;
    while start.elapsed() < secs {
        let out = job.mine(kernel, nonce, black_box(CHUNK));
        assert!(out.found.is_none(), "the target is never met");
        hashes += out.hashes;
        nonce += CHUNK;
    }
    (hashes, start.elapsed().as_secs_f64())
}

fn main() {
    let secs: f64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().unwrap_or_else(|_| panic!("usage: hashrate [SECS], got {arg:?}")),
        None => 3.0,
    };
    // The header `cargo xtask bench wasm` mines in the browser: a target no hash meets.
    let job = MiningJob::new(&common::bench_header()).expect("valid target");
    let warmup = Duration::from_millis(300);
    let mut kernels = Vec::new();
    for (kernel, share) in [(Kernel::Reference, 1.0), (Kernel::Sha2Midstate, 2.0 / 3.0)] {
        let (hashes, took) = measure(&job, kernel, warmup, Duration::from_secs_f64(secs * share));
        kernels.push(format!(
            r#"{{"name":"{}","hashes":{hashes},"secs":{took:.4},"hashes_per_sec":{:.0}}}"#,
            kernel.name(),
            hashes as f64 / took
        ));
    }
    let features = cpu_features();
    println!(
        r#"{{"build":"{}","cpu_features":"{features}","kernels":[{}]}}"#,
        if cfg!(debug_assertions) { "debug" } else { "release" },
        kernels.join(",")
    );
}

/// The CPU features that decide how fast `sha2` is here.
fn cpu_features() -> String {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let mut f = Vec::new();
        if std::arch::is_x86_feature_detected!("sha") {
            f.push("sha-ni");
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            f.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("sse4.1") {
            f.push("sse4.1");
        }
        f.join(" ")
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("sha2") { "sha2".to_string() } else { String::new() }
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        String::new()
    }
}
