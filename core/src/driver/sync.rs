//! Chain sync, headers first: one peer at a time is asked for its headers,
//! which are checked without their bodies ([`HeaderTip::extend`]: link,
//! target rule, proof of work, time) until its chain ends; only if that
//! chain outranks ours are its blocks asked for, page by page, and kept
//! ([`ChainState::want`]). A peer's branch with less work costs us a few
//! headers, never storage.
//!
//! A sync cannot be captured: a peer's claimed work is checked against the
//! headers it delivers. A peer whose header chain ends short of its claim,
//! whose headers are invalid or do not connect, whose pages stop making
//! progress (a headers page that adds nothing, a blocks page with fewer
//! blocks than asked and room for more), or who leaves a request unanswered
//! for [`SYNC_TIMEOUT_MS`] is dropped from the sync ([`Event::PeerDoubted`]
//! for the first kinds: doubted peers are not synced from again until they
//! announce a new chain with `Hello`), and the sync starts over with the
//! peer claiming the most work among the rest, if any claims more than ours.
//! After [`SYNC_MAX_UNANSWERED`] unanswered requests in a row it is given up.
//!
//! [`ChainState::want`]: crate::state::ChainState::want

use super::output::{Event, Output};
use super::{Driver, send};
use crate::block::Block;
use crate::chain::{BlockStatus, MAX_LOCATOR_LEN, MAX_WANTED, SYNC_PAGE_BYTES, TipRank};
use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::headers::HeaderTip;
use crate::target::Work;
use crate::validate::BlockError;
use crate::wire::{Envelope, MAX_BLOCKS_PER_MESSAGE, MAX_HEADERS_PER_MESSAGE, Message, PeerId};
use serde::Serialize;
use std::collections::VecDeque;

/// Blocks asked for per sync request (the protocol's maximum).
pub const SYNC_PAGE_LIMIT: u32 = MAX_BLOCKS_PER_MESSAGE as u32;
/// Headers asked for per sync request (the protocol's maximum).
pub const HEADERS_PAGE_LIMIT: u32 = MAX_HEADERS_PER_MESSAGE as u32;
/// How long a sync request may go unanswered before [`Driver::tick`] moves
/// the sync to another peer claiming more work than ours (or asks again).
pub const SYNC_TIMEOUT_MS: u64 = 10_000;
/// Sync requests in a row without an answer after which the sync is given up
/// ([`Event::SyncAbandoned`]); the next orphan or joining peer starts a new one.
pub const SYNC_MAX_UNANSWERED: u32 = 3;
/// Most headers one sync checks before it fetches blocks (their hashes are
/// what it keeps meanwhile): the chain's tail beyond that is synced in a
/// next round.
pub const MAX_SYNC_HEADERS: usize = MAX_WANTED;

/// Where a sync stands, for the page's progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The peer asked.
    pub peer: PeerId,
    /// Height of the last header checked or block received (our height
    /// before the first page).
    pub height: u64,
    /// The peer's best height as far as we know.
    pub target_height: u64,
}

/// What a sync is fetching.
#[derive(Clone, Debug)]
enum Phase {
    /// Headers after our locator; `tip` is the last one checked (`None`
    /// before the first page), `hashes` the new ones so far, in order, and
    /// `base` the block the first new one builds on.
    Headers { tip: Option<HeaderTip>, hashes: Vec<BlockHash>, base: BlockHash },
    /// Blocks of a checked header chain that outranks ours: `hashes` still
    /// to come, in order; `last` is the last one we have.
    Blocks { hashes: VecDeque<BlockHash>, last: BlockHash },
}

/// A sync in flight.
#[derive(Clone, Debug)]
pub(super) struct Sync {
    peer: PeerId,
    /// The work the peer claimed when the sync picked it.
    claimed: Work,
    target_height: u64,
    height: u64,
    phase: Phase,
    /// The last request's locator: an answer builds on one of these.
    locator: Vec<BlockHash>,
    sent_ms: u64,
    unanswered: u32,
    /// Blocks stored during this sync.
    stored: u64,
    /// Waiting for the host to load old post ids ([`Output::LoadBlocks`])
    /// before the next blocks request.
    loading: bool,
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
    /// Starts a sync from `peer`: its headers after our best tip's locator.
    pub(super) fn start_sync(&mut self, peer: PeerId, target_height: u64, now_ms: u64, out: &mut Vec<Output>) {
        self.state.clear_wanted();
        let info = self.peers.get(&peer);
        let target_height = target_height.max(info.map_or(0, |p| p.best_height));
        let claimed = info.map_or(Work::ZERO, |p| p.total_work);
        let sync = Sync {
            peer,
            claimed,
            target_height,
            height: self.height(),
            phase: Phase::Headers { tip: None, hashes: Vec::new(), base: BlockHash::ZERO },
            locator: Vec::new(),
            sent_ms: now_ms,
            unanswered: 0,
            loading: false,
            stored: self.sync.as_ref().map_or(0, |s| s.stored),
            start_tip: self.sync.as_ref().map_or(self.tip(), |s| s.start_tip),
        };
        self.sync = Some(sync);
        out.push(Output::Event(Event::SyncStarted { peer, target_height }));
        self.request(self.state.locator(), now_ms, out);
    }

    /// A `Headers` page: checked one by one if it answers our request.
    pub(super) fn on_headers(
        &mut self,
        from: Option<PeerId>,
        headers: Vec<BlockHeader>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let Some(sync) = &mut self.sync else { return };
        if Some(sync.peer) != from || !matches!(sync.phase, Phase::Headers { .. }) {
            return;
        }
        if headers.first().is_some_and(|h| !sync.locator.contains(&h.prev_hash)) {
            let reason = "its headers do not build on any block we asked after".to_owned();
            self.doubt_and_move_on(reason, now_ms, out);
            return;
        }
        sync.unanswered = 0;
        let full = headers.len() as u32 >= HEADERS_PAGE_LIMIT;
        let Phase::Headers { tip, hashes, base } = &mut sync.phase else { return };
        // Before the first page: the block the first header builds on; an
        // empty first page means the peer's chain ends where ours does.
        let chain = self.state.chain();
        let mut tip = tip.take().or_else(|| match headers.first() {
            Some(first) => chain.header_tip(&first.prev_hash),
            None => chain.header_tip(&chain.tip().hash),
        });
        let before = tip.as_ref().map(|t| t.height);
        for header in &headers {
            let Some(current) = &tip else { break };
            // Blocks we have already (the peer's locator match can be below them).
            if hashes.is_empty() && self.state.chain().get(&header.hash()).is_some() {
                tip = self.state.chain().header_tip(&header.hash());
                continue;
            }
            match current.extend(self.state.params(), header, now_ms) {
                Ok(next) => {
                    if hashes.is_empty() {
                        *base = current.hash;
                    }
                    hashes.push(next.hash);
                    tip = Some(next);
                }
                Err(error) => {
                    let reason = format!("invalid header: {error}");
                    self.doubt_and_move_on(reason, now_ms, out);
                    return;
                }
            }
            if hashes.len() >= MAX_SYNC_HEADERS {
                break;
            }
        }
        let Some(tip) = tip else {
            let reason = "its headers do not connect to our chain".to_owned();
            self.doubt_and_move_on(reason, now_ms, out);
            return;
        };
        sync.height = tip.height;
        sync.target_height = sync.target_height.max(tip.height);
        out.push(Output::Event(Event::SyncProgress {
            peer: sync.peer,
            height: tip.height,
            target_height: sync.target_height,
        }));
        let room = hashes.len() < MAX_SYNC_HEADERS;
        if full && room {
            if before == Some(tip.height) {
                self.doubt_and_move_on("a full page of headers that adds nothing".to_owned(), now_ms, out);
                return;
            }
            let locator = self.locator_after(tip.hash);
            if let Some(Sync { phase: Phase::Headers { tip: slot, .. }, .. }) = &mut self.sync {
                *slot = Some(tip);
            }
            self.request(locator, now_ms, out);
            return;
        }
        // The peer's chain ends here (or we have checked enough for now).
        let theirs = TipRank { chain_work: tip.chain_work, hash: tip.hash };
        let ours = self.state.chain().tip().tip_rank();
        let (claimed, hashes, base) = match &mut self.sync {
            Some(Sync { claimed, phase: Phase::Headers { hashes, base, .. }, .. }) => {
                (*claimed, std::mem::take(hashes), *base)
            }
            _ => return,
        };
        if tip.chain_work < claimed && room {
            // Its chain ends short of what it claimed: a liar (or a peer
            // whose claim we cannot check), not worth fetching from.
            let reason = format!("its headers end at height {} with less work than it claimed", tip.height);
            self.doubt_and_move_on(reason, now_ms, out);
        } else if theirs > ours && !hashes.is_empty() {
            self.state.want(hashes.iter().copied());
            if let Some(sync) = &mut self.sync {
                sync.phase = Phase::Blocks { hashes: hashes.into(), last: base };
            }
            let locator = self.locator_after(base);
            self.request(locator, now_ms, out);
        } else {
            self.finish_sync(now_ms, out);
        }
    }

    /// A `Blocks` page: every block is submitted (the chain keeps what is
    /// worth keeping); an answer to our request moves the sync on.
    pub(super) fn on_blocks(&mut self, from: Option<PeerId>, blocks: Vec<Block>, now_ms: u64, out: &mut Vec<Output>) {
        let answers = match (&self.sync, from) {
            (Some(sync), Some(from)) => {
                sync.peer == from
                    && matches!(sync.phase, Phase::Blocks { .. })
                    && blocks.first().is_none_or(|b| sync.locator.contains(&b.header.prev_hash))
            }
            _ => false,
        };
        let count = blocks.len();
        let bytes: usize = blocks.iter().map(Block::encoded_len).sum();
        let mut stored_count = 0u64;
        let mut last = None;
        let mut failure = None;
        let mut loading = false;
        let mut nothing_to_load = false;
        for block in blocks {
            let hash = block.hash();
            let header = block.header;
            let height = header.height;
            match self.state.submit_block(block, now_ms) {
                Ok(BlockStatus::Stored(stored)) => {
                    stored_count += stored.hashes.len() as u64;
                    self.on_stored(&stored, from, false, out);
                }
                Ok(BlockStatus::Duplicate | BlockStatus::Orphan { .. } | BlockStatus::LessWork { .. }) => {}
                // Not a verdict: the rest of the page waits for old post ids.
                Err(BlockError::PostIdsNotInMemory { .. }) => {
                    loading = true;
                    nothing_to_load = !self.load_for(&header, out);
                    break;
                }
                Err(e) => {
                    failure = Some(format!("invalid block {hash}: {e}"));
                    self.reject(hash, from, &e, out);
                    break;
                }
            }
            if self.state.chain().get(&hash).is_some() {
                last = Some((hash, height));
            }
        }
        if let Some((hash, _)) = last {
            self.credit(from, &hash);
        }
        if !answers {
            return;
        }
        let Some(sync) = &mut self.sync else { return };
        sync.stored += stored_count;
        sync.unanswered = 0;
        if let Some(reason) = failure {
            self.doubt_and_move_on(reason, now_ms, out);
            return;
        }
        let Phase::Blocks { hashes, last: resume } = &mut sync.phase else { return };
        let chain = self.state.chain();
        while hashes.front().is_some_and(|h| chain.get(h).is_some()) {
            hashes.pop_front();
        }
        if let Some((hash, height)) = last {
            *resume = hash;
            sync.height = height;
            sync.target_height = sync.target_height.max(height);
            out.push(Output::Event(Event::SyncProgress { peer: sync.peer, height, target_height: sync.target_height }));
        }
        let remaining = hashes.len();
        let resume = *resume;
        if remaining == 0 {
            self.finish_sync(now_ms, out);
            return;
        }
        if loading {
            // The next request goes out when the host has loaded them
            // (`sync_loaded`), or when the timer gives up waiting.
            sync.loading = true;
            sync.sent_ms = now_ms;
            if nothing_to_load {
                self.sync_loaded(0, now_ms, out);
            }
            return;
        }
        // A page with room for more that still leaves blocks out is a stall.
        let wanted_now = remaining.min(SYNC_PAGE_LIMIT as usize);
        let room = bytes + self.state.params().max_block_bytes < SYNC_PAGE_BYTES;
        if count == 0 || (count < wanted_now && room) {
            let reason = format!("a page of {count} blocks while {remaining} of its chain are still missing");
            self.doubt_and_move_on(reason, now_ms, out);
            return;
        }
        let locator = self.locator_after(resume);
        self.request(locator, now_ms, out);
    }

    /// The host loaded `loaded` blocks' post ids ([`Driver::blocks_loaded`]):
    /// a sync waiting for them asks for its next page; with none loaded it
    /// is given up, as asking again would fail the same way.
    pub(super) fn sync_loaded(&mut self, loaded: usize, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &mut self.sync else { return };
        if !sync.loading {
            return;
        }
        sync.loading = false;
        let Phase::Blocks { last, .. } = sync.phase else { return };
        if loaded == 0 {
            let peer = sync.peer;
            self.sync = None;
            self.state.clear_wanted();
            let reason = "the old blocks a duplicate check needs are not in storage".to_owned();
            out.push(Output::Event(Event::SyncAbandoned { peer, reason }));
            return;
        }
        let locator = self.locator_after(last);
        self.request(locator, now_ms, out);
    }

    /// The timer: a request unanswered for [`SYNC_TIMEOUT_MS`] moves the sync
    /// to another peer claiming more work than ours (or is sent again); after
    /// [`SYNC_MAX_UNANSWERED`] in a row the sync is abandoned.
    pub(super) fn sync_tick(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &self.sync else { return };
        if now_ms.saturating_sub(sync.sent_ms) < SYNC_TIMEOUT_MS {
            return;
        }
        let unanswered = sync.unanswered + 1;
        let current = sync.peer;
        if unanswered >= SYNC_MAX_UNANSWERED {
            self.sync = None;
            self.state.clear_wanted();
            let reason = format!("{unanswered} requests in a row got no answer");
            out.push(Output::Event(Event::SyncAbandoned { peer: current, reason }));
            return;
        }
        let next = self.next_sync_peer(Some(current));
        let asked = next.map_or(current, |(peer, _)| peer);
        out.push(Output::Event(Event::SyncRetry { peer: asked, unanswered }));
        match next {
            Some((peer, height)) => {
                self.start_sync(peer, height, now_ms, out);
                if let Some(sync) = &mut self.sync {
                    sync.unanswered = unanswered;
                }
            }
            None => {
                if let Some(sync) = &mut self.sync {
                    sync.unanswered = unanswered;
                }
                let locator = self.sync.as_ref().map(|s| s.locator.clone()).unwrap_or_default();
                self.request(locator, now_ms, out);
            }
        }
    }

    /// Sends the current phase's request with `locator` to the sync peer.
    fn request(&mut self, locator: Vec<BlockHash>, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &mut self.sync else { return };
        sync.locator = locator.clone();
        sync.sent_ms = now_ms;
        sync.loading = false;
        let message = match sync.phase {
            Phase::Headers { .. } => Message::GetHeaders { locator, limit: HEADERS_PAGE_LIMIT },
            Phase::Blocks { .. } => Message::GetBlocks { locator, limit: SYNC_PAGE_LIMIT },
        };
        send(Envelope::to(sync.peer, message), out);
    }

    /// `hash` first, then our best chain's locator: a peer answers after
    /// `hash` if its best chain holds it, else after our fork point.
    fn locator_after(&self, hash: BlockHash) -> Vec<BlockHash> {
        let mut locator = vec![hash];
        locator.extend(self.state.locator().into_iter().filter(|h| *h != hash));
        locator.truncate(MAX_LOCATOR_LEN);
        locator
    }

    /// The peer with the most claimed work (not `except`, not doubted) if it
    /// claims more than ours: `(id, claimed height)`.
    fn next_sync_peer(&self, except: Option<PeerId>) -> Option<(PeerId, u64)> {
        let ours = self.total_work();
        self.best_peer(except).filter(|p| p.total_work > ours).map(|p| (p.id, p.best_height))
    }

    /// The sync peer failed in a way that says it is not worth asking again
    /// ([`Event::PeerDoubted`]): start over with the next peer, or give up.
    fn doubt_and_move_on(&mut self, reason: String, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &self.sync else { return };
        let peer = sync.peer;
        self.doubted.insert(peer);
        out.push(Output::Event(Event::PeerDoubted { peer, reason: reason.clone() }));
        self.sync_elsewhere(reason, now_ms, out);
    }

    /// The sync peer failed or left: start over with the peer claiming the
    /// most work, if it claims more than ours; else give up.
    pub(super) fn sync_elsewhere(&mut self, reason: String, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = &self.sync else { return };
        let current = sync.peer;
        match self.next_sync_peer(Some(current)) {
            Some((peer, height)) => self.start_sync(peer, height, now_ms, out),
            None => {
                self.sync = None;
                self.state.clear_wanted();
                out.push(Output::Event(Event::SyncAbandoned { peer: current, reason }));
            }
        }
    }

    /// The sync peer has nothing more: report, and tell the relay our new
    /// chain (a later `Hello` updates what it knows of us, so it can send
    /// others' requests our way).
    /// Then, if a peer still claims more work than ours (a chain longer
    /// than one sync's [`MAX_SYNC_HEADERS`], or another peer), the next sync
    /// starts.
    fn finish_sync(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let Some(sync) = self.sync.take() else { return };
        self.state.clear_wanted();
        out.push(Output::Event(Event::Synced { peer: sync.peer, blocks: sync.stored, height: self.height() }));
        if sync.start_tip != self.tip() && self.me.is_some() {
            self.send_hello(Some(now_ms), out);
        }
        if sync.start_tip != self.tip()
            && let Some((peer, height)) = self.next_sync_peer(None)
        {
            self.start_sync(peer, height, now_ms, out);
        }
    }
}
