//! Token buckets: each peer may send a burst, then a sustained rate.

use std::time::Instant;

use crate::config::RateLimits;

/// One bucket: `burst` tokens at most, refilled at `rate` per second.
#[derive(Clone, Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self { rate, burst, tokens: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes `amount` tokens if there are that many now; else takes nothing.
    fn take(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        let allowed = self.tokens >= amount;
        if allowed {
            self.tokens -= amount;
        }
        allowed
    }
}

/// A peer's message and byte buckets: a message passes only if both have
/// room. A third bucket, of the same size as the message bucket, excuses
/// messages over the limit: up to twice its rate (and burst) the excess is
/// only dropped, beyond that it costs misbehaviour points. A peer sending a
/// little too fast, or unevenly (300 a second in one batch each second
/// against a limit of 200), is not banned for it; a flood is.
#[derive(Clone, Debug)]
pub struct PeerLimiter {
    messages: TokenBucket,
    bytes: TokenBucket,
    excused: TokenBucket,
}

impl PeerLimiter {
    /// Full buckets, as for a peer that just connected.
    pub fn new(limits: &RateLimits, now: Instant) -> Self {
        Self {
            messages: TokenBucket::new(limits.messages_per_sec, limits.burst_messages, now),
            bytes: TokenBucket::new(limits.bytes_per_sec, limits.burst_bytes, now),
            excused: TokenBucket::new(limits.messages_per_sec, limits.burst_messages, now),
        }
    }

    /// Takes one message of `len` bytes if both buckets allow it; a refused
    /// message takes nothing, so a peer that backs off recovers.
    pub fn allow(&mut self, len: usize, now: Instant) -> bool {
        self.messages.refill(now);
        self.bytes.refill(now);
        let len = len as f64;
        if self.messages.tokens < 1.0 || self.bytes.tokens < len {
            return false;
        }
        self.messages.tokens -= 1.0;
        self.bytes.tokens -= len;
        true
    }

    /// Takes `len` bytes only, if the byte bucket allows it: for a frame
    /// whose message is counted once it is decoded ([`PeerLimiter::allow_message`]),
    /// or not at all (an answer the relay asked for).
    pub fn allow_bytes(&mut self, len: usize, now: Instant) -> bool {
        self.bytes.take(len as f64, now)
    }

    /// Whether a message refused by the limit is excused (dropped without
    /// points): one more taken from the excused bucket, if it has room.
    pub fn excuse(&mut self, now: Instant) -> bool {
        self.excused.take(1.0, now)
    }

    /// Takes one message only, if the message bucket allows it.
    pub fn allow_message(&mut self, now: Instant) -> bool {
        self.messages.take(1.0, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> RateLimits {
        RateLimits { messages_per_sec: 10.0, burst_messages: 5.0, bytes_per_sec: 1000.0, burst_bytes: 2000.0 }
    }

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut l = PeerLimiter::new(&limits(), t0);
        assert_eq!((0..8).filter(|_| l.allow(1, t0)).count(), 5);
        // 10 per second: one more every 100 ms.
        assert!(!l.allow(1, t0 + Duration::from_millis(50)));
        assert!(l.allow(1, t0 + Duration::from_millis(100)));
        assert!(!l.allow(1, t0 + Duration::from_millis(150)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..8).filter(|_| l.allow(1, later)).count(), 5);
    }

    #[test]
    fn bytes_limit_independently_and_refusals_cost_nothing() {
        let t0 = Instant::now();
        let mut l = PeerLimiter::new(&limits(), t0);
        assert!(l.allow(1500, t0));
        assert!(!l.allow(1000, t0), "only 500 bytes left");
        assert!(l.allow(500, t0), "the refused message took no tokens");
        assert!(!l.allow(1, t0));
        assert!(l.allow(1000, t0 + Duration::from_secs(1)));
        // Time going backwards (clock oddities) never adds tokens.
        assert!(!l.allow(1, t0));
    }

    #[test]
    fn up_to_twice_the_rate_the_excess_is_excused() {
        let t0 = Instant::now();
        let mut l = PeerLimiter::new(&limits(), t0);
        assert_eq!((0..20).filter(|_| !l.allow(1, t0)).count(), 15);
        assert_eq!((0..20).filter(|_| l.excuse(t0)).count(), 5, "a burst's worth is excused");
        // A second later both buckets are full again (bursts of 5).
        let later = t0 + Duration::from_secs(1);
        assert_eq!((0..20).filter(|_| l.allow(1, later)).count(), 5, "the burst is the cap");
        assert_eq!((0..20).filter(|_| l.excuse(later)).count(), 5);
    }

    #[test]
    fn bytes_and_messages_can_be_taken_apart() {
        let t0 = Instant::now();
        let mut l = PeerLimiter::new(&limits(), t0);
        // Bytes alone leave the message bucket full.
        assert!(l.allow_bytes(1000, t0));
        assert!(!l.allow_bytes(1001, t0));
        assert_eq!((0..8).filter(|_| l.allow_message(t0)).count(), 5);
        assert!(!l.allow(1, t0), "no message left");
        assert!(l.allow_bytes(1000, t0), "messages taken alone left the bytes");
        assert!(!l.allow_bytes(1, t0));
    }
}
