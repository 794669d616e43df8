//! The node's store: round trips, reopening, refusing what is not ours,
//! corrupt records, restore checks, persisting the driver's changes, and
//! kill -9 in the middle of writing (the child is the `store-crash-child`
//! binary). The store's timings are in `cargo xtask bench node`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use redb::TableDefinition;
use tabchain_core::block::Block;
use tabchain_core::driver::{Change, Driver, Output};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;
use tabchain_core::state::ChainState;
use tabchain_core::testkit::{NOW, block_change, dev, next_mined_block, post, seal};
use tabchain_core::wire::{Envelope, Message, PeerId};
use tabchain_node::store::{DB_FILE, FORMAT_VERSION, Store, StoreError};
/// The kill -9 test's child: mines and commits blocks, printing each acknowledgement.
const CRASH_CHILD: &str = env!("CARGO_BIN_EXE_store-crash-child");

// The store's tables, to damage them from outside.
const BLOCKS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("blocks");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The state's template on its tip, `interval + skew_ms` after the tip, sealed.
fn next_block(state: &ChainState, skew_ms: u64) -> Block {
    let time = state.chain().tip().timestamp_ms() + state.params().target_block_interval_ms + skew_ms;
    let mut block = state.block_template(time);
    block.header.timestamp_ms = time;
    seal(block)
}

/// Mines one block on the node's tip (with its pending posts).
fn mine(node: &mut Driver) -> Vec<Output> {
    let block = next_mined_block(node, 0);
    node.submit_mined(block, NOW).expect("own block is valid")
}

/// The changes to keep among a call's outputs.
fn changes(outputs: &[Output]) -> Vec<Change> {
    outputs.iter().cloned().filter_map(Output::into_change).collect()
}

/// Mines `n` blocks, persisting after each.
fn mine_and_persist(node: &mut Driver, store: &Store, n: usize) {
    for _ in 0..n {
        let outputs = mine(node);
        store.persist(&changes(&outputs)).expect("persist");
    }
}

/// A post arriving from a peer (not an own post), persisted.
fn receive_post(node: &mut Driver, store: &Store, post: Post) {
    let envelope = Envelope { from: Some(PeerId(5)), to: None, message: Message::Tx { tx: post } };
    store.persist(&changes(&node.on_envelope(envelope, NOW))).expect("persist");
}

fn best_of(node: &Driver) -> Vec<(u64, BlockHash)> {
    node.state().chain().best_chain().map(|e| (e.height(), e.hash)).collect()
}

fn fresh_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("data");
    (tmp, dir)
}

/// Writes an own post and persists it.
fn write_post(node: &mut Driver, store: &Store, post: Post) {
    let (_, outputs) = node.submit_own_post(post, NOW).expect("post");
    store.persist(&changes(&outputs)).expect("persist");
}

/// A store in a new directory holding a node with `blocks` blocks (one own
/// post each, from the second on) and two pending posts: bob 1000 written
/// here, bob 1001 from a peer.
fn populated(blocks: usize) -> (tempfile::TempDir, PathBuf, Driver) {
    let (tmp, dir) = fresh_dir();
    let store = Store::open(&dir, &dev()).expect("create");
    let mut node = Driver::new(dev(), "test");
    for i in 0..blocks {
        if i > 0 {
            write_post(&mut node, &store, post("alice", i as u64));
        }
        mine_and_persist(&mut node, &store, 1);
    }
    write_post(&mut node, &store, post("bob", 1000));
    receive_post(&mut node, &store, post("bob", 1001));
    (tmp, dir, node)
}

fn restore(dir: &Path) -> Result<(Store, Driver, tabchain_node::store::RestoreSummary), StoreError> {
    let store = Store::open(dir, &dev())?;
    let mut node = Driver::new(dev(), "restored");
    let summary = store.restore(&mut node, NOW)?;
    Ok((store, node, summary))
}

#[test]
fn blocks_best_chain_and_mempool_round_trip_and_survive_reopening() {
    let (_tmp, dir, node) = populated(20);
    {
        let store = Store::open(&dir, &dev()).expect("reopen");
        let stats = store.stats().unwrap();
        assert_eq!((stats.blocks, stats.best, stats.mempool), (20, Some((20, node.tip())), 2));
        assert!(stats.file_bytes > 0);
        assert_eq!(store.path(), dir.join(DB_FILE));
        assert_eq!(store.best_chain().unwrap(), best_of(&node));
        let loaded = store.load_blocks().unwrap();
        assert_eq!(loaded.len(), 20);
        let heights: Vec<u64> = loaded.iter().map(|b| Block::from_bytes(b).unwrap().header.height).collect();
        assert_eq!(heights, (1..=20).collect::<Vec<_>>(), "ordered by height");
        let entry = node.state().chain().best_at(7).unwrap();
        assert_eq!(store.get_block(&entry.hash).unwrap(), Some(entry.block().unwrap().to_bytes()));
        assert_eq!(store.get_block(&BlockHash::from_bytes([7; 32])).unwrap(), None);
        let pending: Vec<(TxId, bool)> =
            store.load_pending().unwrap().iter().map(|(p, own)| (p.txid(), *own)).collect();
        assert_eq!(pending, vec![(post("bob", 1000).txid(), true), (post("bob", 1001).txid(), false)]);
    }
    let (_store, restored, summary) = restore(&dir).expect("restore");
    assert_eq!((restored.height(), restored.tip()), (20, node.tip()));
    assert_eq!(best_of(&restored), best_of(&node));
    assert_eq!(summary.stored_blocks, 20);
    assert_eq!((summary.report.accepted, summary.report.rejected, summary.report.orphans), (20, 0, 0));
    assert_eq!(summary.best_mismatch, None);
    assert_eq!((summary.report.pending_restored, summary.report.pending_confirmed), (2, 0));
    assert!(summary.report.pending_refused.is_empty());
    assert_eq!(restored.state().mempool().len(), 2);
    assert!(restored.is_own(&post("bob", 1000).txid()) && !restored.is_own(&post("bob", 1001).txid()));
    // Confirmed posts are not pending any more.
    assert!(restored.state().chain().confirmed_height(&post("alice", 5).txid()).is_some());
}

#[test]
fn each_change_writes_what_it_says() {
    let (_tmp, dir) = fresh_dir();
    let store = Store::open(&dir, &dev()).unwrap();
    assert_eq!(store.best_chain().unwrap(), vec![(0, dev().chain_id())], "a new store holds genesis as best");
    let mut state = ChainState::new(dev());
    let mut blocks = Vec::new();
    for _ in 0..5 {
        let block = next_block(&state, 0);
        state.submit_block(block.clone(), NOW).unwrap();
        blocks.push(block);
    }
    let hashes: Vec<BlockHash> = blocks.iter().map(Block::hash).collect();
    let mut all: Vec<Change> = blocks.iter().map(block_change).collect();
    all.push(Change::BestChain { from_height: 1, hashes: hashes.clone() });
    store.persist(&all).unwrap();
    assert_eq!(store.best_chain().unwrap().len(), 6);
    // A shorter best chain from height 3 truncates the rest.
    let other = BlockHash::from_bytes([3; 32]);
    store.persist(&[Change::BestChain { from_height: 3, hashes: vec![other] }]).unwrap();
    let best = store.best_chain().unwrap();
    assert_eq!(best.iter().map(|(h, _)| *h).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(best[3], (3, other));
    assert_eq!(best[2], (2, hashes[1]));
    store.persist(&[Change::BestChain { from_height: 2, hashes: vec![] }]).unwrap();
    assert_eq!(store.best_chain().unwrap().len(), 2);

    let (a, b) = (post("a", 1), post("b", 2));
    let added = |p: &Post, own| Change::PendingAdded { tx_id: p.txid(), post: p.clone(), own };
    store.persist(&[added(&b, false), added(&a, true)]).unwrap();
    assert_eq!(store.load_pending().unwrap(), vec![(a.clone(), true), (b.clone(), false)], "oldest first");
    let removed = |p: &Post| Change::PendingRemoved { tx_id: p.txid(), own: false };
    store.persist(&[removed(&a), Change::PendingRemoved { tx_id: TxId::from_bytes([1; 32]), own: true }]).unwrap();
    assert_eq!(store.load_pending().unwrap(), vec![(b.clone(), false)]);
    // Added again, not own this time: the own mark went with the removal.
    store.persist(&[added(&a, false)]).unwrap();
    store.persist(&[]).unwrap();
    drop(store);
    let store = Store::open(&dir, &dev()).unwrap();
    assert_eq!(store.load_pending().unwrap(), vec![(a, false), (b, false)]);
    assert_eq!(store.stats().unwrap().blocks, 5);
}

#[test]
fn changes_that_are_not_what_they_say_are_not_written() {
    let (_tmp, dir) = fresh_dir();
    let store = Store::open(&dir, &dev()).unwrap();
    let block = next_block(&ChainState::new(dev()), 0);
    let good = block_change(&block);
    let wrong_hash = Change::Block { hash: BlockHash::from_bytes([9; 32]), height: 1, bytes: block.to_bytes() };
    let wrong_height = Change::Block { hash: block.hash(), height: 2, bytes: block.to_bytes() };
    let short = Change::Block { hash: block.hash(), height: 1, bytes: vec![1, 2, 3] };
    let p = post("a", 1);
    let wrong_post = Change::PendingAdded { tx_id: TxId::from_bytes([4; 32]), post: p, own: true };
    for (bad, key) in [
        (wrong_hash, BlockHash::from_bytes([9; 32]).to_hex()),
        (wrong_height, block.hash().to_hex()),
        (short, block.hash().to_hex()),
        (wrong_post, TxId::from_bytes([4; 32]).to_hex()),
    ] {
        let err = store.persist(&[good.clone(), bad]).unwrap_err();
        assert!(matches!(err, StoreError::BadInput { .. }), "{err}");
        assert!(err.to_string().contains(&key), "{err}");
    }
    let stats = store.stats().unwrap();
    assert_eq!((stats.blocks, stats.mempool), (0, 0), "nothing of a refused call was written");
    let err = store.persist(&[Change::BestChain { from_height: u64::MAX, hashes: vec![block.hash()] }]).unwrap_err();
    assert!(matches!(err, StoreError::BadInput { .. }), "{err}");
}

#[test]
fn a_store_of_another_network_is_refused_naming_both() {
    let (_tmp, dir) = fresh_dir();
    drop(Store::open(&dir, &dev()).unwrap());
    let before = std::fs::read(dir.join(DB_FILE)).unwrap();
    let err = Store::open(&dir, &Params::for_network(Network::Main)).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Foreign { .. }), "{text}");
    assert!(text.contains("network dev") && text.contains("network main"), "{text}");
    assert!(text.contains(&dev().chain_id().to_hex()), "{text}");
    assert!(text.contains(&Params::for_network(Network::Main).chain_id().to_hex()), "{text}");
    assert!(text.contains(&dir.join(DB_FILE).display().to_string()), "{text}");
    assert_eq!(std::fs::read(dir.join(DB_FILE)).unwrap(), before, "left untouched");
    // A store of another format version is refused too.
    {
        let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().insert("format", (FORMAT_VERSION + 1).to_le_bytes().as_slice()).unwrap();
        txn.commit().unwrap();
    }
    let text = Store::open(&dir, &dev()).unwrap_err().to_string();
    assert!(text.contains(&format!("store format {}", FORMAT_VERSION + 1)), "{text}");
}

/// Pseudo-random bytes (xorshift), reproducible.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    for len in [10, 4096, 100_000] {
        let (_tmp, dir) = fresh_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = noise(len, 0x9e37_79b9_7f4a_7c15);
        std::fs::write(dir.join(DB_FILE), &bytes).unwrap();
        let err = Store::open(&dir, &dev()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{len} bytes: {text}");
        assert!(text.contains(&dir.join(DB_FILE).display().to_string()), "{text}");
        assert_eq!(std::fs::read(dir.join(DB_FILE)).unwrap(), bytes, "left untouched");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing added");
    }
}

#[test]
fn another_programs_redb_database_is_refused_and_left_untouched() {
    let (_tmp, dir) = fresh_dir();
    std::fs::create_dir_all(&dir).unwrap();
    {
        let db = redb::Database::create(dir.join(DB_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        let users: TableDefinition<&str, u64> = TableDefinition::new("users");
        txn.open_table(users).unwrap().insert("ann", 1).unwrap();
        txn.commit().unwrap();
    }
    let before = std::fs::read(dir.join(DB_FILE)).unwrap();
    let err = Store::open(&dir, &dev()).unwrap_err();
    assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
    assert!(err.to_string().contains("users"), "{err}");
    assert_eq!(std::fs::read(dir.join(DB_FILE)).unwrap(), before, "left untouched");
}

#[test]
fn a_directory_with_other_files_is_refused_and_an_empty_one_used() {
    let (_tmp, dir) = fresh_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let err = Store::open(&dir, &dev()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("notes.txt") && text.contains(&dir.display().to_string()), "{text}");
    assert!(!dir.join(DB_FILE).exists());
    // A path that is a file is refused too.
    let err = Store::open(&dir.join("notes.txt"), &dev()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    // An empty directory, and an empty database file (a creation cut short), are fine.
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    drop(Store::open(&dir, &dev()).unwrap());
    let (_tmp2, dir2) = fresh_dir();
    std::fs::create_dir_all(&dir2).unwrap();
    std::fs::write(dir2.join(DB_FILE), b"").unwrap();
    let store = Store::open(&dir2, &dev()).unwrap();
    assert_eq!(store.best_chain().unwrap(), vec![(0, dev().chain_id())]);
}

#[test]
fn a_store_in_use_is_refused() {
    let (_tmp, dir) = fresh_dir();
    let _store = Store::open(&dir, &dev()).unwrap();
    let err = Store::open(&dir, &dev()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
}

/// Writes raw bytes under a key of the blocks table, or removes the key.
fn poke_block(dir: &Path, key: BlockHash, bytes: Option<&[u8]>) {
    let db = redb::Database::open(dir.join(DB_FILE)).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(BLOCKS).unwrap();
        match bytes {
            Some(bytes) => drop(table.insert(*key.as_bytes(), bytes).unwrap()),
            None => drop(table.remove(*key.as_bytes()).unwrap()),
        }
    }
    txn.commit().unwrap();
}

#[test]
fn undecodable_or_mismatched_block_records_are_corrupt_naming_each_key() {
    let (_tmp, dir, node) = populated(6);
    let garbage_key = BlockHash::from_bytes([0xab; 32]);
    poke_block(&dir, garbage_key, Some(b"not a block at all"));
    // A real block under another block's key.
    let (b3, b4) = (node.state().chain().best_at(3).unwrap(), node.state().chain().best_at(4).unwrap());
    poke_block(&dir, b4.hash, Some(&b3.block().unwrap().to_bytes()));

    let store = Store::open(&dir, &dev()).expect("the database itself is fine");
    let err = store.load_blocks().unwrap_err();
    let StoreError::Corrupt { bad, .. } = &err else { panic!("{err}") };
    assert_eq!(bad.len(), 2);
    let text = err.to_string();
    assert!(text.contains(&garbage_key.to_hex()) && text.contains("do not decode"), "{text}");
    assert!(text.contains(&b4.hash.to_hex()) && text.contains(&format!("hashes to {}", b3.hash)), "{text}");
    drop(store);
    let err = restore(&dir).expect_err("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&garbage_key.to_hex()), "{err}");
    // Nothing was dropped: the bad records are still there.
    let store = Store::open(&dir, &dev()).unwrap();
    assert_eq!(store.get_block(&garbage_key).unwrap().as_deref(), Some(&b"not a block at all"[..]));
}

#[test]
fn blocks_that_do_not_validate_or_connect_refuse_the_restore() {
    // A missing block: its descendants do not connect.
    let (_tmp, dir, node) = populated(6);
    let gone = node.state().chain().best_at(3).unwrap().hash;
    poke_block(&dir, gone, None);
    let err = restore(&dir).expect_err("refused");
    let StoreError::Corrupt { bad, .. } = &err else { panic!("{err}") };
    assert_eq!(bad.len(), 3, "{err}");
    let child = node.state().chain().best_at(4).unwrap().hash;
    assert_eq!(bad[0].key, child.to_hex());
    assert!(bad[0].reason.contains(&format!("its parent {gone} is not stored")), "{err}");

    // A block whose posts do not match its header (stored under its header hash).
    let (_tmp, dir, node) = populated(4);
    let mut block = node.state().chain().best_at(2).unwrap().block().unwrap().as_ref().clone();
    block.posts[0].content.push('!');
    poke_block(&dir, block.hash(), Some(&block.to_bytes()));
    let err = restore(&dir).expect_err("refused");
    let text = err.to_string();
    assert!(text.contains(&block.hash().to_hex()) && text.contains("merkle root"), "{text}");

    // A clock behind the blocks.
    let (_tmp, dir, _node) = populated(3);
    let store = Store::open(&dir, &dev()).unwrap();
    let mut fresh = Driver::new(dev(), "t");
    let err = store.restore(&mut fresh, dev().genesis_timestamp_ms - 200_000).unwrap_err();
    assert!(err.to_string().contains("clock"), "{err}");
}

#[test]
fn a_stale_best_chain_is_a_warning_and_is_rewritten() {
    let (_tmp, dir, node) = populated(8);
    {
        let store = Store::open(&dir, &dev()).unwrap();
        store.persist(&[Change::BestChain { from_height: 5, hashes: vec![BlockHash::from_bytes([5; 32])] }]).unwrap();
    }
    let (store, restored, summary) = restore(&dir).unwrap();
    assert_eq!(restored.tip(), node.tip());
    let mismatch = summary.best_mismatch.expect("reported");
    assert_eq!(mismatch.first_difference, 5);
    assert_eq!(mismatch.stored, Some((5, BlockHash::from_bytes([5; 32]))));
    assert_eq!(mismatch.restored, (8, node.tip()));
    assert_eq!(store.best_chain().unwrap(), best_of(&node), "rewritten");
    drop(store);
    assert_eq!(restore(&dir).unwrap().2.best_mismatch, None);
}

#[test]
fn equal_work_branches_restore_to_the_lower_hash() {
    // Two one-block branches on genesis with the same work.
    let state = ChainState::new(dev());
    let a = next_block(&state, 0);
    let b = next_block(&state, 1);
    let (lower, higher) = if a.hash() < b.hash() { (&a, &b) } else { (&b, &a) };
    for stored_best in [lower, higher] {
        let (_tmp, dir) = fresh_dir();
        let store = Store::open(&dir, &dev()).unwrap();
        let kept = [
            block_change(&a),
            block_change(&b),
            Change::BestChain { from_height: 1, hashes: vec![stored_best.hash()] },
        ];
        store.persist(&kept).unwrap();
        drop(store);
        let (_store, node, summary) = restore(&dir).unwrap();
        assert_eq!(node.tip(), lower.hash());
        // A best chain kept before the tie-break (first seen stayed best):
        // a warning, and rewritten.
        assert_eq!(summary.best_mismatch.is_some(), stored_best == higher);
    }
}

#[test]
fn persisting_the_changes_follows_growth_reorgs_and_the_mempool() {
    let (_tmp, dir) = fresh_dir();
    let store = Store::open(&dir, &dev()).unwrap();
    let mut node = Driver::new(dev(), "t");
    for n in 0..4 {
        write_post(&mut node, &store, post("mine", n));
        assert_eq!(store.load_pending().unwrap(), vec![(post("mine", n), true)]);
        mine_and_persist(&mut node, &store, 1);
        assert_eq!(store.load_pending().unwrap(), vec![], "a mined post left the stored mempool");
    }
    assert_eq!(store.best_chain().unwrap(), best_of(&node));

    // A heavier branch from height 1 arrives from a peer: a reorg that
    // returns the posts of blocks 2..4 to the mempool (no longer as own posts).
    let mut other = ChainState::new(dev());
    let first = node.state().chain().best_at(1).unwrap().block().unwrap().clone();
    other.submit_block((*first).clone(), NOW).unwrap();
    // (Headers first: a lighter prefix alone would not be kept, so the
    // branch comes whole, as `/register_with` hands it over.)
    let mut branch = Vec::new();
    for _ in 0..5 {
        let block = next_block(&other, 7);
        other.submit_block(block.clone(), NOW).unwrap();
        branch.push(block);
    }
    let (outputs, result) = node.submit_blocks(branch, NOW);
    result.unwrap();
    store.persist(&changes(&outputs)).unwrap();
    assert_eq!(node.height(), 6);
    assert_eq!(store.best_chain().unwrap(), best_of(&node));
    let mut pending: Vec<TxId> = node.state().mempool().iter().map(|(id, _)| *id).collect();
    let mut stored_ids: Vec<TxId> = store.load_pending().unwrap().iter().map(|(p, _)| p.txid()).collect();
    pending.sort();
    stored_ids.sort();
    assert_eq!(stored_ids, pending);
    assert_eq!(pending.len(), 3, "the posts of blocks 2..4");
    assert!(store.load_pending().unwrap().iter().all(|(_, own)| !own));
    drop(store);

    let (_store, restored, summary) = restore(&dir).unwrap();
    assert_eq!((restored.tip(), summary.best_mismatch, summary.stored_blocks), (node.tip(), None, 9));
    assert_eq!(summary.report.pending_restored, pending.len());
}

#[test]
fn posts_confirmed_meanwhile_leave_the_stored_mempool_at_restore() {
    let (_tmp, dir) = fresh_dir();
    let store = Store::open(&dir, &dev()).unwrap();
    let mut node = Driver::new(dev(), "t");
    let p = post("x", 1);
    write_post(&mut node, &store, p.clone());
    mine_and_persist(&mut node, &store, 1);
    // A crash lost the removal of p, and x 2 was stored as own.
    let added = |p: &Post| Change::PendingAdded { tx_id: p.txid(), post: p.clone(), own: true };
    store.persist(&[added(&p), added(&post("x", 2))]).unwrap();
    drop(store);
    let (store, restored, summary) = restore(&dir).unwrap();
    assert_eq!((summary.report.pending_restored, summary.report.pending_confirmed), (1, 1));
    assert_eq!(restored.state().mempool().len(), 1);
    assert_eq!(store.load_pending().unwrap(), vec![(post("x", 2), true)]);
}

#[test]
fn a_damaged_file_is_an_error_not_a_panic() {
    let (_tmp, dir, _node) = populated(30);
    let path = dir.join(DB_FILE);
    let clean = std::fs::read(&path).unwrap();
    let mut failures = 0;
    // Overwrite 64 bytes in every 4 KiB page, one page at a time (header, tables, data, free space).
    for (i, offset) in (0..clean.len()).step_by(4096).map(|page| page + 512).enumerate() {
        let mut bytes = clean.clone();
        let end = (offset + 64).min(bytes.len());
        bytes[offset..end].copy_from_slice(&noise(end - offset, i as u64 + 1));
        std::fs::write(&path, &bytes).unwrap();
        match restore(&dir) {
            Ok((_, node, _)) => assert_eq!(node.height(), 30, "offset {offset}: opened, so it must be whole"),
            Err(e) => {
                failures += 1;
                let text = e.to_string();
                eprintln!("offset {offset}: {text}");
                assert!(text.contains(&path.display().to_string()) || text.contains("corrupt"), "{text}");
            }
        }
    }
    assert!(failures > 0, "some damage must be noticed");
}

// ---- kill -9 ------------------------------------------------------------------

fn parse_ack(line: &str) -> Option<(u64, BlockHash)> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[test]
fn acknowledged_blocks_survive_kill_9() {
    let (_tmp, dir) = fresh_dir();
    let mut acked: Vec<(u64, BlockHash)> = Vec::new();
    for (round, pause_ms) in [0u64, 1, 3, 0, 7].into_iter().enumerate() {
        let mut child = Command::new(CRASH_CHILD).arg(&dir).stdout(Stdio::piped()).spawn().expect("spawn the child");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let want = 30 + 20 * round;
        let mut seen = 0;
        while seen < want {
            let line = lines.next().expect("the child stopped early").unwrap();
            if let Some(ack) = parse_ack(&line) {
                acked.push(ack);
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(pause_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever it printed before dying was acknowledged too.
        acked.extend(lines.map_while(Result::ok).filter_map(|l| parse_ack(&l)));

        let (store, node, summary) = restore(&dir).expect("reopen after kill -9");
        assert_eq!(summary.best_mismatch, None);
        for (height, hash) in &acked {
            assert_eq!(node.state().chain().best_at(*height).map(|e| e.hash), Some(*hash), "round {round}");
            assert!(store.get_block(hash).unwrap().is_some());
        }
        assert!(node.height() >= acked.last().unwrap().0);
    }
    assert!(acked.len() >= 30 + 50 + 70 + 90 + 110);
}
