//! 32-byte hash newtypes and the one SHA-256 helper everything hashes with.
//!
//! Hashes are shown and parsed as 64 lowercase hex characters in the order the
//! SHA-256 digest produces its bytes, which is the digest read as a big-endian
//! 256-bit number: a block hash that meets a hard target starts with zeros.

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Why a hex string is not a 32-byte hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    /// The string does not have exactly 64 characters.
    #[error("hash must be 64 hex characters, got {0}")]
    Length(usize),
    /// A character is not a hex digit.
    #[error("hash is not hex: {0}")]
    NotHex(String),
}

/// SHA-256 of `data`, the digest bytes in their natural order.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Parses exactly 32 bytes from 64 hex characters (either case).
pub(crate) fn parse_hex32(s: &str) -> Result<[u8; 32], HashParseError> {
    if s.len() != 64 {
        return Err(HashParseError::Length(s.len()));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|e| HashParseError::NotHex(e.to_string()))?;
    Ok(out)
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; 32]);

        impl $name {
            /// All zero bytes (the genesis block's `prev_hash`).
            pub const ZERO: Self = Self([0; 32]);

            /// Wraps digest bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The digest bytes.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// 64 lowercase hex characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = HashParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex32(s).map(Self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

hash_newtype!(
    /// SHA-256 of a block's 96-byte header; identifies the block.
    BlockHash
);
hash_newtype!(
    /// SHA-256 of a post's canonical bytes; identifies the post.
    TxId
);
hash_newtype!(
    /// Root of the Merkle tree over a block's post ids.
    MerkleRoot
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc_matches_fips_vector() {
        assert_eq!(hex::encode(sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = BlockHash::from_bytes(sha256(b"x"));
        assert_eq!(h.to_hex().parse::<BlockHash>().unwrap(), h);
        assert_eq!("ab".parse::<BlockHash>(), Err(HashParseError::Length(2)));
        assert!(matches!("zz".repeat(32).parse::<BlockHash>(), Err(HashParseError::NotHex(_))));
        let upper = h.to_hex().to_uppercase();
        assert_eq!(upper.parse::<BlockHash>().unwrap(), h);
    }

    #[test]
    fn serde_uses_hex_strings() {
        let h = TxId::from_bytes([0xab; 32]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), h);
        assert!(serde_json::from_str::<TxId>("\"00\"").is_err());
        assert!(serde_json::from_str::<TxId>("12").is_err());
    }
}
