//! Invalid blocks cost one full check: a block that failed validation for
//! good is remembered by hash and refused at once when it comes again, and a
//! peer sending invalid data runs up a score until its blocks and posts are
//! ignored.

use std::sync::OnceLock;
use tabchain_core::block::Block;
use tabchain_core::driver::{
    Driver, Event, IGNORE_SCORE, Output, PENALTY_BAD_MESSAGE, PENALTY_INVALID_BLOCK, PENALTY_INVALID_POST, SubmitError,
};
use tabchain_core::post::Post;
use tabchain_core::testkit::{NOW, block_on, dev, dev_chain_id, forged_post, signed_post};
use tabchain_core::validate::{BlockError, counts};
use tabchain_core::wire::{Envelope, ErrorCode, Message, PeerId};

/// A block on genesis, valid but for its last post: 999 signed posts, then
/// one whose signature does not verify. Checking it verifies 1,000 signatures.
/// Built once per test binary (signing is slow in debug builds).
fn block_with_one_bad_signature() -> Block {
    static BLOCK: OnceLock<Block> = OnceLock::new();
    BLOCK
        .get_or_init(|| {
            let mut posts: Vec<Post> = (0..999).map(signed_post).collect();
            posts.push(forged_post(999));
            assert_eq!(posts.len(), dev().max_block_posts);
            block_on(dev_chain_id(), 1, posts)
        })
        .clone()
}

fn announce(node: &mut Driver, from: u64, block: &Block) -> Vec<Output> {
    let envelope = Envelope { from: Some(PeerId(from)), to: None, message: Message::Block { block: block.clone() } };
    node.on_envelope(envelope, NOW)
}

fn rejected(outputs: &[Output], hash: tabchain_core::hash::BlockHash) -> bool {
    outputs.iter().any(|o| matches!(o, Output::Event(Event::BlockRejected { hash: h, .. }) if *h == hash))
}

#[test]
fn a_block_with_a_bad_signature_sent_100_times_is_verified_once() {
    let block = block_with_one_bad_signature();
    let hash = block.hash();
    let mut node = Driver::new(dev(), "t");
    let before = counts::signatures();
    let outputs = announce(&mut node, 1, &block);
    assert!(rejected(&outputs, hash), "{outputs:?}");
    let once = counts::signatures() - before;
    assert_eq!(once, 1_000, "the first time, every signature up to the bad one");
    // From 99 other peers (no one peer's score matters): refused each time,
    // the sender told why, and not one signature checked again.
    for from in 2..=100 {
        let outputs = announce(&mut node, from, &block);
        assert!(rejected(&outputs, hash), "send {from}: {outputs:?}");
        let told = outputs.iter().any(|o| matches!(o, Output::Send(t) if t.contains(ErrorCode::InvalidBlock.as_str())));
        assert!(told, "send {from}: {outputs:?}");
        assert_eq!(counts::signatures() - before, once, "send {from} checked signatures again");
    }
    assert_eq!(node.height(), 0);
}

#[test]
fn a_peer_resending_an_invalid_block_is_ignored_after_a_few() {
    let block = block_with_one_bad_signature();
    let mut node = Driver::new(dev(), "t");
    let before = counts::signatures();
    let sends_to_ignore = IGNORE_SCORE.div_ceil(PENALTY_INVALID_BLOCK);
    for n in 1..=sends_to_ignore {
        let outputs = announce(&mut node, 7, &block);
        assert!(rejected(&outputs, block.hash()), "{outputs:?}");
        let ignored = outputs.contains(&Output::Event(Event::PeerIgnored { id: PeerId(7), score: IGNORE_SCORE }));
        assert_eq!(ignored, n == sends_to_ignore, "send {n}: {outputs:?}");
    }
    assert_eq!(node.misbehaviour(PeerId(7)), IGNORE_SCORE);
    // From now on its blocks and posts are dropped unread: not even an answer.
    for _ in 0..96 {
        assert_eq!(announce(&mut node, 7, &block), vec![]);
    }
    assert_eq!(counts::signatures() - before, 1_000);
    let good = block_on(dev_chain_id(), 1, vec![signed_post(5_000)]);
    assert_eq!(announce(&mut node, 7, &good), vec![]);
    assert_eq!(send(&mut node, 7, Message::Tx { tx: signed_post(5_001) }), vec![]);
    assert_eq!(node.height(), 0);
    assert!(node.state().mempool().is_empty());
    // Another peer is heard as before.
    let outputs = announce(&mut node, 8, &good);
    assert!(outputs.iter().any(|o| matches!(o, Output::Event(Event::BlockAccepted { .. }))), "{outputs:?}");
    assert_eq!(node.misbehaviour(PeerId(8)), 0);
    // A peer id lasts one connection: its score goes when it leaves.
    let relay_says_left = Envelope::broadcast(Message::PeerLeft { peer_id: PeerId(7) });
    node.on_envelope(relay_says_left, NOW);
    assert_eq!(node.misbehaviour(PeerId(7)), 0);
}

#[test]
fn invalid_posts_and_relay_only_messages_cost_points_too() {
    let mut node = Driver::new(dev(), "t");
    let outputs = send(&mut node, 3, Message::Tx { tx: forged_post(1) });
    assert_eq!(outputs, vec![]);
    assert_eq!(node.misbehaviour(PeerId(3)), PENALTY_INVALID_POST);
    // A valid post refused for another reason (already pending) costs nothing.
    send(&mut node, 3, Message::Tx { tx: signed_post(2) });
    send(&mut node, 3, Message::Tx { tx: signed_post(2) });
    assert_eq!(node.misbehaviour(PeerId(3)), PENALTY_INVALID_POST);
    // A Mempool answer full of forgeries: checked until the limit, then dropped.
    let forged: Vec<Post> = (10..100).map(forged_post).collect();
    let outputs = send(&mut node, 3, Message::Mempool { txs: forged });
    assert!(outputs.contains(&Output::Event(Event::PeerIgnored { id: PeerId(3), score: IGNORE_SCORE })));
    assert_eq!(node.misbehaviour(PeerId(3)), IGNORE_SCORE);
    assert_eq!(send(&mut node, 3, Message::Tx { tx: signed_post(3) }), vec![]);
    assert_eq!(node.state().mempool().len(), 1);

    // Peer news that only the relay sends, from a peer: ignored, and points.
    let fake = Message::PeerLeft { peer_id: PeerId(9) };
    let outputs = send(&mut node, 4, fake);
    assert!(matches!(&outputs[..], [Output::Event(Event::BadMessage { .. })]), "{outputs:?}");
    assert_eq!(node.misbehaviour(PeerId(4)), PENALTY_BAD_MESSAGE);
}

#[test]
fn the_host_path_orphans_and_children_of_an_invalid_block_cost_no_second_check() {
    let block = block_with_one_bad_signature();
    let hash = block.hash();
    let mut node = Driver::new(dev(), "t");
    let before = counts::signatures();
    // From the host (the REST API), twice.
    assert!(matches!(node.submit_block(block.clone(), NOW), Err(SubmitError::Invalid(BlockError::InvalidPost { .. }))));
    assert_eq!(node.submit_block(block.clone(), NOW), Err(SubmitError::Invalid(BlockError::KnownInvalid(hash))));
    assert_eq!(counts::signatures() - before, 1_000);
    assert!(node.state().chain().is_known_invalid(&hash));

    // A child of it, well signed: refused without a look at its posts, and
    // remembered in turn (so its own children are refused too).
    let child = block_on(hash, 2, (0..10).map(|n| signed_post(2_000 + n)).collect());
    let outputs = announce(&mut node, 1, &child);
    assert!(rejected(&outputs, child.hash()), "{outputs:?}");
    let grandchild = block_on(child.hash(), 3, vec![signed_post(3_000)]);
    let Err(SubmitError::Invalid(error)) = node.submit_block(grandchild, NOW) else { panic!("refused") };
    assert_eq!(error, BlockError::InvalidParent(child.hash()));
    assert_eq!(counts::signatures() - before, 1_000);

    // A block with a bad signature whose parent is unknown (an orphan):
    // checked once whichever way it comes.
    let orphan = {
        let mut posts: Vec<Post> = (0..9).map(|n| signed_post(4_000 + n)).collect();
        posts.push(forged_post(4_009));
        block_on(tabchain_core::testkit::fake_hash("nowhere"), 7, posts)
    };
    let before = counts::signatures();
    let outputs = announce(&mut node, 2, &orphan);
    assert!(rejected(&outputs, orphan.hash()), "{outputs:?}");
    assert!(matches!(node.submit_block(orphan.clone(), NOW), Err(SubmitError::Invalid(BlockError::KnownInvalid(_)))));
    assert!(rejected(&announce(&mut node, 3, &orphan), orphan.hash()));
    assert_eq!(counts::signatures() - before, 10);
    assert_eq!(node.state().chain().orphan_count(), 0);
}

fn send(node: &mut Driver, from: u64, message: Message) -> Vec<Output> {
    node.on_envelope(Envelope { from: Some(PeerId(from)), to: None, message }, NOW)
}

#[test]
fn the_rules_against_the_parent_run_before_the_signatures() {
    let mut node = Driver::new(dev(), "t");
    let wrong_height = block_on(dev_chain_id(), 2, (0..100).map(signed_post).collect());
    let before = counts::signatures();
    let Err(SubmitError::Invalid(error)) = node.submit_block(wrong_height, NOW) else { panic!("refused") };
    assert_eq!(error, BlockError::BadHeight { expected: 1, got: 2 });
    assert_eq!(counts::signatures(), before, "no signature checked for a block that breaks a cheap rule");
}
