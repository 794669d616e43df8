//! The x86-64 kernels [`Kernel::Avx2x8`] and [`Kernel::Avx512x16`]: the lane
//! types `U32x8` (AVX2) and `U32x16` (AVX-512F), with the same methods as
//! `U32x4`, and the lane kernel and search of `lanes.rs` instantiated on
//! them. Every method enables its CPU feature, so only code compiled for that
//! feature (the kernels' `target_feature` functions, entered after run-time
//! detection in [`MiningJob::mine`](super::MiningJob::mine)) can call them
//! without `unsafe`.
//!
//! [`Kernel::Avx2x8`]: super::Kernel::Avx2x8
//! [`Kernel::Avx512x16`]: super::Kernel::Avx512x16

use super::lanes::{lane_kernel, lane_search};
use core::arch::x86_64::*;

lane_kernel!(U32x8, 8, [#[target_feature(enable = "avx2")]], inline);
lane_kernel!(U32x16, 16, [#[target_feature(enable = "avx512f")]], inline);
lane_search!(U32x8, 8, [#[target_feature(enable = "avx2")]]);
lane_search!(U32x16, 16, [#[target_feature(enable = "avx512f")]]);

/// Eight `u32` lanes in an AVX2 register.
#[derive(Clone, Copy)]
pub(super) struct U32x8(__m256i);

/// Every lane of `$x` rotated right by `$n` bits: AVX2 has no rotate.
macro_rules! ror8 {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(_mm256_srli_epi32::<$n>($x), _mm256_slli_epi32::<{ 32 - $n }>($x))
    };
}

impl U32x8 {
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn splat(x: u32) -> Self {
        Self(_mm256_set1_epi32(x as i32))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn from_array(a: [u32; 8]) -> Self {
        let a = a.map(|x| x as i32);
        Self(_mm256_setr_epi32(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn to_array(self) -> [u32; 8] {
        let v = self.0;
        [
            _mm256_extract_epi32::<0>(v),
            _mm256_extract_epi32::<1>(v),
            _mm256_extract_epi32::<2>(v),
            _mm256_extract_epi32::<3>(v),
            _mm256_extract_epi32::<4>(v),
            _mm256_extract_epi32::<5>(v),
            _mm256_extract_epi32::<6>(v),
            _mm256_extract_epi32::<7>(v),
        ]
        .map(|x| x as u32)
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn lane_index() -> Self {
        Self(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn add(self, o: Self) -> Self {
        Self(_mm256_add_epi32(self.0, o.0))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn big_sigma0(self) -> Self {
        let x = self.0;
        Self(_mm256_xor_si256(_mm256_xor_si256(ror8!(x, 2), ror8!(x, 13)), ror8!(x, 22)))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn big_sigma1(self) -> Self {
        let x = self.0;
        Self(_mm256_xor_si256(_mm256_xor_si256(ror8!(x, 6), ror8!(x, 11)), ror8!(x, 25)))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn small_sigma0(self) -> Self {
        let x = self.0;
        Self(_mm256_xor_si256(_mm256_xor_si256(ror8!(x, 7), ror8!(x, 18)), _mm256_srli_epi32::<3>(x)))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn small_sigma1(self) -> Self {
        let x = self.0;
        Self(_mm256_xor_si256(_mm256_xor_si256(ror8!(x, 17), ror8!(x, 19)), _mm256_srli_epi32::<10>(x)))
    }

    /// Ch(e, f, g) = g ^ (e & (f ^ g)): f where e is set, g elsewhere.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn ch(e: Self, f: Self, g: Self) -> Self {
        Self(_mm256_xor_si256(g.0, _mm256_and_si256(e.0, _mm256_xor_si256(f.0, g.0))))
    }

    /// Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c)); `a ^ b` is the next round's
    /// `b ^ c`, which the compiler reuses.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn maj(a: Self, b: Self, c: Self) -> Self {
        Self(_mm256_xor_si256(b.0, _mm256_and_si256(_mm256_xor_si256(a.0, b.0), _mm256_xor_si256(b.0, c.0))))
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn swap_bytes(self) -> Self {
        #[rustfmt::skip]
        let order = _mm256_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
        );
        Self(_mm256_shuffle_epi8(self.0, order))
    }

    /// Whether any lane is at most `bound` (`max(x, bound) == bound`: AVX2
    /// has no unsigned compare).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn any_le(self, bound: u32) -> bool {
        let bound = _mm256_set1_epi32(bound as i32);
        _mm256_movemask_epi8(_mm256_cmpeq_epi32(_mm256_max_epu32(self.0, bound), bound)) != 0
    }
}

/// Sixteen `u32` lanes in an AVX-512 register.
#[derive(Clone, Copy)]
pub(super) struct U32x16(__m512i);

/// Three-input bitwise functions for `vpternlogd`: bit `4a + 2b + c` of
/// the immediate is the result for input bits a, b, c.
const XOR3: i32 = 0x96;
const CH: i32 = 0xca;
const MAJ: i32 = 0xe8;

impl U32x16 {
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn splat(x: u32) -> Self {
        Self(_mm512_set1_epi32(x as i32))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn from_array(a: [u32; 16]) -> Self {
        let a = a.map(|x| x as i32);
        Self(_mm512_setr_epi32(
            a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15],
        ))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn to_array(self) -> [u32; 16] {
        let v = self.0;
        let quarters = [
            _mm512_extracti32x4_epi32::<0>(v),
            _mm512_extracti32x4_epi32::<1>(v),
            _mm512_extracti32x4_epi32::<2>(v),
            _mm512_extracti32x4_epi32::<3>(v),
        ];
        let mut out = [0u32; 16];
        for (chunk, q) in out.chunks_exact_mut(4).zip(quarters) {
            chunk.copy_from_slice(&[
                _mm_extract_epi32::<0>(q) as u32,
                _mm_extract_epi32::<1>(q) as u32,
                _mm_extract_epi32::<2>(q) as u32,
                _mm_extract_epi32::<3>(q) as u32,
            ]);
        }
        out
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn lane_index() -> Self {
        Self(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn add(self, o: Self) -> Self {
        Self(_mm512_add_epi32(self.0, o.0))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn big_sigma0(self) -> Self {
        let x = self.0;
        Self(_mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<2>(x),
            _mm512_ror_epi32::<13>(x),
            _mm512_ror_epi32::<22>(x),
        ))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn big_sigma1(self) -> Self {
        let x = self.0;
        Self(_mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<6>(x),
            _mm512_ror_epi32::<11>(x),
            _mm512_ror_epi32::<25>(x),
        ))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn small_sigma0(self) -> Self {
        let x = self.0;
        Self(_mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<7>(x),
            _mm512_ror_epi32::<18>(x),
            _mm512_srli_epi32::<3>(x),
        ))
    }

    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn small_sigma1(self) -> Self {
        let x = self.0;
        Self(_mm512_ternarylogic_epi32::<XOR3>(
            _mm512_ror_epi32::<17>(x),
            _mm512_ror_epi32::<19>(x),
            _mm512_srli_epi32::<10>(x),
        ))
    }

    /// Ch(e, f, g): f where e is set, g elsewhere.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn ch(e: Self, f: Self, g: Self) -> Self {
        Self(_mm512_ternarylogic_epi32::<CH>(e.0, f.0, g.0))
    }

    /// Maj(a, b, c): the bit most of a, b, c have.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn maj(a: Self, b: Self, c: Self) -> Self {
        Self(_mm512_ternarylogic_epi32::<MAJ>(a.0, b.0, c.0))
    }

    /// Bytes 0 and 2 rotated right and bytes 1 and 3 left by 8 bits
    /// (`vpshufb` on 512 bits would need AVX-512BW).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn swap_bytes(self) -> Self {
        let even = _mm512_set1_epi32(0x00ff_00ff);
        Self(_mm512_or_si512(
            _mm512_ror_epi32::<8>(_mm512_and_si512(self.0, even)),
            _mm512_rol_epi32::<8>(_mm512_andnot_si512(even, self.0)),
        ))
    }

    /// Whether any lane is at most `bound`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn any_le(self, bound: u32) -> bool {
        _mm512_cmple_epu32_mask(self.0, _mm512_set1_epi32(bound as i32)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::Kernel;
    use crate::mining::lanes::lane_checks;
    use crate::mining::test_support::can_test;

    lane_checks!(check_lanes8, U32x8, 8, [#[target_feature(enable = "avx2")]]);
    lane_checks!(check_lanes16, U32x16, 16, [#[target_feature(enable = "avx512f")]]);

    #[test]
    fn avx2_eight_lanes_match_sha2_lane_by_lane() {
        if !can_test(Kernel::Avx2x8) {
            return;
        }
        // SAFETY: `can_test` found AVX2, the only feature this function enables.
        unsafe { check_lanes8() }
    }

    #[test]
    fn avx512_sixteen_lanes_match_sha2_lane_by_lane() {
        if !can_test(Kernel::Avx512x16) {
            return;
        }
        // SAFETY: `can_test` found AVX-512F, the only feature this function enables.
        unsafe { check_lanes16() }
    }
}
