//! The announced blocks: valid dev-network blocks of about [`TARGET_TEXT_BYTES`]
//! of wire text each, mined and encoded once before any server starts, so the
//! load generator only clones shared text while measuring.
//!
//! Every block is distinct (its post carries the block's sequence number, so
//! Merkle root and hash differ): the relay drops repeats of a recently seen
//! hash. The sequence number is written as [`SEQ_MARKER`] followed by
//! [`SEQ_DIGITS`] decimal digits, which a receiver finds with a substring
//! search to time the block's delivery.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use tabchain_core::hash::BlockHash;
use tabchain_core::post::Post;
use tabchain_core::testkit::{block_on_at, dev_chain_id, stamped};
use tabchain_core::wire::{Envelope, Message, encode};
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Size of one announcement's JSON text the blocks are padded to.
pub const TARGET_TEXT_BYTES: usize = 600;
/// Written in front of the sequence number in each block's post.
pub const SEQ_MARKER: &str = "bench-seq:";
/// Decimal digits of the sequence number (zero-padded).
pub const SEQ_DIGITS: usize = 8;

/// `count` distinct, valid dev blocks as encoded `Block` announcements; the
/// block at index `i` carries sequence number `i`.
pub fn generate(count: usize) -> Result<Vec<Utf8Bytes>> {
    if count == 0 || count >= 10usize.pow(SEQ_DIGITS as u32) {
        bail!("the block count must be between 1 and {}", 10usize.pow(SEQ_DIGITS as u32) - 1);
    }
    let now_ms =
        SystemTime::now().duration_since(UNIX_EPOCH).context("the system clock is before 1970")?.as_millis() as u64;
    let base = Template { parent: dev_chain_id(), now_ms, filler: String::new() };
    // Pad the post so the whole announcement is about TARGET_TEXT_BYTES long.
    let bare = base.text(0)?.len();
    let template = Template { filler: "x".repeat(TARGET_TEXT_BYTES.saturating_sub(bare)), ..base };

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads);
    let parts: Vec<Result<Vec<Utf8Bytes>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let template = &template;
                scope.spawn(move || (start..(start + chunk).min(count)).map(|seq| template.text(seq)).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("block generator panicked"))))
            .collect()
    });
    let mut blocks = Vec::with_capacity(count);
    for part in parts {
        blocks.extend(part?);
    }
    Ok(blocks)
}

/// What every generated block shares.
struct Template {
    parent: BlockHash,
    now_ms: u64,
    filler: String,
}

impl Template {
    /// The mined block with sequence number `seq`, as announcement text: a
    /// dev block on genesis (at height `seq + 1`, which the relay does not
    /// check) holding one post.
    fn text(&self, seq: usize) -> Result<Utf8Bytes> {
        let content = format!("{SEQ_MARKER}{seq:0width$} relay benchmark block {}", self.filler, width = SEQ_DIGITS);
        let post = stamped(Post::new("relay-bench", &content, self.now_ms).context("building a benchmark post")?);
        let block = block_on_at(self.parent, seq as u64 + 1, self.now_ms, vec![post]);
        let text = encode(&Envelope::broadcast(Message::Block { block })).context("encoding a benchmark block")?;
        Ok(text.into())
    }
}

/// The sequence number in an announcement's text, if it carries one.
pub fn sequence_number(text: &str) -> Option<usize> {
    let start = text.find(SEQ_MARKER)? + SEQ_MARKER.len();
    text.get(start..start + SEQ_DIGITS)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tabchain_core::params::{Network, Params};
    use tabchain_core::wire::decode;

    #[test]
    fn blocks_are_valid_distinct_and_numbered() {
        let blocks = generate(20).unwrap();
        let params = Params::for_network(Network::Dev);
        let mut hashes = std::collections::HashSet::new();
        for (i, text) in blocks.iter().enumerate() {
            assert!((TARGET_TEXT_BYTES - 10..=TARGET_TEXT_BYTES + 10).contains(&text.len()), "{}", text.len());
            assert!(text.starts_with(r#"{"type":"Block""#), "{text}");
            assert_eq!(sequence_number(text), Some(i));
            let Message::Block { block } = decode(text).unwrap().message else { panic!("not a block: {text}") };
            assert_eq!(block.header.merkle_root, block.compute_merkle_root());
            assert_eq!(block.header.bits, params.easiest_bits);
            assert!(block.header.bits.to_target().unwrap().is_met_by(&block.hash()));
            assert!(hashes.insert(block.hash()));
        }
    }
}
