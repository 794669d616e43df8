//! What an operator can tune, with defaults that suit a laptop serving a few
//! hundred tabs, and the checks that refuse settings that cannot work.

use std::path::PathBuf;
use std::time::Duration;

use tabchain_core::params::Network;
use tabchain_core::wire::MAX_MESSAGE_BYTES;

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

    /// Refuses settings under which the relay could not do its job.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("max peers", self.max_peers as f64),
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
        ] {
            if value.is_zero() {
                return Err(ConfigError::NotPositive { what });
            }
        }
        if self.idle_timeout <= self.ping_interval {
            return Err(ConfigError::IdleBelowPing);
        }
        Ok(())
    }
}

/// Smallest frame limit allowed: a `Hello` must fit.
pub const MIN_FRAME_BYTES: usize = 1024;

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
        assert_eq!((c.network, c.www), (Network::Dev, PathBuf::from("site")));
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
        let mut c = base;
        c.hello_timeout = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "hello timeout" }));
    }
}
