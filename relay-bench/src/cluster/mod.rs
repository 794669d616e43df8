//! `tabchain-relay-bench cluster`: one relay against a cluster of relays on
//! one NATS broker (`tabchain-relay --cluster`), with the same number of
//! clients, in the same run, on the same machine.
//!
//! First one relay with N clients is measured exactly as the relay benchmark
//! measures it (latency at `--rate`, window-limited saturation, peak RSS),
//! with the relay's CPU time per delivery. Then a `nats-server` and
//! `--relays` relays joined to it (the same lifted limits) are started; the
//! N clients are spread round-robin over the relays, every announcer is a
//! client of relay 1, and the same phases run, with:
//!
//! - **latency** per receiver group: receivers on relay 1 (same relay) and on
//!   the others (cross-relay: relay 1 → broker → relay k → client);
//! - **broker messages per broadcast**: `in_msgs` and `out_msgs` of the
//!   broker's `/varz` over each phase, less the background (heartbeats, peer
//!   news) measured over a quiet interval before, per announced block;
//!   expected: 1 in, relays − 1 out;
//! - **CPU time** of the relays, the broker and this process (the clients)
//!   during saturation, per delivery and per broker message;
//! - **peak RSS** (`VmHWM`) of each relay and of the broker;
//! - **a relay killed**: one client of relay 1 announces at `--rate` for
//!   `--kill-seconds`; relay 2 gets SIGKILL `--kill-after` seconds in; every
//!   client of the surviving relays must receive every announcement.

mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use tabchain_process::nats::{MAX_PAYLOAD, NatsServer, nats_server_path};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::child::ServerProcess;
use crate::load::{self, Announce, Clients, Shared};
use crate::proc::{cpu_seconds, peak_rss_bytes};
use report::{print_goals, print_markdown};

use crate::{
    Scratch, Server, Settings, check_settings, latency_phase, measure, mine, percentile_ms, print_machine,
    print_settings, raise_nofile, relay_command, saturation_phase,
};

/// How long an HTTP request to a relay or the broker may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the cluster may take to form, and to list every client.
const FORM_TIMEOUT: Duration = Duration::from_secs(30);
/// No frame for this long: the setup's peer news has drained.
const QUIET: Duration = Duration::from_millis(300);
/// How long the surviving clients may take to receive the relay-kill run's
/// last announcements.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The cluster benchmark's settings.
#[derive(Args)]
pub struct ClusterArgs {
    /// The `tabchain-relay` binary to measure.
    #[arg(long)]
    relay: PathBuf,
    /// The `nats-server` binary [default: $TABCHAIN_NATS_SERVER, else on PATH, else /usr/sbin/nats-server].
    #[arg(long)]
    nats_server: Option<PathBuf>,
    /// Clients: all on the one relay, then spread round-robin over the cluster's relays.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Relays in the cluster.
    #[arg(long, default_value_t = 3)]
    relays: usize,
    /// Seconds without announcements over which the broker's background traffic is measured.
    #[arg(long, default_value_t = 2.0)]
    quiet_seconds: f64,
    /// Seconds of announcing (at `--rate`) in the relay-kill run.
    #[arg(long, default_value_t = 6.0)]
    kill_seconds: f64,
    /// Seconds into the relay-kill run at which relay 2 is killed.
    #[arg(long, default_value_t = 2.0)]
    kill_after: f64,
    /// Tokio worker threads of each cluster relay (`TOKIO_WORKER_THREADS`)
    /// [default: its share of the cores, at least 1; 0: one per core, as a
    /// relay alone].
    #[arg(long)]
    relay_threads: Option<usize>,
    #[command(flatten)]
    settings: Settings,
}

/// Worker threads per cluster relay: `--relay-threads`, else each relay's
/// share of the machine's cores (at least 1); `None` (0): tokio's default,
/// one per core.
fn relay_threads(args: &ClusterArgs) -> Option<usize> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    match args.relay_threads {
        Some(0) => None,
        Some(threads) => Some(threads),
        None => Some((cores / args.relays.max(1)).max(1)),
    }
}

/// The broker's counters (`/varz`).
#[derive(Clone, Copy, Default)]
struct Varz {
    in_msgs: u64,
    out_msgs: u64,
    in_bytes: u64,
    out_bytes: u64,
}

/// Broker messages per announced block over one phase, the background
/// subtracted.
#[derive(Clone, Copy, Default)]
struct PerBroadcast {
    in_msgs: f64,
    out_msgs: f64,
    /// Without subtracting the background.
    raw_in: f64,
    raw_out: f64,
    /// Bytes (background subtracted) per announced block, in and out.
    in_bytes: f64,
    out_bytes: f64,
}

/// What the relay-kill run saw.
#[derive(Default)]
struct KillRun {
    /// Blocks announced.
    sent: u64,
    /// Clients of the surviving relays that should have received them all.
    survivors: usize,
    /// Announcements a surviving client never received, all clients together.
    lost: u64,
    /// Receipts beyond one per client and block (duplicates).
    extra: u64,
    /// Surviving clients disconnected.
    survivors_disconnected: usize,
    /// Clients of the killed relay (and how many saw their connection end).
    killed_clients: usize,
    killed_disconnected: usize,
}

/// What the cluster run measured.
struct ClusterMeasurement {
    /// Block frames received per second at saturation.
    deliveries_per_sec: f64,
    /// Saturation deliveries never received (after a grace period).
    lost: u64,
    /// p50 and p99 announce-to-receipt latency (ms): all receivers, relay
    /// 1's receivers, the other relays' receivers.
    all: (f64, f64),
    local: (f64, f64),
    cross: (f64, f64),
    /// Timed receipts seen and expected.
    receipts: usize,
    expected_receipts: u64,
    /// Broker messages per broadcast in the latency phase and at saturation.
    latency_broker: PerBroadcast,
    saturation_broker: PerBroadcast,
    /// The broker's background messages per second (heartbeats, peer news).
    background_in_per_sec: f64,
    background_out_per_sec: f64,
    /// Peak RSS of each relay and of the broker.
    relay_rss: Vec<u64>,
    broker_rss: u64,
    /// CPU time during saturation: relays together per delivery, the
    /// broker per message (in or out), this process per delivery (µs); and
    /// each one's share of the phase's wall time (cores busy).
    relay_cpu_us_per_delivery: f64,
    broker_cpu_us_per_message: f64,
    clients_cpu_us_per_delivery: f64,
    relay_cores: Vec<f64>,
    broker_cores: f64,
    clients_cores: f64,
    /// Broker messages the relays dropped (`broker_dropped_total`), before the kill.
    broker_dropped: u64,
    /// Connections closed before the kill.
    disconnects: u64,
    kill: KillRun,
    /// Whether the announcers repeated blocks.
    wrapped: bool,
}

/// Runs the cluster benchmark and prints its report.
pub fn bench(args: &ClusterArgs) -> Result<()> {
    let n = args.clients;
    check_settings(&args.settings, &[n])?;
    if args.relays < 2 {
        bail!("--relays must be at least 2 (relay 2 is killed in the last run)");
    }
    let per_relay = spread(n, args.relays);
    if per_relay[0] < args.settings.announcers + 1 || per_relay.contains(&0) {
        bail!("--clients {n} over {} relays leaves too few clients on relay 1 for the announcers", args.relays);
    }
    for (name, value) in [("--quiet-seconds", args.quiet_seconds), ("--kill-seconds", args.kill_seconds)] {
        if !(value.is_finite() && value > 0.0) {
            bail!("{name} must be positive");
        }
    }
    if !(args.kill_after.is_finite() && args.kill_after >= 0.0 && args.kill_after < args.kill_seconds) {
        bail!("--kill-after must be between 0 and --kill-seconds");
    }
    raise_nofile(n)?;
    let relay =
        std::fs::canonicalize(&args.relay).with_context(|| format!("the relay binary {}", args.relay.display()))?;
    let nats = args.nats_server.clone().unwrap_or_else(nats_server_path);

    println!("tabchain-relay-bench: relay cluster benchmark");
    print_machine();
    print_settings(&args.settings);
    println!(
        "cluster: {} relays on one nats-server ({}), {n} clients round-robin ({} per relay), every announcer on relay 1; \
         relay-kill run: {} announcements/s for {} s, relay 2 killed after {} s{}",
        args.relays,
        nats.display(),
        per_relay.iter().map(usize::to_string).collect::<Vec<_>>().join("/"),
        args.settings.rate,
        args.kill_seconds,
        args.kill_after,
        relay_threads(args).map_or("; one tokio worker thread per core in each cluster relay".to_owned(), |t| format!(
            "; {t} tokio worker thread(s) per cluster relay"
        ))
    );
    let blocks = mine(&args.settings)?;
    let scratch = Scratch::new()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;

    println!();
    println!("== one relay, {n} clients ==");
    let command = relay_command(&relay, &scratch.www());
    let log = scratch.dir.join("relay-alone.log");
    let one = runtime.block_on(measure(&args.settings, Server::Relay, n, command, &log, &blocks));
    match &one {
        Ok(m) => println!("  {:<12} {m}", "one relay"),
        Err(e) => println!("  {:<12} FAILED: {e:#}", "one relay"),
    }

    println!();
    println!("== {} relays + broker, {n} clients ==", args.relays);
    let cluster = runtime.block_on(measure_cluster(args, &relay, &nats, &scratch, &blocks, &per_relay));
    match &cluster {
        Ok(m) => println!("{m}"),
        Err(e) => println!("  cluster      FAILED: {e:#}"),
    }
    runtime.shutdown_timeout(Duration::from_secs(1));

    let (one, cluster) = match (one, cluster) {
        (Ok(one), Ok(cluster)) => (one, cluster),
        (one, cluster) => {
            let failed: Vec<_> =
                [one.err().map(|_| "one relay"), cluster.err().map(|_| "cluster")].into_iter().flatten().collect();
            bail!("the {} run failed", failed.join(" and the "));
        }
    };
    println!();
    print_goals(&one, &cluster, args.settings.rate);
    println!();
    print_markdown(&one, &cluster, n, args.relays);
    Ok(())
}

/// `n` clients dealt round-robin to `relays` relays: how many each gets.
fn spread(n: usize, relays: usize) -> Vec<usize> {
    (0..relays).map(|r| (n + relays - 1 - r) / relays).collect()
}

/// Starts the broker and the relays, then measures them.
async fn measure_cluster(
    args: &ClusterArgs,
    relay: &Path,
    nats: &Path,
    scratch: &Scratch,
    blocks: &Arc<Vec<Utf8Bytes>>,
    per_relay: &[usize],
) -> Result<ClusterMeasurement> {
    let nats = nats.to_path_buf();
    let broker = tokio::task::spawn_blocking(move || NatsServer::start_binary(nats, MAX_PAYLOAD))
        .await
        .context("starting nats-server")??;
    let mut relays = Vec::with_capacity(per_relay.len());
    for r in 0..per_relay.len() {
        let mut command = relay_command(relay, &scratch.www());
        command.arg("--cluster").arg(broker.url()).arg("--relay-name").arg(format!("bench-{}", r + 1));
        if let Some(threads) = relay_threads(args) {
            command.env("TOKIO_WORKER_THREADS", threads.to_string());
        }
        relays.push(ServerProcess::spawn(command, &scratch.dir.join(format!("cluster-relay-{}.log", r + 1)))?);
    }
    let result = cluster_phases(args, &broker, &mut relays, blocks, per_relay).await;
    // The cause first, then what the relays logged.
    result.map_err(|e| anyhow::anyhow!("{e:#}{}", relays.iter().map(ServerProcess::log_tail).collect::<String>()))
}

/// The phases of the cluster run, on a started broker and relays.
async fn cluster_phases(
    args: &ClusterArgs,
    broker: &NatsServer,
    relays: &mut [ServerProcess],
    blocks: &Arc<Vec<Utf8Bytes>>,
    per_relay: &[usize],
) -> Result<ClusterMeasurement> {
    let s = &args.settings;
    let n = args.clients;
    let others = relays.len() as f64 - 1.0;
    wait_for(relays, "every relay to hear the others", |_, m| {
        metric(m, "tabchain_relay_broker_connected") == 1.0 && metric(m, "tabchain_relay_cluster_relays") == others
    })
    .await?;

    let shared = Shared::new(blocks.len(), n as u64 - 1, relays.len());
    let started = Instant::now();
    let mut clients: Option<Clients> = None;
    for (r, (process, &count)) in relays.iter().zip(per_relay).enumerate() {
        let url = format!("ws://{}/ws", process.addr);
        let connected = load::connect_all(&url, count, s.connect_concurrency, true, &shared, r)
            .await
            .with_context(|| format!("connecting {count} clients to relay {} at {url}", r + 1))?;
        match &mut clients {
            Some(clients) => clients.append(connected),
            None => clients = Some(connected),
        }
    }
    let mut clients = clients.context("no relay")?;
    eprintln!("  cluster      {n} clients connected in {:.1} s", started.elapsed().as_secs_f64());
    wait_for(relays, "every relay to list the other relays' clients", |r, m| {
        metric(m, "tabchain_relay_cluster_remote_peers") == (n - per_relay[r]) as f64
    })
    .await?;
    wait_quiet(&clients).await;
    let result = cluster_measure(args, broker, relays, &mut clients, &shared, blocks, per_relay).await;
    shared.closing.store(true, Ordering::Relaxed);
    result
}

/// The measurements on a formed cluster with connected clients.
async fn cluster_measure(
    args: &ClusterArgs,
    broker: &NatsServer,
    relays: &mut [ServerProcess],
    clients: &mut Clients,
    shared: &Arc<Shared>,
    blocks: &Arc<Vec<Utf8Bytes>>,
    per_relay: &[usize],
) -> Result<ClusterMeasurement> {
    let s = &args.settings;
    let receivers = args.clients as u64 - 1;
    let monitor = format!("127.0.0.1:{}", broker.monitor_port);
    let broker_pid = broker.pid().context("the broker is not running")?;
    let announce = Announce::new(blocks, shared);

    // The background: heartbeats and peer news with nothing announced.
    let (q0, t0) = (varz(&monitor).await?, Instant::now());
    tokio::time::sleep(Duration::from_secs_f64(args.quiet_seconds)).await;
    let (q1, t1) = (varz(&monitor).await?, Instant::now());
    let quiet = (t1 - t0).as_secs_f64();
    let background = ((q1.in_msgs - q0.in_msgs) as f64 / quiet, (q1.out_msgs - q0.out_msgs) as f64 / quiet);
    let background_bytes = ((q1.in_bytes - q0.in_bytes) as f64 / quiet, (q1.out_bytes - q0.out_bytes) as f64 / quiet);
    let per_broadcast = |v0: Varz, v1: Varz, seconds: f64, announced: u64| {
        let count = announced.max(1) as f64;
        let (din, dout) = ((v1.in_msgs - v0.in_msgs) as f64, (v1.out_msgs - v0.out_msgs) as f64);
        let (bin, bout) = ((v1.in_bytes - v0.in_bytes) as f64, (v1.out_bytes - v0.out_bytes) as f64);
        PerBroadcast {
            in_msgs: (din - background.0 * seconds) / count,
            out_msgs: (dout - background.1 * seconds) / count,
            raw_in: din / count,
            raw_out: dout / count,
            in_bytes: (bin - background_bytes.0 * seconds) / count,
            out_bytes: (bout - background_bytes.1 * seconds) / count,
        }
    };

    // Latency.
    let (v0, t0) = (varz(&monitor).await?, Instant::now());
    let announced0 = shared.announced.load(Ordering::Relaxed);
    let timed = latency_phase(s, clients, shared, &announce, receivers).await?;
    let (v1, t1) = (varz(&monitor).await?, Instant::now());
    let sent = shared.announced.load(Ordering::Relaxed) - announced0;
    let latency_broker = per_broadcast(v0, v1, (t1 - t0).as_secs_f64(), sent);
    for relay in relays.iter_mut() {
        relay.check_running()?;
    }
    let cross: Vec<u32> = {
        let mut cross = timed.by_group[1..].concat();
        cross.sort_unstable();
        cross
    };
    let (all, local) = (timed.all(), &timed.by_group[0]);

    // Saturation.
    let pids: Vec<u32> = relays.iter().map(ServerProcess::pid).collect();
    let cpu = |pids: &[u32]| -> Result<Vec<f64>> { pids.iter().map(|&pid| cpu_seconds(pid)).collect() };
    let me = std::process::id();
    let (v0, t0) = (varz(&monitor).await?, Instant::now());
    let (relay_cpu0, broker_cpu0, me_cpu0) = (cpu(&pids)?, cpu_seconds(broker_pid)?, cpu_seconds(me)?);
    let saturated = saturation_phase(s, clients, shared, &announce, receivers).await?;
    let (relay_cpu1, broker_cpu1, me_cpu1) = (cpu(&pids)?, cpu_seconds(broker_pid)?, cpu_seconds(me)?);
    let (v1, t1) = (varz(&monitor).await?, Instant::now());
    let wall = (t1 - t0).as_secs_f64();
    let saturation_broker = per_broadcast(v0, v1, wall, saturated.announced);
    let relay_cpu: Vec<f64> = relay_cpu1.iter().zip(&relay_cpu0).map(|(b, a)| b - a).collect();
    let broker_cpu = broker_cpu1 - broker_cpu0;
    let broker_messages = (v1.in_msgs - v0.in_msgs) + (v1.out_msgs - v0.out_msgs);
    let delivered = saturated.delivered.max(1) as f64;
    let mut broker_dropped = 0;
    for relay in relays.iter_mut() {
        relay.check_running()?;
        let text = http_get(&relay.addr.to_string(), "/metrics").await?;
        broker_dropped += metric(&text, "tabchain_relay_broker_dropped_total") as u64;
    }
    let relay_rss = relays.iter().map(ServerProcess::peak_rss_bytes).collect::<Result<Vec<_>>>()?;
    let broker_rss = peak_rss_bytes(broker_pid)?;
    let disconnects = shared.disconnected.load(Ordering::Relaxed);

    let kill = kill_run(args, relays, clients, shared, &announce, per_relay).await?;

    Ok(ClusterMeasurement {
        deliveries_per_sec: saturated.deliveries_per_sec,
        lost: saturated.lost,
        all: (percentile_ms(&all, 0.50), percentile_ms(&all, 0.99)),
        local: (percentile_ms(local, 0.50), percentile_ms(local, 0.99)),
        cross: (percentile_ms(&cross, 0.50), percentile_ms(&cross, 0.99)),
        receipts: all.len(),
        expected_receipts: timed.expected_receipts,
        latency_broker,
        saturation_broker,
        background_in_per_sec: background.0,
        background_out_per_sec: background.1,
        relay_rss,
        broker_rss,
        relay_cpu_us_per_delivery: relay_cpu.iter().sum::<f64>() * 1e6 / delivered,
        broker_cpu_us_per_message: broker_cpu * 1e6 / broker_messages.max(1) as f64,
        clients_cpu_us_per_delivery: (me_cpu1 - me_cpu0) * 1e6 / delivered,
        relay_cores: relay_cpu.iter().map(|c| c / wall).collect(),
        broker_cores: broker_cpu / wall,
        clients_cores: (me_cpu1 - me_cpu0) / wall,
        broker_dropped,
        disconnects,
        kill,
        wrapped: announce.wrapped(),
    })
}

/// The relay-kill run: client 0 (on relay 1) announces at `--rate`; relay 2
/// is killed part-way; every client of the other relays must receive every
/// announcement exactly once.
async fn kill_run(
    args: &ClusterArgs,
    relays: &mut [ServerProcess],
    clients: &mut Clients,
    shared: &Arc<Shared>,
    announce: &Announce,
    per_relay: &[usize],
) -> Result<KillRun> {
    const KILLED: usize = 1;
    let s = &args.settings;
    let first = announce.next.load(Ordering::Relaxed);
    let planned = (args.kill_seconds * s.rate).ceil() as u64 + 2;
    if first + planned > announce.blocks.len() as u64 {
        bail!("the block pool is used up before the relay-kill run: raise --blocks");
    }
    let was_disconnected: Vec<bool> = clients.stats.iter().map(|c| c.disconnected.load(Ordering::Relaxed)).collect();
    if was_disconnected.iter().any(|&d| d) {
        bail!("clients were disconnected before the relay-kill run");
    }
    wait_quiet(clients).await;
    shared.track_from.store(first, Ordering::Relaxed);
    let sink = clients.sinks.remove(0);
    let paced = tokio::spawn(announce.clone().paced(sink, s.rate, Duration::from_secs_f64(args.kill_seconds)));
    tokio::time::sleep(Duration::from_secs_f64(args.kill_after)).await;
    relays[KILLED].kill()?;
    let (sink, sent) = paced.await.context("the announcer panicked")??;
    clients.sinks.insert(0, sink);

    // Client 0 announced; the killed relay's clients are gone.
    let survivors: Vec<usize> = (1..clients.stats.len()).filter(|&i| clients.stats[i].group != KILLED).collect();
    let received = |i: usize| clients.stats[i].tracked.load(Ordering::Relaxed);
    let deadline = Instant::now() + KILL_GRACE;
    while survivors.iter().any(|&i| received(i) < sent) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A little longer, for duplicates.
    tokio::time::sleep(Duration::from_millis(200)).await;
    shared.track_from.store(u64::MAX, Ordering::Relaxed);
    for (r, relay) in relays.iter_mut().enumerate() {
        if r != KILLED {
            relay.check_running().with_context(|| format!("relay {} after the kill", r + 1))?;
        }
    }
    let disconnected = |i: &&usize| clients.stats[**i].disconnected.load(Ordering::Relaxed);
    let killed: Vec<usize> = (0..clients.stats.len()).filter(|&i| clients.stats[i].group == KILLED).collect();
    Ok(KillRun {
        sent,
        survivors: survivors.len(),
        lost: survivors.iter().map(|&i| sent.saturating_sub(received(i))).sum(),
        extra: survivors.iter().map(|&i| received(i).saturating_sub(sent)).sum(),
        survivors_disconnected: survivors.iter().filter(disconnected).count(),
        killed_clients: per_relay[KILLED],
        killed_disconnected: killed.iter().filter(disconnected).count(),
    })
}

/// Waits until `ready(relay index, its /metrics)` holds for every relay.
async fn wait_for(relays: &[ServerProcess], what: &str, ready: impl Fn(usize, &str) -> bool) -> Result<()> {
    let deadline = Instant::now() + FORM_TIMEOUT;
    for (r, relay) in relays.iter().enumerate() {
        loop {
            let text = http_get(&relay.addr.to_string(), "/metrics").await?;
            if ready(r, &text) {
                break;
            }
            if Instant::now() >= deadline {
                bail!("waited {FORM_TIMEOUT:?} for {what}; relay {} says:\n{}", r + 1, cluster_lines(&text));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// The cluster's lines of a relay's `/metrics`, for error messages.
fn cluster_lines(metrics: &str) -> String {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && (l.contains("cluster") || l.contains("broker") || l.contains("peers")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until no client has received a frame for [`QUIET`] (at most 20 s).
async fn wait_quiet(clients: &Clients) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (clients.frames(), Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let frames = clients.frames();
        if frames != last.0 {
            last = (frames, Instant::now());
        } else if last.1.elapsed() >= QUIET {
            return;
        }
    }
}

/// The sum of every sample of metric `name` (any labels) in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|line| line.strip_prefix(name))
        .filter(|rest| rest.starts_with([' ', '{']))
        .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The broker's message counters from `/varz` on `monitor` (host:port).
async fn varz(monitor: &str) -> Result<Varz> {
    let body = http_get(monitor, "/varz").await?;
    let json: serde_json::Value = serde_json::from_str(&body).context("parsing the broker's /varz")?;
    let field = |name: &str| json[name].as_u64().with_context(|| format!("no {name} in the broker's /varz"));
    Ok(Varz {
        in_msgs: field("in_msgs")?,
        out_msgs: field("out_msgs")?,
        in_bytes: field("in_bytes")?,
        out_bytes: field("out_bytes")?,
    })
}

/// The body of `GET path` from `addr` (host:port), which must answer 200.
async fn http_get(addr: &str, path: &str) -> Result<String> {
    let request = async {
        let mut stream = TcpStream::connect(addr).await?;
        // HTTP/1.0: no chunked body, and the server closes when done.
        let head = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(head.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        anyhow::Ok(response)
    };
    let response = tokio::time::timeout(HTTP_TIMEOUT, request)
        .await
        .map_err(|_| anyhow::anyhow!("timed out"))
        .and_then(|r| r)
        .with_context(|| format!("GET http://{addr}{path}"))?;
    let text = String::from_utf8(response).with_context(|| format!("GET http://{addr}{path}: not UTF-8"))?;
    let (head, body) = text.split_once("\r\n\r\n").with_context(|| format!("GET http://{addr}{path}: no body"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("GET http://{addr}{path}: {status}");
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_dealt_round_robin() {
        assert_eq!(spread(1000, 3), vec![334, 333, 333]);
        assert_eq!(spread(1001, 3), vec![334, 334, 333]);
        assert_eq!(spread(6, 3), vec![2, 2, 2]);
        assert_eq!(spread(5, 2), vec![3, 2]);
    }

    #[test]
    fn metrics_are_read_and_summed() {
        let text = "# HELP x\ntabchain_relay_cluster_relays 2\ntabchain_relay_cluster_relays_other 9\n\
                    tabchain_relay_broker_dropped_total{reason=\"a\"} 1\ntabchain_relay_broker_dropped_total{reason=\"b\"} 3\n";
        assert_eq!(metric(text, "tabchain_relay_cluster_relays"), 2.0);
        assert_eq!(metric(text, "tabchain_relay_broker_dropped_total"), 4.0);
        assert_eq!(metric(text, "tabchain_relay_missing"), 0.0);
    }
}
