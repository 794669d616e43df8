//! A block in the JSON view (REST `/add_block`, `/chain`, wire `Block`):
//! never a panic; the typed decoder (`BlockJson` → `Block`) agrees with
//! serde's; a decoded block round-trips through JSON and binary.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabchain_core::block::Block;
use tabchain_core::json::BlockJson;

fuzz_target!(|data: &[u8]| {
    let direct = serde_json::from_slice::<Block>(data);
    let typed = serde_json::from_slice::<BlockJson>(data).map(Block::try_from);
    match (&direct, &typed) {
        (Ok(block), Ok(Ok(same))) => assert_eq!(block, same, "serde and the typed decoder agree"),
        (Err(_), Err(_) | Ok(Err(_))) => {}
        _ => panic!("serde and the typed decoder disagree: {direct:?} / {typed:?}"),
    }
    if let Ok(block) = direct {
        assert_eq!(block.hash(), block.header.hash());
        tabchain_fuzz::assert_block_round_trips(&block);
    }
});
