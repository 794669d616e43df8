//! Difficulty adjustment: ASERT (Bitcoin Cash's aserti3-2d) anchored at the parent.
//!
//! Each block's target is its parent's target scaled by
//! `2^((parent_solve_time - interval) / half_life)`, where the parent's solve time
//! is its timestamp minus its own parent's. Blocks solved faster than the interval
//! make the next target smaller (harder), slower ones larger, and each step is
//! clamped to `[1, easiest]`. Anchoring at the parent rather than at genesis
//! matters for a chain that sits idle for days: an absolute schedule would owe
//! thousands of blocks after the pause and let them rush out at the floor
//! difficulty, while this rule forgets the pause after one clamped step.
//!
//! `2^x` is computed with integers only, as aserti3-2d does: the exponent in
//! 16.16 fixed point (floor division), its fractional part through the cubic
//! `1 + 0.695502049*x + 0.2262698*x^2 + 0.0782318*x^3` (error < 0.013%), its
//! integer part as a shift.

use crate::target::Target;
use ruint::aliases::{U256, U512};

/// Retarget settings taken from the network parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetargetParams {
    /// Intended time between blocks, milliseconds.
    pub interval_ms: u64,
    /// Time behind schedule that doubles (ahead: halves) the target, milliseconds.
    pub half_life_ms: u64,
    /// Easiest allowed target.
    pub easiest: Target,
}

/// The target for a child of a block whose target is `parent_target` and which
/// took `parent_solve_time_ms` (may be negative) after its own parent.
pub fn next_target(params: &RetargetParams, parent_target: Target, parent_solve_time_ms: i64) -> Target {
    let half_life = i128::from(params.half_life_ms.max(1));
    let delta = i128::from(parent_solve_time_ms) - i128::from(params.interval_ms);
    let exponent = (delta * 65_536).div_euclid(half_life);
    let shifts = exponent >> 16;
    let frac = (exponent & 0xffff) as u128;
    let factor = 65_536
        + ((195_766_423_245_049 * frac + 971_821_376 * frac * frac + 5_127 * frac * frac * frac + (1u128 << 47)) >> 48);
    let mut next = U512::from(parent_target.as_u256()) * U512::from(factor);
    if shifts >= 256 {
        return params.easiest;
    } else if shifts >= 0 {
        next <<= shifts as usize;
    } else if shifts > -512 {
        next >>= (-shifts) as usize;
    } else {
        next = U512::ZERO;
    }
    next >>= 16;
    let easiest = U512::from(params.easiest.as_u256());
    if next > easiest {
        return params.easiest;
    }
    if next.is_zero() {
        return Target::from_u256(U256::from(1u8));
    }
    // Fits: next <= easiest < 2^256.
    Target::from_u256(U256::from_limbs_slice(&next.as_limbs()[..4]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::CompactTarget;

    fn params() -> RetargetParams {
        RetargetParams {
            interval_ms: 10_000,
            half_life_ms: 600_000,
            easiest: CompactTarget(0x1f00_ffff).to_target().unwrap(),
        }
    }

    fn start() -> Target {
        CompactTarget(0x1d00_ffff).to_target().unwrap()
    }

    #[test]
    fn on_schedule_keeps_target() {
        assert_eq!(next_target(&params(), start(), 10_000), start());
    }

    #[test]
    fn one_half_life_late_doubles_and_early_halves() {
        let p = params();
        let doubled = next_target(&p, start(), 10_000 + 600_000);
        assert_eq!(doubled.as_u256(), start().as_u256() * U256::from(2u8));
        let halved = next_target(&p, start(), 10_000 - 600_000);
        assert_eq!(halved.as_u256(), start().as_u256() / U256::from(2u8));
    }

    #[test]
    fn half_of_a_half_life_is_close_to_sqrt2() {
        let t = next_target(&params(), start(), 10_000 + 300_000);
        let ratio = f64::from(t.as_u256()) / f64::from(start().as_u256());
        assert!((ratio - std::f64::consts::SQRT_2).abs() < 0.0002, "ratio {ratio}");
    }

    #[test]
    fn clamps_to_easiest_and_to_one() {
        let p = params();
        assert_eq!(next_target(&p, start(), 30 * 24 * 3_600_000), p.easiest);
        assert_eq!(next_target(&p, p.easiest, 20_000), p.easiest);
        let one = Target::from_u256(U256::from(1u8));
        assert_eq!(next_target(&p, one, -1_000_000_000), one);
        assert_eq!(next_target(&p, start(), i64::MIN), one);
        assert_eq!(next_target(&p, start(), i64::MAX), p.easiest);
    }

    #[test]
    fn idle_days_are_forgotten_after_one_block() {
        // After a week idle the next target is the easiest; one quick block later
        // it is already harder again (no catch-up rush).
        let p = params();
        let after_idle = next_target(&p, start(), 7 * 24 * 3_600_000);
        assert_eq!(after_idle, p.easiest);
        let next = next_target(&p, after_idle, 1_000);
        assert!(next < p.easiest);
    }
}
