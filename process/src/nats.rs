//! A real `nats-server` for tests and benchmarks of the relay cluster: on
//! loopback, on free ports it picks itself, with a `max_payload` the relays
//! accept; killed on drop. [`NatsServer::kill`] and [`NatsServer::restart`]
//! (same port) let a test take the broker away and bring it back.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};

/// How long the server may take to say where it listens.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The `max_payload` of `deploy/nats-server.conf`: room for the relays'
/// largest frame (2 MiB) and its headers.
pub const MAX_PAYLOAD: &str = "4MB";

/// A running `nats-server`.
pub struct NatsServer {
    child: Option<Child>,
    binary: PathBuf,
    config: PathBuf,
    /// Its client port.
    pub port: u16,
    /// Its monitoring port (`/varz`).
    pub monitor_port: u16,
}

/// Where `nats-server` is: `$TABCHAIN_NATS_SERVER`, else on `PATH`, else
/// Debian's `/usr/sbin/nats-server`.
pub fn nats_server_path() -> PathBuf {
    if let Some(path) = std::env::var_os("TABCHAIN_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"))
}

impl NatsServer {
    /// Starts a server with [`MAX_PAYLOAD`] on free loopback ports.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(MAX_PAYLOAD)
    }

    /// Starts a server whose `max_payload` is `max_payload` (`"1MB"`, …).
    pub fn start_with(max_payload: &str) -> anyhow::Result<Self> {
        Self::start_binary(nats_server_path(), max_payload)
    }

    /// Starts the `nats-server` at `binary` with `max_payload`.
    pub fn start_binary(binary: PathBuf, max_payload: &str) -> anyhow::Result<Self> {
        let config = std::env::temp_dir().join(format!(
            "tabchain-nats-{}-{}.conf",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        ));
        let text = format!("host: 127.0.0.1\nport: -1\nhttp_port: -1\nmax_payload: {max_payload}\n");
        std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
        let mut server = Self { child: None, binary, config, port: 0, monitor_port: 0 };
        server.launch(None)?;
        Ok(server)
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` of its monitoring endpoints.
    pub fn monitor_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.monitor_port)
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same client port (after [`NatsServer::kill`]).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let port = self.port;
        // The port may take a moment to be free again.
        let mut last = None;
        for _ in 0..50 {
            match self.launch(Some(port)) {
                Ok(()) => return Ok(()),
                Err(error) => last = Some(error),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(last.unwrap_or_else(|| anyhow!("nats-server did not restart")))
    }

    /// Runs the server (on `port`, or a free one) and reads its ports from
    /// its log.
    fn launch(&mut self, port: Option<u16>) -> anyhow::Result<()> {
        let binary = &self.binary;
        let mut cmd = Command::new(binary);
        cmd.arg("-c").arg(&self.config);
        if let Some(port) = port {
            cmd.args(["-p", &port.to_string()]);
        }
        crate::spawn::kill_with_parent(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} (install Debian's nats-server package)", binary.display()))?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so the server never blocks.
                    continue;
                }
            }
        });
        let (mut client, mut monitor) = (None, None);
        let deadline = std::time::Instant::now() + STARTUP_TIMEOUT;
        let mut log = String::new();
        while client.is_none() || monitor.is_none() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                bail!("nats-server did not report its ports in time; its log:\n{log}");
            };
            log.push_str(&line);
            log.push('\n');
            let port_after = |marker: &str| {
                line.split_once(marker).and_then(|(_, rest)| rest.trim().rsplit(':').next()?.parse::<u16>().ok())
            };
            client = client.or_else(|| port_after("Listening for client connections on"));
            monitor = monitor.or_else(|| port_after("Starting http monitor on"));
        }
        self.port = client.unwrap_or_default();
        self.monitor_port = monitor.unwrap_or_default();
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.config);
    }
}
