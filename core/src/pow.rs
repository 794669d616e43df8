//! Proof-of-work search: the mining kernels behind one entry point.
//!
//! The header's first 64 bytes do not contain the nonce, so a [`MiningJob`]
//! compresses them once (the midstate) and each nonce costs one SHA-256
//! compression of the second block plus — only for candidates — the final
//! comparison. [`Kernel::detect`] picks the fastest kernel this build and CPU
//! offer; every kernel must find exactly what [`Kernel::Reference`] finds.
//!
//! [`Kernel::Lanes4`] hashes four consecutive nonces at once, one per lane of a
//! `u32x4` vector (wasm SIMD128 intrinsics on wasm32 with `simd128`, plain
//! `[u32; 4]` arrays elsewhere). The block hash is a single SHA-256 of the
//! header, so each nonce costs one compression of the second block, whose
//! message words are W0..W5 = header bytes 64..88, W6/W7 = the nonce (the
//! byte-swapped low and high halves of its little-endian encoding), W8 = the
//! `0x80` pad byte, W9..W14 = 0 and W15 = 768 (the length in bits). Only W6
//! and W7 change with the nonce, so per job ([`MiningJob::new`]) we precompute:
//!
//! - rounds 0..5 (state after round 5), and round 6 except its `+ W6`, which
//!   leaves the new `a` and `e` as constants plus W6;
//! - `K[t] + W[t]` for rounds 8..20, whose schedule words W16..W20 do not
//!   involve W6/W7;
//! - for W21..W36, the sum of the σ0/σ1/plain terms that only involve
//!   constant words, so the per-nonce work adds just the terms in W6, W7 or
//!   later nonce-dependent words.
//!
//! The hash meets the target only if its first word (state word 0 plus the
//! midstate) is at most the target's first word, so the lanes compute just
//! that word and only candidate lanes are rehashed with the reference path
//! and compared exactly as [`Kernel::Reference`] compares.

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
    /// Four consecutive nonces per step in `u32x4` lanes, nonce-independent
    /// rounds and schedule words precomputed per job (see the module docs).
    Lanes4,
}

impl Kernel {
    /// The fastest kernel available here: [`Kernel::Lanes4`] on wasm32 with
    /// SIMD128, otherwise [`Kernel::Sha2Midstate`] (`sha2` uses the CPU's SHA
    /// extensions where present, which beat four software lanes).
    pub fn detect() -> Kernel {
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
    lanes4: Lanes4Plan,
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
            lanes4: Lanes4Plan::new(&midstate, &tail),
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
            Kernel::Lanes4 => self.mine_lanes4(start_nonce, count),
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

    fn mine_lanes4(&self, start_nonce: u64, count: u64) -> MineOutcome {
        let mut done = 0u64;
        while count - done >= 4 {
            let first = start_nonce.wrapping_add(done);
            let (w6, w7) = consecutive_nonce_words(first);
            let top = self.lanes4.hash_first_word(w6, w7);
            if top.any_le(self.target_top)
                && let Some((lane, hash)) = self.first_hit(first, top.to_array())
            {
                return MineOutcome { found: Some((first.wrapping_add(lane), hash)), hashes: done + lane + 1 };
            }
            done += 4;
        }
        // Fewer than four nonces left: one at a time.
        let rest = self.mine_midstate(start_nonce.wrapping_add(done), count - done);
        MineOutcome { found: rest.found, hashes: done + rest.hashes }
    }

    /// The first of the four nonces from `first` whose hash meets the target,
    /// as its lane and hash, given the hashes' first words `top`. Candidates
    /// are rare and rehashed with the reference path, which alone decides.
    #[cold]
    #[inline(never)]
    fn first_hit(&self, first: u64, top: [u32; 4]) -> Option<(u64, BlockHash)> {
        (0u64..).zip(top).filter(|&(_, word)| word <= self.target_top).find_map(|(lane, word)| {
            let hash = self.header_with_nonce(first.wrapping_add(lane)).hash();
            debug_assert_eq!(hash.as_bytes()[..4], word.to_be_bytes());
            (hash.as_bytes() <= &self.target).then_some((lane, hash))
        })
    }
}

/// Message words W6 and W7 of the second block for four nonces: the
/// little-endian nonce bytes read as two big-endian words.
fn nonce_words(nonces: [u64; 4]) -> (U32x4, U32x4) {
    (
        U32x4::from_array(nonces.map(|n| (n as u32).swap_bytes())),
        U32x4::from_array(nonces.map(|n| ((n >> 32) as u32).swap_bytes())),
    )
}

/// [`nonce_words`] of `first` and the three nonces after it (wrapping).
#[inline(always)]
fn consecutive_nonce_words(first: u64) -> (U32x4, U32x4) {
    let low = first as u32;
    if low > u32::MAX - 3 {
        // The high half changes inside these four.
        return nonce_words([first, first.wrapping_add(1), first.wrapping_add(2), first.wrapping_add(3)]);
    }
    let lows = U32x4::splat(low).add(U32x4::from_array([0, 1, 2, 3]));
    (lows.swap_bytes(), U32x4::splat(((first >> 32) as u32).swap_bytes()))
}

/// SHA-256 round constants (FIPS 180-4, section 4.2.2).
#[rustfmt::skip]
const K: [u32; 64] = [
    0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
    0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
    0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
    0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
    0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
    0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
    0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
    0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
];

fn big_sigma0(x: u32) -> u32 {
    x.rotate_right(2) ^ x.rotate_right(13) ^ x.rotate_right(22)
}

fn big_sigma1(x: u32) -> u32 {
    x.rotate_right(6) ^ x.rotate_right(11) ^ x.rotate_right(25)
}

fn small_sigma0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

fn small_sigma1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// One scalar SHA-256 round; `kw` is `K[t] + W[t]`.
fn round(s: [u32; 8], kw: u32) -> [u32; 8] {
    let [a, b, c, d, e, f, g, h] = s;
    let t1 = h.wrapping_add(big_sigma1(e)).wrapping_add((e & f) ^ (!e & g)).wrapping_add(kw);
    let t2 = big_sigma0(a).wrapping_add((a & b) ^ (a & c) ^ (b & c));
    [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g]
}

/// Whether schedule word `t` of the second block is the same for every nonce.
const fn nonce_free(t: usize) -> bool {
    t <= 20 && t != 6 && t != 7
}

/// Everything [`Kernel::Lanes4`] computes once per job (see the module docs).
#[derive(Clone, Debug)]
struct Lanes4Plan {
    midstate: [u32; 8],
    /// State before round 7 with W6 left out of `a` (index 0) and `e` (index
    /// 4), and `K[7]` folded into `h` (index 7), which only round 7 reads.
    state7: [u32; 8],
    /// `K[t] + W[t]` for rounds 8..=20, at `t - 8`.
    kw: [u32; 13],
    /// The nonce-free part of W21..=W36, at `t - 21`.
    partial_w: [u32; 16],
}

impl Lanes4Plan {
    fn new(midstate: &[u32; 8], tail: &[u8; 64]) -> Self {
        let mut w = [0u32; 21];
        for (word, bytes) in w.iter_mut().zip(tail.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        // W6/W7 are never read below.
        for t in 16..21 {
            w[t] = small_sigma1(w[t - 2])
                .wrapping_add(w[t - 7])
                .wrapping_add(small_sigma0(w[t - 15]))
                .wrapping_add(w[t - 16]);
        }
        let mut s = *midstate;
        for t in 0..6 {
            s = round(s, K[t].wrapping_add(w[t]));
        }
        // Round 6 with W6 = 0: the lanes add W6 to `a` and `e`.
        let mut state7 = round(s, K[6]);
        state7[7] = state7[7].wrapping_add(K[7]);
        let kw = std::array::from_fn(|i| K[i + 8].wrapping_add(w[i + 8]));
        let partial_w = std::array::from_fn(|i| {
            let t = i + 21;
            let mut sum = 0u32;
            if nonce_free(t - 2) {
                sum = sum.wrapping_add(small_sigma1(w[t - 2]));
            }
            if nonce_free(t - 7) {
                sum = sum.wrapping_add(w[t - 7]);
            }
            if nonce_free(t - 15) {
                sum = sum.wrapping_add(small_sigma0(w[t - 15]));
            }
            if nonce_free(t - 16) {
                sum = sum.wrapping_add(w[t - 16]);
            }
            sum
        });
        Self { midstate: *midstate, state7, kw, partial_w }
    }

    /// The first word of the four hashes whose nonces give message words `w6`
    /// and `w7`: only that word decides whether a lane can meet the target.
    #[inline(always)]
    fn hash_first_word(&self, w6: U32x4, w7: U32x4) -> U32x4 {
        self.hash(w6, w7)[0]
    }

    /// The full SHA-256 state after the second block for four nonces (callers
    /// that read only some words let the compiler drop the rest).
    #[inline(always)]
    fn hash(&self, w6: U32x4, w7: U32x4) -> [U32x4; 8] {
        let splat = U32x4::splat;
        let p = &self.partial_w;
        let mut s = self.state7.map(splat);
        s[0] = s[0].add(w6);
        s[4] = s[4].add(w6);
        s = round4(s, w7);
        macro_rules! constant_rounds {
            ($($t:literal)*) => { $( s = round4(s, splat(self.kw[$t - 8])); )* };
        }
        constant_rounds!(8 9 10 11 12 13 14 15 16 17 18 19 20);
        let mut w = [splat(0); 64];
        w[6] = w6;
        w[7] = w7;
        // The nonce-dependent terms of W21..=W36; the rest is in `partial_w`.
        macro_rules! partial_rounds {
            ($($t:literal => $w:expr;)*) => { $( w[$t] = $w; s = round4(s, w[$t].add(splat(K[$t]))); )* };
        }
        partial_rounds! {
            21 => splat(p[0]).add(w[6].small_sigma0());
            22 => splat(p[1]).add(w[7].small_sigma0()).add(w[6]);
            23 => w[21].small_sigma1().add(splat(p[2])).add(w[7]);
            24 => w[22].small_sigma1().add(splat(p[3]));
            25 => w[23].small_sigma1().add(splat(p[4]));
            26 => w[24].small_sigma1().add(splat(p[5]));
            27 => w[25].small_sigma1().add(splat(p[6]));
            28 => w[26].small_sigma1().add(w[21]).add(splat(p[7]));
            29 => w[27].small_sigma1().add(w[22]).add(splat(p[8]));
            30 => w[28].small_sigma1().add(w[23]).add(splat(p[9]));
            31 => w[29].small_sigma1().add(w[24]).add(splat(p[10]));
            32 => w[30].small_sigma1().add(w[25]).add(splat(p[11]));
            33 => w[31].small_sigma1().add(w[26]).add(splat(p[12]));
            34 => w[32].small_sigma1().add(w[27]).add(splat(p[13]));
            35 => w[33].small_sigma1().add(w[28]).add(splat(p[14]));
            36 => w[34].small_sigma1().add(w[29]).add(w[21].small_sigma0()).add(splat(p[15]));
        }
        macro_rules! full_rounds {
            ($($t:literal)*) => { $(
                w[$t] = w[$t - 2].small_sigma1().add(w[$t - 7]).add(w[$t - 15].small_sigma0()).add(w[$t - 16]);
                s = round4(s, w[$t].add(splat(K[$t])));
            )* };
        }
        full_rounds!(37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
        std::array::from_fn(|i| s[i].add(splat(self.midstate[i])))
    }
}

/// One SHA-256 round on four lanes; `kw` is `K[t] + W[t]`.
#[inline(always)]
fn round4(s: [U32x4; 8], kw: U32x4) -> [U32x4; 8] {
    let [a, b, c, d, e, f, g, h] = s;
    // `h + kw` first: in rounds 7..=9 both are nonce-free and get hoisted.
    let t1 = h.add(kw).add(e.big_sigma1()).add(U32x4::select(e, f, g));
    // Maj(a, b, c): where a and b agree it is b, elsewhere c.
    let t2 = a.big_sigma0().add(U32x4::select(a.xor(b), c, b));
    [t1.add(t2), a, b, c, d.add(t1), e, f, g]
}

impl U32x4 {
    #[inline(always)]
    fn rotr(self, n: u32) -> Self {
        self.shr(n).or(self.shl(32 - n))
    }

    #[inline(always)]
    fn big_sigma0(self) -> Self {
        self.rotr(2).xor(self.rotr(13)).xor(self.rotr(22))
    }

    #[inline(always)]
    fn big_sigma1(self) -> Self {
        self.rotr(6).xor(self.rotr(11)).xor(self.rotr(25))
    }

    #[inline(always)]
    fn small_sigma0(self) -> Self {
        self.rotr(7).xor(self.rotr(18)).xor(self.shr(3))
    }

    #[inline(always)]
    fn small_sigma1(self) -> Self {
        self.rotr(17).xor(self.rotr(19)).xor(self.shr(10))
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod lanes {
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
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod lanes {
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
}

use lanes::U32x4;

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
            // 0x2000ffff: about one hash in 256 meets it, so ranges find and miss.
            let job = MiningJob::new(&header(seed, 0x2000_ffff)).unwrap();
            let reference = job.mine(Kernel::Reference, start, 300);
            prop_assert_eq!(reference, job.mine(Kernel::Sha2Midstate, start, 300));
            prop_assert_eq!(reference, job.mine(Kernel::Lanes4, start, 300));
        }
    }

    /// SplitMix64: a tiny deterministic PRNG for the 4-lane tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn bytes<const N: usize>(&mut self) -> [u8; N] {
            std::array::from_fn(|_| self.next() as u8)
        }
    }

    fn random_header(rng: &mut Rng, bits: u32) -> BlockHeader {
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

    /// Full SHA-256 compression of one block per lane with the 4-lane round
    /// and schedule code, nothing precomputed.
    fn compress4(states: &[[u32; 8]; 4], blocks: &[[u8; 64]; 4]) -> [[u32; 8]; 4] {
        use std::array::from_fn;
        let mut w = [U32x4::splat(0); 64];
        for (t, word) in w.iter_mut().enumerate().take(16) {
            *word = U32x4::from_array(from_fn(|l| u32::from_be_bytes(blocks[l][4 * t..4 * t + 4].try_into().unwrap())));
        }
        for t in 16..64 {
            w[t] = w[t - 2].small_sigma1().add(w[t - 7]).add(w[t - 15].small_sigma0()).add(w[t - 16]);
        }
        let initial: [U32x4; 8] = from_fn(|i| U32x4::from_array(from_fn(|l| states[l][i])));
        let mut s = initial;
        for (t, word) in w.iter().enumerate() {
            s = round4(s, word.add(U32x4::splat(K[t])));
        }
        let words: [[u32; 4]; 8] = from_fn(|i| s[i].add(initial[i]).to_array());
        from_fn(|l| from_fn(|i| words[i][l]))
    }

    #[test]
    fn four_lane_compression_matches_sha2_per_lane() {
        let mut rng = Rng(1);
        for _ in 0..100 {
            let states: [[u32; 8]; 4] = std::array::from_fn(|_| std::array::from_fn(|_| rng.next() as u32));
            let blocks: [[u8; 64]; 4] = std::array::from_fn(|_| rng.bytes());
            let lanes = compress4(&states, &blocks);
            for lane in 0..4 {
                let mut expected = states[lane];
                compress256(&mut expected, &blocks[lane..=lane]);
                assert_eq!(lanes[lane], expected, "lane {lane}");
            }
        }
    }

    #[test]
    fn four_lane_header_hash_matches_sha2_bit_for_bit() {
        let mut rng = Rng(2);
        for i in 0..250 {
            let job = MiningJob::new(&random_header(&mut rng, 0x1d1c_a1f3)).unwrap();
            // Unrelated nonces per lane, including ones with the same low or high half.
            let mut nonces: [u64; 4] = std::array::from_fn(|_| rng.next());
            if i % 3 == 0 {
                nonces[1] = nonces[0] ^ 0xffff_ffff;
                nonces[2] = nonces[0] ^ (0xffff_ffff << 32);
                nonces[3] = u64::MAX - (i as u64 % 4);
            }
            let (w6, w7) = nonce_words(nonces);
            let state = job.lanes4.hash(w6, w7);
            let first = job.lanes4.hash_first_word(w6, w7).to_array();
            for (lane, &nonce) in nonces.iter().enumerate() {
                let expected = sha256(&job.header_with_nonce(nonce).to_bytes());
                let words: [u32; 8] = std::array::from_fn(|w| state[w].to_array()[lane]);
                assert_eq!(state_to_hash(&words).as_bytes(), &expected, "header {i} lane {lane}");
                assert_eq!(first[lane].to_be_bytes(), expected[..4]);
            }
        }
    }

    #[test]
    fn consecutive_nonce_words_match_per_lane_words() {
        let mut rng = Rng(5);
        let edges =
            [0, 1, u32::MAX as u64 - 4, u32::MAX as u64 - 3, u32::MAX as u64 - 2, u32::MAX as u64, u64::MAX - 3];
        let randoms: Vec<u64> = (0..100).map(|_| rng.next()).collect();
        for first in edges.into_iter().chain(randoms).chain([u64::MAX - 2, u64::MAX - 1, u64::MAX]) {
            let lanes = std::array::from_fn(|i| first.wrapping_add(i as u64));
            let (w6, w7) = consecutive_nonce_words(first);
            let (e6, e7) = nonce_words(lanes);
            assert_eq!((w6.to_array(), w7.to_array()), (e6.to_array(), e7.to_array()), "first {first:#x}");
            let bytes = lanes[0].to_le_bytes();
            assert_eq!(w6.to_array()[0], u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
            assert_eq!(w7.to_array()[0], u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
        }
    }

    #[test]
    fn four_lane_kernel_finds_what_reference_finds() {
        // From "every hash meets it" and the dev target (about half) down to
        // one that no hash meets.
        const BITS: [u32; 5] = [0x2100_ffff, 0x207f_ffff, 0x2000_ffff, 0x1f00_ffff, 0x0300_0001];
        const COUNTS: [u64; 14] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 64, 100, 257];
        let mut rng = Rng(3);
        for i in 0..280 {
            let bits = BITS[i % BITS.len()];
            let count = COUNTS[i % COUNTS.len()];
            let job = MiningJob::new(&random_header(&mut rng, bits)).unwrap();
            let starts = [
                rng.next(),
                rng.next() % 1000,
                // The range ends exactly at u64::MAX.
                u64::MAX.wrapping_sub(count).wrapping_add(1),
                // The range wraps past u64::MAX.
                u64::MAX - 2,
                // The nonce's high word changes inside the range.
                (1 << 32) - 3,
            ];
            for start in starts {
                let reference = job.mine(Kernel::Reference, start, count);
                assert_eq!(
                    job.mine(Kernel::Lanes4, start, count),
                    reference,
                    "bits {bits:#x} start {start} count {count}"
                );
                assert!(reference.hashes <= count);
            }
        }
    }

    #[test]
    fn four_lane_kernel_rejects_near_misses() {
        // Targets just below and at one nonce's hash: that nonce passes the
        // first-word filter, yet only the exact comparison decides.
        let mut rng = Rng(4);
        for i in 0..200 {
            let mut job = MiningJob::new(&random_header(&mut rng, 0x207f_ffff)).unwrap();
            let start = rng.next();
            let offset = i % 11;
            let hash = *job.header_with_nonce(start.wrapping_add(offset)).hash().as_bytes();
            let mut below = hash;
            if let Some(pos) = below.iter().rposition(|&b| b != 0) {
                below[pos] -= 1;
                below[pos + 1..].fill(0xff);
            }
            for target in [below, hash] {
                job.target = target;
                job.target_top = u32::from_be_bytes([target[0], target[1], target[2], target[3]]);
                let reference = job.mine(Kernel::Reference, start, 16);
                assert_eq!(job.mine(Kernel::Lanes4, start, 16), reference);
                if target == hash {
                    assert!(reference.found.is_some());
                }
            }
        }
    }
}
