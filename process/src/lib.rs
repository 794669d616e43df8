//! `tabchain-process`: what the workspace's binaries (`tabchain-relay`,
//! `tabchain-node`) share around their work, in one place.
//!
//! - The one line each prints on stdout once it listens,
//!   `<name> listening on http://ADDR/` ([`announce_listening`]), for people
//!   and for whatever started it on port 0; [`parse_listening_line`] reads it
//!   back (`cargo xtask serve`, tests).
//! - Feature `binary`: logging to stderr filtered by `RUST_LOG`
//!   ([`init_logging`]) and the shutdown signal ([`shutdown_signal`]).
//! - Feature `test-util`: [`spawn::spawn`], which starts one of the binaries,
//!   waits (with a timeout) for its line and kills it when dropped.

#[cfg(feature = "test-util")]
pub mod spawn;

use std::io::Write as _;
use std::net::SocketAddr;

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

/// Logs to stderr, filtered by `RUST_LOG` (default: `info`).
#[cfg(feature = "binary")]
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
}

/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM. A signal that cannot be
/// listened for is logged as an error and then waited for no longer (the
/// other one still works).
#[cfg(feature = "binary")]
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
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
