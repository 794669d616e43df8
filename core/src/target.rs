//! Proof-of-work targets and work.
//!
//! A block is valid when its hash, read as a big-endian 256-bit number, is at most
//! its [`Target`]. Headers carry the target in Bitcoin's compact "nBits" form
//! ([`CompactTarget`]); the expected number of hashes to meet a target is its
//! [`Work`], and the best chain is the one with the most cumulative work.

use crate::hash::BlockHash;
use ruint::aliases::U256;
use std::fmt;

/// Why a compact target does not stand for a usable target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The mantissa's sign bit is set (negative targets do not exist).
    #[error("compact target {0:#010x} is negative")]
    Negative(u32),
    /// The value does not fit in 256 bits.
    #[error("compact target {0:#010x} overflows 256 bits")]
    Overflow(u32),
    /// The value is zero, which no hash can meet.
    #[error("compact target {0:#010x} is zero")]
    Zero(u32),
}

/// A target in Bitcoin's compact form: one exponent byte (length in bytes), then a
/// 3-byte big-endian mantissa whose top bit is a sign bit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct CompactTarget(pub u32);

impl CompactTarget {
    /// Decodes to the full 256-bit target, refusing negative, overflowing and zero values.
    pub fn to_target(self) -> Result<Target, TargetError> {
        let bits = self.0;
        let size = bits >> 24;
        let word = bits & 0x007f_ffff;
        if word != 0 && bits & 0x0080_0000 != 0 {
            return Err(TargetError::Negative(bits));
        }
        if word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)) {
            return Err(TargetError::Overflow(bits));
        }
        let value = if size <= 3 {
            U256::from(word >> (8 * (3 - size)))
        } else {
            U256::from(word) << (8 * (size as usize - 3))
        };
        if value.is_zero() {
            return Err(TargetError::Zero(bits));
        }
        Ok(Target(value))
    }

    /// Eight lowercase hex digits, the way the JSON view shows it.
    pub fn to_hex(self) -> String {
        format!("{:08x}", self.0)
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A full 256-bit proof-of-work target: a hash at most this value meets it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Target(U256);

impl Target {
    /// Wraps a 256-bit value (callers keep it non-zero).
    pub const fn from_u256(value: U256) -> Self {
        Self(value)
    }

    /// The value as a 256-bit integer.
    pub const fn as_u256(&self) -> U256 {
        self.0
    }

    /// Big-endian bytes, comparable byte-wise with a block hash.
    pub fn to_be_bytes(&self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// Whether `hash`, read big-endian, is at most this target.
    pub fn is_met_by(&self, hash: &BlockHash) -> bool {
        hash.as_bytes() <= &self.to_be_bytes()
    }

    /// The canonical compact form; precision below the top 23 bits is dropped.
    pub fn to_compact(&self) -> CompactTarget {
        let mut size = self.0.byte_len() as u32;
        let mut compact: u32 = if size <= 3 {
            (self.0.as_limbs()[0] << (8 * (3 - size))) as u32
        } else {
            let shifted = self.0 >> (8 * (size as usize - 3));
            shifted.as_limbs()[0] as u32
        };
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        CompactTarget(compact | (size << 24))
    }

    /// Expected hashes to find a block at this target: 2^256 / (target + 1).
    pub fn work(&self) -> Work {
        if self.0 == U256::MAX {
            return Work(U256::from(1u8));
        }
        Work((!self.0) / (self.0 + U256::from(1u8)) + U256::from(1u8))
    }

    /// Expected hashes as a float, for display (difficulty, expected time per block).
    pub fn expected_hashes(&self) -> f64 {
        self.work().to_f64()
    }
}

/// Amount of proof of work: expected hashes, summed along a chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Work(U256);

impl Work {
    /// No work at all.
    pub const ZERO: Self = Self(U256::ZERO);

    /// Sum, saturating (real chains never come close to 2^256).
    pub fn saturating_add(self, other: Work) -> Work {
        Work(self.0.saturating_add(other.0))
    }

    /// The value as a 256-bit integer.
    pub const fn as_u256(&self) -> U256 {
        self.0
    }

    /// Wraps a 256-bit amount of work.
    pub const fn from_u256(value: U256) -> Self {
        Self(value)
    }

    /// Approximate value as a float.
    pub fn to_f64(&self) -> f64 {
        f64::from(self.0)
    }

    /// 64 lowercase hex digits, big-endian: how `total_work` travels in `Hello`.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_be_bytes::<32>())
    }

    /// Parses [`Work::to_hex`] output.
    pub fn from_hex(s: &str) -> Result<Work, crate::hash::HashParseError> {
        crate::hash::parse_hex32(s).map(|b| Work(U256::from_be_bytes(b)))
    }
}

impl serde::Serialize for Work {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Work {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Work::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitcoin_genesis_bits_decode_and_reencode() {
        let t = CompactTarget(0x1d00ffff).to_target().unwrap();
        assert_eq!(hex::encode(t.to_be_bytes()), "00000000ffff0000000000000000000000000000000000000000000000000000");
        assert_eq!(t.to_compact(), CompactTarget(0x1d00ffff));
        // Bitcoin's genesis work is 0x100010001.
        assert_eq!(t.work().as_u256(), U256::from(0x1_0001_0001u64));
    }

    #[test]
    fn compact_edge_cases_match_bitcoin() {
        // Vectors from Bitcoin Core's arith_uint256 tests.
        assert_eq!(CompactTarget(0x0112_3456).to_target().unwrap().as_u256(), U256::from(0x12u8));
        assert_eq!(CompactTarget(0x0412_3456).to_target().unwrap().as_u256(), U256::from(0x1234_5600u32));
        assert_eq!(CompactTarget(0x0500_9234).to_target().unwrap().as_u256(), U256::from(0x9234_0000u64));
        assert_eq!(CompactTarget(0x0492_3456).to_target(), Err(TargetError::Negative(0x0492_3456)));
        assert_eq!(CompactTarget(0xff12_3456).to_target(), Err(TargetError::Overflow(0xff12_3456)));
        assert_eq!(CompactTarget(0x0000_0000).to_target(), Err(TargetError::Zero(0)));
        assert_eq!(CompactTarget(0x0100_3456).to_target(), Err(TargetError::Zero(0x0100_3456)));
        // Encoding moves a set sign bit into the exponent.
        assert_eq!(Target::from_u256(U256::from(0x80u8)).to_compact(), CompactTarget(0x0200_8000));
        assert_eq!(Target::from_u256(U256::from(0x1234_5600u32)).to_compact(), CompactTarget(0x0412_3456));
    }

    #[test]
    fn is_met_by_compares_big_endian() {
        let t = CompactTarget(0x1d00ffff).to_target().unwrap();
        let mut below = [0u8; 32];
        below[4] = 0xff;
        below[5] = 0xff;
        assert!(t.is_met_by(&BlockHash::from_bytes(below)));
        below[6] = 1;
        assert!(!t.is_met_by(&BlockHash::from_bytes(below)));
    }

    #[test]
    fn work_hex_round_trip() {
        let w = CompactTarget(0x207fffff).to_target().unwrap().work();
        assert_eq!(w.as_u256(), U256::from(2u8));
        assert_eq!(Work::from_hex(&w.to_hex()).unwrap(), w);
        assert!(Work::from_hex("xyz").is_err());
    }
}
