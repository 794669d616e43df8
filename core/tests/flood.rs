//! Posts pay with work: one peer floods minimum-stamp posts at the relay's
//! message rate limit for 60 s (virtual time) while a miner finds a block
//! every 10 s, as on main. Blocks hold far fewer flood posts than arrive, so
//! every mempool fills up; an honest post stamped with the page's default
//! (4× the minimum work) must still be in a block within 3 blocks, every
//! time, and no mempool may pass its bounds.
//!
//! Before stamps, a full mempool refused every new post, the honest one too.

use tabchain_core::block::Block;
use tabchain_core::driver::{Driver, Output};
use tabchain_core::hash::TxId;
use tabchain_core::post::Post;
use tabchain_core::stamp::{DEFAULT_STAMP_FACTOR, stamp_post};
use tabchain_core::testkit::{NOW, dev, seal};
use tabchain_core::wire::{self, Envelope, Message, PeerId};

/// The relay's sustained per-peer message rate (`relay::config::RateLimits`).
const FLOOD_PER_SEC: u64 = 200;
const FLOOD_SECONDS: u64 = 60;
/// Main's block interval.
const BLOCK_EVERY_MS: u64 = 10_000;
/// An honest post every this often during the flood.
const HONEST_EVERY_MS: u64 = 7_000;

/// A text frame as the relay delivers it: from peer 9 (the flooder) or 1.
fn frame(from: u64, message: Message) -> String {
    wire::encode(&Envelope { from: Some(PeerId(from)), to: None, message }).expect("encodes")
}

/// A long post (about 1 KB) with the least stamp the rules allow.
fn flood_post(n: u64, now: u64) -> Post {
    let content = format!("spam {n} {}", "s".repeat(980));
    stamp_post(Post::new("flooder", &content, now).expect("valid"), &dev(), 1)
}

fn sends(outputs: Vec<Output>) -> Vec<String> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send(text) => Some(text),
            _ => None,
        })
        .collect()
}

#[test]
fn an_honest_post_gets_through_a_minimum_stamp_flood_within_three_blocks() {
    let params = dev();
    // The writer (a tab posting), the miner, and a bystander: all see the flood.
    let mut writer = Driver::new(params.clone(), "writer");
    let mut miner = Driver::new(params.clone(), "miner");
    let mut bystander = Driver::new(params.clone(), "bystander");
    let start = NOW;
    let end = start + FLOOD_SECONDS * 1_000;
    let step_ms = 1_000 / FLOOD_PER_SEC;
    let mut now = start;
    let mut flood_sent = 0u64;
    let mut next_block_at = start + BLOCK_EVERY_MS;
    let mut next_honest_at = start + 3 * BLOCK_EVERY_MS / 2;
    let mut honest: Vec<(TxId, u64)> = Vec::new(); // id, blocks mined when it was written
    let mut blocks_mined = 0u64;
    let mut included_after: Vec<u64> = Vec::new();
    let mut refused_flood = 0u64;
    let mut full_seen = false;

    while now < end {
        // The flood: one minimum-stamp post per step, to every node.
        let post = flood_post(flood_sent, now);
        flood_sent += 1;
        let text = frame(9, Message::Tx { tx: post.clone() });
        for node in [&mut writer, &mut miner, &mut bystander] {
            let before = node.state().mempool().len();
            let _ = node.on_text(&text, now);
            if node.state().mempool().len() == before {
                refused_flood += 1;
            }
        }

        if now >= next_honest_at {
            next_honest_at += HONEST_EVERY_MS;
            let n = honest.len();
            let honest_post = Post::new("alice", &format!("honest post {n}: hello through the flood"), now).unwrap();
            let honest_post = stamp_post(honest_post, &params, DEFAULT_STAMP_FACTOR);
            let (tx_id, outputs) =
                writer.submit_own_post(honest_post, now).expect("the mempool takes a post that pays more");
            honest.push((tx_id, blocks_mined));
            // The writer has not said Hello here: deliver its post as the relay would.
            let text = frame(1, Message::Tx { tx: writer.state().mempool().get(&tx_id).unwrap().clone() });
            assert!(sends(outputs).is_empty());
            for node in [&mut miner, &mut bystander] {
                node.on_text(&text, now);
                assert!(node.state().mempool().contains(&tx_id), "a full mempool took the honest post");
            }
        }

        if now >= next_block_at {
            next_block_at += BLOCK_EVERY_MS;
            let block: Block = seal(miner.template(now));
            miner.submit_mined(block.clone(), now).expect("own block");
            blocks_mined += 1;
            let text = frame(2, Message::Block { block: block.clone() });
            writer.on_text(&text, now);
            bystander.on_text(&text, now);
            for (tx_id, written_at) in &honest {
                if block.posts.iter().any(|p| p.txid() == *tx_id) {
                    included_after.push(blocks_mined - written_at);
                }
            }
        }

        for node in [&writer, &miner, &bystander] {
            let pool = node.state().mempool();
            assert!(pool.len() <= params.max_mempool_posts, "{} posts", pool.len());
            assert!(pool.bytes() <= params.max_mempool_bytes, "{} bytes", pool.bytes());
            full_seen |= pool.bytes() + 1_100 > params.max_mempool_bytes;
        }
        now += step_ms;
    }

    assert!(full_seen, "the flood must fill the mempools for the test to mean anything");
    assert!(refused_flood > 0, "a full mempool refuses more minimum-stamp posts");
    assert!(honest.len() >= 7, "{} honest posts", honest.len());
    // Every honest post written before the last three blocks is in a block, within 3 blocks.
    let due = honest.iter().filter(|(_, at)| blocks_mined - at >= 3).count();
    assert!(included_after.len() >= due, "{} of {due} honest posts made it into a block", included_after.len());
    assert!(included_after.iter().all(|&n| n <= 3), "blocks until inclusion: {included_after:?}");
    println!(
        "{flood_sent} flood posts, {blocks_mined} blocks, honest posts included after {included_after:?} block(s)"
    );
}
