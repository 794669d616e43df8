//! Writes the fuzz targets' seed corpus, `fuzz/seeds/<target>/`, from test
//! kit blocks and posts and every wire message kind (run from the workspace
//! root: `cargo run -p tabchain-core --example fuzz_seeds`). Deterministic:
//! running it again rewrites the same files. The `driver` target's seeds
//! (its structured input, not bytes a program writes) are 40 inputs of
//! different sizes from the corpus of one long run.

use std::fs;
use std::path::Path;

use tabchain_core::block::Block;
use tabchain_core::driver::Driver;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::testkit::{dev, dev_chain, dev_chain_id, next_mined_block, post, signed_post, work};
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PeerId, PeerInfo};

/// The `stored` target's record kinds (`fuzz/src/lib.rs`, `records`).
const RECORD_BLOCK: u8 = 0;
const RECORD_POST: u8 = 1;
const RECORD_OWN_POST: u8 = 2;
const RECORD_BODY_LIMIT: u8 = 3;

fn main() -> std::io::Result<()> {
    let seeds = Path::new("fuzz/seeds");
    let chain = dev_chain(4);
    let posts = [post("alice", 1), signed_post(2), Post::new("tabchain", "unstamped", 3).expect("valid")];
    let genesis = Params::for_network(Network::Main).genesis();
    let blocks: Vec<Block> = chain.iter().cloned().chain([genesis]).collect();

    write(seeds, "binary_header", blocks.iter().map(|b| b.header.to_bytes().to_vec()))?;
    write(seeds, "binary_block", blocks.iter().map(Block::to_bytes))?;
    write(seeds, "binary_post", posts.iter().map(Post::to_bytes))?;
    write(seeds, "json_block", blocks.iter().map(json))?;
    write(seeds, "json_post", posts.iter().map(json))?;
    write(seeds, "wire", messages(&chain, &posts).iter().map(|m| wire::encode(m).expect("encodes").into_bytes()))?;
    write(seeds, "rest_bodies", rest_bodies(&chain))?;
    write(seeds, "stored", stored(&chain, &posts))?;
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("serializes")
}

/// Replaces `dir/<target>/` with one file per seed, named by its index.
fn write(dir: &Path, target: &str, seeds: impl Iterator<Item = Vec<u8>>) -> std::io::Result<()> {
    let dir = dir.join(target);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&dir)?;
    let mut count = 0;
    for (i, seed) in seeds.enumerate() {
        fs::write(dir.join(format!("seed-{i:02}")), seed)?;
        count += 1;
    }
    println!("{}: {count} seeds", dir.display());
    Ok(())
}

/// One message of each kind.
fn messages(chain: &[Block], posts: &[Post]) -> Vec<Envelope> {
    let peer = PeerInfo::new(PeerId(2), "tabchain-node/0.1.0".into(), 4, work(10));
    let locator = vec![chain[1].hash(), dev_chain_id()];
    let from = |message| Envelope { from: Some(PeerId(2)), to: None, message };
    vec![
        Envelope::broadcast(Message::Welcome {
            peer_id: PeerId(5),
            network: Network::Dev,
            chain_id: dev_chain_id(),
            peers: vec![peer.clone()],
        }),
        from(Message::Hello {
            chain_id: dev_chain_id(),
            protocol: wire::PROTOCOL_VERSION,
            agent: "tabchain-wasm/0.1.0".into(),
            best_height: 4,
            best_hash: chain[3].hash(),
            total_work: work(10),
        }),
        Envelope::broadcast(Message::PeerJoined { peer }),
        Envelope::broadcast(Message::PeerLeft { peer_id: PeerId(2) }),
        from(Message::Tx { tx: posts[1].clone() }),
        from(Message::Block { block: chain[0].clone() }),
        Envelope::to(PeerId(3), Message::GetBlocks { locator: locator.clone(), limit: 500 }),
        from(Message::Blocks { blocks: chain[1..].to_vec() }),
        from(Message::GetMempool {}),
        from(Message::Mempool { txs: posts.to_vec() }),
        from(Message::Ping { nonce: 7 }),
        from(Message::Pong { nonce: u64::MAX }),
        Envelope::broadcast(Message::Error { code: ErrorCode::InvalidBlock, message: "bad merkle root".into() }),
        from(Message::GetHeaders { locator, limit: 2_000 }),
        from(Message::Headers { headers: chain.iter().map(|b| b.header).collect() }),
    ]
}

/// A body for each REST reader: the first byte picks it (`rest_bodies`).
fn rest_bodies(chain: &[Block]) -> impl Iterator<Item = Vec<u8>> {
    let chain_answer = serde_json::json!({ "length": chain.len(), "chain": chain, "peers": [] });
    [
        (0u8, br#"{"author":"alice","content":"hello"}"#.to_vec()),
        (1, br#"{"node_address":"http://127.0.0.1:8001/"}"#.to_vec()),
        (2, json(&chain[0])),
        (3, json(&chain_answer)),
    ]
    .into_iter()
    .map(|(which, body)| [vec![which], body].concat())
}

/// Kept states: a chain with pending posts, the same in another order with
/// a body limit, and a driver's own kept changes.
fn stored(chain: &[Block], posts: &[Post]) -> impl Iterator<Item = Vec<u8>> {
    let blocks = chain.iter().map(|b| (RECORD_BLOCK, b.to_bytes()));
    let pending = [(RECORD_POST, posts[0].to_bytes()), (RECORD_OWN_POST, posts[1].to_bytes())];
    let first: Vec<_> = blocks.clone().chain(pending.clone()).collect();
    let reversed: Vec<_> = [(RECORD_BODY_LIMIT, vec![2])].into_iter().chain(blocks.rev()).chain(pending).collect();
    let mut driver = Driver::new(dev(), "seeds");
    let mut own = Vec::new();
    for offset in 0..3 {
        let block = next_mined_block(&mut driver, offset);
        own.push((RECORD_BLOCK, block.to_bytes()));
        driver.submit_mined(block, tabchain_core::testkit::NOW).expect("a mined block is valid");
    }
    [first, reversed, own].into_iter().map(|records| {
        records
            .into_iter()
            .flat_map(|(kind, bytes)| {
                let len = u16::try_from(bytes.len()).expect("a record is at most 65,535 bytes");
                [vec![kind], len.to_le_bytes().to_vec(), bytes].concat()
            })
            .collect()
    })
}
