//! `cargo xtask bench`: each suite builds what it measures (release) and
//! runs its benchmark binary or browser script, passing extra arguments on.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use clap::ValueEnum;

use crate::{build_wasm, cargo_cmd, ensure_browser_tools, ensure_nats_server, exe, run, target_dir};

/// A benchmark suite.
#[derive(Clone, Copy, ValueEnum)]
pub enum BenchSuite {
    /// `cargo bench -p tabchain-core`.
    Core,
    /// Relay fan-out benchmark: `tabchain-relay` against two bare fan-out servers.
    Relay,
    /// Relay cluster: one relay against three relays on one NATS broker, with the same 1,000 clients.
    Cluster,
    /// Browser mining speed: www/miner.js workers in headless Chromium against native `sha2` and hash-wasm.
    Wasm,
    /// The WebGPU mining kernel in headless Chromium (on SwiftShader, the CPU, unless `--adapter default`) next to the wasm workers.
    Gpu,
    /// A new tab joining a 10,000-block chain: time, wasm memory and IndexedDB bytes per 1,000 blocks.
    Join,
    /// Native node: mining threads, `/chain` latency, sync through the relay.
    Node,
    /// Page load: bytes over the network, navigation to ready() and to the first hash, cold and warm, compressed or not.
    Page,
}

/// Runs one benchmark suite.
pub fn bench(root: &Path, suite: BenchSuite, args: &[String]) -> Result<()> {
    match suite {
        BenchSuite::Core => {
            let mut cmd = cargo_cmd(root);
            cmd.args(["bench", "-p", "tabchain-core"]);
            if !args.is_empty() {
                cmd.arg("--").args(args);
            }
            run(&mut cmd, "core benchmarks")
        }
        BenchSuite::Relay => bench_relay(root, args),
        BenchSuite::Cluster => bench_cluster(root, args),
        // Add these as their benchmarks get written.
        BenchSuite::Wasm => bench_wasm(root, args),
        BenchSuite::Gpu => bench_gpu(root, args),
        BenchSuite::Join => bench_join(root, args),
        BenchSuite::Node => run(cargo_cmd(root).args(["bench", "-p", "tabchain-node"]).args(args), "node benchmarks"),
        BenchSuite::Page => bench_page(root, args),
    }
}

/// Builds the relay and its benchmark (release) and runs the benchmark on the
/// relay binary, passing `args` through.
fn bench_relay(root: &Path, args: &[String]) -> Result<()> {
    let (mut bench, relay) = relay_bench(root)?;
    run(bench.arg("--relay").arg(relay).args(args), "relay benchmark")
}

/// Builds the relay and its benchmark (release), installs Debian's
/// nats-server when it is missing, and runs `tabchain-relay-bench cluster` on
/// the relay binary and the broker, passing `args` through.
fn bench_cluster(root: &Path, args: &[String]) -> Result<()> {
    let nats = ensure_nats_server()?;
    let (mut bench, relay) = relay_bench(root)?;
    bench.arg("cluster").arg("--relay").arg(relay).arg("--nats-server").arg(nats).args(args);
    run(&mut bench, "relay cluster benchmark")
}

/// Builds the relay and its benchmark in release: the benchmark's command
/// (run from the workspace root) and the relay binary it measures.
fn relay_bench(root: &Path) -> Result<(Command, PathBuf)> {
    run(
        cargo_cmd(root).args(["build", "--release", "-p", "tabchain-relay", "-p", "tabchain-relay-bench"]),
        "building the relay and its benchmark",
    )?;
    let bin = target_dir(root)?.join("release");
    let mut bench = Command::new(exe(&bin, "tabchain-relay-bench"));
    bench.current_dir(root);
    Ok((bench, exe(&bin, "tabchain-relay")))
}

/// Builds the release wasm and `core/examples/hashrate.rs` (release), then runs
/// `e2e/bench-wasm.mjs`: the www/miner.js workers' hash rate in headless
/// Chromium with 1 and 2 workers, native `sha2` full-header hashing on one
/// thread and hash-wasm, in the same run. `args` go to the script
/// (`--secs`, `--warmup-secs`, `--hash-wasm-secs`, `--native-secs`, `--runs`).
fn bench_wasm(root: &Path, args: &[String]) -> Result<()> {
    let e2e = ensure_browser_tools(root, &["playwright-core", "hash-wasm"])?;
    build_wasm(root, true)?;
    run(
        cargo_cmd(root).args(["build", "--release", "-p", "tabchain-core", "--example", "hashrate"]),
        "building the native hash-rate example",
    )?;
    let hashrate = exe(&target_dir(root)?.join("release").join("examples"), "hashrate");
    run(
        Command::new("node")
            .current_dir(&e2e)
            .arg("bench-wasm.mjs")
            .args(args)
            .env("TABCHAIN_HASHRATE_BIN", hashrate)
            .env("TABCHAIN_WWW", root.join("www"))
            .env("CHROMIUM", "/usr/bin/chromium"),
        "wasm benchmark",
    )
}

/// Builds the release wasm, then runs `e2e/bench-gpu.mjs`: the WebGPU
/// kernel's hash rate (on SwiftShader, the CPU, by default: correctness
/// only) next to 1 and 2 www/miner.js workers, in one headless Chromium.
/// `args` go to the script (`--secs`, `--warmup-secs`, `--adapter`).
fn bench_gpu(root: &Path, args: &[String]) -> Result<()> {
    let e2e = ensure_browser_tools(root, &["playwright-core"])?;
    build_wasm(root, true)?;
    run(
        Command::new("node")
            .current_dir(&e2e)
            .arg("bench-gpu.mjs")
            .args(args)
            .env("TABCHAIN_WWW", root.join("www"))
            .env("CHROMIUM", "/usr/bin/chromium"),
        "GPU benchmark",
    )
}

/// Builds the release wasm and relay, then runs `e2e/bench-join.mjs`: fresh
/// tabs in headless Chromium joining a chain a seeder page built, with the
/// time, the wasm memory and the IndexedDB bytes. `args` go to the script
/// (`--blocks`, `--posts`, `--post-chars`, `--runs`).
fn bench_join(root: &Path, args: &[String]) -> Result<()> {
    bench_browser_script(root, "bench-join.mjs", args, "join benchmark")
}

/// Builds the release wasm (with its precompressed copies) and relay, then
/// runs `e2e/bench-page.mjs`: a tab in headless Chromium loading the app cold
/// and warm from a relay that compresses and from one that does not, with
/// the bytes over the network and the times to ready() and to the first hash.
/// `args` go to the script (`--runs`).
fn bench_page(root: &Path, args: &[String]) -> Result<()> {
    bench_browser_script(root, "bench-page.mjs", args, "page load benchmark")
}

/// Builds the release wasm and relay, then runs the e2e benchmark `script`
/// with `args` against them in headless Chromium.
fn bench_browser_script(root: &Path, script: &str, args: &[String], what: &str) -> Result<()> {
    let e2e = ensure_browser_tools(root, &["playwright-core"])?;
    build_wasm(root, true)?;
    run(cargo_cmd(root).args(["build", "--release", "-p", "tabchain-relay"]), "building the relay")?;
    let relay = exe(&target_dir(root)?.join("release"), "tabchain-relay");
    run(
        Command::new("node")
            .current_dir(&e2e)
            .arg(script)
            .args(args)
            .env("TABCHAIN_RELAY_BIN", relay)
            .env("TABCHAIN_WWW", root.join("www"))
            .env("CHROMIUM", "/usr/bin/chromium"),
        what,
    )
}
