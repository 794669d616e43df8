//! The child process of the store's kill -9 test (`node/tests/store.rs`),
//! built only with the `test-util` feature: opens the store in the directory
//! given as its one argument, restores it, then mines and commits dev blocks
//! forever, printing `ack HEIGHT HASH` after each commit returns. The test
//! kills it at random moments and checks that every acknowledged block is
//! still there.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use tabchain_core::driver::{Driver, Output};
use tabchain_core::post::Post;
use tabchain_core::testkit::{NOW, dev, next_mined_block, stamped};
use tabchain_node::store::Store;

fn main() -> Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        bail!("usage: store-crash-child DATA_DIR");
    };
    let store = Store::open(&dir, &dev()).context("opening the store")?;
    let mut driver = Driver::new(dev(), "store-crash-child");
    store.restore(&mut driver, NOW).context("restoring")?;
    let mut out = std::io::stdout().lock();
    loop {
        let height = driver.height() + 1;
        // One post of varying size per block, so blocks and the mempool change.
        let content = format!("block {height} {}", "x".repeat((height as usize * 37) % 900));
        let post = stamped(Post::new("child", &content, 1_795_564_800_000 + height)?);
        let (_, mut outputs) = driver.submit_own_post(post, NOW)?;
        let block = next_mined_block(&mut driver, 0);
        outputs.extend(driver.submit_mined(block, NOW)?);
        let changes: Vec<_> = outputs.into_iter().filter_map(Output::into_change).collect();
        store.persist(&changes).context("persisting")?;
        writeln!(out, "ack {} {}", driver.height(), driver.tip())?;
        out.flush()?;
    }
}
