//! The header the mining benchmarks hash, shared by `benches/core.rs` and
//! `examples/hashrate.rs` (which `cargo xtask bench wasm` runs next to the
//! browser miner; `e2e/bench/header.js` builds the same bytes in JavaScript).

use tabchain_core::hash::{BlockHash, MerkleRoot};
use tabchain_core::header::BlockHeader;
use tabchain_core::target::CompactTarget;

/// A fixed header with bits 0x03000001, a target no hash meets, so a miner
/// searches every nonce of its range.
pub fn bench_header() -> BlockHeader {
    BlockHeader {
        version: 1,
        height: 1,
        prev_hash: BlockHash::from_bytes([1; 32]),
        merkle_root: MerkleRoot::from_bytes([2; 32]),
        timestamp_ms: 1_795_564_801_000,
        bits: CompactTarget(0x0300_0001),
        nonce: 0,
    }
}
