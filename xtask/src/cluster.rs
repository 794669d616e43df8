//! `cargo xtask cluster`: a relay cluster on this machine. One NATS broker
//! (`nats-server -c deploy/nats-server.conf`), N relays joined to it on
//! consecutive ports (`--cluster`, `--relay-name relay-<i>`, `--public-url`)
//! and one native node on the first relay, built and started as
//! `cargo xtask serve` builds and starts its relay and node.
//!
//! Ctrl-C reaches every child (they share the terminal's process group) and
//! each shuts down on its own; xtask catches it too (and SIGTERM, SIGHUP),
//! and when any child exits it stops the others: SIGTERM to the node and the
//! relays, then to the broker, SIGKILL for whichever is still there after
//! [`STOP_TIMEOUT`].

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Network, build_servers, ensure_nats_server, node_command, node_data_dir, relay_command};

/// The broker's settings, relative to the workspace root.
const NATS_CONFIG: &str = "deploy/nats-server.conf";
/// The broker's monitoring port is its client port plus this: 8222 for
/// 4222, as in [`NATS_CONFIG`].
const MONITOR_PORT_OFFSET: u16 = 4000;
/// How long the broker may take to accept connections.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a relay or the node may take to print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a child has after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the children are looked at.
const POLL: Duration = Duration::from_millis(100);

/// Starts the cluster and watches it until Ctrl-C (`Ok`) or until one of its
/// processes exits (an error naming it); either way every process is stopped.
/// `relays` 0 starts the broker alone (nothing is built then).
pub fn cluster(root: &Path, relays: u16, network: Network, port: u16, http: &str, nats_port: u16) -> Result<()> {
    if relays > 0 && port.checked_add(relays - 1).is_none() {
        bail!("--port {port} leaves no room for {relays} relays below port 65535");
    }
    let monitor_port = nats_port.checked_add(MONITOR_PORT_OFFSET).with_context(|| {
        format!("--nats-port {nats_port}: its monitoring port (+{MONITOR_PORT_OFFSET}) is past 65535")
    })?;
    let nats = ensure_nats_server()?;
    let bin = if relays > 0 { Some(build_servers(root)?) } else { None };

    signals::install()?;
    let mut children = Children::default();
    let started = (|| -> Result<Vec<String>> {
        // The broker.
        let broker = SocketAddr::from((Ipv4Addr::LOCALHOST, nats_port));
        if TcpStream::connect_timeout(&broker, Duration::from_millis(500)).is_ok() {
            bail!("something already listens on {broker} (another nats-server?): stop it or pass --nats-port");
        }
        let (client, monitor) = (nats_port.to_string(), monitor_port.to_string());
        let mut cmd = Command::new(&nats);
        cmd.current_dir(root).arg("-c").arg(root.join(NATS_CONFIG)).args(["-p", &client, "-m", &monitor]);
        children.start_broker(cmd, broker)?;
        let cluster_url = format!("nats://{broker}");
        let mut urls = vec![format!("broker   {cluster_url} (monitoring http://127.0.0.1:{monitor_port}/varz)")];
        let Some(bin) = bin else {
            urls.push(format!("no relays: start them with --cluster {cluster_url}"));
            return Ok(urls);
        };

        // The relays, on consecutive ports, each with its share of the
        // cores (more runtime threads than cores only wake each other: see
        // README, "Relay cluster"), unless TOKIO_WORKER_THREADS says otherwise.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let threads = (cores / usize::from(relays).max(1)).max(1).to_string();
        let mut first_ws = None;
        for i in 0..relays {
            let name = format!("relay-{}", i + 1);
            let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, port + i));
            let mut cmd = relay_command(root, &bin, network, &listen.to_string());
            cmd.args(["--cluster", &cluster_url, "--relay-name", &name, "--public-url", &format!("ws://{listen}/ws")]);
            if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
                cmd.env("TOKIO_WORKER_THREADS", &threads);
            }
            let addr = children.start_listening(&name, "tabchain-relay", cmd)?;
            urls.push(format!("{name:<8} http://{addr}/ (peers http://{addr}/api/peers)"));
            first_ws.get_or_insert_with(|| format!("ws://{addr}/ws"));
        }

        // The node, on the first relay.
        let ws = first_ws.context("at least one relay runs")?;
        let addr = children.start_listening("node", "tabchain-node", node_command(root, &bin, network, &ws, http))?;
        urls.push(format!(
            "node     http://{addr}/ (REST API; on relay-1, data in {})",
            node_data_dir(root, network).display()
        ));
        Ok(urls)
    })();
    // On an error, dropping `children` stops what started.
    let urls = started.map_err(|e| {
        e.context(if signals::requested() { "interrupted while starting the cluster" } else { "starting the cluster" })
    })?;

    println!("xtask: cluster of {relays} relays on network {}:", network.as_str());
    for url in urls {
        println!("xtask:   {url}");
    }
    println!("xtask: Ctrl-C stops them all");
    let watched = children.watch();
    match &watched {
        Ok(()) => println!("xtask: stopping the cluster"),
        Err(e) => eprintln!("xtask: {e:#}; stopping the cluster"),
    }
    children.stop();
    if watched.is_ok() {
        println!("xtask: cluster stopped");
    }
    watched
}

/// One process of the cluster.
struct Proc {
    /// `nats-server`, `relay-<i>` or `node`, for messages.
    name: String,
    child: Child,
}

/// The cluster's processes; whatever is still running is stopped on drop.
#[derive(Default)]
struct Children {
    broker: Option<Proc>,
    /// The relays and the node, in the order they started.
    servers: Vec<Proc>,
}

impl Children {
    /// Starts the broker and waits until it accepts connections on `addr`.
    fn start_broker(&mut self, mut cmd: Command, addr: SocketAddr) -> Result<()> {
        cmd.stdin(Stdio::null());
        let child = cmd.spawn().with_context(|| format!("starting `{}`", crate::describe(&cmd)))?;
        let broker = self.broker.insert(Proc { name: "nats-server".into(), child });
        let deadline = Instant::now() + BROKER_TIMEOUT;
        loop {
            if let Some(status) = broker.child.try_wait().context("waiting for nats-server")? {
                bail!("nats-server exited ({status}) before accepting connections (its log is above)");
            }
            if TcpStream::connect_timeout(&addr, POLL).is_ok() {
                return Ok(());
            }
            if signals::requested() {
                bail!("stopped");
            }
            if Instant::now() >= deadline {
                bail!("nats-server does not accept connections on {addr} after {BROKER_TIMEOUT:?}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// Starts binary `binary` (as named in its listening line) as `name`
    /// and returns the address its first stdout line names.
    fn start_listening(&mut self, name: &str, binary: &str, mut cmd: Command) -> Result<SocketAddr> {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting {name}: `{}`", crate::describe(&cmd)))?;
        let stdout = child.stdout.take();
        self.servers.push(Proc { name: name.to_owned(), child });
        let stdout = stdout.context("stdout is piped")?;
        // Read on a thread that keeps draining the pipe afterwards.
        let line = tabchain_process::read_first_line(stdout, STARTUP_TIMEOUT)
            .with_context(|| format!("reading the address {name} prints"))?;
        match tabchain_process::parse_listening_line(binary, &line) {
            Some(addr) => Ok(addr),
            None if line.is_empty() => bail!("{name} exited before printing its address (its log is above)"),
            None => bail!("{name} printed {:?} instead of its address", line.trim_end()),
        }
    }

    /// Waits until a stop is asked for (`Ok`) or a process exits (an error).
    fn watch(&mut self) -> Result<()> {
        loop {
            if signals::requested() {
                return Ok(());
            }
            for proc in self.broker.iter_mut().chain(&mut self.servers) {
                if let Some(status) = proc.child.try_wait().with_context(|| format!("waiting for {}", proc.name))? {
                    // Ctrl-C reaches the children too: one may be gone first.
                    if signals::requested() {
                        return Ok(());
                    }
                    bail!("{} exited ({status})", proc.name);
                }
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the relays and the node, then the broker.
    fn stop(&mut self) {
        stop_all(&mut self.servers);
        self.servers.clear();
        if let Some(broker) = self.broker.take() {
            stop_all(&mut [broker]);
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends SIGTERM to every process of `procs` still running, then waits up to
/// [`STOP_TIMEOUT`] for them all and kills those still running.
fn stop_all(procs: &mut [Proc]) {
    for proc in procs.iter_mut() {
        signals::terminate(&mut proc.child);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    for proc in procs {
        loop {
            match proc.child.try_wait() {
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                Ok(None) => {
                    eprintln!("xtask: {} still runs {STOP_TIMEOUT:?} after SIGTERM; killing it", proc.name);
                    let _ = proc.child.kill();
                    let _ = proc.child.wait();
                    break;
                }
                Ok(Some(_)) | Err(_) => break,
            }
        }
    }
}

/// Stop requests to xtask itself, and asking a child to stop.
#[cfg(unix)]
mod signals {
    use std::process::Child;
    use std::sync::atomic::{AtomicBool, Ordering};

    use anyhow::{Result, bail};

    /// Set by the handler of SIGINT, SIGTERM and SIGHUP.
    static REQUESTED: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        REQUESTED.store(true, Ordering::SeqCst);
    }

    /// From now on SIGINT (Ctrl-C), SIGTERM and SIGHUP ask xtask to stop
    /// the cluster ([`requested`]) instead of killing it. Children start with
    /// the default handlers (exec resets handled signals).
    pub fn install() -> Result<()> {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            if unsafe { libc::signal(signal, handler) } == libc::SIG_ERR {
                bail!("cannot handle signal {signal}: {}", std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Whether a stop was asked for.
    pub fn requested() -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }

    /// Sends SIGTERM to `child` unless it has exited (and been reaped: its
    /// pid could be another process's by now).
    pub fn terminate(child: &mut Child) {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        match libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) has no memory-safety preconditions; the pid is
            // our unreaped child's.
            Ok(pid) => unsafe {
                libc::kill(pid, libc::SIGTERM);
            },
            Err(_) => {
                let _ = child.kill();
            }
        }
    }
}

/// Elsewhere Ctrl-C ends the whole console group, xtask included.
#[cfg(not(unix))]
mod signals {
    use std::process::Child;

    use anyhow::Result;

    pub fn install() -> Result<()> {
        Ok(())
    }

    pub fn requested() -> bool {
        false
    }

    pub fn terminate(child: &mut Child) {
        let _ = child.kill();
    }
}
