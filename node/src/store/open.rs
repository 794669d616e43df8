//! Opening the store carefully: a new directory gets a new database; an
//! existing one is looked at read-only first, so a file that is not ours (or
//! of another network) is refused and left byte for byte as it was.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use redb::{Builder, Database, DatabaseError, ReadTransaction, ReadableDatabase, TableError, TableHandle};
use tabchain_core::hash::BlockHash;
use tabchain_core::params::Params;

use super::error::{BadRecord, db_error, open_error};
use super::{BEST, BLOCKS, DB_FILE, FORMAT_VERSION, MEMPOOL, META, OWN, Store, StoreError};

const META_FORMAT: &str = "format";
const META_NETWORK: &str = "network";
const META_CHAIN_ID: &str = "chain_id";

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
    /// The blocks themselves are checked by [`Store::restore`].
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
        let store = Store { db, path: path.to_owned() };
        match store.read_meta()? {
            Meta::Tabchain(holds) if holds == asked => {}
            Meta::Tabchain(holds) => {
                let (holds, asked) = (holds.to_string(), asked.to_string());
                return Err(StoreError::Foreign { path: path.to_owned(), holds, asked });
            }
            Meta::Empty => store.initialize(&asked, params)?,
        }
        Ok(store)
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
            txn.open_table(OWN).map_err(self.db_err("create the own posts table"))?;
            let mut best = txn.open_table(BEST).map_err(self.db_err("create the best table"))?;
            best.insert(0, *params.chain_id().as_bytes()).map_err(self.db_err("write the best table"))?;
        }
        txn.commit().map_err(self.db_err("commit the new store"))
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
