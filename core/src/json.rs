//! The JSON view of posts and blocks: one format for the REST API and the
//! wire (storage keeps the binary encoding of `encode.rs`).
//!
//! Field names follow the classic Python blockchain tutorial, so its clients
//! keep working:
//!
//! ```text
//! post:  {"author": str, "content": str, "timestamp": seconds,
//!         "public_key": 64 hex, "signature": 128 hex,     (these two: signed posts only)
//!         "stamp_target": 8 hex digits of the stamp's compact bits, "stamp_nonce": u64}
//! block: {"index": height, "transactions": [post, …], "timestamp": seconds,
//!         "previous_hash": 64 hex, "nonce": u64, "hash": 64 hex, "version": u32,
//!         "merkle_root": 64 hex, "target": 8 hex digits of the compact bits}
//! ```
//!
//! `timestamp` is Unix **seconds**, fractional for the milliseconds (clients
//! call `datetime.fromtimestamp` on it), while headers and posts hold integer
//! milliseconds; [`ms_to_seconds`] and [`seconds_to_ms`] convert exactly for
//! every millisecond up to [`MAX_TIMESTAMP_MS`].
//!
//! `Post` and `Block` implement `Serialize`/`Deserialize` through this view, so
//! `serde_json::to_string(&block)` and `serde_json::from_str::<Block>(…)` just
//! work and wire messages embed them directly. Decoding checks syntax only: hex
//! fields, timestamps, size bounds, both-or-neither signature fields, and that
//! `hash` is the hash of the header the other fields describe. Post rules
//! ([`Post::validate`]) and the Merkle root are checked by validation. Unknown
//! fields are ignored. Decode through [`PostJson`] / [`BlockJson`] and
//! `TryFrom` to get a typed [`JsonError`] instead of serde's message.

use crate::block::Block;
use crate::hash::{BlockHash, MerkleRoot, parse_hex32};
use crate::header::BlockHeader;
use crate::post::{MAX_AUTHOR_BYTES, MAX_CONTENT_BYTES, Post, PostSignature};
use crate::stamp::Stamp;
use crate::target::CompactTarget;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Latest time the JSON view carries, 9999-12-31T23:59:59.999Z in Unix
/// milliseconds: far beyond any real clock, and small enough that every
/// millisecond up to it survives the trip through fractional seconds in an f64.
pub const MAX_TIMESTAMP_MS: u64 = 253_402_300_799_999;

/// Why a JSON post or block does not describe a [`Post`] or [`Block`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JsonError {
    /// A `timestamp` is negative, not finite, or after [`MAX_TIMESTAMP_MS`].
    #[error("timestamp {seconds} is not Unix seconds between 0 and {MAX_TIMESTAMP_MS} ms")]
    BadTimestamp {
        /// The seconds as given.
        seconds: f64,
    },
    /// A millisecond time to be shown is after [`MAX_TIMESTAMP_MS`].
    #[error("timestamp {ms} ms is after the latest showable time {MAX_TIMESTAMP_MS} ms")]
    TimestampTooLate {
        /// The milliseconds as held.
        ms: u64,
    },
    /// The `hash` field is not the hash of the header the other fields describe.
    #[error("block claims hash {claimed} but its header hashes to {computed}")]
    HashMismatch {
        /// The `hash` field.
        claimed: BlockHash,
        /// The hash of the header rebuilt from the other fields.
        computed: BlockHash,
    },
    /// Only one of `public_key` and `signature` is present.
    #[error("a signed post needs both public_key and signature, got only {present}")]
    SignatureHalf {
        /// The field that is present.
        present: &'static str,
    },
    /// A hex field has the wrong length or a non-hex character.
    #[error("{field} is not {len} hex characters: {reason}")]
    BadHex {
        /// The field name.
        field: &'static str,
        /// Hex characters expected.
        len: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// `target` is not exactly 8 hex digits.
    #[error("target {0:?} is not 8 hex digits")]
    BadTarget(String),
    /// A text field has more bytes than any valid post can have.
    #[error("{field} has {len} bytes, more than the limit {max}")]
    TooLong {
        /// The field name.
        field: &'static str,
        /// Its length in UTF-8 bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A post in a block's `transactions` is malformed.
    #[error("transaction {index}: {error}")]
    Transaction {
        /// Position in `transactions`.
        index: usize,
        /// What is wrong with it.
        error: Box<JsonError>,
    },
}

/// Milliseconds as the JSON view's fractional seconds (`ms / 1000`).
///
/// Fails above [`MAX_TIMESTAMP_MS`], where the trip back would no longer be exact.
pub fn ms_to_seconds(ms: u64) -> Result<f64, JsonError> {
    if ms > MAX_TIMESTAMP_MS {
        return Err(JsonError::TimestampTooLate { ms });
    }
    Ok(ms as f64 / 1000.0)
}

/// The JSON view's seconds as milliseconds, rounded to the nearest one.
///
/// Refuses non-finite, negative and too-late values. Exact for every output of
/// [`ms_to_seconds`], also after printing and parsing as JSON text.
pub fn seconds_to_ms(seconds: f64) -> Result<u64, JsonError> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(JsonError::BadTimestamp { seconds });
    }
    let ms = (seconds * 1000.0).round();
    if ms > MAX_TIMESTAMP_MS as f64 {
        return Err(JsonError::BadTimestamp { seconds });
    }
    // In 0..=MAX_TIMESTAMP_MS (< 2^53) and integral: the cast is exact.
    Ok(ms as u64)
}

/// A post as JSON text holds it, before any check: decode into this and
/// `Post::try_from` it to get a typed [`JsonError`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostJson {
    /// Display name.
    pub author: String,
    /// The text.
    pub content: String,
    /// Unix seconds, fractional.
    pub timestamp: f64,
    /// 64 hex characters, signed posts only.
    #[serde(default)]
    pub public_key: Option<String>,
    /// 128 hex characters, signed posts only.
    #[serde(default)]
    pub signature: Option<String>,
    /// The stamp's compact target bits, 8 hex digits.
    pub stamp_target: String,
    /// The stamp's nonce.
    pub stamp_nonce: u64,
}

/// A block as JSON text holds it, before any check: decode into this and
/// `Block::try_from` it to get a typed [`JsonError`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockJson {
    /// Height.
    pub index: u64,
    /// The posts.
    pub transactions: Vec<PostJson>,
    /// Header time, Unix seconds, fractional.
    pub timestamp: f64,
    /// Parent hash, 64 hex characters.
    pub previous_hash: String,
    /// Header nonce.
    pub nonce: u64,
    /// The block's hash as claimed, 64 hex characters.
    pub hash: String,
    /// Header version.
    pub version: u32,
    /// Merkle root, 64 hex characters.
    pub merkle_root: String,
    /// Compact target bits, 8 hex digits.
    pub target: String,
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), JsonError> {
    if s.len() > max {
        return Err(JsonError::TooLong { field, len: s.len(), max });
    }
    Ok(())
}

fn hex32(field: &'static str, s: &str) -> Result<[u8; 32], JsonError> {
    parse_hex32(s).map_err(|e| JsonError::BadHex { field, len: 64, reason: e.to_string() })
}

fn hex64(field: &'static str, s: &str) -> Result<[u8; 64], JsonError> {
    if s.len() != 128 {
        return Err(JsonError::BadHex { field, len: 128, reason: format!("got {} characters", s.len()) });
    }
    let mut out = [0u8; 64];
    hex::decode_to_slice(s, &mut out).map_err(|e| JsonError::BadHex { field, len: 128, reason: e.to_string() })?;
    Ok(out)
}

fn parse_target(s: &str) -> Result<CompactTarget, JsonError> {
    // from_str_radix alone would also take a leading '+'.
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(JsonError::BadTarget(s.chars().take(16).collect()));
    }
    u32::from_str_radix(s, 16).map(CompactTarget).map_err(|_| JsonError::BadTarget(s.to_owned()))
}

impl TryFrom<PostJson> for Post {
    type Error = JsonError;

    fn try_from(json: PostJson) -> Result<Self, JsonError> {
        check_len("author", &json.author, MAX_AUTHOR_BYTES)?;
        check_len("content", &json.content, MAX_CONTENT_BYTES)?;
        let timestamp_ms = seconds_to_ms(json.timestamp)?;
        let signature = match (&json.public_key, &json.signature) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(JsonError::SignatureHalf { present: "public_key" });
            }
            (None, Some(_)) => {
                return Err(JsonError::SignatureHalf { present: "signature" });
            }
            (Some(key), Some(sig)) => {
                Some(PostSignature { public_key: hex32("public_key", key)?, signature: hex64("signature", sig)? })
            }
        };
        let stamp = Stamp { bits: parse_target(&json.stamp_target)?, nonce: json.stamp_nonce };
        Ok(Post { author: json.author, content: json.content, timestamp_ms, signature, stamp })
    }
}

impl TryFrom<BlockJson> for Block {
    type Error = JsonError;

    fn try_from(json: BlockJson) -> Result<Self, JsonError> {
        let header = BlockHeader {
            version: json.version,
            height: json.index,
            prev_hash: BlockHash::from_bytes(hex32("previous_hash", &json.previous_hash)?),
            merkle_root: MerkleRoot::from_bytes(hex32("merkle_root", &json.merkle_root)?),
            timestamp_ms: seconds_to_ms(json.timestamp)?,
            bits: parse_target(&json.target)?,
            nonce: json.nonce,
        };
        let claimed = BlockHash::from_bytes(hex32("hash", &json.hash)?);
        let computed = header.hash();
        if claimed != computed {
            return Err(JsonError::HashMismatch { claimed, computed });
        }
        let posts = json
            .transactions
            .into_iter()
            .enumerate()
            .map(|(index, post)| Post::try_from(post).map_err(|e| JsonError::Transaction { index, error: Box::new(e) }))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Block { header, posts })
    }
}

/// What a post serializes as: borrows the text instead of copying it.
#[derive(Serialize)]
struct PostOut<'a> {
    author: &'a str,
    content: &'a str,
    timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    stamp_target: String,
    stamp_nonce: u64,
}

/// What a block serializes as; posts go through `Post`'s own `Serialize`.
#[derive(Serialize)]
struct BlockOut<'a> {
    index: u64,
    transactions: &'a [Post],
    timestamp: f64,
    previous_hash: BlockHash,
    nonce: u64,
    hash: BlockHash,
    version: u32,
    merkle_root: MerkleRoot,
    target: String,
}

/// Fails only for a timestamp after [`MAX_TIMESTAMP_MS`], which could not be read back.
impl Serialize for Post {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PostOut {
            author: &self.author,
            content: &self.content,
            timestamp: ms_to_seconds(self.timestamp_ms).map_err(serde::ser::Error::custom)?,
            public_key: self.signature.as_ref().map(|sig| hex::encode(sig.public_key)),
            signature: self.signature.as_ref().map(|sig| hex::encode(sig.signature)),
            stamp_target: self.stamp.bits.to_hex(),
            stamp_nonce: self.stamp.nonce,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Post {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Post::try_from(PostJson::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Fails only for a timestamp after [`MAX_TIMESTAMP_MS`], which could not be read back.
impl Serialize for Block {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.header;
        BlockOut {
            index: h.height,
            transactions: &self.posts,
            timestamp: ms_to_seconds(h.timestamp_ms).map_err(serde::ser::Error::custom)?,
            previous_hash: h.prev_hash,
            nonce: h.nonce,
            hash: h.hash(),
            version: h.version,
            merkle_root: h.merkle_root,
            target: h.bits.to_hex(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Block::try_from(BlockJson::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::merkle_root;

    const SECRET: [u8; 32] = [7; 32];

    fn block(posts: Vec<Post>) -> Block {
        let header = BlockHeader {
            version: 1,
            height: 3,
            prev_hash: BlockHash::from_bytes([0x11; 32]),
            merkle_root: merkle_root(&posts.iter().map(Post::txid).collect::<Vec<_>>()),
            timestamp_ms: 1_700_000_000_123,
            bits: CompactTarget(0x1d1c_a1f3),
            nonce: 42,
        };
        Block { header, posts }
    }

    fn post_json(text: &str) -> Result<Post, JsonError> {
        Post::try_from(serde_json::from_str::<PostJson>(text).unwrap())
    }

    fn block_json(value: &serde_json::Value) -> Result<Block, JsonError> {
        Block::try_from(serde_json::from_value::<BlockJson>(value.clone()).unwrap())
    }

    #[test]
    fn unsigned_post_format_is_pinned() {
        let post = Post::new("alice", "hi \"there\"\n", 1_700_000_000_123).unwrap();
        let text = serde_json::to_string(&post).unwrap();
        assert_eq!(
            text,
            r#"{"author":"alice","content":"hi \"there\"\n","timestamp":1700000000.123,"stamp_target":"00000000","stamp_nonce":0}"#
        );
        assert_eq!(serde_json::from_str::<Post>(&text).unwrap(), post);
    }

    #[test]
    fn signed_post_carries_key_and_signature_hex() {
        let post = Post::new_signed("alice", "hi", 1_000, &SECRET, &BlockHash::ZERO).unwrap();
        let value = serde_json::to_value(&post).unwrap();
        let sig = post.signature.unwrap();
        assert_eq!(value["public_key"], hex::encode(sig.public_key));
        assert_eq!(value["signature"], hex::encode(sig.signature));
        assert_eq!(value["timestamp"], 1.0);
        let back: Post = serde_json::from_value(value).unwrap();
        assert_eq!(back, post);
        back.verify_signature(&BlockHash::ZERO).unwrap();
    }

    #[test]
    fn stamp_fields_are_required_and_checked_for_syntax() {
        let post = Post::new("a", "b", 1).unwrap();
        let value = serde_json::to_value(&post).unwrap();
        for field in ["stamp_target", "stamp_nonce"] {
            let mut missing = value.clone();
            missing.as_object_mut().unwrap().remove(field);
            assert!(serde_json::from_value::<Post>(missing).is_err(), "{field}");
        }
        let mut bad = value.clone();
        bad["stamp_target"] = "xyz".into();
        assert!(serde_json::from_value::<Post>(bad).is_err());
        let mut stamped = value;
        stamped["stamp_target"] = "1f00ffff".into();
        stamped["stamp_nonce"] = u64::MAX.into();
        let back: Post = serde_json::from_value(stamped).unwrap();
        assert_eq!((back.stamp.bits, back.stamp.nonce), (CompactTarget(0x1f00_ffff), u64::MAX));
    }

    #[test]
    fn signature_fields_come_in_pairs() {
        let key = "ab".repeat(32);
        let sig = "cd".repeat(64);
        let only_key = format!(
            r#"{{"author":"a","content":"b","timestamp":1,"stamp_target":"00000000","stamp_nonce":0,"public_key":"{key}"}}"#
        );
        assert_eq!(post_json(&only_key), Err(JsonError::SignatureHalf { present: "public_key" }));
        let only_sig = format!(
            r#"{{"author":"a","content":"b","timestamp":1,"stamp_target":"00000000","stamp_nonce":0,"signature":"{sig}"}}"#
        );
        assert_eq!(post_json(&only_sig), Err(JsonError::SignatureHalf { present: "signature" }));
        let nulls = r#"{"author":"a","content":"b","timestamp":1,"stamp_target":"00000000","stamp_nonce":0,"public_key":null,"signature":null}"#;
        assert_eq!(post_json(nulls).unwrap().signature, None);
        let short = format!(
            r#"{{"author":"a","content":"b","timestamp":1,"stamp_target":"00000000","stamp_nonce":0,"public_key":"{key}","signature":"cd"}}"#
        );
        assert!(matches!(post_json(&short), Err(JsonError::BadHex { field: "signature", .. })));
        let nothex = format!(
            r#"{{"author":"a","content":"b","timestamp":1,"stamp_target":"00000000","stamp_nonce":0,"public_key":"{}","signature":"{sig}"}}"#,
            "zz".repeat(32)
        );
        assert!(matches!(post_json(&nothex), Err(JsonError::BadHex { field: "public_key", .. })));
    }

    #[test]
    fn timestamps_convert_exactly_at_the_edges() {
        for ms in [0, 1, 999, 1_000, 1_001, 1_700_000_000_000, 1_700_000_000_001, 1_795_564_800_999] {
            let text = serde_json::to_string(&ms_to_seconds(ms).unwrap()).unwrap();
            assert_eq!(seconds_to_ms(serde_json::from_str(&text).unwrap()), Ok(ms), "{text}");
        }
        let max = ms_to_seconds(MAX_TIMESTAMP_MS).unwrap();
        assert_eq!(seconds_to_ms(max), Ok(MAX_TIMESTAMP_MS));
        assert_eq!(ms_to_seconds(MAX_TIMESTAMP_MS + 1), Err(JsonError::TimestampTooLate { ms: MAX_TIMESTAMP_MS + 1 }));
        assert_eq!(seconds_to_ms(253_402_300_800.0), Err(JsonError::BadTimestamp { seconds: 253_402_300_800.0 }));
        assert!(seconds_to_ms(-0.001).is_err());
        assert!(seconds_to_ms(f64::NAN).is_err());
        assert!(seconds_to_ms(f64::INFINITY).is_err());
        assert_eq!(seconds_to_ms(-0.0), Ok(0));
        assert_eq!(seconds_to_ms(0.0004), Ok(0));
        assert_eq!(seconds_to_ms(0.0005), Ok(1));
    }

    #[test]
    fn integer_seconds_parse() {
        let post = post_json(
            r#"{"author":"a","content":"b","timestamp":1700000000,"stamp_target":"00000000","stamp_nonce":0}"#,
        )
        .unwrap();
        assert_eq!(post.timestamp_ms, 1_700_000_000_000);
        assert!(matches!(
            post_json(r#"{"author":"a","content":"b","timestamp":-1,"stamp_target":"00000000","stamp_nonce":0}"#),
            Err(JsonError::BadTimestamp { .. })
        ));
        assert!(
            serde_json::from_str::<Post>(
                r#"{"author":"a","content":"b","timestamp":"1","stamp_target":"00000000","stamp_nonce":0}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<Post>(
                r#"{"author":"a","content":"b","timestamp":1e400,"stamp_target":"00000000","stamp_nonce":0}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<Post>(
                r#"{"author":"a","content":"b","timestamp":1e300,"stamp_target":"00000000","stamp_nonce":0}"#
            )
            .is_err()
        );
    }

    #[test]
    fn text_fields_are_bounded_but_rules_are_left_to_validate() {
        let long = format!(
            r#"{{"author":"{}","content":"b","timestamp":1,"stamp_target":"00000000","stamp_nonce":0}}"#,
            "a".repeat(MAX_AUTHOR_BYTES + 1)
        );
        assert_eq!(
            post_json(&long),
            Err(JsonError::TooLong { field: "author", len: MAX_AUTHOR_BYTES + 1, max: MAX_AUTHOR_BYTES })
        );
        let long = format!(
            r#"{{"author":"a","content":"{}","timestamp":1,"stamp_target":"00000000","stamp_nonce":0}}"#,
            "b".repeat(MAX_CONTENT_BYTES + 1)
        );
        assert!(matches!(post_json(&long), Err(JsonError::TooLong { field: "content", .. })));
        // Empty fields are syntax-valid here; Post::validate refuses them.
        let empty = post_json(
            r#"{"author":"","content":"","timestamp":1,"stamp_target":"00000000","stamp_nonce":0,"extra":[1,{"x":2}]}"#,
        )
        .unwrap();
        assert!(empty.check_fields().is_err());
    }

    #[test]
    fn block_format_is_pinned() {
        let b = block(vec![Post::new("a", "one", 1_000).unwrap()]);
        let text = serde_json::to_string(&b).unwrap();
        let expected = format!(
            concat!(
                r#"{{"index":3,"transactions":[{{"author":"a","content":"one","timestamp":1.0,"#,
                r#""stamp_target":"00000000","stamp_nonce":0}}],"#,
                r#""timestamp":1700000000.123,"previous_hash":"{}","nonce":42,"hash":"{}","version":1,"#,
                r#""merkle_root":"{}","target":"1d1ca1f3"}}"#
            ),
            "11".repeat(32),
            b.hash(),
            b.header.merkle_root
        );
        assert_eq!(text, expected);
        assert_eq!(serde_json::from_str::<Block>(&text).unwrap(), b);
        let empty = block(vec![]);
        assert_eq!(serde_json::from_str::<Block>(&serde_json::to_string(&empty).unwrap()).unwrap(), empty);
    }

    #[test]
    fn wrong_hash_names_both_hashes() {
        let b = block(vec![]);
        let mut value = serde_json::to_value(&b).unwrap();
        value["nonce"] = 43.into();
        let mut changed = b.header;
        changed.nonce = 43;
        assert_eq!(block_json(&value), Err(JsonError::HashMismatch { claimed: b.hash(), computed: changed.hash() }));
        let message = serde_json::from_value::<Block>(value).unwrap_err().to_string();
        assert!(message.contains(&b.hash().to_hex()) && message.contains(&changed.hash().to_hex()), "{message}");
    }

    #[test]
    fn merkle_root_is_not_checked_here() {
        let mut b = block(vec![Post::new("a", "one", 1).unwrap()]);
        b.header.merkle_root = MerkleRoot::from_bytes([0x99; 32]);
        let back: Block = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn block_field_errors_are_typed() {
        let value = serde_json::to_value(block(vec![Post::new("a", "one", 1).unwrap()])).unwrap();
        let with = |field: &str, v: serde_json::Value| {
            let mut value = value.clone();
            value[field] = v;
            block_json(&value)
        };
        assert_eq!(with("target", "1d1ca1f".into()), Err(JsonError::BadTarget("1d1ca1f".into())));
        assert_eq!(with("target", "+d1ca1f3".into()), Err(JsonError::BadTarget("+d1ca1f3".into())));
        assert!(matches!(with("hash", "00".into()), Err(JsonError::BadHex { field: "hash", .. })));
        assert!(matches!(
            with("previous_hash", "x".repeat(64).into()),
            Err(JsonError::BadHex { field: "previous_hash", .. })
        ));
        assert!(matches!(with("merkle_root", "".into()), Err(JsonError::BadHex { field: "merkle_root", .. })));
        assert!(matches!(with("timestamp", (-5).into()), Err(JsonError::BadTimestamp { .. })));
        let mut bad_post = value.clone();
        bad_post["transactions"][0]["timestamp"] = 1e20.into();
        assert!(matches!(block_json(&bad_post), Err(JsonError::Transaction { index: 0, .. })));
        // Wrong JSON types and missing fields are serde errors.
        let mut missing = value.clone();
        missing.as_object_mut().unwrap().remove("nonce");
        assert!(serde_json::from_value::<Block>(missing).is_err());
        assert!(serde_json::from_value::<Block>(with_raw(&value, "nonce", (-1).into())).is_err());
        assert!(serde_json::from_value::<Block>(with_raw(&value, "version", 5_000_000_000u64.into())).is_err());
        assert!(serde_json::from_str::<Block>("[]").is_err());
    }

    fn with_raw(value: &serde_json::Value, field: &str, v: serde_json::Value) -> serde_json::Value {
        let mut value = value.clone();
        value[field] = v;
        value
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let b = block(vec![]);
        let mut value = serde_json::to_value(&b).unwrap();
        value["hash"] = b.hash().to_hex().to_uppercase().into();
        value["target"] = "1D1CA1F3".into();
        assert_eq!(block_json(&value).unwrap(), b);
    }

    #[test]
    fn too_late_timestamps_do_not_serialize() {
        let mut b = block(vec![]);
        b.header.timestamp_ms = MAX_TIMESTAMP_MS + 1;
        assert!(serde_json::to_string(&b).is_err());
        let post = Post { timestamp_ms: u64::MAX, ..Post::new("a", "b", 1).unwrap() };
        assert!(serde_json::to_string(&post).is_err());
    }
}
