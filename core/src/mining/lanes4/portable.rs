//! `U32x4` everywhere but wasm32 with SIMD128: four `u32` lanes as a
//! `[u32; 4]`, with the same methods as `wasm32_simd128.rs`, so that native
//! tests and benchmarks run the browser kernel's exact algorithm.

/// Four `u32` lanes as an array, lane by lane: the same algorithm as the
/// SIMD128 path, so native tests check its logic. (On x86-64 LLVM keeps
/// it scalar, four scalar rotates being cheaper than SSE2 shift pairs.)
#[derive(Clone, Copy)]
pub(super) struct U32x4([u32; 4]);

impl U32x4 {
    #[inline(always)]
    fn zip(self, o: Self, f: impl Fn(u32, u32) -> u32) -> Self {
        Self([f(self.0[0], o.0[0]), f(self.0[1], o.0[1]), f(self.0[2], o.0[2]), f(self.0[3], o.0[3])])
    }

    #[inline(always)]
    pub(super) fn splat(x: u32) -> Self {
        Self([x; 4])
    }

    #[inline(always)]
    pub(super) fn from_array(a: [u32; 4]) -> Self {
        Self(a)
    }

    #[inline(always)]
    pub(super) fn to_array(self) -> [u32; 4] {
        self.0
    }

    #[inline(always)]
    pub(super) fn add(self, o: Self) -> Self {
        self.zip(o, u32::wrapping_add)
    }

    #[inline(always)]
    pub(super) fn xor(self, o: Self) -> Self {
        self.zip(o, |a, b| a ^ b)
    }

    #[inline(always)]
    pub(super) fn or(self, o: Self) -> Self {
        self.zip(o, |a, b| a | b)
    }

    #[inline(always)]
    pub(super) fn and(self, o: Self) -> Self {
        self.zip(o, |a, b| a & b)
    }

    #[inline(always)]
    pub(super) fn shr(self, n: u32) -> Self {
        Self(self.0.map(|x| x >> n))
    }

    #[inline(always)]
    pub(super) fn shl(self, n: u32) -> Self {
        Self(self.0.map(|x| x << n))
    }

    #[inline(always)]
    pub(super) fn swap_bytes(self) -> Self {
        Self(self.0.map(u32::swap_bytes))
    }

    /// Bits of `one` where `mask` is set, of `zero` elsewhere.
    #[inline(always)]
    pub(super) fn select(mask: Self, one: Self, zero: Self) -> Self {
        let picked = one.zip(zero, |a, b| a ^ b);
        Self(std::array::from_fn(|i| zero.0[i] ^ (mask.0[i] & picked.0[i])))
    }

    /// Whether any lane is at most `bound`.
    #[inline(always)]
    pub(super) fn any_le(self, bound: u32) -> bool {
        self.0.iter().any(|&x| x <= bound)
    }
}
