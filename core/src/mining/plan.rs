//! The per-job SHA-256 precomputation that the lane kernels start from.
//!
//! The block hash is a single SHA-256 of the 96-byte header. Its first 64
//! bytes do not contain the nonce, so [`MiningJob::new`](super::MiningJob::new)
//! compresses them once (the midstate) and each nonce costs one compression
//! of the second block, whose message words are W0..W5 = header bytes 64..88,
//! W6/W7 = the nonce (the byte-swapped low and high halves of its
//! little-endian encoding), W8 = the `0x80` pad byte, W9..W14 = 0 and W15 =
//! 768 (the length in bits). Only W6 and W7 change with the nonce, so per job
//! ([`LanePlan::new`]) we precompute:
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
//! [`Kernel::Lanes4`](super::Kernel::Lanes4) also folds it into round 7 and
//! W22/W23 once per value ([`LanePlan::high_word_terms`]).
//!
//! The scalar SHA-256 functions here run once per job; the per-nonce rounds
//! are in `lanes.rs` (`second_block_rounds!`) and `lanes4.rs` (`LaneBatch`).

/// SHA-256 round constants (FIPS 180-4, section 4.2.2).
#[rustfmt::skip]
pub(super) const K: [u32; 64] = [
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
pub(super) struct LanePlan {
    pub(super) midstate: [u32; 8],
    /// State before round 7 with W6 left out of `a` (index 0) and `e` (index
    /// 4), and `K[7]` folded into `h` (index 7), which only round 7 reads.
    pub(super) state7: [u32; 8],
    /// `K[t] + W[t]` for rounds 8..=20, at `t - 8`.
    pub(super) kw: [u32; 13],
    /// The nonce-free part of W21..=W36, at `t - 21`.
    pub(super) partial_w: [u32; 16],
}

impl LanePlan {
    pub(super) fn new(midstate: &[u32; 8], tail: &[u8; 64]) -> Self {
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
    ///
    /// [`Kernel::Lanes4`]: super::Kernel::Lanes4
    pub(super) fn high_word_terms(&self, w7: u32) -> HighWordTerms {
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
pub(super) struct HighWordTerms {
    /// The W7 these terms are for.
    pub(super) w7: u32,
    /// `h + K[7] + W7` of round 7.
    pub(super) h7: u32,
    /// The nonce-free part of W22 plus σ0(W7): W22 is this plus W6.
    pub(super) w22: u32,
    /// The nonce-free part of W23 plus W7: W23 is this plus σ1(W21).
    pub(super) w23: u32,
}
