//! The wire format (`tabchain_core::wire`): every message's JSON pinned, the
//! limits enforced both ways, and garbage refused without panicking.

use tabchain_core::block::Block;
use tabchain_core::hash::BlockHash;
use tabchain_core::header::BlockHeader;
use tabchain_core::merkle::merkle_root;
use tabchain_core::params::Network;
use tabchain_core::post::Post;
use tabchain_core::target::{CompactTarget, Work};
use tabchain_core::wire::*;

fn post() -> Post {
    Post::new("alice", "hello", 1_700_000_000_123).unwrap()
}

fn block(height: u64) -> Block {
    let posts = vec![post()];
    Block {
        header: BlockHeader {
            version: 1,
            height,
            prev_hash: BlockHash::from_bytes([0x11; 32]),
            merkle_root: merkle_root(&[posts[0].txid()]),
            timestamp_ms: 1_700_000_000_500,
            bits: CompactTarget(0x207f_ffff),
            nonce: 9,
        },
        posts,
    }
}

fn round_trip(envelope: &Envelope) -> String {
    let text = encode(envelope).unwrap();
    assert_eq!(&decode(&text).unwrap(), envelope, "{text}");
    text
}

fn msg(message: Message) -> String {
    round_trip(&Envelope::broadcast(message))
}

#[test]
fn hello_format_is_pinned() {
    let text = msg(Message::Hello {
        chain_id: BlockHash::from_bytes([0xaa; 32]),
        protocol: PROTOCOL_VERSION,
        agent: "tabchain/0.1.0".into(),
        best_height: 12,
        best_hash: BlockHash::from_bytes([0xbb; 32]),
        total_work: CompactTarget(0x207f_ffff).to_target().unwrap().work(),
    });
    let (aa, bb, work) = ("aa".repeat(32), "bb".repeat(32), format!("{}02", "0".repeat(62)));
    assert_eq!(
        text,
        format!(
            r#"{{"type":"Hello","chain_id":"{aa}","protocol":2,"agent":"tabchain/0.1.0","best_height":12,"best_hash":"{bb}","total_work":"{work}"}}"#
        )
    );
}

fn peer_info(id: u64, agent: &str) -> PeerInfo {
    PeerInfo::new(PeerId(id), agent.into(), 3, Work::ZERO)
}

#[test]
fn welcome_and_peer_joined_formats_are_pinned() {
    let text = msg(Message::Welcome {
        peer_id: PeerId(5),
        network: Network::Dev,
        chain_id: BlockHash::from_bytes([0xcc; 32]),
        peers: vec![peer_info(2, "tabchain-node/0.1.0")],
    });
    let (cc, zero) = ("cc".repeat(32), "0".repeat(64));
    assert_eq!(
        text,
        format!(
            r#"{{"type":"Welcome","peer_id":5,"network":"dev","chain_id":"{cc}","peers":[{{"id":2,"agent":"tabchain-node/0.1.0","best_height":3,"total_work":"{zero}"}}]}}"#
        )
    );
    assert_eq!(
        msg(Message::PeerJoined { peer: peer_info(4, "t") }),
        format!(r#"{{"type":"PeerJoined","peer":{{"id":4,"agent":"t","best_height":3,"total_work":"{zero}"}}}}"#)
    );
    assert!(decode(&text.replace(r#""dev""#, r#""test""#)).is_err());
}

#[test]
fn peer_list_formats_are_pinned_and_bounded() {
    assert_eq!(msg(Message::GetPeers {}), r#"{"type":"GetPeers"}"#);
    let zero = "0".repeat(64);
    let listed = PeerInfo { relay: Some("east-1".into()), last_block_secs: Some(12), ..peer_info(9, "n") };
    let text = msg(Message::Peers { peers: vec![listed.clone(), peer_info(2, "t")] });
    assert_eq!(
        text,
        format!(
            r#"{{"type":"Peers","peers":[{{"id":9,"agent":"n","best_height":3,"total_work":"{zero}","relay":"east-1","last_block_secs":12}},{{"id":2,"agent":"t","best_height":3,"total_work":"{zero}"}}]}}"#
        )
    );
    assert_eq!(decode(&text).unwrap().message, Message::Peers { peers: vec![listed.clone(), peer_info(2, "t")] });
    // The new fields are optional when reading, as older relays leave them out.
    let joined =
        format!(r#"{{"type":"PeerJoined","peer":{{"id":4,"agent":"t","best_height":3,"total_work":"{zero}"}}}}"#);
    assert_eq!(decode(&joined).unwrap().message, Message::PeerJoined { peer: peer_info(4, "t") });
    let long_relay = PeerInfo { relay: Some("r".repeat(tabchain_core::wire::MAX_RELAY_NAME_CHARS + 1)), ..listed };
    let over = Message::Peers { peers: vec![long_relay] };
    assert!(matches!(tabchain_core::wire::encode(&Envelope::broadcast(over)), Err(WireError::TooLong { .. })));
    let too_many = Message::Peers { peers: vec![peer_info(1, "a"); tabchain_core::wire::MAX_PEERS_PER_MESSAGE + 1] };
    assert!(matches!(tabchain_core::wire::encode(&Envelope::broadcast(too_many)), Err(WireError::TooMany { .. })));
}

#[test]
fn tx_format_is_pinned_with_from() {
    let envelope = Envelope { from: Some(PeerId(7)), to: None, message: Message::Tx { tx: post() } };
    assert_eq!(
        round_trip(&envelope),
        concat!(
            r#"{"from":7,"type":"Tx","tx":{"author":"alice","content":"hello","timestamp":1700000000.123,"#,
            r#""stamp_target":"00000000","stamp_nonce":0}}"#
        )
    );
    // Field order does not matter when reading.
    let reordered = concat!(
        r#"{"tx":{"stamp_nonce":0,"timestamp":1700000000.123,"content":"hello","stamp_target":"00000000","#,
        r#""author":"alice"},"type":"Tx","from":7}"#
    );
    assert_eq!(decode(reordered).unwrap(), envelope);
}

#[test]
fn get_blocks_format_is_pinned() {
    let text = msg(Message::GetBlocks { locator: vec![BlockHash::from_bytes([1; 32]), BlockHash::ZERO], limit: 500 });
    assert_eq!(
        text,
        format!(r#"{{"type":"GetBlocks","locator":["{}","{}"],"limit":500}}"#, "01".repeat(32), "00".repeat(32))
    );
}

#[test]
fn every_other_message_round_trips() {
    let b = block(5);
    let text = msg(Message::Block { block: b.clone() });
    assert!(text.starts_with(r#"{"type":"Block","block":{"index":5,"transactions":[{"author":"alice""#), "{text}");
    assert!(text.contains(&format!(r#""hash":"{}""#, b.hash())), "{text}");
    assert_eq!(msg(Message::Blocks { blocks: vec![] }), r#"{"type":"Blocks","blocks":[]}"#);
    msg(Message::Blocks { blocks: vec![block(1), block(2)] });
    assert_eq!(msg(Message::GetMempool {}), r#"{"type":"GetMempool"}"#);
    assert_eq!(msg(Message::PeerLeft { peer_id: PeerId(9) }), r#"{"type":"PeerLeft","peer_id":9}"#);
    assert_eq!(msg(Message::Mempool { txs: vec![] }), r#"{"type":"Mempool","txs":[]}"#);
    msg(Message::Mempool { txs: vec![post(), post()] });
    assert_eq!(msg(Message::Ping { nonce: u64::MAX }), r#"{"type":"Ping","nonce":18446744073709551615}"#);
    assert_eq!(msg(Message::Pong { nonce: 0 }), r#"{"type":"Pong","nonce":0}"#);
    assert_eq!(
        msg(Message::Error { code: ErrorCode::RateLimited, message: "slow down".into() }),
        r#"{"type":"Error","code":"rate_limited","message":"slow down"}"#
    );
}

#[test]
fn error_codes_are_snake_case_and_unknown_ones_are_kept_apart() {
    for code in ErrorCode::KNOWN {
        assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{code}\""));
        assert_eq!(serde_json::from_str::<ErrorCode>(&format!("\"{code}\"")).unwrap(), code);
    }
    let env = decode(r#"{"type":"Error","code":"out_of_coffee","message":""}"#).unwrap();
    assert_eq!(env.message, Message::Error { code: ErrorCode::Unknown, message: String::new() });
}

#[test]
fn envelope_addresses() {
    let env = Envelope { from: Some(PeerId(3)), to: Some(PeerId(u64::MAX)), message: Message::Ping { nonce: 1 } };
    assert_eq!(round_trip(&env), r#"{"from":3,"to":18446744073709551615,"type":"Ping","nonce":1}"#);
    let to = Envelope::to(PeerId(4), Message::GetMempool {});
    assert_eq!(round_trip(&to), r#"{"to":4,"type":"GetMempool"}"#);
    let nulls = decode(r#"{"type":"Ping","nonce":1,"from":null,"to":null}"#).unwrap();
    assert_eq!(nulls, Envelope::broadcast(Message::Ping { nonce: 1 }));
    assert!(decode(r#"{"type":"Ping","nonce":1,"from":-1}"#).is_err());
    assert!(decode(r#"{"type":"Ping","nonce":1,"from":"7"}"#).is_err());
    // Unknown fields are ignored.
    let extra = decode(r#"{"type":"Ping","nonce":1,"version":9,"x":{"y":[1,2]}}"#).unwrap();
    assert_eq!(extra.message, Message::Ping { nonce: 1 });
}

fn hashes(n: usize) -> Vec<BlockHash> {
    (0..n).map(|i| BlockHash::from_bytes([i as u8; 32])).collect()
}

fn assert_refused(message: Message, expected: WireError) {
    let envelope = Envelope::broadcast(message);
    assert_eq!(encode(&envelope), Err(expected.clone()));
    let text = serde_json::to_string(&envelope).unwrap();
    assert_eq!(decode(&text), Err(expected));
}

#[test]
fn list_and_text_limits_are_enforced_both_ways() {
    let max = MAX_LOCATOR_HASHES;
    msg(Message::GetBlocks { locator: hashes(max), limit: 1 });
    assert_refused(
        Message::GetBlocks { locator: hashes(max + 1), limit: 1 },
        WireError::TooMany { what: "GetBlocks locator", len: max + 1, max },
    );
    for limit in [0, MAX_BLOCKS_PER_MESSAGE as u32 + 1, u32::MAX] {
        let envelope = Envelope::broadcast(Message::GetBlocks { locator: vec![], limit });
        assert!(matches!(encode(&envelope), Err(WireError::Invalid { what: "GetBlocks limit", .. })));
        let text = serde_json::to_string(&envelope).unwrap();
        assert!(matches!(decode(&text), Err(WireError::Invalid { what: "GetBlocks limit", .. })));
    }
    let agent = "é".repeat(MAX_AGENT_CHARS);
    let hello = |agent: String| Message::Hello {
        chain_id: BlockHash::ZERO,
        protocol: 1,
        agent,
        best_height: 0,
        best_hash: BlockHash::ZERO,
        total_work: Work::ZERO,
    };
    msg(hello(agent.clone()));
    assert_refused(
        hello(agent + "x"),
        WireError::TooLong { what: "Hello agent", len: MAX_AGENT_CHARS + 1, max: MAX_AGENT_CHARS },
    );
    let error = |message: String| Message::Error { code: ErrorCode::Internal, message };
    msg(error("x".repeat(MAX_ERROR_MESSAGE_CHARS)));
    assert_refused(
        error("x".repeat(MAX_ERROR_MESSAGE_CHARS + 1)),
        WireError::TooLong { what: "Error message", len: MAX_ERROR_MESSAGE_CHARS + 1, max: MAX_ERROR_MESSAGE_CHARS },
    );
    let welcome = |peers: Vec<PeerInfo>| Message::Welcome {
        peer_id: PeerId(1),
        network: Network::Main,
        chain_id: BlockHash::ZERO,
        peers,
    };
    msg(welcome(vec![peer_info(1, "a"); MAX_PEERS_PER_MESSAGE]));
    assert_refused(
        welcome(vec![peer_info(1, "a"); MAX_PEERS_PER_MESSAGE + 1]),
        WireError::TooMany { what: "Welcome peers", len: MAX_PEERS_PER_MESSAGE + 1, max: MAX_PEERS_PER_MESSAGE },
    );
    let long_agent = "x".repeat(MAX_AGENT_CHARS + 1);
    let too_long = WireError::TooLong { what: "peer agent", len: MAX_AGENT_CHARS + 1, max: MAX_AGENT_CHARS };
    assert_refused(welcome(vec![peer_info(1, &long_agent)]), too_long.clone());
    assert_refused(Message::PeerJoined { peer: peer_info(1, &long_agent) }, too_long);
    let txs = vec![post(); MAX_TXS_PER_MESSAGE + 1];
    assert_refused(
        Message::Mempool { txs },
        WireError::TooMany { what: "Mempool txs", len: MAX_TXS_PER_MESSAGE + 1, max: MAX_TXS_PER_MESSAGE },
    );
    let blocks = vec![block(1); MAX_BLOCKS_PER_MESSAGE + 1];
    assert_refused(
        Message::Blocks { blocks },
        WireError::TooMany { what: "Blocks blocks", len: MAX_BLOCKS_PER_MESSAGE + 1, max: MAX_BLOCKS_PER_MESSAGE },
    );
}

#[test]
fn size_limit_is_checked_before_parsing() {
    let padded = format!("{}{}", r#"{"type":"Ping","nonce":1}"#, " ".repeat(MAX_MESSAGE_BYTES));
    let len = padded.len();
    assert_eq!(decode(&padded), Err(WireError::TooLarge { len, max: MAX_MESSAGE_BYTES }));
    assert_eq!(decode_bytes(padded.as_bytes()), Err(WireError::TooLarge { len, max: MAX_MESSAGE_BYTES }));
    // Whitespace up to the limit is fine.
    let fits = format!("{}{}", r#"{"type":"Ping","nonce":1}"#, " ".repeat(MAX_MESSAGE_BYTES - 25));
    assert_eq!(fits.len(), MAX_MESSAGE_BYTES);
    assert!(decode(&fits).is_ok());
    // A Blocks answer that would not fit is refused on encode.
    let big = Post::new("a", &"x".repeat(1_000), 1).unwrap();
    let mut fat = block(1);
    fat.posts = vec![big; 1_000];
    let blocks = vec![fat; 3];
    assert!(matches!(encode(&Envelope::broadcast(Message::Blocks { blocks })), Err(WireError::TooLarge { .. })));
}

#[test]
fn garbage_gives_errors() {
    for text in [
        "",
        "null",
        "[]",
        "7",
        "\"Ping\"",
        "{",
        "{}",
        r#"{"type":"Ping"}"#,
        r#"{"type":"Ping","nonce":-1}"#,
        r#"{"type":"Ping","nonce":1.5}"#,
        r#"{"type":"Ping","nonce":18446744073709551616}"#,
        r#"{"type":"ping","nonce":1}"#,
        r#"{"type":"Nope"}"#,
        r#"{"type":7}"#,
        r#"{"type":"Ping","nonce":1} trailing"#,
        r#"{"type":"Tx","tx":{"author":"a","content":"b"}}"#,
        r#"{"type":"Tx","tx":{"author":"a","content":"b","timestamp":1,"public_key":"00"}}"#,
        r#"{"type":"GetBlocks","locator":["00"],"limit":1}"#,
        r#"{"type":"Hello","chain_id":"zz"}"#,
        "{\"type\":\"Error\",\"code\":\"internal\",\"message\":\"\\ud800\"}",
    ] {
        assert!(matches!(decode(text), Err(WireError::Json(_))), "{text:?} -> {:?}", decode(text));
    }
    let err = decode("{\n\"type\": \"Ping\",\n\"nonce\": x}").unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[test]
fn non_utf8_and_deep_nesting_give_errors() {
    assert_eq!(decode_bytes(b"{\"type\":\"Pi\xffng\"}"), Err(WireError::NotUtf8 { valid_up_to: 11 }));
    assert_eq!(decode_bytes(b"{\"type\":\"Ping\",\"nonce\":1}").unwrap().message, Message::Ping { nonce: 1 });
    let depth = 100_000;
    for text in [
        "[".repeat(depth),
        "{\"a\":".repeat(depth),
        format!(r#"{{"type":"Ping","nonce":1,"x":{}}}"#, "[".repeat(depth)),
        format!(r#"{{"type":"Ping","nonce":1,"x":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth)),
        format!(r#"{{"type":"Tx","tx":{{"author":{}}}}}"#, "[".repeat(depth)),
        format!(r#"{{"x":{}1{},"type":"Ping","nonce":1}}"#, "{\"a\":".repeat(depth), "}".repeat(depth)),
    ] {
        assert!(matches!(decode(&text), Err(WireError::Json(_))));
    }
    // Moderate nesting in an ignored field is fine.
    let ok = format!(r#"{{"type":"Ping","nonce":1,"x":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
    assert!(decode(&ok).is_ok());
}

#[test]
fn block_with_wrong_hash_field_is_refused() {
    let b = block(1);
    let good = msg(Message::Block { block: b.clone() });
    let forged = good.replace(&b.hash().to_hex(), &"00".repeat(32));
    assert_ne!(forged, good);
    let err = decode(&forged).unwrap_err();
    assert!(matches!(&err, WireError::Json(m) if m.contains(&b.hash().to_hex())), "{err}");
    let blocks =
        msg(Message::Blocks { blocks: vec![block(2), b.clone()] }).replace(&b.hash().to_hex(), &"00".repeat(32));
    assert!(matches!(decode(&blocks), Err(WireError::Json(_))));
}

#[test]
fn headers_travel_as_hex_and_are_bounded() {
    let header = block(1).header;
    let text = msg(Message::Headers { headers: vec![header] });
    assert_eq!(text, format!(r#"{{"type":"Headers","headers":["{}"]}}"#, hex::encode(header.to_bytes())));
    assert_eq!(decode(&text).unwrap().message, Message::Headers { headers: vec![header] });
    assert!(decode(&text.replace(&hex::encode(header.to_bytes())[..4], "zz")).is_err());
    assert!(decode(r#"{"type":"Headers","headers":["00"]}"#).is_err());
    let too_many = Message::Headers { headers: vec![header; tabchain_core::wire::MAX_HEADERS_PER_MESSAGE + 1] };
    assert!(matches!(tabchain_core::wire::encode(&Envelope::broadcast(too_many)), Err(WireError::TooMany { .. })));
    let ask = Message::GetHeaders { locator: vec![], limit: tabchain_core::wire::MAX_HEADERS_PER_MESSAGE as u32 + 1 };
    assert!(matches!(tabchain_core::wire::encode(&Envelope::broadcast(ask)), Err(WireError::Invalid { .. })));
}

#[test]
fn kind_matches_the_type_tag() {
    let mut seen = std::collections::HashSet::new();
    for message in [
        Message::Welcome { peer_id: PeerId(1), network: Network::Dev, chain_id: BlockHash::ZERO, peers: vec![] },
        Message::PeerJoined { peer: peer_info(1, "a") },
        Message::PeerLeft { peer_id: PeerId(1) },
        Message::Tx { tx: post() },
        Message::Block { block: block(1) },
        Message::GetBlocks { locator: vec![], limit: 1 },
        Message::Blocks { blocks: vec![] },
        Message::GetMempool {},
        Message::Mempool { txs: vec![] },
        Message::Ping { nonce: 1 },
        Message::Pong { nonce: 1 },
        Message::Error { code: ErrorCode::Internal, message: String::new() },
        Message::GetHeaders { locator: vec![], limit: 1 },
        Message::Headers { headers: vec![block(1).header] },
        Message::GetPeers {},
        Message::Peers { peers: vec![] },
    ] {
        let value = serde_json::to_value(&message).unwrap();
        assert_eq!(value["type"], message.kind());
        seen.insert(message.kind());
    }
    assert_eq!(seen.len(), Message::KINDS.len() - 1, "every kind but Hello (pinned above) is covered");
}
