//! Misbehaviour scores: points per peer for invalid data, so a peer that
//! keeps sending it stops costing us checks.
//!
//! The relay scores too and disconnects at its own limit, but it cannot
//! check everything (it checks no signature inside a block, no rule that
//! needs the chain), so a node keeps its own count: [`PENALTY_INVALID_BLOCK`]
//! for a block that fails validation (not for one "from the future": clocks
//! differ, nor for one this node cannot check before it loads old post ids), [`PENALTY_INVALID_POST`] for each invalid post of a `Tx` or
//! `Mempool`, [`PENALTY_BAD_MESSAGE`] for a message only the relay may send.
//! At [`IGNORE_SCORE`] the peer's `Block`, `Blocks`, `Tx` and `Mempool` are
//! dropped unread and it is never asked for blocks. A peer id lasts one
//! connection, so the count goes when the peer leaves (or we disconnect).

use super::Driver;
use super::output::{Event, Output};
use crate::validate::BlockError;
use crate::wire::PeerId;

/// Misbehaviour points at which a peer's blocks and posts are ignored.
pub const IGNORE_SCORE: u32 = 100;
/// Points for a block that fails validation.
pub const PENALTY_INVALID_BLOCK: u32 = 25;
/// Points for each invalid post in a `Tx` or `Mempool`.
pub const PENALTY_INVALID_POST: u32 = 10;
/// Points for a message that only the relay may send (`Welcome`,
/// `PeerJoined`, `PeerLeft`) coming from a peer.
pub const PENALTY_BAD_MESSAGE: u32 = 20;

impl Driver {
    /// A peer's misbehaviour points so far (0 for the relay itself).
    pub fn misbehaviour(&self, peer: PeerId) -> u32 {
        self.scores.get(&peer).copied().unwrap_or(0)
    }

    /// Whether `from` reached [`IGNORE_SCORE`]: its data is dropped unread.
    pub(super) fn is_ignored(&self, from: Option<PeerId>) -> bool {
        from.is_some_and(|peer| self.misbehaviour(peer) >= IGNORE_SCORE)
    }

    /// Adds `points` to `from`'s score (nothing for the relay itself, `None`);
    /// reaching [`IGNORE_SCORE`] gives [`Event::PeerIgnored`].
    pub(super) fn penalise(&mut self, from: Option<PeerId>, points: u32, out: &mut Vec<Output>) {
        let Some(peer) = from else { return };
        let score = self.scores.entry(peer).or_insert(0);
        let before = *score;
        *score = score.saturating_add(points);
        if before < IGNORE_SCORE && *score >= IGNORE_SCORE {
            out.push(Output::Event(Event::PeerIgnored { id: peer, score: *score }));
        }
    }

    /// [`Driver::penalise`] for a block `from` sent that failed with `error`.
    pub(super) fn penalise_block(&mut self, from: Option<PeerId>, error: &BlockError, out: &mut Vec<Output>) {
        if !matches!(error, BlockError::TimestampTooFarAhead { .. } | BlockError::PostIdsNotInMemory { .. }) {
            self.penalise(from, PENALTY_INVALID_BLOCK, out);
        }
    }
}
