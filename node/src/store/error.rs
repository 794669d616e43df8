//! What can go wrong with the node's store: [`StoreError`], one variant per
//! kind of problem, each naming the file; and how redb's errors map to ours.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use redb::{DatabaseError, StorageError};

use super::DB_FILE;

/// Most bad records an error message lists (the error itself holds them all).
const LISTED: usize = 10;

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

pub(super) fn db_error(path: &Path, action: &'static str, source: redb::Error) -> StoreError {
    match source {
        redb::Error::Corrupted(reason) => StoreError::Damaged { path: path.to_owned(), reason },
        source => StoreError::Db { path: path.to_owned(), action, source: Box::new(source) },
    }
}

/// Maps redb's open errors to ours.
pub(super) fn open_error(path: &Path, error: DatabaseError) -> StoreError {
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
