//! What a node keeps current about the other peers and tells the relay
//! about itself: the relay's answer to `GetPeers` merged into the peer
//! table, when each peer last announced a block, and a new `Hello` when our
//! tip moved without the relay seeing it (blocks we took from others), so
//! every peer's panel shows heights that stay current.

use super::output::Output;
use super::{Driver, send};
use crate::wire::{Envelope, Message, PeerId, PeerInfo};
use std::collections::BTreeMap;

/// Least time between two `Hello`s that only report a moved tip: one a
/// second at most, however fast blocks arrive.
pub const HELLO_MIN_INTERVAL_MS: u64 = 1_000;

impl Driver {
    /// The `GetPeers` frame asking the relay for its current peer list, or
    /// `None` before we joined. The relay answers at most one a second.
    pub fn peers_request(&self) -> Option<String> {
        if !self.joined {
            return None;
        }
        crate::wire::encode(&Envelope::broadcast(Message::GetPeers {})).ok()
    }

    /// The relay's `Peers`: the heights, work, relay and last block it
    /// knows replace what `Welcome`/`PeerJoined` said; what we learnt from
    /// a peer's own blocks is kept where it is more. Peers missing from the
    /// list stay (it is cut at the most-work thousand); new ones are added
    /// without a join event, as `Welcome` adds them.
    pub(super) fn on_peers(&mut self, peers: Vec<PeerInfo>, now_ms: u64) {
        for info in peers {
            if Some(info.id) == self.me {
                continue;
            }
            note_reported_block(&mut self.last_block_ms, &info, now_ms);
            let merged = match self.peers.get(&info.id) {
                Some(known) => PeerInfo {
                    best_height: info.best_height.max(known.best_height),
                    total_work: info.total_work.max(known.total_work),
                    ..info
                },
                None => info,
            };
            self.peers.insert(merged.id, merged);
        }
    }

    /// A block `from` announced reached us now.
    pub(super) fn note_announced_by(&mut self, from: Option<PeerId>, now_ms: u64) {
        if let Some(from) = from
            && self.peers.contains_key(&from)
        {
            self.last_block_ms.insert(from, now_ms);
        }
    }

    /// Sends a `Hello` when our tip is not the one the relay last heard of
    /// (a block from another peer, a sync page, a restore), at most one per
    /// [`HELLO_MIN_INTERVAL_MS`]: the relay only credits blocks their finder
    /// announces, so without this a node that never mines would show its
    /// join-time height to everyone for good.
    pub(super) fn tell_tip(&mut self, now_ms: u64, out: &mut Vec<Output>) {
        let tip = self.tip();
        let recent = self.hello_ms.is_some_and(|at| now_ms.saturating_sub(at) < HELLO_MIN_INTERVAL_MS);
        if !self.joined || self.claimed_tip == Some(tip) || recent {
            return;
        }
        self.send_hello(Some(now_ms), out);
    }

    /// Sends our `Hello` and notes the tip it claims (and when, if known).
    pub(super) fn send_hello(&mut self, now_ms: Option<u64>, out: &mut Vec<Output>) {
        send(Envelope::broadcast(self.hello()), out);
        self.claimed_tip = Some(self.tip());
        if now_ms.is_some() {
            self.hello_ms = now_ms;
        }
    }
}

/// Remembers in `last_block_ms` when `info`'s peer last announced a block,
/// from the age the relay reports (`last_block_secs`), unless a later one is
/// known. (A function of the map, not of the driver, so a caller can walk its
/// peers while it notes.)
pub(super) fn note_reported_block(last_block_ms: &mut BTreeMap<PeerId, u64>, info: &PeerInfo, now_ms: u64) {
    let Some(secs) = info.last_block_secs else { return };
    let at = now_ms.saturating_sub(secs.saturating_mul(1_000));
    let entry = last_block_ms.entry(info.id).or_insert(at);
    *entry = (*entry).max(at);
}
