//! Which kernel to mine with: the [`Kernel`] choices of this build, which of
//! them this CPU can run (checked at run time on x86-64), and the fastest.

/// A way of searching nonces. All kernels give identical results.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kernel {
    /// Hash the whole 96-byte header with `sha2` per nonce: the reference.
    Reference,
    /// `sha2`'s block compression from the precomputed midstate (`sha2` uses
    /// the CPU's SHA extensions where present).
    Sha2Midstate,
    /// Eight consecutive nonces per step as two interleaved batches of
    /// `u32x4` lanes, nonce-independent rounds and schedule words precomputed
    /// per job (see the module docs). The browser miner's kernel.
    Lanes4,
    /// [`Kernel::Lanes4`]'s algorithm on eight nonces per step in AVX2
    /// registers. Needs an x86-64 CPU with AVX2.
    #[cfg(target_arch = "x86_64")]
    Avx2x8,
    /// [`Kernel::Lanes4`]'s algorithm on sixteen nonces per step in AVX-512
    /// registers, with native rotates and three-input logic (`vpternlogd`) for
    /// Ch, Maj and the σ/Σ xors. Needs an x86-64 CPU with AVX-512F.
    #[cfg(target_arch = "x86_64")]
    Avx512x16,
}

impl Kernel {
    /// Every kernel of this build, whether or not this CPU can run it.
    #[cfg(target_arch = "x86_64")]
    pub const ALL: &'static [Kernel] =
        &[Kernel::Reference, Kernel::Sha2Midstate, Kernel::Lanes4, Kernel::Avx2x8, Kernel::Avx512x16];
    /// Every kernel of this build, whether or not this CPU can run it.
    #[cfg(not(target_arch = "x86_64"))]
    pub const ALL: &'static [Kernel] = &[Kernel::Reference, Kernel::Sha2Midstate, Kernel::Lanes4];

    /// Whether this CPU can run the kernel: the portable kernels always, the
    /// x86-64 SIMD kernels if the CPU reports their feature at run time.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Reference | Kernel::Sha2Midstate | Kernel::Lanes4 => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2x8 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512x16 => std::arch::is_x86_feature_detected!("avx512f"),
        }
    }

    /// The kernels this CPU can run, in [`Kernel::ALL`] order.
    pub fn available() -> Vec<Kernel> {
        Kernel::ALL.iter().copied().filter(|kernel| kernel.is_available()).collect()
    }

    /// The fastest kernel this CPU can run, decided at run time on x86-64:
    /// [`Kernel::Avx512x16`] with AVX-512F, else [`Kernel::Avx2x8`] with AVX2
    /// (which beat `sha2` on SHA extensions, one block at a time, where
    /// measured), else [`Kernel::Sha2Midstate`]. On wasm32 with SIMD128
    /// [`Kernel::Lanes4`]; elsewhere [`Kernel::Sha2Midstate`] (`sha2` uses the
    /// CPU's SHA extensions where present, which beat four software lanes).
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if Kernel::Avx512x16.is_available() {
                return Kernel::Avx512x16;
            }
            if Kernel::Avx2x8.is_available() {
                return Kernel::Avx2x8;
            }
        }
        if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            Kernel::Lanes4
        } else {
            Kernel::Sha2Midstate
        }
    }

    /// Short name for logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Reference => "sha2-full-header",
            Kernel::Sha2Midstate => "sha2-midstate",
            Kernel::Lanes4 => "4-lane",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2x8 => "avx2-8-lane",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512x16 => "avx512-16-lane",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::MiningJob;
    use crate::mining::test_support::header;

    #[test]
    fn available_kernels_and_detection() {
        let available = Kernel::available();
        println!("available: {:?}, detected: {:?}", available, Kernel::detect());
        assert_eq!(available[..3], [Kernel::Reference, Kernel::Sha2Midstate, Kernel::Lanes4]);
        assert!(available.contains(&Kernel::detect()));
        // Whatever this CPU lacks, `mine` answers like the reference (by falling back).
        let job = MiningJob::new(&header(7, 0x2000_ffff)).unwrap();
        let reference = job.mine(Kernel::Reference, 1000, 500);
        for &kernel in Kernel::ALL {
            assert_eq!(job.mine(kernel, 1000, 500), reference, "{}", kernel.name());
        }
    }
}
