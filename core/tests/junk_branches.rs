//! Side branches cost the attacker, not us: a peer announcing 2,000 distinct
//! children of genesis (the cheapest blocks there are: the easiest target,
//! no posts) leaves what the victim stores and holds in memory bounded.
//! Before headers first, every one of them was stored forever.

use std::collections::HashSet;
use tabchain_core::driver::{Change, Driver, Output};
use tabchain_core::hash::BlockHash;
use tabchain_core::testkit::{NOW, block_on_at, dev, dev_chain};
use tabchain_core::wire::{self, Envelope, Message, PeerId};

/// What a host keeps: the blocks its driver asked to store, minus those it
/// asked to delete.
fn apply(kept: &mut HashSet<BlockHash>, outputs: Vec<Output>) {
    for output in outputs {
        match output {
            Output::Store(Change::Block { hash, .. }) => {
                kept.insert(hash);
            }
            Output::Store(Change::BlockRemoved { hash }) => {
                assert!(kept.remove(&hash), "deleted a block never kept");
            }
            _ => {}
        }
    }
}

#[test]
fn two_thousand_children_of_genesis_leave_storage_and_memory_bounded() {
    let params = dev();
    for victim_height in [1u64, 2, 20] {
        let mut victim = Driver::new(params.clone(), "victim");
        let mut kept = HashSet::new();
        for block in dev_chain(victim_height) {
            apply(&mut kept, victim.submit_block(block, NOW).expect("valid chain"));
        }
        assert_eq!(kept.len() as u64, victim_height);
        let genesis = victim.state().chain().genesis().hash;
        for n in 0..2_000u64 {
            let junk = block_on_at(genesis, 1, params.genesis_timestamp_ms + 1 + n, Vec::new());
            let text =
                wire::encode(&Envelope { from: Some(PeerId(66)), to: None, message: Message::Block { block: junk } })
                    .expect("encodes");
            apply(&mut kept, victim.on_text(&text, NOW));
            let chain = victim.state().chain();
            assert!(chain.side_usage().0 <= params.max_side_blocks && chain.side_usage().1 <= params.max_side_bytes);
        }
        let chain = victim.state().chain();
        // Stored: the victim's chain (or, at height 1, one of its equal-work
        // rivals with a lower hash), plus side blocks within the budget.
        let bound = victim_height as usize + params.max_side_blocks;
        assert!(kept.len() <= bound, "height {victim_height}: {} blocks kept", kept.len());
        assert!(chain.block_count() <= 1 + bound, "height {victim_height}: {} blocks in memory", chain.block_count());
        assert_eq!(chain.orphan_count(), 0);
        if victim_height >= 2 {
            // Less work than the best chain: not one of them is kept.
            assert_eq!(kept.len() as u64, victim_height, "height {victim_height}");
            assert_eq!(chain.block_count() as u64, victim_height + 1);
        }
        println!("victim at height {victim_height}: {} blocks kept after 2,000 junk children", kept.len());
    }
}
