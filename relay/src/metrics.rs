//! Counters for `GET /metrics`, in the Prometheus text format.
//!
//! Every label set is a fixed enum, so each counter is one atomic in an array:
//! counting costs a relaxed add on the hot path, with no map or lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use tabchain_core::wire::Message;
use tabchain_process::http::ServeStats;

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

/// Why a websocket upgrade was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusedReason {
    /// `--max-peers` connections already (`503`).
    Full,
    /// Its address holds `--max-peers-per-address` already (`429`).
    PerAddress,
    /// Its address opened connections faster than `--connect-rate` (`429`).
    Churn,
    /// Its `Origin` is not among `--allowed-origin` (`403`).
    Origin,
}

impl RefusedReason {
    const ALL: [RefusedReason; 4] =
        [RefusedReason::Full, RefusedReason::PerAddress, RefusedReason::Churn, RefusedReason::Origin];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusedReason::Full => "full",
            RefusedReason::PerAddress => "per_address",
            RefusedReason::Churn => "churn",
            RefusedReason::Origin => "origin",
        }
    }
}

/// What the HTTP server refused or cut short (from [`ServeStats`]).
pub struct HttpCounts {
    /// Connections closed at once: their address had too many open.
    pub refused_per_address: u64,
    /// Connections closed at once: the relay had too many open.
    pub refused_total: u64,
    /// Connections closed for not sending a request's head in time.
    pub header_timeouts: u64,
}

impl From<&ServeStats> for HttpCounts {
    fn from(stats: &ServeStats) -> Self {
        Self {
            refused_per_address: stats.refused_per_address(),
            refused_total: stats.refused_total(),
            header_timeouts: stats.header_timeouts(),
        }
    }
}

/// One counter per message kind, plus one (`unparsed`) for frames that did not
/// decode or were refused by the rate limit before decoding.
/// Counters of a cluster member's broker traffic (`--cluster`).
#[derive(Default)]
pub struct BrokerStats {
    published: AtomicU64,
    received: AtomicU64,
    dropped: [AtomicU64; BrokerDrop::ALL.len()],
    reconnects: AtomicU64,
    snapshots: AtomicU64,
}

/// Why a message for or from the broker was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrokerDrop {
    /// Not published: the broker was away.
    Disconnected,
    /// Not published: the queue toward the broker was full.
    QueueFull,
    /// The client refused it, or a request failed.
    Error,
    /// Received, but not what relays send.
    Malformed,
    /// Not received: this relay read too slowly and the client dropped it.
    SlowConsumer,
}

impl BrokerDrop {
    const ALL: [BrokerDrop; 5] = [
        BrokerDrop::Disconnected,
        BrokerDrop::QueueFull,
        BrokerDrop::Error,
        BrokerDrop::Malformed,
        BrokerDrop::SlowConsumer,
    ];

    /// Its label value.
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerDrop::Disconnected => "disconnected",
            BrokerDrop::QueueFull => "queue_full",
            BrokerDrop::Error => "error",
            BrokerDrop::Malformed => "malformed",
            BrokerDrop::SlowConsumer => "slow_consumer",
        }
    }
}

/// The cluster's state for `/metrics`, read when it is rendered.
pub struct ClusterGauges<'a> {
    /// Counters.
    pub stats: &'a BrokerStats,
    /// Whether the broker connection is up.
    pub connected: bool,
    /// Other relays heard from.
    pub relays: usize,
    /// Their peers.
    pub remote_peers: usize,
}

impl BrokerStats {
    /// A message went to the broker.
    pub fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    /// A message came from the broker.
    pub fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages published so far.
    pub fn published_count(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Messages dropped for `reason` so far.
    pub fn drops(&self, reason: BrokerDrop) -> u64 {
        self.dropped[reason as usize].load(Ordering::Relaxed)
    }

    /// Reconnections to the broker so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    fn drop_one(&self, reason: BrokerDrop) {
        self.dropped[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Not published: the broker is away.
    pub fn dropped_disconnected(&self) {
        self.drop_one(BrokerDrop::Disconnected);
    }

    /// Not published: the outbound queue is full.
    pub fn dropped_queue_full(&self) {
        self.drop_one(BrokerDrop::QueueFull);
    }

    /// The client refused a message, or a request failed.
    pub fn dropped_error(&self) {
        self.drop_one(BrokerDrop::Error);
    }

    /// A message from the broker was not what relays send.
    pub fn dropped_malformed(&self) {
        self.drop_one(BrokerDrop::Malformed);
    }

    /// Messages for this relay were dropped by the client: it read too slowly.
    pub fn dropped_slow_consumer(&self) {
        self.drop_one(BrokerDrop::SlowConsumer);
    }

    /// Another relay's peer list was fetched.
    pub fn snapshot_fetched(&self) {
        self.snapshots.fetch_add(1, Ordering::Relaxed);
    }

    /// Peer lists fetched so far.
    pub fn snapshots(&self) -> u64 {
        self.snapshots.load(Ordering::Relaxed)
    }

    /// The client reconnected after losing the broker.
    pub fn reconnected(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, gauges: &ClusterGauges<'_>) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(out, "broker_connected", "gauge", "1 while the connection to the cluster's broker is up.");
        let _ = writeln!(out, "tabchain_relay_broker_connected {}", u8::from(gauges.connected));
        header(out, "cluster_relays", "gauge", "Other relays of the cluster heard from.");
        let _ = writeln!(out, "tabchain_relay_cluster_relays {}", gauges.relays);
        header(out, "cluster_remote_peers", "gauge", "Joined peers of the other relays.");
        let _ = writeln!(out, "tabchain_relay_cluster_remote_peers {}", gauges.remote_peers);
        header(out, "broker_published_total", "counter", "Messages published to the broker.");
        let _ = writeln!(out, "tabchain_relay_broker_published_total {}", load(&self.published));
        header(out, "broker_received_total", "counter", "Messages received from the broker.");
        let _ = writeln!(out, "tabchain_relay_broker_received_total {}", load(&self.received));
        header(out, "broker_dropped_total", "counter", "Messages for or from the broker dropped, by reason.");
        for (reason, counter) in BrokerDrop::ALL.iter().zip(&self.dropped) {
            let _ = writeln!(
                out,
                "tabchain_relay_broker_dropped_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                load(counter)
            );
        }
        header(out, "cluster_snapshots_total", "counter", "Other relays' peer lists fetched (new relays, lost news).");
        let _ = writeln!(out, "tabchain_relay_cluster_snapshots_total {}", load(&self.snapshots));
        header(out, "broker_reconnects_total", "counter", "Reconnections to the broker after losing it.");
        let _ = writeln!(out, "tabchain_relay_broker_reconnects_total {}", load(&self.reconnects));
    }
}

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
    refused: [AtomicU64; RefusedReason::ALL.len()],
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

    /// An upgrade was refused.
    pub fn refused(&self, reason: RefusedReason) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many upgrades were refused for `reason` so far.
    pub fn refusals(&self, reason: RefusedReason) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
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

    /// The Prometheus text exposition, with the live peer counts and the
    /// HTTP server's counts.
    pub fn render(
        &self,
        joined: usize,
        pending: usize,
        http: HttpCounts,
        cluster: Option<ClusterGauges<'_>>,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(&mut out, "peers", "gauge", "Connected peers, by whether they have said Hello.");
        let _ = writeln!(out, "tabchain_relay_peers{{state=\"joined\"}} {joined}");
        let _ = writeln!(out, "tabchain_relay_peers{{state=\"pending\"}} {pending}");
        header(&mut out, "connections_total", "counter", "Websocket connections accepted.");
        let _ = writeln!(out, "tabchain_relay_connections_total {}", load(&self.connections));
        header(&mut out, "refused_total", "counter", "Websocket upgrades refused, by reason.");
        for (reason, counter) in RefusedReason::ALL.iter().zip(&self.refused) {
            let _ = writeln!(out, "tabchain_relay_refused_total{{reason=\"{}\"}} {}", reason.as_str(), load(counter));
        }
        header(&mut out, "http_refused_total", "counter", "HTTP connections closed at once, by the limit they met.");
        let _ =
            writeln!(out, "tabchain_relay_http_refused_total{{reason=\"per_address\"}} {}", http.refused_per_address);
        let _ = writeln!(out, "tabchain_relay_http_refused_total{{reason=\"total\"}} {}", http.refused_total);
        header(
            &mut out,
            "http_header_timeouts_total",
            "counter",
            "HTTP connections closed for a request head not sent in time.",
        );
        let _ = writeln!(out, "tabchain_relay_http_header_timeouts_total {}", http.header_timeouts);
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
        if let Some(cluster) = cluster {
            cluster.stats.render(&mut out, &cluster);
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
        for (i, r) in BrokerDrop::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        for (i, r) in RefusedReason::ALL.iter().enumerate() {
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
        m.refused(RefusedReason::Churn);
        let http = HttpCounts { refused_per_address: 4, refused_total: 5, header_timeouts: 6 };
        let broker = BrokerStats::default();
        broker.published();
        broker.dropped_disconnected();
        broker.reconnected();
        let gauges = ClusterGauges { stats: &broker, connected: true, relays: 2, remote_peers: 7 };
        let text = m.render(3, 1, http, Some(gauges));
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
            "tabchain_relay_refused_total{reason=\"churn\"} 1",
            "tabchain_relay_refused_total{reason=\"full\"} 0",
            "tabchain_relay_http_refused_total{reason=\"per_address\"} 4",
            "tabchain_relay_http_refused_total{reason=\"total\"} 5",
            "tabchain_relay_http_header_timeouts_total 6",
            "# TYPE tabchain_relay_dropped_total counter",
            "tabchain_relay_broker_connected 1",
            "tabchain_relay_cluster_relays 2",
            "tabchain_relay_cluster_remote_peers 7",
            "tabchain_relay_broker_published_total 1",
            "tabchain_relay_broker_dropped_total{reason=\"disconnected\"} 1",
            "tabchain_relay_broker_dropped_total{reason=\"queue_full\"} 0",
            "tabchain_relay_broker_reconnects_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }
}
