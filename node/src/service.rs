//! The node's one owner of chain state: the core protocol driver behind a
//! lock, the database, the relay's outbound queue and the miners.
//!
//! Everything that changes the chain goes through [`Service::update`]: it
//! locks the driver, lets the caller act on it, and carries out the
//! driver's outputs: the changes to keep are committed (durably, before
//! anything is sent or answered: a block acknowledged to anyone is on disk),
//! then the messages are queued for the relay, and the miners get a fresh
//! template when the driver says theirs is stale. All of it is synchronous;
//! async callers use [`Service::update_blocking`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tabchain_core::block::Block;
use tabchain_core::driver::{Driver, Event, Output};
use tabchain_core::hash::BlockHash;
use tabchain_core::params::Params;
use tokio::sync::{mpsc, watch};

use crate::http_peers::HttpPeers;
use crate::miner::{Found, Job, MinerPool};
use crate::store::{Store, StoreError};

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
    driver: Mutex<Driver>,
    store: Store,
    relay: Mutex<Option<mpsc::Sender<String>>>,
    miner: Mutex<Option<MinerPool>>,
    next_job: AtomicU64,
    tip: watch::Sender<Tip>,
    /// HTTP peers blocks are announced to (`/register_node`, `--peer`).
    pub http_peers: HttpPeers,
    mining_cancelled: AtomicBool,
    /// Threads used by `GET /mine` and the background miner.
    pub threads: usize,
}

impl Service {
    /// Wraps a restored `driver` and its `store`; with `miner`, mines in the
    /// background from the start.
    pub fn new(driver: Driver, store: Store, miner: Option<MinerPool>, threads: usize) -> Arc<Self> {
        let tip = Tip { hash: driver.tip(), height: driver.height() };
        let service = Arc::new(Self {
            driver: Mutex::new(driver),
            store,
            relay: Mutex::new(None),
            miner: Mutex::new(miner),
            next_job: AtomicU64::new(1),
            tip: watch::Sender::new(tip),
            http_peers: HttpPeers::default(),
            mining_cancelled: AtomicBool::new(false),
            threads,
        });
        service.refresh_template(&mut service.driver.lock());
        service
    }

    /// The consensus parameters.
    pub fn params(&self) -> Params {
        self.driver.lock().params().clone()
    }

    /// Runs `action` on the driver and carries out its outputs: changes
    /// committed first, then messages queued, then the miners refreshed if
    /// the driver says their template is stale. Blocking (database commits):
    /// call from a blocking context.
    pub fn update<T>(&self, action: impl FnOnce(&mut Driver) -> (T, Vec<Output>)) -> Result<T, StoreError> {
        let mut driver = self.driver.lock();
        let (value, mut outputs) = action(&mut driver);
        let mut sends = Vec::new();
        let mut stale = false;
        // Reads the driver asks for give more outputs; a driver without a
        // body limit (this node's) asks for none, so this runs once.
        loop {
            let mut changes = Vec::new();
            let mut reads = Vec::new();
            for output in outputs {
                match output {
                    Output::Store(change) => changes.push(change),
                    Output::Send(text) => sends.push(text),
                    Output::TemplateStale => stale = true,
                    Output::Event(event) => log_event(&event),
                    // Only blocks from a browser's other tabs ask for it.
                    Output::ReadBlock { .. } => {}
                    read @ (Output::ServeBlocks { .. } | Output::LoadBlocks { .. }) => reads.push(read),
                }
            }
            // One transaction, durable before anything below tells anyone about it.
            self.store.persist(&changes)?;
            if reads.is_empty() {
                break;
            }
            outputs = Vec::new();
            for read in reads {
                match read {
                    Output::ServeBlocks { to, hashes } => {
                        outputs.extend(driver.send_blocks(to, self.store.read_blocks(&hashes)?));
                    }
                    Output::LoadBlocks { hashes } => {
                        outputs.extend(driver.blocks_loaded(self.store.read_blocks(&hashes)?, now_ms()));
                    }
                    _ => {}
                }
            }
        }
        if stale {
            self.refresh_template(&mut driver);
        }
        let tip = Tip { hash: driver.tip(), height: driver.height() };
        drop(driver);
        self.tip.send_if_modified(|current| {
            let changed = *current != tip;
            *current = tip;
            changed
        });
        self.send_to_relay(sends);
        Ok(value)
    }

    /// [`Service::update`] from async code, on the blocking pool.
    pub async fn update_blocking<T: Send + 'static>(
        self: &Arc<Self>,
        action: impl FnOnce(&mut Driver) -> (T, Vec<Output>) + Send + 'static,
    ) -> anyhow::Result<T> {
        let service = self.clone();
        Ok(tokio::task::spawn_blocking(move || service.update(action)).await??)
    }

    /// [`Service::update_blocking`] for a driver call that either gives
    /// outputs to carry out or refuses with nothing to carry out (the REST
    /// API's calls): `Ok(Err(refusal))` when the driver refused.
    pub async fn try_update<E: Send + 'static>(
        self: &Arc<Self>,
        action: impl FnOnce(&mut Driver) -> Result<Vec<Output>, E> + Send + 'static,
    ) -> anyhow::Result<Result<(), E>> {
        self.update_blocking(move |driver| match action(driver) {
            Ok(outputs) => (Ok(()), outputs),
            Err(refusal) => (Err(refusal), Vec::new()),
        })
        .await
    }

    /// Reads the driver without changing it.
    pub fn read<T>(&self, f: impl FnOnce(&Driver) -> T) -> T {
        f(&self.driver.lock())
    }

    /// A mining template on the best tip now, or `None` when no post is
    /// pending (`GET /mine` mines only posts).
    pub fn template_with_posts(&self) -> Option<Block> {
        let mut driver = self.driver.lock();
        (!driver.state().mempool().is_empty()).then(|| driver.template(now_ms()))
    }

    /// Routes messages to the relay connection, if there is one. A full queue
    /// drops the message (the relay connection is stuck; sync repairs it).
    fn send_to_relay(&self, sends: Vec<String>) {
        if sends.is_empty() {
            return;
        }
        let relay = self.relay.lock();
        let Some(queue) = relay.as_ref() else { return };
        for text in sends {
            if let Err(e) = queue.try_send(text) {
                tracing::warn!("relay queue: dropping a message: {e}");
            }
        }
    }

    /// Sets (or clears) the active relay connection's outbound queue.
    pub fn set_relay(&self, queue: Option<mpsc::Sender<String>>) {
        *self.relay.lock() = queue;
    }

    /// Watches the best tip.
    pub fn watch_tip(&self) -> watch::Receiver<Tip> {
        self.tip.subscribe()
    }

    /// Gives the background miner a template for the current tip and mempool.
    fn refresh_template(&self, driver: &mut Driver) {
        let miner = self.miner.lock();
        let Some(miner) = miner.as_ref() else { return };
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        match Job::new(id, driver.template(now_ms())) {
            Ok(job) => miner.set_job(Some(job)),
            Err(e) => tracing::error!("cannot mine the template: {e}"),
        }
    }

    /// A block the background miner found: validated, stored, announced. A
    /// block the tip already moved past is dropped, and the miners get a
    /// fresh job (the thread that found it has finished its old one).
    pub fn on_found(&self, found: Found) {
        let height = found.block.header.height;
        let result = self.update(|driver| match driver.submit_mined(found.block, now_ms()) {
            Ok(outputs) => (true, outputs),
            Err(e) => {
                tracing::debug!("mined block not used: {e}");
                (false, Vec::new())
            }
        });
        match result {
            Ok(true) => tracing::info!(height, "mined a block"),
            // Mine on: a job the threads finished must not leave them idle.
            Ok(false) => self.refresh_template(&mut self.driver.lock()),
            Err(e) => tracing::error!("cannot store a mined block: {e}"),
        }
    }

    /// The miner's statistics: kernel, threads and hashes so far per thread.
    pub fn miner_stats(&self) -> Option<(String, Vec<u64>)> {
        let miner = self.miner.lock();
        miner.as_ref().map(|m| (m.kernel().name().to_owned(), m.hashes_per_thread()))
    }

    /// Stops all mining for good: the background miner's threads end, and
    /// every [`Service::mine_block_now`], running or to come, gives up (the
    /// node is shutting down and must not wait for a block).
    pub fn stop_mining(&self) {
        self.mining_cancelled.store(true, Ordering::Release);
        let pool = self.miner.lock().take();
        drop(pool);
    }

    /// Mines `block` now on all threads (for `GET /mine`); `None` once
    /// [`Service::stop_mining`] was called.
    pub fn mine_block_now(&self, block: Block) -> anyhow::Result<Option<Block>> {
        let kernel = tabchain_core::mining::Kernel::detect();
        Ok(crate::miner::mine_now(block, self.threads, kernel, &self.mining_cancelled)?)
    }
}

fn log_event(event: &Event) {
    match event {
        Event::BlockAccepted { height, from, .. } => tracing::info!(height, ?from, "block accepted"),
        Event::Reorg { depth, new_height, .. } => tracing::info!(depth, new_height, "reorg"),
        Event::Synced { blocks, height, .. } => tracing::info!(blocks, height, "synced"),
        Event::BlockRejected { hash, reason, .. } => tracing::warn!(%hash, %reason, "block rejected"),
        Event::PeerIgnored { id, score } => tracing::warn!(%id, score, "ignoring a misbehaving peer"),
        other => tracing::debug!(?other, "event"),
    }
}
