//! The broadcast budget: a post or block one peer broadcasts becomes a
//! delivery to every joined peer, so what the relay broadcasts in all is
//! what every tab has to keep up with. Per-peer rate limits alone let ten
//! connections at their limit send every tab ten times what one may; the
//! tabs fell behind, their queues filled and the relay dropped them as slow.
//!
//! The budget bounds the relay's broadcasts in all (messages and bytes per
//! second, with bursts: token buckets) and shares it fairly among the
//! connected peers. While the budget is more than half full anyone may use
//! it; below that, only peers that have broadcast less than an equal share
//! lately (a usage that decays over about a second, against the rate
//! divided by the number of peers) may. Flooders are then held to their
//! shares and the budget refills with the shares of the peers that send
//! little, back to half full: the flooders may take what is above half, and
//! a peer that sends little always finds the other half there. A broadcast
//! refused is dropped where it comes in, and nobody's queue grows.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tabchain_core::wire::PeerId;

use crate::config::BroadcastLimits;

/// How long after its last broadcast a peer's usage is kept (by then what
/// it sent has decayed from it).
const ACTIVE_WINDOW: Duration = Duration::from_secs(5);

/// Over about how many seconds a sender's usage is measured (it decays as
/// `e^(-t / USAGE_SECS)`).
const USAGE_SECS: f64 = 1.0;

/// A token bucket that may go into debt: a message passes while any tokens
/// are left and takes what it costs, so one larger than the burst can pass.
#[derive(Clone, Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
}

impl Bucket {
    fn full(rate: f64, burst: f64) -> Self {
        Self { rate, burst, tokens: burst }
    }

    fn refill(&mut self, elapsed: f64) {
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }

    fn more_than_half_full(&self) -> bool {
        self.tokens > self.burst / 2.0
    }
}

/// What one sender broadcast lately (decaying sums).
#[derive(Clone, Debug)]
struct Usage {
    messages: f64,
    bytes: f64,
    measured: Instant,
    last_broadcast: Instant,
}

impl Usage {
    fn decay(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.measured).as_secs_f64();
        let factor = (-elapsed / USAGE_SECS).exp();
        self.messages *= factor;
        self.bytes *= factor;
        self.measured = self.measured.max(now);
    }
}

/// The budget's buckets and the senders' usage.
struct State {
    messages: Bucket,
    bytes: Bucket,
    refilled: Instant,
    senders: HashMap<PeerId, Usage>,
    swept: Instant,
}

/// The relay's broadcast budget, shared fairly among the peers broadcasting.
pub(crate) struct BroadcastBudget {
    state: Mutex<State>,
}

impl BroadcastBudget {
    /// A full budget of `limits`, nobody broadcasting yet.
    pub fn new(limits: &BroadcastLimits, now: Instant) -> Self {
        Self {
            state: Mutex::new(State {
                messages: Bucket::full(limits.messages_per_sec, limits.burst_messages),
                bytes: Bucket::full(limits.bytes_per_sec, limits.burst_bytes),
                refilled: now,
                senders: HashMap::new(),
                swept: now,
            }),
        }
    }

    /// Takes one broadcast of `len` bytes from `sender`, one of `peers`
    /// connected, if the budget has room for it: any room while it is more
    /// than half full, else only if `sender` used less than an equal share
    /// lately. A refused broadcast takes nothing.
    pub fn allow(&self, sender: PeerId, len: usize, peers: usize, now: Instant) -> bool {
        let mut state = self.state.lock();
        let state = &mut *state;
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.refilled = state.refilled.max(now);
        state.messages.refill(elapsed);
        state.bytes.refill(elapsed);
        if now.saturating_duration_since(state.swept) >= ACTIVE_WINDOW {
            state.swept = now;
            state.senders.retain(|_, usage| now.saturating_duration_since(usage.last_broadcast) < ACTIVE_WINDOW);
        }
        let peers = peers.max(1) as f64;
        let usage = state.senders.entry(sender).or_insert_with(|| Usage {
            messages: 0.0,
            bytes: 0.0,
            measured: now,
            last_broadcast: now,
        });
        usage.decay(now);
        usage.last_broadcast = usage.last_broadcast.max(now);
        let uncontended = state.messages.more_than_half_full() && state.bytes.more_than_half_full();
        let under_share = usage.messages < state.messages.rate * USAGE_SECS / peers
            && usage.bytes < state.bytes.rate * USAGE_SECS / peers;
        let room = state.messages.tokens >= 1.0 && state.bytes.tokens > 0.0;
        let allowed = room && (uncontended || under_share);
        if allowed {
            let len = len as f64;
            state.messages.tokens -= 1.0;
            state.bytes.tokens -= len;
            usage.messages += 1.0;
            usage.bytes += len;
        }
        allowed
    }

    /// Forgets a sender that disconnected.
    pub fn forget(&self, sender: PeerId) {
        self.state.lock().senders.remove(&sender);
    }

    /// How many peers broadcast in the last few seconds.
    pub fn senders(&self) -> usize {
        self.state.lock().senders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> BroadcastLimits {
        BroadcastLimits { messages_per_sec: 100.0, burst_messages: 100.0, bytes_per_sec: 1e6, burst_bytes: 1e6 }
    }

    /// Peers connected in these tests.
    const PEERS: usize = 20;

    /// How many of `tries` broadcasts of `len` bytes from `sender` pass at `now`.
    fn passed(budget: &BroadcastBudget, sender: u64, tries: usize, len: usize, now: Instant) -> usize {
        (0..tries).filter(|_| budget.allow(PeerId(sender), len, PEERS, now)).count()
    }

    #[test]
    fn one_sender_may_use_the_whole_budget() {
        let t0 = Instant::now();
        let budget = BroadcastBudget::new(&limits(), t0);
        assert_eq!(passed(&budget, 1, 150, 10, t0), 50, "half the burst: the rest is kept for peers under their share");
        let mut total = 0;
        for step in 1..=100 {
            total += passed(&budget, 1, 10, 10, t0 + Duration::from_millis(10 * step));
        }
        assert!((95..=100).contains(&total), "then about the rate: {total} in 1 s");
    }

    #[test]
    fn flooders_get_the_budget_and_no_more_and_a_quiet_sender_still_gets_through() {
        let t0 = Instant::now();
        let budget = BroadcastBudget::new(&limits(), t0);
        // Ten flooders, each trying far more than the budget, every 10 ms for 3 s.
        let mut total = 0;
        for step in 0..=300 {
            let now = t0 + Duration::from_millis(10 * step);
            for flooder in 0..10 {
                total += passed(&budget, flooder, 5, 10, now);
            }
            // At most the burst plus the rate so far, whoever sent it.
            assert!(total <= 100 + step as usize + 1, "{total} broadcasts passed by step {step}");
        }
        assert!(total >= 300, "the flooders used the budget: {total}");
        assert_eq!(budget.senders(), 10);
        // A peer that has not broadcast yet gets through at once, and keeps
        // getting at least its share (5 a second) trying every 10 ms for 2 s.
        let mut quiet = 0;
        for step in 301..=500 {
            let now = t0 + Duration::from_millis(10 * step);
            for flooder in 0..10 {
                passed(&budget, flooder, 5, 10, now);
            }
            quiet += passed(&budget, 99, 1, 10, now);
            if step == 301 {
                assert_eq!(quiet, 1, "the first broadcast of a quiet peer passes");
            }
        }
        assert!(quiet >= 10, "the quiet peer got {quiet} in 2 s");
        assert_eq!(budget.senders(), 11);
    }

    #[test]
    fn bytes_count_too_and_a_large_message_is_paid_off_before_the_next() {
        let t0 = Instant::now();
        let budget = BroadcastBudget::new(&limits(), t0);
        assert!(budget.allow(PeerId(1), 3_000_000, PEERS, t0), "any bytes left let a message pass");
        assert!(!budget.allow(PeerId(1), 1, PEERS, t0 + Duration::from_secs(1)), "still 1 MB in debt");
        // Paid off and more than half full again: anyone may send.
        assert!(budget.allow(PeerId(1), 1, PEERS, t0 + Duration::from_millis(2_600)));
    }

    #[test]
    fn idle_and_gone_senders_are_forgotten() {
        let t0 = Instant::now();
        let budget = BroadcastBudget::new(&limits(), t0);
        for sender in 0..4 {
            assert!(budget.allow(PeerId(sender), 10, PEERS, t0));
        }
        budget.forget(PeerId(0));
        assert_eq!(budget.senders(), 3);
        let later = t0 + ACTIVE_WINDOW;
        assert!(budget.allow(PeerId(1), 10, PEERS, later));
        assert_eq!(budget.senders(), 1, "only the one broadcasting now is kept");
    }
}
