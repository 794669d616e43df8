//! The two kernels that hash with the `sha2` crate: [`Kernel::Reference`],
//! the whole 96-byte header per nonce, which every other kernel must match,
//! and [`Kernel::Sha2Midstate`], one block compression per nonce from the
//! job's midstate (`sha2` uses the CPU's SHA extensions where present). The
//! lane kernels also use the midstate kernel for the nonces that do not fill
//! a step.
//!
//! [`Kernel::Reference`]: super::Kernel::Reference
//! [`Kernel::Sha2Midstate`]: super::Kernel::Sha2Midstate

use super::{MineOutcome, MiningJob};
use crate::hash::BlockHash;
use crate::header::NONCE_OFFSET;
use sha2::block_api::compress256;

/// Where the nonce starts inside the second 64-byte block.
const NONCE_IN_TAIL: usize = NONCE_OFFSET - 64;

impl MiningJob {
    /// [`Kernel::Reference`](super::Kernel::Reference): each nonce's header
    /// hashed whole, as validation hashes it.
    pub(super) fn mine_reference(&self, start_nonce: u64, count: u64) -> MineOutcome {
        for i in 0..count {
            let nonce = start_nonce.wrapping_add(i);
            let hash = self.header_with_nonce(nonce).hash();
            if hash.as_bytes() <= &self.target {
                return MineOutcome { found: Some((nonce, hash)), hashes: i + 1 };
            }
        }
        MineOutcome { found: None, hashes: count }
    }

    /// [`Kernel::Sha2Midstate`](super::Kernel::Sha2Midstate): one `sha2`
    /// compression of the second block per nonce; only hashes whose first
    /// word can meet the target are compared in full.
    pub(super) fn mine_midstate(&self, start_nonce: u64, count: u64) -> MineOutcome {
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

/// The hash whose big-endian words are `state` (a SHA-256 state after the
/// last block).
pub(super) fn state_to_hash(state: &[u32; 8]) -> BlockHash {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    BlockHash::from_bytes(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::Kernel;
    use crate::mining::test_support::header;

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
}
