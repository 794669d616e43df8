//! The other tabs of this browser (siblings, over a `BroadcastChannel`):
//! the posts and blocks they hand us ([`Driver::on_sibling_text`]), and the
//! gap a sibling's block can leave.
//!
//! Tabs of one origin share their storage: every tab keeps each block it
//! accepts. A block from a sibling whose parent we lack (we restored before
//! the sibling's last blocks were written, or missed a frame) is an orphan,
//! and with the relay down no peer can send the blocks before it. So its
//! ancestors are read back from that storage instead, one at a time:
//! [`Output::ReadBlock`] asks the host for the lowest missing block, the
//! host hands it to [`Driver::block_read`], and the walk goes on down until
//! a block connects to our chain; the orphans above it then connect too.
//! Blocks read back are checked like any other block, and marked wanted
//! (see `chain/keep.rs`) so a branch that forks below our tip is kept while
//! it connects. One walk at a time, at most [`MAX_STORED_WALK`] blocks; an
//! answer not given within [`super::SYNC_TIMEOUT_MS`] frees the walk for
//! the next orphan.

use super::output::{Event, Output};
use super::{Driver, SYNC_TIMEOUT_MS};
use crate::block::Block;
use crate::chain::BlockStatus;
use crate::hash::BlockHash;
use crate::wire::{self, Message};

/// Most blocks one walk reads back from storage (a longer gap is left to a
/// sync from the relay's peers).
pub const MAX_STORED_WALK: u32 = 100_000;

/// A walk down a sibling's branch through storage.
#[derive(Clone, Debug)]
pub(super) struct StoredWalk {
    /// The block asked of the host ([`Output::ReadBlock`]).
    asked: BlockHash,
    /// When it was asked (host clock, ms).
    asked_ms: u64,
    /// The sibling's block that started the walk: if the orphan pool
    /// dropped it meanwhile, the walk goes on from it once the rest connects.
    trigger: BlockHash,
    /// Blocks read so far.
    steps: u32,
}

impl Driver {
    /// One text frame from another tab of the same browser (a sibling, over
    /// its `BroadcastChannel`): only a `Tx` or `Block` meant for everyone
    /// (no `from`, no `to`: a post or block it wrote or mined, encoded as a
    /// broadcast, whether or not it is connected) is taken, and checked
    /// exactly as if the relay had brought it; anything else gives one
    /// [`Event::BadMessage`] and changes nothing. Nothing taken here is
    /// announced again: the tab that sent it told the relay. A block whose
    /// parent we lack starts a walk through storage (see the module docs).
    pub fn on_sibling_text(&mut self, text: &str, now_ms: u64) -> Vec<Output> {
        let envelope = match wire::decode(text) {
            Ok(envelope) => envelope,
            Err(e) => return vec![Output::Event(Event::BadMessage { reason: format!("from another tab: {e}") })],
        };
        let shared = matches!(envelope.message, Message::Tx { .. } | Message::Block { .. });
        if !shared || envelope.from.is_some() || envelope.to.is_some() {
            let reason = format!("{} from another tab: only posts and blocks for everyone", envelope.message.kind());
            return vec![Output::Event(Event::BadMessage { reason })];
        }
        self.on_envelope(envelope, now_ms)
    }

    /// Whether a walk through storage waits for the host.
    pub fn is_reading_stored(&self) -> bool {
        self.stored_walk.is_some()
    }

    /// A sibling's block `trigger` is an orphan: mark it wanted and, unless
    /// a walk is under way, ask the host for the lowest block missing below it.
    pub(super) fn walk_stored(&mut self, trigger: BlockHash, now_ms: u64, out: &mut Vec<Output>) {
        self.state.want([trigger]);
        if self.stored_walk.is_some() {
            return;
        }
        let missing = self.lowest_missing(trigger);
        self.stored_walk = Some(StoredWalk { asked: missing, asked_ms: now_ms, trigger, steps: 0 });
        out.push(Output::ReadBlock { hash: missing });
    }

    /// The first block below `hash` that is neither in the chain nor in the
    /// orphan pool (`hash` itself when it is in neither).
    fn lowest_missing(&self, hash: BlockHash) -> BlockHash {
        let chain = self.state.chain();
        let mut missing = hash;
        // The pool is bounded, and hashes cannot form a cycle; the count is a belt.
        for _ in 0..=chain.orphan_count() {
            match chain.orphan(&missing) {
                Some(block) => missing = block.header.prev_hash,
                None => break,
            }
        }
        missing
    }

    /// The host's answer to [`Output::ReadBlock`]: the block's bytes, or
    /// `None` when storage does not have it (the walk ends). The block is
    /// checked as any other; one that is still an orphan asks for its
    /// parent. An answer for a block not asked for (a walk that timed out)
    /// changes nothing.
    pub fn block_read(&mut self, hash: BlockHash, bytes: Option<Vec<u8>>, now_ms: u64) -> Vec<Output> {
        let before = self.tip();
        let mut out = Vec::new();
        let Some(walk) = self.stored_walk.take_if(|walk| walk.asked == hash) else { return out };
        let block = bytes.and_then(|bytes| Block::from_bytes(&bytes).ok()).filter(|block| block.hash() == hash);
        if let Some(block) = block {
            self.state.want([hash]);
            match self.state.submit_block(block, now_ms) {
                Ok(BlockStatus::Stored(stored)) => {
                    self.on_stored(&stored, None, false, &mut out);
                    // The pool may have dropped the top of a long branch: read it too.
                    let trigger = walk.trigger;
                    if !self.state.chain().contains(&trigger) && walk.steps < MAX_STORED_WALK {
                        self.ask_stored(
                            StoredWalk { asked: self.lowest_missing(trigger), steps: walk.steps + 1, ..walk },
                            now_ms,
                            &mut out,
                        );
                    }
                }
                Ok(BlockStatus::Orphan { missing_parent }) if walk.steps < MAX_STORED_WALK => {
                    let asked = self.lowest_missing(missing_parent);
                    self.ask_stored(StoredWalk { asked, steps: walk.steps + 1, ..walk }, now_ms, &mut out);
                }
                Ok(_) => {}
                Err(e) => self.reject(hash, None, &e, &mut out),
            }
        }
        if self.stored_walk.is_none() {
            self.walk_ended();
        }
        self.finish(before, &mut out);
        out
    }

    /// No walk any more: the wanted marks it set go, unless a sync still
    /// needs the marks (it drops them all when it ends).
    fn walk_ended(&mut self) {
        if self.sync.is_none() {
            self.state.clear_wanted();
        }
    }

    /// Asks the host for the next block of `walk`.
    fn ask_stored(&mut self, walk: StoredWalk, now_ms: u64, out: &mut Vec<Output>) {
        out.push(Output::ReadBlock { hash: walk.asked });
        self.stored_walk = Some(StoredWalk { asked_ms: now_ms, ..walk });
    }

    /// From `tick`: a walk whose answer is overdue ends, so the next orphan
    /// from a sibling can start one.
    pub(super) fn stored_walk_tick(&mut self, now_ms: u64) {
        if self.stored_walk.as_ref().is_some_and(|walk| now_ms.saturating_sub(walk.asked_ms) >= SYNC_TIMEOUT_MS) {
            self.stored_walk = None;
            self.walk_ended();
        }
    }
}
