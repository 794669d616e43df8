//! The tree's slots, in chunks of a fixed size: a `Vec` of entries would
//! double its capacity as the chain grows (up to twice the memory it needs,
//! and both buffers at once while it copies), which in a browser tab's wasm
//! memory, that never shrinks, is the largest cost of a long chain.

use super::BlockEntry;
use std::ops::{Index, IndexMut};

/// Slots per chunk (about a megabyte of entries).
const CHUNK: usize = 4_096;

/// Entries by slot number, stored in chunks of [`CHUNK`].
#[derive(Clone, Debug, Default)]
pub(super) struct Entries {
    chunks: Vec<Vec<BlockEntry>>,
    len: usize,
}

impl Entries {
    /// Slots in use or freed (the next new slot's number).
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Adds a slot at the end.
    pub(super) fn push(&mut self, entry: BlockEntry) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.push(entry);
            self.len += 1;
        }
    }
}

impl Index<usize> for Entries {
    type Output = BlockEntry;

    fn index(&self, index: usize) -> &BlockEntry {
        &self.chunks[index / CHUNK][index % CHUNK]
    }
}

impl IndexMut<usize> for Entries {
    fn index_mut(&mut self, index: usize) -> &mut BlockEntry {
        &mut self.chunks[index / CHUNK][index % CHUNK]
    }
}
