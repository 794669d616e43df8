//! Starting one of the workspace's binaries from a test: [`spawn`] runs it,
//! waits for its [`listening_line`](crate::listening_line) and hands back a
//! [`Spawned`] that kills the process when dropped, so a failing test leaks
//! no server.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use parking_lot::Mutex;

use crate::{LISTENING_ON, parse_listening_line, read_first_line};

/// How long a binary may take to print its line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How much of a binary's stderr is kept (the end of it), for error messages.
const STDERR_TAIL_BYTES: usize = 64 * 1024;

/// A binary started by [`spawn`]; killed (SIGKILL) and reaped on drop.
pub struct Spawned {
    child: Child,
    /// Where it listens, from its stdout line.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<JoinHandle<()>>,
}

/// Starts `cmd`, binary `name` (as in its line: `tabchain-node`, …), with
/// stdout and stderr piped, and waits up to [`STARTUP_TIMEOUT`] for its
/// first stdout line, which must be `name`'s listening line.
///
/// Fails, with the end of the binary's stderr, if it cannot be started,
/// exits or prints something else first, or prints nothing in time; the
/// process is killed then. Its stdout after the line is read and dropped, so
/// it never blocks on a full pipe; its stderr is kept ([`Spawned::stderr`]).
pub fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<Spawned> {
    let what = describe(&cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("starting `{what}`"))?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let stderr_pipe = child.stderr.take().context("stderr is piped")?;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let stderr_reader = {
        let stderr = stderr.clone();
        std::thread::spawn(move || keep_tail(stderr_pipe, &stderr))
    };
    // From here on, dropping `spawned` kills the child.
    let mut spawned =
        Spawned { child, addr: SocketAddr::from(([0, 0, 0, 0], 0)), stderr, stderr_reader: Some(stderr_reader) };

    let line = match read_first_line(stdout, STARTUP_TIMEOUT) {
        Ok(line) => line,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err(spawned.fail(anyhow!("`{what}` printed nothing on stdout within {STARTUP_TIMEOUT:?}")));
        }
        Err(e) => {
            let e = anyhow::Error::from(e).context(format!("reading the stdout of `{what}`"));
            return Err(spawned.fail(e));
        }
    };
    if line.is_empty() {
        let status = spawned.child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
        return Err(spawned.fail(anyhow!("`{what}` exited ({status}) before printing its address")));
    }
    match parse_listening_line(name, &line) {
        Some(addr) => {
            spawned.addr = addr;
            Ok(spawned)
        }
        None => {
            let expected = format!("{name}{LISTENING_ON}ADDR/");
            Err(spawned.fail(anyhow!("`{what}` printed {:?} first, expected `{expected}`", line.trim_end())))
        }
    }
}

impl Spawned {
    /// Its base URL, `http://ADDR` (no trailing slash: append paths).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Kills it with SIGKILL (`kill -9`: no cleanup runs) and reaps it.
    pub fn kill(&mut self) -> std::io::Result<ExitStatus> {
        self.child.kill()?;
        self.wait()
    }

    /// Waits for it to exit; then [`Spawned::stderr`] holds all it wrote.
    pub fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait()?;
        self.settle_stderr();
        Ok(status)
    }

    /// Gives the stderr reader, once the process has exited, up to a second
    /// to read what is left in the pipe (a process it started could hold the
    /// pipe open longer: then whatever was read by then is all there is).
    fn settle_stderr(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while self.stderr_reader.as_ref().is_some_and(|r| !r.is_finished()) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.stderr_reader.as_ref().is_some_and(JoinHandle::is_finished) {
            let _ = self.stderr_reader.take().map(JoinHandle::join);
        }
    }

    /// What it wrote on stderr so far (the last 64 KiB), lossily decoded.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock()).into_owned()
    }

    /// Kills it, reads the rest of its stderr and returns `error` with that
    /// stderr attached.
    fn fail(mut self, error: anyhow::Error) -> anyhow::Error {
        let _ = self.child.kill();
        let _ = self.wait();
        let text = self.stderr();
        if text.trim().is_empty() {
            error.context("(it wrote nothing on stderr)")
        } else {
            error.context(format!("its stderr:\n{}", text.trim_end()))
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` to its end, keeping the last [`STDERR_TAIL_BYTES`] in `tail`.
fn keep_tail(mut pipe: impl Read, tail: &Mutex<Vec<u8>>) {
    let mut buf = [0; 8192];
    while let Ok(n @ 1..) = pipe.read(&mut buf) {
        let mut tail = tail.lock();
        tail.extend_from_slice(&buf[..n]);
        let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
        tail.drain(..excess);
    }
}

/// `program arg1 arg2 …`, for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn reads_the_line_and_kills_on_drop() {
        let mut spawned = spawn(
            "fake",
            sh("echo oops >&2; echo 'fake listening on http://127.0.0.1:4321/'; echo more; exec sleep 30"),
        )
        .unwrap();
        assert_eq!(spawned.addr, "127.0.0.1:4321".parse().unwrap());
        assert_eq!(spawned.url(), "http://127.0.0.1:4321");
        let status = spawned.kill().unwrap();
        assert!(!status.success(), "killed, not exited: {status}");
        assert_eq!(spawned.stderr(), "oops\n");
    }

    #[test]
    fn failures_say_why_with_the_stderr() {
        let error = spawn("fake", sh("echo broken >&2; exit 3")).err().unwrap();
        let text = format!("{error:#}");
        assert!(text.contains("exited (exit status: 3) before printing its address"), "{text}");
        assert!(text.contains("broken"), "{text}");

        let error = spawn("fake", sh("echo 'other listening on http://127.0.0.1:1/'")).err().unwrap();
        let text = format!("{error:#}");
        assert!(text.contains("expected `fake listening on http://ADDR/`"), "{text}");

        let error = spawn("fake", Command::new("/nonexistent/binary")).err().unwrap();
        assert!(format!("{error:#}").contains("starting `/nonexistent/binary`"), "{error:#}");
    }
}

/// Asks the kernel to SIGKILL the child when the thread that spawned it dies,
/// so a test or benchmark killed by a signal (no destructors run) leaks no
/// server. The spawning thread must outlive the child's use (not a
/// blocking-pool thread, which exits when idle).
#[cfg(target_os = "linux")]
pub fn kill_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only calls prctl(2),
    // which is async-signal-safe, and reads errno.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub fn kill_with_parent(_cmd: &mut Command) {}
