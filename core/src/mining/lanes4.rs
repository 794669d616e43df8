//! [`Kernel::Lanes4`], the browser miner's kernel: eight consecutive nonces
//! per step as two batches of four, one nonce per lane of a `u32x4` vector
//! (`U32x4`: wasm SIMD128 intrinsics on wasm32 with `simd128`, in
//! `lanes4/wasm32_simd128.rs`; plain `[u32; 4]` arrays elsewhere, in
//! `lanes4/portable.rs`), the two batches' rounds interleaved and their order
//! pinned for V8 (see [`LaneBatch`]). It starts from the job's
//! [`LanePlan`] and folds W7, the nonce's high half, into the plan once per
//! value ([`HighWordTerms`]).
//!
//! Changes here change what V8 runs: check the browser hash rate
//! (`cargo xtask bench wasm`) and the generated wasm, not only the tests.
//!
//! [`Kernel::Lanes4`]: super::Kernel::Lanes4

use super::lanes::lane_kernel;
use super::plan::{HighWordTerms, K, LanePlan};
use super::{MineOutcome, MiningJob};

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod portable;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm32_simd128;

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
use portable::U32x4;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use wasm32_simd128::U32x4;

impl MiningJob {
    /// [`Kernel::Lanes4`](super::Kernel::Lanes4): eight consecutive nonces
    /// per step as two [`LaneBatch`]es; the last fewer than eight, and the
    /// eight around each change of the nonce's high half, with the midstate
    /// kernel.
    pub(super) fn mine_lanes4(&self, start_nonce: u64, count: u64) -> MineOutcome {
        // The rounds' constants, copied next to the batches on the stack (see `RoundConstants`).
        let constants = RoundConstants { k: K, plan: self.plan.clone() };
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
            let tops = batch_pair_first_words(&constants, &high, [w6, w6_second]);
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
}

lane_kernel!(U32x4, 4, [], inline(always));

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

/// What the rounds read from memory besides the batches: SHA-256's `K` and
/// the job's [`LanePlan`], copied once per call onto the stack next to the
/// batches. Read from their static and heap homes, the browser hash rate
/// moved by 2–4% between builds whose kernel code was byte for byte the same
/// (unrelated code elsewhere in the module changed); with the copy it
/// measured at or above the earlier builds (`cargo xtask bench wasm`, three
/// alternating pairs).
struct RoundConstants {
    k: [u32; 64],
    plan: LanePlan,
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
///
/// [`Kernel::Lanes4`]: super::Kernel::Lanes4
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
    fn new(constants: &RoundConstants, high: &HighWordTerms, w6: U32x4) -> Self {
        let c = &constants.plan.state7;
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
    fn step<const T: usize>(&mut self, constants: &RoundConstants, high: &HighWordTerms) {
        let kw = match T {
            7 => U32x4::splat(0),
            8..=20 => U32x4::splat(load_pinned(&constants.plan.kw[T - 8])),
            _ => self.schedule_word::<T>(&constants.plan, high).add(U32x4::splat(load_pinned(&constants.k[T]))),
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
fn batch_pair_first_words(constants: &RoundConstants, high: &HighWordTerms, w6: [U32x4; 2]) -> [U32x4; 2] {
    let mut batches = w6.map(|w6| LaneBatch::new(constants, high, w6));
    macro_rules! rounds {
        ($($t:literal)*) => {
            $( for batch in &mut batches { batch.step::<$t>(constants, high); } )*
        };
    }
    rounds!(7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35);
    rounds!(36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
    batches.map(|batch| batch.state[0].add(U32x4::splat(constants.plan.midstate[0])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;
    use crate::mining::lanes::lane_checks;
    use crate::mining::test_support::{Rng, random_header};

    lane_checks!(check_lanes4, U32x4, 4, []);

    #[test]
    fn four_lanes_match_sha2_lane_by_lane() {
        check_lanes4();
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
            let constants = RoundConstants { k: K, plan: job.plan.clone() };
            let tops = batch_pair_first_words(&constants, &high, w6).map(U32x4::to_array);
            for lane in 0..8u64 {
                let expected = sha256(&job.header_with_nonce(first + lane).to_bytes());
                let got = tops[(lane / 4) as usize][(lane % 4) as usize];
                assert_eq!(got.to_be_bytes(), expected[..4], "header {i} nonce {:#x}", first + lane);
            }
        }
    }
}
