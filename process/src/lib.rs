//! `tabchain-process`: what the workspace's binaries (`tabchain-relay`,
//! `tabchain-node`) share around their work, in one place.
//!
//! - The one line each prints on stdout once it listens,
//!   `<name> listening on http://ADDR/` ([`announce_listening`]), for people
//!   and for whatever started it on port 0; [`parse_listening_line`] reads it
//!   back (`cargo xtask serve`, tests).
//! - Feature `binary`: logging to stderr filtered by `RUST_LOG`
//!   ([`init_logging`]) and the shutdown signal ([`shutdown_signal`]).
//! - Feature `http`: serving HTTP/1.1 with a header-read timeout and
//!   per-address connection limits ([`http::serve`]).
//! - Feature `test-util`: [`spawn::spawn`], which starts one of the binaries,
//!   waits (with a timeout) for its line and kills it when dropped.

#![warn(missing_docs)]

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "test-util")]
pub mod nats;
#[cfg(feature = "test-util")]
pub mod spawn;

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;

/// What comes between a binary's name and its URL in its stdout line.
pub(crate) const LISTENING_ON: &str = " listening on http://";

/// The line binary `name` prints on stdout once it listens on `addr`:
/// `<name> listening on http://ADDR/` (no newline).
pub fn listening_line(name: &str, addr: SocketAddr) -> String {
    format!("{name}{LISTENING_ON}{addr}/")
}

/// Prints [`listening_line`] on stdout and flushes it: the only thing a
/// binary ever writes there.
pub fn announce_listening(name: &str, addr: SocketAddr) -> anyhow::Result<()> {
    println!("{}", listening_line(name, addr));
    std::io::stdout().flush().context("writing to stdout")
}

/// The address in `line` if it is binary `name`'s [`listening_line`]
/// (surrounding whitespace, such as the newline, ignored).
pub fn parse_listening_line(name: &str, line: &str) -> Option<SocketAddr> {
    let rest = line.trim().strip_prefix(name)?.strip_prefix(LISTENING_ON)?;
    rest.strip_suffix('/')?.parse().ok()
}

/// Reads the first line of a child's `stdout` on a thread, waiting at most
/// `timeout`; the thread then keeps draining it, so the child can never block
/// on a full pipe. An empty line means the child closed stdout first; an
/// error of kind [`std::io::ErrorKind::TimedOut`], that nothing came in time.
pub fn read_first_line(stdout: impl std::io::Read + Send + 'static, timeout: Duration) -> std::io::Result<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let first = std::io::BufRead::read_line(&mut reader, &mut line).map(|_| line);
        let _ = tx.send(first);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no line within {timeout:?}")))
    })
}

/// Logs to stderr, filtered by `RUST_LOG` (default: `info`).
#[cfg(feature = "binary")]
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
///
/// Listens from the moment it is called, not from the first poll: call it
/// before announcing that the binary listens, so a signal sent by whoever
/// read the line is never lost (or left to kill the process outright). A
/// signal that cannot be listened for is logged as an error and not waited
/// for (the other one still works).
#[cfg(feature = "binary")]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| tracing::error!("cannot listen for {name}: {e}")).ok()
        };
        let interrupt = listen(SignalKind::interrupt(), "Ctrl-C");
        let terminate = listen(SignalKind::terminate(), "SIGTERM");
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            tokio::select! {
                () = received(interrupt) => {},
                () = received(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    {
        let ctrl_c =
            tokio::signal::windows::ctrl_c().map_err(|e| tracing::error!("cannot listen for Ctrl-C: {e}")).ok();
        async move {
            match ctrl_c {
                Some(mut ctrl_c) => {
                    ctrl_c.recv().await;
                }
                None => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_round_trips() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        let line = listening_line("tabchain-node", addr);
        assert_eq!(line, "tabchain-node listening on http://127.0.0.1:4321/");
        assert_eq!(parse_listening_line("tabchain-node", &format!("{line}\n")), Some(addr));
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(parse_listening_line("x", &listening_line("x", v6)), Some(v6));
    }

    #[test]
    fn other_lines_are_not_taken_for_it() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        let line = listening_line("tabchain-node", addr);
        assert_eq!(parse_listening_line("tabchain-relay", &line), None);
        assert_eq!(parse_listening_line("tabchain", &line), None);
        assert_eq!(parse_listening_line("tabchain-node", "tabchain-node listening on http://127.0.0.1:4321"), None);
        assert_eq!(parse_listening_line("tabchain-node", "tabchain-node listening on http://nowhere/"), None);
        assert_eq!(parse_listening_line("tabchain-node", ""), None);
    }
}
