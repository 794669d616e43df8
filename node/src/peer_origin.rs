//! A peer node's address as the REST API takes it (`/register_node`,
//! `/register_with`, `--peer`): an origin `http://host[:port]`, never an
//! address no node of ours lives at (see [`is_refused`]). Only `url` and the
//! standard library: the fuzz target `rest_bodies` compiles this file as it
//! is, with `api/body.rs`.

use std::fmt;
use std::net::IpAddr;

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
        let url = url::Url::parse(address).map_err(|e| PeerAddressError::NotAUrl(address.into(), e.to_string()))?;
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
}
