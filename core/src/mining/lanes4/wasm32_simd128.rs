//! `U32x4` on wasm32 with SIMD128: four `u32` lanes in one `v128` register,
//! the browser miner's lane type. The methods are the primitives
//! `lanes4.rs` builds the SHA-256 functions from; each is one wasm SIMD
//! instruction (`swap_bytes` a shuffle), inlined into the kernel.

use core::arch::wasm32::*;

/// Four `u32` lanes in a wasm SIMD128 register.
#[derive(Clone, Copy)]
pub(super) struct U32x4(v128);

impl U32x4 {
    #[inline(always)]
    pub(super) fn splat(x: u32) -> Self {
        Self(u32x4_splat(x))
    }

    #[inline(always)]
    pub(super) fn from_array(a: [u32; 4]) -> Self {
        Self(u32x4(a[0], a[1], a[2], a[3]))
    }

    #[inline(always)]
    pub(super) fn to_array(self) -> [u32; 4] {
        [
            u32x4_extract_lane::<0>(self.0),
            u32x4_extract_lane::<1>(self.0),
            u32x4_extract_lane::<2>(self.0),
            u32x4_extract_lane::<3>(self.0),
        ]
    }

    #[inline(always)]
    pub(super) fn add(self, o: Self) -> Self {
        Self(u32x4_add(self.0, o.0))
    }

    #[inline(always)]
    pub(super) fn xor(self, o: Self) -> Self {
        Self(v128_xor(self.0, o.0))
    }

    #[inline(always)]
    pub(super) fn or(self, o: Self) -> Self {
        Self(v128_or(self.0, o.0))
    }

    #[inline(always)]
    pub(super) fn and(self, o: Self) -> Self {
        Self(v128_and(self.0, o.0))
    }

    #[inline(always)]
    pub(super) fn shr(self, n: u32) -> Self {
        Self(u32x4_shr(self.0, n))
    }

    #[inline(always)]
    pub(super) fn shl(self, n: u32) -> Self {
        Self(u32x4_shl(self.0, n))
    }

    #[inline(always)]
    pub(super) fn swap_bytes(self) -> Self {
        Self(i8x16_shuffle::<3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12>(self.0, self.0))
    }

    /// Bits of `one` where `mask` is set, of `zero` elsewhere.
    #[inline(always)]
    pub(super) fn select(mask: Self, one: Self, zero: Self) -> Self {
        Self(v128_bitselect(one.0, zero.0, mask.0))
    }

    /// Whether any lane is at most `bound`.
    #[inline(always)]
    pub(super) fn any_le(self, bound: u32) -> bool {
        v128_any_true(u32x4_le(self.0, u32x4_splat(bound)))
    }
}
