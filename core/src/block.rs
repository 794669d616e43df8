//! Blocks: a header and the posts it commits to, with their binary encoding.
//!
//! Encoding: the 96-byte header, a `u32` little-endian post count, then each
//! post's canonical encoding (posts are self-delimiting).

use crate::encode::{DecodeError, Reader};
use crate::hash::{BlockHash, MerkleRoot, TxId};
use crate::header::{BlockHeader, HEADER_BYTES};
use crate::merkle::merkle_root;
use crate::post::Post;

/// Most posts the binary decoder accepts before any network rule applies.
pub const MAX_DECODE_POSTS: usize = 65_535;

/// A header and its posts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    /// What the proof of work covers.
    pub header: BlockHeader,
    /// The posts, in the order the Merkle root commits to.
    pub posts: Vec<Post>,
}

impl Block {
    /// The header hash.
    pub fn hash(&self) -> BlockHash {
        self.header.hash()
    }

    /// Ids of the posts, in order.
    pub fn txids(&self) -> Vec<TxId> {
        self.posts.iter().map(Post::txid).collect()
    }

    /// The Merkle root the posts call for (compare with `header.merkle_root`).
    pub fn compute_merkle_root(&self) -> MerkleRoot {
        merkle_root(&self.txids())
    }

    /// Size of the binary encoding: what the block size limit counts.
    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES + 4 + self.posts.iter().map(Post::encoded_len).sum::<usize>()
    }

    /// The binary encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&self.header.to_bytes());
        out.extend_from_slice(&(self.posts.len() as u32).to_le_bytes());
        for post in &self.posts {
            out.extend_from_slice(&post.to_bytes());
        }
        out
    }

    /// Decodes exactly one block.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let header = BlockHeader::read(&mut r)?;
        let count = r.u32("post count")? as usize;
        if count > MAX_DECODE_POSTS {
            return Err(DecodeError::TooLong { what: "post count", len: count, max: MAX_DECODE_POSTS });
        }
        // Each post takes at least 13 bytes: never trust the count for the allocation.
        let mut posts = Vec::with_capacity(count.min(r.remaining() / 13));
        for _ in 0..count {
            posts.push(Post::read(&mut r)?);
        }
        r.finish()?;
        Ok(Self { header, posts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::CompactTarget;

    fn block() -> Block {
        let posts = vec![Post::new("a", "one", 1).unwrap(), Post::new("b", "two", 2).unwrap()];
        let header = BlockHeader {
            version: 1,
            height: 3,
            prev_hash: BlockHash::from_bytes([9; 32]),
            merkle_root: merkle_root(&posts.iter().map(Post::txid).collect::<Vec<_>>()),
            timestamp_ms: 10,
            bits: CompactTarget(0x207fffff),
            nonce: 4,
        };
        Block { header, posts }
    }

    #[test]
    fn round_trip_and_length() {
        let b = block();
        let bytes = b.to_bytes();
        assert_eq!(bytes.len(), b.encoded_len());
        assert_eq!(Block::from_bytes(&bytes).unwrap(), b);
        assert_eq!(b.compute_merkle_root(), b.header.merkle_root);
    }

    #[test]
    fn decode_errors() {
        let bytes = block().to_bytes();
        assert!(matches!(Block::from_bytes(&bytes[..50]), Err(DecodeError::UnexpectedEnd { .. })));
        assert!(matches!(Block::from_bytes(&bytes[..bytes.len() - 1]), Err(DecodeError::UnexpectedEnd { .. })));
        let mut more = bytes.clone();
        more.extend_from_slice(&[1, 2]);
        assert_eq!(Block::from_bytes(&more), Err(DecodeError::TrailingBytes(2)));
        let mut huge = bytes[..96].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(Block::from_bytes(&huge), Err(DecodeError::TooLong { .. })));
    }
}
