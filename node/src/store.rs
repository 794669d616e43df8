//! The node's durable storage: one embedded, crash-safe [redb] database,
//! `DIR/chain.redb`.
//!
//! # What is stored
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `&str` | `format` (`u32` LE, [`FORMAT_VERSION`]), `network` (`"main"`/`"dev"`), `chain_id` (the 32-byte genesis hash) |
//! | `blocks` | block hash (`[u8; 32]`) | [`Block::to_bytes`] |
//! | `best` | height (`u64`) | hash of the best chain's block there, genesis included |
//! | `mempool` | post id (`[u8; 32]`) | [`Post::to_bytes`] |
//!
//! The `blocks` table is the truth: [`verify_and_restore`] rebuilds the chain
//! from it alone. `best` records the best chain as last committed (it decides
//! ties between equal-work branches on restore, and lets the node check the
//! restored chain); `mempool` keeps pending posts across restarts.
//!
//! # Guarantees
//!
//! - Every write is one redb transaction, and [`Store::commit`] (and the
//!   helpers built on it) returns only once it is durable (redb commits with
//!   `fsync`), unless the caller asked for a [`Batch::relaxed`] commit. A
//!   block must be committed before it is announced or acknowledged to anyone:
//!   after each node call the host runs [`Store::persist`] with the call's
//!   [`Output::Store`]s (one transaction: the blocks, the best chain's change
//!   and the mempool's) before it carries out the call's `Send`s.
//! - A crash (kill -9, power loss) loses nothing that was committed: redb
//!   recovers to the last commit on the next open.
//! - [`Store::open`] never deletes, truncates or rewrites anything it did not
//!   create: a directory that is not a tabchain store, a file that is not a
//!   redb database, a store of another network or chain, a damaged database,
//!   or one in use by another process each give their own [`StoreError`]
//!   naming the path, and leave the files as they were.
//! - Stored bytes that do not decode, do not hash to their key, or blocks that
//!   do not validate are reported as [`StoreError::Corrupt`] listing every bad
//!   key; nothing is dropped silently and nothing panics.
//!
//! All calls are synchronous (run them on a blocking thread); a [`Store`] can
//! be shared between threads (`&self` everywhere, redb serializes writers).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use redb::{
    Builder, Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, StorageError, TableDefinition, TableError, TableHandle,
};
use tabchain_core::block::Block;
use tabchain_core::chain::Chain;
use tabchain_core::driver::{Driver, Output, RestoreReport};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::header::{BlockHeader, HEADER_BYTES};
use tabchain_core::mempool::Mempool;
use tabchain_core::params::Params;
use tabchain_core::post::Post;
use tabchain_core::state::{ChainState, PostRejected};
use tabchain_core::validate::BlockError;

/// The database file inside the data directory.
pub const DB_FILE: &str = "chain.redb";
/// Version of the table layout above; a store of another version is refused.
pub const FORMAT_VERSION: u32 = 1;
/// Most bad records an error message lists (the error itself holds them all).
const LISTED: usize = 10;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("blocks");
const BEST: TableDefinition<u64, [u8; 32]> = TableDefinition::new("best");
const MEMPOOL: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("mempool");

const META_FORMAT: &str = "format";
const META_NETWORK: &str = "network";
const META_CHAIN_ID: &str = "chain_id";

/// Why the store cannot be opened, read or written. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file system call failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The directory holds other files and no database: not ours to use.
    #[error(
        "{path} is not a tabchain data directory: it is not empty ({found}) and has no {DB_FILE}; \
         refusing to use it (nothing was changed): choose a new or empty directory"
    )]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// Some of what is in it.
        found: String,
    },
    /// The database file is not a tabchain database (not redb at all, or
    /// another program's redb database).
    #[error("{path} is not a tabchain database: {reason}; refusing to use it (it was left untouched)")]
    NotADatabase {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        reason: String,
    },
    /// The store belongs to another network, chain or store format.
    #[error(
        "{path} holds {holds}, but this node was asked for {asked}; refusing to use it (it was left \
         untouched): use another data directory, or the network the directory was made for"
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What the store holds.
        holds: String,
        /// What the node asked for.
        asked: String,
    },
    /// Another process (another node?) has the database open.
    #[error("{path} is in use by another process (another tabchain node on this data directory?)")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The database file itself is damaged (redb's checksums or structure).
    #[error(
        "{path} is damaged: {reason}; refusing to start (nothing was deleted): restore it from a backup, \
         or move it away to sync the chain again from peers"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What redb found.
        reason: String,
    },
    /// Stored records that do not decode, do not match their key, or blocks
    /// that do not validate or connect.
    #[error(
        "{path} holds {} corrupt record(s): {}; refusing to start (nothing was deleted): restore it from \
         a backup, or move it away to sync the chain again from peers",
        .bad.len(),
        list_bad(.bad)
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Every bad record.
        bad: Vec<BadRecord>,
    },
    /// The caller handed in something that cannot be what it claims (a host
    /// bug); nothing was written.
    #[error("refusing to write {what} {key} to {path}: {reason}")]
    BadInput {
        /// The file.
        path: PathBuf,
        /// `"block"` or `"best chain"`.
        what: &'static str,
        /// Its key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Any other redb failure.
    #[error("database {path}: cannot {action}: {source}")]
    Db {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// redb's error.
        #[source]
        source: Box<redb::Error>,
    },
}

/// One stored record that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadRecord {
    /// `"block"`, `"post"`, `"meta"`.
    pub what: &'static str,
    /// Its key: a hash in hex, or the meta key.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.what, self.key, self.reason)
    }
}

fn list_bad(bad: &[BadRecord]) -> String {
    let mut text = bad.iter().take(LISTED).map(ToString::to_string).collect::<Vec<_>>().join("; ");
    if bad.len() > LISTED {
        text.push_str(&format!("; and {} more", bad.len() - LISTED));
    }
    text
}

/// What a store is for, as written in `meta`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Identity {
    format: u32,
    network: String,
    chain_id: BlockHash,
}

impl Identity {
    fn of(params: &Params) -> Self {
        Identity { format: FORMAT_VERSION, network: params.network.to_string(), chain_id: params.chain_id() }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "network {} (chain id {}, store format {})", self.network, self.chain_id, self.format)
    }
}

/// What the `meta` table says about a database.
enum Meta {
    /// No tables at all: a creation that did not get to its first commit.
    Empty,
    /// A tabchain store.
    Tabchain(Identity),
}

/// Changes committed together in one transaction (one `fsync`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// Blocks to store: hash, height and [`Block::to_bytes`] (as in [`Output::Store`]).
    pub blocks: Vec<(BlockHash, u64, Vec<u8>)>,
    /// The best chain from a height on: heights `from..from + hashes.len()`
    /// are rewritten and every stored height above them is removed.
    pub best: Option<(u64, Vec<BlockHash>)>,
    /// Posts to add to the stored mempool.
    pub mempool_put: Vec<Post>,
    /// Posts to remove from it (absent ones are ignored).
    pub mempool_remove: Vec<TxId>,
    /// Commit without waiting for the disk: a crash may lose this batch (and
    /// other relaxed ones since the last durable commit), never anything
    /// committed durably, and the next durable commit makes it durable too.
    /// Only for what nobody was told about yet, such as peers' posts.
    pub relaxed: bool,
}

impl Batch {
    /// Whether committing it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.best.is_none() && self.mempool_put.is_empty() && self.mempool_remove.is_empty()
    }

    /// Adds the [`Output::Store`]s among `outputs`.
    pub fn add_outputs(&mut self, outputs: &[Output]) {
        for output in outputs {
            if let Output::Store { hash, height, bytes } = output {
                self.blocks.push((*hash, *height, bytes.clone()));
            }
        }
    }
}

/// Counts for logs and status pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreStats {
    /// The database file.
    pub path: PathBuf,
    /// Blocks stored (all branches; genesis is not stored).
    pub blocks: u64,
    /// Height and hash of the stored best tip.
    pub best: Option<(u64, BlockHash)>,
    /// Posts in the stored mempool.
    pub mempool: u64,
    /// Size of the database file.
    pub file_bytes: u64,
}

/// The stored chain of one network in `DIR/chain.redb`. See the module docs.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
    /// What the tables hold of the best chain and the mempool, to write only
    /// the differences ([`Store::persist`]). Held during every commit.
    mirror: Mutex<Mirror>,
}

/// The stored best chain (index = height) and the ids of the stored posts
/// this store keeps in step with the node.
#[derive(Debug, Default)]
struct Mirror {
    best: Vec<BlockHash>,
    mempool: HashSet<TxId>,
}

impl Mirror {
    /// The stored best chain's change to reach `chain`'s: `(from_height,
    /// hashes)`, `None` if equal. Costs the depth of the change.
    fn best_update(&self, chain: &Chain) -> Option<(u64, Vec<BlockHash>)> {
        let new_len = chain.height() as usize + 1;
        let mut common = self.best.len().min(new_len);
        while common > 0 && chain.best_at(common as u64 - 1).map(|e| e.hash) != Some(self.best[common - 1]) {
            common -= 1;
        }
        if common == new_len && common == self.best.len() {
            return None;
        }
        let hashes = (common..new_len).filter_map(|h| chain.best_at(h as u64).map(|e| e.hash)).collect();
        Some((common as u64, hashes))
    }

    /// Posts to put and to remove to reach `mempool`. Costs its size.
    fn mempool_update(&self, mempool: &Mempool) -> (Vec<Post>, Vec<TxId>) {
        let put = mempool.iter().filter(|(id, _)| !self.mempool.contains(id)).map(|(_, p)| p.clone()).collect();
        let remove = self.mempool.iter().filter(|id| !mempool.contains(id)).copied().collect();
        (put, remove)
    }

    /// Records a committed batch.
    fn apply(&mut self, batch: &Batch) {
        if let Some((from, hashes)) = &batch.best {
            // A write above a gap leaves the mirror short: the next update rewrites from there.
            if let Ok(from) = usize::try_from(*from)
                && from <= self.best.len()
            {
                self.best.truncate(from);
                self.best.extend_from_slice(hashes);
            }
        }
        for txid in &batch.mempool_remove {
            self.mempool.remove(txid);
        }
        self.mempool.extend(batch.mempool_put.iter().map(Post::txid));
    }
}

impl Store {
    /// Opens the store in `dir` for `params`' network, creating `dir` and the
    /// database when absent (or when `dir` is empty).
    ///
    /// Refuses, leaving everything as it was: a non-empty `dir` without
    /// [`DB_FILE`] ([`StoreError::NotAStore`]), a [`DB_FILE`] that is not a
    /// tabchain database ([`StoreError::NotADatabase`]), a store of another
    /// network, chain or format ([`StoreError::Foreign`]), a damaged database
    /// ([`StoreError::Damaged`]), one open in another process
    /// ([`StoreError::Locked`]).
    ///
    /// Opening verifies redb's checksums over the whole file (it reads it
    /// once) and recovers from a crash (redb rolls back to the last commit).
    /// The blocks themselves are checked by [`verify_and_restore`].
    pub fn open(dir: &Path, params: &Params) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        // redb may panic on a file damaged outside it (debug assertions):
        // that is a damaged file, not a bug of ours to crash on.
        match panic::catch_unwind(AssertUnwindSafe(|| Store::open_inner(dir, &path, params))) {
            Ok(result) => result,
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                Err(StoreError::Damaged { path, reason: format!("the database library failed reading it: {message}") })
            }
        }
    }

    fn open_inner(dir: &Path, path: &Path, params: &Params) -> Result<Store, StoreError> {
        let asked = Identity::of(params);
        prepare_dir(dir)?;
        let existing = match fs::symlink_metadata(path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(StoreError::Io { path: path.to_owned(), action: "inspect", source }),
        };
        let db = match existing {
            None => {
                ensure_empty(dir)?;
                create_new(dir, path)?
            }
            Some(meta) if !meta.is_file() => {
                return Err(StoreError::NotADatabase {
                    path: path.to_owned(),
                    reason: "it is not a regular file".to_owned(),
                });
            }
            // Created but never initialized (a crash right after creating it): nothing to lose.
            Some(meta) if meta.len() == 0 => Builder::new().create(path).map_err(|e| open_error(path, e))?,
            Some(_) => {
                // Look without writing first: a file that is not ours stays byte for byte as it was.
                precheck_read_only(path, &asked)?;
                Builder::new().set_check_integrity_on_open(true).open(path).map_err(|e| open_error(path, e))?
            }
        };
        let store = Store { db, path: path.to_owned(), mirror: Mutex::new(Mirror::default()) };
        match store.read_meta()? {
            Meta::Tabchain(holds) if holds == asked => {}
            Meta::Tabchain(holds) => {
                let (holds, asked) = (holds.to_string(), asked.to_string());
                return Err(StoreError::Foreign { path: path.to_owned(), holds, asked });
            }
            Meta::Empty => store.initialize(&asked, params)?,
        }
        store.load_mirror()?;
        Ok(store)
    }

    fn load_mirror(&self) -> Result<(), StoreError> {
        let mut best = Vec::new();
        for (height, hash) in self.best_chain()? {
            if height != best.len() as u64 {
                break;
            }
            best.push(hash);
        }
        let txn = self.begin_read()?;
        let table = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
        let mut mempool = HashSet::new();
        for entry in table.iter().map_err(self.db_err("read the mempool table"))? {
            let (key, _) = entry.map_err(self.db_err("read the mempool table"))?;
            mempool.insert(TxId::from_bytes(key.value()));
        }
        *self.lock_mirror() = Mirror { best, mempool };
        Ok(())
    }

    fn lock_mirror(&self) -> MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db_err<E: Into<redb::Error>>(&self, action: &'static str) -> impl FnOnce(E) -> StoreError + '_ {
        move |e| db_error(&self.path, action, e.into())
    }

    fn read_meta(&self) -> Result<Meta, StoreError> {
        let txn = self.db.begin_read().map_err(self.db_err("begin a read transaction"))?;
        read_meta(&txn, &self.path)
    }

    /// Writes `meta`, creates the tables and records genesis as the best chain.
    fn initialize(&self, identity: &Identity, params: &Params) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(self.db_err("begin a write transaction"))?;
        {
            let mut meta = txn.open_table(META).map_err(self.db_err("create the meta table"))?;
            let write = "write the meta table";
            meta.insert(META_FORMAT, identity.format.to_le_bytes().as_slice()).map_err(self.db_err(write))?;
            meta.insert(META_NETWORK, identity.network.as_bytes()).map_err(self.db_err(write))?;
            meta.insert(META_CHAIN_ID, identity.chain_id.as_bytes().as_slice()).map_err(self.db_err(write))?;
            txn.open_table(BLOCKS).map_err(self.db_err("create the blocks table"))?;
            txn.open_table(MEMPOOL).map_err(self.db_err("create the mempool table"))?;
            let mut best = txn.open_table(BEST).map_err(self.db_err("create the best table"))?;
            best.insert(0, *params.chain_id().as_bytes()).map_err(self.db_err("write the best table"))?;
        }
        txn.commit().map_err(self.db_err("commit the new store"))
    }

    /// Commits `batch` in one transaction: durable when this returns (unless
    /// [`Batch::relaxed`]). Every block's bytes must start with a header
    /// that hashes to its key and carries its height, and best-chain heights
    /// must not overflow, else [`StoreError::BadInput`] and nothing is written.
    pub fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut mirror = self.lock_mirror();
        self.commit_locked(&mut mirror, batch)
    }

    /// Makes the store hold `node`'s state after a call: `blocks` (the
    /// call's [`Output::Store`] fields, in order), the best chain from where
    /// it changed, and the mempool's additions and removals; one durable
    /// transaction, nothing written when nothing changed. Call it (holding
    /// the node) before carrying out the call's `Send`s.
    pub fn persist(&self, node: &Driver, blocks: Vec<(BlockHash, u64, Vec<u8>)>) -> Result<(), StoreError> {
        let mut mirror = self.lock_mirror();
        let best = mirror.best_update(node.state().chain());
        let (mempool_put, mempool_remove) = mirror.mempool_update(node.state().mempool());
        let batch = Batch { blocks, best, mempool_put, mempool_remove, relaxed: false };
        if batch.is_empty() {
            return Ok(());
        }
        self.commit_locked(&mut mirror, &batch)
    }

    /// Writes the best chain's change to reach `node`'s (nothing if none),
    /// durably. [`Store::persist`] does this and more in one transaction.
    pub fn set_best_chain_from(&self, node: &Driver) -> Result<(), StoreError> {
        let mut mirror = self.lock_mirror();
        match mirror.best_update(node.state().chain()) {
            Some(best) => self.commit_locked(&mut mirror, &Batch { best: Some(best), ..Batch::default() }),
            None => Ok(()),
        }
    }

    fn commit_locked(&self, mirror: &mut Mirror, batch: &Batch) -> Result<(), StoreError> {
        for (hash, height, bytes) in &batch.blocks {
            self.check_block_input(hash, *height, bytes)?;
        }
        if let Some((from, hashes)) = &batch.best
            && from.checked_add(hashes.len() as u64).is_none()
        {
            let reason = format!("{} heights from {from} overflow", hashes.len());
            return Err(StoreError::BadInput {
                path: self.path.clone(),
                what: "best chain",
                key: from.to_string(),
                reason,
            });
        }
        let mut txn = self.db.begin_write().map_err(self.db_err("begin a write transaction"))?;
        if batch.relaxed {
            txn.set_durability(Durability::None).map_err(self.db_err("set the durability"))?;
        }
        {
            if !batch.blocks.is_empty() {
                let mut table = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
                for (hash, _, bytes) in &batch.blocks {
                    table.insert(*hash.as_bytes(), bytes.as_slice()).map_err(self.db_err("write a block"))?;
                }
            }
            if let Some((from, hashes)) = &batch.best {
                let mut table = txn.open_table(BEST).map_err(self.db_err("open the best table"))?;
                let end = from + hashes.len() as u64;
                // Above the new tip: pop from the top (usually nothing to pop).
                loop {
                    let last = table.last().map_err(self.db_err("read the best table"))?.map(|(h, _)| h.value());
                    if last.is_none_or(|height| height < end) {
                        break;
                    }
                    table.pop_last().map_err(self.db_err("trim the best table"))?;
                }
                for (height, hash) in (*from..).zip(hashes) {
                    table.insert(height, *hash.as_bytes()).map_err(self.db_err("write the best table"))?;
                }
            }
            if !batch.mempool_put.is_empty() || !batch.mempool_remove.is_empty() {
                let mut table = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
                for txid in &batch.mempool_remove {
                    table.remove(*txid.as_bytes()).map_err(self.db_err("remove a post"))?;
                }
                for post in &batch.mempool_put {
                    let bytes = post.to_bytes();
                    table.insert(*post.txid().as_bytes(), bytes.as_slice()).map_err(self.db_err("write a post"))?;
                }
            }
        }
        txn.commit().map_err(self.db_err("commit"))?;
        mirror.apply(batch);
        Ok(())
    }

    fn check_block_input(&self, hash: &BlockHash, height: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let reason = match bytes.get(..HEADER_BYTES).map(BlockHeader::from_bytes) {
            None => format!("{} bytes is shorter than a header", bytes.len()),
            Some(Err(e)) => format!("header does not decode: {e}"),
            Some(Ok(header)) if header.hash() != *hash => format!("its header hashes to {}", header.hash()),
            Some(Ok(header)) if header.height != height => format!("its header says height {}", header.height),
            Some(Ok(_)) => return Ok(()),
        };
        Err(StoreError::BadInput { path: self.path.clone(), what: "block", key: hash.to_hex(), reason })
    }

    /// Stores blocks ([`Output::Store`]'s fields), durably.
    pub fn put_blocks(&self, blocks: &[(BlockHash, u64, Vec<u8>)]) -> Result<(), StoreError> {
        self.commit(&Batch { blocks: blocks.to_vec(), ..Batch::default() })
    }

    /// Rewrites the best chain from `from_height` on with `hashes` and removes
    /// every height above them, durably.
    pub fn set_best_chain(&self, from_height: u64, hashes: &[BlockHash]) -> Result<(), StoreError> {
        self.commit(&Batch { best: Some((from_height, hashes.to_vec())), ..Batch::default() })
    }

    /// Adds posts to the stored mempool, durably.
    pub fn put_mempool(&self, posts: &[Post]) -> Result<(), StoreError> {
        self.commit(&Batch { mempool_put: posts.to_vec(), ..Batch::default() })
    }

    /// Removes posts from the stored mempool, durably.
    pub fn remove_mempool(&self, txids: &[TxId]) -> Result<(), StoreError> {
        self.commit(&Batch { mempool_remove: txids.to_vec(), ..Batch::default() })
    }

    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(self.db_err("begin a read transaction"))
    }

    /// Every stored block, decoded and checked against its key; sorted by
    /// height.
    fn load_block_records(&self) -> Result<Vec<StoredBlock>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
        let mut records = Vec::with_capacity(table.len().map_err(self.db_err("count the blocks"))? as usize);
        let mut bad = Vec::new();
        for entry in table.iter().map_err(self.db_err("read the blocks table"))? {
            let (key, value) = entry.map_err(self.db_err("read a block"))?;
            let hash = BlockHash::from_bytes(key.value());
            let bytes = value.value();
            match Block::from_bytes(bytes) {
                Ok(block) if block.hash() == hash => {
                    records.push(StoredBlock { hash, height: block.header.height, bytes: bytes.to_vec() })
                }
                Ok(block) => bad.push(BadRecord {
                    what: "block",
                    key: hash.to_hex(),
                    reason: format!("its header hashes to {}", block.hash()),
                }),
                Err(e) => bad.push(BadRecord {
                    what: "block",
                    key: hash.to_hex(),
                    reason: format!("{} bytes that do not decode: {e}", bytes.len()),
                }),
            }
        }
        if !bad.is_empty() {
            return Err(StoreError::Corrupt { path: self.path.clone(), bad });
        }
        records.sort_by_key(|r| r.height);
        Ok(records)
    }

    /// Every stored block's bytes, by height. (Restore them with
    /// [`Driver::restore_preferring`] and the tip of [`Store::best_chain`] to
    /// keep the stored best chain among branches of equal work.) A record that does not decode or does not hash to its key makes it
    /// fail with [`StoreError::Corrupt`] listing them all.
    pub fn load_blocks(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.load_block_records()?.into_iter().map(|r| r.bytes).collect())
    }

    /// One stored block's bytes.
    pub fn get_block(&self, hash: &BlockHash) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
        let value = table.get(*hash.as_bytes()).map_err(self.db_err("read a block"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// The stored best chain: `(height, hash)` from genesis up.
    pub fn best_chain(&self) -> Result<Vec<(u64, BlockHash)>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BEST).map_err(self.db_err("open the best table"))?;
        let mut chain = Vec::with_capacity(table.len().map_err(self.db_err("count the best chain"))? as usize);
        for entry in table.iter().map_err(self.db_err("read the best table"))? {
            let (height, hash) = entry.map_err(self.db_err("read the best table"))?;
            chain.push((height.value(), BlockHash::from_bytes(hash.value())));
        }
        Ok(chain)
    }

    /// The stored mempool, oldest post (by timestamp, then id) first. A
    /// record that does not decode or does not hash to its key makes it fail
    /// with [`StoreError::Corrupt`] listing them all.
    pub fn load_mempool(&self) -> Result<Vec<Post>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
        let mut posts = Vec::new();
        let mut bad = Vec::new();
        for entry in table.iter().map_err(self.db_err("read the mempool table"))? {
            let (key, value) = entry.map_err(self.db_err("read a post"))?;
            let txid = TxId::from_bytes(key.value());
            match Post::from_bytes(value.value()) {
                Ok(post) if post.txid() == txid => posts.push(post),
                Ok(post) => bad.push(BadRecord {
                    what: "post",
                    key: txid.to_hex(),
                    reason: format!("its bytes hash to {}", post.txid()),
                }),
                Err(e) => bad.push(BadRecord {
                    what: "post",
                    key: txid.to_hex(),
                    reason: format!("{} bytes that do not decode: {e}", value.value().len()),
                }),
            }
        }
        if !bad.is_empty() {
            return Err(StoreError::Corrupt { path: self.path.clone(), bad });
        }
        posts.sort_by_cached_key(|p| (p.timestamp_ms, p.txid()));
        Ok(posts)
    }

    /// Counts and the stored tip.
    pub fn stats(&self) -> Result<StoreStats, StoreError> {
        let txn = self.begin_read()?;
        let blocks = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
        let best = txn.open_table(BEST).map_err(self.db_err("open the best table"))?;
        let mempool = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
        let tip = best.last().map_err(self.db_err("read the best table"))?;
        let file_bytes = fs::metadata(&self.path)
            .map_err(|source| StoreError::Io { path: self.path.clone(), action: "inspect", source })?
            .len();
        Ok(StoreStats {
            path: self.path.clone(),
            blocks: blocks.len().map_err(self.db_err("count the blocks"))?,
            best: tip.map(|(h, hash)| (h.value(), BlockHash::from_bytes(hash.value()))),
            mempool: mempool.len().map_err(self.db_err("count the mempool"))?,
            file_bytes,
        })
    }
}

struct StoredBlock {
    hash: BlockHash,
    height: u64,
    bytes: Vec<u8>,
}

fn db_error(path: &Path, action: &'static str, source: redb::Error) -> StoreError {
    match source {
        redb::Error::Corrupted(reason) => StoreError::Damaged { path: path.to_owned(), reason },
        source => StoreError::Db { path: path.to_owned(), action, source: Box::new(source) },
    }
}

/// Maps redb's open errors to ours.
fn open_error(path: &Path, error: DatabaseError) -> StoreError {
    let path = path.to_owned();
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => StoreError::Locked { path },
        DatabaseError::UpgradeRequired(version) => StoreError::NotADatabase {
            path,
            reason: format!("it is a redb database in an old file format ({version}) that this node does not read"),
        },
        DatabaseError::RepairAborted => {
            StoreError::Damaged { path, reason: "it needs a repair, which was aborted".to_owned() }
        }
        DatabaseError::Storage(StorageError::Io(e)) if e.kind() == io::ErrorKind::InvalidData => {
            StoreError::NotADatabase { path, reason: format!("it is not a redb database ({e})") }
        }
        DatabaseError::Storage(StorageError::Corrupted(reason)) => StoreError::Damaged { path, reason },
        DatabaseError::Storage(StorageError::Io(source)) => StoreError::Io { path, action: "open", source },
        other => StoreError::Db { path, action: "open the database", source: Box::new(other.into()) },
    }
}

/// Creates `dir` if absent; it must be a directory.
fn prepare_dir(dir: &Path) -> Result<(), StoreError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(StoreError::NotAStore { path: dir.to_owned(), found: "it is a file, not a directory".to_owned() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            action: "create the data directory",
            source,
        }),
        Err(source) => Err(StoreError::Io { path: dir.to_owned(), action: "inspect the data directory", source }),
    }
}

/// A directory without a database must be empty before we create one in it.
fn ensure_empty(dir: &Path) -> Result<(), StoreError> {
    let io_err = |source| StoreError::Io { path: dir.to_owned(), action: "list the data directory", source };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        names.push(entry.map_err(io_err)?.file_name().to_string_lossy().into_owned());
    }
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    let count = names.len();
    let shown: Vec<String> = names.into_iter().take(3).map(|n| format!("{n:?}")).collect();
    let more = if count > 3 { format!(", and {} more", count - 3) } else { String::new() };
    Err(StoreError::NotAStore { path: dir.to_owned(), found: format!("{count} entries: {}{more}", shown.join(", ")) })
}

/// Creates the database file (it must not exist), then makes the directory
/// entry durable.
fn create_new(dir: &Path, path: &Path) -> Result<Database, StoreError> {
    OpenOptions::new().write(true).create_new(true).open(path).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        action: "create",
        source,
    })?;
    let db = Builder::new().create(path).map_err(|e| open_error(path, e))?;
    sync_dir(dir)?;
    Ok(db)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|source| StoreError::Io {
        path: dir.to_owned(),
        action: "sync the data directory",
        source,
    })
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// Opens the file read-only and checks `meta` before anything may write to
/// it. A database that needs crash recovery cannot be opened read-only: it
/// was ours (only an open database crashes), so the writable open recovers it
/// and checks `meta` afterwards.
fn precheck_read_only(path: &Path, asked: &Identity) -> Result<(), StoreError> {
    let db = match Builder::new().open_read_only(path) {
        Ok(db) => db,
        Err(DatabaseError::RepairAborted) => return Ok(()),
        Err(e) => return Err(open_error(path, e)),
    };
    let txn = db.begin_read().map_err(|e| db_error(path, "begin a read transaction", e.into()))?;
    match read_meta(&txn, path)? {
        Meta::Tabchain(holds) if holds != *asked => {
            Err(StoreError::Foreign { path: path.to_owned(), holds: holds.to_string(), asked: asked.to_string() })
        }
        Meta::Tabchain(_) | Meta::Empty => Ok(()),
    }
}

/// Reads `meta`: a tabchain store, an empty database, or else an error.
fn read_meta(txn: &ReadTransaction, path: &Path) -> Result<Meta, StoreError> {
    let table = match txn.open_table(META) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => {
            let tables: Vec<String> = txn
                .list_tables()
                .map_err(|e| db_error(path, "list the tables", e.into()))?
                .map(|t| t.name().to_owned())
                .collect();
            if tables.is_empty() {
                return Ok(Meta::Empty);
            }
            return Err(StoreError::NotADatabase {
                path: path.to_owned(),
                reason: format!("it is a redb database without tabchain metadata (tables: {})", tables.join(", ")),
            });
        }
        Err(TableError::TableTypeMismatch { .. } | TableError::TableIsMultimap(_)) => {
            return Err(StoreError::NotADatabase {
                path: path.to_owned(),
                reason: "it is a redb database whose \"meta\" table is not tabchain's".to_owned(),
            });
        }
        Err(e) => return Err(db_error(path, "open the meta table", e.into())),
    };
    let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
        let value = table.get(key).map_err(|e| db_error(path, "read the meta table", e.into()))?;
        Ok(value.map(|v| v.value().to_vec()))
    };
    let bad = |key: &str, reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        bad: vec![BadRecord { what: "meta", key: key.to_owned(), reason }],
    };
    let format = match get(META_FORMAT)? {
        Some(bytes) => match <[u8; 4]>::try_from(bytes.as_slice()) {
            Ok(b) => u32::from_le_bytes(b),
            Err(_) => return Err(bad(META_FORMAT, format!("{} bytes, expected 4", bytes.len()))),
        },
        None => return Err(bad(META_FORMAT, "missing".to_owned())),
    };
    let network = match get(META_NETWORK)? {
        Some(bytes) => String::from_utf8(bytes).map_err(|_| bad(META_NETWORK, "not UTF-8".to_owned()))?,
        None => return Err(bad(META_NETWORK, "missing".to_owned())),
    };
    let chain_id = match get(META_CHAIN_ID)? {
        Some(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(b) => BlockHash::from_bytes(b),
            Err(_) => return Err(bad(META_CHAIN_ID, format!("{} bytes, expected 32", bytes.len()))),
        },
        None => return Err(bad(META_CHAIN_ID, "missing".to_owned())),
    };
    Ok(Meta::Tabchain(Identity { format, network, chain_id }))
}

// ---- startup -------------------------------------------------------------------

/// How the stored best chain differed from the one restored from the blocks
/// (a warning: the blocks are the truth, and the stored best chain was
/// rewritten to match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BestMismatch {
    /// Stored best tip (height, hash), if any.
    pub stored: Option<(u64, BlockHash)>,
    /// Restored best tip.
    pub restored: (u64, BlockHash),
    /// Lowest height where they differ.
    pub first_difference: u64,
}

/// What [`verify_and_restore`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Blocks in the store.
    pub stored_blocks: usize,
    /// What [`Driver::restore`] made of them (`rejected` and `orphans` are 0:
    /// anything else is an error).
    pub report: RestoreReport,
    /// Set when the stored best chain did not match the restored one.
    pub best_mismatch: Option<BestMismatch>,
    /// Stored posts back in the node's mempool.
    pub mempool_restored: usize,
    /// Stored posts already confirmed on the restored chain (removed from
    /// the store: nothing is lost).
    pub mempool_confirmed: usize,
    /// Stored posts the node refused for another reason (a clock behind the
    /// posts' time, a full mempool): kept in the store, retried next start.
    pub mempool_refused: Vec<(TxId, String)>,
}

/// Rebuilds `node` (a node at genesis, not connected yet) from `store` at
/// startup: loads and checks every block, runs [`Driver::restore`], and
/// refuses to go on if any stored block does not decode, does not hash to
/// its key, does not validate or does not connect ([`StoreError::Corrupt`],
/// listing each with the reason; nothing is dropped, and `node` must then be
/// discarded). Compares the restored best chain with the stored one (a
/// difference is a warning in the summary, and the stored one is rewritten),
/// then puts the stored mempool back into the node. Afterwards the store is
/// in step with `node` for [`Store::persist`].
///
/// `now_ms` is the clock blocks and posts are checked against: a block
/// "from the future" means the clock is behind, and the error says so.
pub fn verify_and_restore(store: &Store, node: &mut Driver, now_ms: u64) -> Result<RestoreSummary, StoreError> {
    let records = store.load_block_records()?;
    let stored_blocks = records.len();
    let hashes: Vec<BlockHash> = records.iter().map(|r| r.hash).collect();
    // The stored best tip stays best among branches of equal work.
    let stored_tip = store.best_chain()?.last().map(|&(_, hash)| hash);
    let report = node.restore_preferring(records.into_iter().map(|r| r.bytes), stored_tip, now_ms);

    let missing = hashes.iter().filter(|hash| node.state().chain().get(hash).is_none()).count();
    if missing > 0 || report.rejected > 0 || report.orphans > 0 {
        return Err(diagnose(store, node.params(), now_ms));
    }

    let restored: Vec<BlockHash> = node.state().chain().best_chain().map(|e| e.hash).collect();
    let best_mismatch = check_best(store, &restored)?;

    let mut mempool_restored = 0;
    let mut confirmed = Vec::new();
    let mut mempool_refused = Vec::new();
    for post in store.load_mempool()? {
        let txid = post.txid();
        match node.submit_post(post, now_ms) {
            Ok(_) => mempool_restored += 1,
            Err(PostRejected::AlreadyConfirmed { .. }) => confirmed.push(txid),
            Err(e) => mempool_refused.push((txid, e.to_string())),
        }
    }
    if !confirmed.is_empty() {
        store.remove_mempool(&confirmed)?;
    }
    // Refused posts stay stored but untracked: persist() neither removes nor rewrites them.
    store.lock_mirror().mempool = node.state().mempool().iter().map(|(id, _)| *id).collect();
    Ok(RestoreSummary {
        stored_blocks,
        report,
        best_mismatch,
        mempool_restored,
        mempool_confirmed: confirmed.len(),
        mempool_refused,
    })
}

/// Compares the stored best chain with the restored one; rewrites it from
/// the first difference.
fn check_best(store: &Store, restored: &[BlockHash]) -> Result<Option<BestMismatch>, StoreError> {
    let stored = store.best_chain()?;
    let same_len = stored.len() == restored.len();
    let first_difference = stored
        .iter()
        .zip(restored)
        .enumerate()
        .find(|(i, ((height, stored), restored))| *height != *i as u64 || stored != *restored)
        .map(|(i, _)| i as u64)
        .or_else(|| (!same_len).then(|| stored.len().min(restored.len()) as u64));
    let Some(first_difference) = first_difference else { return Ok(None) };
    let from = usize::try_from(first_difference).unwrap_or(usize::MAX).min(restored.len());
    store.set_best_chain(from as u64, &restored[from..])?;
    let tip_height = restored.len().saturating_sub(1);
    Ok(Some(BestMismatch {
        stored: stored.last().copied(),
        restored: (tip_height as u64, restored.get(tip_height).copied().unwrap_or_default()),
        first_difference,
    }))
}

/// Replays the stored blocks on a scratch chain to say why each one that did
/// not make it into the tree failed (the slow path: only after a failure).
fn diagnose(store: &Store, params: &Params, now_ms: u64) -> StoreError {
    let records = match store.load_block_records() {
        Ok(records) => records,
        Err(e) => return e,
    };
    let mut state = ChainState::new(params.clone());
    let mut reasons: HashMap<BlockHash, String> = HashMap::new();
    for record in &records {
        let block = match Block::from_bytes(&record.bytes) {
            Ok(block) => block,
            Err(e) => {
                reasons.insert(record.hash, format!("does not decode: {e}"));
                continue;
            }
        };
        let prev = block.header.prev_hash;
        match state.submit_block(block, now_ms) {
            Ok(tabchain_core::chain::BlockStatus::Stored(stored)) => {
                for (hash, e) in stored.rejected_orphans {
                    reasons.insert(hash, format!("fails validation: {e}"));
                }
            }
            Ok(_) if state.chain().get(&record.hash).is_some() => {}
            Ok(_) => {
                let why = reasons.get(&prev).map_or("not stored", |_| "itself bad");
                reasons.insert(record.hash, format!("does not connect: its parent {prev} is {why}"));
            }
            Err(e @ BlockError::TimestampTooFarAhead { .. }) => {
                reasons.insert(
                    record.hash,
                    format!("fails validation: {e} (is this computer's clock behind? it says {now_ms} ms)"),
                );
            }
            Err(e) => {
                reasons.insert(record.hash, format!("fails validation: {e}"));
            }
        }
    }
    let mut bad: Vec<(u64, BadRecord)> = records
        .iter()
        .filter(|r| state.chain().get(&r.hash).is_none())
        .map(|r| {
            let reason = reasons.remove(&r.hash).unwrap_or_else(|| "was not restored".to_owned());
            (
                r.height,
                BadRecord { what: "block", key: r.hash.to_hex(), reason: format!("at height {}, {reason}", r.height) },
            )
        })
        .collect();
    bad.sort_by_key(|(height, _)| *height);
    StoreError::Corrupt { path: store.path.clone(), bad: bad.into_iter().map(|(_, b)| b).collect() }
}
