//! The node's durable storage: one embedded, crash-safe [redb] database,
//! `DIR/chain.redb`, written only by replaying the core driver's
//! [`Change`]s ([`Store::persist`]) and read back at startup
//! ([`Store::restore`]).
//!
//! # What is stored
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `&str` | `format` (`u32` LE, [`FORMAT_VERSION`]), `network` (`"main"`/`"dev"`), `chain_id` (the 32-byte genesis hash) |
//! | `blocks` | block hash (`[u8; 32]`) | [`Block::to_bytes`] |
//! | `best` | height (`u64`) | hash of the best chain's block there, genesis included |
//! | `mempool` | post id (`[u8; 32]`) | [`Post::to_bytes`] |
//! | `own` | post id (`[u8; 32]`) | `()`: the pending posts written on this node (REST `/new_transaction`) |
//!
//! The `blocks` table is the truth: [`Store::restore`] rebuilds the chain
//! from it alone (the best tip follows from the blocks). `best` records the
//! best chain as last committed, so the node can check the restored chain;
//! `mempool` and `own` keep pending posts across restarts
//! (a store written before `own` existed has none: it reads as empty).
//!
//! # Guarantees
//!
//! - Every write is one redb transaction, and [`Store::persist`] returns only
//!   once it is durable (redb commits with `fsync`). After each driver call
//!   the host persists the call's [`Change`]s before it carries out the
//!   call's `Send`s, so a block acknowledged or announced to anyone is on disk.
//! - A crash (kill -9, power loss) loses nothing that was committed: redb
//!   recovers to the last commit on the next open.
//! - [`Store::open`] never deletes, truncates or rewrites anything it did not
//!   create (see `open.rs`); each refusal is its own [`StoreError`] naming
//!   the path.
//! - Stored bytes that do not decode, do not hash to their key, or blocks that
//!   do not validate are reported as [`StoreError::Corrupt`] listing every bad
//!   key; nothing is dropped silently and nothing panics (see `restore.rs`).
//!
//! All calls are synchronous (run them on a blocking thread); a [`Store`] can
//! be shared between threads (`&self` everywhere, redb serializes writers).

mod error;
mod open;
mod restore;

use std::path::{Path, PathBuf};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError,
};
use tabchain_core::block::Block;
use tabchain_core::driver::Change;
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::header::{BlockHeader, HEADER_BYTES};
use tabchain_core::post::Post;

pub use error::{BadRecord, StoreError};
pub use restore::{BestMismatch, RestoreSummary};

use error::db_error;

/// The database file inside the data directory.
pub const DB_FILE: &str = "chain.redb";
/// Version of the table layout above; a store of another version is refused.
/// (Adding a table that reads as empty when absent, as `own` was, keeps it.)
pub const FORMAT_VERSION: u32 = 1;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("blocks");
const BEST: TableDefinition<u64, [u8; 32]> = TableDefinition::new("best");
const MEMPOOL: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("mempool");
const OWN: TableDefinition<[u8; 32], ()> = TableDefinition::new("own");

/// The stored chain of one network in `DIR/chain.redb`. See the module docs.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

/// One stored block, checked against its key.
struct StoredBlock {
    hash: BlockHash,
    height: u64,
    bytes: Vec<u8>,
}

impl Store {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored bytes of `hashes`, in order, leaving out those not
    /// stored (what the driver's `ServeBlocks` and `LoadBlocks` ask for).
    pub fn read_blocks(&self, hashes: &[BlockHash]) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
        let mut blocks = Vec::with_capacity(hashes.len());
        for hash in hashes {
            if let Some(value) = table.get(*hash.as_bytes()).map_err(self.db_err("read a block"))? {
                blocks.push(value.value().to_vec());
            }
        }
        Ok(blocks)
    }

    fn db_err<E: Into<redb::Error>>(&self, action: &'static str) -> impl FnOnce(E) -> StoreError + '_ {
        move |e| db_error(&self.path, action, e.into())
    }

    /// Applies a driver call's changes, in order, in one transaction: durable
    /// when this returns; nothing is written when there are none. A block
    /// whose bytes do not start with a header that hashes to its key and
    /// carries its height, or a best chain whose heights overflow, is a host
    /// bug: [`StoreError::BadInput`], and nothing of the call is written.
    pub fn persist(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        for change in changes {
            self.check_change(change)?;
        }
        let txn = self.db.begin_write().map_err(self.db_err("begin a write transaction"))?;
        {
            let mut blocks = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
            let mut best = txn.open_table(BEST).map_err(self.db_err("open the best table"))?;
            let mut mempool = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
            let mut own = txn.open_table(OWN).map_err(self.db_err("open the own posts table"))?;
            for change in changes {
                match change {
                    Change::Block { hash, bytes, .. } => {
                        blocks.insert(*hash.as_bytes(), bytes.as_slice()).map_err(self.db_err("write a block"))?;
                    }
                    Change::BlockRemoved { hash } => {
                        blocks.remove(*hash.as_bytes()).map_err(self.db_err("remove a block"))?;
                    }
                    Change::BestChain { from_height, hashes } => {
                        // Everything from the first rewritten height up goes, then the new hashes.
                        loop {
                            let last = best.last().map_err(self.db_err("read the best table"))?.map(|(h, _)| h.value());
                            if last.is_none_or(|height| height < *from_height) {
                                break;
                            }
                            best.pop_last().map_err(self.db_err("trim the best table"))?;
                        }
                        for (height, hash) in (*from_height..).zip(hashes) {
                            best.insert(height, *hash.as_bytes()).map_err(self.db_err("write the best table"))?;
                        }
                    }
                    Change::PendingAdded { tx_id, post, own: is_own } => {
                        let bytes = post.to_bytes();
                        mempool.insert(*tx_id.as_bytes(), bytes.as_slice()).map_err(self.db_err("write a post"))?;
                        if *is_own {
                            own.insert(*tx_id.as_bytes(), ()).map_err(self.db_err("write an own post"))?;
                        }
                    }
                    Change::PendingRemoved { tx_id, .. } => {
                        mempool.remove(*tx_id.as_bytes()).map_err(self.db_err("remove a post"))?;
                        own.remove(*tx_id.as_bytes()).map_err(self.db_err("remove an own post"))?;
                    }
                }
            }
        }
        txn.commit().map_err(self.db_err("commit"))
    }

    /// Refuses a change that cannot be what it claims (see [`Store::persist`]).
    fn check_change(&self, change: &Change) -> Result<(), StoreError> {
        let bad = |what, key: String, reason| Err(StoreError::BadInput { path: self.path.clone(), what, key, reason });
        match change {
            Change::Block { hash, height, bytes } => {
                let reason = match bytes.get(..HEADER_BYTES).map(BlockHeader::from_bytes) {
                    None => format!("{} bytes is shorter than a header", bytes.len()),
                    Some(Err(e)) => format!("header does not decode: {e}"),
                    Some(Ok(header)) if header.hash() != *hash => format!("its header hashes to {}", header.hash()),
                    Some(Ok(header)) if header.height != *height => format!("its header says height {}", header.height),
                    Some(Ok(_)) => return Ok(()),
                };
                bad("block", hash.to_hex(), reason)
            }
            Change::BestChain { from_height, hashes } if from_height.checked_add(hashes.len() as u64).is_none() => bad(
                "best chain",
                from_height.to_string(),
                format!("{} heights from {from_height} overflow", hashes.len()),
            ),
            Change::PendingAdded { tx_id, post, .. } if post.txid() != *tx_id => {
                bad("post", tx_id.to_hex(), format!("it hashes to {}", post.txid()))
            }
            _ => Ok(()),
        }
    }

    fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(self.db_err("begin a read transaction"))
    }

    /// Every stored block, decoded and checked against its key; sorted by
    /// height. A record that does not decode or does not hash to its key
    /// makes it fail with [`StoreError::Corrupt`] listing them all.
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

    /// The stored best chain: `(height, hash)` from genesis up.
    fn read_best_chain(&self) -> Result<Vec<(u64, BlockHash)>, StoreError> {
        let txn = self.begin_read()?;
        let table = txn.open_table(BEST).map_err(self.db_err("open the best table"))?;
        let mut chain = Vec::with_capacity(table.len().map_err(self.db_err("count the best chain"))? as usize);
        for entry in table.iter().map_err(self.db_err("read the best table"))? {
            let (height, hash) = entry.map_err(self.db_err("read the best table"))?;
            chain.push((height.value(), BlockHash::from_bytes(hash.value())));
        }
        Ok(chain)
    }

    /// The stored pending posts, oldest (by timestamp, then id) first, each
    /// with whether it is an own post. A record that does not decode or does
    /// not hash to its key makes it fail with [`StoreError::Corrupt`]
    /// listing them all.
    fn read_pending(&self) -> Result<Vec<(Post, bool)>, StoreError> {
        let txn = self.begin_read()?;
        let own: std::collections::HashSet<TxId> = match txn.open_table(OWN) {
            Ok(table) => table
                .iter()
                .map_err(self.db_err("read the own posts table"))?
                .map(|entry| entry.map(|(key, _)| TxId::from_bytes(key.value())))
                .collect::<Result<_, _>>()
                .map_err(self.db_err("read the own posts table"))?,
            // A store from before the table existed.
            Err(TableError::TableDoesNotExist(_)) => Default::default(),
            Err(e) => return Err(db_error(&self.path, "open the own posts table", e.into())),
        };
        let table = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
        let mut posts = Vec::new();
        let mut bad = Vec::new();
        for entry in table.iter().map_err(self.db_err("read the mempool table"))? {
            let (key, value) = entry.map_err(self.db_err("read a post"))?;
            let txid = TxId::from_bytes(key.value());
            match Post::from_bytes(value.value()) {
                Ok(post) if post.txid() == txid => posts.push((post, own.contains(&txid))),
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
        posts.sort_by_cached_key(|(p, _)| (p.timestamp_ms, p.txid()));
        Ok(posts)
    }
}

/// Reads for tests and benchmarks (feature `test-util`): what is stored, as
/// the node never needs to see it outside [`Store::restore`].
#[cfg(feature = "test-util")]
mod inspect {
    use super::*;

    /// Counts and the stored tip.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct StoreStats {
        /// Blocks stored (all branches; genesis is not stored).
        pub blocks: u64,
        /// Height and hash of the stored best tip.
        pub best: Option<(u64, BlockHash)>,
        /// Posts in the stored mempool.
        pub mempool: u64,
        /// Size of the database file.
        pub file_bytes: u64,
    }

    impl Store {
        /// Every stored block's bytes, by height (checked as at restore).
        pub fn load_blocks(&self) -> Result<Vec<Vec<u8>>, StoreError> {
            Ok(self.load_block_records()?.into_iter().map(|r| r.bytes).collect())
        }

        /// One stored block's bytes, unchecked.
        pub fn get_block(&self, hash: &BlockHash) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.read_blocks(std::slice::from_ref(hash))?.pop())
        }

        /// The stored best chain: `(height, hash)` from genesis up.
        pub fn best_chain(&self) -> Result<Vec<(u64, BlockHash)>, StoreError> {
            self.read_best_chain()
        }

        /// The stored pending posts, oldest first, with their own flags.
        pub fn load_pending(&self) -> Result<Vec<(Post, bool)>, StoreError> {
            self.read_pending()
        }

        /// Counts and the stored tip.
        pub fn stats(&self) -> Result<StoreStats, StoreError> {
            let txn = self.begin_read()?;
            let blocks = txn.open_table(BLOCKS).map_err(self.db_err("open the blocks table"))?;
            let best = txn.open_table(BEST).map_err(self.db_err("open the best table"))?;
            let mempool = txn.open_table(MEMPOOL).map_err(self.db_err("open the mempool table"))?;
            let tip = best.last().map_err(self.db_err("read the best table"))?;
            let file_bytes = std::fs::metadata(&self.path)
                .map_err(|source| StoreError::Io { path: self.path.clone(), action: "inspect", source })?
                .len();
            Ok(StoreStats {
                blocks: blocks.len().map_err(self.db_err("count the blocks"))?,
                best: tip.map(|(h, hash)| (h.value(), BlockHash::from_bytes(hash.value()))),
                mempool: mempool.len().map_err(self.db_err("count the mempool"))?,
                file_bytes,
            })
        }
    }
}

#[cfg(feature = "test-util")]
pub use inspect::StoreStats;

/// A store can be shared between the node's threads.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Store>();
    shared::<StoreError>();
};
