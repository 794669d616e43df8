//! Proof-of-work search: the mining kernels behind one entry point.
//!
//! The block hash is a single SHA-256 of the 96-byte header, whose first 64
//! bytes do not contain the nonce, so a [`MiningJob`] compresses them once
//! (the midstate) and each nonce costs one SHA-256 compression of the second
//! block plus — only for candidates — the final comparison. [`MiningJob::mine`]
//! searches a range of nonces with a [`Kernel`]; [`Kernel::detect`] picks the
//! fastest one this build and CPU offer; every kernel must find exactly what
//! [`Kernel::Reference`] finds.
//!
//! The lane kernels hash several nonces at once, one per lane of a vector:
//! [`Kernel::Lanes4`] eight per step as two interleaved batches of four
//! (wasm SIMD128 in the browser), and on x86-64 [`Kernel::Avx2x8`] and
//! [`Kernel::Avx512x16`] 8 and 16 at a time, if the CPU has AVX2 or AVX-512F
//! (checked at run time). They start from a per-job plan of everything that
//! does not depend on the nonce, compute only the hash's first word (which
//! alone decides whether a lane can meet the target), and rehash candidate
//! lanes with the reference path, which alone decides, comparing exactly as
//! [`Kernel::Reference`] compares.
//!
//! One topic per file:
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | this API: [`MiningJob`], [`MineOutcome`], [`mine_range`], [`solve`] |
//! | `kernel.rs` | [`Kernel`]: the choices, run-time detection, the fastest |
//! | `sha2_kernels.rs` | [`Kernel::Reference`] and [`Kernel::Sha2Midstate`], with the `sha2` crate |
//! | `plan.rs` | the per-job SHA-256 precomputation (`LanePlan`), and why it is correct |
//! | `lanes.rs` | the lane kernels' rounds and search, once for any lane type (macros) |
//! | `lanes4.rs` | [`Kernel::Lanes4`]: `LaneBatch`, the two batches pinned for V8 |
//! | `lanes4/wasm32_simd128.rs`, `lanes4/portable.rs` | its `U32x4` lanes: SIMD128, or `[u32; 4]` elsewhere |
//! | `x86.rs` | [`Kernel::Avx2x8`] and [`Kernel::Avx512x16`]: AVX2 and AVX-512F lanes |
//! | `gpu.rs` | [`GpuJob`]: a job as 32-bit words for the browser's WebGPU kernel, and the re-check [`MiningJob::check`] |
//! | `test_support.rs` | test helpers; [`Kernel`]s this CPU cannot run are skipped loudly |
//!
//! (The x86-64 kernels' links above resolve only in x86-64 documentation.)

mod gpu;
mod kernel;
mod lanes;
mod lanes4;
mod plan;
mod sha2_kernels;
#[cfg(test)]
mod test_support;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use gpu::{GpuJob, TAIL_NONCE_HI_WORD, TAIL_NONCE_LO_WORD, hash_from_words, split_nonce};
pub use kernel::Kernel;

use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::target::TargetError;
use plan::LanePlan;
use sha2::block_api::compress256;
#[cfg(target_arch = "x86_64")]
use x86::{U32x8, U32x16};

/// SHA-256 initial state (FIPS 180-4, section 5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19];

/// Result of searching a range of nonces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MineOutcome {
    /// The first nonce in the range whose hash meets the target, with that hash.
    pub found: Option<(u64, BlockHash)>,
    /// Nonces hashed (the whole range when nothing was found), for hash rates.
    pub hashes: u64,
}

/// A header prepared for nonce search: midstate, padded second block, target
/// and the lane kernels' plan, computed once so that each nonce costs one
/// block compression (or less).
#[derive(Clone, Debug)]
pub struct MiningJob {
    header: BlockHeader,
    midstate: [u32; 8],
    tail: [u8; 64],
    target: [u8; 32],
    target_top: u32,
    plan: LanePlan,
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
            plan: LanePlan::new(&midstate, &tail),
        })
    }

    /// The header this job mines, with `nonce` filled in: the solved header
    /// once [`MiningJob::mine`] found a nonce.
    pub fn header_with_nonce(&self, nonce: u64) -> BlockHeader {
        BlockHeader { nonce, ..self.header }
    }

    /// Searches `count` nonces from `start_nonce` (wrapping) with `kernel`.
    ///
    /// A kernel this CPU cannot run ([`Kernel::is_available`] is false) falls
    /// back to [`Kernel::Sha2Midstate`], which finds the same.
    pub fn mine(&self, kernel: Kernel, start_nonce: u64, count: u64) -> MineOutcome {
        match kernel {
            Kernel::Reference => self.mine_reference(start_nonce, count),
            Kernel::Sha2Midstate => self.mine_midstate(start_nonce, count),
            Kernel::Lanes4 => self.mine_lanes4(start_nonce, count),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2x8 => {
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2, the only feature this function enables, was detected just above.
                    unsafe { U32x8::mine(self, start_nonce, count) }
                } else {
                    self.mine_midstate(start_nonce, count)
                }
            }
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512x16 => {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: AVX-512F, the only feature this function enables, was detected just above.
                    unsafe { U32x16::mine(self, start_nonce, count) }
                } else {
                    self.mine_midstate(start_nonce, count)
                }
            }
        }
    }

    /// The first of the `N` nonces from `first` whose hash meets the target,
    /// as its lane and hash, given the hashes' first words `top`. Candidates
    /// are rare and rehashed with the reference path, which alone decides.
    #[cold]
    #[inline(never)]
    fn first_hit<const N: usize>(&self, first: u64, top: [u32; N]) -> Option<(u64, BlockHash)> {
        (0u64..).zip(top).filter(|&(_, word)| word <= self.target_top).find_map(|(lane, word)| {
            let hash = self.header_with_nonce(first.wrapping_add(lane)).hash();
            debug_assert_eq!(hash.as_bytes()[..4], word.to_be_bytes());
            (hash.as_bytes() <= &self.target).then_some((lane, hash))
        })
    }
}

/// Searches `count` nonces of `header` from `start_nonce` with the fastest
/// kernel: one range in one call. To search many ranges of one header, make a
/// [`MiningJob`] once and call [`MiningJob::mine`].
pub fn mine_range(header: &BlockHeader, start_nonce: u64, count: u64) -> Result<MineOutcome, TargetError> {
    Ok(MiningJob::new(header)?.mine(Kernel::detect(), start_nonce, count))
}

/// Searches nonces from 0 until the header meets its target or `max_hashes` ran
/// out; returns the solved header. For tests, benchmarks and tools (such as
/// `relay-bench`'s block generator) — real miners, the native node's threads
/// (`GET /mine` included) and the browser's workers, split ranges with
/// [`MiningJob::mine`].
pub fn solve(header: &BlockHeader, max_hashes: u64) -> Result<Option<BlockHeader>, TargetError> {
    let job = MiningJob::new(header)?;
    Ok(job.mine(Kernel::detect(), 0, max_hashes).found.map(|(nonce, _)| job.header_with_nonce(nonce)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use test_support::{Rng, header, kernels_under_test, random_header};

    #[test]
    fn every_kernel_finds_the_same_rare_nonce() {
        let job = MiningJob::new(&header(42, 0x1f00_ffff)).unwrap();
        let reference = job.mine(Kernel::Sha2Midstate, 0, 1_000_000);
        assert!(reference.found.is_some());
        for kernel in kernels_under_test() {
            assert_eq!(job.mine(kernel, 0, 1_000_000), reference, "{}", kernel.name());
        }
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

    #[test]
    fn kernels_agree_on_random_headers() {
        let kernels = kernels_under_test();
        proptest!(ProptestConfig::with_cases(64), |(seed in any::<u64>(), start in any::<u64>())| {
            // 0x2000ffff: about one hash in 256 meets it, so ranges find and miss.
            let job = MiningJob::new(&header(seed, 0x2000_ffff)).unwrap();
            let reference = job.mine(Kernel::Reference, start, 300);
            for &kernel in &kernels {
                prop_assert_eq!(reference, job.mine(kernel, start, 300), "{}", kernel.name());
            }
        });
    }

    #[test]
    fn lane_kernels_find_what_reference_finds() {
        // From "every hash meets it" and the dev target (about half) down to
        // one that no hash meets.
        const BITS: [u32; 5] = [0x2100_ffff, 0x207f_ffff, 0x2000_ffff, 0x1f00_ffff, 0x0300_0001];
        const COUNTS: [u64; 21] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 15, 16, 17, 23, 31, 33, 47, 64, 100, 257];
        let kernels = kernels_under_test();
        let mut rng = Rng(3);
        for i in 0..420 {
            let bits = BITS[i % BITS.len()];
            let count = COUNTS[i % COUNTS.len()];
            let job = MiningJob::new(&random_header(&mut rng, bits)).unwrap();
            let starts = [
                rng.next(),
                rng.next() % 1000,
                // The range ends exactly at u64::MAX.
                u64::MAX.wrapping_sub(count).wrapping_add(1),
                // The range wraps past u64::MAX, at different lanes.
                u64::MAX - 2,
                u64::MAX - 10,
                // The nonce's high word changes inside the range, at different lanes.
                (1 << 32) - 3,
                (1 << 32) - 13,
            ];
            for start in starts {
                let reference = job.mine(Kernel::Reference, start, count);
                assert!(reference.hashes <= count);
                for &kernel in &kernels {
                    assert_eq!(
                        job.mine(kernel, start, count),
                        reference,
                        "{} bits {bits:#x} start {start} count {count}",
                        kernel.name()
                    );
                }
            }
        }
    }

    #[test]
    fn lane_kernels_reject_near_misses() {
        // Targets just below and at one nonce's hash: that nonce passes the
        // first-word filter, yet only the exact comparison decides.
        let kernels = kernels_under_test();
        let mut rng = Rng(4);
        for i in 0..340 {
            let mut job = MiningJob::new(&random_header(&mut rng, 0x207f_ffff)).unwrap();
            let start = rng.next();
            let offset = i % 34;
            let hash = *job.header_with_nonce(start.wrapping_add(offset)).hash().as_bytes();
            let mut below = hash;
            if let Some(pos) = below.iter().rposition(|&b| b != 0) {
                below[pos] -= 1;
                below[pos + 1..].fill(0xff);
            }
            for target in [below, hash] {
                job.target = target;
                job.target_top = u32::from_be_bytes([target[0], target[1], target[2], target[3]]);
                let reference = job.mine(Kernel::Reference, start, 40);
                for &kernel in &kernels {
                    assert_eq!(job.mine(kernel, start, 40), reference, "{}", kernel.name());
                }
                if target == hash {
                    assert!(reference.found.is_some());
                }
            }
        }
    }
}
