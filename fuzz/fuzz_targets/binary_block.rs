//! A block's binary encoding (storage: the native node's redb, the page's
//! IndexedDB, blocks a host hands back): never a panic; a decoded block
//! encodes to exactly the input, its JSON view round-trips, and the checks a
//! relay runs on it never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabchain_core::block::Block;
use tabchain_core::params::{Network, Params};
use tabchain_core::validate::check_block_structure;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::from_bytes(data) else { return };
    assert_eq!(block.to_bytes(), data, "the encoding is canonical");
    tabchain_fuzz::assert_block_round_trips(&block);
    let _ = check_block_structure(&Params::for_network(Network::Dev), &block);
});
