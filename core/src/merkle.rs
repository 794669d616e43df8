//! Merkle root over a block's post ids, in the style of RFC 6962.
//!
//! Leaves are `SHA-256(0x00 || txid)`, inner nodes `SHA-256(0x01 || left || right)`.
//! An odd node at the end of a level is carried up unchanged instead of being
//! paired with a copy of itself, so — unlike Bitcoin's tree — no two different
//! lists of ids share a root (the duplicate-last-leaf ambiguity, CVE-2012-2459).
//! A block without posts has the all-zero root.

use crate::hash::{MerkleRoot, TxId};
use sha2::{Digest, Sha256};

fn leaf(id: &TxId) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(id.as_bytes());
    h.finalize().into()
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root committing to `ids` in order.
pub fn merkle_root(ids: &[TxId]) -> MerkleRoot {
    if ids.is_empty() {
        return MerkleRoot::ZERO;
    }
    let mut level: Vec<[u8; 32]> = ids.iter().map(leaf).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node(l, r),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    MerkleRoot::from_bytes(level[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    fn id(n: u8) -> TxId {
        TxId::from_bytes(sha256(&[n]))
    }

    #[test]
    fn small_trees_match_hand_computation() {
        assert_eq!(merkle_root(&[]), MerkleRoot::ZERO);
        assert_eq!(merkle_root(&[id(1)]).as_bytes(), &leaf(&id(1)));
        let two = node(&leaf(&id(1)), &leaf(&id(2)));
        assert_eq!(merkle_root(&[id(1), id(2)]).as_bytes(), &two);
        let three = node(&two, &leaf(&id(3)));
        assert_eq!(merkle_root(&[id(1), id(2), id(3)]).as_bytes(), &three);
    }

    #[test]
    fn duplicated_last_leaf_changes_the_root() {
        let odd = [id(1), id(2), id(3)];
        let padded = [id(1), id(2), id(3), id(3)];
        assert_ne!(merkle_root(&odd), merkle_root(&padded));
    }

    #[test]
    fn order_matters() {
        assert_ne!(merkle_root(&[id(1), id(2)]), merkle_root(&[id(2), id(1)]));
    }
}
