//! Posts waiting to be mined, in arrival order, bounded in count and bytes.

use crate::hash::TxId;
use crate::post::Post;
use std::collections::{BTreeMap, HashMap};

/// Why the mempool did not take a post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The post is already waiting.
    #[error("post {0} is already pending")]
    Duplicate(TxId),
    /// Taking the post would pass the count or byte bound.
    #[error("mempool is full ({posts} posts, {bytes} bytes)")]
    Full {
        /// Posts waiting.
        posts: usize,
        /// Bytes waiting.
        bytes: usize,
    },
}

/// Bounded set of pending posts that remembers arrival order (miners take the
/// oldest first, and the page lists them that way).
#[derive(Clone, Debug)]
pub struct Mempool {
    by_id: HashMap<TxId, (u64, Post)>,
    order: BTreeMap<u64, TxId>,
    next_seq: u64,
    bytes: usize,
    max_posts: usize,
    max_bytes: usize,
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
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
            max_posts,
            max_bytes,
            journal: None,
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

    /// Adds a post (the caller has validated it).
    pub fn insert(&mut self, post: Post) -> Result<TxId, MempoolError> {
        let txid = post.txid();
        if self.by_id.contains_key(&txid) {
            return Err(MempoolError::Duplicate(txid));
        }
        let size = post.encoded_len();
        if self.by_id.len() >= self.max_posts || self.bytes + size > self.max_bytes {
            return Err(MempoolError::Full { posts: self.by_id.len(), bytes: self.bytes });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes += size;
        self.order.insert(seq, txid);
        self.by_id.insert(txid, (seq, post));
        self.record(txid, true);
        Ok(txid)
    }

    /// Removes a post (mined, or no longer valid); returns it if it was there.
    pub fn remove(&mut self, txid: &TxId) -> Option<Post> {
        let (seq, post) = self.by_id.remove(txid)?;
        self.order.remove(&seq);
        self.bytes -= post.encoded_len();
        self.record(*txid, false);
        Some(post)
    }

    /// Whether the post is waiting.
    pub fn contains(&self, txid: &TxId) -> bool {
        self.by_id.contains_key(txid)
    }

    /// The waiting post with this id.
    pub fn get(&self, txid: &TxId) -> Option<&Post> {
        self.by_id.get(txid).map(|(_, p)| p)
    }

    /// Posts in arrival order, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&TxId, &Post)> + '_ {
        self.order.values().filter_map(|id| self.by_id.get(id).map(|(_, p)| (id, p)))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(n: u64) -> Post {
        Post::new("a", &format!("post {n}"), n).unwrap()
    }

    #[test]
    fn keeps_order_and_rejects_duplicates() {
        let mut m = Mempool::new(10, 10_000);
        let a = m.insert(post(2)).unwrap();
        let b = m.insert(post(1)).unwrap();
        assert_eq!(m.insert(post(2)), Err(MempoolError::Duplicate(a)));
        assert_eq!(m.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(m.remove(&a), Some(post(2)));
        assert_eq!(m.remove(&a), None);
        assert_eq!(m.len(), 1);
        assert_eq!(m.bytes(), post(1).encoded_len());
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let mut m = Mempool::new(2, 10_000);
        m.insert(post(1)).unwrap();
        m.insert(post(2)).unwrap();
        assert!(matches!(m.insert(post(3)), Err(MempoolError::Full { posts: 2, .. })));
        let mut small = Mempool::new(100, post(1).encoded_len() + 5);
        small.insert(post(1)).unwrap();
        assert!(matches!(small.insert(post(2)), Err(MempoolError::Full { .. })));
        assert!(small.get(&post(1).txid()).is_some());
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
