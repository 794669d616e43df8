//! A block from another tab of the same browser whose parent this tab lacks:
//! its ancestors are read back from the storage the tabs share (the test
//! harness answers `ReadBlock` from every node's kept blocks), with no relay.

mod common;

use common::{Net, tip};
use tabchain_core::block::Block;
use tabchain_core::driver::{Event, Output, SYNC_TIMEOUT_MS};
use tabchain_core::testkit::NOW;
use tabchain_core::wire::{self, Envelope, Message};

/// `block` as a sibling tab hands it over its `BroadcastChannel`.
fn sibling_frame(block: &Block) -> String {
    wire::encode(&Envelope::broadcast(Message::Block { block: block.clone() })).unwrap()
}

/// Node 0 mines `n` blocks on its own tip (no relay); returns them.
fn mine_alone(net: &mut Net, n: usize, offset: u64) -> Vec<Block> {
    (0..n).map(|_| net.mine(0, offset, false)).collect()
}

#[test]
fn a_siblings_block_over_a_gap_pulls_its_ancestors_from_shared_storage() {
    let mut net = Net::new(2);
    let blocks = mine_alone(&mut net, 5, 0);
    // Node 1 missed the first four (it restored before they were written).
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&blocks[4]), NOW);
    assert!(
        matches!(outputs.as_slice(), [Output::ReadBlock { hash }] if *hash == blocks[3].hash()),
        "asks storage for the missing parent: {outputs:?}"
    );
    net.handle(1, outputs);
    assert_eq!(tip(&net.nodes[1]), blocks[4].hash(), "the gap is filled from storage");
    assert_eq!(net.reads[1], 4, "one read per missing block");
    assert!(!net.nodes[1].is_reading_stored());
    assert!(net.sent[1].is_empty(), "nothing goes to the relay");
    assert_eq!(net.nodes[1].state().chain().orphan_count(), 0);
    net.assert_kept_matches(1);
    // The next block connects at once.
    let next = net.mine(0, 0, false);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&next), NOW);
    assert!(!outputs.iter().any(|o| matches!(o, Output::ReadBlock { .. })), "{outputs:?}");
    net.handle(1, outputs);
    assert_eq!(tip(&net.nodes[1]), next.hash());
}

#[test]
fn a_gap_longer_than_the_orphan_pool_still_closes() {
    let mut net = Net::new(2);
    let max_orphans = net.nodes[1].params().max_orphans;
    let blocks = mine_alone(&mut net, max_orphans + 40, 0);
    let last = blocks.last().unwrap();
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(last), NOW);
    net.handle(1, outputs);
    assert_eq!(tip(&net.nodes[1]), last.hash(), "the walk went on from the block the pool dropped");
    assert_eq!(net.nodes[1].height(), blocks.len() as u64);
}

#[test]
fn a_siblings_heavier_branch_that_forks_below_our_tip_is_taken_from_storage() {
    let mut net = Net::new(2);
    // Node 1 mined three blocks of its own; node 0 five from genesis. Node 1
    // keeps neither its blocks nor node 0's apart: node 0's storage is the shared one.
    let own: Vec<Block> = (0..3).map(|_| net.mine(1, 7, false)).collect();
    assert_eq!(tip(&net.nodes[1]), own[2].hash());
    let theirs = mine_alone(&mut net, 5, 0);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&theirs[4]), NOW);
    net.handle(1, outputs);
    assert_eq!(tip(&net.nodes[1]), theirs[4].hash(), "reorganised onto the heavier branch");
    let reorgs: Vec<_> = net.events[1].iter().filter(|e| matches!(e, Event::Reorg { .. })).collect();
    assert!(matches!(reorgs.as_slice(), [Event::Reorg { depth: 3, fork_height: 0, new_height: 5, .. }]), "{reorgs:?}");
    assert_eq!(net.nodes[1].state().chain().wanted_count(), 0, "the marks are dropped once the walk ends");
}

#[test]
fn a_block_storage_does_not_have_ends_the_walk_and_an_overdue_read_frees_it() {
    let mut net = Net::new(2);
    let blocks = mine_alone(&mut net, 3, 0);
    // Storage answers "not there": the orphan waits, nothing else happens.
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&blocks[2]), NOW);
    let [Output::ReadBlock { hash }] = outputs.as_slice() else { panic!("{outputs:?}") };
    let outputs = net.nodes[1].block_read(*hash, None, NOW);
    assert!(outputs.is_empty(), "{outputs:?}");
    assert!(!net.nodes[1].is_reading_stored());
    assert_eq!(net.nodes[1].height(), 0);

    // A read never answered: later orphans wait for it, until it is overdue.
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&blocks[2]), NOW);
    assert!(outputs.is_empty(), "a duplicate orphan asks nothing: {outputs:?}");
    let later = net.mine(0, 0, false);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&later), NOW);
    let [Output::ReadBlock { hash: asked }] = outputs.as_slice() else { panic!("{outputs:?}") };
    assert_eq!(*asked, blocks[1].hash(), "the lowest block missing below the orphans");
    let another = net.mine(0, 0, false);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&another), NOW + 1);
    assert!(!outputs.iter().any(|o| matches!(o, Output::ReadBlock { .. })), "one walk at a time: {outputs:?}");
    net.nodes[1].tick(NOW + SYNC_TIMEOUT_MS);
    assert!(!net.nodes[1].is_reading_stored(), "an overdue read ends its walk");
    assert_eq!(net.nodes[1].state().chain().wanted_count(), 0, "and drops its marks");
    // The late answer is not for the walk any more: it changes nothing.
    let stale = net.nodes[1].block_read(blocks[1].hash(), Some(blocks[1].to_bytes()), NOW + SYNC_TIMEOUT_MS);
    assert!(stale.is_empty(), "{stale:?}");
    assert_eq!(net.nodes[1].height(), 0);
    // The next sibling block starts a new walk, which storage answers.
    let last = net.mine(0, 0, false);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&last), NOW + SYNC_TIMEOUT_MS);
    net.handle(1, outputs);
    assert_eq!(tip(&net.nodes[1]), last.hash());
}

#[test]
fn bytes_that_are_not_the_block_asked_for_end_the_walk() {
    let mut net = Net::new(2);
    let blocks = mine_alone(&mut net, 3, 0);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&blocks[2]), NOW);
    let [Output::ReadBlock { hash }] = outputs.as_slice() else { panic!("{outputs:?}") };
    // A corrupt store: another block's bytes, then garbage.
    let outputs = net.nodes[1].block_read(*hash, Some(blocks[0].to_bytes()), NOW);
    assert!(outputs.is_empty(), "{outputs:?}");
    assert_eq!(net.nodes[1].height(), 0, "the wrong block was not taken");
    let next = net.mine(0, 0, false);
    let outputs = net.nodes[1].on_sibling_text(&sibling_frame(&next), NOW);
    let [Output::ReadBlock { hash }] = outputs.as_slice() else { panic!("{outputs:?}") };
    assert!(net.nodes[1].block_read(*hash, Some(vec![0xff; 40]), NOW).is_empty());
    assert_eq!(net.nodes[1].height(), 0);
}
