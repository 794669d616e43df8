//! Proof-of-work search: the mining kernels behind one entry point.
//!
//! The header's first 64 bytes do not contain the nonce, so a [`MiningJob`]
//! compresses them once (the midstate) and each nonce costs one SHA-256
//! compression of the second block plus — only for candidates — the final
//! comparison. [`Kernel::detect`] picks the fastest kernel this build and CPU
//! offer; every kernel must find exactly what [`Kernel::Reference`] finds.
//!
//! [`Kernel::Lanes4`] hashes eight consecutive nonces per step as two batches
//! of four, one nonce per lane of a `u32x4` vector (wasm SIMD128 intrinsics
//! on wasm32 with `simd128`, plain `[u32; 4]` arrays elsewhere), the two
//! batches' rounds interleaved and their order pinned for V8 (see
//! `LaneBatch`). On x86-64, [`Kernel::Avx2x8`] and [`Kernel::Avx512x16`]
//! run the same rounds (one batch, `second_block_rounds!`) on 8 and 16 lanes
//! of AVX2 and AVX-512F registers, if the CPU has them (checked at run time),
//! where LLVM's own instruction order is good. The block
//! hash is a single SHA-256 of the header, so each nonce costs one compression
//! of the second block, whose message words are W0..W5 = header bytes 64..88,
//! W6/W7 = the nonce (the byte-swapped low and high halves of its
//! little-endian encoding), W8 = the `0x80` pad byte, W9..W14 = 0 and W15 = 768
//! (the length in bits). Only W6 and W7 change with the nonce, so per job
//! ([`MiningJob::new`]) we precompute:
//!
//! - rounds 0..5 (state after round 5), and round 6 except its `+ W6`, which
//!   leaves the new `a` and `e` as constants plus W6;
//! - `K[t] + W[t]` for rounds 8..20, whose schedule words W16..W20 do not
//!   involve W6/W7;
//! - for W21..W36, the sum of the σ0/σ1/plain terms that only involve
//!   constant words, so the per-nonce work adds just the terms in W6, W7 or
//!   later nonce-dependent words.
//!
//! W7, the nonce's high half, changes only every 2^32 nonces, so
//! [`Kernel::Lanes4`] also folds it into round 7 and W22/W23 once per value
//! (`LanePlan::high_word_terms`).
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

    /// The header this job mines, with `nonce` filled in.
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

    /// [`Kernel::Lanes4`]: eight consecutive nonces per step as two
    /// [`LaneBatch`]es; the last fewer than eight, and the eight around each
    /// change of the nonce's high half, with the midstate kernel.
    fn mine_lanes4(&self, start_nonce: u64, count: u64) -> MineOutcome {
        let mut high = self.plan.high_word_terms(((start_nonce >> 32) as u32).swap_bytes());
        let mut done = 0u64;
        while count - done >= 8 {
            let first = start_nonce.wrapping_add(done);
            if first as u32 > u32::MAX - 7 {
                let out = self.mine_midstate(first, 8);
                if out.found.is_some() {
                    return MineOutcome { found: out.found, hashes: done + out.hashes };
                }
                done += 8;
                continue;
            }
            let w7 = ((first >> 32) as u32).swap_bytes();
            if w7 != high.w7 {
                high = self.plan.high_word_terms(w7);
            }
            let second = first.wrapping_add(4);
            let (w6, _) = U32x4::consecutive_nonce_words(first);
            let (w6_second, _) = U32x4::consecutive_nonce_words(second);
            let tops = batch_pair_first_words(&self.plan, &high, [w6, w6_second]);
            for (batch_first, top) in [first, second].into_iter().zip(tops) {
                if top.any_le(self.target_top)
                    && let Some((lane, hash)) = self.first_hit(batch_first, top.to_array())
                {
                    let offset = batch_first.wrapping_sub(first) + lane;
                    return MineOutcome { found: Some((first.wrapping_add(offset), hash)), hashes: done + offset + 1 };
                }
            }
            done += 8;
        }
        let rest = self.mine_midstate(start_nonce.wrapping_add(done), count - done);
        MineOutcome { found: rest.found, hashes: done + rest.hashes }
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

/// Everything the lane kernels compute once per job (see the module docs).
#[derive(Clone, Debug)]
struct LanePlan {
    midstate: [u32; 8],
    /// State before round 7 with W6 left out of `a` (index 0) and `e` (index
    /// 4), and `K[7]` folded into `h` (index 7), which only round 7 reads.
    state7: [u32; 8],
    /// `K[t] + W[t]` for rounds 8..=20, at `t - 8`.
    kw: [u32; 13],
    /// The nonce-free part of W21..=W36, at `t - 21`.
    partial_w: [u32; 16],
}

impl LanePlan {
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

    /// The terms that W7, the high half of the nonce (byte-swapped), adds to
    /// the plan. It changes only every 2^32 nonces, so [`Kernel::Lanes4`]
    /// treats it as a constant while the low half counts.
    fn high_word_terms(&self, w7: u32) -> HighWordTerms {
        HighWordTerms {
            w7,
            h7: self.state7[7].wrapping_add(w7),
            w22: self.partial_w[1].wrapping_add(small_sigma0(w7)),
            w23: self.partial_w[2].wrapping_add(w7),
        }
    }
}

/// [`LanePlan`]'s constants for one value of W7 (see
/// [`LanePlan::high_word_terms`]).
#[derive(Clone, Copy)]
struct HighWordTerms {
    /// The W7 these terms are for.
    w7: u32,
    /// `h + K[7] + W7` of round 7.
    h7: u32,
    /// The nonce-free part of W22 plus σ0(W7): W22 is this plus W6.
    w22: u32,
    /// The nonce-free part of W23 plus W7: W23 is this plus σ1(W21).
    w23: u32,
}

/// Rounds 7..=63 of the second block on lane type `$V` from a [`LanePlan`],
/// the nonces given by their message words W6 and W7: the state after round
/// 63, the midstate not yet added. Callers that use only some words let the
/// compiler drop the rest. (The `@` arms repeat a round over a list of `t`;
/// locals are passed in by name for hygiene.)
macro_rules! second_block_rounds {
    ($V:ident, $plan:expr, $w6:expr, $w7:expr) => {{
        let plan: &LanePlan = $plan;
        let (w6, w7): ($V, $V) = ($w6, $w7);
        let (c, p) = (&plan.state7, &plan.partial_w);
        let mut s = [
            $V::splat(c[0]).add(w6),
            $V::splat(c[1]),
            $V::splat(c[2]),
            $V::splat(c[3]),
            $V::splat(c[4]).add(w6),
            $V::splat(c[5]),
            $V::splat(c[6]),
            $V::splat(c[7]),
        ];
        s = $V::round(s, w7);
        second_block_rounds!(@constant $V, s, plan; 8 9 10 11 12 13 14 15 16 17 18 19 20);
        let mut w = [$V::splat(0); 64];
        w[6] = w6;
        w[7] = w7;
        // The nonce-dependent terms of W21..=W36; the rest is in `partial_w`.
        second_block_rounds! { @partial $V, s, w;
            21 => $V::splat(p[0]).add(w[6].small_sigma0());
            22 => $V::splat(p[1]).add(w[7].small_sigma0()).add(w[6]);
            23 => w[21].small_sigma1().add($V::splat(p[2])).add(w[7]);
            24 => w[22].small_sigma1().add($V::splat(p[3]));
            25 => w[23].small_sigma1().add($V::splat(p[4]));
            26 => w[24].small_sigma1().add($V::splat(p[5]));
            27 => w[25].small_sigma1().add($V::splat(p[6]));
            28 => w[26].small_sigma1().add(w[21]).add($V::splat(p[7]));
            29 => w[27].small_sigma1().add(w[22]).add($V::splat(p[8]));
            30 => w[28].small_sigma1().add(w[23]).add($V::splat(p[9]));
            31 => w[29].small_sigma1().add(w[24]).add($V::splat(p[10]));
            32 => w[30].small_sigma1().add(w[25]).add($V::splat(p[11]));
            33 => w[31].small_sigma1().add(w[26]).add($V::splat(p[12]));
            34 => w[32].small_sigma1().add(w[27]).add($V::splat(p[13]));
            35 => w[33].small_sigma1().add(w[28]).add($V::splat(p[14]));
            36 => w[34].small_sigma1().add(w[29]).add(w[21].small_sigma0()).add($V::splat(p[15]));
        }
        second_block_rounds!(@full $V, s, w;
            37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
        s
    }};
    (@constant $V:ident, $s:ident, $plan:ident; $($t:literal)*) => {
        $( $s = $V::round($s, $V::splat($plan.kw[$t - 8])); )*
    };
    (@partial $V:ident, $s:ident, $w:ident; $($t:literal => $word:expr;)*) => {
        $( $w[$t] = $word; $s = $V::round($s, $w[$t].add($V::splat(K[$t]))); )*
    };
    (@full $V:ident, $s:ident, $w:ident; $($t:literal)*) => {
        $(
            $w[$t] = $w[$t - 2].small_sigma1().add($w[$t - 7]).add($w[$t - 15].small_sigma0()).add($w[$t - 16]);
            $s = $V::round($s, $w[$t].add($V::splat(K[$t])));
        )*
    };
}

/// The lane kernel on lane type `$V` of `$n` lanes: SHA-256 round, nonce
/// words, hashes from a [`LanePlan`] and the search loop. `$feature` are the
/// `target_feature` attributes its methods need (none for [`U32x4`]), and
/// `$inline` the inline hint of the small functions (`inline(always)` cannot
/// go with `target_feature`).
macro_rules! lane_kernel {
    ($V:ident, $n:literal, [$(#[$feature:meta])*], $inline:meta) => {
        impl $V {
            /// One SHA-256 round on every lane; `kw` is `K[t] + W[t]`.
            $(#[$feature])*
            #[$inline]
            fn round(s: [$V; 8], kw: $V) -> [$V; 8] {
                let [a, b, c, d, e, f, g, h] = s;
                // `h + kw` first: in rounds 7..=9 both are nonce-free and get hoisted.
                let t1 = h.add(kw).add(e.big_sigma1()).add($V::ch(e, f, g));
                let t2 = a.big_sigma0().add($V::maj(a, b, c));
                [t1.add(t2), a, b, c, d.add(t1), e, f, g]
            }

            /// Message words W6 and W7 of the second block for one nonce per
            /// lane: the little-endian nonce bytes read as two big-endian words.
            $(#[$feature])*
            #[$inline]
            fn nonce_words(nonces: [u64; $n]) -> ($V, $V) {
                let mut low = [0u32; $n];
                let mut high = [0u32; $n];
                for ((low, high), nonce) in low.iter_mut().zip(&mut high).zip(nonces) {
                    *low = (nonce as u32).swap_bytes();
                    *high = ((nonce >> 32) as u32).swap_bytes();
                }
                ($V::from_array(low), $V::from_array(high))
            }

            /// [`Self::nonce_words`] of `first` and the nonces after it (wrapping).
            $(#[$feature])*
            #[$inline]
            fn consecutive_nonce_words(first: u64) -> ($V, $V) {
                let low = first as u32;
                if low > u32::MAX - ($n - 1) {
                    // The high half changes inside these nonces.
                    let mut nonces = [first; $n];
                    for (lane, nonce) in (0u64..).zip(&mut nonces) {
                        *nonce = first.wrapping_add(lane);
                    }
                    return $V::nonce_words(nonces);
                }
                let lows = $V::splat(low).add($V::lane_index());
                (lows.swap_bytes(), $V::splat(((first >> 32) as u32).swap_bytes()))
            }

            /// The full SHA-256 state after the second block for the nonces
            /// whose message words are `w6` and `w7`.
            #[cfg(test)]
            $(#[$feature])*
            #[$inline]
            fn hash(plan: &LanePlan, w6: $V, w7: $V) -> [$V; 8] {
                let s = second_block_rounds!($V, plan, w6, w7);
                let m = &plan.midstate;
                [
                    s[0].add($V::splat(m[0])),
                    s[1].add($V::splat(m[1])),
                    s[2].add($V::splat(m[2])),
                    s[3].add($V::splat(m[3])),
                    s[4].add($V::splat(m[4])),
                    s[5].add($V::splat(m[5])),
                    s[6].add($V::splat(m[6])),
                    s[7].add($V::splat(m[7])),
                ]
            }

            /// The first word of `hash` (tests only), which alone decides whether a
            /// lane can meet the target; the rounds' other outputs are dropped.
            /// ([`U32x4`] searches with [`LaneBatch`] instead and uses this only
            /// in tests.)
            #[cfg_attr(not(test), allow(dead_code))]
            $(#[$feature])*
            #[$inline]
            fn first_word(plan: &LanePlan, w6: $V, w7: $V) -> $V {
                let s = second_block_rounds!($V, plan, w6, w7);
                s[0].add($V::splat(plan.midstate[0]))
            }
        }
    };
}

/// [`MiningJob::mine`] for the wide lane type `$V` of `$n` lanes (what
/// [`U32x4`] does instead is [`MiningJob::mine_lanes4`]).
#[cfg(target_arch = "x86_64")]
macro_rules! lane_search {
    ($V:ident, $n:literal, [$(#[$feature:meta])*]) => {
        impl $V {
            /// [`MiningJob::mine`] on `$n` consecutive nonces per step; the
            /// last fewer than `$n` one at a time with the midstate kernel.
            $(#[$feature])*
            fn mine(job: &MiningJob, start_nonce: u64, count: u64) -> MineOutcome {
                let mut done = 0u64;
                while count - done >= $n {
                    let first = start_nonce.wrapping_add(done);
                    let (w6, w7) = $V::consecutive_nonce_words(first);
                    let top = $V::first_word(&job.plan, w6, w7);
                    if top.any_le(job.target_top)
                        && let Some((lane, hash)) = job.first_hit(first, top.to_array())
                    {
                        return MineOutcome { found: Some((first.wrapping_add(lane), hash)), hashes: done + lane + 1 };
                    }
                    done += $n;
                }
                let rest = job.mine_midstate(start_nonce.wrapping_add(done), count - done);
                MineOutcome { found: rest.found, hashes: done + rest.hashes }
            }
        }
    };
}

lane_kernel!(U32x4, 4, [], inline(always));
#[cfg(target_arch = "x86_64")]
lane_kernel!(U32x8, 8, [#[target_feature(enable = "avx2")]], inline);
#[cfg(target_arch = "x86_64")]
lane_kernel!(U32x16, 16, [#[target_feature(enable = "avx512f")]], inline);
#[cfg(target_arch = "x86_64")]
lane_search!(U32x8, 8, [#[target_feature(enable = "avx2")]]);
#[cfg(target_arch = "x86_64")]
lane_search!(U32x16, 16, [#[target_feature(enable = "avx512f")]]);

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

    /// Ch(e, f, g): f where e is set, g elsewhere.
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        U32x4::select(e, f, g)
    }

    /// Maj(a, b, c): where a and b agree it is b, elsewhere c.
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        U32x4::select(a.xor(b), c, b)
    }

    #[inline(always)]
    fn lane_index() -> Self {
        U32x4::from_array([0, 1, 2, 3])
    }
}

/// Reads `*value` with a volatile load, which the compiler must perform
/// exactly here, in program order with the other volatile accesses, and
/// cannot fold into a constant or move (see [`LaneBatch`] for why).
#[inline(always)]
fn load_pinned<T: Copy>(value: &T) -> T {
    // SAFETY: a shared reference is valid and aligned for reads.
    unsafe { core::ptr::read_volatile(value) }
}

/// Writes `value` to `*slot` with a volatile store (see [`load_pinned`]).
#[inline(always)]
fn store_pinned<T: Copy>(slot: &mut T, value: T) {
    // SAFETY: a unique reference is valid and aligned for writes; `T: Copy`
    // has no destructor to skip.
    unsafe { core::ptr::write_volatile(slot, value) }
}

/// One batch of four consecutive nonces in [`Kernel::Lanes4`]'s search,
/// which runs two batches side by side: rounds 7..=63 of the second block
/// from a [`LanePlan`], round by round, batch after batch.
///
/// Shaped for V8, which compiles the wasm as it comes: it does not reorder
/// instructions and has 16 SIMD registers. Two batches give the CPU two
/// independent dependency chains (one chain leaves 5–10% of its vector
/// ports idle). And the round order is pinned: left alone, LLVM's wasm
/// backend computes every schedule word before the first round that needs
/// one and V8 then spills them all, or it turns Maj into `v128.bitselect`,
/// which V8 lowers to three instructions where two do. So each round stores
/// its new `a` and each schedule word with volatile stores, and reads the
/// schedule words, Maj's `b` and the per-round constants back with volatile
/// loads: volatile accesses stay in program order, so round `t`'s schedule
/// word is computed after round `t - 1` and the values are loaded where
/// they are used. Loads and stores run on other ports than the arithmetic,
/// and V8 would spill about as many values anyway. Measured in Chromium 156
/// on one worker: 14.7 M hashes/s against 13.7 M for one batch with the
/// schedule in a loop (the previous kernel) and 12.3 M fully unrolled.
struct LaneBatch {
    /// Working variables `a..h`.
    state: [U32x4; 8],
    /// `a ^ b` of the last round, which is this round's `b ^ c` (for Maj).
    b_xor_c: U32x4,
    /// The last four rounds' `a` (round `t`'s at `t % 4`); Maj reads its `b`
    /// from here.
    recent_a: [U32x4; 4],
    /// Schedule words W21..=W63, `W[t]` at `t % 16`.
    ring: [U32x4; 16],
    /// Message word W6 of the four nonces.
    w6: U32x4,
}

impl LaneBatch {
    /// The batch before round 7 for the nonces with message word `w6`.
    #[inline(always)]
    fn new(plan: &LanePlan, high: &HighWordTerms, w6: U32x4) -> Self {
        let c = &plan.state7;
        let a = U32x4::splat(c[0]).add(w6);
        let mut recent_a = [U32x4::splat(0); 4];
        // `a` after rounds 6 and 5 (round 7's `a` and `b`).
        recent_a[6 % 4] = a;
        recent_a[5 % 4] = U32x4::splat(c[1]);
        Self {
            state: [
                a,
                U32x4::splat(c[1]),
                U32x4::splat(c[2]),
                U32x4::splat(c[3]),
                U32x4::splat(c[4]).add(w6),
                U32x4::splat(c[5]),
                U32x4::splat(c[6]),
                // h + K[7] + W7: round 7 then adds nothing.
                U32x4::splat(high.h7),
            ],
            b_xor_c: U32x4::splat(c[1] ^ c[2]),
            recent_a,
            ring: [U32x4::splat(0); 16],
            w6,
        }
    }

    /// Round `T` (7..=63), with its schedule word first from `T = 21` on.
    #[inline(always)]
    fn step<const T: usize>(&mut self, plan: &LanePlan, high: &HighWordTerms) {
        let kw = match T {
            7 => U32x4::splat(0),
            8..=20 => U32x4::splat(load_pinned(&plan.kw[T - 8])),
            _ => self.schedule_word::<T>(plan, high).add(U32x4::splat(load_pinned(&K[T]))),
        };
        let [a, b, c, d, e, f, g, h] = self.state;
        let a_xor_b = a.xor(b);
        // Maj(a, b, c) = ((a ^ b) & (b ^ c)) ^ b, with `b` read back from
        // memory so that LLVM does not see the bitselect.
        let maj = a_xor_b.and(self.b_xor_c).xor(load_pinned(&self.recent_a[(T + 2) % 4]));
        let t1 = h.add(kw).add(e.big_sigma1()).add(U32x4::ch(e, f, g));
        let t2 = a.big_sigma0().add(maj);
        let new_a = t1.add(t2);
        store_pinned(&mut self.recent_a[T % 4], new_a);
        self.b_xor_c = a_xor_b;
        self.state = [new_a, a, b, c, d.add(t1), e, f, g];
    }

    /// Schedule word `W[T]` (21..=63), stored in the ring. Terms in constant
    /// words come from the plan (see `second_block_rounds!`).
    #[inline(always)]
    fn schedule_word<const T: usize>(&mut self, plan: &LanePlan, high: &HighWordTerms) -> U32x4 {
        let ring = |t: usize| load_pinned(&self.ring[t % 16]);
        let partial = || U32x4::splat(load_pinned(&plan.partial_w[T - 21]));
        let w = match T {
            21 => partial().add(self.w6.small_sigma0()),
            22 => U32x4::splat(load_pinned(&high.w22)).add(self.w6),
            23 => ring(21).small_sigma1().add(U32x4::splat(load_pinned(&high.w23))),
            24..=27 => ring(T - 2).small_sigma1().add(partial()),
            28..=35 => ring(T - 2).small_sigma1().add(ring(T - 7)).add(partial()),
            36 => ring(34).small_sigma1().add(ring(29)).add(ring(21).small_sigma0()).add(partial()),
            _ => ring(T - 2).small_sigma1().add(ring(T - 7)).add(ring(T - 15).small_sigma0()).add(ring(T - 16)),
        };
        store_pinned(&mut self.ring[T % 16], w);
        w
    }
}

/// The first hash word (see [`U32x4::first_word`]) of two batches of four
/// nonces, given their message words W6, run side by side (see
/// [`LaneBatch`]).
#[inline(always)]
fn batch_pair_first_words(plan: &LanePlan, high: &HighWordTerms, w6: [U32x4; 2]) -> [U32x4; 2] {
    let mut batches = w6.map(|w6| LaneBatch::new(plan, high, w6));
    macro_rules! rounds {
        ($($t:literal)*) => {
            $( for batch in &mut batches { batch.step::<$t>(plan, high); } )*
        };
    }
    rounds!(7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35);
    rounds!(36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    batches.map(|batch| batch.state[0].add(U32x4::splat(plan.midstate[0])))
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
}

use lanes::U32x4;

/// The lane types of [`Kernel::Avx2x8`] and [`Kernel::Avx512x16`], with the
/// same methods as [`U32x4`]. Every method enables its CPU feature, so only
/// code compiled for that feature (the kernels' `target_feature` functions,
/// entered after run-time detection) can call them without `unsafe`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

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
}

#[cfg(target_arch = "x86_64")]
use x86::{U32x8, U32x16};

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

    /// The kernels to compare with [`Kernel::Reference`]: every other one this
    /// CPU can run. Prints those it cannot run, which are skipped.
    fn kernels_under_test() -> Vec<Kernel> {
        for kernel in Kernel::ALL.iter().filter(|kernel| !kernel.is_available()) {
            println!("skipped {}: this CPU cannot run it", kernel.name());
        }
        Kernel::available().into_iter().filter(|&kernel| kernel != Kernel::Reference).collect()
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
    fn every_kernel_finds_the_same_rare_nonce() {
        let job = MiningJob::new(&header(42, 0x1f00_ffff)).unwrap();
        let reference = job.mine(Kernel::Sha2Midstate, 0, 1_000_000);
        assert!(reference.found.is_some());
        for kernel in kernels_under_test() {
            assert_eq!(job.mine(kernel, 0, 1_000_000), reference, "{}", kernel.name());
        }
    }

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
            for kernel in Kernel::available() {
                prop_assert_eq!(reference, job.mine(kernel, start, 300), "{}", kernel.name());
            }
        }
    }

    /// SplitMix64: a tiny deterministic PRNG for the lane tests.
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

    /// A function checking lane type `$V` of `$n` lanes against `sha2` lane by
    /// lane: a full SHA-256 compression per lane of random states and blocks
    /// with its round and schedule code (nothing precomputed) against
    /// `compress256`; header hashes from a [`LanePlan`] bit for bit, for
    /// unrelated nonces per lane; and the message words of consecutive nonces,
    /// across the low half's and the whole nonce's wrap.
    macro_rules! lane_checks {
        ($name:ident, $V:ident, $n:literal, [$(#[$feature:meta])*]) => {
            $(#[$feature])*
            fn $name() {
                use std::array::from_fn;
                let mut rng = Rng($n);
                for _ in 0..100 {
                    let states: [[u32; 8]; $n] = from_fn(|_| from_fn(|_| rng.next() as u32));
                    let blocks: [[u8; 64]; $n] = from_fn(|_| rng.bytes());
                    let mut w = [$V::splat(0); 64];
                    for (t, word) in w.iter_mut().enumerate().take(16) {
                        *word = $V::from_array(from_fn(|l| {
                            u32::from_be_bytes(blocks[l][4 * t..4 * t + 4].try_into().unwrap())
                        }));
                    }
                    for t in 16..64 {
                        w[t] = w[t - 2].small_sigma1().add(w[t - 7]).add(w[t - 15].small_sigma0()).add(w[t - 16]);
                    }
                    let initial: [$V; 8] = from_fn(|i| $V::from_array(from_fn(|l| states[l][i])));
                    let mut s = initial;
                    for (t, word) in w.iter().enumerate() {
                        s = $V::round(s, word.add($V::splat(K[t])));
                    }
                    let words: [[u32; $n]; 8] = from_fn(|i| s[i].add(initial[i]).to_array());
                    for lane in 0..$n {
                        let mut expected = states[lane];
                        compress256(&mut expected, &blocks[lane..=lane]);
                        let got: [u32; 8] = from_fn(|i| words[i][lane]);
                        assert_eq!(got, expected, "compression, lane {lane}");
                    }
                }

                for i in 0..250 {
                    let job = MiningJob::new(&random_header(&mut rng, 0x1d1c_a1f3)).unwrap();
                    // Unrelated nonces per lane, including ones with the same low or high half.
                    let mut nonces: [u64; $n] = from_fn(|_| rng.next());
                    if i % 3 == 0 {
                        nonces[1] = nonces[0] ^ 0xffff_ffff;
                        nonces[2] = nonces[0] ^ (0xffff_ffff << 32);
                        nonces[3] = u64::MAX - (i as u64 % 4);
                    }
                    let (w6, w7) = $V::nonce_words(nonces);
                    let state = $V::hash(&job.plan, w6, w7).map(|word| word.to_array());
                    let first = $V::first_word(&job.plan, w6, w7).to_array();
                    for (lane, &nonce) in nonces.iter().enumerate() {
                        let expected = sha256(&job.header_with_nonce(nonce).to_bytes());
                        let words: [u32; 8] = from_fn(|w| state[w][lane]);
                        assert_eq!(state_to_hash(&words).as_bytes(), &expected, "header {i} lane {lane}");
                        assert_eq!(first[lane].to_be_bytes(), expected[..4]);
                    }
                }

                let low_wrap = u32::MAX as u64;
                let edges = [0, 1, low_wrap - $n, low_wrap - $n + 1, low_wrap - $n + 2, low_wrap - 2, low_wrap];
                let randoms: Vec<u64> = (0..100).map(|_| rng.next()).collect();
                let ends = (0..$n + 1).map(|back| u64::MAX - back);
                for first in edges.into_iter().chain(randoms).chain(ends) {
                    let lanes: [u64; $n] = from_fn(|i| first.wrapping_add(i as u64));
                    let (w6, w7) = $V::consecutive_nonce_words(first);
                    let (e6, e7) = $V::nonce_words(lanes);
                    assert_eq!((w6.to_array(), w7.to_array()), (e6.to_array(), e7.to_array()), "first {first:#x}");
                    for (lane, nonce) in lanes.iter().enumerate() {
                        let bytes = nonce.to_le_bytes();
                        assert_eq!(w6.to_array()[lane], u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
                        assert_eq!(w7.to_array()[lane], u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
                    }
                }
            }
        };
    }

    lane_checks!(check_lanes4, U32x4, 4, []);
    #[cfg(target_arch = "x86_64")]
    lane_checks!(check_lanes8, U32x8, 8, [#[target_feature(enable = "avx2")]]);
    #[cfg(target_arch = "x86_64")]
    lane_checks!(check_lanes16, U32x16, 16, [#[target_feature(enable = "avx512f")]]);

    #[test]
    fn four_lanes_match_sha2_lane_by_lane() {
        check_lanes4();
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_eight_lanes_match_sha2_lane_by_lane() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            println!("skipped: this CPU has no AVX2");
            return;
        }
        // SAFETY: AVX2, the only feature this function enables, was detected just above.
        unsafe { check_lanes8() }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx512_sixteen_lanes_match_sha2_lane_by_lane() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            println!("skipped: this CPU has no AVX-512F");
            return;
        }
        // SAFETY: AVX-512F, the only feature this function enables, was detected just above.
        unsafe { check_lanes16() }
    }

    #[test]
    fn interleaved_batches_match_sha2_lane_by_lane() {
        // `Kernel::Lanes4`'s two batches on random headers and nonces (any
        // high half, so the W7 terms vary), for every lane, against `sha2`.
        let mut rng = Rng(5);
        for i in 0..300 {
            let job = MiningJob::new(&random_header(&mut rng, 0x1d1c_a1f3)).unwrap();
            // Keep the eight nonces inside one high half, as `mine_lanes4` does.
            let first = rng.next() & !7 | (i % 8);
            let first = if first as u32 > u32::MAX - 7 { first - 8 } else { first };
            let high = job.plan.high_word_terms(((first >> 32) as u32).swap_bytes());
            let second = first + 4;
            let w6 = [first, second].map(|nonce| U32x4::consecutive_nonce_words(nonce).0);
            let tops = batch_pair_first_words(&job.plan, &high, w6).map(U32x4::to_array);
            for lane in 0..8u64 {
                let expected = sha256(&job.header_with_nonce(first + lane).to_bytes());
                let got = tops[(lane / 4) as usize][(lane % 4) as usize];
                assert_eq!(got.to_be_bytes(), expected[..4], "header {i} nonce {:#x}", first + lane);
            }
        }
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
