//! The other relays of the cluster and their peers, as this relay knows
//! them: kept current by numbered batches of peer news, mended by snapshots
//! when a batch went missing, and emptied of a relay that stopped sending
//! heartbeats. Pure bookkeeping (no I/O, time passed in), so every path is
//! tested here; `link.rs` feeds it from the broker and tells the tabs what
//! [`Changes`] it returns.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tabchain_core::target::Work;
use tabchain_core::wire::{PeerId, PeerInfo};

use super::protocol::{Heartbeat, InstanceId, NewsBatch, PeerNews, PeerStatus};

/// Most other relays remembered (a broker shared with a runaway script
/// cannot grow the directory without bound).
pub const MAX_RELAYS: usize = 64;
/// Most peers remembered per relay.
pub const MAX_PEERS_PER_RELAY: usize = 65_536;
/// Batches of news held while a snapshot is fetched; past that, another
/// snapshot is fetched after this one.
const MAX_BUFFERED_BATCHES: usize = 256;

/// What the tabs of this relay must be told after an update.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Peers that appeared.
    pub joined: Vec<PeerInfo>,
    /// Peers that went away.
    pub left: Vec<PeerId>,
    /// A relay whose peer list must be fetched (a snapshot).
    pub fetch: Option<InstanceId>,
}

impl Changes {
    fn merge(&mut self, other: Changes) {
        self.joined.extend(other.joined);
        self.left.extend(other.left);
        self.fetch = self.fetch.or(other.fetch);
    }
}

/// A remote peer as listed: by which relay, what it said, and when.
#[derive(Clone, Debug)]
pub struct RemotePeer {
    /// Name of the relay that holds it.
    pub relay: String,
    /// What that relay said of it.
    pub status: PeerStatus,
    /// When it was said (to age `connected_secs`).
    pub heard: Instant,
}

impl RemotePeer {
    /// What tabs are told about it now.
    pub fn info(&self) -> PeerInfo {
        self.status.info(Some(&self.relay), self.heard.elapsed().as_secs())
    }
}

/// Whether a relay's peer list is being fetched.
enum Snapshot {
    Idle,
    /// Fetching; batches that arrive meanwhile wait here.
    InFlight {
        buffered: Vec<NewsBatch>,
        overflowed: bool,
    },
}

struct RemoteRelay {
    name: String,
    url: Option<String>,
    last_heard: Instant,
    /// Number of the last batch applied; `None` before the first snapshot.
    seq: Option<u64>,
    peers: HashMap<PeerId, RemotePeer>,
    snapshot: Snapshot,
}

/// The other relays and their peers.
pub struct Directory {
    relays: HashMap<InstanceId, RemoteRelay>,
    owners: HashMap<PeerId, InstanceId>,
    timeout: Duration,
}

impl Directory {
    /// An empty directory; a relay silent for `timeout` is dropped.
    pub fn new(timeout: Duration) -> Self {
        Self { relays: HashMap::new(), owners: HashMap::new(), timeout }
    }

    /// A relay's heartbeat: a new relay (or one whose news went missing)
    /// gets its list fetched; one that says it is leaving is dropped.
    pub fn heartbeat(&mut self, beat: &Heartbeat, now: Instant) -> Changes {
        if beat.leaving {
            return self.remove(beat.instance);
        }
        if !self.relays.contains_key(&beat.instance) {
            if self.relays.len() >= MAX_RELAYS {
                tracing::warn!(relay = %beat.name, "ignoring a relay: already {MAX_RELAYS} in the cluster");
                return Changes::default();
            }
            self.relays.insert(
                beat.instance,
                RemoteRelay {
                    name: beat.name.clone(),
                    url: beat.url.clone(),
                    last_heard: now,
                    seq: None,
                    peers: HashMap::new(),
                    snapshot: Snapshot::Idle,
                },
            );
        }
        let Some(relay) = self.relays.get_mut(&beat.instance) else { return Changes::default() };
        relay.last_heard = now;
        relay.name.clone_from(&beat.name);
        relay.url.clone_from(&beat.url);
        let behind = relay.seq != Some(beat.seq);
        Changes { fetch: (behind && start_fetch(relay)).then_some(beat.instance), ..Changes::default() }
    }

    /// A batch of a relay's peer news: applied when it is the next one, held
    /// while a snapshot is on its way, and a reason to fetch one when
    /// batches went missing. News of a relay not yet heard from waits for
    /// its heartbeat.
    pub fn news(&mut self, batch: NewsBatch, now: Instant) -> Changes {
        let instance = batch.instance;
        let Some(relay) = self.relays.get_mut(&instance) else { return Changes::default() };
        relay.last_heard = now;
        match &mut relay.snapshot {
            Snapshot::InFlight { buffered, overflowed } => {
                if buffered.len() < MAX_BUFFERED_BATCHES {
                    buffered.push(batch);
                } else {
                    *overflowed = true;
                }
                Changes::default()
            }
            Snapshot::Idle => match relay.seq {
                Some(seq) if batch.seq <= seq => Changes::default(),
                Some(seq) if batch.seq == seq + 1 => self.apply(instance, batch, now),
                _ => {
                    let relay = self.relays.get_mut(&instance).expect("looked up above");
                    relay.snapshot = Snapshot::InFlight { buffered: vec![batch], overflowed: false };
                    Changes { fetch: Some(instance), ..Changes::default() }
                }
            },
        }
    }

    /// A fetched snapshot of `instance`'s peers (taken at news number
    /// `seq`), or `None` if the fetch failed: the list is replaced, then the
    /// batches held meanwhile are applied.
    pub fn snapshot(
        &mut self,
        instance: InstanceId,
        snapshot: Option<(u64, Vec<PeerStatus>)>,
        now: Instant,
    ) -> Changes {
        let Some(relay) = self.relays.get_mut(&instance) else { return Changes::default() };
        let Snapshot::InFlight { buffered, overflowed } = std::mem::replace(&mut relay.snapshot, Snapshot::Idle) else {
            return Changes::default();
        };
        let Some((seq, peers)) = snapshot else {
            // The next heartbeat tries again.
            return Changes::default();
        };
        let name = relay.name.clone();
        let mut listed: HashMap<PeerId, PeerStatus> =
            peers.into_iter().take(MAX_PEERS_PER_RELAY).map(|p| (p.id, p)).collect();
        let mut changes = Changes::default();
        let gone: Vec<PeerId> = relay.peers.keys().filter(|id| !listed.contains_key(id)).copied().collect();
        for id in gone {
            relay.peers.remove(&id);
            self.owners.remove(&id);
            changes.left.push(id);
        }
        for (id, status) in listed.drain() {
            let owner = *self.owners.entry(id).or_insert(instance);
            if owner != instance {
                tracing::warn!(peer = %id, "two relays list the same peer id; keeping the first");
                continue;
            }
            let relay = self.relays.get_mut(&instance).expect("looked up above");
            let peer = RemotePeer { relay: name.clone(), status, heard: now };
            if relay.peers.insert(id, peer.clone()).is_none() {
                changes.joined.push(peer.info());
            }
        }
        let relay = self.relays.get_mut(&instance).expect("looked up above");
        relay.seq = Some(seq);
        let mut buffered = buffered;
        buffered.sort_by_key(|b| b.seq);
        for batch in buffered {
            let relay = self.relays.get_mut(&instance).expect("looked up above");
            match relay.seq {
                Some(seq) if batch.seq <= seq => {}
                Some(seq) if batch.seq == seq + 1 => changes.merge(self.apply(instance, batch, now)),
                _ => {
                    changes.fetch = start_fetch(relay).then_some(instance);
                    return changes;
                }
            }
        }
        if overflowed {
            let relay = self.relays.get_mut(&instance).expect("looked up above");
            changes.fetch = start_fetch(relay).then_some(instance);
        }
        changes
    }

    /// Applies the next batch of `instance`'s news.
    fn apply(&mut self, instance: InstanceId, batch: NewsBatch, now: Instant) -> Changes {
        let mut changes = Changes::default();
        let Some(relay) = self.relays.get_mut(&instance) else { return changes };
        relay.seq = Some(batch.seq);
        for news in batch.news {
            match news {
                PeerNews::Joined(status) | PeerNews::Status(status) => {
                    let id = status.id;
                    if *self.owners.entry(id).or_insert(instance) != instance {
                        tracing::warn!(peer = %id, "two relays list the same peer id; keeping the first");
                        continue;
                    }
                    if !relay.peers.contains_key(&id) && relay.peers.len() >= MAX_PEERS_PER_RELAY {
                        self.owners.remove(&id);
                        continue;
                    }
                    let peer = RemotePeer { relay: relay.name.clone(), status, heard: now };
                    if relay.peers.insert(id, peer.clone()).is_none() {
                        changes.joined.push(peer.info());
                    }
                }
                PeerNews::Left { id } => {
                    if relay.peers.remove(&id).is_some() {
                        self.owners.remove(&id);
                        changes.left.push(id);
                    }
                }
            }
        }
        changes
    }

    /// Drops relays silent for longer than the timeout: their peers leave.
    pub fn expire(&mut self, now: Instant) -> Changes {
        let silent: Vec<InstanceId> = self
            .relays
            .iter()
            .filter(|(_, relay)| now.saturating_duration_since(relay.last_heard) > self.timeout)
            .map(|(id, _)| *id)
            .collect();
        let mut changes = Changes::default();
        for instance in silent {
            if let Some(relay) = self.relays.get(&instance) {
                tracing::warn!(relay = %relay.name, %instance, "relay silent for too long: its peers leave");
            }
            changes.merge(self.remove(instance));
        }
        changes
    }

    fn remove(&mut self, instance: InstanceId) -> Changes {
        let Some(relay) = self.relays.remove(&instance) else { return Changes::default() };
        let left: Vec<PeerId> = relay.peers.into_keys().collect();
        for id in &left {
            self.owners.remove(id);
        }
        Changes { left, ..Changes::default() }
    }

    /// The relay holding `peer`, if it is a remote peer.
    pub fn owner(&self, peer: PeerId) -> Option<InstanceId> {
        self.owners.get(&peer).copied()
    }

    /// Every remote peer.
    pub fn peers(&self) -> impl Iterator<Item = &RemotePeer> {
        self.relays.values().flat_map(|relay| relay.peers.values())
    }

    /// How many remote peers there are.
    pub fn peer_count(&self) -> usize {
        self.owners.len()
    }

    /// The remote peer with the most work, as `(work, id)`; lowest id on ties.
    pub fn best(&self) -> Option<(Work, PeerId)> {
        self.peers()
            .map(|p| (p.status.total_work, std::cmp::Reverse(p.status.id)))
            .max()
            .map(|(work, std::cmp::Reverse(id))| (work, id))
    }

    /// The other relays: name and public websocket URL.
    pub fn relays(&self) -> Vec<(String, Option<String>)> {
        let mut relays: Vec<_> = self.relays.values().map(|r| (r.name.clone(), r.url.clone())).collect();
        relays.sort();
        relays
    }

    /// Whether `prefix` is another relay's peer id prefix (ids would clash).
    pub fn relay_count(&self) -> usize {
        self.relays.len()
    }
}

/// Marks a fetch in flight; `false` if one already is.
fn start_fetch(relay: &mut RemoteRelay) -> bool {
    if matches!(relay.snapshot, Snapshot::InFlight { .. }) {
        return false;
    }
    relay.snapshot = Snapshot::InFlight { buffered: Vec::new(), overflowed: false };
    true
}

#[cfg(test)]
mod tests {
    use tabchain_core::hash::BlockHash;

    use super::*;

    const A: InstanceId = InstanceId(0xa);

    fn status(id: u64, work: u64) -> PeerStatus {
        PeerStatus {
            id: PeerId(id),
            agent: format!("peer {id}"),
            best_height: work,
            best_hash: BlockHash::ZERO,
            total_work: Work::from_hex(&format!("{work:064x}")).unwrap(),
            connected_secs: 0,
            last_block_secs: None,
        }
    }

    fn beat(seq: u64) -> Heartbeat {
        Heartbeat { instance: A, name: "a".into(), url: None, seq, id_prefix: 1, leaving: false }
    }

    fn batch(seq: u64, news: Vec<PeerNews>) -> NewsBatch {
        NewsBatch { instance: A, seq, news }
    }

    fn ids(changes: &Changes) -> (Vec<u64>, Vec<u64>) {
        let mut joined: Vec<u64> = changes.joined.iter().map(|p| p.id.0).collect();
        let mut left: Vec<u64> = changes.left.iter().map(|p| p.0).collect();
        joined.sort_unstable();
        left.sort_unstable();
        (joined, left)
    }

    /// A directory that knows relay A with peers 1 and 2 at news number 5.
    fn synced(now: Instant) -> Directory {
        let mut dir = Directory::new(Duration::from_secs(5));
        assert_eq!(dir.heartbeat(&beat(5), now).fetch, Some(A));
        let changes = dir.snapshot(A, Some((5, vec![status(1, 10), status(2, 20)])), now);
        assert_eq!(ids(&changes), (vec![1, 2], vec![]));
        assert_eq!(changes.fetch, None);
        dir
    }

    #[test]
    fn a_new_relay_is_fetched_once_and_then_followed_by_its_news() {
        let now = Instant::now();
        let mut dir = synced(now);
        assert_eq!(dir.heartbeat(&beat(5), now), Changes::default(), "up to date: no fetch");
        let changes = dir.news(batch(6, vec![PeerNews::Joined(status(3, 5)), PeerNews::Left { id: PeerId(1) }]), now);
        assert_eq!(ids(&changes), (vec![3], vec![1]));
        assert_eq!(dir.owner(PeerId(3)), Some(A));
        assert_eq!(dir.owner(PeerId(1)), None);
        assert_eq!(dir.best(), Some((Work::from_hex(&format!("{:064x}", 20)).unwrap(), PeerId(2))));
        let changes = dir.news(batch(7, vec![PeerNews::Status(status(3, 99))]), now);
        assert_eq!(changes, Changes::default(), "a status change is not news for tabs");
        assert_eq!(dir.best().map(|(_, id)| id), Some(PeerId(3)));
        assert_eq!(dir.news(batch(7, vec![PeerNews::Left { id: PeerId(3) }]), now), Changes::default(), "old batch");
        assert_eq!(dir.peer_count(), 2);
    }

    #[test]
    fn missing_news_is_mended_by_a_snapshot_and_what_came_meanwhile() {
        let now = Instant::now();
        let mut dir = synced(now);
        // Batch 6 is lost; 7 arrives: fetch, holding 7.
        let changes = dir.news(batch(7, vec![PeerNews::Joined(status(7, 1))]), now);
        assert_eq!(changes.fetch, Some(A));
        assert_eq!(dir.heartbeat(&beat(8), now).fetch, None, "one fetch at a time");
        let held = dir.news(batch(8, vec![PeerNews::Left { id: PeerId(2) }]), now);
        assert_eq!(held, Changes::default());
        // The snapshot was taken at 6: peer 1 left, peer 6 joined then.
        let changes = dir.snapshot(A, Some((6, vec![status(2, 20), status(6, 1)])), now);
        assert_eq!(ids(&changes), (vec![6, 7], vec![1, 2]));
        assert_eq!(changes.fetch, None);
        assert_eq!(dir.heartbeat(&beat(8), now), Changes::default(), "caught up");
    }

    #[test]
    fn a_snapshot_older_than_a_held_gap_fetches_again() {
        let now = Instant::now();
        let mut dir = synced(now);
        assert_eq!(dir.news(batch(9, vec![]), now).fetch, Some(A));
        let changes = dir.snapshot(A, Some((6, vec![status(1, 10)])), now);
        assert_eq!(ids(&changes), (vec![], vec![2]));
        assert_eq!(changes.fetch, Some(A), "7 and 8 are still missing");
        let changes = dir.snapshot(A, None, now);
        assert_eq!(changes, Changes::default(), "a failed fetch waits for the next heartbeat");
        assert_eq!(dir.heartbeat(&beat(9), now).fetch, Some(A));
    }

    #[test]
    fn a_silent_or_leaving_relay_takes_its_peers_along() {
        let start = Instant::now();
        let mut dir = synced(start);
        assert_eq!(dir.expire(start + Duration::from_secs(5)), Changes::default());
        let changes = dir.expire(start + Duration::from_secs(6));
        assert_eq!(ids(&changes), (vec![], vec![1, 2]));
        assert_eq!((dir.relay_count(), dir.peer_count(), dir.owner(PeerId(1))), (0, 0, None));
        let mut dir = synced(start);
        let changes = dir.heartbeat(&Heartbeat { leaving: true, ..beat(5) }, start);
        assert_eq!(ids(&changes), (vec![], vec![1, 2]));
        assert_eq!(dir.relay_count(), 0);
    }

    #[test]
    fn news_of_an_unknown_relay_waits_for_its_heartbeat() {
        let mut dir = Directory::new(Duration::from_secs(5));
        let changes = dir.news(batch(1, vec![PeerNews::Joined(status(1, 1))]), Instant::now());
        assert_eq!((changes, dir.peer_count()), (Changes::default(), 0));
    }

    #[test]
    fn a_peer_id_claimed_by_two_relays_stays_with_the_first() {
        let now = Instant::now();
        let mut dir = synced(now);
        let b = InstanceId(0xb);
        let beat_b = Heartbeat { instance: b, name: "b".into(), url: None, seq: 1, id_prefix: 2, leaving: false };
        assert_eq!(dir.heartbeat(&beat_b, now).fetch, Some(b));
        let changes = dir.snapshot(b, Some((1, vec![status(1, 500), status(10, 1)])), now);
        assert_eq!(ids(&changes), (vec![10], vec![]));
        assert_eq!((dir.owner(PeerId(1)), dir.owner(PeerId(10))), (Some(A), Some(b)));
        assert_eq!(dir.relays(), vec![("a".to_owned(), None), ("b".to_owned(), None)]);
    }
}
