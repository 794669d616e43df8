//! What an operator can tune, with defaults that suit a laptop serving a few
//! hundred tabs, and the checks that refuse settings that cannot work.

use std::path::PathBuf;
use std::time::Duration;

use tabchain_core::params::Network;
use tabchain_core::wire::MAX_MESSAGE_BYTES;

/// Per-peer token buckets: sustained rates and the bursts allowed above them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimits {
    /// Messages per second a peer may send, sustained.
    pub messages_per_sec: f64,
    /// Messages a peer may send at once after being quiet.
    pub burst_messages: f64,
    /// Bytes per second a peer may send, sustained.
    pub bytes_per_sec: f64,
    /// Bytes a peer may send at once; at least one largest frame.
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

/// Everything the relay needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Network served; peers on another chain are refused.
    pub network: Network,
    /// Directory of the web app served at `/`.
    pub www: PathBuf,
    /// Most connections at once; more get `503`.
    pub max_peers: usize,
    /// Largest websocket message accepted; a bigger one closes the connection (1009).
    pub max_frame_bytes: usize,
    /// Per-peer rate limits.
    pub rate: RateLimits,
    /// Most messages waiting to be written to one peer; a peer whose queue is
    /// full is too slow and is disconnected.
    pub queue_messages: usize,
    /// Most bytes waiting to be written to one peer (same consequence).
    pub queue_bytes: usize,
    /// How often the relay pings each peer.
    pub ping_interval: Duration,
    /// A peer silent this long (not even a pong) is disconnected.
    pub idle_timeout: Duration,
    /// A peer must say `Hello` within this time.
    pub hello_timeout: Duration,
    /// Misbehaviour points at which a peer is disconnected.
    pub ban_score: u32,
    /// Block and post ids remembered to drop duplicates (each kind).
    pub seen_ids: usize,
}

impl Config {
    /// Defaults for `network`, serving the page from `www`.
    pub fn new(network: Network, www: impl Into<PathBuf>) -> Self {
        Self {
            network,
            www: www.into(),
            max_peers: 1_024,
            max_frame_bytes: MAX_MESSAGE_BYTES,
            rate: RateLimits::default(),
            queue_messages: 1_024,
            queue_bytes: 16 * 1024 * 1024,
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            ban_score: 100,
            seen_ids: 16_384,
        }
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
        ];
        for (what, value) in positive {
            if !(value.is_finite() && value > 0.0) {
                return Err(ConfigError::NotPositive { what });
            }
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
        let mut c = base;
        c.hello_timeout = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::NotPositive { what: "hello timeout" }));
    }
}
