//! Several relays as one network, over a NATS broker (`--cluster`).
//!
//! Each relay still checks what its own peers send; what passes is queued
//! to its own peers and published once on the broker, where every other
//! relay delivers it to its peers only (never publishing it again: the
//! client connects with `no_echo`, and frames carry their origin). Peer ids
//! are unique in the cluster (a random prefix per relay), so an addressed
//! frame goes to the relay holding its addressee, and a request without
//! one to the most-work peer of the whole cluster.
//!
//! Each relay keeps a [`directory::Directory`] of the others' peers from
//! numbered batches of peer news and a heartbeat every second; a relay that
//! misses news fetches a snapshot, and one silent for five seconds is
//! dropped with its peers. When the broker is away, each relay serves its
//! own peers, drops (and counts) what it cannot publish, and, once the
//! client has reconnected by itself, rebuilds the lists from heartbeats.
//!
//! [`Cluster`] is the hub's side (non-blocking: every outgoing message
//! goes through one bounded queue); `link.rs` runs the broker tasks;
//! `protocol.rs` is what crosses the broker.

mod directory;
mod link;
mod protocol;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use async_nats::HeaderMap;
use async_nats::connection::State;
use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use tabchain_core::hash::BlockHash;
use tabchain_core::target::Work;
use tabchain_core::wire::{PeerId, PeerInfo};
use tokio::sync::{Notify, mpsc};

pub(crate) use directory::RemotePeer;
pub(crate) use link::{ClusterTasks, spawn};
pub(crate) use protocol::{BroadcastId, PeerStatus};

use crate::config::Config;
use crate::metrics::BrokerStats;
use directory::Directory;
use protocol::{HEADER_KIND, HEADER_ORIGIN, HEADER_TO, HEADROOM_BYTES, InstanceId, PeerNews, Subjects};

/// Bits of a peer id below the relay's prefix: 2^33 connections per relay
/// run, and ids stay below 2^53 (exact as JavaScript numbers).
const PEER_COUNTER_BITS: u32 = 33;
/// Bits of the random per-relay prefix.
const PREFIX_BITS: u32 = 20;
/// Messages waiting for the broker; more are dropped and counted.
const OUTBOUND_QUEUE: usize = 4_096;
/// Peer news waiting for the next batch; past it, the news is dropped and
/// the other relays, seeing a gap, fetch a snapshot.
const MAX_PENDING_NEWS: usize = 8_192;
/// Messages from the broker waiting per subscription (the client drops
/// more and says so): a few seconds of the busiest traffic.
const SUBSCRIPTION_CAPACITY: usize = 2_048;
/// How often peer news goes out.
const NEWS_INTERVAL: Duration = Duration::from_millis(100);
/// How long connecting to the broker may take at start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A message for the broker.
struct Outbound {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
}

/// This relay's peer news not yet published.
#[derive(Default)]
struct Roster {
    /// Number of the last batch (published or lost).
    seq: u64,
    /// Joins and leaves, in order.
    pending: Vec<PeerNews>,
    /// Latest status per peer, sent after the joins.
    statuses: std::collections::HashMap<PeerId, PeerStatus>,
    /// News was dropped: the next batch skips a number.
    lost: bool,
}

/// This relay's membership of a cluster: what the hub calls to tell the
/// other relays about its peers and frames, and what it asks about theirs.
pub(crate) struct Cluster {
    client: async_nats::Client,
    instance: InstanceId,
    name: String,
    url: Option<String>,
    id_prefix: AtomicU64,
    subjects: Subjects,
    outbound: mpsc::Sender<Outbound>,
    /// The receiving ends the broker tasks take when they start.
    parts: Mutex<Option<(mpsc::Receiver<Outbound>, mpsc::Receiver<async_nats::Event>)>>,
    roster: Mutex<Roster>,
    directory: Mutex<Directory>,
    heartbeat_now: Notify,
    leaving: AtomicBool,
    heartbeat_interval: Duration,
    /// Counters for `/metrics`.
    pub stats: BrokerStats,
}

impl Cluster {
    /// Connects to the broker of `config.cluster` for the network with
    /// genesis `chain_id`; fails when it cannot be reached or its
    /// `max_payload` is below the relay's largest frame.
    pub async fn connect(config: &Config, chain_id: &BlockHash) -> anyhow::Result<Arc<Self>> {
        let Some(url) = config.cluster.as_deref() else { bail!("no --cluster broker given") };
        let instance = InstanceId(random_u64());
        let name = config.relay_name.clone().unwrap_or_else(|| format!("relay-{}", &instance.to_string()[..6]));
        let (events_tx, events_rx) = mpsc::channel(64);
        let options = async_nats::ConnectOptions::new()
            .name(format!("tabchain-relay {name}"))
            .no_echo()
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(Duration::from_secs(2)))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * 2_u64.pow(attempts.min(5) as u32)).min(Duration::from_secs(2))
            })
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let events = events_tx.clone();
                async move {
                    let _ = events.try_send(event);
                }
            });
        let client = tokio::time::timeout(CONNECT_TIMEOUT * 2, options.connect(url))
            .await
            .map_err(|_| anyhow::anyhow!("timed out"))
            .and_then(|connected| connected.map_err(anyhow::Error::from))
            .with_context(|| format!("cannot connect to the NATS broker at {url}"))?;
        let max_payload = client.server_info().max_payload;
        let needed = config.max_frame_bytes + HEADROOM_BYTES;
        if max_payload < needed {
            bail!(
                "the NATS broker at {url} accepts messages of at most {max_payload} bytes (its max_payload); \
                 relays need {needed} (--max-frame-bytes {} plus headers): start it with deploy/nats-server.conf \
                 (max_payload: 4MB)",
                config.max_frame_bytes
            );
        }
        let (outbound, outbound_rx) = mpsc::channel(OUTBOUND_QUEUE);
        let cluster = Arc::new(Self {
            client,
            instance,
            name,
            url: config.public_url.clone(),
            id_prefix: AtomicU64::new(random_prefix()),
            subjects: Subjects::new(config.network, chain_id),
            outbound,
            parts: Mutex::new(Some((outbound_rx, events_rx))),
            roster: Mutex::new(Roster::default()),
            directory: Mutex::new(Directory::new(config.relay_timeout)),
            heartbeat_now: Notify::new(),
            leaving: AtomicBool::new(false),
            heartbeat_interval: config.heartbeat_interval,
            stats: BrokerStats::default(),
        });
        Ok(cluster)
    }

    /// This relay's name in the cluster.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of the `counter`th connection of this relay.
    pub fn peer_id(&self, counter: u64) -> PeerId {
        let prefix = self.id_prefix.load(Ordering::Relaxed);
        PeerId(prefix << PEER_COUNTER_BITS | (counter & ((1 << PEER_COUNTER_BITS) - 1)))
    }

    /// Whether the broker connection is up.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Queues a message for the broker without waiting: dropped (and
    /// counted) when the broker is away or the queue is full.
    fn publish(&self, subject: String, headers: HeaderMap, payload: Bytes) -> bool {
        if !self.is_connected() {
            self.stats.dropped_disconnected();
            return false;
        }
        match self.outbound.try_send(Outbound { subject, headers, payload }) {
            Ok(()) => true,
            Err(_) => {
                self.stats.dropped_queue_full();
                false
            }
        }
    }

    fn origin_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ORIGIN, self.instance.to_string());
        headers
    }

    /// A post or block one of this relay's peers broadcast (checked, new):
    /// the other relays deliver `text` to their peers.
    pub fn broadcast(&self, text: &Utf8Bytes, id: BroadcastId) {
        let mut headers = self.origin_headers();
        let (name, value) = id.header();
        headers.insert(name, value);
        self.publish(self.subjects.broadcasts(), headers, Bytes::from(text.clone()));
    }

    /// An addressed frame (a message of type `kind`) for a peer of another
    /// relay; `false` if no relay lists `to`.
    pub fn send_to(&self, to: PeerId, text: Utf8Bytes, kind: &str) -> bool {
        let Some(owner) = self.directory.lock().owner(to) else { return false };
        let mut headers = self.origin_headers();
        headers.insert(HEADER_TO, to.0.to_string());
        headers.insert(HEADER_KIND, kind);
        self.publish(self.subjects.direct(owner), headers, Bytes::from(text));
        true
    }

    /// One of this relay's peers said `Hello` for the first time.
    pub fn peer_joined(&self, status: PeerStatus) {
        self.news(PeerNews::Joined(status));
    }

    /// One of this relay's peers changed its chain.
    pub fn peer_status(&self, status: PeerStatus) {
        let mut roster = self.roster.lock();
        if roster.statuses.len() < MAX_PENDING_NEWS || roster.statuses.contains_key(&status.id) {
            roster.statuses.insert(status.id, status);
        } else {
            roster.lost = true;
        }
    }

    /// One of this relay's joined peers left.
    pub fn peer_left(&self, id: PeerId) {
        self.roster.lock().statuses.remove(&id);
        self.news(PeerNews::Left { id });
    }

    fn news(&self, news: PeerNews) {
        let mut roster = self.roster.lock();
        if roster.pending.len() < MAX_PENDING_NEWS {
            roster.pending.push(news);
        } else {
            roster.lost = true;
        }
    }

    /// The other relays' peers, for a `Welcome`.
    pub fn remote_infos(&self) -> Vec<PeerInfo> {
        self.directory.lock().peers().map(RemotePeer::info).collect()
    }

    /// The other relays' peers as listed (with their relay's name).
    pub fn remote_peers(&self) -> Vec<RemotePeer> {
        self.directory.lock().peers().cloned().collect()
    }

    /// The other relays' peer with the most work.
    pub fn best(&self) -> Option<(Work, PeerId)> {
        self.directory.lock().best()
    }

    /// Every relay of the cluster, this one first: name and public URL.
    pub fn relays(&self) -> Vec<(String, Option<String>)> {
        let mut relays = vec![(self.name.clone(), self.url.clone())];
        relays.extend(self.directory.lock().relays());
        relays
    }

    /// Gauges for `/metrics`: other relays and their peers.
    pub fn remote_counts(&self) -> (usize, usize) {
        let directory = self.directory.lock();
        (directory.relay_count(), directory.peer_count())
    }

    /// Tells the other relays this one is going (its peers leave their
    /// lists at once) and waits, briefly, for the broker to have it.
    pub async fn leave(&self) {
        self.leaving.store(true, Ordering::Release);
        self.heartbeat_now.notify_one();
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            // The publisher sends the leaving heartbeat, then flushes.
            while self.leaving.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// A random `u64` from the operating system (process ids would repeat
/// across machines).
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the time is unique enough for one process.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        return nanos.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32);
    }
    u64::from_le_bytes(bytes)
}

/// A random, non-zero peer id prefix.
fn random_prefix() -> u64 {
    (random_u64() % ((1 << PREFIX_BITS) - 1)) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_stay_exact_in_javascript() {
        let prefix = (1_u64 << PREFIX_BITS) - 1;
        let counter = (1_u64 << PEER_COUNTER_BITS) - 1;
        let largest = prefix << PEER_COUNTER_BITS | counter;
        assert!(largest < 1 << 53, "{largest}");
        for _ in 0..1_000 {
            let prefix = random_prefix();
            assert!((1..1 << PREFIX_BITS).contains(&prefix));
        }
    }
}
