//! Chain sync: asking one peer for pages of blocks after a locator until it
//! has nothing more, moving to another peer when it fails or goes quiet.
//!
//! A sync asks one peer for pages of up to [`SYNC_PAGE_LIMIT`] blocks; each
//! next page is asked for with the locator of the last block received (not of
//! the best tip, which does not move while the incoming branch has less work).
//! An empty page ends it, and so does a page ending where an earlier request
//! of the same sync started (no progress: a peer cannot keep us in a loop). A
//! request without an answer in [`SYNC_TIMEOUT_MS`] goes to another peer if
//! one claims more work than ours, at most [`SYNC_MAX_UNANSWERED`] times in a
//! row.

use super::output::{Event, Output};
use super::{Driver, send};
use crate::block::Block;
use crate::chain::BlockStatus;
use crate::hash::BlockHash;
use crate::wire::{Envelope, MAX_BLOCKS_PER_MESSAGE, Message, PeerId};
use serde::Serialize;
use std::collections::HashSet;

/// Blocks asked for per sync request (the protocol's maximum).
pub const SYNC_PAGE_LIMIT: u32 = MAX_BLOCKS_PER_MESSAGE as u32;
/// How long a sync request may go unanswered before [`Driver::tick`] sends
/// it again, to another peer if one claims more work than ours.
pub const SYNC_TIMEOUT_MS: u64 = 10_000;
/// Sync requests in a row without an answer after which the sync is given up
/// ([`Event::SyncAbandoned`]); the next orphan or joining peer starts a new one.
pub const SYNC_MAX_UNANSWERED: u32 = 3;

/// Where a sync stands, for the page's progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The peer asked.
    pub peer: PeerId,
    /// Height of the last block received (our height before the first page).
    pub height: u64,
    /// The peer's best height as far as we know.
    pub target_height: u64,
}

/// A sync in flight.
#[derive(Clone, Debug)]
pub(super) struct Sync {
    peer: PeerId,
    target_height: u64,
    /// Height of the last block received, our height before the first page.
    height: u64,
    /// The last request's locator: a page answering it starts right after one of these.
    locator: Vec<BlockHash>,
    /// Where every request of this sync started: a page ending at one of
    /// these made no progress.
    starts: HashSet<BlockHash>,
    /// The last block received that is in the tree: where to resume.
    last: Option<BlockHash>,
    sent_ms: u64,
    unanswered: u32,
    /// Blocks stored during this sync.
    stored: u64,
    /// Our best tip when it started.
    start_tip: BlockHash,
}

impl Sync {
    pub(super) fn status(&self) -> SyncStatus {
        SyncStatus { peer: self.peer, height: self.height, target_height: self.target_height }
    }

    pub(super) fn peer(&self) -> PeerId {
        self.peer
    }
}

impl Driver {
    /// Starts a sync from `peer` with our best-tip locator.
    pub(super) fn start_sync(&mut self, peer: PeerId, target_height: u64, now_ms: u64, out: &mut Vec<Output>) {
        let target_height = target_height.max(self.peers.get(&peer).map_or(0, |p| p.best_height));
        self.sync = Some(Sync {
            peer,
            target_height,
            height: self.height(),
            locator: Vec::new(),
            starts: HashSet::new(),
            last: None,
            sent_ms: now_ms,
            unanswered: 0,
            stored: 0,
            start_tip: self.tip(),
        });
        out.push(Output::Event(Event::SyncStarted { peer, target_height }));
        self.request_page(self.state.locator(), now_ms, out);
    }

    /// A `Blocks` page: every block is submitted; only an answer to our
    /// latest request moves the sync on (its first block follows one of the
    /// hashes we sent).
    pub(super) fn on_blocks(&mut self, from: Option<PeerId>, blocks: Vec<Block>, now_ms: u64, out: &mut Vec<Output>) {
        let answers_sync = match (&self.sync, from) {
            (Some(sync), Some(from)) => {
                sync.peer == from && blocks.first().is_none_or(|b| sync.locator.contains(&b.header.prev_hash))
            }
            _ => false,
        };
        let mut stored_count = 0u64;
        let mut last = None;
        let mut failure = None;
        for block in blocks {
            let hash = block.hash();
            let height = block.header.height;
            match self.state.submit_block(block, now_ms) {
                Ok(BlockStatus::Stored(stored)) => {
                    stored_count += stored.hashes.len() as u64;
                    self.on_stored(&stored, from, false, out);
                }
                Ok(BlockStatus::Duplicate | BlockStatus::Orphan { .. }) => {}
                Err(e) => {
                    failure = Some(format!("invalid block {hash}: {e}"));
                    self.reject(hash, from, &e, out);
                    break;
                }
            }
            last = Some((hash, height));
        }
        if let Some((hash, _)) = last {
            self.credit(from, &hash);
        }
        if !answers_sync {
            return;
        }
        if let Some(reason) = failure {
            if let Some(sync) = &mut self.sync {
                sync.stored += stored_count;
            }
            self.sync_elsewhere(reason, now_ms, out);
            return;
        }
        let Some(sync) = &mut self.sync else { return };
        sync.stored += stored_count;
        sync.unanswered = 0;
        let Some((hash, height)) = last else {
            self.finish_sync(out);
            return;
        };
        sync.height = height;
        sync.target_height = sync.target_height.max(height);
        let progress = Event::SyncProgress { peer: sync.peer, height, target_height: sync.target_height };
        out.push(Output::Event(progress));
        let no_progress = sync.starts.contains(&hash);
        match self.state.locator_from(&hash) {
            Some(_) if no_progress => self.finish_sync(out),
            Some(locator) => {
                if let Some(sync) = &mut self.sync {
                    sync.last = Some(hash);
                }
                self.request_page(locator, now_ms, out);
            }
            None => self.sync_elsewhere(format!("the page's last block {hash} does not connect"), now_ms, out),
        }
    }

    /// The timer: a request unanswered for [`SYNC_TIMEOUT_MS`] is sent again,
    /// to another peer claiming more work than ours if there is one; after
    /// [`SYNC_MAX_UNANSWERED`] in a row the sync is abandoned.
    pub(super) fn sync_tick(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let our_work = self.total_work();
        let Some(sync) = &self.sync else { return };
        if now_ms.saturating_sub(sync.sent_ms) < SYNC_TIMEOUT_MS {
            return;
        }
        let unanswered = sync.unanswered + 1;
        let current = sync.peer;
        if unanswered >= SYNC_MAX_UNANSWERED {
            self.sync = None;
            let reason = format!("{unanswered} requests in a row got no answer");
            out.push(Output::Event(Event::SyncAbandoned { peer: current, reason }));
            return;
        }
        let peer = self.best_peer(Some(current)).filter(|p| p.total_work > our_work).map_or(current, |p| p.id);
        let claimed = self.peers.get(&peer).map_or(0, |p| p.best_height);
        if let Some(sync) = &mut self.sync {
            sync.unanswered = unanswered;
            sync.peer = peer;
            sync.target_height = sync.target_height.max(claimed);
            let locator = sync.locator.clone();
            out.push(Output::Event(Event::SyncRetry { peer, unanswered }));
            self.request_page(locator, now_ms, out);
        }
    }

    /// Sends `GetBlocks` with `locator` to the sync peer.
    fn request_page(&mut self, locator: Vec<BlockHash>, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &mut self.sync else { return };
        if let Some(first) = locator.first() {
            sync.starts.insert(*first);
        }
        sync.locator = locator.clone();
        sync.sent_ms = now_ms;
        let peer = sync.peer;
        send(Envelope::to(peer, Message::GetBlocks { locator, limit: SYNC_PAGE_LIMIT }), out);
    }

    /// The sync peer failed: resume from the last block received with the
    /// peer claiming the most work, if it claims more than ours; else give up.
    pub(super) fn sync_elsewhere(&mut self, reason: String, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = self.sync.take() else { return };
        let our_work = self.total_work();
        let next = self.best_peer(Some(sync.peer)).filter(|p| p.total_work > our_work).map(|p| (p.id, p.best_height));
        let Some((peer, claimed)) = next else {
            out.push(Output::Event(Event::SyncAbandoned { peer: sync.peer, reason }));
            return;
        };
        let locator = sync.last.and_then(|h| self.state.locator_from(&h)).unwrap_or_else(|| self.state.locator());
        let target_height = sync.target_height.max(claimed);
        self.sync = Some(Sync { peer, target_height, unanswered: 0, ..sync });
        out.push(Output::Event(Event::SyncStarted { peer, target_height }));
        self.request_page(locator, now_ms, out);
    }

    /// The sync peer has nothing more: report, and tell the relay our new
    /// chain (a later `Hello` updates what it knows of us, so it can send
    /// others' requests our way).
    fn finish_sync(&mut self, out: &mut Vec<Output>) {
        let Some(sync) = self.sync.take() else { return };
        out.push(Output::Event(Event::Synced { peer: sync.peer, blocks: sync.stored, height: self.height() }));
        if sync.start_tip != self.tip() && self.me.is_some() {
            send(Envelope::broadcast(self.hello()), out);
        }
    }
}
