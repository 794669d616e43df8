//! Every message that crosses the relay, as JSON text.
//!
//! A message is one JSON object whose `"type"` names the [`Message`] variant
//! (PascalCase); the relay adds `"from"` (and a sender may set `"to"`) as
//! numeric [`PeerId`]s in the same object, for example
//! `{"from":7,"type":"Tx","tx":{"author":…}}`. Blocks and posts use the JSON view
//! of [`crate::json`]. Unknown fields are ignored, so later versions can add some.
//!
//! [`decode`] refuses text over [`MAX_MESSAGE_BYTES`] before parsing and then
//! enforces the per-message limits below, so a peer cannot make a tab allocate
//! or work without bound; [`encode`] enforces the same limits, so a node never
//! sends what its peers would refuse. Decoding never panics.

use crate::block::Block;
use crate::hash::BlockHash;
use crate::params::Network;
use crate::post::Post;
use crate::target::Work;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of this message set, sent in [`Message::Hello`].
pub const PROTOCOL_VERSION: u32 = 1;
/// Most bytes of one message's text, checked before parsing: bounds the memory
/// and time any single message can cost.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;
/// Most hashes in a [`Message::GetBlocks`] locator: enough for an exponentially
/// spaced locator over any realistic chain.
pub const MAX_LOCATOR_HASHES: usize = 64;
/// Most blocks in one [`Message::Blocks`], and the highest `limit` a
/// [`Message::GetBlocks`] may ask for.
pub const MAX_BLOCKS_PER_MESSAGE: usize = 500;
/// Most posts in one [`Message::Mempool`]: a full mempool.
pub const MAX_TXS_PER_MESSAGE: usize = 5_000;
/// Most characters in a [`Message::Hello`] `agent`: it only names software.
pub const MAX_AGENT_CHARS: usize = 128;
/// Most characters in a [`Message::Error`] `message`: enough to explain, too
/// little to be a channel of its own.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 1_000;
/// Most peers listed in one [`Message::Welcome`]: a relay with more lists those
/// with the most work, so a welcome stays small however busy the relay is.
pub const MAX_PEERS_PER_MESSAGE: usize = 1_000;

/// Why text is not an acceptable message (or a message cannot be sent).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The text is longer than [`MAX_MESSAGE_BYTES`].
    #[error("message is {len} bytes, more than the limit {max}")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not UTF-8 text.
    #[error("message is not UTF-8 (valid up to byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The text is not JSON of a known message, or a block or post in it is
    /// malformed; serde's explanation, with line and column.
    #[error("bad message: {0}")]
    Json(String),
    /// A list has more entries than its limit.
    #[error("{what} has {len} entries, more than the limit {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A text field has more characters than its limit.
    #[error("{what} has {len} characters, more than the limit {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A field has a value the protocol does not allow.
    #[error("{what} is invalid: {reason}")]
    Invalid {
        /// Which field.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The message cannot be written as JSON (a timestamp past the JSON view's range).
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// A connection's number at the relay: how peers address each other.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What the relay tells everyone about a peer that has said [`Message::Hello`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The peer's number, to address it with `to`.
    pub id: PeerId,
    /// Its `Hello` agent (software name and version).
    pub agent: String,
    /// Height of its best block, as far as the relay knows.
    pub best_height: u64,
    /// Cumulative work of its best chain, as far as the relay knows.
    pub total_work: Work,
}

/// Why a peer refused something, as a stable code a program can act on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message did not decode or broke a limit.
    BadMessage,
    /// A block failed validation.
    InvalidBlock,
    /// A post failed validation.
    InvalidTx,
    /// The peer is on another chain (different genesis) or protocol.
    WrongChain,
    /// The peer sends too much; slow down.
    RateLimited,
    /// The message was over a size limit.
    TooLarge,
    /// The `to` peer is not connected (from the relay).
    UnknownPeer,
    /// Something broke on the sending side.
    Internal,
    /// A code this version does not know (sent by a newer peer).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// Every code this version sends (all but [`ErrorCode::Unknown`]).
    pub const KNOWN: [ErrorCode; 8] = [
        ErrorCode::BadMessage,
        ErrorCode::InvalidBlock,
        ErrorCode::InvalidTx,
        ErrorCode::WrongChain,
        ErrorCode::RateLimited,
        ErrorCode::TooLarge,
        ErrorCode::UnknownPeer,
        ErrorCode::Internal,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::InvalidBlock => "invalid_block",
            ErrorCode::InvalidTx => "invalid_tx",
            ErrorCode::WrongChain => "wrong_chain",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::UnknownPeer => "unknown_peer",
            ErrorCode::Internal => "internal",
            ErrorCode::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message between nodes; `"type"` in the JSON is the variant name.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// First message on a connection: which chain and how far along the sender is.
    Hello {
        /// Genesis hash of the sender's chain; peers on another chain are refused.
        chain_id: BlockHash,
        /// The sender's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Software name and version, for logs.
        agent: String,
        /// Height of the sender's best block.
        best_height: u64,
        /// Hash of the sender's best block.
        best_hash: BlockHash,
        /// Cumulative work of the sender's best chain.
        total_work: Work,
    },
    /// First message from the relay on a connection: who the peer is and which
    /// chain this relay carries (a page learns its network from it).
    Welcome {
        /// The number the relay gave this connection.
        peer_id: PeerId,
        /// The network the relay serves.
        network: Network,
        /// Genesis hash of that network; a `Hello` with another is refused.
        chain_id: BlockHash,
        /// Peers already connected (at most [`MAX_PEERS_PER_MESSAGE`], most work first).
        peers: Vec<PeerInfo>,
    },
    /// From the relay: a peer said `Hello` and can now be addressed.
    PeerJoined {
        /// Who joined.
        peer: PeerInfo,
    },
    /// From the relay: a peer disconnected.
    PeerLeft {
        /// Who left.
        peer_id: PeerId,
    },
    /// A new post, relayed for the mempool.
    Tx {
        /// The post.
        tx: Post,
    },
    /// A new block, announced in full.
    Block {
        /// The block.
        block: Block,
    },
    /// Asks for the blocks after the first locator hash the receiver knows.
    GetBlocks {
        /// Hashes of the asker's chain, best first, spaced further apart going back.
        locator: Vec<BlockHash>,
        /// Most blocks wanted, 1..=[`MAX_BLOCKS_PER_MESSAGE`].
        limit: u32,
    },
    /// Blocks answering [`Message::GetBlocks`], parents first.
    Blocks {
        /// The blocks.
        blocks: Vec<Block>,
    },
    /// Asks for the receiver's mempool.
    GetMempool {},
    /// Posts answering [`Message::GetMempool`].
    Mempool {
        /// The posts.
        txs: Vec<Post>,
    },
    /// Liveness check; answered by [`Message::Pong`] with the same nonce.
    Ping {
        /// Echoed back.
        nonce: u64,
    },
    /// Answer to [`Message::Ping`].
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Tells the peer why something it sent was refused.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable detail.
        message: String,
    },
}

impl Message {
    /// Every `"type"` value, in declaration order; [`Message::kind_index`]
    /// indexes it, so a relay can keep one counter per kind in an array.
    pub const KINDS: [&'static str; 13] = [
        "Hello",
        "Welcome",
        "PeerJoined",
        "PeerLeft",
        "Tx",
        "Block",
        "GetBlocks",
        "Blocks",
        "GetMempool",
        "Mempool",
        "Ping",
        "Pong",
        "Error",
    ];

    /// The `"type"` value: for logs and metrics.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.kind_index()]
    }

    /// Position of [`Message::kind`] in [`Message::KINDS`].
    pub fn kind_index(&self) -> usize {
        match self {
            Message::Hello { .. } => 0,
            Message::Welcome { .. } => 1,
            Message::PeerJoined { .. } => 2,
            Message::PeerLeft { .. } => 3,
            Message::Tx { .. } => 4,
            Message::Block { .. } => 5,
            Message::GetBlocks { .. } => 6,
            Message::Blocks { .. } => 7,
            Message::GetMempool {} => 8,
            Message::Mempool { .. } => 9,
            Message::Ping { .. } => 10,
            Message::Pong { .. } => 11,
            Message::Error { .. } => 12,
        }
    }

    /// Checks the per-message limits ([`decode`] and [`encode`] call this).
    pub fn check_limits(&self) -> Result<(), WireError> {
        match self {
            Message::Hello { agent, .. } => check_chars("Hello agent", agent, MAX_AGENT_CHARS),
            Message::Welcome { peers, .. } => {
                check_count("Welcome peers", peers.len(), MAX_PEERS_PER_MESSAGE)?;
                peers.iter().try_for_each(|p| check_chars("peer agent", &p.agent, MAX_AGENT_CHARS))
            }
            Message::PeerJoined { peer } => check_chars("peer agent", &peer.agent, MAX_AGENT_CHARS),
            Message::GetBlocks { locator, limit } => {
                check_count("GetBlocks locator", locator.len(), MAX_LOCATOR_HASHES)?;
                if *limit == 0 || *limit as usize > MAX_BLOCKS_PER_MESSAGE {
                    return Err(WireError::Invalid {
                        what: "GetBlocks limit",
                        reason: format!("must be 1 to {MAX_BLOCKS_PER_MESSAGE}, got {limit}"),
                    });
                }
                Ok(())
            }
            Message::Blocks { blocks } => check_count("Blocks blocks", blocks.len(), MAX_BLOCKS_PER_MESSAGE),
            Message::Mempool { txs } => check_count("Mempool txs", txs.len(), MAX_TXS_PER_MESSAGE),
            Message::Error { message, .. } => check_chars("Error message", message, MAX_ERROR_MESSAGE_CHARS),
            Message::PeerLeft { .. }
            | Message::Tx { .. }
            | Message::Block { .. }
            | Message::GetMempool {}
            | Message::Ping { .. }
            | Message::Pong { .. } => Ok(()),
        }
    }
}

fn check_count(what: &'static str, len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        return Err(WireError::TooMany { what, len, max });
    }
    Ok(())
}

fn check_chars(what: &'static str, text: &str, max: usize) -> Result<(), WireError> {
    // Bytes bound characters from above: count only when it could matter.
    if text.len() > max {
        let len = text.chars().count();
        if len > max {
            return Err(WireError::TooLong { what, len, max });
        }
    }
    Ok(())
}

/// A message with its addressing, as one flat JSON object.
///
/// `from` is set by the relay to the sending connection (a peer's own value is
/// replaced); `to` asks the relay to deliver to one peer instead of all. Both
/// are left out of the JSON when absent.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The sending peer, as stamped by the relay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<PeerId>,
    /// The one peer to deliver to; absent means broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<PeerId>,
    /// The message itself; its fields sit beside `from` and `to`.
    #[serde(flatten)]
    pub message: Message,
}

impl Envelope {
    /// A message for everyone, not yet stamped by the relay.
    pub fn broadcast(message: Message) -> Self {
        Self { from: None, to: None, message }
    }

    /// A message for one peer.
    pub fn to(peer: PeerId, message: Message) -> Self {
        Self { from: None, to: Some(peer), message }
    }
}

/// Parses and checks one message.
pub fn decode(text: &str) -> Result<Envelope, WireError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge { len: text.len(), max: MAX_MESSAGE_BYTES });
    }
    let envelope: Envelope = serde_json::from_str(text).map_err(|e| WireError::Json(e.to_string()))?;
    envelope.message.check_limits()?;
    Ok(envelope)
}

/// The network a relay's `Welcome` frame names, or `None` for any other
/// frame (or text that does not decode). A page opens that network's chain
/// before it has a driver to hand the frame to.
pub fn welcome_network(text: &str) -> Option<Network> {
    match decode(text).ok()?.message {
        Message::Welcome { network, .. } => Some(network),
        _ => None,
    }
}

/// [`decode`] for raw bytes (a WebSocket frame), refusing non-UTF-8.
pub fn decode_bytes(bytes: &[u8]) -> Result<Envelope, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge { len: bytes.len(), max: MAX_MESSAGE_BYTES });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| WireError::NotUtf8 { valid_up_to: e.valid_up_to() })?;
    decode(text)
}

/// Writes one message as JSON text, refusing what [`decode`] would refuse by
/// limit or size (a [`Message::Blocks`] answer must stay under [`MAX_MESSAGE_BYTES`]).
pub fn encode(envelope: &Envelope) -> Result<String, WireError> {
    envelope.message.check_limits()?;
    let text = serde_json::to_string(envelope).map_err(|e| WireError::Encode(e.to_string()))?;
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLarge { len: text.len(), max: MAX_MESSAGE_BYTES });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::BlockHeader;
    use crate::merkle::merkle_root;
    use crate::target::CompactTarget;

    fn post() -> Post {
        Post::new("alice", "hello", 1_700_000_000_123).unwrap()
    }

    fn block(height: u64) -> Block {
        let posts = vec![post()];
        Block {
            header: BlockHeader {
                version: 1,
                height,
                prev_hash: BlockHash::from_bytes([0x11; 32]),
                merkle_root: merkle_root(&[posts[0].txid()]),
                timestamp_ms: 1_700_000_000_500,
                bits: CompactTarget(0x207f_ffff),
                nonce: 9,
            },
            posts,
        }
    }

    fn round_trip(envelope: &Envelope) -> String {
        let text = encode(envelope).unwrap();
        assert_eq!(&decode(&text).unwrap(), envelope, "{text}");
        text
    }

    fn msg(message: Message) -> String {
        round_trip(&Envelope::broadcast(message))
    }

    #[test]
    fn hello_format_is_pinned() {
        let text = msg(Message::Hello {
            chain_id: BlockHash::from_bytes([0xaa; 32]),
            protocol: PROTOCOL_VERSION,
            agent: "tabchain/0.1.0".into(),
            best_height: 12,
            best_hash: BlockHash::from_bytes([0xbb; 32]),
            total_work: CompactTarget(0x207f_ffff).to_target().unwrap().work(),
        });
        let (aa, bb, work) = ("aa".repeat(32), "bb".repeat(32), format!("{}02", "0".repeat(62)));
        assert_eq!(
            text,
            format!(
                r#"{{"type":"Hello","chain_id":"{aa}","protocol":1,"agent":"tabchain/0.1.0","best_height":12,"best_hash":"{bb}","total_work":"{work}"}}"#
            )
        );
    }

    fn peer_info(id: u64, agent: &str) -> PeerInfo {
        PeerInfo { id: PeerId(id), agent: agent.into(), best_height: 3, total_work: Work::ZERO }
    }

    #[test]
    fn welcome_and_peer_joined_formats_are_pinned() {
        let text = msg(Message::Welcome {
            peer_id: PeerId(5),
            network: Network::Dev,
            chain_id: BlockHash::from_bytes([0xcc; 32]),
            peers: vec![peer_info(2, "tabchain-node/0.1.0")],
        });
        let (cc, zero) = ("cc".repeat(32), "0".repeat(64));
        assert_eq!(
            text,
            format!(
                r#"{{"type":"Welcome","peer_id":5,"network":"dev","chain_id":"{cc}","peers":[{{"id":2,"agent":"tabchain-node/0.1.0","best_height":3,"total_work":"{zero}"}}]}}"#
            )
        );
        assert_eq!(
            msg(Message::PeerJoined { peer: peer_info(4, "t") }),
            format!(r#"{{"type":"PeerJoined","peer":{{"id":4,"agent":"t","best_height":3,"total_work":"{zero}"}}}}"#)
        );
        assert!(decode(&text.replace(r#""dev""#, r#""test""#)).is_err());
    }

    #[test]
    fn tx_format_is_pinned_with_from() {
        let envelope = Envelope { from: Some(PeerId(7)), to: None, message: Message::Tx { tx: post() } };
        assert_eq!(
            round_trip(&envelope),
            r#"{"from":7,"type":"Tx","tx":{"author":"alice","content":"hello","timestamp":1700000000.123}}"#
        );
        // Field order does not matter when reading.
        let reordered =
            r#"{"tx":{"timestamp":1700000000.123,"content":"hello","author":"alice"},"type":"Tx","from":7}"#;
        assert_eq!(decode(reordered).unwrap(), envelope);
    }

    #[test]
    fn get_blocks_format_is_pinned() {
        let text =
            msg(Message::GetBlocks { locator: vec![BlockHash::from_bytes([1; 32]), BlockHash::ZERO], limit: 500 });
        assert_eq!(
            text,
            format!(r#"{{"type":"GetBlocks","locator":["{}","{}"],"limit":500}}"#, "01".repeat(32), "00".repeat(32))
        );
    }

    #[test]
    fn every_other_message_round_trips() {
        let b = block(5);
        let text = msg(Message::Block { block: b.clone() });
        assert!(text.starts_with(r#"{"type":"Block","block":{"index":5,"transactions":[{"author":"alice""#), "{text}");
        assert!(text.contains(&format!(r#""hash":"{}""#, b.hash())), "{text}");
        assert_eq!(msg(Message::Blocks { blocks: vec![] }), r#"{"type":"Blocks","blocks":[]}"#);
        msg(Message::Blocks { blocks: vec![block(1), block(2)] });
        assert_eq!(msg(Message::GetMempool {}), r#"{"type":"GetMempool"}"#);
        assert_eq!(msg(Message::PeerLeft { peer_id: PeerId(9) }), r#"{"type":"PeerLeft","peer_id":9}"#);
        assert_eq!(msg(Message::Mempool { txs: vec![] }), r#"{"type":"Mempool","txs":[]}"#);
        msg(Message::Mempool { txs: vec![post(), post()] });
        assert_eq!(msg(Message::Ping { nonce: u64::MAX }), r#"{"type":"Ping","nonce":18446744073709551615}"#);
        assert_eq!(msg(Message::Pong { nonce: 0 }), r#"{"type":"Pong","nonce":0}"#);
        assert_eq!(
            msg(Message::Error { code: ErrorCode::RateLimited, message: "slow down".into() }),
            r#"{"type":"Error","code":"rate_limited","message":"slow down"}"#
        );
    }

    #[test]
    fn error_codes_are_snake_case_and_unknown_ones_are_kept_apart() {
        for code in ErrorCode::KNOWN {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&format!("\"{code}\"")).unwrap(), code);
        }
        let env = decode(r#"{"type":"Error","code":"out_of_coffee","message":""}"#).unwrap();
        assert_eq!(env.message, Message::Error { code: ErrorCode::Unknown, message: String::new() });
    }

    #[test]
    fn envelope_addresses() {
        let env = Envelope { from: Some(PeerId(3)), to: Some(PeerId(u64::MAX)), message: Message::Ping { nonce: 1 } };
        assert_eq!(round_trip(&env), r#"{"from":3,"to":18446744073709551615,"type":"Ping","nonce":1}"#);
        let to = Envelope::to(PeerId(4), Message::GetMempool {});
        assert_eq!(round_trip(&to), r#"{"to":4,"type":"GetMempool"}"#);
        let nulls = decode(r#"{"type":"Ping","nonce":1,"from":null,"to":null}"#).unwrap();
        assert_eq!(nulls, Envelope::broadcast(Message::Ping { nonce: 1 }));
        assert!(decode(r#"{"type":"Ping","nonce":1,"from":-1}"#).is_err());
        assert!(decode(r#"{"type":"Ping","nonce":1,"from":"7"}"#).is_err());
        // Unknown fields are ignored.
        let extra = decode(r#"{"type":"Ping","nonce":1,"version":9,"x":{"y":[1,2]}}"#).unwrap();
        assert_eq!(extra.message, Message::Ping { nonce: 1 });
    }

    fn hashes(n: usize) -> Vec<BlockHash> {
        (0..n).map(|i| BlockHash::from_bytes([i as u8; 32])).collect()
    }

    fn assert_refused(message: Message, expected: WireError) {
        let envelope = Envelope::broadcast(message);
        assert_eq!(encode(&envelope), Err(expected.clone()));
        let text = serde_json::to_string(&envelope).unwrap();
        assert_eq!(decode(&text), Err(expected));
    }

    #[test]
    fn list_and_text_limits_are_enforced_both_ways() {
        let max = MAX_LOCATOR_HASHES;
        msg(Message::GetBlocks { locator: hashes(max), limit: 1 });
        assert_refused(
            Message::GetBlocks { locator: hashes(max + 1), limit: 1 },
            WireError::TooMany { what: "GetBlocks locator", len: max + 1, max },
        );
        for limit in [0, MAX_BLOCKS_PER_MESSAGE as u32 + 1, u32::MAX] {
            let envelope = Envelope::broadcast(Message::GetBlocks { locator: vec![], limit });
            assert!(matches!(encode(&envelope), Err(WireError::Invalid { what: "GetBlocks limit", .. })));
            let text = serde_json::to_string(&envelope).unwrap();
            assert!(matches!(decode(&text), Err(WireError::Invalid { what: "GetBlocks limit", .. })));
        }
        let agent = "é".repeat(MAX_AGENT_CHARS);
        let hello = |agent: String| Message::Hello {
            chain_id: BlockHash::ZERO,
            protocol: 1,
            agent,
            best_height: 0,
            best_hash: BlockHash::ZERO,
            total_work: Work::ZERO,
        };
        msg(hello(agent.clone()));
        assert_refused(
            hello(agent + "x"),
            WireError::TooLong { what: "Hello agent", len: MAX_AGENT_CHARS + 1, max: MAX_AGENT_CHARS },
        );
        let error = |message: String| Message::Error { code: ErrorCode::Internal, message };
        msg(error("x".repeat(MAX_ERROR_MESSAGE_CHARS)));
        assert_refused(
            error("x".repeat(MAX_ERROR_MESSAGE_CHARS + 1)),
            WireError::TooLong {
                what: "Error message",
                len: MAX_ERROR_MESSAGE_CHARS + 1,
                max: MAX_ERROR_MESSAGE_CHARS,
            },
        );
        let welcome = |peers: Vec<PeerInfo>| Message::Welcome {
            peer_id: PeerId(1),
            network: Network::Main,
            chain_id: BlockHash::ZERO,
            peers,
        };
        msg(welcome(vec![peer_info(1, "a"); MAX_PEERS_PER_MESSAGE]));
        assert_refused(
            welcome(vec![peer_info(1, "a"); MAX_PEERS_PER_MESSAGE + 1]),
            WireError::TooMany { what: "Welcome peers", len: MAX_PEERS_PER_MESSAGE + 1, max: MAX_PEERS_PER_MESSAGE },
        );
        let long_agent = "x".repeat(MAX_AGENT_CHARS + 1);
        let too_long = WireError::TooLong { what: "peer agent", len: MAX_AGENT_CHARS + 1, max: MAX_AGENT_CHARS };
        assert_refused(welcome(vec![peer_info(1, &long_agent)]), too_long.clone());
        assert_refused(Message::PeerJoined { peer: peer_info(1, &long_agent) }, too_long);
        let txs = vec![post(); MAX_TXS_PER_MESSAGE + 1];
        assert_refused(
            Message::Mempool { txs },
            WireError::TooMany { what: "Mempool txs", len: MAX_TXS_PER_MESSAGE + 1, max: MAX_TXS_PER_MESSAGE },
        );
        let blocks = vec![block(1); MAX_BLOCKS_PER_MESSAGE + 1];
        assert_refused(
            Message::Blocks { blocks },
            WireError::TooMany { what: "Blocks blocks", len: MAX_BLOCKS_PER_MESSAGE + 1, max: MAX_BLOCKS_PER_MESSAGE },
        );
    }

    #[test]
    fn size_limit_is_checked_before_parsing() {
        let padded = format!("{}{}", r#"{"type":"Ping","nonce":1}"#, " ".repeat(MAX_MESSAGE_BYTES));
        let len = padded.len();
        assert_eq!(decode(&padded), Err(WireError::TooLarge { len, max: MAX_MESSAGE_BYTES }));
        assert_eq!(decode_bytes(padded.as_bytes()), Err(WireError::TooLarge { len, max: MAX_MESSAGE_BYTES }));
        // Whitespace up to the limit is fine.
        let fits = format!("{}{}", r#"{"type":"Ping","nonce":1}"#, " ".repeat(MAX_MESSAGE_BYTES - 25));
        assert_eq!(fits.len(), MAX_MESSAGE_BYTES);
        assert!(decode(&fits).is_ok());
        // A Blocks answer that would not fit is refused on encode.
        let big = Post::new("a", &"x".repeat(1_000), 1).unwrap();
        let mut fat = block(1);
        fat.posts = vec![big; 1_000];
        let blocks = vec![fat; 3];
        assert!(matches!(encode(&Envelope::broadcast(Message::Blocks { blocks })), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn garbage_gives_errors() {
        for text in [
            "",
            "null",
            "[]",
            "7",
            "\"Ping\"",
            "{",
            "{}",
            r#"{"type":"Ping"}"#,
            r#"{"type":"Ping","nonce":-1}"#,
            r#"{"type":"Ping","nonce":1.5}"#,
            r#"{"type":"Ping","nonce":18446744073709551616}"#,
            r#"{"type":"ping","nonce":1}"#,
            r#"{"type":"Nope"}"#,
            r#"{"type":7}"#,
            r#"{"type":"Ping","nonce":1} trailing"#,
            r#"{"type":"Tx","tx":{"author":"a","content":"b"}}"#,
            r#"{"type":"Tx","tx":{"author":"a","content":"b","timestamp":1,"public_key":"00"}}"#,
            r#"{"type":"GetBlocks","locator":["00"],"limit":1}"#,
            r#"{"type":"Hello","chain_id":"zz"}"#,
            "{\"type\":\"Error\",\"code\":\"internal\",\"message\":\"\\ud800\"}",
        ] {
            assert!(matches!(decode(text), Err(WireError::Json(_))), "{text:?} -> {:?}", decode(text));
        }
        let err = decode("{\n\"type\": \"Ping\",\n\"nonce\": x}").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn non_utf8_and_deep_nesting_give_errors() {
        assert_eq!(decode_bytes(b"{\"type\":\"Pi\xffng\"}"), Err(WireError::NotUtf8 { valid_up_to: 11 }));
        assert_eq!(decode_bytes(b"{\"type\":\"Ping\",\"nonce\":1}").unwrap().message, Message::Ping { nonce: 1 });
        let depth = 100_000;
        for text in [
            "[".repeat(depth),
            "{\"a\":".repeat(depth),
            format!(r#"{{"type":"Ping","nonce":1,"x":{}}}"#, "[".repeat(depth)),
            format!(r#"{{"type":"Ping","nonce":1,"x":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth)),
            format!(r#"{{"type":"Tx","tx":{{"author":{}}}}}"#, "[".repeat(depth)),
            format!(r#"{{"x":{}1{},"type":"Ping","nonce":1}}"#, "{\"a\":".repeat(depth), "}".repeat(depth)),
        ] {
            assert!(matches!(decode(&text), Err(WireError::Json(_))));
        }
        // Moderate nesting in an ignored field is fine.
        let ok = format!(r#"{{"type":"Ping","nonce":1,"x":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
        assert!(decode(&ok).is_ok());
    }

    #[test]
    fn block_with_wrong_hash_field_is_refused() {
        let b = block(1);
        let good = msg(Message::Block { block: b.clone() });
        let forged = good.replace(&b.hash().to_hex(), &"00".repeat(32));
        assert_ne!(forged, good);
        let err = decode(&forged).unwrap_err();
        assert!(matches!(&err, WireError::Json(m) if m.contains(&b.hash().to_hex())), "{err}");
        let blocks =
            msg(Message::Blocks { blocks: vec![block(2), b.clone()] }).replace(&b.hash().to_hex(), &"00".repeat(32));
        assert!(matches!(decode(&blocks), Err(WireError::Json(_))));
    }

    #[test]
    fn kind_matches_the_type_tag() {
        let mut seen = std::collections::HashSet::new();
        for message in [
            Message::Welcome { peer_id: PeerId(1), network: Network::Dev, chain_id: BlockHash::ZERO, peers: vec![] },
            Message::PeerJoined { peer: peer_info(1, "a") },
            Message::PeerLeft { peer_id: PeerId(1) },
            Message::Tx { tx: post() },
            Message::Block { block: block(1) },
            Message::GetBlocks { locator: vec![], limit: 1 },
            Message::Blocks { blocks: vec![] },
            Message::GetMempool {},
            Message::Mempool { txs: vec![] },
            Message::Ping { nonce: 1 },
            Message::Pong { nonce: 1 },
            Message::Error { code: ErrorCode::Internal, message: String::new() },
        ] {
            let value = serde_json::to_value(&message).unwrap();
            assert_eq!(value["type"], message.kind());
            seen.insert(message.kind());
        }
        assert_eq!(seen.len(), Message::KINDS.len() - 1, "every kind but Hello (pinned above) is covered");
    }
}
