//! Startup: reading the store back into the driver, checking every block on
//! the way, and saying exactly which records are bad when some are.

use std::collections::HashMap;

use tabchain_core::block::Block;
use tabchain_core::chain::BlockStatus;
use tabchain_core::driver::{Change, Driver, Output, RestoreReport, Saved, SavedPost};
use tabchain_core::hash::BlockHash;
use tabchain_core::params::Params;
use tabchain_core::state::ChainState;
use tabchain_core::validate::BlockError;

use super::{BadRecord, Store, StoreError};

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

/// What [`Store::restore`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreSummary {
    /// Blocks in the store.
    pub stored_blocks: usize,
    /// What the driver made of the stored state (`rejected` and `orphans`
    /// are 0: anything else is an error). Stored posts already confirmed
    /// were removed from the store; posts refused for another reason (a
    /// clock behind their time, a full mempool) stay stored and are tried
    /// again next start.
    pub report: RestoreReport,
    /// Set when the stored best chain did not match the restored one.
    pub best_mismatch: Option<BestMismatch>,
}

impl Store {
    /// Rebuilds `driver` (at genesis, not connected yet) from the store at
    /// startup: loads and checks every block and hands the blocks and the
    /// pending posts to [`Driver::restore`] (the best tip follows from the
    /// blocks). Refuses to go on if any stored block does not decode, does
    /// not hash to its key, does not validate or does not connect
    /// ([`StoreError::Corrupt`], listing each with the reason; nothing is
    /// dropped, and `driver` must then be discarded). Compares the restored
    /// best chain with the stored one (a difference is a warning in the
    /// summary, and the stored one is rewritten) and writes the changes the
    /// driver asked for (posts a block already holds leave the store).
    ///
    /// `now_ms` is the clock blocks and posts are checked against: a block
    /// "from the future" means the clock is behind, and the error says so.
    pub fn restore(&self, driver: &mut Driver, now_ms: u64) -> Result<RestoreSummary, StoreError> {
        let records = self.load_block_records()?;
        let stored_blocks = records.len();
        let hashes: Vec<BlockHash> = records.iter().map(|r| r.hash).collect();
        let saved = Saved {
            blocks: records.into_iter().map(|r| r.bytes).collect(),
            pending: self
                .read_pending()?
                .into_iter()
                .map(|(post, own)| SavedPost { bytes: post.to_bytes(), own })
                .collect(),
        };
        let (report, outputs) = driver.restore(saved, now_ms);
        let missing = hashes.iter().filter(|hash| driver.state().chain().get(hash).is_none()).count();
        if missing > 0 || report.rejected > 0 || report.orphans > 0 {
            return Err(diagnose(self, driver.params(), now_ms));
        }
        let restored: Vec<BlockHash> = driver.state().chain().best_chain().map(|e| e.hash).collect();
        let best_mismatch = check_best(self, &restored)?;
        let changes: Vec<Change> = outputs.into_iter().filter_map(Output::into_change).collect();
        self.persist(&changes)?;
        Ok(RestoreSummary { stored_blocks, report, best_mismatch })
    }
}

/// Compares the stored best chain with the restored one; rewrites it from
/// the first difference.
fn check_best(store: &Store, restored: &[BlockHash]) -> Result<Option<BestMismatch>, StoreError> {
    let stored = store.read_best_chain()?;
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
    store.persist(&[Change::BestChain { from_height: from as u64, hashes: restored[from..].to_vec() }])?;
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
            Ok(BlockStatus::Stored(stored)) => {
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
