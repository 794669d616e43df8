//! The lane kernels' code, written once for any lane type as macros:
//! `lanes4.rs` instantiates them for `U32x4` (wasm SIMD128, or `[u32; 4]`
//! natively) and `x86.rs` for AVX2's `U32x8` and AVX-512's `U32x16`. A lane
//! type is a vector of `u32`s, one nonce per lane, with `splat`, `add`,
//! `from_array`/`to_array`, `swap_bytes`, `lane_index`, `any_le`, the σ/Σ
//! functions, `ch` and `maj`.
//!
//! Macros, not a trait: the x86 types' methods must carry their
//! `#[target_feature]` attributes, and every call must inline into the
//! kernels exactly as written here.

/// Rounds 7..=63 of the second block on lane type `$V` from a
/// [`LanePlan`](super::plan::LanePlan), the nonces given by their message
/// words W6 and W7: the state after round 63, the midstate not yet added.
/// Callers that use only some words let the compiler drop the rest. (The `@`
/// arms repeat a round over a list of `t`; locals are passed in by name for
/// hygiene.)
macro_rules! second_block_rounds {
    ($V:ident, $plan:expr, $w6:expr, $w7:expr) => {{
        use $crate::mining::lanes::second_block_rounds;
        use $crate::mining::plan::{K, LanePlan};
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
pub(super) use second_block_rounds;

/// The lane kernel on lane type `$V` of `$n` lanes: SHA-256 round, nonce
/// words, hashes from a [`LanePlan`](super::plan::LanePlan) and the search
/// loop. `$feature` are the `target_feature` attributes its methods need
/// (none for `U32x4`), and `$inline` the inline hint of the small functions
/// (`inline(always)` cannot go with `target_feature`).
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
            fn hash(plan: &$crate::mining::plan::LanePlan, w6: $V, w7: $V) -> [$V; 8] {
                let s = $crate::mining::lanes::second_block_rounds!($V, plan, w6, w7);
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
            /// (`U32x4` searches with `LaneBatch` instead and uses this only
            /// in tests.)
            #[cfg_attr(not(test), allow(dead_code))]
            $(#[$feature])*
            #[$inline]
            fn first_word(plan: &$crate::mining::plan::LanePlan, w6: $V, w7: $V) -> $V {
                let s = $crate::mining::lanes::second_block_rounds!($V, plan, w6, w7);
                s[0].add($V::splat(plan.midstate[0]))
            }
        }
    };
}
pub(super) use lane_kernel;

/// [`MiningJob::mine`](super::MiningJob::mine) for the wide lane type `$V`
/// of `$n` lanes (what `U32x4` does instead is `MiningJob::mine_lanes4`, in
/// `lanes4.rs`).
#[cfg(target_arch = "x86_64")]
macro_rules! lane_search {
    ($V:ident, $n:literal, [$(#[$feature:meta])*]) => {
        impl $V {
            /// `MiningJob::mine` on `$n` consecutive nonces per step; the
            /// last fewer than `$n` one at a time with the midstate kernel.
            $(#[$feature])*
            pub(super) fn mine(
                job: &$crate::mining::MiningJob,
                start_nonce: u64,
                count: u64,
            ) -> $crate::mining::MineOutcome {
                use $crate::mining::MineOutcome;
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
#[cfg(target_arch = "x86_64")]
pub(super) use lane_search;

/// A test function `$name` checking lane type `$V` of `$n` lanes against
/// `sha2` lane by lane: a full SHA-256 compression per lane of random states
/// and blocks with its round and schedule code (nothing precomputed) against
/// `compress256`; header hashes from a [`LanePlan`](super::plan::LanePlan)
/// bit for bit, for unrelated nonces per lane; and the message words of
/// consecutive nonces, across the low half's and the whole nonce's wrap.
#[cfg(test)]
macro_rules! lane_checks {
    ($name:ident, $V:ident, $n:literal, [$(#[$feature:meta])*]) => {
        $(#[$feature])*
        fn $name() {
            use $crate::hash::sha256;
            use $crate::mining::MiningJob;
            use $crate::mining::plan::K;
            use $crate::mining::sha2_kernels::state_to_hash;
            use $crate::mining::test_support::{Rng, random_header};
            use sha2::block_api::compress256;
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
#[cfg(test)]
pub(super) use lane_checks;
