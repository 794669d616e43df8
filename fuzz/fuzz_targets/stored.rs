//! What a host kept, read back at startup (`Driver::restore`): the native
//! node's redb records and the page's IndexedDB records are block and post
//! encodings handed to the driver as they are. Never a panic; restoring in
//! one call and in the page's batches (`restore_order` from the stored
//! headers, `restore_blocks`, `finish_restore`) ends on the same tip; the
//! orphan pool, side branches and mempool stay within their bounds.
//!
//! Input: records (`tabchain_fuzz::records`) of kept blocks and posts; a
//! record of any other kind sets a body limit of its first byte's blocks.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tabchain_core::chain::BodyLimit;
use tabchain_core::driver::{Driver, RestoreReport, Saved, SavedPost};
use tabchain_core::hash::BlockHash;
use tabchain_core::header::{BlockHeader, HEADER_BYTES};
use tabchain_core::testkit::{NOW, dev};
use tabchain_fuzz::records;

fuzz_target!(|data: &[u8]| {
    // Both stores key blocks by hash: a later record of the same header
    // replaces an earlier one, as a put does. Records too short for a header
    // have no key; only the one-call restore sees them (and refuses them).
    let mut blocks: BTreeMap<BlockHash, Vec<u8>> = BTreeMap::new();
    let mut keyless = Vec::new();
    let mut pending = Vec::new();
    let mut body_limit = None;
    for (kind, bytes) in records::split(data) {
        match kind {
            records::BLOCK => match bytes.get(..HEADER_BYTES).map(BlockHeader::from_bytes) {
                Some(Ok(header)) => {
                    blocks.insert(header.hash(), bytes.to_vec());
                }
                _ => keyless.push(bytes.to_vec()),
            },
            records::POST | records::OWN_POST => {
                pending.push(SavedPost { bytes: bytes.to_vec(), own: kind == records::OWN_POST })
            }
            _ => body_limit = Some(BodyLimit::blocks(u64::from(bytes.first().copied().unwrap_or(0)))),
        }
    }

    let mut whole = Driver::new(dev(), "fuzz");
    whole.set_body_limit(body_limit);
    let saved = Saved { blocks: blocks.values().cloned().chain(keyless).collect(), pending: pending.clone() };
    let (report, _) = whole.restore(saved, NOW);
    assert_eq!((report.height, report.tip), (whole.height(), whole.tip()));
    assert_within_bounds(&whole);

    // The page: the order from the stored headers, the blocks in batches of
    // two, then the posts.
    let mut batched = Driver::new(dev(), "fuzz");
    batched.set_body_limit(body_limit);
    let headers = blocks.values().filter_map(|bytes| BlockHeader::from_bytes(&bytes[..HEADER_BYTES]).ok());
    let ordered: Vec<Vec<u8>> = batched.restore_order(headers).iter().map(|hash| blocks[hash].clone()).collect();
    let mut batch_report = RestoreReport::default();
    for batch in ordered.chunks(2) {
        batched.restore_blocks(batch.to_vec(), NOW, &mut batch_report);
        assert_within_bounds(&batched);
    }
    batched.finish_restore(pending, NOW, &mut batch_report);
    assert_within_bounds(&batched);
    assert_eq!(batched.tip(), whole.tip(), "restoring in batches ends on the same tip");
});

fn assert_within_bounds(driver: &Driver) {
    let (params, chain, mempool) = (driver.params(), driver.state().chain(), driver.state().mempool());
    assert!(chain.orphan_count() <= params.max_orphans);
    let (side_blocks, side_bytes) = chain.side_usage();
    assert!(side_blocks <= params.max_side_blocks && side_bytes <= params.max_side_bytes);
    assert!(mempool.len() <= params.max_mempool_posts && mempool.bytes() <= params.max_mempool_bytes);
}
