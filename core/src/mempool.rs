//! Posts waiting to be mined, ranked by the work their stamps pay per byte,
//! bounded in count and bytes.
//!
//! Miners take the highest-paying posts first ([`Mempool::iter`]); a full
//! pool evicts its lowest-paying posts for a new one only if the new one pays
//! strictly more per byte, so a flood of minimum stamps cannot push out a
//! post that paid more. Among equal payers the earlier arrival ranks higher.
//! Pinned posts (a node's own, [`Mempool::pin`]) are never evicted: what a
//! user wrote is not lost to someone who paid more.

use crate::hash::TxId;
use crate::post::Post;
use crate::stamp::StampRate;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Why the mempool did not take a post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The post is already waiting.
    #[error("post {0} is already pending")]
    Duplicate(TxId),
    /// The pool is at its count or byte bound and the post does not pay more
    /// per byte than the posts it would have to push out.
    #[error(
        "mempool is full ({posts} posts, {bytes} bytes) and this post pays no more per byte than the lowest \
         pending one ({lowest_hashes_per_byte} hashes per byte): stamp it with more work"
    )]
    Full {
        /// Posts waiting.
        posts: usize,
        /// Bytes waiting.
        bytes: usize,
        /// Stamp work per byte of the lowest pending post.
        lowest_hashes_per_byte: u64,
    },
}

/// Where a post ranks: higher stamp rate first, then earlier arrival.
type Rank = (StampRate, Reverse<u64>);

/// Bounded set of pending posts ranked by stamp work per byte (see the
/// module docs).
#[derive(Clone, Debug)]
pub struct Mempool {
    by_id: HashMap<TxId, (Rank, Post)>,
    ranked: BTreeMap<Rank, TxId>,
    next_seq: u64,
    bytes: usize,
    max_posts: usize,
    max_bytes: usize,
    /// Posts never evicted for another (see [`Mempool::pin`]).
    pinned: HashSet<TxId>,
    /// Inserts (`true`) and removals (`false`) since the last
    /// [`Mempool::take_changes`], when tracking is on.
    journal: Option<Vec<(TxId, bool)>>,
}

/// How one post's presence in the pool changed over a span of calls (see
/// [`Mempool::take_changes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolChange {
    /// It was not in the pool and now is.
    Added(TxId),
    /// It was in the pool and now is not.
    Removed(TxId),
}

impl Mempool {
    /// An empty pool holding at most `max_posts` posts and `max_bytes` bytes.
    pub fn new(max_posts: usize, max_bytes: usize) -> Self {
        Self {
            by_id: HashMap::new(),
            ranked: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
            max_posts,
            max_bytes,
            pinned: HashSet::new(),
            journal: None,
        }
    }

    /// Spares a waiting post from eviction (a node's own post: it leaves
    /// when a block holds it or it expires, not because others paid more).
    /// Pinned posts still count toward the bounds.
    pub fn pin(&mut self, txid: TxId) {
        if self.by_id.contains_key(&txid) {
            self.pinned.insert(txid);
        }
    }

    /// Starts recording inserts and removals for [`Mempool::take_changes`]
    /// (a host that persists the pool needs them; nobody else pays for them).
    pub fn track_changes(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    /// The net changes since tracking began or the last call, in the order
    /// posts were first touched: a post added and removed again in between
    /// (or removed and taken back) is not listed. Empty when not tracking.
    pub fn take_changes(&mut self) -> Vec<PoolChange> {
        let Some(journal) = self.journal.as_mut() else { return Vec::new() };
        let journal = std::mem::take(journal);
        let mut first_op: HashMap<TxId, bool> = HashMap::with_capacity(journal.len());
        let mut order = Vec::new();
        for (txid, added) in journal {
            if let std::collections::hash_map::Entry::Vacant(slot) = first_op.entry(txid) {
                slot.insert(added);
                order.push(txid);
            }
        }
        order
            .into_iter()
            .filter_map(|txid| {
                // A first insert means it was absent before; a first removal, present.
                let was_present = !first_op[&txid];
                match (was_present, self.contains(&txid)) {
                    (false, true) => Some(PoolChange::Added(txid)),
                    (true, false) => Some(PoolChange::Removed(txid)),
                    _ => None,
                }
            })
            .collect()
    }

    fn record(&mut self, txid: TxId, added: bool) {
        if let Some(journal) = self.journal.as_mut() {
            journal.push((txid, added));
        }
    }

    /// Adds a post whose stamp the caller has checked, ranked by the work
    /// its stamp declares per byte. When the pool is full, the lowest-ranked
    /// posts are evicted to make room, but only if each pays strictly less
    /// per byte than this one.
    pub fn insert(&mut self, post: Post) -> Result<TxId, MempoolError> {
        let txid = post.txid();
        if self.by_id.contains_key(&txid) {
            return Err(MempoolError::Duplicate(txid));
        }
        let size = post.encoded_len();
        let rate = post.stamp_rate();
        let mut evict = Vec::new();
        let (mut count, mut bytes) = (self.by_id.len(), self.bytes);
        let mut lowest = self.ranked.iter();
        while count >= self.max_posts || bytes + size > self.max_bytes {
            match lowest.by_ref().find(|(_, id)| !self.pinned.contains(id)) {
                Some((rank, id)) if rank.0 < rate => {
                    evict.push(*id);
                    count -= 1;
                    bytes -= self.by_id.get(id).map_or(0, |(_, p)| p.encoded_len());
                }
                other => {
                    let lowest_rate = other.map_or(StampRate::ZERO, |(rank, _)| rank.0);
                    return Err(MempoolError::Full {
                        posts: self.by_id.len(),
                        bytes: self.bytes,
                        lowest_hashes_per_byte: lowest_rate.hashes_per_byte() as u64,
                    });
                }
            }
        }
        for id in evict {
            self.remove(&id);
        }
        let rank = (rate, Reverse(self.next_seq));
        self.next_seq += 1;
        self.bytes += size;
        self.ranked.insert(rank, txid);
        self.by_id.insert(txid, (rank, post));
        self.record(txid, true);
        Ok(txid)
    }

    /// Removes a post (mined, expired, or no longer valid); returns it if it was there.
    pub fn remove(&mut self, txid: &TxId) -> Option<Post> {
        let (rank, post) = self.by_id.remove(txid)?;
        self.ranked.remove(&rank);
        self.pinned.remove(txid);
        self.bytes -= post.encoded_len();
        self.record(*txid, false);
        Some(post)
    }

    /// Removes every post stamped before `earliest_ms` (it can no longer be
    /// in a block on this node's chain); returns their ids.
    pub fn remove_older_than(&mut self, earliest_ms: u64) -> Vec<TxId> {
        let old: Vec<TxId> =
            self.by_id.iter().filter(|(_, (_, post))| post.timestamp_ms < earliest_ms).map(|(id, _)| *id).collect();
        for id in &old {
            self.remove(id);
        }
        old
    }

    /// Whether the post is waiting.
    pub fn contains(&self, txid: &TxId) -> bool {
        self.by_id.contains_key(txid)
    }

    /// The waiting post with this id.
    pub fn get(&self, txid: &TxId) -> Option<&Post> {
        self.by_id.get(txid).map(|(_, p)| p)
    }

    /// Posts by rank: highest stamp work per byte first, earlier arrival
    /// first among equals. What miners take and what `GetMempool` answers.
    pub fn iter(&self) -> impl Iterator<Item = (&TxId, &Post)> + '_ {
        self.ranked.values().rev().filter_map(|id| self.by_id.get(id).map(|(_, p)| (id, p)))
    }

    /// Number of waiting posts.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Sum of the waiting posts' encoded sizes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Most posts it holds.
    pub fn max_posts(&self) -> usize {
        self.max_posts
    }

    /// Most bytes it holds.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stamp::Stamp;
    use crate::target::CompactTarget;

    /// A post declaring a stamp of `bits` (not solved: the pool does not check).
    fn post_at(n: u64, bits: u32) -> Post {
        let mut post = Post::new("a", &format!("post {n:03}"), n).unwrap();
        post.stamp = Stamp { bits: CompactTarget(bits), nonce: 0 };
        post
    }

    fn post(n: u64) -> Post {
        post_at(n, 0x1f00_ffff)
    }

    #[test]
    fn ranks_by_stamp_then_arrival_and_rejects_duplicates() {
        let mut m = Mempool::new(10, 10_000);
        let a = m.insert(post(2)).unwrap();
        let b = m.insert(post(1)).unwrap();
        let rich = m.insert(post_at(3, 0x1e00_ffff)).unwrap();
        assert_eq!(m.insert(post(2)), Err(MempoolError::Duplicate(a)));
        assert_eq!(m.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![rich, a, b]);
        assert_eq!(m.remove(&a), Some(post(2)));
        assert_eq!(m.remove(&a), None);
        assert_eq!(m.len(), 2);
        assert_eq!(m.bytes(), post(1).encoded_len() + post_at(3, 0x1e00_ffff).encoded_len());
    }

    #[test]
    fn a_full_pool_evicts_the_lowest_for_a_better_payer_only() {
        let mut m = Mempool::new(2, 10_000);
        let low = m.insert(post(1)).unwrap();
        let other = m.insert(post(2)).unwrap();
        assert!(matches!(m.insert(post(3)), Err(MempoolError::Full { posts: 2, .. })));
        let rich = m.insert(post_at(4, 0x1e00_ffff)).unwrap();
        // The later of the two equal payers went.
        assert!(m.contains(&low) && !m.contains(&other) && m.contains(&rich));
        assert_eq!(m.len(), 2);

        let size = post(1).encoded_len();
        let mut small = Mempool::new(100, size * 2 + 5);
        small.insert(post(1)).unwrap();
        small.insert(post(2)).unwrap();
        assert!(matches!(small.insert(post(3)), Err(MempoolError::Full { .. })));
        small.insert(post_at(4, 0x1e00_ffff)).unwrap();
        assert!(small.bytes() <= size * 2 + 5);
        let mut tiny = Mempool::new(100, 10);
        assert!(matches!(tiny.insert(post_at(5, 0x1d00_ffff)), Err(MempoolError::Full { .. })));
    }

    #[test]
    fn pinned_posts_are_never_evicted() {
        let mut m = Mempool::new(2, 10_000);
        let mine = m.insert(post(1)).unwrap();
        m.pin(mine);
        let other = m.insert(post(2)).unwrap();
        // A better payer evicts the unpinned post, not the pinned one.
        let rich = m.insert(post_at(3, 0x1e00_ffff)).unwrap();
        assert!(m.contains(&mine) && !m.contains(&other) && m.contains(&rich));
        // With only pinned posts below it and no room, a better payer is refused.
        m.pin(rich);
        assert!(matches!(m.insert(post_at(4, 0x1d00_ffff)), Err(MempoolError::Full { .. })));
        // Removed posts are unpinned.
        m.remove(&mine);
        m.insert(post(5)).unwrap();
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn old_posts_are_removed() {
        let mut m = Mempool::new(10, 10_000);
        m.insert(post(5)).unwrap();
        let young = m.insert(post(9)).unwrap();
        assert_eq!(m.remove_older_than(6).len(), 1);
        assert_eq!(m.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![young]);
    }

    #[test]
    fn tracked_changes_are_net_and_in_first_touch_order() {
        let mut m = Mempool::new(10, 10_000);
        let (a, b, c) = (post(1).txid(), post(2).txid(), post(3).txid());
        m.insert(post(1)).unwrap();
        assert!(m.take_changes().is_empty(), "not tracking yet");
        m.track_changes();
        m.insert(post(2)).unwrap();
        m.insert(post(3)).unwrap();
        m.remove(&a);
        m.remove(&c); // added and removed again: no net change
        assert_eq!(m.take_changes(), vec![PoolChange::Added(b), PoolChange::Removed(a)]);
        assert!(m.take_changes().is_empty());
        m.remove(&b);
        m.insert(post(2)).unwrap(); // removed and taken back: no net change
        m.remove(&b);
        assert_eq!(m.take_changes(), vec![PoolChange::Removed(b)]);
    }
}
