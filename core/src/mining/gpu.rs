//! What a GPU kernel needs from a [`MiningJob`], as 32-bit words: the
//! browser's WebGPU miner (`www/gpu-miner.js`, `www/sha256-miner.wgsl`) has
//! no bytes, no `u64` and no `sha2`, so everything it must get exactly right —
//! where the nonce goes in the message, in which byte order, and how a hash
//! is compared with the target — is fixed here, next to the reference, and
//! tested against it.
//!
//! One nonce costs one SHA-256 compression of [`GpuJob::tail`] (with the
//! nonce written in by [`GpuJob::tail_with_nonce`]) from
//! [`GpuJob::midstate`]; the resulting eight state words are the hash's
//! big-endian words, and [`GpuJob::meets`] is the comparison.

use super::{MineOutcome, MiningJob};
use crate::hash::BlockHash;
use crate::header::NONCE_OFFSET;
use sha2::block_api::compress256;

/// The tail word (big-endian message word of the second block) holding the
/// nonce's low 32 bits, byte-swapped: the header stores the nonce
/// little-endian, SHA-256 reads words big-endian.
pub const TAIL_NONCE_LO_WORD: usize = (NONCE_OFFSET - 64) / 4;
/// The tail word holding the nonce's high 32 bits, byte-swapped.
pub const TAIL_NONCE_HI_WORD: usize = TAIL_NONCE_LO_WORD + 1;

/// A mining job as a GPU kernel takes it: all words, nonce-free.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GpuJob {
    /// SHA-256 state after the header's first 64 bytes.
    pub midstate: [u32; 8],
    /// The padded second block as 16 big-endian message words, with zero in
    /// the nonce words ([`TAIL_NONCE_LO_WORD`], [`TAIL_NONCE_HI_WORD`]).
    pub tail: [u32; 16],
    /// The target as 8 big-endian words (word 0 is the most significant).
    pub target: [u32; 8],
}

impl GpuJob {
    /// [`GpuJob::tail`] with `nonce` in its two words: low half in
    /// [`TAIL_NONCE_LO_WORD`], high half in [`TAIL_NONCE_HI_WORD`], each
    /// byte-swapped (`u32::swap_bytes`).
    pub fn tail_with_nonce(&self, nonce: u64) -> [u32; 16] {
        let (hi, lo) = split_nonce(nonce);
        let mut tail = self.tail;
        tail[TAIL_NONCE_LO_WORD] = lo.swap_bytes();
        tail[TAIL_NONCE_HI_WORD] = hi.swap_bytes();
        tail
    }

    /// Whether the hash with big-endian words `hash` (the state after
    /// compressing the tail) meets the target: the words compared in order,
    /// most significant first, and the first that differs decides; equal
    /// meets. The same as the reference's `hash bytes <= target bytes`.
    pub fn meets(&self, hash: &[u32; 8]) -> bool {
        hash <= &self.target
    }

    /// The hash words of `nonce`, computed the way a GPU kernel computes
    /// them (one compression from the midstate): a model of the kernel, for
    /// tests.
    pub fn hash_words(&self, nonce: u64) -> [u32; 8] {
        let mut block = [0u8; 64];
        for (chunk, word) in block.chunks_exact_mut(4).zip(self.tail_with_nonce(nonce)) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        let mut state = self.midstate;
        compress256(&mut state, &[block]);
        state
    }

    /// Searches `count` nonces from `start_nonce` (wrapping) as a GPU kernel
    /// does, with [`GpuJob::hash_words`] and [`GpuJob::meets`]: a model of
    /// the kernel, for tests.
    pub fn mine(&self, start_nonce: u64, count: u64) -> MineOutcome {
        for i in 0..count {
            let nonce = start_nonce.wrapping_add(i);
            let words = self.hash_words(nonce);
            if self.meets(&words) {
                return MineOutcome { found: Some((nonce, hash_from_words(&words))), hashes: i + 1 };
            }
        }
        MineOutcome { found: None, hashes: count }
    }
}

/// A nonce as its (high, low) 32-bit halves, the form a GPU kernel adds with
/// carry.
pub fn split_nonce(nonce: u64) -> (u32, u32) {
    ((nonce >> 32) as u32, nonce as u32)
}

/// The hash whose big-endian words are `words` (a kernel's final state).
pub fn hash_from_words(words: &[u32; 8]) -> BlockHash {
    super::sha2_kernels::state_to_hash(words)
}

impl MiningJob {
    /// This job as a GPU kernel takes it.
    pub fn gpu_job(&self) -> GpuJob {
        let word = |bytes: &[u8]| u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let mut tail: [u32; 16] = std::array::from_fn(|i| word(&self.tail[4 * i..]));
        tail[TAIL_NONCE_LO_WORD] = 0;
        tail[TAIL_NONCE_HI_WORD] = 0;
        GpuJob { midstate: self.midstate, tail, target: std::array::from_fn(|i| word(&self.target[4 * i..])) }
    }

    /// Whether `nonce` meets the target, by the reference (the whole header
    /// hashed): its hash if it does. What a miner re-checks a GPU's answer with.
    pub fn check(&self, nonce: u64) -> Option<BlockHash> {
        let hash = self.header_with_nonce(nonce).hash();
        (hash.as_bytes() <= &self.target).then_some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::Kernel;
    use crate::mining::test_support::{Rng, header, random_header};

    #[test]
    fn nonce_words_are_where_the_header_puts_the_nonce() {
        assert_eq!((TAIL_NONCE_LO_WORD, TAIL_NONCE_HI_WORD), (6, 7));
        let job = MiningJob::new(&header(1, 0x207f_ffff)).unwrap().gpu_job();
        let tail = job.tail_with_nonce(0x0102_0304_0506_0708);
        // The header's bytes 88..96 are 08 07 06 05 04 03 02 01.
        assert_eq!(tail[6], 0x0807_0605);
        assert_eq!(tail[7], 0x0403_0201);
        // Padding: 0x80 after the 96 bytes, the length (768 bits) at the end.
        assert_eq!(tail[8], 0x8000_0000);
        assert_eq!(tail[15], 768);
        assert_eq!(split_nonce(0x0102_0304_0506_0708), (0x0102_0304, 0x0506_0708));
    }

    #[test]
    fn hash_words_are_the_header_hash() {
        let mut rng = Rng(11);
        for _ in 0..200 {
            let header = random_header(&mut rng, 0x207f_ffff);
            let job = MiningJob::new(&header).unwrap().gpu_job();
            let nonce = rng.next();
            let hash = crate::header::BlockHeader { nonce, ..header }.hash();
            assert_eq!(hash_from_words(&job.hash_words(nonce)), hash);
        }
    }

    #[test]
    fn target_words_compare_like_the_reference() {
        let job = MiningJob::new(&header(2, 0x1d00_ffff)).unwrap();
        let gpu = job.gpu_job();
        assert_eq!(gpu.target, [0, 0xffff_0000, 0, 0, 0, 0, 0, 0]);
        assert!(gpu.meets(&gpu.target));
        let mut above = gpu.target;
        above[7] = 1;
        assert!(!gpu.meets(&above));
        let mut below = gpu.target;
        below[1] -= 1;
        below[7] = u32::MAX;
        assert!(gpu.meets(&below));
        // A later word never outweighs an earlier one.
        assert!(!gpu.meets(&[0, 0xffff_0001, 0, 0, 0, 0, 0, 0]));
        assert!(gpu.meets(&[0, 0xfffe_ffff, u32::MAX, u32::MAX, u32::MAX, u32::MAX, u32::MAX, u32::MAX]));
    }

    #[test]
    fn the_gpu_model_finds_what_the_reference_finds() {
        // Easy and hard targets, ranges crossing a 2^32 boundary of the
        // nonce and wrapping past u64::MAX.
        const BITS: [u32; 4] = [0x2100_ffff, 0x207f_ffff, 0x2000_ffff, 0x0300_0001];
        let mut rng = Rng(12);
        for i in 0..200 {
            let mining = MiningJob::new(&random_header(&mut rng, BITS[i % BITS.len()])).unwrap();
            let gpu = mining.gpu_job();
            for start in [rng.next(), (1 << 32) - 100, (2 << 32) - 7, u64::MAX - 50] {
                let reference = mining.mine(Kernel::Reference, start, 300);
                assert_eq!(gpu.mine(start, 300), reference);
                if let Some((nonce, hash)) = reference.found {
                    assert_eq!(mining.check(nonce), Some(hash));
                }
            }
        }
    }

    #[test]
    fn check_refuses_a_nonce_that_misses() {
        let job = MiningJob::new(&header(5, 0x2000_ffff)).unwrap();
        let outcome = job.mine(Kernel::Reference, 0, 10_000);
        let (nonce, _) = outcome.found.unwrap();
        // Every nonce before the first that meets the target misses it.
        for miss in 0..nonce {
            assert_eq!(job.check(miss), None);
        }
        assert!(MiningJob::new(&header(5, 0x0300_0001)).unwrap().check(nonce).is_none());
    }
}
