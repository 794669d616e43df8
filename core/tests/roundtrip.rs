//! Round trips of every encoding (binary and JSON) over arbitrary values, and
//! decoders fed arbitrary bytes never panicking.

use proptest::prelude::*;
use tabchain_core::block::Block;
use tabchain_core::hash::{BlockHash, MerkleRoot};
use tabchain_core::header::BlockHeader;
use tabchain_core::json::{MAX_TIMESTAMP_MS, ms_to_seconds, seconds_to_ms};
use tabchain_core::post::{Post, PostSignature};
use tabchain_core::stamp::Stamp;
use tabchain_core::target::{CompactTarget, Work};
use tabchain_core::testkit::dev_chain_id;
use tabchain_core::wire::{self, Envelope, ErrorCode, Message, PeerId};

/// Characters that stress JSON escaping and UTF-8: quotes, backslashes,
/// newlines, control characters, multi-byte and astral characters.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        2 => prop::sample::select(vec!['"', '\\', '\n', '\r', '\t', '/', '\u{0}', '\u{1f}', '\u{7f}', '\u{2028}']),
        2 => any::<char>(),
        1 => prop::sample::select(vec!['é', '日', 'ß', '😀', '\u{10ffff}', '\u{feff}']),
    ]
}

fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 1..=max_chars).prop_map(|chars| chars.into_iter().collect())
}

fn timestamp() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..=MAX_TIMESTAMP_MS,
        1 => 1_600_000_000_000u64..2_000_000_000_000,
        1 => prop::sample::select(vec![0, 1, 999, 1_000, MAX_TIMESTAMP_MS - 1, MAX_TIMESTAMP_MS]),
    ]
}

/// Posts with any field contents; signed ones carry arbitrary key and
/// signature bytes (the encodings do not check signatures).
fn post() -> impl Strategy<Value = Post> {
    post_with(1_000)
}

/// [`post`] with at most `max_content` characters of content: blocks hold
/// several posts, and generating long texts dominates the run time.
fn post_with(max_content: usize) -> impl Strategy<Value = Post> {
    let signature =
        prop::option::of((any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 64)).prop_map(|(public_key, sig)| {
            let mut signature = [0u8; 64];
            signature.copy_from_slice(&sig);
            PostSignature { public_key, signature }
        }));
    (text(64), text(max_content), timestamp(), signature, any::<(u32, u64)>()).prop_map(
        |(author, content, timestamp_ms, signature, (bits, nonce))| Post {
            author,
            content,
            timestamp_ms,
            signature,
            stamp: Stamp { bits: CompactTarget(bits), nonce },
        },
    )
}

/// Really signed posts with text the post rules accept.
fn signed_post() -> impl Strategy<Value = Post> {
    ("[a-zA-Z0-9_ éü日]{0,63}[a-z]", "[a-z\"\\\\\n日😀 ]{0,200}[a-z]", timestamp(), any::<[u8; 32]>()).prop_map(
        |(author, content, ts, secret)| {
            Post::new_signed(&author, &content, ts, &secret, &dev_chain_id())
                .expect("strategy makes rule-abiding posts")
        },
    )
}

fn hash() -> impl Strategy<Value = BlockHash> {
    any::<[u8; 32]>().prop_map(BlockHash::from_bytes)
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (any::<u32>(), any::<u64>(), hash(), any::<[u8; 32]>(), timestamp(), any::<u32>(), any::<u64>()).prop_map(
        |(version, height, prev_hash, root, timestamp_ms, bits, nonce)| BlockHeader {
            version,
            height,
            prev_hash,
            merkle_root: MerkleRoot::from_bytes(root),
            timestamp_ms,
            bits: CompactTarget(bits),
            nonce,
        },
    )
}

fn block() -> impl Strategy<Value = Block> {
    (header(), prop::collection::vec(post_with(100), 0..=5)).prop_map(|(header, posts)| Block { header, posts })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (hash(), any::<u32>(), text(wire::MAX_AGENT_CHARS), any::<u64>(), hash(), any::<[u8; 32]>()).prop_map(
            |(chain_id, protocol, agent, best_height, best_hash, work)| Message::Hello {
                chain_id,
                protocol,
                agent,
                best_height,
                best_hash,
                total_work: Work::from_hex(&hex::encode(work)).expect("64 hex digits"),
            }
        ),
        post().prop_map(|tx| Message::Tx { tx }),
        block().prop_map(|block| Message::Block { block }),
        (prop::collection::vec(hash(), 0..=wire::MAX_LOCATOR_HASHES), 1..=wire::MAX_BLOCKS_PER_MESSAGE as u32)
            .prop_map(|(locator, limit)| Message::GetBlocks { locator, limit }),
        prop::collection::vec(block(), 0..3).prop_map(|blocks| Message::Blocks { blocks }),
        Just(Message::GetMempool {}),
        prop::collection::vec(post_with(100), 0..5).prop_map(|txs| Message::Mempool { txs }),
        any::<u64>().prop_map(|nonce| Message::Ping { nonce }),
        any::<u64>().prop_map(|nonce| Message::Pong { nonce }),
        (
            prop::sample::select([ErrorCode::KNOWN.as_slice(), &[ErrorCode::Unknown]].concat()),
            prop::option::of(text(wire::MAX_ERROR_MESSAGE_CHARS)),
        )
            .prop_map(|(code, message)| Message::Error { code, message: message.unwrap_or_default() }),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (prop::option::of(any::<u64>()), prop::option::of(any::<u64>()), message())
        .prop_map(|(from, to, message)| Envelope { from: from.map(PeerId), to: to.map(PeerId), message })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn timestamp_survives_json_text(ms in 0..=MAX_TIMESTAMP_MS) {
        let text = serde_json::to_string(&ms_to_seconds(ms).unwrap()).unwrap();
        let seconds: f64 = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(seconds_to_ms(seconds), Ok(ms), "{}", text);
    }

    #[test]
    fn header_binary_round_trip(h in header()) {
        prop_assert_eq!(BlockHeader::from_bytes(&h.to_bytes()), Ok(h));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn post_round_trips(p in post()) {
        let bytes = p.to_bytes();
        prop_assert_eq!(bytes.len(), p.encoded_len());
        prop_assert_eq!(Post::from_bytes(&bytes), Ok(p.clone()));
        let text = serde_json::to_string(&p).unwrap();
        prop_assert_eq!(serde_json::from_str::<Post>(&text).unwrap(), p);
    }

    #[test]
    fn block_round_trips(b in block()) {
        let bytes = b.to_bytes();
        prop_assert_eq!(bytes.len(), b.encoded_len());
        prop_assert_eq!(Block::from_bytes(&bytes), Ok(b.clone()));
        let text = serde_json::to_string(&b).unwrap();
        prop_assert_eq!(serde_json::from_str::<Block>(&text).unwrap(), b);
    }

    #[test]
    fn envelope_round_trips(e in envelope()) {
        let text = wire::encode(&e).unwrap();
        prop_assert_eq!(wire::decode(&text), Ok(e.clone()));
        prop_assert_eq!(wire::decode_bytes(text.as_bytes()), Ok(e));
    }

    /// Truncated or corrupted messages give errors or other messages, never panics.
    #[test]
    fn decode_survives_damaged_messages(e in envelope(), cut in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let text = wire::encode(&e).unwrap();
        let mut bytes = text.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = wire::decode_bytes(&bytes);
        bytes.truncate(cut.index(bytes.len()));
        let _ = wire::decode_bytes(&bytes);
    }

    #[test]
    fn damaged_binary_never_panics(b in block(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = b.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = Block::from_bytes(&bytes);
        let _ = Post::from_bytes(&bytes[HEADER_AND_COUNT.min(bytes.len())..]);
    }
}

const HEADER_AND_COUNT: usize = 100;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn signed_posts_round_trip_and_still_verify(p in signed_post()) {
        prop_assert_eq!(Post::from_bytes(&p.to_bytes()), Ok(p.clone()));
        let back: Post = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        prop_assert!(back.verify_signature(&dev_chain_id()).is_ok());
        prop_assert_eq!(back, p);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn decoders_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = Block::from_bytes(&bytes);
        let _ = Post::from_bytes(&bytes);
        let _ = BlockHeader::from_bytes(&bytes);
        let _ = wire::decode_bytes(&bytes);
    }

    #[test]
    fn decode_never_panics_on_json_like_text(text in "[{}\\[\\]\":,0-9a-zA-Z_ .eE+\\-\\\\]{0,300}") {
        let _ = wire::decode(&text);
        let _ = serde_json::from_str::<Block>(&text);
        let _ = serde_json::from_str::<Post>(&text);
    }
}
