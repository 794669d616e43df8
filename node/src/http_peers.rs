//! HTTP peers of the tutorial API (`/register_node`, `/register_with`,
//! `--peer`): which addresses the node agrees to send requests to, and the
//! list of peers it announces blocks to.
//!
//! Any HTTP client may name a peer, so a peer address is an outside input
//! that makes the node send requests (server-side request forgery). Hence:
//! - only an origin is taken (`http://host[:port]`: no path, query,
//!   fragment or credentials), so a caller cannot aim at a URL of its choice;
//! - unspecified, broadcast, multicast and link-local addresses are refused
//!   (`169.254.169.254` is a cloud metadata service), both as literals and
//!   after name resolution ([`PeerResolver`]); loopback and private networks
//!   stay allowed: the tutorial's nodes run on one machine or a LAN;
//! - the client never follows redirects ([`peer_client`]);
//! - a peer that fails [`MAX_PEER_FAILURES`] announcements in a row is
//!   dropped, so the list does not fill with dead or hostile targets.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

/// Most HTTP peers remembered.
pub const MAX_HTTP_PEERS: usize = 64;
/// Announcements in a row a peer may fail before it is dropped.
pub const MAX_PEER_FAILURES: u32 = 5;
/// Timeout for every request to a peer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an address is not accepted as a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerAddressError {
    /// Empty after trimming.
    #[error("the address is empty")]
    Empty,
    /// Not a URL at all.
    #[error("{0:?} is not a URL: {1}")]
    NotAUrl(String, String),
    /// Another scheme than `http`.
    #[error("{0:?} must be an http:// address of a node")]
    NotHttp(String),
    /// A path, query, fragment or credentials: only `http://host[:port]` names a node.
    #[error("{0:?} must be just http://host[:port] (no path, query, fragment or user)")]
    NotAnOrigin(String),
    /// An address no node of ours lives at.
    #[error("{0} is an unspecified, broadcast, multicast or link-local address")]
    RefusedAddress(IpAddr),
    /// The list is full.
    #[error("already {MAX_HTTP_PEERS} peers")]
    TooManyPeers,
}

/// A node's address as the API accepts it: the origin `http://host[:port]`,
/// in canonical form (lower-case host, default port left out), checked by
/// [`PeerOrigin::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerOrigin(String);

impl PeerOrigin {
    /// Checks `address` (see the module documentation).
    pub fn parse(address: &str) -> Result<Self, PeerAddressError> {
        let address = address.trim();
        if address.is_empty() {
            return Err(PeerAddressError::Empty);
        }
        let url = reqwest::Url::parse(address).map_err(|e| PeerAddressError::NotAUrl(address.into(), e.to_string()))?;
        if url.scheme() != "http" {
            return Err(PeerAddressError::NotHttp(address.into()));
        }
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        if !plain {
            return Err(PeerAddressError::NotAnOrigin(address.into()));
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(PeerAddressError::NotAnOrigin(address.into())),
        };
        if let Some(ip) = ip.filter(|ip| is_refused(*ip)) {
            return Err(PeerAddressError::RefusedAddress(ip));
        }
        Ok(Self(url.origin().ascii_serialization()))
    }

    /// The origin, e.g. `http://127.0.0.1:8002`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{origin}{path}`, e.g. the peer's `/add_block`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for PeerOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Addresses the node never sends a request to: unspecified (`0.0.0.0`,
/// `::`), broadcast, multicast and link-local (`169.254.0.0/16`,
/// `fe80::/10`), also as IPv4-mapped IPv6.
pub fn is_refused(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_refused(IpAddr::V4(v4)),
            None => v6.is_unspecified() || v6.is_multicast() || v6.is_unicast_link_local(),
        },
    }
}

/// Resolves peer host names, keeping only addresses [`is_refused`] lets
/// through: a name cannot lead the node where a literal may not.
#[derive(Debug, Default, Clone, Copy)]
pub struct PeerResolver;

impl reqwest::dns::Resolve for PeerResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved.iter().copied().filter(|a| !is_refused(a.ip())).collect();
            if allowed.is_empty() {
                let refused = std::io::Error::other(format!("{host} resolves only to refused addresses"));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client for peers: timeouts, no redirects, [`PeerResolver`].
pub fn peer_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(PEER_TIMEOUT)
        .connect_timeout(PEER_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PeerResolver))
        .build()
}

/// The peers blocks are announced to, each with its failures in a row;
/// at most [`MAX_HTTP_PEERS`].
#[derive(Debug, Default)]
pub struct HttpPeers {
    peers: Mutex<BTreeMap<PeerOrigin, u32>>,
}

impl HttpPeers {
    /// Adds `peer` (again: its failures are forgotten).
    pub fn add(&self, peer: PeerOrigin) -> Result<(), PeerAddressError> {
        let mut peers = self.peers.lock();
        if !peers.contains_key(&peer) && peers.len() >= MAX_HTTP_PEERS {
            return Err(PeerAddressError::TooManyPeers);
        }
        peers.insert(peer, 0);
        Ok(())
    }

    /// Every peer.
    pub fn list(&self) -> Vec<PeerOrigin> {
        self.peers.lock().keys().cloned().collect()
    }

    /// Whether `peer` is in the list.
    pub fn contains(&self, peer: &PeerOrigin) -> bool {
        self.peers.lock().contains_key(peer)
    }

    /// `peer` answered: its failures start again from zero.
    pub fn succeeded(&self, peer: &PeerOrigin) {
        if let Some(failures) = self.peers.lock().get_mut(peer) {
            *failures = 0;
        }
    }

    /// `peer` failed once more; true when that dropped it.
    pub fn failed(&self, peer: &PeerOrigin) -> bool {
        let mut peers = self.peers.lock();
        let Some(failures) = peers.get_mut(peer) else { return false };
        *failures += 1;
        if *failures >= MAX_PEER_FAILURES {
            peers.remove(peer);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_origins_are_accepted_in_canonical_form() {
        let ok = |a: &str| PeerOrigin::parse(a).unwrap().as_str().to_owned();
        assert_eq!(ok("http://127.0.0.1:8002"), "http://127.0.0.1:8002");
        assert_eq!(ok(" http://127.0.0.1:8002/ "), "http://127.0.0.1:8002");
        assert_eq!(ok("http://LocalHost:80"), "http://localhost");
        assert_eq!(ok("http://[::1]:8001"), "http://[::1]:8001");
        assert_eq!(ok("http://10.0.0.7:8001"), "http://10.0.0.7:8001");
        let err = |a: &str| PeerOrigin::parse(a).unwrap_err();
        assert_eq!(err(""), PeerAddressError::Empty);
        assert!(matches!(err("not a url"), PeerAddressError::NotAUrl(..)));
        assert!(matches!(err("https://127.0.0.1"), PeerAddressError::NotHttp(_)));
        assert!(matches!(err("file:///etc/passwd"), PeerAddressError::NotHttp(_)));
        for address in [
            "http://127.0.0.1:8002/x",
            "http://127.0.0.1/?q",
            "http://127.0.0.1/#f",
            "http://u:p@127.0.0.1",
            "http://u@h",
        ] {
            assert!(matches!(err(address), PeerAddressError::NotAnOrigin(_)), "{address}");
        }
    }

    #[test]
    fn metadata_unspecified_multicast_and_link_local_addresses_are_refused() {
        for address in [
            "http://169.254.169.254",
            "http://169.254.169.254:80/",
            "http://0.0.0.0:8001",
            "http://[::]:8001",
            "http://224.0.0.1",
            "http://255.255.255.255",
            "http://[fe80::1]:8001",
            "http://[ff02::1]",
            "http://[::ffff:169.254.169.254]",
            "http://2852039166", // 169.254.169.254 as one number
        ] {
            assert!(matches!(PeerOrigin::parse(address), Err(PeerAddressError::RefusedAddress(_))), "{address}");
        }
    }

    #[tokio::test]
    async fn names_resolve_only_to_allowed_addresses() {
        use reqwest::dns::Resolve as _;
        let resolve = |name: &str| PeerResolver.resolve(name.parse().unwrap());
        let addrs: Vec<SocketAddr> = resolve("localhost").await.unwrap().collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
        // A name that is an address literal resolves to itself, refused.
        assert!(resolve("169.254.169.254").await.is_err());
    }

    #[test]
    fn peers_are_bounded_and_dropped_after_failures_in_a_row() {
        let peers = HttpPeers::default();
        let peer = |i: usize| PeerOrigin::parse(&format!("http://127.0.0.1:{}", 1000 + i)).unwrap();
        for i in 0..MAX_HTTP_PEERS {
            peers.add(peer(i)).unwrap();
        }
        assert_eq!(peers.add(peer(MAX_HTTP_PEERS)), Err(PeerAddressError::TooManyPeers));
        peers.add(peer(0)).unwrap();
        for _ in 1..MAX_PEER_FAILURES {
            assert!(!peers.failed(&peer(0)));
        }
        peers.succeeded(&peer(0));
        for _ in 1..MAX_PEER_FAILURES {
            assert!(!peers.failed(&peer(0)));
        }
        assert!(peers.failed(&peer(0)));
        assert!(!peers.contains(&peer(0)));
        peers.add(peer(MAX_HTTP_PEERS)).unwrap();
    }
}
