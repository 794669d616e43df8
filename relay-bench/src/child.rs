//! A measured server running as a child process: started, asked for its port
//! (the first line it prints), measured for peak RSS, and always killed — also
//! when the benchmark fails half-way — because [`ServerProcess`] kills it on
//! drop; on Linux the kernel also kills it if the benchmark itself dies.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long a server may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The marker in a server's first stdout line before its URL.
const LISTENING: &str = "listening on http://";

/// A running server child process; killed and reaped on drop.
pub struct ServerProcess {
    child: Child,
    /// Held open: the baseline servers exit when their stdin closes.
    _stdin: Option<ChildStdin>,
    /// Where the server's stderr goes.
    log: PathBuf,
    /// The address the server listens on.
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Spawns `cmd` with stderr going to `log` and waits for its first stdout
    /// line, `… listening on http://ADDR/`.
    pub fn spawn(mut cmd: Command, log: &Path) -> Result<Self> {
        let what = describe(&cmd);
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log_file);
        tabchain_process::spawn::kill_with_parent(&mut cmd);
        let mut child = cmd.spawn().with_context(|| format!("starting `{what}`"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // From here on, dropping `server` kills the child.
        let mut server = ServerProcess { child, _stdin: stdin, log: log.to_path_buf(), addr: ([0, 0, 0, 0], 0).into() };
        let stdout = stdout.context("the child's stdout is not piped")?;

        // The first line (with a timeout); stdout is drained after it, so the
        // server can never block on a full pipe.
        let line = match tabchain_process::read_first_line(stdout, STARTUP_TIMEOUT) {
            Ok(line) => line,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                bail!("`{what}` printed no address within {STARTUP_TIMEOUT:?}{}", server.log_tail())
            }
            Err(e) => return Err(e).with_context(|| format!("reading the first line of `{what}`")),
        };
        if line.is_empty() {
            let status = server.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            bail!("`{what}` exited ({status}) before printing its address{}", server.log_tail());
        }
        server.addr = parse_listening(&line).with_context(|| {
            format!("`{what}` printed {:?} first, expected `… {LISTENING}ADDR/`{}", line.trim_end(), server.log_tail())
        })?;
        Ok(server)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the server has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("polling the server process")? {
            bail!("the server exited with {status}{}", self.log_tail());
        }
        Ok(())
    }

    /// Peak resident set size so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> Result<u64> {
        crate::proc::peak_rss_bytes(self.pid())
    }

    /// Kills it with SIGKILL (no cleanup runs) and reaps it.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill().context("killing the server")?;
        self.child.wait().context("reaping the server")?;
        Ok(())
    }

    /// The last lines of the server's stderr, formatted to append to an error.
    pub fn log_tail(&self) -> String {
        let Ok(text) = std::fs::read_to_string(&self.log) else { return String::new() };
        let lines: Vec<&str> = text.lines().collect();
        if lines.is_empty() {
            return format!(" (its log {} is empty)", self.log.display());
        }
        let tail = &lines[lines.len().saturating_sub(10)..];
        format!("; last lines of {}:\n{}", self.log.display(), tail.join("\n"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in `… listening on http://ADDR/`.
fn parse_listening(line: &str) -> Option<SocketAddr> {
    let (_, rest) = line.trim_end().split_once(LISTENING)?;
    rest.trim_end_matches('/').parse().ok()
}

/// `program arg1 arg2 …` for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_line_parses() {
        assert_eq!(
            parse_listening("tabchain-relay listening on http://127.0.0.1:4321/\n"),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        assert_eq!(parse_listening("hello"), None);
    }
}
