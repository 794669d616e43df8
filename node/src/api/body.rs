//! Request bodies, and a peer's `/chain` answer: typed with serde, read
//! with reasons a person can act on (`` `author` is missing``, `` `author`
//! must be a string``), never a 500.
//!
//! Every reader of outside bytes of the API is here, and the fuzz target
//! `fuzz/fuzz_targets/rest_bodies.rs` compiles this file as it is (without
//! building the node), with `peer_origin.rs` as `super::peer_origin`: keep
//! its dependencies to serde, serde_json, serde_path_to_error, url,
//! thiserror and tabchain-core.

use serde::de::DeserializeOwned;
use tabchain_core::block::Block;

use super::peer_origin::PeerOrigin;

/// `POST /new_transaction`: the tutorial's body (the node adds the time).
#[derive(Debug, serde::Deserialize)]
pub(super) struct NewTransaction {
    pub author: String,
    pub content: String,
}

/// `POST /register_node` and `/register_with`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct NodeAddress {
    pub node_address: String,
}

/// `POST /add_block`: one block in the JSON view.
pub(super) fn block(body: &[u8]) -> Result<Block, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The peer named by a `{"node_address": url}` body (see
/// [`PeerOrigin::parse`] for what is accepted).
pub(super) fn peer_address(body: &[u8]) -> Result<PeerOrigin, String> {
    let NodeAddress { node_address } = parse(body)?;
    PeerOrigin::parse(&node_address).map_err(|e| format!("`node_address`: {e}"))
}

/// The blocks of a peer's `/chain` answer, genesis first.
pub(super) fn peer_chain(body: &[u8]) -> Result<Vec<Block>, String> {
    #[derive(serde::Deserialize)]
    struct ChainAnswer {
        chain: Vec<Block>,
    }
    let answer: ChainAnswer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(answer.chain)
}

/// Reads a JSON object body into `T`, or says what is wrong with it.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("the body must be a JSON object".into());
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        explain(&path, &inner)
    })
}

/// serde's "missing field `x`" and "invalid type: integer `7`, expected a
/// string" at `path`, in the API's words.
fn explain(path: &str, serde_message: &str) -> String {
    if let Some(field) = serde_message.strip_prefix("missing field ") {
        return format!("{field} is missing");
    }
    if let Some((got, expected)) =
        serde_message.strip_prefix("invalid type: ").and_then(|rest| rest.split_once(", expected "))
    {
        return format!("`{path}` must be {expected}, not {got}");
    }
    format!("`{path}`: {serde_message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_field() {
        let reason = |body: &str| parse::<NewTransaction>(body.as_bytes()).unwrap_err();
        assert!(reason("not json").starts_with("the body is not JSON"));
        assert_eq!(reason("[1]"), "the body must be a JSON object");
        assert_eq!(reason(r#"{"content":"x"}"#), "`author` is missing");
        assert_eq!(reason(r#"{"author":7,"content":"x"}"#), "`author` must be a string, not integer `7`");
        let ok = parse::<NewTransaction>(br#"{"author":"a","content":"b","extra":1}"#).unwrap();
        assert_eq!((ok.author.as_str(), ok.content.as_str()), ("a", "b"));
    }
}
