//! Hashcash stamps: the proof of work every post pays, so that spam costs
//! the spammer, not the network.
//!
//! A post carries a [`Stamp`]: compact target `bits` and a `nonce`. The stamp
//! is valid when
//!
//! 1. `bits` decodes to a target whose work ([`Target::work`]) is at least
//!    [`required_work`]: the network's `stamp_work_per_byte` times the post's
//!    encoded size, counting at least [`STAMP_MIN_BYTES`] bytes; and
//! 2. the SHA-256 of the post's *stamp header* meets that target.
//!
//! The stamp header has the 96-byte layout of a block header, so the block
//! miners' kernels (midstate, SIMD lanes) mine stamps unchanged:
//!
//! | header field | stamp header holds |
//! |---|---|
//! | version      | [`STAMP_HEADER_VERSION`] (never a block's version) |
//! | height       | the post's encoded size in bytes |
//! | prev_hash    | the chain id (genesis hash): a stamp is good on one network |
//! | merkle_root  | SHA-256 of the post's encoding without its stamp (the post digest) |
//! | timestamp_ms | the post's timestamp |
//! | bits         | the stamp's bits |
//! | nonce        | the stamp's nonce |
//!
//! A stamp's *work* is the work of its declared target, not of the hash it
//! happened to find: every post with the same bits paid the same expected
//! price. The mempool ranks posts by work per byte ([`StampRate`]).

use crate::hash::{BlockHash, MerkleRoot, sha256};
use crate::header::BlockHeader;
use crate::mining::{Kernel, MiningJob};
use crate::params::Params;
use crate::post::Post;
use crate::target::{CompactTarget, Target, TargetError, Work};
use ruint::aliases::U256;

/// The stamp header's `version` field: "STMP" in ASCII, read little-endian.
/// Blocks must carry [`crate::header::HEADER_VERSION`], so a stamp header
/// can never pass as a block header.
pub const STAMP_HEADER_VERSION: u32 = u32::from_le_bytes(*b"STMP");
/// Posts shorter than this pay as if they were this long: a short post
/// costs the same as a medium one, and the floor sets the minimum price.
pub const STAMP_MIN_BYTES: usize = 128;
/// Bytes a stamp adds to a post's encoding (`u32` bits, `u64` nonce).
pub const STAMP_BYTES: usize = 12;
/// How many times the minimum work the page and the native node stamp their
/// own posts with by default: it ranks them above posts that pay only the
/// minimum (the cheapest flood), at a few seconds of one browser worker.
pub const DEFAULT_STAMP_FACTOR: u64 = 4;
/// Most a host may multiply the minimum by (a bound on how long stamping
/// one post can take when a caller asks for more).
pub const MAX_STAMP_FACTOR: u64 = 1 << 20;

/// Why a post's stamp is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StampError {
    /// The bits do not decode to a target.
    #[error("stamp target {bits} is not a valid compact target: {error}")]
    BadTarget {
        /// The stamp's bits.
        bits: CompactTarget,
        /// Why they do not decode.
        error: TargetError,
    },
    /// The declared target is easier than the post's size requires.
    #[error("stamp target {bits} is too easy: a post of {bytes} bytes needs {required} hashes of work")]
    TooEasy {
        /// The stamp's bits.
        bits: CompactTarget,
        /// The post's encoded size.
        bytes: usize,
        /// The work the size requires, in expected hashes.
        required: u64,
    },
    /// The stamp header's hash does not meet the declared target.
    #[error("stamp hash {hash} does not meet its target {bits}")]
    NotMet {
        /// The stamp header's hash.
        hash: BlockHash,
        /// The stamp's bits.
        bits: CompactTarget,
    },
}

/// A post's proof of work: the target it paid for and the nonce that meets it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct Stamp {
    /// The declared target, compact.
    pub bits: CompactTarget,
    /// Varied by the stamper until the stamp header's hash meets `bits`.
    pub nonce: u64,
}

impl Stamp {
    /// No stamp yet: bits 0 decode to no usable target, so a post carrying
    /// it is refused until [`stamp_post`] (or a worker) stamps it.
    pub const NONE: Stamp = Stamp { bits: CompactTarget(0), nonce: 0 };
}

/// Work per byte of a stamp, scaled by 2^16 so that posts of different
/// sizes compare without rounding ties away: how the mempool ranks posts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct StampRate(U256);

impl StampRate {
    /// The lowest rate (an unstamped or invalid post).
    pub const ZERO: StampRate = StampRate(U256::ZERO);

    /// `work` spread over `bytes` bytes.
    pub fn new(work: Work, bytes: usize) -> StampRate {
        let bytes = U256::from(bytes.max(1) as u64);
        StampRate(work.as_u256().saturating_mul(U256::from(1u64 << 16)) / bytes)
    }

    /// Approximate hashes per byte, for display.
    pub fn hashes_per_byte(&self) -> f64 {
        f64::from(self.0) / 65_536.0
    }
}

/// The least work a stamp on a post of `bytes` encoded bytes must declare.
pub fn required_work(params: &Params, bytes: usize) -> u64 {
    params.stamp_work_per_byte.saturating_mul(bytes.max(STAMP_MIN_BYTES) as u64)
}

/// The compact target a stamp needs to declare `factor` times the required
/// work for a post of `bytes` bytes. Compact form keeps only the top bits of
/// the target and rounds it down, so the declared work is never below the
/// request.
pub fn bits_for(params: &Params, bytes: usize, factor: u64) -> CompactTarget {
    let work = required_work(params, bytes).saturating_mul(factor.clamp(1, MAX_STAMP_FACTOR)).max(1);
    // work(T) = 2^256 / (T + 1), so T = 2^256 / work - 1 declares at least `work`.
    let target = (U256::MAX / U256::from(work)).saturating_sub(U256::from(1u8)).max(U256::from(1u8));
    Target::from_u256(target).to_compact()
}

/// SHA-256 of the post's encoding without its stamp: what the stamp commits to.
pub fn post_digest(post: &Post) -> MerkleRoot {
    MerkleRoot::from_bytes(sha256(&post.unstamped_bytes()))
}

/// The 96-byte preimage whose hash must meet the stamp's target (see the
/// module docs for the layout).
pub fn stamp_header(post: &Post, chain_id: &BlockHash) -> BlockHeader {
    BlockHeader {
        version: STAMP_HEADER_VERSION,
        height: post.encoded_len() as u64,
        prev_hash: *chain_id,
        merkle_root: post_digest(post),
        timestamp_ms: post.timestamp_ms,
        bits: post.stamp.bits,
        nonce: post.stamp.nonce,
    }
}

/// Checks the post's stamp against `params` (whose chain id is `chain_id`,
/// passed in because computing it builds the genesis block) and returns the
/// work it declares. Costs two SHA-256 runs over the post: cheap next to a
/// signature.
pub fn check_stamp(post: &Post, params: &Params, chain_id: &BlockHash) -> Result<Work, StampError> {
    let bits = post.stamp.bits;
    let target = bits.to_target().map_err(|error| StampError::BadTarget { bits, error })?;
    let work = target.work();
    let bytes = post.encoded_len();
    let required = required_work(params, bytes);
    if work < Work::from_u256(U256::from(required)) {
        return Err(StampError::TooEasy { bits, bytes, required });
    }
    let hash = stamp_header(post, chain_id).hash();
    if !target.is_met_by(&hash) {
        return Err(StampError::NotMet { hash, bits });
    }
    Ok(work)
}

/// A nonce search for `post`'s stamp at `factor` times the required work:
/// the job's header is the stamp header with the bits set. Mine ranges of it
/// with [`MiningJob::mine`] (a worker shows progress between ranges) and put
/// the nonce found into `post.stamp` with [`Stamp`]`{ bits: job_bits, nonce }`.
pub fn stamp_job(post: &Post, params: &Params, factor: u64) -> (CompactTarget, MiningJob) {
    let bits = bits_for(params, post.encoded_len(), factor);
    let mut header = stamp_header(post, &params.chain_id());
    header.bits = bits;
    let job = MiningJob::new(&header).expect("bits_for gives a canonical target of at least 1, which decodes");
    (bits, job)
}

/// Stamps `post` at `factor` times the required work on this thread with the
/// fastest kernel (the native node stamps its REST posts this way; tests too).
/// Expected cost: `factor` × [`required_work`] hashes.
pub fn stamp_post(mut post: Post, params: &Params, factor: u64) -> Post {
    const RANGE: u64 = 1 << 20;
    let (bits, job) = stamp_job(&post, params, factor);
    let kernel = Kernel::detect();
    let mut start = 0u64;
    loop {
        if let Some((nonce, _)) = job.mine(kernel, start, RANGE).found {
            post.stamp = Stamp { bits, nonce };
            return post;
        }
        start = start.wrapping_add(RANGE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Network;

    fn dev() -> Params {
        Params::for_network(Network::Dev)
    }

    #[test]
    fn the_stamp_header_is_never_a_block_header() {
        assert_ne!(STAMP_HEADER_VERSION, crate::header::HEADER_VERSION);
        assert_eq!(&STAMP_HEADER_VERSION.to_le_bytes(), b"STMP");
    }

    #[test]
    fn bits_for_declare_at_least_the_asked_work() {
        for params in [dev(), Params::for_network(Network::Main)] {
            for bytes in [1, 128, 129, 500, 4_000] {
                for factor in [1, 2, 4, 1_000] {
                    let asked = required_work(&params, bytes) * factor;
                    let work = bits_for(&params, bytes, factor).to_target().unwrap().work();
                    assert!(work >= Work::from_u256(U256::from(asked)), "{bytes} bytes ×{factor}");
                    // and not wildly more: compact rounding loses under 1 part in 2^15
                    assert!(work.to_f64() < asked as f64 * 1.001, "{bytes} bytes ×{factor}");
                }
            }
        }
    }

    #[test]
    fn stamped_posts_check_and_any_change_breaks_the_stamp() {
        let params = dev();
        let post = stamp_post(Post::new("alice", "hello", 1).unwrap(), &params, 1);
        let work = check_stamp(&post, &params, &params.chain_id()).unwrap();
        assert!(work >= Work::from_u256(U256::from(required_work(&params, post.encoded_len()))));

        let mut edited = post.clone();
        edited.content = "hellp".into();
        // One in about 128 edits would still meet the dev target: find a nonce that fails.
        let mut nonce = post.stamp.nonce;
        while check_stamp(&edited, &params, &params.chain_id()).is_ok() {
            nonce += 1;
            edited.stamp.nonce = nonce;
        }
        assert!(matches!(check_stamp(&edited, &params, &params.chain_id()), Err(StampError::NotMet { .. })));

        let mut easy = post.clone();
        easy.stamp.bits = params.easiest_bits; // about two hashes of work
        assert!(matches!(check_stamp(&easy, &params, &params.chain_id()), Err(StampError::TooEasy { .. })));
        let unstamped = Post::new("alice", "hello", 1).unwrap();
        assert!(matches!(check_stamp(&unstamped, &params, &params.chain_id()), Err(StampError::BadTarget { .. })));
    }

    #[test]
    fn a_stamp_is_good_on_one_network_only() {
        let post = stamp_post(Post::new("alice", "hello", 1).unwrap(), &dev(), 64);
        assert!(check_stamp(&post, &dev(), &dev().chain_id()).is_ok());
        let mut other = dev();
        other.genesis_nonce += 1; // another chain id, same rules
        // At 64× the work, the other network's header misses with probability ~1 - 1/(64·128).
        assert!(matches!(check_stamp(&post, &other, &other.chain_id()), Err(StampError::NotMet { .. })));
    }

    #[test]
    fn rates_rank_work_per_byte() {
        let w = |n: u64| Work::from_u256(U256::from(n));
        assert!(StampRate::new(w(2_000), 100) > StampRate::new(w(1_000), 100));
        assert!(StampRate::new(w(1_000), 100) > StampRate::new(w(1_000), 101));
        assert_eq!(StampRate::new(w(1_000), 100), StampRate::new(w(2_000), 200));
        assert!(StampRate::new(w(1), 1_000) > StampRate::ZERO);
    }
}
