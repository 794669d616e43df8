//! What relays of one cluster say to each other over the broker: the
//! subjects, the headers on relayed frames, and the JSON of heartbeats,
//! peer news and snapshots. Frames from peers cross the broker as the very
//! text the first relay checked and queued to its own peers; everything a
//! receiving relay needs to route or de-duplicate them is in headers, so it
//! never parses a frame again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::params::Network;
use tabchain_core::target::Work;
use tabchain_core::wire::{PeerId, PeerInfo};

/// Header naming the relay that published a message (its [`InstanceId`]):
/// a relay drops what it published itself, should the broker echo it.
pub const HEADER_ORIGIN: &str = "Tabchain-Origin";
/// Header of a relayed post: its id.
pub const HEADER_TX: &str = "Tabchain-Tx";
/// Header of a relayed block: `hash prev work`, for the duplicate filter and
/// the chain work the relay keeps.
pub const HEADER_BLOCK: &str = "Tabchain-Block";
/// Header of an addressed frame: the peer it goes to.
pub const HEADER_TO: &str = "Tabchain-To";
/// Header of an addressed frame: its message type (`GetBlocks`, …), for
/// counting and for whether it asks for an answer.
pub const HEADER_KIND: &str = "Tabchain-Kind";

/// Most peers in one snapshot page or one batch of peer news.
pub const MAX_PEERS_PER_PAGE: usize = 1_000;
/// Bytes a relay allows a message to carry on top of its largest frame
/// (subject, headers); the broker's `max_payload` must leave this room.
pub const HEADROOM_BYTES: usize = 4 * 1024;

/// One run of one relay process: random, so a restarted relay is a new
/// member (its old peers are gone) even under the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u64);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for InstanceId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(text, 16).map(InstanceId)
    }
}

impl Serialize for InstanceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The subjects of one network's cluster: relays of different networks (or
/// chains) can share a broker without hearing each other.
#[derive(Clone, Debug)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// Subjects for `network` with genesis `chain_id`.
    pub fn new(network: Network, chain_id: &BlockHash) -> Self {
        Self { prefix: format!("tabchain.{network}.{}", &chain_id.to_hex()[..16]) }
    }

    /// Posts and blocks, once per broadcast.
    pub fn broadcasts(&self) -> String {
        format!("{}.broadcast", self.prefix)
    }

    /// Every relay's heartbeat.
    pub fn heartbeats(&self) -> String {
        format!("{}.heartbeat", self.prefix)
    }

    /// Peer news (joined, left, status) of every relay.
    pub fn peer_news(&self) -> String {
        format!("{}.peers", self.prefix)
    }

    /// Frames addressed to peers of relay `instance`.
    pub fn direct(&self, instance: InstanceId) -> String {
        format!("{}.direct.{instance}", self.prefix)
    }

    /// Requests for relay `instance`'s peer list.
    pub fn snapshot(&self, instance: InstanceId) -> String {
        format!("{}.snapshot.{instance}", self.prefix)
    }
}

/// What one relay says about one of its peers: what `PeerInfo` carries
/// plus its best block and how long it has been connected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerStatus {
    /// The peer's id (unique in the cluster).
    pub id: PeerId,
    /// Its software.
    pub agent: String,
    /// Height of its best block.
    pub best_height: u64,
    /// Its best block.
    pub best_hash: BlockHash,
    /// Work of its best chain.
    pub total_work: Work,
    /// Seconds since it connected, when this was said.
    pub connected_secs: u64,
    /// Seconds since it last announced a block the relay had not seen, when
    /// this was said (absent until it has; and from relays before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_block_secs: Option<u64>,
}

impl PeerStatus {
    /// What tabs are told about it: on `relay` (named in a cluster), said
    /// `aged_secs` ago (its last block is that much older now).
    pub fn info(&self, relay: Option<&str>, aged_secs: u64) -> PeerInfo {
        PeerInfo {
            relay: relay.map(str::to_owned),
            last_block_secs: self.last_block_secs.map(|secs| secs.saturating_add(aged_secs)),
            ..PeerInfo::new(self.id, self.agent.clone(), self.best_height, self.total_work)
        }
    }
}

/// A change to one relay's peers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PeerNews {
    /// A peer said `Hello`.
    Joined(PeerStatus),
    /// A peer's chain changed (a later `Hello`, or a block it announced).
    Status(PeerStatus),
    /// A peer disconnected.
    Left {
        /// Who.
        id: PeerId,
    },
}

/// Every second from every relay: it is alive, and how far its news went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Which relay.
    pub instance: InstanceId,
    /// Its name (`--relay-name`).
    pub name: String,
    /// Its websocket address for pages (`--public-url`), if it has one.
    pub url: Option<String>,
    /// The number of its last batch of peer news: a relay that missed some
    /// asks for a snapshot.
    pub seq: u64,
    /// The top bits of the peer ids it hands out.
    pub id_prefix: u64,
    /// Whether it is shutting down (its peers leave at once).
    #[serde(default)]
    pub leaving: bool,
}

/// A batch of one relay's peer news, numbered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewsBatch {
    /// Which relay.
    pub instance: InstanceId,
    /// One more than its previous batch's.
    pub seq: u64,
    /// What changed, in order.
    pub news: Vec<PeerNews>,
}

/// Asks a relay for its joined peers with ids above `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRequest {
    /// Last id of the previous page (0 for the first).
    pub after: u64,
}

/// One page of a relay's joined peers, by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPage {
    /// Its news number when the page was taken.
    pub seq: u64,
    /// At most [`MAX_PEERS_PER_PAGE`] peers.
    pub peers: Vec<PeerStatus>,
    /// Whether more pages follow.
    pub more: bool,
}

/// What identifies a relayed broadcast, carried in its headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastId {
    /// A post.
    Tx(TxId),
    /// A block: its hash, its parent's and the work it proves.
    Block {
        /// Its hash.
        hash: BlockHash,
        /// Its parent's.
        prev: BlockHash,
        /// The work its proof of work proves.
        work: Work,
    },
}

/// Why a message from the broker was not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// A header is missing or malformed.
    #[error("header {0} missing or malformed")]
    Header(&'static str),
    /// The body is not the JSON expected.
    #[error("malformed {what}: {detail}")]
    Body {
        /// Which message.
        what: &'static str,
        /// serde's words.
        detail: String,
    },
}

impl BroadcastId {
    /// Its header: name and value.
    pub fn header(&self) -> (&'static str, String) {
        match self {
            BroadcastId::Tx(txid) => (HEADER_TX, txid.to_hex()),
            BroadcastId::Block { hash, prev, work } => (HEADER_BLOCK, format!("{hash} {prev} {}", work.to_hex())),
        }
    }

    /// Reads it back from the value of a [`HEADER_TX`] or [`HEADER_BLOCK`] header.
    pub fn parse(tx: Option<&str>, block: Option<&str>) -> Result<Self, ProtocolError> {
        match (tx, block) {
            (Some(txid), None) => txid.parse().map(BroadcastId::Tx).map_err(|_| ProtocolError::Header(HEADER_TX)),
            (None, Some(value)) => {
                let mut parts = value.split(' ');
                let parsed = (|| {
                    let hash = parts.next()?.parse().ok()?;
                    let prev = parts.next()?.parse().ok()?;
                    let work = Work::from_hex(parts.next()?).ok()?;
                    parts.next().is_none().then_some(BroadcastId::Block { hash, prev, work })
                })();
                parsed.ok_or(ProtocolError::Header(HEADER_BLOCK))
            }
            _ => Err(ProtocolError::Header(HEADER_BLOCK)),
        }
    }
}

/// Decodes a cluster message's JSON body.
pub fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, body: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::Body { what, detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_ids_round_trip_through_their_headers() {
        let tx = BroadcastId::Tx(TxId::from_bytes([7; 32]));
        let block = BroadcastId::Block {
            hash: BlockHash::from_bytes([1; 32]),
            prev: BlockHash::from_bytes([2; 32]),
            work: Work::from_hex(&format!("{:064x}", 12_345)).unwrap(),
        };
        let (name, value) = tx.header();
        assert_eq!((name, BroadcastId::parse(Some(&value), None)), (HEADER_TX, Ok(tx)));
        let (name, value) = block.header();
        assert_eq!((name, BroadcastId::parse(None, Some(&value))), (HEADER_BLOCK, Ok(block)));
        for (tx, block) in [
            (None, None),
            (Some("zz"), None),
            (None, Some("00 11")),
            (Some(value.as_str()), Some(value.as_str())),
            (None, Some(&format!("{value} extra"))),
        ] {
            assert!(BroadcastId::parse(tx, block).is_err(), "{tx:?} {block:?}");
        }
    }

    #[test]
    fn instance_ids_are_hex_in_json_and_subjects() {
        let id = InstanceId(0xabc);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0000000000000abc\"");
        assert_eq!(serde_json::from_str::<InstanceId>("\"0000000000000abc\"").unwrap(), id);
        let subjects = Subjects::new(Network::Dev, &BlockHash::from_bytes([0xab; 32]));
        assert_eq!(subjects.direct(id), "tabchain.dev.abababababababab.direct.0000000000000abc");
    }

    #[test]
    fn peer_news_is_tagged_json() {
        let news = PeerNews::Left { id: PeerId(9) };
        let text = serde_json::to_string(&news).unwrap();
        assert_eq!(text, r#"{"type":"Left","id":9}"#);
        assert_eq!(decode::<PeerNews>("news", text.as_bytes()).unwrap(), news);
        assert!(matches!(decode::<PeerNews>("news", b"{}"), Err(ProtocolError::Body { what: "news", .. })));
    }
}
