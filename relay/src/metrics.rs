//! Counters for `GET /metrics`, in the Prometheus text format.
//!
//! Every label set is a fixed enum, so each counter is one atomic in an array:
//! counting costs a relaxed add on the hot path, with no map or lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tabchain_core::wire::Message;

const KINDS: usize = Message::KINDS.len();

/// Why a message was not forwarded (or not delivered to one peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Did not decode, or not allowed from a peer (or before `Hello`).
    BadMessage,
    /// A block failed the relay's checks.
    InvalidBlock,
    /// A post failed validation.
    InvalidTx,
    /// Already forwarded recently.
    Duplicate,
    /// Over the sender's rate limit.
    RateLimited,
    /// Addressed to a peer that is not connected, or no peer to ask.
    UnknownPeer,
    /// A delivery dropped because the receiver's queue was full.
    QueueFull,
    /// A broadcast over its sender's share of the relay's broadcast budget.
    BroadcastBudget,
}

impl DropReason {
    const ALL: [DropReason; 8] = [
        DropReason::BadMessage,
        DropReason::InvalidBlock,
        DropReason::InvalidTx,
        DropReason::Duplicate,
        DropReason::RateLimited,
        DropReason::UnknownPeer,
        DropReason::QueueFull,
        DropReason::BroadcastBudget,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BadMessage => "bad_message",
            DropReason::InvalidBlock => "invalid_block",
            DropReason::InvalidTx => "invalid_tx",
            DropReason::Duplicate => "duplicate",
            DropReason::RateLimited => "rate_limited",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::QueueFull => "queue_full",
            DropReason::BroadcastBudget => "broadcast_budget",
        }
    }
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The peer closed it.
    Closed,
    /// Reading or writing failed.
    Io,
    /// Its outbound queue filled: it does not read fast enough.
    Slow,
    /// Its misbehaviour score reached the limit.
    Misbehaving,
    /// It sent a frame over the size limit.
    FrameTooLarge,
    /// Its `Hello` named another chain or protocol.
    WrongChain,
    /// It did not say `Hello` in time.
    HelloTimeout,
    /// It went silent.
    IdleTimeout,
    /// The relay is shutting down.
    Shutdown,
}

impl DisconnectReason {
    const ALL: [DisconnectReason; 9] = [
        DisconnectReason::Closed,
        DisconnectReason::Io,
        DisconnectReason::Slow,
        DisconnectReason::Misbehaving,
        DisconnectReason::FrameTooLarge,
        DisconnectReason::WrongChain,
        DisconnectReason::HelloTimeout,
        DisconnectReason::IdleTimeout,
        DisconnectReason::Shutdown,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::Closed => "closed",
            DisconnectReason::Io => "io_error",
            DisconnectReason::Slow => "slow",
            DisconnectReason::Misbehaving => "misbehaving",
            DisconnectReason::FrameTooLarge => "frame_too_large",
            DisconnectReason::WrongChain => "wrong_chain",
            DisconnectReason::HelloTimeout => "hello_timeout",
            DisconnectReason::IdleTimeout => "idle_timeout",
            DisconnectReason::Shutdown => "shutdown",
        }
    }
}

/// One counter per message kind, plus one (`unparsed`) for frames that did not
/// decode or were refused by the rate limit before decoding.
#[derive(Default)]
struct PerKind([AtomicU64; KINDS + 1]);

impl PerKind {
    fn add(&self, kind: Option<usize>, n: u64) {
        self.0[kind.unwrap_or(KINDS)].fetch_add(n, Ordering::Relaxed);
    }
}

/// The relay's counters.
#[derive(Default)]
pub struct Metrics {
    connections: AtomicU64,
    refused_full: AtomicU64,
    messages_in: PerKind,
    bytes_in: PerKind,
    messages_out: PerKind,
    bytes_out: PerKind,
    drops: [AtomicU64; DropReason::ALL.len()],
    disconnects: [AtomicU64; DisconnectReason::ALL.len()],
}

impl Metrics {
    /// A connection was accepted.
    pub fn connected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was refused because the relay is full.
    pub fn refused_full(&self) {
        self.refused_full.fetch_add(1, Ordering::Relaxed);
    }

    /// A frame of `bytes` came in; `kind` is its [`Message::kind_index`] if it decoded.
    pub fn received(&self, kind: Option<usize>, bytes: usize) {
        self.messages_in.add(kind, 1);
        self.bytes_in.add(kind, bytes as u64);
    }

    /// `count` copies of a `bytes`-long message of `kind` were queued to peers.
    pub fn sent(&self, kind: usize, count: u64, bytes: usize) {
        if count > 0 {
            self.messages_out.add(Some(kind), count);
            self.bytes_out.add(Some(kind), count * bytes as u64);
        }
    }

    /// Something was not forwarded.
    pub fn dropped(&self, reason: DropReason, count: u64) {
        self.drops[reason as usize].fetch_add(count, Ordering::Relaxed);
    }

    /// A connection ended.
    pub fn disconnected(&self, reason: DisconnectReason) {
        self.disconnects[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many connections ended for `reason` so far.
    pub fn disconnects(&self, reason: DisconnectReason) -> u64 {
        self.disconnects[reason as usize].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition, with the live peer counts.
    pub fn render(&self, joined: usize, pending: usize) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(&mut out, "peers", "gauge", "Connected peers, by whether they have said Hello.");
        let _ = writeln!(out, "tabchain_relay_peers{{state=\"joined\"}} {joined}");
        let _ = writeln!(out, "tabchain_relay_peers{{state=\"pending\"}} {pending}");
        header(&mut out, "connections_total", "counter", "Websocket connections accepted.");
        let _ = writeln!(out, "tabchain_relay_connections_total {}", load(&self.connections));
        header(&mut out, "refused_total", "counter", "Connections refused because the relay was full.");
        let _ = writeln!(out, "tabchain_relay_refused_total {}", load(&self.refused_full));
        for (name, help, counters) in [
            ("messages_received_total", "Messages received from peers, by type.", &self.messages_in),
            ("bytes_received_total", "Bytes received from peers, by message type.", &self.bytes_in),
            ("messages_sent_total", "Messages queued to peers, by type.", &self.messages_out),
            ("bytes_sent_total", "Bytes queued to peers, by message type.", &self.bytes_out),
        ] {
            header(&mut out, name, "counter", help);
            let labels = Message::KINDS.iter().copied().chain(["unparsed"]);
            for (label, counter) in labels.zip(&counters.0) {
                let _ = writeln!(out, "tabchain_relay_{name}{{type=\"{label}\"}} {}", load(counter));
            }
        }
        header(&mut out, "dropped_total", "counter", "Messages not forwarded, by reason.");
        for (reason, counter) in DropReason::ALL.iter().zip(&self.drops) {
            let _ = writeln!(out, "tabchain_relay_dropped_total{{reason=\"{}\"}} {}", reason.as_str(), load(counter));
        }
        header(&mut out, "disconnects_total", "counter", "Connections ended, by reason.");
        for (reason, counter) in DisconnectReason::ALL.iter().zip(&self.disconnects) {
            let _ =
                writeln!(out, "tabchain_relay_disconnects_total{{reason=\"{}\"}} {}", reason.as_str(), load(counter));
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP tabchain_relay_{name} {help}");
    let _ = writeln!(out, "# TYPE tabchain_relay_{name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_order_matches_arrays() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in DisconnectReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.received(Some(5), 600);
        m.received(None, 3);
        m.sent(5, 10, 620);
        m.sent(5, 0, 620);
        m.dropped(DropReason::Duplicate, 2);
        m.disconnected(DisconnectReason::Slow);
        let text = m.render(3, 1);
        for line in [
            "tabchain_relay_peers{state=\"joined\"} 3",
            "tabchain_relay_peers{state=\"pending\"} 1",
            "tabchain_relay_messages_received_total{type=\"Block\"} 1",
            "tabchain_relay_bytes_received_total{type=\"Block\"} 600",
            "tabchain_relay_messages_received_total{type=\"unparsed\"} 1",
            "tabchain_relay_messages_sent_total{type=\"Block\"} 10",
            "tabchain_relay_bytes_sent_total{type=\"Block\"} 6200",
            "tabchain_relay_messages_sent_total{type=\"Tx\"} 0",
            "tabchain_relay_dropped_total{reason=\"duplicate\"} 2",
            "tabchain_relay_disconnects_total{reason=\"slow\"} 1",
            "# TYPE tabchain_relay_dropped_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
