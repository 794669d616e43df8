//! Helpers for the mining tests in every file of this module: headers to
//! mine, a tiny deterministic PRNG, and [`can_test`], which decides what a
//! test does about a kernel this CPU cannot run.

use super::Kernel;
use crate::hash::{BlockHash, MerkleRoot, sha256};
use crate::header::BlockHeader;
use crate::target::CompactTarget;

/// Set to `1` to make every test that would skip a kernel this CPU cannot
/// run fail instead (for machines that must check every kernel).
const REQUIRE_KERNELS: &str = "TABCHAIN_REQUIRE_KERNELS";

/// Whether a test can check `kernel` here. If this CPU cannot run it, says so
/// on stderr with `SKIPPED` and the reason, and returns false; or, with
/// `TABCHAIN_REQUIRE_KERNELS=1` set, fails the test. Every test that skips
/// a kernel asks this, so that no kernel goes untested unnoticed.
pub(super) fn can_test(kernel: Kernel) -> bool {
    let required = std::env::var(REQUIRE_KERNELS).is_ok_and(|value| value == "1");
    decide_can_test(kernel, kernel.is_available(), required)
}

/// [`can_test`] given whether the CPU can run `kernel` and whether every
/// kernel is required.
fn decide_can_test(kernel: Kernel, available: bool, required: bool) -> bool {
    if available {
        return true;
    }
    let reason = format!("this CPU has no {}", required_feature(kernel));
    assert!(!required, "cannot test the {} kernel: {reason}, and {REQUIRE_KERNELS}=1 is set", kernel.name());
    // Straight to stderr, past the test harness's capture: a skip must show
    // in a passing run too.
    let line = format!("SKIPPED the {} kernel: {reason} (set {REQUIRE_KERNELS}=1 to fail instead)\n", kernel.name());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    false
}

/// The CPU feature `kernel` needs, for messages.
fn required_feature(kernel: Kernel) -> &'static str {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2x8 => "AVX2",
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512x16 => "AVX-512F",
        Kernel::Reference | Kernel::Sha2Midstate | Kernel::Lanes4 => "(nothing: it runs everywhere)",
    }
}

/// The kernels to compare with [`Kernel::Reference`]: every other one this
/// CPU can run; those it cannot run go through [`can_test`].
pub(super) fn kernels_under_test() -> Vec<Kernel> {
    Kernel::ALL.iter().copied().filter(|&kernel| kernel != Kernel::Reference && can_test(kernel)).collect()
}

/// A header derived from `seed`, with target `bits` and nonce 0.
pub(super) fn header(seed: u64, bits: u32) -> BlockHeader {
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

/// SplitMix64: a tiny deterministic PRNG for the lane tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.next() as u8)
    }
}

/// A header of random fields (any version, height, time and nonce) with
/// target `bits`.
pub(super) fn random_header(rng: &mut Rng, bits: u32) -> BlockHeader {
    BlockHeader {
        version: rng.next() as u32,
        height: rng.next(),
        prev_hash: BlockHash::from_bytes(rng.bytes()),
        merkle_root: MerkleRoot::from_bytes(rng.bytes()),
        timestamp_ms: rng.next(),
        bits: CompactTarget(bits),
        nonce: rng.next(),
    }
}

mod tests {
    use super::*;

    #[test]
    fn a_kernel_this_cpu_cannot_run_is_skipped_loudly() {
        assert!(!decide_can_test(Kernel::Lanes4, false, false));
        assert!(decide_can_test(Kernel::Lanes4, true, true));
    }

    #[test]
    #[should_panic(expected = "TABCHAIN_REQUIRE_KERNELS=1 is set")]
    fn a_kernel_this_cpu_cannot_run_fails_when_every_kernel_is_required() {
        decide_can_test(Kernel::Lanes4, false, true);
    }
}
