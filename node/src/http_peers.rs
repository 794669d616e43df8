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
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use crate::peer_origin::{PeerAddressError, PeerOrigin, is_refused};

/// Most HTTP peers remembered.
pub const MAX_HTTP_PEERS: usize = 64;
/// Announcements in a row a peer may fail before it is dropped.
pub const MAX_PEER_FAILURES: u32 = 5;
/// Timeout for every request to a peer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

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

/// Refused: the list of peers is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("already {MAX_HTTP_PEERS} peers")]
pub struct TooManyPeers;

/// The peers blocks are announced to, each with its failures in a row and
/// whether an announcement to it is in flight; at most [`MAX_HTTP_PEERS`].
#[derive(Debug, Default)]
pub struct HttpPeers {
    peers: Mutex<BTreeMap<PeerOrigin, PeerState>>,
}

/// What [`HttpPeers`] knows of one peer.
#[derive(Debug, Default)]
struct PeerState {
    /// Announcements failed in a row.
    failures: u32,
    /// An announcement to it has not ended yet.
    announcing: bool,
}

impl HttpPeers {
    /// Adds `peer` (again: its failures are forgotten).
    pub fn add(&self, peer: PeerOrigin) -> Result<(), TooManyPeers> {
        let mut peers = self.peers.lock();
        if !peers.contains_key(&peer) && peers.len() >= MAX_HTTP_PEERS {
            return Err(TooManyPeers);
        }
        peers.entry(peer).or_default().failures = 0;
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

    /// The peers with no announcement in flight, each now marked as having
    /// one until [`HttpPeers::succeeded`] or [`HttpPeers::failed`]: a peer
    /// gets one announcement at a time.
    pub fn start_announcements(&self) -> Vec<PeerOrigin> {
        let mut peers = self.peers.lock();
        let idle = peers.iter_mut().filter(|(_, state)| !state.announcing);
        idle.map(|(peer, state)| {
            state.announcing = true;
            peer.clone()
        })
        .collect()
    }

    /// `peer` answered: its failures start again from zero.
    pub fn succeeded(&self, peer: &PeerOrigin) {
        if let Some(state) = self.peers.lock().get_mut(peer) {
            *state = PeerState::default();
        }
    }

    /// `peer` failed once more; true when that dropped it.
    pub fn failed(&self, peer: &PeerOrigin) -> bool {
        let mut peers = self.peers.lock();
        let Some(state) = peers.get_mut(peer) else { return false };
        state.announcing = false;
        state.failures += 1;
        if state.failures >= MAX_PEER_FAILURES {
            peers.remove(peer);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(peers.add(peer(MAX_HTTP_PEERS)), Err(TooManyPeers));
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

    #[test]
    fn a_peer_gets_one_announcement_at_a_time() {
        let peers = HttpPeers::default();
        let (a, b) =
            (PeerOrigin::parse("http://127.0.0.1:1").unwrap(), PeerOrigin::parse("http://127.0.0.1:2").unwrap());
        peers.add(a.clone()).unwrap();
        peers.add(b.clone()).unwrap();
        assert_eq!(peers.start_announcements(), [a.clone(), b.clone()]);
        assert_eq!(peers.start_announcements(), [], "both still in flight");
        peers.succeeded(&a);
        assert!(!peers.failed(&b));
        assert_eq!(peers.start_announcements(), [a, b]);
    }
}
