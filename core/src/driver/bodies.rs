//! Bodies kept out of memory: a driver with a body limit
//! ([`Driver::set_body_limit`], a browser tab) keeps only recent bodies and
//! asks its host for older ones when it needs them, through two outputs the
//! host carries out asynchronously:
//!
//! - [`Output::ServeBlocks`]: a `GetBlocks` whose answer is not all in
//!   memory; the host reads the blocks and hands them to
//!   [`Driver::send_blocks`], which sends the `Blocks` answer.
//! - [`Output::LoadBlocks`]: a block whose duplicate check needs post ids
//!   the limit dropped (a fork older than the post window); the host reads
//!   the blocks and hands them to [`Driver::blocks_loaded`], and the sync
//!   that needed them asks for its page again.
//!
//! A driver without a limit (the native node) answers from memory and never
//! gives either.

use super::Driver;
use super::messages::send_trimmed;
use super::output::{Event, Output};
use crate::block::Block;
use crate::chain::{BodyLimit, SYNC_PAGE_BYTES};
use crate::hash::BlockHash;
use crate::header::BlockHeader;
use crate::wire::{MAX_BLOCKS_PER_MESSAGE, Message, PeerId};

impl Driver {
    /// Keeps only the bodies `limit` allows in memory: the last blocks', within
    /// a byte budget (`None`: all, the default; see
    /// [`crate::chain::Chain::set_body_limit`]).
    /// The host must keep every block it is told to ([`super::Change::Block`]),
    /// as all hosts do, and carry out [`Output::ServeBlocks`] and
    /// [`Output::LoadBlocks`]. Set it before [`Driver::restore`].
    pub fn set_body_limit(&mut self, limit: Option<BodyLimit>) {
        self.state.set_body_limit(limit);
        self.state.trim_bodies();
    }

    /// Answers `asker`'s `GetBlocks`: from memory when every body of the
    /// page is there, else through the host ([`Output::ServeBlocks`]).
    pub(super) fn answer_get_blocks(&self, asker: PeerId, locator: &[BlockHash], limit: u32, out: &mut Vec<Output>) {
        let limit = (limit as usize).min(MAX_BLOCKS_PER_MESSAGE);
        let page = self.state.chain().page_after(locator, limit, SYNC_PAGE_BYTES);
        match page.iter().map(|entry| entry.block().map(|b| (**b).clone())).collect::<Option<Vec<Block>>>() {
            Some(blocks) => send_trimmed(asker, blocks, |blocks| Message::Blocks { blocks }, out),
            None => out.push(Output::ServeBlocks { to: asker, hashes: page.iter().map(|e| e.hash).collect() }),
        }
    }

    /// The host's answer to [`Output::ServeBlocks`]: the blocks' bytes, in
    /// the order asked. Sends `Blocks` to `to` with the blocks up to the
    /// first that does not decode (trimmed to fit one message, as every
    /// answer); nothing but an [`Event::SendFailed`] when there is none.
    /// Changes no state.
    pub fn send_blocks(&self, to: PeerId, blocks: Vec<Vec<u8>>) -> Vec<Output> {
        let asked = blocks.len();
        let blocks: Vec<Block> = blocks.iter().map_while(|bytes| Block::from_bytes(bytes).ok()).collect();
        let mut out = Vec::new();
        if blocks.is_empty() && asked > 0 {
            let reason = format!("none of the {asked} blocks peer {to} asked for could be read from storage");
            out.push(Output::Event(Event::SendFailed { kind: "Blocks".to_owned(), reason }));
        } else {
            send_trimmed(to, blocks, |blocks| Message::Blocks { blocks }, &mut out);
        }
        out
    }

    /// The host's answer to [`Output::LoadBlocks`]: the blocks' bytes, any
    /// order. Their post ids stay in memory until the sync ends, and a sync
    /// that waited for them asks for its page again; if none of them was
    /// needed any more or could be used, that sync is given up (storage
    /// does not have what the check needs: asking again would not help).
    pub fn blocks_loaded(&mut self, blocks: Vec<Vec<u8>>, now_ms: u64) -> Vec<Output> {
        let before = self.tip();
        let mut out = Vec::new();
        let mut loaded = 0usize;
        for bytes in blocks {
            if let Ok(block) = Block::from_bytes(&bytes)
                && self.state.load_txids(&block)
            {
                loaded += 1;
            }
        }
        self.sync_loaded(loaded, now_ms, &mut out);
        self.finish(before, &mut out);
        out
    }

    /// A block with this header could not be checked for want of old post
    /// ids: asks the host for the blocks that hold them. Returns whether
    /// there were any to ask for.
    pub(super) fn load_for(&self, header: &BlockHeader, out: &mut Vec<Output>) -> bool {
        let hashes = self.state.chain().txids_missing_for(&header.prev_hash, header.timestamp_ms);
        let any = !hashes.is_empty();
        if any {
            out.push(Output::LoadBlocks { hashes });
        }
        any
    }
}
