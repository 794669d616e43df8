//! The 96-byte block header, its consensus encoding and its hash.
//!
//! Layout (all integers little-endian):
//!
//! | offset | size | field        |
//! |-------:|-----:|--------------|
//! | 0      | 4    | version      |
//! | 4      | 8    | height       |
//! | 12     | 32   | prev_hash    |
//! | 44     | 32   | merkle_root  |
//! | 76     | 8    | timestamp_ms |
//! | 84     | 4    | bits (compact target) |
//! | 88     | 8    | nonce        |
//!
//! The nonce lies in the second 64-byte SHA-256 block, so a miner compresses the
//! first 64 bytes once (the midstate) and only the second block per nonce.

use crate::encode::{DecodeError, Reader};
use crate::hash::{BlockHash, MerkleRoot, sha256};
use crate::target::CompactTarget;

/// Encoded header size in bytes.
pub const HEADER_BYTES: usize = 96;
/// Offset of the nonce within the encoded header.
pub const NONCE_OFFSET: usize = 88;
/// The header version this code produces and accepts.
pub const HEADER_VERSION: u32 = 1;

/// Why bytes are not a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Not exactly 96 bytes.
    #[error("a header is {HEADER_BYTES} bytes, got {0}")]
    Length(usize),
}

/// Everything a block's proof of work commits to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlockHeader {
    /// Format version, [`HEADER_VERSION`].
    pub version: u32,
    /// Distance from genesis (genesis is 0).
    pub height: u64,
    /// Hash of the parent block (zero for genesis).
    pub prev_hash: BlockHash,
    /// Merkle root over the block's post ids.
    pub merkle_root: MerkleRoot,
    /// Miner's clock, Unix milliseconds.
    pub timestamp_ms: u64,
    /// Proof-of-work target in compact form.
    pub bits: CompactTarget,
    /// Varied by the miner until the hash meets the target.
    pub nonce: u64,
}

impl BlockHeader {
    /// The consensus encoding (see the module docs for the layout).
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[0..4].copy_from_slice(&self.version.to_le_bytes());
        out[4..12].copy_from_slice(&self.height.to_le_bytes());
        out[12..44].copy_from_slice(self.prev_hash.as_bytes());
        out[44..76].copy_from_slice(self.merkle_root.as_bytes());
        out[76..84].copy_from_slice(&self.timestamp_ms.to_le_bytes());
        out[84..88].copy_from_slice(&self.bits.0.to_le_bytes());
        out[NONCE_OFFSET..96].copy_from_slice(&self.nonce.to_le_bytes());
        out
    }

    /// Decodes exactly 96 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() != HEADER_BYTES {
            return Err(HeaderError::Length(bytes.len()));
        }
        let mut r = Reader::new(bytes);
        Self::read(&mut r).map_err(|_| HeaderError::Length(bytes.len()))
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            version: r.u32("header version")?,
            height: r.u64("header height")?,
            prev_hash: BlockHash::from_bytes(r.array("header prev_hash")?),
            merkle_root: MerkleRoot::from_bytes(r.array("header merkle_root")?),
            timestamp_ms: r.u64("header timestamp")?,
            bits: CompactTarget(r.u32("header bits")?),
            nonce: r.u64("header nonce")?,
        })
    }

    /// SHA-256 of the encoding: the block's identity and proof of work.
    pub fn hash(&self) -> BlockHash {
        BlockHash::from_bytes(sha256(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> BlockHeader {
        BlockHeader {
            version: 1,
            height: 0x0102_0304_0506_0708,
            prev_hash: BlockHash::from_bytes([0x11; 32]),
            merkle_root: MerkleRoot::from_bytes([0x22; 32]),
            timestamp_ms: 1_764_000_000_123,
            bits: CompactTarget(0x1d1c_a1f3),
            nonce: 0xdead_beef_cafe_f00d,
        }
    }

    #[test]
    fn layout_is_little_endian_in_documented_order() {
        let b = sample().to_bytes();
        assert_eq!(&b[0..4], &[1, 0, 0, 0]);
        assert_eq!(&b[4..12], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&b[12..44], &[0x11; 32]);
        assert_eq!(&b[44..76], &[0x22; 32]);
        assert_eq!(&b[76..84], &1_764_000_000_123u64.to_le_bytes());
        assert_eq!(&b[84..88], &[0xf3, 0xa1, 0x1c, 0x1d]);
        assert_eq!(&b[88..96], &[0x0d, 0xf0, 0xfe, 0xca, 0xef, 0xbe, 0xad, 0xde]);
    }

    #[test]
    fn round_trip_and_length_errors() {
        let h = sample();
        assert_eq!(BlockHeader::from_bytes(&h.to_bytes()).unwrap(), h);
        assert_eq!(BlockHeader::from_bytes(&[0; 95]), Err(HeaderError::Length(95)));
        assert_eq!(BlockHeader::from_bytes(&[0; 97]), Err(HeaderError::Length(97)));
    }

    #[test]
    fn hash_is_sha256_of_encoding() {
        let h = sample();
        assert_eq!(h.hash().as_bytes(), &sha256(&h.to_bytes()));
    }
}
