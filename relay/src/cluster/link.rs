//! The broker tasks of a cluster member: a publisher that drains the one
//! bounded outbound queue and sends the peer news and heartbeats, and a
//! receiver that hands relayed frames to the hub, keeps the directory of
//! the other relays, answers snapshot requests, and fetches snapshots in
//! tasks of their own (so it never waits on another relay).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_nats::{Event, HeaderMap, Message as NatsMessage, Subscriber};
use axum::body::Bytes;
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt as _;
use tabchain_core::wire::{Envelope, Message, PeerId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::directory::{Changes, MAX_PEERS_PER_RELAY};
use super::protocol::{
    self, BroadcastId, HEADER_BLOCK, HEADER_KIND, HEADER_ORIGIN, HEADER_TO, HEADER_TX, Heartbeat, InstanceId,
    MAX_PEERS_PER_PAGE, NewsBatch, PeerStatus, SnapshotPage, SnapshotRequest,
};
use super::{Cluster, NEWS_INTERVAL, Outbound, random_prefix};
use crate::hub::Hub;

/// How often silent relays are looked for.
const EXPIRE_INTERVAL: Duration = Duration::from_millis(250);
/// Snapshot fetches at once.
const MAX_FETCHES: usize = 8;

/// The running broker tasks; aborted when the relay stops.
pub(crate) struct ClusterTasks {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ClusterTasks {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Subscribes to the cluster's subjects and starts the broker tasks for
/// `hub`, whose [`Cluster`] they serve.
pub(crate) async fn spawn(hub: Arc<Hub>) -> anyhow::Result<ClusterTasks> {
    let Some(cluster) = hub.cluster.clone() else { anyhow::bail!("the relay is not in a cluster") };
    let Some((outbound, events)) = cluster.parts.lock().take() else { anyhow::bail!("cluster tasks already started") };
    let client = &cluster.client;
    let subjects = &cluster.subjects;
    let subscriptions = Subscriptions {
        broadcasts: client.subscribe(subjects.broadcasts()).await?,
        direct: client.subscribe(subjects.direct(cluster.instance)).await?,
        news: client.subscribe(subjects.peer_news()).await?,
        heartbeats: client.subscribe(subjects.heartbeats()).await?,
        snapshots: client.subscribe(subjects.snapshot(cluster.instance)).await?,
    };
    tracing::info!(name = %cluster.name, instance = %cluster.instance, "joined the relay cluster");
    let publisher = tokio::spawn(publish_loop(cluster.clone(), outbound));
    let receiver = tokio::spawn(receive_loop(hub, cluster, subscriptions, events));
    Ok(ClusterTasks { tasks: vec![publisher, receiver] })
}

struct Subscriptions {
    broadcasts: Subscriber,
    direct: Subscriber,
    news: Subscriber,
    heartbeats: Subscriber,
    snapshots: Subscriber,
}

/// Sends what is queued, the peer news every [`NEWS_INTERVAL`] and a
/// heartbeat every heartbeat interval (at once after a reconnect).
async fn publish_loop(cluster: Arc<Cluster>, mut outbound: mpsc::Receiver<Outbound>) {
    let mut news_tick = tokio::time::interval(NEWS_INTERVAL);
    let mut beat_tick = tokio::time::interval(cluster.heartbeat_interval);
    for tick in [&mut news_tick, &mut beat_tick] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            message = outbound.recv() => {
                let Some(Outbound { subject, headers, payload }) = message else { return };
                send(&cluster, subject, Some(headers), payload).await;
            }
            _ = news_tick.tick() => publish_news(&cluster).await,
            _ = beat_tick.tick() => {
                publish_news(&cluster).await;
                publish_heartbeat(&cluster, false).await;
            }
            () = cluster.heartbeat_now.notified() => {
                publish_news(&cluster).await;
                let leaving = cluster.leaving.load(Ordering::Acquire);
                publish_heartbeat(&cluster, leaving).await;
                if leaving {
                    let _ = tokio::time::timeout(Duration::from_millis(400), cluster.client.flush()).await;
                    cluster.leaving.store(false, Ordering::Release);
                    return;
                }
            }
        }
    }
}

/// Publishes one message, counting it; `false` if the client refused it.
async fn send(cluster: &Cluster, subject: String, headers: Option<HeaderMap>, payload: Bytes) -> bool {
    let sent = match headers {
        Some(headers) => cluster.client.publish_with_headers(subject, headers, payload).await,
        None => cluster.client.publish(subject, payload).await,
    };
    match sent {
        Ok(()) => {
            cluster.stats.published();
            true
        }
        Err(error) => {
            tracing::debug!("cannot publish to the broker: {error}");
            cluster.stats.dropped_error();
            false
        }
    }
}

/// Publishes the peer news gathered since the last time, in numbered
/// batches. With the broker away the batches are lost, but their numbers
/// are taken: the other relays see the gap and fetch a snapshot.
async fn publish_news(cluster: &Cluster) {
    let (first_seq, news) = {
        let mut roster = cluster.roster.lock();
        if roster.pending.is_empty() && roster.statuses.is_empty() && !roster.lost {
            return;
        }
        let mut news = std::mem::take(&mut roster.pending);
        news.extend(std::mem::take(&mut roster.statuses).into_values().map(protocol::PeerNews::Status));
        if std::mem::take(&mut roster.lost) {
            roster.seq += 1;
        }
        let batches = news.len().div_ceil(MAX_PEERS_PER_PAGE) as u64;
        let first = roster.seq + 1;
        roster.seq += batches;
        (first, news)
    };
    let connected = cluster.is_connected();
    for (seq, chunk) in (first_seq..).zip(news.chunks(MAX_PEERS_PER_PAGE)) {
        if !connected {
            cluster.stats.dropped_disconnected();
            continue;
        }
        let batch = NewsBatch { instance: cluster.instance, seq, news: chunk.to_vec() };
        match serde_json::to_vec(&batch) {
            Ok(body) => {
                send(cluster, cluster.subjects.peer_news(), None, body.into()).await;
            }
            Err(error) => tracing::error!("cannot encode peer news: {error}"),
        }
    }
}

async fn publish_heartbeat(cluster: &Cluster, leaving: bool) {
    if !cluster.is_connected() {
        return;
    }
    let beat = Heartbeat {
        instance: cluster.instance,
        name: cluster.name.clone(),
        url: cluster.url.clone(),
        seq: cluster.roster.lock().seq,
        id_prefix: cluster.id_prefix.load(Ordering::Relaxed),
        leaving,
    };
    match serde_json::to_vec(&beat) {
        Ok(body) => {
            send(cluster, cluster.subjects.heartbeats(), None, body.into()).await;
        }
        Err(error) => tracing::error!("cannot encode a heartbeat: {error}"),
    }
}

/// A fetched snapshot: whose, and its news number and peers (`None`: failed).
type Fetched = (InstanceId, Option<(u64, Vec<PeerStatus>)>);

/// Receives from the broker until the client closes.
async fn receive_loop(
    hub: Arc<Hub>,
    cluster: Arc<Cluster>,
    mut subs: Subscriptions,
    mut events: mpsc::Receiver<Event>,
) {
    let (fetched_tx, mut fetched) = mpsc::channel::<Fetched>(MAX_FETCHES);
    let mut expire_tick = tokio::time::interval(EXPIRE_INTERVAL);
    let mut receiver = Receiver { hub, cluster, fetched_tx, connects: 0 };
    loop {
        // Biased, in this order: a batch of news before the heartbeat
        // published right after it (else the heartbeat's number looks like
        // missing news and fetches a needless snapshot); the rare messages
        // before relayed frames, so a flood of those starves nothing.
        let changes = tokio::select! {
            biased;
            Some(message) = subs.news.next() => receiver.on_news(&message),
            Some(message) = subs.heartbeats.next() => receiver.on_heartbeat(&message),
            _ = expire_tick.tick() => receiver.cluster.directory.lock().expire(Instant::now()),
            Some((instance, snapshot)) = fetched.recv() => {
                receiver.cluster.directory.lock().snapshot(instance, snapshot, Instant::now())
            }
            Some(event) = events.recv() => {
                receiver.on_event(event);
                continue;
            }
            Some(message) = subs.snapshots.next() => {
                receiver.on_snapshot_request(message);
                continue;
            }
            Some(message) = subs.direct.next() => {
                receiver.on_direct(message);
                continue;
            }
            Some(message) = subs.broadcasts.next() => {
                receiver.on_broadcast(message);
                continue;
            }
            else => return,
        };
        receiver.apply(changes);
    }
}

struct Receiver {
    hub: Arc<Hub>,
    cluster: Arc<Cluster>,
    fetched_tx: mpsc::Sender<Fetched>,
    connects: u64,
}

impl Receiver {
    /// Whether a message came from this relay itself (the broker should not
    /// echo, but a misconfigured one could).
    fn is_own(&self, headers: Option<&HeaderMap>) -> bool {
        let origin = headers.and_then(|h| h.get(HEADER_ORIGIN)).map(|v| v.as_str());
        origin.and_then(|o| o.parse::<InstanceId>().ok()) == Some(self.cluster.instance)
    }

    /// Tells this relay's peers who came and went, and fetches snapshots.
    fn apply(&self, changes: Changes) {
        for id in changes.left {
            self.hub.announce(&Envelope::broadcast(Message::PeerLeft { peer_id: id }));
        }
        for peer in changes.joined {
            self.hub.announce(&Envelope::broadcast(Message::PeerJoined { peer }));
        }
        if let Some(instance) = changes.fetch {
            let (cluster, done) = (self.cluster.clone(), self.fetched_tx.clone());
            tokio::spawn(async move {
                cluster.stats.snapshot_fetched();
                let snapshot = fetch_snapshot(&cluster, instance).await;
                if snapshot.is_none() {
                    cluster.stats.dropped_error();
                }
                let _ = done.send((instance, snapshot)).await;
            });
        }
    }

    fn malformed(&self, what: &str, error: &dyn std::fmt::Display) {
        tracing::warn!("malformed {what} from the broker: {error}");
        self.cluster.stats.dropped_malformed();
    }

    fn on_broadcast(&self, message: NatsMessage) {
        self.cluster.stats.received();
        let headers = message.headers.as_ref();
        if self.is_own(headers) {
            return;
        }
        let header = |name| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
        let id = match BroadcastId::parse(header(HEADER_TX), header(HEADER_BLOCK)) {
            Ok(id) => id,
            Err(error) => return self.malformed("broadcast", &error),
        };
        match Utf8Bytes::try_from(message.payload) {
            Ok(text) => self.hub.deliver_relayed_broadcast(text, id),
            Err(error) => self.malformed("broadcast", &error),
        }
    }

    fn on_direct(&self, message: NatsMessage) {
        self.cluster.stats.received();
        let headers = message.headers.as_ref();
        let header = |name| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
        let to = header(HEADER_TO).and_then(|to| to.parse().ok()).map(PeerId);
        let kind = header(HEADER_KIND).and_then(|kind| Message::KINDS.iter().position(|k| *k == kind));
        let (Some(to), Some(kind)) = (to, kind) else {
            return self.malformed("addressed frame", &"no valid To or Kind header");
        };
        match Utf8Bytes::try_from(message.payload) {
            Ok(text) => self.hub.deliver_relayed(to, text, kind),
            Err(error) => self.malformed("addressed frame", &error),
        }
    }

    fn on_news(&self, message: &NatsMessage) -> Changes {
        self.cluster.stats.received();
        match protocol::decode::<NewsBatch>("peer news", &message.payload) {
            Ok(batch) if batch.instance == self.cluster.instance => Changes::default(),
            Ok(batch) => self.cluster.directory.lock().news(batch, Instant::now()),
            Err(error) => {
                self.malformed("peer news", &error);
                Changes::default()
            }
        }
    }

    fn on_heartbeat(&self, message: &NatsMessage) -> Changes {
        self.cluster.stats.received();
        let beat = match protocol::decode::<Heartbeat>("heartbeat", &message.payload) {
            Ok(beat) if beat.instance == self.cluster.instance => return Changes::default(),
            Ok(beat) => beat,
            Err(error) => {
                self.malformed("heartbeat", &error);
                return Changes::default();
            }
        };
        let ours = self.cluster.id_prefix.load(Ordering::Relaxed);
        if beat.id_prefix == ours && beat.instance > self.cluster.instance {
            // Two relays drew the same prefix: the one with the smaller
            // instance id draws again (the other keeps its own).
            let prefix = random_prefix();
            tracing::warn!(other = %beat.name, "peer id prefix {ours} taken; new peers get prefix {prefix}");
            self.cluster.id_prefix.store(prefix, Ordering::Relaxed);
        }
        self.cluster.directory.lock().heartbeat(&beat, Instant::now())
    }

    /// Answers another relay's request for this relay's joined peers (one page).
    fn on_snapshot_request(&self, message: NatsMessage) {
        self.cluster.stats.received();
        let Some(reply) = message.reply else { return };
        let request = match protocol::decode::<SnapshotRequest>("snapshot request", &message.payload) {
            Ok(request) => request,
            Err(error) => return self.malformed("snapshot request", &error),
        };
        let seq = self.cluster.roster.lock().seq;
        let mut peers = self.hub.joined_statuses(PeerId(request.after), MAX_PEERS_PER_PAGE + 1);
        let more = peers.len() > MAX_PEERS_PER_PAGE;
        peers.truncate(MAX_PEERS_PER_PAGE);
        match serde_json::to_vec(&SnapshotPage { seq, peers, more }) {
            Ok(body) => {
                self.cluster.publish(reply.to_string(), HeaderMap::new(), body.into());
            }
            Err(error) => tracing::error!("cannot encode a snapshot: {error}"),
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected => {
                self.connects += 1;
                if self.connects > 1 {
                    self.cluster.stats.reconnected();
                }
                tracing::info!("connected to the broker");
                self.cluster.heartbeat_now.notify_one();
            }
            Event::Disconnected => tracing::warn!("lost the broker; serving this relay's peers alone meanwhile"),
            Event::SlowConsumer(_) => {
                tracing::warn!("reading from the broker too slowly: messages dropped");
                self.cluster.stats.dropped_slow_consumer();
            }
            other => tracing::debug!("broker: {other}"),
        }
    }
}

/// Fetches `instance`'s joined peers, page by page; `None` if a request
/// failed (the next heartbeat tries again).
async fn fetch_snapshot(cluster: &Cluster, instance: InstanceId) -> Option<(u64, Vec<PeerStatus>)> {
    let subject = cluster.subjects.snapshot(instance);
    let (mut seq, mut peers, mut after) = (None, Vec::new(), 0);
    loop {
        let request = serde_json::to_vec(&SnapshotRequest { after }).ok()?;
        let reply = match cluster.client.request(subject.clone(), request.into()).await {
            Ok(reply) => reply,
            Err(error) => {
                tracing::debug!(%instance, "snapshot request failed: {error}");
                return None;
            }
        };
        cluster.stats.received();
        let page = match protocol::decode::<SnapshotPage>("snapshot", &reply.payload) {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!("malformed snapshot from the broker: {error}");
                return None;
            }
        };
        seq.get_or_insert(page.seq);
        let last = page.peers.last().map(|p| p.id.0);
        peers.extend(page.peers);
        match last {
            Some(last) if page.more && last > after && peers.len() < MAX_PEERS_PER_RELAY => after = last,
            _ => return seq.map(|seq| (seq, peers)),
        }
    }
}
