//! Who may open a websocket, before the hub gives it a slot: the page's
//! origin (when `--allowed-origin` is set), how many websockets the address
//! holds already, and how fast it opens new ones. One host can then neither
//! take every slot nor make every peer pay for its churn (each join and
//! leave is a message to every peer, each `Welcome` a list of up to 1,000).
//!
//! Addresses are counted by [`address_group`]: an IPv6 host counts by its
//! /64. Behind a reverse proxy every client has the proxy's address; set
//! `--max-peers-per-address` to `--max-peers` and a high `--connect-burst`
//! there (the relay does not trust forwarding headers).

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use lru::LruCache;
use parking_lot::Mutex;
use tabchain_process::http::{AddressCounts, AddressGuard, address_group};

use crate::config::Config;
use crate::metrics::RefusedReason;

/// Addresses whose connect bucket is remembered; the least recently seen is
/// forgotten beyond this (it starts again with a full bucket).
const REMEMBERED_ADDRESSES: NonZeroUsize = NonZeroUsize::new(65_536).unwrap();

/// Why an upgrade was refused before it got a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The page's `Origin` is not among `--allowed-origin`.
    #[error("origin not allowed")]
    Origin,
    /// The address opened websockets faster than `--connect-rate` allows.
    #[error("too many new connections from your address; retry later")]
    Churn,
    /// The address holds `--max-peers-per-address` websockets already.
    #[error("too many connections from your address")]
    PerAddress,
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Origin => StatusCode::FORBIDDEN,
            Refusal::Churn | Refusal::PerAddress => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl From<Refusal> for RefusedReason {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Origin => RefusedReason::Origin,
            Refusal::Churn => RefusedReason::Churn,
            Refusal::PerAddress => RefusedReason::PerAddress,
        }
    }
}

/// The relay's admission rules and what they remember per address.
pub(crate) struct Admission {
    allowed_origins: Vec<String>,
    peers: Arc<AddressCounts>,
    connects: Mutex<LruCache<IpAddr, ConnectBucket>>,
    /// Time that one connection takes from a bucket to refill.
    connect_interval: Duration,
    /// How far ahead of now a bucket may be emptied: `burst − 1` intervals.
    connect_burst_ahead: Duration,
}

impl Admission {
    /// The rules of `config` (checked already: the connect rate at least
    /// [`crate::config::MIN_CONNECT_RATE`]).
    pub fn new(config: &Config) -> Self {
        let interval = Duration::from_secs_f64(1.0 / config.connect_rate);
        Self {
            allowed_origins: config.allowed_origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
            peers: AddressCounts::new(config.peers_per_address(), usize::MAX),
            connects: Mutex::new(LruCache::new(REMEMBERED_ADDRESSES)),
            connect_interval: interval,
            // Saturates for absurd bursts (1e300): a bucket that never runs dry.
            connect_burst_ahead: Duration::try_from_secs_f64(interval.as_secs_f64() * (config.connect_burst - 1.0))
                .unwrap_or(Duration::MAX),
        }
    }

    /// Admits a websocket upgrade from `ip` with `headers`, or says why not:
    /// the origin first, then the connect rate (every attempt past the origin
    /// counts), then the address's websockets. The guard counts the
    /// connection until it is dropped.
    pub fn admit(&self, ip: IpAddr, headers: &HeaderMap, now: Instant) -> Result<AddressGuard, Refusal> {
        if !self.origin_allowed(headers) {
            return Err(Refusal::Origin);
        }
        if !self.take_connect(ip, now) {
            return Err(Refusal::Churn);
        }
        self.peers.try_acquire(ip).map_err(|_| Refusal::PerAddress)
    }

    /// Takes one connection from `ip`'s bucket, if it has one left.
    fn take_connect(&self, ip: IpAddr, now: Instant) -> bool {
        let mut connects = self.connects.lock();
        let bucket = connects.get_or_insert_mut(address_group(ip), || ConnectBucket::new(now));
        bucket.take(now, self.connect_interval, self.connect_burst_ahead)
    }

    /// No list, no `Origin` header (not a browser), or a listed origin.
    fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        if self.allowed_origins.is_empty() {
            return true;
        }
        let Some(origin) = headers.get(header::ORIGIN) else { return true };
        origin.to_str().is_ok_and(|origin| self.allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)))
    }
}

/// One address's connect rate as a token bucket kept in one instant (GCRA):
/// the time at which the bucket would be full again. A connection is
/// allowed while that time is at most `burst_ahead` ahead of now, and moves
/// it one interval further.
#[derive(Clone, Copy, Debug)]
struct ConnectBucket {
    full_at: Instant,
}

impl ConnectBucket {
    fn new(now: Instant) -> Self {
        Self { full_at: now }
    }

    /// Takes one connection if the bucket allows it; a refused one takes nothing.
    fn take(&mut self, now: Instant, interval: Duration, burst_ahead: Duration) -> bool {
        let start = self.full_at.max(now);
        if start.saturating_duration_since(now) > burst_ahead {
            return false;
        }
        self.full_at = start + interval;
        true
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use tabchain_core::params::Network;

    use super::*;

    fn admission(tweak: impl FnOnce(&mut Config)) -> Admission {
        let mut config = Config::new(Network::Dev, "www");
        tweak(&mut config);
        config.validate().unwrap();
        Admission::new(&config)
    }

    fn origin(value: &str) -> HeaderMap {
        HeaderMap::from_iter([(header::ORIGIN, HeaderValue::from_str(value).unwrap())])
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn without_a_list_every_origin_is_allowed() {
        let a = admission(|_| {});
        assert!(a.admit(A, &origin("https://evil.example"), Instant::now()).is_ok());
    }

    #[test]
    fn with_a_list_only_listed_origins_and_non_browsers_are_allowed() {
        let a =
            admission(|c| c.allowed_origins = vec!["https://Tabs.example.org".into(), "http://127.0.0.1:8000".into()]);
        let now = Instant::now();
        assert!(a.admit(A, &origin("https://tabs.example.org"), now).is_ok());
        assert!(a.admit(A, &origin("http://127.0.0.1:8000"), now).is_ok());
        assert!(a.admit(A, &HeaderMap::new(), now).is_ok(), "no Origin: a native node");
        for refused in ["https://evil.example", "http://tabs.example.org", "null", "http://127.0.0.1:8001"] {
            assert_eq!(a.admit(A, &origin(refused), now).unwrap_err(), Refusal::Origin, "{refused}");
        }
    }

    #[test]
    fn each_address_has_its_own_connect_bucket() {
        let a = admission(|c| {
            c.connect_rate = 2.0;
            c.connect_burst = 3.0;
        });
        let now = Instant::now();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(a.admit(A, &HeaderMap::new(), now).unwrap());
        }
        assert_eq!(a.admit(A, &HeaderMap::new(), now).unwrap_err(), Refusal::Churn);
        held.push(a.admit(B, &HeaderMap::new(), now).unwrap());
        // Closing connections gives nothing back; time does: one per 500 ms.
        held.clear();
        assert_eq!(a.admit(A, &HeaderMap::new(), now + Duration::from_millis(400)).unwrap_err(), Refusal::Churn);
        let later = now + Duration::from_millis(500);
        held.push(a.admit(A, &HeaderMap::new(), later).unwrap());
        assert_eq!(a.admit(A, &HeaderMap::new(), later).unwrap_err(), Refusal::Churn);
        // Quiet for long enough: a whole burst again, never more.
        let quiet = later + Duration::from_secs(60);
        for _ in 0..3 {
            held.push(a.admit(A, &HeaderMap::new(), quiet).unwrap());
        }
        assert_eq!(a.admit(A, &HeaderMap::new(), quiet).unwrap_err(), Refusal::Churn);
    }

    #[test]
    fn one_address_holds_at_most_its_share() {
        let a = admission(|c| c.max_peers = 8);
        let now = Instant::now();
        let first = a.admit(A, &HeaderMap::new(), now).unwrap();
        let _second = a.admit(A, &HeaderMap::new(), now).unwrap();
        assert_eq!(a.admit(A, &HeaderMap::new(), now).unwrap_err(), Refusal::PerAddress);
        let _other = a.admit(B, &HeaderMap::new(), now).unwrap();
        drop(first);
        assert!(a.admit(A, &HeaderMap::new(), now).is_ok());
    }
}
