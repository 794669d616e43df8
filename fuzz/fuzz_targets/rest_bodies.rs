//! The native node's REST bodies, read by the handlers' own readers
//! (`node/src/api/body.rs`, compiled in here as it is, so the target does not
//! build the node): `/new_transaction`, `/register_node` and `/register_with`,
//! `/add_block`, and a peer's `/chain` answer. Never a panic; a peer address
//! that passes is a bare `http://` origin of an address that is not refused,
//! in canonical form (parsing it again gives it back); decoded blocks
//! round-trip.
//!
//! Input: the first byte picks the reader, the rest is the body.

#![no_main]

#[allow(dead_code)]
#[path = "../../node/src/api/body.rs"]
mod body;
#[allow(dead_code)]
#[path = "../../node/src/peer_origin.rs"]
mod peer_origin;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, data)) = data.split_first() else { return };
    match which % 4 {
        0 => {
            if let Ok(body::NewTransaction { author, content }) = body::parse(data) {
                // The handler makes a post of them: refused with a reason, never a panic.
                let _ = tabchain_core::post::Post::new(&author, &content, tabchain_core::testkit::NOW);
            }
        }
        1 => {
            if let Ok(address) = body::peer_address(data) {
                let address = address.as_str();
                assert!(!address.ends_with('/'), "{address:?}");
                let url = url::Url::parse(address).expect("a checked address parses");
                assert_eq!((url.scheme(), url.path(), url.query(), url.fragment()), ("http", "/", None, None));
                assert!(url.username().is_empty() && url.password().is_none(), "{address:?}");
                let ip = match url.host() {
                    Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                    Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                    _ => None,
                };
                assert!(!ip.is_some_and(peer_origin::is_refused), "{address:?}");
                let again = peer_origin::PeerOrigin::parse(address).expect("a canonical origin parses again");
                assert_eq!(again.as_str(), address);
            }
        }
        2 => {
            if let Ok(block) = body::block(data) {
                tabchain_fuzz::assert_block_round_trips(&block);
            }
        }
        _ => {
            if let Ok(chain) = body::peer_chain(data) {
                chain.iter().for_each(tabchain_fuzz::assert_block_round_trips);
            }
        }
    }
});
