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
use crate::header::BlockHeader;
use crate::params::Network;
use crate::post::Post;
use crate::target::Work;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of this message set, sent in [`Message::Hello`].
pub const PROTOCOL_VERSION: u32 = 2;
/// Most bytes of one message's text, checked before parsing: bounds the memory
/// and time any single message can cost.
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;
/// Most hashes in a [`Message::GetBlocks`] locator: enough for an exponentially
/// spaced locator over any realistic chain.
pub const MAX_LOCATOR_HASHES: usize = 64;
/// Most blocks in one [`Message::Blocks`], and the highest `limit` a
/// [`Message::GetBlocks`] may ask for.
pub const MAX_BLOCKS_PER_MESSAGE: usize = 500;
/// Most headers in one [`Message::Headers`], and the highest `limit` a
/// [`Message::GetHeaders`] may ask for (about 400 KB of text).
pub const MAX_HEADERS_PER_MESSAGE: usize = 2_000;
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
/// Most characters in a [`PeerInfo`] `relay` name (the relay's
/// `--relay-name` is 1 to 64 letters, digits, `.`, `_` or `-`).
pub const MAX_RELAY_NAME_CHARS: usize = 64;

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
    /// The relay holding its connection, in a cluster of relays (absent
    /// from a relay running alone and from older relays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    /// Seconds since it last announced a block the relay had not seen, as
    /// of sending (absent until it has announced one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_block_secs: Option<u64>,
}

impl PeerInfo {
    /// A peer known only by what its `Hello` says (no relay name, no block
    /// announced yet).
    pub fn new(id: PeerId, agent: String, best_height: u64, total_work: Work) -> PeerInfo {
        PeerInfo { id, agent, best_height, total_work, relay: None, last_block_secs: None }
    }

    /// Its agent and relay name within their limits.
    fn check_limits(&self) -> Result<(), WireError> {
        check_chars("peer agent", &self.agent, MAX_AGENT_CHARS)?;
        self.relay.as_deref().map_or(Ok(()), |relay| check_chars("peer relay", relay, MAX_RELAY_NAME_CHARS))
    }
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
    /// Asks for the best-chain headers after the first locator hash the
    /// receiver knows: how a node learns a branch's work before it asks for
    /// (or keeps) its blocks.
    GetHeaders {
        /// Hashes of the asker's chain, best first, spaced further apart going back.
        locator: Vec<BlockHash>,
        /// Most headers wanted, 1..=[`MAX_HEADERS_PER_MESSAGE`].
        limit: u32,
    },
    /// Headers answering [`Message::GetHeaders`], parents first; each is
    /// its 96-byte encoding as 192 hex digits. Fewer than asked for means
    /// the sender's best chain ends there.
    Headers {
        /// The headers.
        #[serde(with = "header_hex")]
        headers: Vec<BlockHeader>,
    },
    /// To the relay (no `to`): asks for the joined peers as the relay knows
    /// them now (heights, work, relay, last block), which `Welcome` and
    /// `PeerJoined` only told as they were at the time. At most one a second.
    GetPeers {},
    /// From the relay, answering [`Message::GetPeers`]: the joined peers
    /// (the asker included), most work first, at most [`MAX_PEERS_PER_MESSAGE`].
    Peers {
        /// The peers.
        peers: Vec<PeerInfo>,
    },
}

/// Headers on the wire: a list of 192-hex-digit strings.
mod header_hex {
    use crate::header::{BlockHeader, HEADER_BYTES};
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(headers: &[BlockHeader], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(headers.iter().map(|h| hex::encode(h.to_bytes())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BlockHeader>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|text| {
                let mut bytes = [0u8; HEADER_BYTES];
                hex::decode_to_slice(text, &mut bytes)
                    .map_err(|e| D::Error::custom(format!("a header is {} hex digits: {e}", 2 * HEADER_BYTES)))?;
                BlockHeader::from_bytes(&bytes).map_err(D::Error::custom)
            })
            .collect()
    }
}

impl Message {
    /// Every `"type"` value, in declaration order; [`Message::kind_index`]
    /// indexes it, so a relay can keep one counter per kind in an array.
    pub const KINDS: [&'static str; 17] = [
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
        "GetHeaders",
        "Headers",
        "GetPeers",
        "Peers",
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
            Message::GetHeaders { .. } => 13,
            Message::Headers { .. } => 14,
            Message::GetPeers {} => 15,
            Message::Peers { .. } => 16,
        }
    }

    /// Checks the per-message limits ([`decode`] and [`encode`] call this).
    pub fn check_limits(&self) -> Result<(), WireError> {
        match self {
            Message::Hello { agent, .. } => check_chars("Hello agent", agent, MAX_AGENT_CHARS),
            Message::Welcome { peers, .. } => {
                check_count("Welcome peers", peers.len(), MAX_PEERS_PER_MESSAGE)?;
                peers.iter().try_for_each(PeerInfo::check_limits)
            }
            Message::Peers { peers } => {
                check_count("Peers peers", peers.len(), MAX_PEERS_PER_MESSAGE)?;
                peers.iter().try_for_each(PeerInfo::check_limits)
            }
            Message::PeerJoined { peer } => peer.check_limits(),
            Message::GetBlocks { locator, limit } => {
                check_request(("GetBlocks locator", "GetBlocks limit"), locator, *limit, MAX_BLOCKS_PER_MESSAGE)
            }
            Message::Blocks { blocks } => check_count("Blocks blocks", blocks.len(), MAX_BLOCKS_PER_MESSAGE),
            Message::GetHeaders { locator, limit } => {
                check_request(("GetHeaders locator", "GetHeaders limit"), locator, *limit, MAX_HEADERS_PER_MESSAGE)
            }
            Message::Headers { headers } => check_count("Headers headers", headers.len(), MAX_HEADERS_PER_MESSAGE),
            Message::Mempool { txs } => check_count("Mempool txs", txs.len(), MAX_TXS_PER_MESSAGE),
            Message::Error { message, .. } => check_chars("Error message", message, MAX_ERROR_MESSAGE_CHARS),
            Message::PeerLeft { .. }
            | Message::Tx { .. }
            | Message::Block { .. }
            | Message::GetMempool {}
            | Message::GetPeers {}
            | Message::Ping { .. }
            | Message::Pong { .. } => Ok(()),
        }
    }
}

/// A request's locator (at most [`MAX_LOCATOR_HASHES`]) and `limit` (1 to
/// `max`); `what` names the two fields in errors.
fn check_request(
    what: (&'static str, &'static str),
    locator: &[BlockHash],
    limit: u32,
    max: usize,
) -> Result<(), WireError> {
    check_count(what.0, locator.len(), MAX_LOCATOR_HASHES)?;
    if limit == 0 || limit as usize > max {
        return Err(WireError::Invalid { what: what.1, reason: format!("must be 1 to {max}, got {limit}") });
    }
    Ok(())
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
