//! Network parameters: everything that differs between `main` and `dev`, and
//! the deterministic genesis block each network starts from.

use crate::block::Block;
use crate::hash::BlockHash;
use crate::header::{BlockHeader, HEADER_VERSION};
use crate::merkle::merkle_root;
use crate::post::Post;
use crate::retarget::RetargetParams;
use crate::stamp::Stamp;
use crate::target::{CompactTarget, Target};
use std::fmt;
use std::str::FromStr;

/// Why a network name or parameter set is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The name is neither `main` nor `dev`.
    #[error("unknown network {0:?}: expected \"main\" or \"dev\"")]
    UnknownNetwork(String),
}

/// Which chain: the real one, or a fast one for development and tests.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Blocks about every 10 s for one browser worker.
    Main,
    /// Blocks in microseconds at the start; for tests and local play.
    Dev,
}

impl Network {
    /// `"main"` or `"dev"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Main => "main",
            Network::Dev => "dev",
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Network {
    type Err = ParamsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "main" => Ok(Network::Main),
            "dev" => Ok(Network::Dev),
            other => Err(ParamsError::UnknownNetwork(other.to_owned())),
        }
    }
}

/// Consensus rules and node limits of one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Which network these are.
    pub network: Network,
    /// Genesis block time, Unix milliseconds.
    pub genesis_timestamp_ms: u64,
    /// Genesis target; also what the first block after genesis must use.
    pub genesis_bits: CompactTarget,
    /// Nonce that makes the genesis hash meet `genesis_bits`.
    pub genesis_nonce: u64,
    /// The easiest target any block may have.
    pub easiest_bits: CompactTarget,
    /// Intended time between blocks, milliseconds.
    pub target_block_interval_ms: u64,
    /// ASERT half-life, milliseconds (see [`crate::retarget`]).
    pub asert_half_life_ms: u64,
    /// Most bytes in a block's binary encoding.
    pub max_block_bytes: usize,
    /// Most posts in one block.
    pub max_block_posts: usize,
    /// How far past the validating node's clock a block timestamp may be.
    pub max_future_drift_ms: u64,
    /// Number of previous blocks whose median time a new block must exceed.
    pub median_time_span: usize,
    /// Most blocks kept while waiting for their parent.
    pub max_orphans: usize,
    /// Most bytes (block encodings) kept while waiting for parents.
    pub max_orphan_bytes: usize,
    /// Most blocks kept off the best chain (side branches, see
    /// [`crate::chain`]).
    pub max_side_blocks: usize,
    /// Most bytes (block encodings) kept off the best chain.
    pub max_side_bytes: usize,
    /// Most posts waiting in the mempool.
    pub max_mempool_posts: usize,
    /// Most bytes (post encodings) waiting in the mempool.
    pub max_mempool_bytes: usize,
    /// A post is valid in a block only if its timestamp is at most this much
    /// before the block's (and at most `max_future_drift_ms` after it): old
    /// posts expire, and duplicate checks look only this far back.
    pub post_window_ms: u64,
    /// Stamp work a post pays per encoded byte ([`crate::stamp`]).
    pub stamp_work_per_byte: u64,
}

/// 2026-11-25T00:00:00Z.
const GENESIS_TIME_MS: u64 = 1_795_564_800_000;

impl Params {
    /// The parameters of `network`.
    pub fn for_network(network: Network) -> Params {
        match network {
            Network::Main => Params {
                network,
                genesis_timestamp_ms: GENESIS_TIME_MS,
                // About 1.5e8 hashes per block: one browser worker (~15 M/s) in ~10 s.
                genesis_bits: CompactTarget(0x1d1c_a1f3),
                genesis_nonce: MAIN_GENESIS_NONCE,
                easiest_bits: CompactTarget(0x1d1c_a1f3),
                target_block_interval_ms: 10_000,
                asert_half_life_ms: 600_000,
                max_block_bytes: 256 * 1024,
                max_block_posts: 1_000,
                max_future_drift_ms: 120_000,
                median_time_span: 11,
                max_orphans: 256,
                max_orphan_bytes: 16 * 1024 * 1024,
                max_side_blocks: 256,
                max_side_bytes: 16 * 1024 * 1024,
                max_mempool_posts: 5_000,
                max_mempool_bytes: 4 * 1024 * 1024,
                post_window_ms: 3_600_000,
                // 2^15 hashes per byte, at least 128 bytes: about 4.2 M hashes,
                // 0.3–0.6 s of one browser worker, for a short post.
                stamp_work_per_byte: 1 << 15,
            },
            Network::Dev => Params {
                network,
                // About two hashes per block.
                genesis_bits: CompactTarget(0x207f_ffff),
                genesis_nonce: DEV_GENESIS_NONCE,
                easiest_bits: CompactTarget(0x207f_ffff),
                target_block_interval_ms: 1_000,
                asert_half_life_ms: 10_000,
                // About 128 hashes for a short post: tests stamp thousands.
                stamp_work_per_byte: 1,
                // Sizes, time rules and limits as on main.
                ..Params::for_network(Network::Main)
            },
        }
    }

    /// The genesis block: one unsigned post, fixed time and nonce. Its post
    /// carries no stamp (a stamp commits to the chain id, which is the
    /// genesis hash); the genesis block is the network's definition and is
    /// never validated.
    pub fn genesis(&self) -> Block {
        let post = Post {
            author: "tabchain".to_owned(),
            content: format!("{} genesis: every browser tab is a full node", self.network),
            timestamp_ms: self.genesis_timestamp_ms,
            signature: None,
            stamp: Stamp::NONE,
        };
        let header = BlockHeader {
            version: HEADER_VERSION,
            height: 0,
            prev_hash: BlockHash::ZERO,
            merkle_root: merkle_root(&[post.txid()]),
            timestamp_ms: self.genesis_timestamp_ms,
            bits: self.genesis_bits,
            nonce: self.genesis_nonce,
        };
        Block { header, posts: vec![post] }
    }

    /// The chain id: the genesis hash. Peers on another chain are refused.
    pub fn chain_id(&self) -> BlockHash {
        self.genesis().hash()
    }

    /// The easiest target as a full value.
    pub fn easiest_target(&self) -> Target {
        // The built-in constants are valid compact targets (tested below).
        self.easiest_bits.to_target().unwrap_or(Target::from_u256(ruint::aliases::U256::from(1u8)))
    }

    /// The retarget settings.
    pub fn retarget(&self) -> RetargetParams {
        RetargetParams {
            interval_ms: self.target_block_interval_ms,
            half_life_ms: self.asert_half_life_ms,
            easiest: self.easiest_target(),
        }
    }
}

const MAIN_GENESIS_NONCE: u64 = 180_354_328;
const DEV_GENESIS_NONCE: u64 = 0;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_round_trip() {
        for n in [Network::Main, Network::Dev] {
            assert_eq!(n.as_str().parse::<Network>().unwrap(), n);
        }
        assert_eq!("test".parse::<Network>(), Err(ParamsError::UnknownNetwork("test".into())));
    }

    #[test]
    fn genesis_is_valid_and_meets_its_target() {
        for n in [Network::Main, Network::Dev] {
            let p = Params::for_network(n);
            let g = p.genesis();
            assert!(p.genesis_bits.to_target().unwrap() <= p.easiest_target());
            assert_eq!(p.genesis_bits.to_target().unwrap().to_compact(), p.genesis_bits);
            assert!(p.genesis_bits.to_target().unwrap().is_met_by(&g.hash()), "{n} genesis misses its target");
            assert_eq!(g.compute_merkle_root(), g.header.merkle_root);
            for post in &g.posts {
                post.check_fields().unwrap();
            }
        }
        assert_ne!(Params::for_network(Network::Main).chain_id(), Params::for_network(Network::Dev).chain_id());
    }

    /// After a change to the genesis block: `cargo test -p tabchain-core --release
    /// -- --ignored --nocapture find_genesis_nonces` prints the nonces to put in
    /// `MAIN_GENESIS_NONCE` and `DEV_GENESIS_NONCE`.
    #[test]
    #[ignore = "a search of up to a few seconds, for after a deliberate genesis change"]
    fn find_genesis_nonces() {
        for n in [Network::Main, Network::Dev] {
            let header = Params::for_network(n).genesis().header;
            let solved = crate::mining::solve(&header, u64::MAX).unwrap().unwrap();
            println!("{n}: nonce {} hash {}", solved.nonce, solved.hash());
        }
    }
}
