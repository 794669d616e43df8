//! Bounds on the API's expensive work: a few requests at a time, a bounded
//! number waiting for a slot, the rest refused at once (503). An HTTP client
//! cannot queue unbounded work on the node, and the cheap routes stay fast.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Slots for one kind of expensive work, and how many may wait for one.
pub(super) struct Admission {
    slots: Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Admission {
    /// `concurrent` at a time, `max_waiting` more waiting.
    pub(super) fn new(concurrent: usize, max_waiting: usize) -> Self {
        Self { slots: Semaphore::new(concurrent), waiting: AtomicUsize::new(0), max_waiting }
    }

    /// A slot, after waiting for one if need be; `None` when `max_waiting`
    /// requests wait already. The work runs while the permit lives.
    pub(super) async fn enter(&self) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Some(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let permit = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        // The semaphore is never closed.
        permit.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bounded_number_wait_and_the_rest_are_refused() {
        let admission = std::sync::Arc::new(Admission::new(1, 2));
        let first = admission.enter().await.expect("a free slot");
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let admission = admission.clone();
            waiters.push(tokio::spawn(async move { admission.enter().await.is_some() }));
        }
        // Both waiters are queued before the third asks.
        while admission.waiting.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        assert!(admission.enter().await.is_none(), "a third waiter is refused");
        drop(first);
        for waiter in waiters {
            assert!(waiter.await.unwrap(), "each waiter gets the slot in turn");
        }
        assert!(admission.enter().await.is_some());
    }
}
