//! The node's one owner of chain state: the core protocol driver behind a
//! mutex, the database, the relay's outbound queue and the miners.
//!
//! Everything that changes the chain goes through [`Service::run`]: it locks
//! the driver, lets the caller act on it, commits every block the driver asks
//! to store (durably, before anything is sent or answered: a block
//! acknowledged to anyone is on disk), then queues the messages for the relay
//! and gives the miners a fresh template when the tip or the mempool moved.
//! All of it is synchronous; async callers use [`Service::run_blocking`].

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tabchain_core::block::Block;
use tabchain_core::driver::{Driver, Event, Output};
use tabchain_core::hash::BlockHash;
use tabchain_core::params::Params;
use tokio::sync::{mpsc, watch};

use crate::miner::{Found, Job, MinerPool};
use crate::store::Store;

/// Agent string sent in `Hello`.
pub const AGENT: &str = concat!("tabchain-node/", env!("CARGO_PKG_VERSION"));

/// Milliseconds since the Unix epoch: the clock the core driver is given.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A new best block, for HTTP peers and anyone watching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Its hash.
    pub hash: BlockHash,
    /// Its height.
    pub height: u64,
}

/// Shared state of the running node.
pub struct Service {
    node: Mutex<Driver>,
    store: Store,
    relay: Mutex<Option<mpsc::Sender<String>>>,
    miner: Mutex<Option<MinerPool>>,
    next_job: AtomicU64,
    tip: watch::Sender<Tip>,
    /// HTTP peers (`/register_node`), as given.
    pub http_peers: Mutex<BTreeSet<String>>,
    /// Threads used by `GET /mine` and the background miner.
    pub threads: usize,
}

impl Service {
    /// Wraps a restored `node` and its `store`; with `miner`, mines in the
    /// background from the start.
    pub fn new(node: Driver, store: Store, miner: Option<MinerPool>, threads: usize) -> Arc<Self> {
        let tip = Tip { hash: node.tip(), height: node.height() };
        let service = Arc::new(Self {
            node: Mutex::new(node),
            store,
            relay: Mutex::new(None),
            miner: Mutex::new(miner),
            next_job: AtomicU64::new(1),
            tip: watch::Sender::new(tip),
            http_peers: Mutex::new(BTreeSet::new()),
            threads,
        });
        service.refresh_template(&service.lock());
        service
    }

    fn lock(&self) -> MutexGuard<'_, Driver> {
        self.node.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The consensus parameters.
    pub fn params(&self) -> Params {
        self.lock().params().clone()
    }

    /// Runs `action` on the driver and carries out its outputs: blocks
    /// committed first, then messages queued, then the miners refreshed.
    /// Blocking (database commits): call from a blocking context.
    pub fn run<T>(&self, action: impl FnOnce(&mut Driver) -> (T, Vec<Output>)) -> Result<T, crate::store::StoreError> {
        let mut node = self.lock();
        let (value, outputs) = action(&mut node);
        let mut blocks = Vec::new();
        let mut sends = Vec::new();
        let mut moved = false;
        for output in outputs {
            match output {
                Output::Store { hash, height, bytes } => blocks.push((hash, height, bytes)),
                Output::Send(text) => sends.push(text),
                Output::Event(event) => {
                    moved |= matches!(
                        event,
                        Event::BlockAccepted { .. }
                            | Event::Reorg { .. }
                            | Event::PostReceived { .. }
                            | Event::MempoolReceived { .. }
                            | Event::Synced { .. }
                            | Event::SyncProgress { .. }
                    );
                    log_event(&event);
                }
            }
        }
        moved |= !blocks.is_empty();
        // One transaction: the blocks, the best chain and the mempool, durable
        // before anything below tells anyone about them.
        self.store.persist(&node, blocks)?;
        let tip = Tip { hash: node.tip(), height: node.height() };
        if moved {
            self.refresh_template(&node);
        }
        drop(node);
        self.tip.send_if_modified(|current| {
            let changed = *current != tip;
            *current = tip;
            changed
        });
        self.send_to_relay(sends);
        Ok(value)
    }

    /// [`Service::run`] from async code, on the blocking pool.
    pub async fn run_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        action: impl FnOnce(&mut Driver) -> (T, Vec<Output>) + Send + 'static,
    ) -> anyhow::Result<T> {
        let service = self.clone();
        Ok(tokio::task::spawn_blocking(move || service.run(action)).await??)
    }

    /// Reads the driver without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&Driver) -> T) -> T {
        f(&self.lock())
    }

    /// Routes messages to the relay connection, if there is one. A full queue
    /// drops the message (the relay connection is stuck; sync repairs it).
    fn send_to_relay(&self, sends: Vec<String>) {
        if sends.is_empty() {
            return;
        }
        let relay = self.relay.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(queue) = relay.as_ref() else { return };
        for text in sends {
            if let Err(e) = queue.try_send(text) {
                tracing::warn!("relay queue: dropping a message: {e}");
            }
        }
    }

    /// Sets (or clears) the active relay connection's outbound queue.
    pub fn set_relay(&self, queue: Option<mpsc::Sender<String>>) {
        *self.relay.lock().unwrap_or_else(PoisonError::into_inner) = queue;
    }

    /// Watches the best tip.
    pub fn watch_tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    /// Gives the background miner a template for the current tip and mempool.
    fn refresh_template(&self, node: &Driver) {
        let miner = self.miner.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(miner) = miner.as_ref() else { return };
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        match Job::new(id, node.template(now_ms())) {
            Ok(job) => miner.set_job(Some(job)),
            Err(e) => tracing::error!("cannot mine the template: {e}"),
        }
    }

    /// A block the background miner found: validated, stored, announced.
    pub fn on_found(&self, found: Found) {
        let height = found.block.header.height;
        let result = self.run(|node| match node.submit_mined(found.block, now_ms()) {
            Ok(outputs) => (true, outputs),
            Err(e) => {
                tracing::debug!("mined block not used: {e}");
                (false, Vec::new())
            }
        });
        match result {
            Ok(true) => tracing::info!(height, "mined a block"),
            Ok(false) => self.refresh_template(&self.lock()),
            Err(e) => tracing::error!("cannot store a mined block: {e}"),
        }
    }

    /// The miner's statistics: kernel, threads and hashes so far per thread.
    pub fn miner_stats(&self) -> Option<(String, Vec<u64>)> {
        let miner = self.miner.lock().unwrap_or_else(PoisonError::into_inner);
        miner.as_ref().map(|m| (m.kernel().name().to_owned(), m.hashes_per_thread()))
    }

    /// Stops the background miner for good (its threads end).
    pub fn stop_mining(&self) {
        let pool = self.miner.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(pool);
    }

    /// Mines `block` now on all threads (for `GET /mine`).
    pub fn mine_block_now(&self, block: Block) -> anyhow::Result<Block> {
        let kernel = tabchain_core::mining::Kernel::detect();
        Ok(crate::miner::mine_now(block, self.threads, kernel)?)
    }
}

fn log_event(event: &Event) {
    match event {
        Event::BlockAccepted { height, from, .. } => tracing::info!(height, ?from, "block accepted"),
        Event::Reorg { depth, new_height, .. } => tracing::info!(depth, new_height, "reorg"),
        Event::Synced { blocks, height, .. } => tracing::info!(blocks, height, "synced"),
        Event::BlockRejected { hash, reason, .. } => tracing::warn!(%hash, %reason, "block rejected"),
        other => tracing::debug!(?other, "event"),
    }
}
