//! What the fuzz targets share: the round trips every decoded block and post
//! must survive, and the record framing of the `stored` target.

use tabchain_core::block::{Block, MAX_DECODE_POSTS};
use tabchain_core::json::MAX_TIMESTAMP_MS;
use tabchain_core::post::Post;

/// A decoded block survives its binary encoding, and its JSON view when
/// every time in it is showable.
pub fn assert_block_round_trips(block: &Block) {
    // The JSON view leaves the post count to validation; the binary
    // decoder reads at most MAX_DECODE_POSTS.
    if block.posts.len() <= MAX_DECODE_POSTS {
        let bytes = block.to_bytes();
        assert_eq!(bytes.len(), block.encoded_len(), "encoded_len is the encoding's length");
        assert_eq!(&Block::from_bytes(&bytes).expect("an encoded block decodes"), block);
    }
    let showable = block.header.timestamp_ms <= MAX_TIMESTAMP_MS
        && block.posts.iter().all(|post| post.timestamp_ms <= MAX_TIMESTAMP_MS);
    match serde_json::to_string(block) {
        Ok(text) => {
            assert!(showable, "a block with a time past the JSON view's range was written: {text}");
            let back: Block = serde_json::from_str(&text).expect("a block's JSON view decodes");
            assert_eq!(&back, block, "the JSON view round-trips: {text}");
        }
        Err(e) => assert!(!showable, "a showable block did not serialize: {e}"),
    }
}

/// A decoded post survives its binary encoding, and its JSON view when its
/// time is showable.
pub fn assert_post_round_trips(post: &Post) {
    let bytes = post.to_bytes();
    assert_eq!(bytes.len(), post.encoded_len(), "encoded_len is the encoding's length");
    assert_eq!(&Post::from_bytes(&bytes).expect("an encoded post decodes"), post);
    assert_eq!(post.txid(), Post::from_bytes(&bytes).expect("decodes").txid());
    match serde_json::to_string(post) {
        Ok(text) => {
            assert!(post.timestamp_ms <= MAX_TIMESTAMP_MS, "a post past the JSON view's range was written: {text}");
            let back: Post = serde_json::from_str(&text).expect("a post's JSON view decodes");
            assert_eq!(&back, post, "the JSON view round-trips: {text}");
        }
        Err(e) => assert!(post.timestamp_ms > MAX_TIMESTAMP_MS, "a showable post did not serialize: {e}"),
    }
}

/// The `stored` target's input: records, each a kind byte, a little-endian
/// `u16` length and that many bytes (a last short record takes what is left);
/// `core/examples/fuzz_seeds.rs` writes its seeds so.
pub mod records {
    /// A kept block's bytes (`Saved::blocks`, the native store's `blocks`
    /// table, the page's IndexedDB `blocks` store).
    pub const BLOCK: u8 = 0;
    /// A kept pending post of another node (`SavedPost { own: false }`).
    pub const POST: u8 = 1;
    /// A kept own post (`SavedPost { own: true }`).
    pub const OWN_POST: u8 = 2;

    /// Splits `data` into `(kind, bytes)` records.
    pub fn split(mut data: &[u8]) -> Vec<(u8, &[u8])> {
        let mut out = Vec::new();
        while let [kind, rest @ ..] = data {
            let (len, rest) = match rest {
                [lo, hi, rest @ ..] => (u16::from_le_bytes([*lo, *hi]) as usize, rest),
                _ => (rest.len(), &rest[rest.len()..]),
            };
            let len = len.min(rest.len());
            out.push((*kind, &rest[..len]));
            data = &rest[len..];
        }
        out
    }
}
