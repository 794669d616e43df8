//! Misbehaviour points: what a peer's offences add up to, forgiven at a
//! steady rate so that only a peer that keeps misbehaving is disconnected
//! (points that never went away let anyone who could make a peer slip now
//! and then, say by making it answer too much, get it banned in the end).

use std::time::{Duration, Instant};

/// One connection's misbehaviour points. Points are forgiven whole, one
/// every `1 / decay_per_sec` seconds, so offences close together add up
/// exactly (five bad messages in a row reach a ban score of 100).
#[derive(Clone, Debug)]
pub struct Score {
    points: u32,
    decay_per_sec: f64,
    /// Since when forgiving was last accounted for (a fraction of a point
    /// not yet forgiven is carried over).
    since: Instant,
}

impl Score {
    /// No points yet; `decay_per_sec` are forgiven each second.
    pub fn new(decay_per_sec: f64, now: Instant) -> Self {
        Self { points: 0, decay_per_sec, since: now }
    }

    /// Adds `points` to what is left of the earlier ones and returns the total.
    pub fn add(&mut self, points: u32, now: Instant) -> u32 {
        let elapsed = now.saturating_duration_since(self.since).as_secs_f64();
        let forgiven = (elapsed * self.decay_per_sec).floor();
        if self.points == 0 || forgiven >= f64::from(self.points) {
            // Nothing left to forgive: quiet time is not banked.
            self.points = 0;
            self.since = self.since.max(now);
        } else if forgiven >= 1.0 {
            self.points -= forgiven as u32;
            self.since += Duration::from_secs_f64(forgiven / self.decay_per_sec);
        }
        self.points = self.points.saturating_add(points);
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_add_up_and_are_forgiven_over_time() {
        let t0 = Instant::now();
        let mut score = Score::new(2.0, t0);
        assert_eq!(score.add(20, t0), 20);
        assert_eq!(score.add(20, t0 + Duration::from_millis(400)), 40, "less than a point forgiven: none");
        // 5 s forgive 10 points; the fraction carries over.
        assert_eq!(score.add(0, t0 + Duration::from_millis(5_200)), 30);
        assert_eq!(score.add(0, t0 + Duration::from_millis(5_500)), 29);
        // Never below zero: a long quiet time does not bank credit.
        assert_eq!(score.add(3, t0 + Duration::from_secs(3600)), 3);
        assert_eq!(score.add(3, t0 + Duration::from_secs(3600)), 6);
        // Time going backwards forgives nothing.
        assert_eq!(score.add(1, t0), 7);
    }

    #[test]
    fn without_decay_points_stay() {
        let t0 = Instant::now();
        let mut score = Score::new(0.0, t0);
        score.add(50, t0);
        assert_eq!(score.add(50, t0 + Duration::from_secs(86_400)), 100);
    }
}
