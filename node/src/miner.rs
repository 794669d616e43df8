//! Mining on every core: one OS thread per core, each searching its own
//! nonce range of the current job with the fastest kernel this CPU has.
//!
//! A new job (new tip, new posts) bumps a generation counter that every thread
//! checks between slices of [`SLICE`] nonces (a few milliseconds), so all
//! threads move to it quickly; a found nonce goes back to the async side over
//! a channel, and the thread waits for the next job.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};
use std::thread::JoinHandle;

use tabchain_core::block::Block;
use tabchain_core::mining::{Kernel, MiningJob};
use tabchain_core::target::TargetError;
use tokio::sync::mpsc;

/// Nonces per slice: ~5–15 ms per thread with the kernels we have, so a new
/// job reaches every thread well within 50 ms.
pub const SLICE: u64 = 1 << 18;
/// Bits of nonce space per thread: thread `i` starts at `i << RANGE_BITS`.
const RANGE_BITS: u32 = 56;

/// A block to find a nonce for.
pub struct Job {
    /// Caller's id, returned with the result.
    pub id: u64,
    /// The block; its header nonce is replaced by the one found.
    pub block: Block,
    mining: MiningJob,
}

impl Job {
    /// Prepares `block` for mining (fails if its target is unusable).
    pub fn new(id: u64, block: Block) -> Result<Self, TargetError> {
        let mining = MiningJob::new(&block.header)?;
        Ok(Self { id, block, mining })
    }
}

/// A block with a nonce that meets its target.
#[derive(Debug)]
pub struct Found {
    /// The [`Job::id`] it was found for.
    pub job_id: u64,
    /// The block, nonce set.
    pub block: Block,
}

struct Shared {
    job: Mutex<Option<Arc<Job>>>,
    wake: Condvar,
    generation: AtomicU64,
    stop: AtomicBool,
    hashes: Vec<AtomicU64>,
    kernel: Kernel,
}

/// The mining threads.
pub struct MinerPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl MinerPool {
    /// Starts `threads` threads (at least one), idle until [`MinerPool::set_job`].
    /// Found blocks are sent on `found`. Fails if the OS refuses a thread.
    pub fn start(threads: usize, kernel: Kernel, found: mpsc::Sender<Found>) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            job: Mutex::new(None),
            wake: Condvar::new(),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            hashes: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            kernel,
        });
        let mut pool = Self { shared, threads: Vec::with_capacity(threads) };
        for index in 0..threads {
            let shared = pool.shared.clone();
            let found = found.clone();
            let handle = std::thread::Builder::new()
                .name(format!("miner-{index}"))
                .spawn(move || mine_loop(index, &shared, &found))?;
            pool.threads.push(handle);
        }
        Ok(pool)
    }

    /// Replaces the job (or stops mining with `None`); every thread moves to
    /// it within one slice.
    pub fn set_job(&self, job: Option<Job>) {
        let mut current = self.shared.job.lock();
        *current = job.map(Arc::new);
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
        self.shared.wake.notify_all();
    }

    /// Nonces hashed so far by each thread.
    pub fn hashes_per_thread(&self) -> Vec<u64> {
        self.shared.hashes.iter().map(|h| h.load(Ordering::Relaxed)).collect()
    }

    /// The kernel the threads run.
    pub fn kernel(&self) -> Kernel {
        self.shared.kernel
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for MinerPool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.set_job(None);
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

fn mine_loop(index: usize, shared: &Shared, found: &mpsc::Sender<Found>) {
    let mut done_generation = u64::MAX;
    loop {
        // Wait for a job we have not finished.
        let (job, generation) = {
            let mut job = shared.job.lock();
            loop {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let generation = shared.generation.load(Ordering::Acquire);
                if let Some(current) = job.as_ref()
                    && generation != done_generation
                {
                    break (current.clone(), generation);
                }
                shared.wake.wait(&mut job);
            }
        };
        let mut next = (index as u64) << RANGE_BITS;
        while shared.generation.load(Ordering::Acquire) == generation {
            let outcome = job.mining.mine(shared.kernel, next, SLICE);
            shared.hashes[index].fetch_add(outcome.hashes, Ordering::Relaxed);
            if let Some((nonce, _)) = outcome.found {
                let mut block = job.block.clone();
                block.header.nonce = nonce;
                // The receiver decides; this job is done for this thread.
                if found.blocking_send(Found { job_id: job.id, block }).is_err() {
                    return;
                }
                break;
            }
            next = next.wrapping_add(SLICE);
        }
        done_generation = generation;
    }
}

/// Mines `block` on `threads` threads until one finds a nonce: the block with
/// it, or `None` once `cancel` is set. Used by `GET /mine`, which answers
/// only once the block exists (or the node shuts down).
pub fn mine_now(
    block: Block,
    threads: usize,
    kernel: Kernel,
    cancel: &AtomicBool,
) -> Result<Option<Block>, TargetError> {
    let job = Job::new(0, block)?;
    let stop = AtomicBool::new(false);
    let result = Mutex::new(None);
    std::thread::scope(|scope| {
        for index in 0..threads.max(1) {
            let (job, stop, result) = (&job, &stop, &result);
            scope.spawn(move || {
                let mut next = (index as u64) << RANGE_BITS;
                while !stop.load(Ordering::Acquire) && !cancel.load(Ordering::Acquire) {
                    let outcome = job.mining.mine(kernel, next, SLICE);
                    if let Some((nonce, _)) = outcome.found {
                        let mut slot = result.lock();
                        if slot.is_none() {
                            *slot = Some(nonce);
                        }
                        stop.store(true, Ordering::Release);
                    }
                    next = next.wrapping_add(SLICE);
                }
            });
        }
    });
    let Some(nonce) = result.into_inner() else { return Ok(None) };
    let mut block = job.block;
    block.header.nonce = nonce;
    Ok(Some(block))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tabchain_core::params::{Network, Params};
    use tabchain_core::state::ChainState;
    use tabchain_core::validate::check_proof_of_work;

    fn template() -> (Params, Block) {
        let params = Params::for_network(Network::Dev);
        let state = ChainState::new(params.clone());
        let block = state.block_template(params.genesis_timestamp_ms + 1_000);
        (params, block)
    }

    #[test]
    fn pool_finds_blocks_and_moves_to_new_jobs() {
        let (params, block) = template();
        let (tx, mut rx) = mpsc::channel(16);
        let pool = MinerPool::start(2, Kernel::detect(), tx).unwrap();
        for id in 1..=3 {
            let mut b = block.clone();
            b.header.timestamp_ms += id;
            pool.set_job(Some(Job::new(id, b).unwrap()));
            let found = loop {
                let found = rx.blocking_recv().expect("a block");
                if found.job_id == id {
                    break found;
                }
            };
            check_proof_of_work(&params, &found.block).unwrap();
        }
        pool.set_job(None);
        std::thread::sleep(Duration::from_millis(20));
        assert!(pool.hashes_per_thread().iter().sum::<u64>() >= 3);
        drop(pool);
    }

    #[test]
    fn mine_now_finds_a_valid_nonce() {
        let (params, block) = template();
        let mined = mine_now(block, 2, Kernel::detect(), &AtomicBool::new(false)).unwrap().expect("a block");
        check_proof_of_work(&params, &mined).unwrap();
    }

    #[test]
    fn mine_now_stops_when_cancelled() {
        let (_, mut block) = template();
        // A target of 1: no nonce meets it.
        block.header.bits = tabchain_core::target::CompactTarget(0x0300_0001);
        let cancel = AtomicBool::new(false);
        let mined = std::thread::scope(|scope| {
            let mining = scope.spawn(|| mine_now(block, 2, Kernel::detect(), &cancel));
            std::thread::sleep(Duration::from_millis(50));
            cancel.store(true, Ordering::Release);
            mining.join().unwrap()
        });
        assert_eq!(mined.unwrap(), None);
    }
}
