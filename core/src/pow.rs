//! Proof-of-work search: the mining kernels behind one entry point.
//!
//! The header's first 64 bytes do not contain the nonce, so a [`MiningJob`]
//! compresses them once (the midstate) and each nonce costs one SHA-256
//! compression of the second block plus — only for candidates — the final
//! comparison. [`Kernel::detect`] picks the fastest kernel this build and CPU
//! offer; every kernel must find exactly what [`Kernel::Reference`] finds.

use crate::hash::BlockHash;
use crate::header::{BlockHeader, NONCE_OFFSET};
use crate::target::TargetError;
use sha2::block_api::compress256;

/// SHA-256 initial state (FIPS 180-4, section 5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];
/// Where the nonce starts inside the second 64-byte block.
const NONCE_IN_TAIL: usize = NONCE_OFFSET - 64;

/// A way of searching nonces. All kernels give identical results.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kernel {
    /// Hash the whole 96-byte header with `sha2` per nonce: the reference.
    Reference,
    /// `sha2`'s block compression from the precomputed midstate.
    Sha2Midstate,
}

impl Kernel {
    /// The fastest kernel available here.
    pub fn detect() -> Kernel {
        Kernel::Sha2Midstate
    }

    /// Short name for logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Reference => "sha2-full-header",
            Kernel::Sha2Midstate => "sha2-midstate",
        }
    }
}

/// Result of searching a range of nonces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MineOutcome {
    /// The first nonce in the range whose hash meets the target, with that hash.
    pub found: Option<(u64, BlockHash)>,
    /// Nonces hashed (the whole range when nothing was found).
    pub hashes: u64,
}

/// A header prepared for nonce search: midstate, padded second block, target.
#[derive(Clone, Debug)]
pub struct MiningJob {
    header: BlockHeader,
    midstate: [u32; 8],
    tail: [u8; 64],
    target: [u8; 32],
    target_top: u32,
}

impl MiningJob {
    /// Prepares `header` (its nonce is ignored); fails if its target is unusable.
    pub fn new(header: &BlockHeader) -> Result<Self, TargetError> {
        let target = header.bits.to_target()?.to_be_bytes();
        let bytes = header.to_bytes();
        let mut midstate = SHA256_IV;
        let mut first = [0u8; 64];
        first.copy_from_slice(&bytes[..64]);
        compress256(&mut midstate, &[first]);
        let mut tail = [0u8; 64];
        tail[..32].copy_from_slice(&bytes[64..]);
        tail[32] = 0x80;
        // Message length in bits (96 * 8 = 768), big-endian in the last 8 bytes.
        tail[56..].copy_from_slice(&768u64.to_be_bytes());
        Ok(Self {
            header: *header,
            midstate,
            tail,
            target,
            target_top: u32::from_be_bytes([target[0], target[1], target[2], target[3]]),
        })
    }

    /// The header this job mines, with `nonce` filled in.
    pub fn header_with_nonce(&self, nonce: u64) -> BlockHeader {
        BlockHeader { nonce, ..self.header }
    }

    /// Searches `count` nonces from `start_nonce` (wrapping) with `kernel`.
    pub fn mine(&self, kernel: Kernel, start_nonce: u64, count: u64) -> MineOutcome {
        match kernel {
            Kernel::Reference => self.mine_reference(start_nonce, count),
            Kernel::Sha2Midstate => self.mine_midstate(start_nonce, count),
        }
    }

    fn mine_reference(&self, start_nonce: u64, count: u64) -> MineOutcome {
        for i in 0..count {
            let nonce = start_nonce.wrapping_add(i);
            let hash = self.header_with_nonce(nonce).hash();
            if hash.as_bytes() <= &self.target {
                return MineOutcome { found: Some((nonce, hash)), hashes: i + 1 };
            }
        }
        MineOutcome { found: None, hashes: count }
    }

    fn mine_midstate(&self, start_nonce: u64, count: u64) -> MineOutcome {
        let mut block = self.tail;
        for i in 0..count {
            let nonce = start_nonce.wrapping_add(i);
            block[NONCE_IN_TAIL..NONCE_IN_TAIL + 8].copy_from_slice(&nonce.to_le_bytes());
            let mut state = self.midstate;
            compress256(&mut state, std::slice::from_ref(&block));
            if state[0] <= self.target_top {
                let hash = state_to_hash(&state);
                if hash.as_bytes() <= &self.target {
                    return MineOutcome { found: Some((nonce, hash)), hashes: i + 1 };
                }
            }
        }
        MineOutcome { found: None, hashes: count }
    }
}

fn state_to_hash(state: &[u32; 8]) -> BlockHash {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    BlockHash::from_bytes(out)
}

/// Searches `count` nonces of `header` from `start_nonce` with the fastest kernel.
pub fn mine_range(header: &BlockHeader, start_nonce: u64, count: u64) -> Result<MineOutcome, TargetError> {
    Ok(MiningJob::new(header)?.mine(Kernel::detect(), start_nonce, count))
}

/// Searches nonces from 0 until the header meets its target or `max_hashes` ran
/// out; returns the solved header. For tests, the `/mine` endpoint and tools —
/// real miners split ranges over threads or workers with [`MiningJob::mine`].
pub fn solve(header: &BlockHeader, max_hashes: u64) -> Result<Option<BlockHeader>, TargetError> {
    let job = MiningJob::new(header)?;
    Ok(job.mine(Kernel::detect(), 0, max_hashes).found.map(|(nonce, _)| job.header_with_nonce(nonce)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{MerkleRoot, sha256};
    use crate::target::CompactTarget;
    use proptest::prelude::*;

    fn header(seed: u64, bits: u32) -> BlockHeader {
        BlockHeader {
            version: 1,
            height: seed,
            prev_hash: BlockHash::from_bytes(sha256(&seed.to_le_bytes())),
            merkle_root: MerkleRoot::from_bytes(sha256(&seed.to_be_bytes())),
            timestamp_ms: seed.wrapping_mul(7919),
            bits: CompactTarget(bits),
            nonce: 0,
        }
    }

    #[test]
    fn midstate_finds_same_nonce_as_reference() {
        // 0x1f00ffff: about one hash in 65,536 meets it.
        let job = MiningJob::new(&header(42, 0x1f00_ffff)).unwrap();
        let reference = job.mine(Kernel::Reference, 0, 1_000_000);
        let fast = job.mine(Kernel::Sha2Midstate, 0, 1_000_000);
        assert!(reference.found.is_some());
        assert_eq!(reference, fast);
        let (nonce, hash) = fast.found.unwrap();
        assert_eq!(job.header_with_nonce(nonce).hash(), hash);
    }

    #[test]
    fn unusable_target_is_an_error() {
        assert!(mine_range(&header(1, 0), 0, 10).is_err());
    }

    #[test]
    fn range_without_solution_reports_all_hashes() {
        let out = mine_range(&header(3, 0x0300_0001), 5, 1000).unwrap();
        assert_eq!(out, MineOutcome { found: None, hashes: 1000 });
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn kernels_agree_on_random_headers(seed in any::<u64>(), start in any::<u64>()) {
            // 0x2000ffff: about one hash in 128 meets it, so ranges find and miss.
            let job = MiningJob::new(&header(seed, 0x2000_ffff)).unwrap();
            prop_assert_eq!(job.mine(Kernel::Reference, start, 300), job.mine(Kernel::Sha2Midstate, start, 300));
        }
    }
}
