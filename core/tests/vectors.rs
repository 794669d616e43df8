//! Test vectors shared with the wasm smoke test (`wasm/tests/smoke.test.mjs`) and
//! quoted in docs/PROTOCOL.md: native and wasm must compute exactly these.
//!
//! After a deliberate consensus change, print fresh values with
//! `cargo test -p tabchain-core --test vectors -- --nocapture` and update
//! `core/test-vectors.json` by hand.

use serde_json::{Value, json};
use tabchain_core::hash::{BlockHash, MerkleRoot};
use tabchain_core::header::BlockHeader;
use tabchain_core::mining::mine_range;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::stamp::{required_work, stamp_header, stamp_post};
use tabchain_core::target::CompactTarget;

/// The header the mining vector searches: fixed fields, 1-in-65,536 target.
fn mining_header() -> BlockHeader {
    BlockHeader {
        version: 1,
        height: 1,
        prev_hash: Params::for_network(Network::Dev).chain_id(),
        merkle_root: MerkleRoot::ZERO,
        timestamp_ms: 1_795_564_801_000,
        bits: CompactTarget(0x1f00_ffff),
        nonce: 0,
    }
}

fn computed() -> Value {
    let header = mining_header();
    let start = 1_000u64;
    let count = 1_000_000u64;
    let out = mine_range(&header, start, count).expect("valid target");
    let (nonce, hash) = out.found.expect("a nonce in range");
    let genesis = Params::for_network(Network::Main).genesis();
    let dev = Params::for_network(Network::Dev);
    let unsigned = Post::new("alice", "hello", dev.genesis_timestamp_ms + 1_000).expect("valid");
    let signed = Post::new_signed("bob", "signed hello", dev.genesis_timestamp_ms + 2_000, &[7; 32], &dev.chain_id())
        .expect("valid");
    let stamped_posts: Vec<Value> = [unsigned, signed]
        .into_iter()
        .map(|post| {
            let post = stamp_post(post, &dev, 1);
            json!({
                "bytes_hex": hex::encode(post.to_bytes()),
                "txid": post.txid().to_hex(),
                "stamp_header_hex": hex::encode(stamp_header(&post, &dev.chain_id()).to_bytes()),
                "stamp_hash": stamp_header(&post, &dev.chain_id()).hash().to_hex(),
                "required_work": required_work(&dev, post.encoded_len()),
            })
        })
        .collect();
    json!({
        "dev_stamped_posts": stamped_posts,
        "chain_id": {
            "main": Params::for_network(Network::Main).chain_id().to_hex(),
            "dev": Params::for_network(Network::Dev).chain_id().to_hex(),
        },
        "main_genesis": {
            "header_hex": hex::encode(genesis.header.to_bytes()),
            "merkle_root": genesis.header.merkle_root.to_hex(),
            "first_post_txid": genesis.posts[0].txid().to_hex(),
            "first_post_bytes_hex": hex::encode(genesis.posts[0].to_bytes()),
        },
        "mining": {
            "header_hex": hex::encode(header.to_bytes()),
            "start_nonce": start,
            "count": count,
            "nonce": nonce,
            "hash": hash.to_hex(),
        }
    })
}

#[test]
fn vectors_match_the_shared_file() {
    let computed = computed();
    println!("{}", serde_json::to_string_pretty(&computed).unwrap());
    let file: Value = serde_json::from_str(include_str!("../test-vectors.json")).expect("test-vectors.json is JSON");
    assert_eq!(computed, file, "core/test-vectors.json is stale");
}

#[test]
fn mining_vector_hash_is_the_plain_sha256_of_the_solved_header() {
    let v = computed();
    let nonce = v["mining"]["nonce"].as_u64().unwrap();
    let solved = BlockHeader { nonce, ..mining_header() };
    let hash: BlockHash = v["mining"]["hash"].as_str().unwrap().parse().unwrap();
    assert_eq!(solved.hash(), hash);
    assert!(nonce > 1_000, "the vector needs a search, not a first-try hit");
}
