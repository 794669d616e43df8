//! Posts: the transactions of tabchain.
//!
//! Canonical encoding (integers little-endian):
//!
//! ```text
//! u8      format: 0 = unsigned, 1 = signed
//! u16     author length in bytes, then the author as UTF-8
//! u16     content length in bytes, then the content as UTF-8
//! u64     timestamp, Unix milliseconds
//! [u8;32] Ed25519 public key   (signed only)
//! [u8;64] Ed25519 signature    (signed only)
//! u32     stamp bits (compact target)
//! u64     stamp nonce
//! ```
//!
//! A signed post's signature covers [`SIGNING_DOMAIN`], the chain id (the
//! network's genesis hash, so a signed post cannot be replayed on another
//! network), then the encoding up to and including the public key. The stamp
//! ([`crate::stamp`]) covers everything before it, the signature included, so
//! a post is signed first and stamped last. The [`TxId`] is SHA-256 of the
//! whole encoding, stamp included.

use crate::encode::{DecodeError, Reader};
use crate::hash::{BlockHash, TxId, sha256};
use crate::params::Params;
use crate::stamp::{STAMP_BYTES, Stamp, StampError, StampRate, check_stamp};
use crate::target::{CompactTarget, Work};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use unicode_general_category::{GeneralCategory, get_general_category};

/// Most characters (Unicode scalar values) in an author name.
pub const MAX_AUTHOR_CHARS: usize = 64;
/// Most characters in a post's content.
pub const MAX_CONTENT_CHARS: usize = 1_000;
/// Most bytes an encoded author can take (4 bytes per character).
pub const MAX_AUTHOR_BYTES: usize = MAX_AUTHOR_CHARS * 4;
/// Most bytes an encoded content can take.
pub const MAX_CONTENT_BYTES: usize = MAX_CONTENT_CHARS * 4;
/// Prefix of the signed message, so a post signature can never be replayed as
/// a signature over anything else.
pub const SIGNING_DOMAIN: &[u8] = b"tabchain/post/v2\0";
/// Hex digits of a public key a key id shows: 64 bits, so forging someone's
/// id takes about 2^64 key generations, not 2^32.
pub const KEY_ID_HEX_DIGITS: usize = 16;

const FORMAT_UNSIGNED: u8 = 0;
const FORMAT_SIGNED: u8 = 1;

/// Why a post is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// The author is empty or only whitespace.
    #[error("author is empty")]
    AuthorEmpty,
    /// The author has more than [`MAX_AUTHOR_CHARS`] characters.
    #[error("author has {0} characters, at most {MAX_AUTHOR_CHARS} allowed")]
    AuthorTooLong(usize),
    /// The author contains a control character.
    #[error("author contains a control character")]
    AuthorControlChar,
    /// The author contains an invisible formatting character (Unicode
    /// category Cf: bidi controls, zero-width spaces and joiners), with which
    /// one name could be made to look like another.
    #[error("author contains the invisible formatting character U+{0:04X}")]
    AuthorFormatChar(u32),
    /// The content is empty or only whitespace.
    #[error("content is empty")]
    ContentEmpty,
    /// The content has more than [`MAX_CONTENT_CHARS`] characters.
    #[error("content has {0} characters, at most {MAX_CONTENT_CHARS} allowed")]
    ContentTooLong(usize),
    /// The content contains a control character other than tab, CR or LF.
    #[error("content contains a control character other than tab or newline")]
    ContentControlChar,
    /// The timestamp is past [`crate::json::MAX_TIMESTAMP_MS`] (year 9999), so
    /// the JSON view could not carry it.
    #[error("timestamp {0} ms is past the year 9999")]
    TimestampOutOfRange(u64),
    /// The public key bytes are not a valid Ed25519 point.
    #[error("public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The signature does not verify for this post, key and network.
    #[error("signature does not verify")]
    BadSignature,
    /// The stamp (the post's proof of work) is missing or short.
    #[error("stamp: {0}")]
    Stamp(#[from] StampError),
}

/// An Ed25519 public key and a signature by it over a post.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PostSignature {
    /// The author's Ed25519 public key.
    pub public_key: [u8; 32],
    /// Signature over [`Post::signing_bytes`].
    pub signature: [u8; 64],
}

/// A message someone posted: the unit the chain orders and keeps.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Post {
    /// Display name, 1–64 characters.
    pub author: String,
    /// The text, 1–1,000 characters.
    pub content: String,
    /// When the post was written, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Present when the post is signed.
    pub signature: Option<PostSignature>,
    /// The proof of work paid for the post ([`crate::stamp`]); [`Stamp::NONE`]
    /// until stamped.
    pub stamp: Stamp,
}

impl Post {
    /// An unsigned, unstamped post, its fields checked. Stamp it
    /// ([`crate::stamp::stamp_post`] or a worker) before submitting it.
    pub fn new(author: &str, content: &str, timestamp_ms: u64) -> Result<Self, PostError> {
        let post = Self {
            author: author.to_owned(),
            content: content.to_owned(),
            timestamp_ms,
            signature: None,
            stamp: Stamp::NONE,
        };
        post.check_fields()?;
        Ok(post)
    }

    /// An unstamped post signed for the network whose chain id is given, with
    /// the Ed25519 key whose 32 secret bytes are given (the caller brings the
    /// randomness: this crate has none).
    pub fn new_signed(
        author: &str,
        content: &str,
        timestamp_ms: u64,
        secret_key: &[u8; 32],
        chain_id: &BlockHash,
    ) -> Result<Self, PostError> {
        let key = SigningKey::from_bytes(secret_key);
        let mut post = Self {
            author: author.to_owned(),
            content: content.to_owned(),
            timestamp_ms,
            signature: Some(PostSignature { public_key: key.verifying_key().to_bytes(), signature: [0; 64] }),
            stamp: Stamp::NONE,
        };
        post.check_fields()?;
        let signature = key.sign(&post.signing_bytes(chain_id)).to_bytes();
        if let Some(sig) = post.signature.as_mut() {
            sig.signature = signature;
        }
        Ok(post)
    }

    /// Every rule a post must meet on `params`' network, cheapest first:
    /// fields, stamp, signature. Returns the work its stamp declares.
    pub fn validate(&self, params: &Params) -> Result<Work, PostError> {
        self.validate_on(params, &params.chain_id())
    }

    /// [`Post::validate`] with the network's chain id already at hand
    /// (computing it builds the genesis block; a block's posts share one).
    pub fn validate_on(&self, params: &Params, chain_id: &BlockHash) -> Result<Work, PostError> {
        self.check_fields()?;
        let work = check_stamp(self, params, chain_id)?;
        self.verify_signature(chain_id)?;
        Ok(work)
    }

    /// Checks a signed post's signature for the network `chain_id` (an
    /// unsigned post passes): the costly part of [`Post::validate`], tens of
    /// microseconds.
    pub fn verify_signature(&self, chain_id: &BlockHash) -> Result<(), PostError> {
        if let Some(sig) = &self.signature {
            let key = VerifyingKey::from_bytes(&sig.public_key).map_err(|_| PostError::BadPublicKey)?;
            key.verify_strict(&self.signing_bytes(chain_id), &Signature::from_bytes(&sig.signature))
                .map_err(|_| PostError::BadSignature)?;
        }
        Ok(())
    }

    /// Checks the field rules (author, content, timestamp) but neither the
    /// stamp nor the signature: the cheapest part of [`Post::validate`].
    pub fn check_fields(&self) -> Result<(), PostError> {
        let author_chars = self.author.chars().count();
        if self.author.trim().is_empty() {
            return Err(PostError::AuthorEmpty);
        }
        if author_chars > MAX_AUTHOR_CHARS {
            return Err(PostError::AuthorTooLong(author_chars));
        }
        if self.author.chars().any(char::is_control) {
            return Err(PostError::AuthorControlChar);
        }
        if let Some(c) = self.author.chars().find(|&c| get_general_category(c) == GeneralCategory::Format) {
            return Err(PostError::AuthorFormatChar(u32::from(c)));
        }
        if self.timestamp_ms > crate::json::MAX_TIMESTAMP_MS {
            return Err(PostError::TimestampOutOfRange(self.timestamp_ms));
        }
        let content_chars = self.content.chars().count();
        if self.content.trim().is_empty() {
            return Err(PostError::ContentEmpty);
        }
        if content_chars > MAX_CONTENT_CHARS {
            return Err(PostError::ContentTooLong(content_chars));
        }
        if self.content.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(PostError::ContentControlChar);
        }
        Ok(())
    }

    /// The canonical encoding (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.unstamped_bytes();
        out.extend_from_slice(&self.stamp.bits.0.to_le_bytes());
        out.extend_from_slice(&self.stamp.nonce.to_le_bytes());
        out
    }

    /// The encoding without the stamp: what the stamp commits to.
    pub fn unstamped_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_unsigned_part(&mut out);
        if let Some(sig) = &self.signature {
            out.extend_from_slice(&sig.signature);
        }
        out
    }

    /// Length of [`Post::to_bytes`] without building it.
    pub fn encoded_len(&self) -> usize {
        let signature = if self.signature.is_some() { 96 } else { 0 };
        1 + 2 + self.author.len() + 2 + self.content.len() + 8 + signature + STAMP_BYTES
    }

    fn write_unsigned_part(&self, out: &mut Vec<u8>) {
        out.push(if self.signature.is_some() { FORMAT_SIGNED } else { FORMAT_UNSIGNED });
        // Lengths fit: decoding and the field rules bound them far below u16::MAX.
        out.extend_from_slice(&(self.author.len() as u16).to_le_bytes());
        out.extend_from_slice(self.author.as_bytes());
        out.extend_from_slice(&(self.content.len() as u16).to_le_bytes());
        out.extend_from_slice(self.content.as_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        if let Some(sig) = &self.signature {
            out.extend_from_slice(&sig.public_key);
        }
    }

    /// What a signature covers: [`SIGNING_DOMAIN`], the chain id, then the
    /// encoding up to the signature.
    pub fn signing_bytes(&self, chain_id: &BlockHash) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + 32 + self.encoded_len());
        out.extend_from_slice(SIGNING_DOMAIN);
        out.extend_from_slice(chain_id.as_bytes());
        self.write_unsigned_part(&mut out);
        out
    }

    /// SHA-256 of the canonical encoding.
    pub fn txid(&self) -> TxId {
        TxId::from_bytes(sha256(&self.to_bytes()))
    }

    /// Decodes exactly one post.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let post = Self::read(&mut r)?;
        r.finish()?;
        Ok(post)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let format = r.u8("post format")?;
        if format > FORMAT_SIGNED {
            return Err(DecodeError::UnknownPostFormat(format));
        }
        let author = r.string(MAX_AUTHOR_BYTES, "post author")?;
        let content = r.string(MAX_CONTENT_BYTES, "post content")?;
        let timestamp_ms = r.u64("post timestamp")?;
        let signature = if format == FORMAT_SIGNED {
            Some(PostSignature { public_key: r.array("post public key")?, signature: r.array("post signature")? })
        } else {
            None
        };
        let stamp = Stamp { bits: CompactTarget(r.u32("post stamp bits")?), nonce: r.u64("post stamp nonce")? };
        Ok(Self { author, content, timestamp_ms, signature, stamp })
    }

    /// The work the stamp declares (its target's work; zero when the bits do
    /// not decode). Only meaningful once [`Post::validate`] passed.
    pub fn stamp_work(&self) -> Work {
        self.stamp.bits.to_target().map_or(Work::ZERO, |t| t.work())
    }

    /// The stamp's work per encoded byte: how the mempool ranks the post.
    pub fn stamp_rate(&self) -> StampRate {
        StampRate::new(self.stamp_work(), self.encoded_len())
    }

    /// The first [`KEY_ID_HEX_DIGITS`] hex digits of the public key: how the
    /// page shows who signed.
    pub fn key_id(&self) -> Option<String> {
        self.signature.as_ref().map(|s| key_id_of(&s.public_key))
    }
}

fn key_id_of(public_key: &[u8; 32]) -> String {
    hex::encode(&public_key[..KEY_ID_HEX_DIGITS / 2])
}

/// The key id ([`Post::key_id`]) that posts signed with this Ed25519 secret
/// key show. The page shows it next to the compose form, so a person can
/// recognise their own posts.
pub fn public_key_id(secret_key: &[u8; 32]) -> String {
    key_id_of(&SigningKey::from_bytes(secret_key).verifying_key().to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::params::Network;

    const SECRET: [u8; 32] = [7; 32];

    fn dev() -> Params {
        Params::for_network(Network::Dev)
    }

    fn chain() -> BlockHash {
        dev().chain_id()
    }

    #[test]
    fn public_key_id_matches_signed_posts() {
        let post = Post::new_signed("a", "b", 1, &SECRET, &chain()).unwrap();
        assert_eq!(post.key_id().as_deref(), Some(public_key_id(&SECRET).as_str()));
    }

    #[test]
    fn field_rules() {
        assert!(Post::new("alice", "hello", 1).is_ok());
        assert_eq!(Post::new("", "x", 1), Err(PostError::AuthorEmpty));
        assert_eq!(Post::new("  ", "x", 1), Err(PostError::AuthorEmpty));
        assert_eq!(Post::new(&"a".repeat(65), "x", 1), Err(PostError::AuthorTooLong(65)));
        assert!(Post::new(&"é".repeat(64), "x", 1).is_ok());
        assert_eq!(Post::new("a\u{7}", "x", 1), Err(PostError::AuthorControlChar));
        assert_eq!(Post::new("a", "", 1), Err(PostError::ContentEmpty));
        assert_eq!(Post::new("a", "\n\t", 1), Err(PostError::ContentEmpty));
        assert_eq!(Post::new("a", &"x".repeat(1001), 1), Err(PostError::ContentTooLong(1001)));
        assert!(Post::new("a", &"日".repeat(1000), 1).is_ok());
        assert!(Post::new("a", "line\nline\r\n\ttab", 1).is_ok());
        assert_eq!(Post::new("a", "nul\0", 1), Err(PostError::ContentControlChar));
        let late = crate::json::MAX_TIMESTAMP_MS + 1;
        assert_eq!(Post::new("a", "x", late), Err(PostError::TimestampOutOfRange(late)));
    }

    #[test]
    fn signed_post_verifies_and_tampering_breaks_it() {
        let post = Post::new_signed("alice", "hi", 5, &SECRET, &chain()).unwrap();
        post.verify_signature(&chain()).unwrap();
        let mut edited = post.clone();
        edited.content = "ho".into();
        assert_eq!(edited.verify_signature(&chain()), Err(PostError::BadSignature));
        let mut bad_key = post.clone();
        if let Some(s) = bad_key.signature.as_mut() {
            // y = 2 is not the encoding of a curve point.
            s.public_key = [0; 32];
            s.public_key[0] = 2;
        }
        assert!(matches!(bad_key.verify_signature(&chain()), Err(PostError::BadPublicKey | PostError::BadSignature)));
        assert_eq!(post.key_id().unwrap().len(), 16);
    }

    #[test]
    fn a_signature_is_good_on_its_own_network_only() {
        let main = Params::for_network(Network::Main).chain_id();
        let post = Post::new_signed("alice", "hi", 5, &SECRET, &chain()).unwrap();
        assert_eq!(post.verify_signature(&chain()), Ok(()));
        assert_eq!(post.verify_signature(&main), Err(PostError::BadSignature));
        let signing = post.signing_bytes(&chain());
        assert!(signing.starts_with(SIGNING_DOMAIN));
        assert_eq!(&signing[SIGNING_DOMAIN.len()..SIGNING_DOMAIN.len() + 32], chain().as_bytes());
    }

    #[test]
    fn invisible_formatting_characters_are_refused_in_author_names() {
        for c in ['\u{202E}', '\u{2066}', '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{00AD}', '\u{061C}'] {
            let name = format!("ali{c}ce");
            assert_eq!(Post::new(&name, "x", 1), Err(PostError::AuthorFormatChar(u32::from(c))), "U+{:04X}", c as u32);
        }
        // Visible non-ASCII names stay welcome; content may hold emoji sequences.
        assert!(Post::new("Zoë 日本 عربي", "👩\u{200D}💻", 1).is_ok());
    }

    #[test]
    fn validate_checks_fields_then_stamp_then_signature() {
        let params = dev();
        let unstamped = Post::new_signed("alice", "hi", 5, &SECRET, &chain()).unwrap();
        assert!(matches!(unstamped.validate(&params), Err(PostError::Stamp(_))));
        let stamped = crate::stamp::stamp_post(unstamped, &params, 1);
        assert!(stamped.validate(&params).is_ok());
        let mut forged = stamped.clone();
        forged.content = "ho".into();
        let forged = crate::stamp::stamp_post(forged, &params, 1);
        assert_eq!(forged.validate(&params), Err(PostError::BadSignature));
        let mut bad_fields = stamped;
        bad_fields.author = String::new();
        assert_eq!(bad_fields.validate(&params), Err(PostError::AuthorEmpty));
    }

    #[test]
    fn encoding_round_trips_and_txid_covers_signature() {
        let unsigned = Post::new("bob", "hello", 1_700_000_000_000).unwrap();
        let bytes = unsigned.to_bytes();
        assert_eq!(bytes.len(), unsigned.encoded_len());
        assert_eq!(bytes[0], 0);
        assert_eq!(Post::from_bytes(&bytes).unwrap(), unsigned);
        let signed = Post::new_signed("bob", "hello", 1_700_000_000_000, &SECRET, &chain()).unwrap();
        assert_eq!(Post::from_bytes(&signed.to_bytes()).unwrap(), signed);
        assert_ne!(signed.txid(), unsigned.txid());
        let mut resigned = signed.clone();
        resigned.signature.as_mut().unwrap().signature[0] ^= 1;
        assert_ne!(resigned.txid(), signed.txid());
        let mut restamped = signed.clone();
        restamped.stamp.nonce = 9;
        assert_ne!(restamped.txid(), signed.txid());
        assert_eq!(&restamped.to_bytes()[signed.encoded_len() - 12..], &[0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(restamped.unstamped_bytes(), signed.unstamped_bytes());
    }

    #[test]
    fn decode_errors_are_typed() {
        let bytes = Post::new("bob", "hello", 1).unwrap().to_bytes();
        assert!(matches!(Post::from_bytes(&bytes[..5]), Err(DecodeError::UnexpectedEnd { .. })));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(Post::from_bytes(&trailing), Err(DecodeError::TrailingBytes(1)));
        let mut format = bytes.clone();
        format[0] = 9;
        assert_eq!(Post::from_bytes(&format), Err(DecodeError::UnknownPostFormat(9)));
        let mut utf8 = bytes.clone();
        utf8[3] = 0xff;
        assert!(matches!(Post::from_bytes(&utf8), Err(DecodeError::InvalidUtf8 { .. })));
        let mut long = vec![0u8];
        long.extend_from_slice(&5000u16.to_le_bytes());
        assert!(matches!(Post::from_bytes(&long), Err(DecodeError::TooLong { .. })));
    }
}
