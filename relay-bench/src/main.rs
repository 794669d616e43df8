//! `tabchain-relay-bench`: how fast the relay fans blocks out, measured against
//! two bare fan-out servers on the same machine with the same clients.
//!
//! The relay's job under load is fan-out: one peer announces a block, every
//! other peer must receive it. For each client count N (100, 500, 1,000 by
//! default) and each server — the relay (started from its binary, so this
//! crate does not depend on its code) and two baselines started as
//! `tabchain-relay-bench serve-chat` / `serve-batched` (see [`baseline`]) —
//! the benchmark starts the server as a fresh child process, connects N
//! WebSocket clients from this process, and measures:
//!
//! - **latency**: one client announces 20 blocks per second; every other client
//!   times announce-to-receipt; p50 and p99 over all receipts;
//! - **saturation throughput**: four clients announce as fast as a window
//!   allows (at most `--window` blocks per receiver in flight, so no queue of a
//!   correct server overflows), and the Block frames received per second by all
//!   clients together are counted after a warm-up;
//! - **peak RSS** of the server process (`VmHWM`);
//! - **CPU time** per delivery during saturation, of the server and of this
//!   process (the clients), from `/proc/PID/stat`.
//!
//! `tabchain-relay-bench cluster` measures the relay cluster instead: one relay
//! with N clients against several relays on one NATS broker with the same N
//! clients spread over them (see [`cluster`]).
//!
//! It prints the relay's throughput as a ratio to each baseline: (a) axum's
//! chat example style (one flush per delivery) and (b) per-client queues with
//! batched writes, the practical ceiling for this stack. Announced blocks are
//! real, distinct ~600-byte dev blocks mined before any server starts, since
//! the relay checks proof of work, Merkle root and duplicates. The relay runs
//! with its per-peer rate limits and its broadcast budget lifted: what is
//! measured is fan-out, not the limits (their checks still run). Clients and
//! servers share the machine's cores, so the absolute numbers are per machine;
//! the ratios are what compare.

mod baseline;
mod blocks;
mod child;
mod cluster;
mod load;
mod proc;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::baseline::Baseline;
use crate::child::ServerProcess;
use crate::load::{Announce, Clients, Shared};
use crate::proc::cpu_seconds;

/// Measures the relay's fan-out throughput, latency and memory against two
/// bare axum fan-out servers.
#[derive(Parser)]
#[command(name = "tabchain-relay-bench", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    bench: BenchArgs,
}

/// Other benchmarks, and the baseline servers (started by the benchmark itself).
#[derive(Subcommand)]
enum Cmd {
    /// One relay against a cluster of relays on one NATS broker, with the same clients.
    Cluster(cluster::ClusterArgs),
    /// Internal: serve baseline (a), a broadcast channel, one flush per message.
    ServeChat,
    /// Internal: serve baseline (b), per-client bounded queues, batched writes.
    ServeBatched,
}

/// The benchmark's settings.
#[derive(Args)]
struct BenchArgs {
    /// The `tabchain-relay` binary to measure (needed unless the relay is skipped).
    #[arg(long)]
    relay: Option<PathBuf>,
    /// Measure only the two baselines (same as leaving `relay` out of `--servers`).
    #[arg(long)]
    skip_relay: bool,
    /// Servers to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "relay,chat,batched")]
    servers: Vec<Server>,
    /// Client counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,500,1000")]
    clients: Vec<usize>,
    #[command(flatten)]
    settings: Settings,
}

/// How each server is measured.
#[derive(Args)]
struct Settings {
    /// Seconds of saturation throughput counted (after the warm-up).
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Seconds of saturated announcing before counting starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds of paced announcing for the latency measurement.
    #[arg(long, default_value_t = 5.0)]
    latency_seconds: f64,
    /// Announcements per second for the latency measurement.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Clients that announce during the saturation measurement.
    #[arg(long, default_value_t = 4)]
    announcers: usize,
    /// Most announcements per receiver not yet delivered while saturating.
    #[arg(long, default_value_t = 32)]
    window: u64,
    /// Distinct blocks to mine beforehand (the announcers cycle through them).
    #[arg(long, default_value_t = 150_000)]
    blocks: usize,
    /// Clients connecting at the same time during setup.
    #[arg(long, default_value_t = 50)]
    connect_concurrency: usize,
}

/// A measured server.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Server {
    /// `tabchain-relay`.
    Relay,
    /// Baseline (a): broadcast channel, one flush per message.
    Chat,
    /// Baseline (b): per-client queues, batched writes.
    Batched,
}

impl Server {
    /// Short name for tables.
    fn label(self) -> &'static str {
        match self {
            Server::Relay => "relay",
            Server::Chat => "(a) chat",
            Server::Batched => "(b) batched",
        }
    }

    /// Whether its clients speak the relay protocol.
    fn handshake(self) -> bool {
        self == Server::Relay
    }
}

/// What one (server, N) run measured.
struct Measurement {
    /// Block frames received per second at saturation.
    deliveries_per_sec: f64,
    /// Saturation deliveries never received (after a grace period).
    lost: u64,
    /// Median announce-to-receipt latency, milliseconds.
    p50_ms: f64,
    /// 99th percentile announce-to-receipt latency, milliseconds.
    p99_ms: f64,
    /// Timed receipts seen.
    receipts: usize,
    /// Timed receipts expected (announcements × receivers).
    expected_receipts: u64,
    /// Peak RSS of the server, bytes.
    peak_rss: u64,
    /// Connections the server closed.
    disconnects: u64,
    /// Whether the announcers went through the whole block pool and repeated blocks.
    wrapped: bool,
    /// CPU time of the server process per delivery during the saturation
    /// phase (warm-up and settling included), microseconds.
    cpu_us_per_delivery: f64,
    /// The same for this process (the clients).
    clients_cpu_us_per_delivery: f64,
}

/// One table row: a server at a client count, measured or failed.
struct Row {
    clients: usize,
    server: Server,
    result: Result<Measurement, String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Some(Cmd::Cluster(args)) => cluster::bench(&args),
        Some(Cmd::ServeChat) => baseline::serve(Baseline::Chat),
        Some(Cmd::ServeBatched) => baseline::serve(Baseline::Batched),
        None => bench(&cli.bench),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tabchain-relay-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the whole benchmark and prints its report.
fn bench(args: &BenchArgs) -> Result<()> {
    check_settings(&args.settings, &args.clients)?;
    raise_nofile(args.clients.iter().max().copied().unwrap_or(0))?;
    let mut servers = Vec::new();
    for &server in &args.servers {
        let skipped = server == Server::Relay && args.skip_relay;
        if !skipped && !servers.contains(&server) {
            servers.push(server);
        }
    }
    if servers.is_empty() {
        bail!("no server to measure: --servers lists only the relay and --skip-relay skips it");
    }
    let relay = match &args.relay {
        Some(path) if servers.contains(&Server::Relay) => {
            Some(std::fs::canonicalize(path).with_context(|| format!("the relay binary {}", path.display()))?)
        }
        None if servers.contains(&Server::Relay) => bail!("--relay PATH is needed (or --skip-relay)"),
        _ => None,
    };
    let me = std::env::current_exe().context("locating this executable")?;

    println!("tabchain-relay-bench: relay fan-out benchmark");
    print_machine();
    print_settings(&args.settings);
    let blocks = mine(&args.settings)?;

    let scratch = Scratch::new()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;

    let mut rows = Vec::new();
    for &n in &args.clients {
        println!();
        println!("== {n} clients ==");
        for &server in &servers {
            let command = match server {
                Server::Relay => relay_command(relay.as_deref().context("no relay binary")?, &scratch.www()),
                Server::Chat => {
                    let mut cmd = Command::new(&me);
                    cmd.arg("serve-chat");
                    cmd
                }
                Server::Batched => {
                    let mut cmd = Command::new(&me);
                    cmd.arg("serve-batched");
                    cmd
                }
            };
            let log = scratch.dir.join(format!("{}-{n}.log", server.label().replace(['(', ')', ' '], "")));
            let result = runtime.block_on(measure(&args.settings, server, n, command, &log, &blocks));
            match &result {
                Ok(m) => println!("  {:<12} {}", server.label(), m),
                Err(e) => println!("  {:<12} FAILED: {e:#}", server.label()),
            }
            rows.push(Row { clients: n, server, result: result.map_err(|e| format!("{e:#}")) });
        }
        print_ratios(&rows, n);
    }
    runtime.shutdown_timeout(Duration::from_secs(1));

    println!();
    print_goals(&rows, args.settings.rate);
    println!();
    print_markdown(&rows);
    let failed = rows.iter().filter(|r| r.result.is_err()).count();
    if failed > 0 {
        bail!("{failed} of {} runs failed", rows.len());
    }
    Ok(())
}

/// Raises the open-file limit for `clients` clients (and fails if it cannot).
fn raise_nofile(clients: usize) -> Result<()> {
    // With the usual soft limit of 1024 descriptors, client ~1,011 hangs in the handshake.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).context("raising the open-file limit")?;
    let needed = clients as u64 + 64;
    if nofile < needed {
        bail!("the open-file limit is {nofile}, {needed} are needed for the clients");
    }
    Ok(())
}

/// Prints the CPU, its cores and the load average.
fn print_machine() {
    println!(
        "machine: {}, {} cores; load average before start: {}",
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
}

/// Prints the measurement settings.
fn print_settings(s: &Settings) {
    println!(
        "settings: latency {} announcements/s for {} s; saturation {} announcers, window {}/receiver, {} s warm-up + {} s counted",
        s.rate, s.latency_seconds, s.announcers, s.window, s.warmup, s.seconds
    );
}

/// Mines the announced blocks and says how long it took.
fn mine(s: &Settings) -> Result<Arc<Vec<Utf8Bytes>>> {
    let started = Instant::now();
    let blocks = Arc::new(blocks::generate(s.blocks)?);
    let avg = blocks.iter().map(|b| b.len()).sum::<usize>() / blocks.len();
    println!(
        "mined {} distinct dev blocks of ~{avg} bytes each in {:.1} s",
        blocks.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(blocks)
}

/// The relay at `relay` on 127.0.0.1 (any port), dev network, serving `www`,
/// with its per-peer rate limits and its broadcast budget lifted: what is
/// measured is fan-out, not the limits (their checks still run).
fn relay_command(relay: &Path, www: &Path) -> Command {
    let mut cmd = Command::new(relay);
    // Plain logs in the log files.
    cmd.env("NO_COLOR", "1");
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .args(["--network", "dev", "--www"])
        .arg(www)
        .args(["--max-peers", "5000", "--rate-msgs", "1000000", "--rate-burst-msgs", "1000000"])
        .args(["--rate-bytes", "1000000000", "--rate-burst-bytes", "1000000000"])
        // Every client comes from 127.0.0.1, all at once.
        .args(["--max-peers-per-address", "5000", "--connect-rate", "1000000"])
        .args(["--connect-burst", "1000000", "--max-http-per-address", "5000"])
        .args(["--broadcast-msgs", "1000000", "--broadcast-burst-msgs", "1000000"])
        .args(["--broadcast-bytes", "1000000000", "--broadcast-burst-bytes", "1000000000"]);
    cmd
}

/// Rejects settings the benchmark cannot run with for these client counts.
fn check_settings(s: &Settings, clients: &[usize]) -> Result<()> {
    if clients.is_empty() || clients.iter().any(|&n| n < 2) {
        bail!("--clients needs counts of at least 2");
    }
    if s.announcers == 0 || clients.iter().any(|&n| n < s.announcers + 1) {
        bail!("--announcers must be at least 1 and below every client count");
    }
    for (name, value) in [("--seconds", s.seconds), ("--latency-seconds", s.latency_seconds), ("--rate", s.rate)] {
        if !(value.is_finite() && value > 0.0) {
            bail!("{name} must be positive");
        }
    }
    if !(s.warmup.is_finite() && s.warmup >= 0.0) {
        bail!("--warmup must not be negative");
    }
    if s.window == 0 {
        bail!("--window must be at least 1");
    }
    Ok(())
}

/// One (server, N) run: start the server, connect, measure latency, then
/// saturation throughput, then peak RSS; the server is killed on return.
async fn measure(
    s: &Settings,
    server: Server,
    n: usize,
    command: Command,
    log: &Path,
    blocks: &Arc<Vec<Utf8Bytes>>,
) -> Result<Measurement> {
    let mut process = ServerProcess::spawn(command, log)?;
    let url = format!("ws://{}/ws", process.addr);
    let shared = Shared::new(blocks.len(), n as u64 - 1, 1);
    let started = Instant::now();
    let clients = load::connect_all(&url, n, s.connect_concurrency, server.handshake(), &shared, 0)
        .await
        .with_context(|| format!("connecting {n} clients to {url}{}", process.log_tail()))?;
    eprintln!("  {:<12} {n} clients connected in {:.1} s", server.label(), started.elapsed().as_secs_f64());
    let result = run_phases(s, n, clients, &shared, blocks, &mut process).await;
    shared.closing.store(true, Ordering::Relaxed);
    result.with_context(|| process.log_tail())
}

/// The measurement phases on connected clients.
async fn run_phases(
    s: &Settings,
    n: usize,
    mut clients: Clients,
    shared: &Arc<Shared>,
    blocks: &Arc<Vec<Utf8Bytes>>,
    process: &mut ServerProcess,
) -> Result<Measurement> {
    let receivers = n as u64 - 1;
    let announce = Announce::new(blocks, shared);

    // Let the last PeerJoined notices of the setup drain.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let timed = latency_phase(s, &mut clients, shared, &announce, receivers).await?;
    process.check_running()?;
    let me = std::process::id();
    let (cpu_before, me_before) = (cpu_seconds(process.pid())?, cpu_seconds(me)?);
    let saturated = saturation_phase(s, &mut clients, shared, &announce, receivers).await?;
    let (cpu, me_cpu) = (cpu_seconds(process.pid())? - cpu_before, cpu_seconds(me)? - me_before);
    process.check_running()?;
    let latencies = timed.all();

    Ok(Measurement {
        deliveries_per_sec: saturated.deliveries_per_sec,
        lost: saturated.lost,
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        receipts: latencies.len(),
        expected_receipts: timed.expected_receipts,
        peak_rss: process.peak_rss_bytes()?,
        disconnects: shared.disconnected.load(Ordering::Relaxed),
        wrapped: announce.wrapped(),
        cpu_us_per_delivery: cpu * 1e6 / saturated.delivered.max(1) as f64,
        clients_cpu_us_per_delivery: me_cpu * 1e6 / saturated.delivered.max(1) as f64,
    })
}

/// What the latency phase measured.
struct Timed {
    /// Announce-to-receipt latencies per group of receivers, microseconds, sorted.
    by_group: Vec<Vec<u32>>,
    /// Timed receipts expected (announcements × receivers).
    expected_receipts: u64,
}

impl Timed {
    /// Every group's latencies, sorted.
    fn all(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.by_group.concat();
        all.sort_unstable();
        all
    }
}

/// Latency: the first client announces `s.rate` blocks per second for
/// `s.latency_seconds`, every receiver times them (per group).
async fn latency_phase(
    s: &Settings,
    clients: &mut Clients,
    shared: &Arc<Shared>,
    announce: &Announce,
    receivers: u64,
) -> Result<Timed> {
    let delivered_base = shared.delivered.load(Ordering::Relaxed);
    shared.timing.store(true, Ordering::Relaxed);
    let sink = clients.sinks.remove(0);
    let (sink, sent) = announce.clone().paced(sink, s.rate, Duration::from_secs_f64(s.latency_seconds)).await?;
    clients.sinks.insert(0, sink);
    let expected_receipts = sent * receivers;
    settle(shared, delivered_base + expected_receipts, Duration::from_secs(2)).await;
    shared.timing.store(false, Ordering::Relaxed);
    let groups = clients.stats.iter().map(|c| c.group + 1).max().unwrap_or(1);
    let by_group = (0..groups)
        .map(|group| {
            let mut latencies = shared.take_latencies(group);
            latencies.sort_unstable();
            latencies
        })
        .collect();
    Ok(Timed { by_group, expected_receipts })
}

/// What the saturation phase measured.
struct Saturated {
    /// Block frames received per second while counted.
    deliveries_per_sec: f64,
    /// Blocks announced in the whole phase (warm-up included).
    announced: u64,
    /// Deliveries of those received (after a grace period).
    delivered: u64,
    /// Deliveries of those never received.
    lost: u64,
}

/// Saturation: the first `s.announcers` clients announce as fast as the
/// window allows; deliveries are counted for `s.seconds` after `s.warmup`.
async fn saturation_phase(
    s: &Settings,
    clients: &mut Clients,
    shared: &Arc<Shared>,
    announce: &Announce,
    receivers: u64,
) -> Result<Saturated> {
    let announced_base = shared.announced.load(Ordering::Relaxed);
    let delivered_base = shared.delivered.load(Ordering::Relaxed);
    let tasks: Vec<_> = clients
        .sinks
        .drain(..s.announcers)
        .map(|sink| tokio::spawn(announce.clone().saturate(sink, receivers, s.window, announced_base, delivered_base)))
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(s.warmup)).await;
    let (d0, t0) = (shared.delivered.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(s.seconds)).await;
    let (d1, t1) = (shared.delivered.load(Ordering::Relaxed), Instant::now());
    announce.stop.store(true, Ordering::Relaxed);
    let mut sinks = Vec::with_capacity(tasks.len());
    for task in tasks {
        sinks.push(task.await.context("an announcer panicked")??);
    }
    // Back in their places: client i stays client i.
    clients.sinks.splice(0..0, sinks);
    announce.stop.store(false, Ordering::Relaxed);
    let announced = shared.announced.load(Ordering::Relaxed) - announced_base;
    let expected = announced * receivers;
    let delivered = settle(shared, delivered_base + expected, Duration::from_secs(3)).await - delivered_base;
    Ok(Saturated {
        deliveries_per_sec: (d1 - d0) as f64 / (t1 - t0).as_secs_f64(),
        announced,
        delivered,
        lost: expected.saturating_sub(delivered),
    })
}

/// Waits until `delivered` reaches `target` or `grace` passes; returns it.
async fn settle(shared: &Shared, target: u64, grace: Duration) -> u64 {
    let deadline = Instant::now() + grace;
    loop {
        let delivered = shared.delivered.load(Ordering::Relaxed);
        if delivered >= target || Instant::now() >= deadline {
            return delivered;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The nearest-rank percentile `p` of sorted microsecond samples, in milliseconds.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1_000.0
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>7} deliveries/s   p50 {:>6.2} ms   p99 {:>6.2} ms   peak RSS {:>6.1} MB   CPU/delivery {:.2} µs (clients {:.2} µs)",
            rate(self.deliveries_per_sec),
            self.p50_ms,
            self.p99_ms,
            mb(self.peak_rss),
            self.cpu_us_per_delivery,
            self.clients_cpu_us_per_delivery
        )?;
        write_warnings(f, self.disconnects, (self.receipts, self.expected_receipts), self.lost, self.wrapped)?;
        Ok(())
    }
}

/// `1.23 M` style.
/// What makes a measurement suspect, after its numbers: disconnections,
/// latency receipts missing, deliveries lost, blocks repeated.
fn write_warnings(
    f: &mut fmt::Formatter<'_>,
    disconnects: u64,
    (receipts, expected_receipts): (usize, u64),
    lost: u64,
    wrapped: bool,
) -> fmt::Result {
    if disconnects > 0 {
        write!(f, "   {disconnects} DISCONNECTED (result invalid)")?;
    }
    if receipts as u64 != expected_receipts {
        write!(f, "   latency receipts {receipts}/{expected_receipts}")?;
    }
    if lost > 0 {
        write!(f, "   {lost} deliveries lost")?;
    }
    if wrapped {
        write!(f, "   (block pool exhausted: blocks repeated; raise --blocks)")?;
    }
    Ok(())
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 { format!("{:.2} M", per_sec / 1e6) } else { format!("{:.0} k", per_sec / 1e3) }
}

/// Bytes as MB (10^6).
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The measurement of `server` at `n` clients, if it succeeded.
fn find(rows: &[Row], n: usize, server: Server) -> Option<&Measurement> {
    rows.iter().find(|r| r.clients == n && r.server == server).and_then(|r| r.result.as_ref().ok())
}

/// Throughput of the relay over `server` at `n` clients.
fn ratio(rows: &[Row], n: usize, server: Server) -> Option<f64> {
    Some(find(rows, n, Server::Relay)?.deliveries_per_sec / find(rows, n, server)?.deliveries_per_sec)
}

/// Prints relay/(a) and relay/(b) at `n` clients.
fn print_ratios(rows: &[Row], n: usize) {
    let (a, b) = (ratio(rows, n, Server::Chat), ratio(rows, n, Server::Batched));
    if let (Some(a), Some(b)) = (a, b) {
        println!("  relay / (a) = {a:.2}x   relay / (b) = {b:.2}x");
    }
}

/// Prints the goals at 1,000 clients, when that was measured.
fn print_goals(rows: &[Row], rate: f64) {
    let Some(relay) = find(rows, 1000, Server::Relay) else { return };
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    println!("goals at 1000 clients:");
    if let Some(a) = ratio(rows, 1000, Server::Chat) {
        println!("  throughput >= 2.5x (a): {a:.2}x  {}", mark(a >= 2.5));
    }
    if let Some(b) = ratio(rows, 1000, Server::Batched) {
        println!("  throughput >= 0.9x (b): {b:.2}x  {}", mark(b >= 0.9));
    }
    println!("  p99 < 30 ms at {rate} announcements/s: {:.2} ms  {}", relay.p99_ms, mark(relay.p99_ms < 30.0));
    println!("  peak RSS < 100 MB: {:.1} MB  {}", mb(relay.peak_rss), mark(relay.peak_rss < 100_000_000));
    println!("  no disconnections: {}  {}", relay.disconnects, mark(relay.disconnects == 0));
}

/// Prints every row as a Markdown table.
fn print_markdown(rows: &[Row]) {
    println!("| clients | server | deliveries/s | p50 latency | p99 latency | peak RSS | relay ÷ server |");
    println!("|--:|---|--:|--:|--:|--:|--:|");
    for row in rows {
        match &row.result {
            Ok(m) => {
                let vs = match row.server {
                    Server::Relay => "—".to_owned(),
                    other => ratio(rows, row.clients, other).map_or("—".to_owned(), |r| format!("{r:.2}×")),
                };
                let note = if m.disconnects > 0 { format!(" ({} disconnected)", m.disconnects) } else { String::new() };
                println!(
                    "| {} | {} | {}{note} | {:.1} ms | {:.1} ms | {:.0} MB | {vs} |",
                    row.clients,
                    row.server.label(),
                    rate(m.deliveries_per_sec),
                    m.p50_ms,
                    m.p99_ms,
                    mb(m.peak_rss)
                );
            }
            Err(_) => println!("| {} | {} | failed | | | | |", row.clients, row.server.label()),
        }
    }
}

/// The CPU model from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The 1-, 5- and 15-minute load averages from /proc/loadavg: other work on
/// the machine skews every number here.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A temporary directory for the relay's (empty) `--www` and the servers'
/// logs; removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("tabchain-relay-bench-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("www")).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch { dir })
    }

    fn www(&self) -> PathBuf {
        self.dir.join("www")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
