//! What an operator can tune, with defaults that suit a laptop serving a few
//! hundred tabs, and the checks that refuse settings that cannot work.

use std::path::PathBuf;
use std::time::Duration;

use tabchain_core::params::Network;
use tabchain_core::wire::MAX_MESSAGE_BYTES;
use tabchain_process::http::HttpLimits;

/// Per-peer token buckets: sustained rates and the bursts allowed above them.
///
/// Also the rate flags of the relay's command line (`--rate-msgs`, …).
#[derive(Clone, Copy, Debug, PartialEq, clap::Args)]
pub struct RateLimits {
    /// Messages per second a peer may send, sustained.
    #[arg(
        long = "rate-msgs",
        value_name = "RATE_MSGS",
        default_value_t = RateLimits::default().messages_per_sec,
        help = "Messages per second each peer may send, sustained"
    )]
    pub messages_per_sec: f64,
    /// Messages a peer may send at once after being quiet.
    #[arg(
        long = "rate-burst-msgs",
        value_name = "RATE_BURST_MSGS",
        default_value_t = RateLimits::default().burst_messages,
        help = "Messages each peer may send in a burst"
    )]
    pub burst_messages: f64,
    /// Bytes per second a peer may send, sustained.
    #[arg(
        long = "rate-bytes",
        value_name = "RATE_BYTES",
        default_value_t = RateLimits::default().bytes_per_sec,
        help = "Bytes per second each peer may send, sustained"
    )]
    pub bytes_per_sec: f64,
    /// Bytes a peer may send at once; at least one largest frame.
    #[arg(
        long = "rate-burst-bytes",
        value_name = "RATE_BURST_BYTES",
        default_value_t = RateLimits::default().burst_bytes,
        help = "Bytes each peer may send in a burst (at least --max-frame-bytes)"
    )]
    pub burst_bytes: f64,
}

impl Default for RateLimits {
    /// Generous for people and nodes (a dev-network miner announcing a few
    /// hundred blocks while the difficulty climbs, sync pages of a megabyte),
    /// tight enough that one peer cannot keep the relay busy.
    fn default() -> Self {
        Self {
            messages_per_sec: 200.0,
            burst_messages: 1_000.0,
            bytes_per_sec: 8.0 * 1024.0 * 1024.0,
            burst_bytes: 16.0 * 1024.0 * 1024.0,
        }
    }
}

/// The relay's broadcast budget: posts and blocks broadcast per second in
/// all (each goes to every joined peer), shared fairly among the peers
/// broadcasting (see `budget.rs`).
///
/// Also the budget flags of the relay's command line (`--broadcast-msgs`, …).
#[derive(Clone, Copy, Debug, PartialEq, clap::Args)]
pub struct BroadcastLimits {
    /// Broadcasts per second, all senders together, sustained.
    #[arg(
        id = "broadcast_msgs",
        long = "broadcast-msgs",
        value_name = "BROADCAST_MSGS",
        default_value_t = BroadcastLimits::default().messages_per_sec,
        help = "Posts and blocks the relay broadcasts per second, all senders together (shared fairly among them)"
    )]
    pub messages_per_sec: f64,
    /// Broadcasts at once after a quiet time.
    #[arg(
        id = "broadcast_burst_msgs",
        long = "broadcast-burst-msgs",
        value_name = "BROADCAST_BURST_MSGS",
        default_value_t = BroadcastLimits::default().burst_messages,
        help = "Posts and blocks the relay broadcasts in a burst"
    )]
    pub burst_messages: f64,
    /// Bytes of broadcasts per second, sustained.
    #[arg(
        id = "broadcast_bytes",
        long = "broadcast-bytes",
        value_name = "BROADCAST_BYTES",
        default_value_t = BroadcastLimits::default().bytes_per_sec,
        help = "Bytes of posts and blocks the relay broadcasts per second, all senders together"
    )]
    pub bytes_per_sec: f64,
    /// Bytes of broadcasts at once.
    #[arg(
        id = "broadcast_burst_bytes",
        long = "broadcast-burst-bytes",
        value_name = "BROADCAST_BURST_BYTES",
        default_value_t = BroadcastLimits::default().burst_bytes,
        help = "Bytes of posts and blocks the relay broadcasts in a burst"
    )]
    pub burst_bytes: f64,
}

impl Default for BroadcastLimits {
    /// What a tab keeps up with while the relay broadcasts all it may: 500
    /// posts a second is a tenth of a second of signature checks in wasm;
    /// bursts fit in a peer's queue (1,024 messages, 16 MiB). Honest traffic
    /// (a block every 10 s, posts that cost seconds of work each) is far
    /// below; a dev-network miner at its own rate limit (200 a second) is
    /// under it.
    fn default() -> Self {
        Self {
            messages_per_sec: 500.0,
            burst_messages: 1_000.0,
            bytes_per_sec: 4.0 * 1024.0 * 1024.0,
            burst_bytes: 8.0 * 1024.0 * 1024.0,
        }
    }
}

/// Everything the relay needs to run.
///
/// Also the settings part of the relay's command line (flattened into the
/// binary's parser; every flag but `--listen`): the `#[arg]` attributes hold
/// the flag names, help texts and the defaults, which [`Config::new`] takes
/// from there too.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Directory of the web app served at `/`.
    #[arg(long, default_value = "www", help = "Directory of the web app (with the built wasm in pkg/)")]
    pub www: PathBuf,
    /// Network served; peers on another chain are refused.
    #[arg(long, default_value = "main", help = "Network to serve: main or dev")]
    pub network: Network,
    /// Most connections at once; more get `503`.
    #[arg(long, default_value_t = 1_024, help = "Most websocket connections at once")]
    pub max_peers: usize,
    /// Most websocket connections from one address (IPv6: one /64); more get
    /// `429`. `None`: a quarter of `max_peers` (at least 1), so that one
    /// host can never take every slot ([`Config::peers_per_address`]).
    #[arg(
        long,
        value_name = "N",
        help = "Most websocket connections from one address (IPv6: one /64) [default: a quarter of --max-peers]"
    )]
    pub max_peers_per_address: Option<usize>,
    /// New websocket connections one address may open per second, sustained
    /// (joins and leaves cost every peer a message).
    #[arg(
        long,
        value_name = "PER_SEC",
        default_value_t = 2.0,
        help = "New websocket connections per second from one address, sustained; more get 429"
    )]
    pub connect_rate: f64,
    /// New websocket connections one address may open at once after being quiet.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 32.0,
        help = "New websocket connections from one address in a burst"
    )]
    pub connect_burst: f64,
    /// Page origins (`scheme://host[:port]`) whose websockets are accepted;
    /// empty: any. A request without `Origin` (a native node; browsers
    /// always send one) is accepted either way.
    #[arg(
        long = "allowed-origin",
        value_name = "ORIGIN",
        value_delimiter = ',',
        help = "Origin allowed to open the websocket, e.g. https://example.org (repeatable or comma-separated; default: any). Requests without Origin (native nodes) are always allowed"
    )]
    pub allowed_origins: Vec<String>,
    /// Time a client has to send an HTTP request's head (also how long a
    /// kept-alive connection may stay idle).
    #[arg(
        long = "header-timeout-secs",
        value_name = "HEADER_TIMEOUT_SECS",
        value_parser = seconds,
        default_value = "10",
        help = "Seconds a client has to send an HTTP request's headers (and an idle keep-alive connection stays open)"
    )]
    pub header_timeout: Duration,
    /// Most HTTP connections open at once from one address, websockets not
    /// counted (they have `max_peers_per_address`); more are closed at once.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        help = "Most HTTP connections (besides websockets) open at once from one address"
    )]
    pub max_http_per_address: usize,
    /// Largest websocket message accepted; a bigger one closes the connection (1009).
    #[arg(
        long,
        default_value_t = MAX_MESSAGE_BYTES,
        help = "Largest websocket message, in bytes; a bigger one closes the connection"
    )]
    pub max_frame_bytes: usize,
    /// Per-peer rate limits.
    #[command(flatten)]
    pub rate: RateLimits,
    /// The relay's broadcast budget, shared among senders.
    #[command(flatten)]
    pub broadcast: BroadcastLimits,
    /// Most messages waiting to be written to one peer; a peer whose queue is
    /// full is too slow and is disconnected.
    #[arg(
        long,
        default_value_t = 1_024,
        help = "Most messages queued to one peer; a peer whose queue fills is disconnected"
    )]
    pub queue_messages: usize,
    /// Most bytes waiting to be written to one peer (same consequence).
    #[arg(long, default_value_t = 16 * 1024 * 1024, help = "Most bytes queued to one peer")]
    pub queue_bytes: usize,
    /// How often the relay pings each peer.
    #[arg(
        long = "ping-interval-secs",
        value_name = "PING_INTERVAL_SECS",
        value_parser = seconds,
        default_value = "20",
        help = "Seconds between pings to each peer"
    )]
    pub ping_interval: Duration,
    /// A peer silent this long (not even a pong) is disconnected.
    #[arg(
        long = "idle-timeout-secs",
        value_name = "IDLE_TIMEOUT_SECS",
        value_parser = seconds,
        default_value = "60",
        help = "Seconds of silence after which a peer is disconnected"
    )]
    pub idle_timeout: Duration,
    /// A peer must say `Hello` within this time.
    #[arg(
        long = "hello-timeout-secs",
        value_name = "HELLO_TIMEOUT_SECS",
        value_parser = seconds,
        default_value = "10",
        help = "Seconds a new peer has to send Hello"
    )]
    pub hello_timeout: Duration,
    /// Misbehaviour points at which a peer is disconnected.
    #[arg(long, default_value_t = 100, help = "Misbehaviour points at which a peer is disconnected")]
    pub ban_score: u32,
    /// Misbehaviour points forgiven per second, so that only a peer that
    /// keeps misbehaving reaches the ban score (0: points last as long as
    /// the connection).
    #[arg(long, default_value_t = 1.0, help = "Misbehaviour points forgiven per second (0: never)")]
    pub ban_decay: f64,
    /// Block and post ids broadcast remembered to drop duplicates (each
    /// kind), and blocks whose chain work the relay remembers.
    #[arg(skip = 16_384_usize)]
    pub seen_ids: usize,
    /// Serve the web app uncompressed: no precompressed files, no
    /// compression on the fly (for a proxy in front that compresses, or to
    /// measure what compression saves).
    #[arg(
        long,
        help = "Serve the web app uncompressed (by default: www/pkg's and www/vendor's precompressed .br/.gz files and Brotli/gzip on the fly for the rest, as the browser accepts)"
    )]
    pub no_compression: bool,
    /// NATS broker of the relay cluster to join; `None`: the relay runs alone.
    #[arg(
        long,
        value_name = "NATS_URL",
        help = "Join the relay cluster on this NATS broker, e.g. nats://127.0.0.1:4222 (relays of one network on one broker act as one; see deploy/nats-server.conf)"
    )]
    pub cluster: Option<String>,
    /// This relay's name in the cluster (`/api/peers`, logs); a random one
    /// when absent.
    #[arg(
        long,
        value_name = "NAME",
        help = "This relay's name in the cluster: letters, digits, '.', '_' or '-', at most 64 [default: relay-<random>]"
    )]
    pub relay_name: Option<String>,
    /// The websocket address pages reach this relay at, told to pages of
    /// the other relays for failover; from `--listen` when absent (unless
    /// that is a wildcard address).
    #[arg(
        long,
        value_name = "URL",
        help = "Websocket address pages reach this relay at, e.g. wss://relay1.example.org/ws, for failover from other relays' pages [default: ws://<listen>/ws]"
    )]
    pub public_url: Option<String>,
    /// How often a cluster member says it is alive.
    #[arg(skip = Duration::from_secs(1))]
    pub heartbeat_interval: Duration,
    /// How long a silent relay stays listed, its peers with it.
    #[arg(skip = Duration::from_secs(5))]
    pub relay_timeout: Duration,
}

/// A whole number of seconds from the command line.
fn seconds(text: &str) -> Result<Duration, std::num::ParseIntError> {
    text.parse().map(Duration::from_secs)
}

impl Config {
    /// Defaults for `network`, serving the page from `www`: the command
    /// line's defaults (one place for them).
    pub fn new(network: Network, www: impl Into<PathBuf>) -> Self {
        /// A command line holding only the settings.
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let mut config =
            <Defaults as clap::Parser>::try_parse_from(["tabchain-relay"]).expect("the default settings parse").config;
        config.network = network;
        config.www = www.into();
        config
    }

    /// Most websocket connections from one address: the setting, or a
    /// quarter of `max_peers` (at least 1).
    pub fn peers_per_address(&self) -> usize {
        self.max_peers_per_address.unwrap_or((self.max_peers / 4).max(1))
    }

    /// What the HTTP server allows: the header timeout (also the longest
    /// pause in a request body), `max_http_per_address`, and
    /// [`MAX_HTTP_CONNECTIONS`] in all.
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            header_timeout: self.header_timeout,
            body_timeout: self.header_timeout,
            max_connections_per_address: self.max_http_per_address,
            max_connections: MAX_HTTP_CONNECTIONS,
        }
    }

    /// Refuses settings under which the relay could not do its job.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max peers", self.max_peers as f64),
            ("max peers per address", self.peers_per_address() as f64),
            ("connect rate", self.connect_rate),
            ("max HTTP connections per address", self.max_http_per_address as f64),
            ("queue messages", self.queue_messages as f64),
            ("queue bytes", self.queue_bytes as f64),
            ("seen ids", self.seen_ids as f64),
            ("ban score", f64::from(self.ban_score)),
            ("message rate", self.rate.messages_per_sec),
            ("message burst", self.rate.burst_messages),
            ("byte rate", self.rate.bytes_per_sec),
            ("broadcast rate", self.broadcast.messages_per_sec),
            ("broadcast burst", self.broadcast.burst_messages),
            ("broadcast byte rate", self.broadcast.bytes_per_sec),
            ("broadcast byte burst", self.broadcast.burst_bytes),
        ];
        for (what, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NotPositive { what });
            }
        }
        if !(self.ban_decay.is_finite() && self.ban_decay >= 0.0) {
            return Err(ConfigError::Negative { what: "ban decay" });
        }
        if self.max_frame_bytes < MIN_FRAME_BYTES || self.max_frame_bytes > MAX_MESSAGE_BYTES {
            return Err(ConfigError::FrameLimit { bytes: self.max_frame_bytes });
        }
        if self.rate.burst_bytes.is_nan() || self.rate.burst_bytes < self.max_frame_bytes as f64 {
            return Err(ConfigError::ByteBurstBelowFrame { burst: self.rate.burst_bytes, frame: self.max_frame_bytes });
        }
        if self.queue_bytes < self.max_frame_bytes {
            return Err(ConfigError::QueueBelowFrame { queue: self.queue_bytes, frame: self.max_frame_bytes });
        }
        for (what, value) in [
            ("ping interval", self.ping_interval),
            ("idle timeout", self.idle_timeout),
            ("hello timeout", self.hello_timeout),
            ("header timeout", self.header_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::NotPositive { what });
            }
        }
        if self.idle_timeout <= self.ping_interval {
            return Err(ConfigError::IdleBelowPing);
        }
        if self.peers_per_address() > self.max_peers {
            return Err(ConfigError::PerAddressAboveMax { per_address: self.peers_per_address(), max: self.max_peers });
        }
        if self.connect_rate < MIN_CONNECT_RATE {
            return Err(ConfigError::ConnectRate { rate: self.connect_rate });
        }
        if !(self.connect_burst.is_finite() && self.connect_burst >= 1.0) {
            return Err(ConfigError::ConnectBurst { burst: self.connect_burst });
        }
        if let Some(origin) = self.allowed_origins.iter().find(|origin| !is_origin(origin)) {
            return Err(ConfigError::Origin { origin: origin.clone() });
        }
        self.validate_cluster()
    }

    /// Checks the cluster flags.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        if let Some(url) = self.cluster.as_deref()
            && !is_url_with(url, &["nats", "tls"])
        {
            return Err(ConfigError::ClusterUrl { url: url.to_owned() });
        }
        if let Some(name) = self.relay_name.as_deref()
            && !is_relay_name(name)
        {
            return Err(ConfigError::RelayName { name: name.to_owned() });
        }
        if let Some(url) = self.public_url.as_deref()
            && !is_url_with(url, &["ws", "wss"])
        {
            return Err(ConfigError::PublicUrl { url: url.to_owned() });
        }
        if self.heartbeat_interval.is_zero() || self.relay_timeout <= self.heartbeat_interval {
            return Err(ConfigError::Heartbeat);
        }
        Ok(())
    }
}

/// Smallest frame limit allowed: a `Hello` must fit.
pub const MIN_FRAME_BYTES: usize = 1024;

/// Slowest connect rate allowed (one connection per 1,000 s): slower would
/// be a relay that refuses nearly everyone, and time arithmetic would overflow.
pub const MIN_CONNECT_RATE: f64 = 0.001;

/// Most HTTP connections open at once in all, websockets not counted
/// (`max_peers` bounds those): with them, file descriptors stay bounded.
pub const MAX_HTTP_CONNECTIONS: usize = 1_024;

/// Whether `text` is a URL with one of `schemes`, a host and no user part.
pub(crate) fn is_url_with(text: &str, schemes: &[&str]) -> bool {
    let Ok(uri) = text.parse::<axum::http::Uri>() else { return false };
    let scheme_ok = uri.scheme_str().is_some_and(|scheme| schemes.contains(&scheme));
    scheme_ok && uri.authority().is_some_and(|a| !a.as_str().contains('@') && !a.host().is_empty())
}

/// Whether `name` can name a relay: 1 to 64 letters, digits, `.`, `_` or `-`.
fn is_relay_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Whether `text` is an origin as browsers send it: `http` or `https`, a
/// host, maybe a port, nothing else (no path, query, user or trailing slash).
fn is_origin(text: &str) -> bool {
    let Ok(uri) = text.parse::<axum::http::Uri>() else { return false };
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let bare = uri.authority().is_some_and(|a| !a.as_str().contains('@') && !a.host().is_empty());
    scheme_ok && bare && !text.ends_with('/') && uri.path_and_query().is_none_or(|p| p.as_str() == "/")
}

/// Why a [`Config`] cannot work.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A count, rate or duration is zero or negative.
    #[error("{what} must be greater than zero")]
    NotPositive {
        /// Which setting.
        what: &'static str,
    },
    /// A rate that may be zero is negative (or not a number).
    #[error("{what} must not be negative")]
    Negative {
        /// Which setting.
        what: &'static str,
    },
    /// The frame limit is outside what the protocol allows.
    #[error("max frame bytes {bytes} must be between {MIN_FRAME_BYTES} and {MAX_MESSAGE_BYTES} (the protocol's limit)")]
    FrameLimit {
        /// The setting.
        bytes: usize,
    },
    /// The byte burst is too small for the largest frame, which could never pass.
    #[error("byte burst {burst} is smaller than the frame limit {frame}: the largest messages could never pass")]
    ByteBurstBelowFrame {
        /// The burst.
        burst: f64,
        /// The frame limit.
        frame: usize,
    },
    /// A peer's outbound queue could not hold one largest message.
    #[error("queue bytes {queue} is smaller than the frame limit {frame}")]
    QueueBelowFrame {
        /// The queue bound.
        queue: usize,
        /// The frame limit.
        frame: usize,
    },
    /// Peers would be dropped as idle between two pings.
    #[error("idle timeout must be longer than the ping interval")]
    IdleBelowPing,
    /// One address could have more connections than the relay.
    #[error("max peers per address {per_address} is above max peers {max}")]
    PerAddressAboveMax {
        /// The per-address limit.
        per_address: usize,
        /// The relay's limit.
        max: usize,
    },
    /// A connect rate below [`MIN_CONNECT_RATE`].
    #[error("connect rate {rate} is below the minimum of {MIN_CONNECT_RATE} per second")]
    ConnectRate {
        /// The setting.
        rate: f64,
    },
    /// A connect burst below one would refuse every connection.
    #[error("connect burst {burst} must be at least 1")]
    ConnectBurst {
        /// The setting.
        burst: f64,
    },
    /// An allowed origin that no browser would send.
    #[error("allowed origin {origin:?} is not scheme://host[:port] (http or https, no path or trailing slash)")]
    Origin {
        /// The setting.
        origin: String,
    },
    /// `--cluster` is not a broker URL.
    #[error("cluster broker {url:?} is not nats://host[:port] (or tls://)")]
    ClusterUrl {
        /// What was given.
        url: String,
    },
    /// `--relay-name` has characters or a length that cannot name a relay.
    #[error("relay name {name:?} must be 1 to 64 letters, digits, '.', '_' or '-'")]
    RelayName {
        /// What was given.
        name: String,
    },
    /// `--public-url` is not a websocket URL.
    #[error("public URL {url:?} is not ws://host[:port]/path (or wss://)")]
    PublicUrl {
        /// What was given.
        url: String,
    },
    /// The heartbeat settings cannot work.
    #[error("the heartbeat interval must be positive and shorter than the relay timeout")]
    Heartbeat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::new(Network::Main, "www").validate().unwrap();
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::new(Network::Dev, "site");
        assert_eq!((c.network, &c.www), (Network::Dev, &PathBuf::from("site")));
        assert_eq!((c.max_peers, c.max_frame_bytes), (1_024, MAX_MESSAGE_BYTES));
        assert_eq!(c.rate, RateLimits::default());
        assert_eq!(c.broadcast, BroadcastLimits::default());
        assert_eq!(
            (c.broadcast.messages_per_sec, c.broadcast.burst_messages),
            (500.0, 1_000.0),
            "the documented broadcast budget"
        );
        assert_eq!(
            (c.broadcast.bytes_per_sec, c.broadcast.burst_bytes),
            (4.0 * 1024.0 * 1024.0, 8.0 * 1024.0 * 1024.0)
        );
        assert_eq!((c.queue_messages, c.queue_bytes), (1_024, 16 * 1024 * 1024));
        let secs = Duration::from_secs;
        assert_eq!((c.ping_interval, c.idle_timeout, c.hello_timeout), (secs(20), secs(60), secs(10)));
        assert_eq!((c.ban_score, c.ban_decay, c.seen_ids), (100, 1.0, 16_384));
        assert_eq!((c.max_peers_per_address, c.peers_per_address()), (None, 256));
        assert_eq!((c.connect_rate, c.connect_burst), (2.0, 32.0));
        assert!(c.allowed_origins.is_empty());
        assert_eq!((c.header_timeout, c.max_http_per_address), (secs(10), 64));
        assert_eq!(c.http_limits().max_connections, MAX_HTTP_CONNECTIONS);
    }

    #[test]
    fn one_address_gets_a_quarter_of_the_slots_by_default() {
        let mut c = Config::new(Network::Dev, "www");
        for (max, per_address) in [(1, 1), (3, 1), (8, 2), (1_024, 256)] {
            c.max_peers = max;
            assert_eq!(c.peers_per_address(), per_address, "max peers {max}");
            c.validate().unwrap();
        }
        c.max_peers_per_address = Some(1_024);
        c.validate().unwrap();
    }

    #[test]
    fn origins_are_checked_as_browsers_send_them() {
        for good in ["http://127.0.0.1:8000", "https://example.org", "https://tabs.example.org:8443"] {
            assert!(is_origin(good), "{good}");
        }
        for bad in ["example.org", "https://example.org/", "https://example.org/app", "ftp://example.org", "*", ""] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn bad_settings_are_refused_with_reasons() {
        let base = Config::new(Network::Dev, "www");
        let mut c = base.clone();
        c.max_peers = 0;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "max peers" }));
        let mut c = base.clone();
        c.rate.messages_per_sec = f64::NAN;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "message rate" }));
        let mut c = base.clone();
        c.max_frame_bytes = MAX_MESSAGE_BYTES + 1;
        assert!(matches!(c.validate(), Err(ConfigError::FrameLimit { .. })));
        let mut c = base.clone();
        c.rate.burst_bytes = 1000.0;
        assert!(matches!(c.validate(), Err(ConfigError::ByteBurstBelowFrame { .. })));
        let mut c = base.clone();
        c.queue_bytes = 10;
        assert!(matches!(c.validate(), Err(ConfigError::QueueBelowFrame { .. })));
        let mut c = base.clone();
        c.idle_timeout = c.ping_interval;
        assert_eq!(c.validate(), Err(ConfigError::IdleBelowPing));
        let mut c = base.clone();
        c.broadcast.burst_bytes = 0.0;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "broadcast byte burst" }));
        let mut c = base.clone();
        c.ban_decay = -1.0;
        assert_eq!(c.validate(), Err(ConfigError::Negative { what: "ban decay" }));
        let mut c = base.clone();
        c.hello_timeout = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "hello timeout" }));
        let mut c = base.clone();
        c.header_timeout = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "header timeout" }));
        let mut c = base.clone();
        c.max_peers_per_address = Some(c.max_peers + 1);
        assert!(matches!(c.validate(), Err(ConfigError::PerAddressAboveMax { .. })));
        let mut c = base.clone();
        c.max_peers_per_address = Some(0);
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "max peers per address" }));
        let mut c = base.clone();
        c.connect_rate = 0.0;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "connect rate" }));
        let mut c = base.clone();
        c.connect_burst = 0.5;
        assert!(matches!(c.validate(), Err(ConfigError::ConnectBurst { .. })));
        let mut c = base.clone();
        c.connect_rate = 1e-300;
        assert!(matches!(c.validate(), Err(ConfigError::ConnectRate { .. })));
        let mut c = base.clone();
        (c.connect_rate, c.connect_burst) = (MIN_CONNECT_RATE, 1e300);
        c.validate().unwrap();
        drop(crate::admission::Admission::new(&c));
        let mut c = base.clone();
        c.max_http_per_address = 0;
        assert!(matches!(c.validate(), Err(ConfigError::NotPositive { .. })));
        let mut c = base;
        c.allowed_origins = vec!["https://example.org".into(), "https://example.org/".into()];
        assert_eq!(c.validate(), Err(ConfigError::Origin { origin: "https://example.org/".into() }));
    }
}
