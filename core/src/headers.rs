//! Header chains checked without their bodies: how a node learns what a
//! branch's proof of work is worth before it asks for (or keeps) a single
//! block of it ("headers first").
//!
//! A [`HeaderTip`] is the end of a header chain with everything the next
//! header's rules need: height, target, the last two timestamps (the
//! retarget rule) and the last [`Params::median_time_span`] timestamps (the
//! median time past), plus the chain's cumulative work. [`HeaderTip::extend`]
//! checks one more header against it, cheapest first — link, height,
//! version, target rule, proof of work, time — the same header rules
//! [`crate::validate`] applies to whole blocks. Nothing here needs the tree:
//! a sync checks a peer's headers one by one from the block where they fork
//! off, keeping only the tip.

use crate::hash::BlockHash;
use crate::header::{BlockHeader, HEADER_VERSION};
use crate::params::Params;
use crate::retarget::next_target;
use crate::target::{CompactTarget, Target, TargetError, Work};
use crate::validate::median_time;
use std::collections::VecDeque;

/// Why a header does not extend a header chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Its parent is not the chain's tip.
    #[error("header {hash} builds on {prev_hash}, not on {tip}")]
    DoesNotConnect {
        /// The header's hash.
        hash: BlockHash,
        /// Its parent.
        prev_hash: BlockHash,
        /// The tip it was to extend.
        tip: BlockHash,
    },
    /// The height is not the tip's plus one.
    #[error("header {hash} has height {got}, expected {expected}")]
    BadHeight {
        /// The header's hash.
        hash: BlockHash,
        /// The tip's height + 1.
        expected: u64,
        /// The header's height.
        got: u64,
    },
    /// The version is not one this code knows.
    #[error("header {hash} has version {version}")]
    BadVersion {
        /// The header's hash.
        hash: BlockHash,
        /// Its version.
        version: u32,
    },
    /// The target is not what the retarget rule gives.
    #[error("header {hash} has target {got}, the retarget rule requires {expected}")]
    WrongTarget {
        /// The header's hash.
        hash: BlockHash,
        /// What the rule gives.
        expected: CompactTarget,
        /// What the header has.
        got: CompactTarget,
    },
    /// The target does not decode.
    #[error("header {hash}: bad target: {error}")]
    BadTarget {
        /// The header's hash.
        hash: BlockHash,
        /// Why.
        error: TargetError,
    },
    /// The hash does not meet the target.
    #[error("header {hash} does not meet its target {bits}")]
    InsufficientProofOfWork {
        /// The header's hash.
        hash: BlockHash,
        /// Its target.
        bits: CompactTarget,
    },
    /// The timestamp is not after the median time past.
    #[error("header {hash} has timestamp {timestamp_ms} ms, not after the median time past {median_ms} ms")]
    TimestampTooOld {
        /// The header's hash.
        hash: BlockHash,
        /// Its time.
        timestamp_ms: u64,
        /// The median time past.
        median_ms: u64,
    },
    /// The timestamp is too far past the validating node's clock.
    #[error("header {hash} has timestamp {timestamp_ms} ms, more than the allowed drift ahead ({max_ms} ms)")]
    TimestampTooFarAhead {
        /// The header's hash.
        hash: BlockHash,
        /// Its time.
        timestamp_ms: u64,
        /// Latest acceptable time.
        max_ms: u64,
    },
}

/// The end of a checked header chain: what the next header's rules need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderTip {
    /// The tip's hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
    /// Its target.
    pub target: Target,
    /// Its timestamp.
    pub timestamp_ms: u64,
    /// Its parent's timestamp (`None` for genesis, whose child carries the
    /// genesis bits).
    pub parent_timestamp_ms: Option<u64>,
    /// The timestamps of the tip and its ancestors, oldest first, at most
    /// `median_time_span` of them.
    pub recent_times_ms: VecDeque<u64>,
    /// Cumulative work from genesis through the tip.
    pub chain_work: Work,
}

impl HeaderTip {
    /// The target bits a child of this tip must carry.
    pub fn next_bits(&self, params: &Params) -> CompactTarget {
        match self.parent_timestamp_ms {
            None => params.genesis_bits,
            Some(parent_ms) => {
                let solve = i128::from(self.timestamp_ms) - i128::from(parent_ms);
                let solve = solve.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
                next_target(&params.retarget(), self.target, solve).to_compact()
            }
        }
    }

    /// The median time past a child's timestamp must exceed.
    pub fn median_time_past(&self) -> u64 {
        median_time(self.recent_times_ms.iter().copied().collect())
    }

    /// Checks `header` as this tip's child (with the validating clock
    /// `now_ms`) and returns the new tip.
    pub fn extend(&self, params: &Params, header: &BlockHeader, now_ms: u64) -> Result<HeaderTip, HeaderError> {
        let hash = header.hash();
        if header.prev_hash != self.hash {
            return Err(HeaderError::DoesNotConnect { hash, prev_hash: header.prev_hash, tip: self.hash });
        }
        let expected = self.height + 1;
        if header.height != expected {
            return Err(HeaderError::BadHeight { hash, expected, got: header.height });
        }
        if header.version != HEADER_VERSION {
            return Err(HeaderError::BadVersion { hash, version: header.version });
        }
        let expected_bits = self.next_bits(params);
        if header.bits != expected_bits {
            return Err(HeaderError::WrongTarget { hash, expected: expected_bits, got: header.bits });
        }
        let target = header.bits.to_target().map_err(|error| HeaderError::BadTarget { hash, error })?;
        if target > params.easiest_target() || !target.is_met_by(&hash) {
            return Err(HeaderError::InsufficientProofOfWork { hash, bits: header.bits });
        }
        let median_ms = self.median_time_past();
        if header.timestamp_ms <= median_ms {
            return Err(HeaderError::TimestampTooOld { hash, timestamp_ms: header.timestamp_ms, median_ms });
        }
        let max_ms = now_ms.saturating_add(params.max_future_drift_ms);
        if header.timestamp_ms > max_ms {
            return Err(HeaderError::TimestampTooFarAhead { hash, timestamp_ms: header.timestamp_ms, max_ms });
        }
        let mut recent_times_ms = self.recent_times_ms.clone();
        recent_times_ms.push_back(header.timestamp_ms);
        while recent_times_ms.len() > params.median_time_span {
            recent_times_ms.pop_front();
        }
        Ok(HeaderTip {
            hash,
            height: header.height,
            target,
            timestamp_ms: header.timestamp_ms,
            parent_timestamp_ms: Some(self.timestamp_ms),
            recent_times_ms,
            chain_work: self.chain_work.saturating_add(target.work()),
        })
    }
}
