//! The page's tamper demo (not protocol): given a copy of consecutive blocks
//! in the JSON view, edited by hand, show what a tamperer gets.
//!
//! The JSON view's normal decoding refuses a block whose `hash` field is not
//! the hash of its header, which is exactly what an edited block looks like;
//! [`rebuild_blocks_json`] parses leniently instead: it takes the header
//! fields and the posts, repairs what a tamperer can (each Merkle root, each
//! link to the block before), and compares with the hashes the real chain
//! has. Editing a post's content changes its block's hash and, through the
//! links, every later one; each would need its proof of work redone, and a
//! signed post's signature still breaks.

use crate::block::Block;
use crate::hash::{BlockHash, MerkleRoot};
use crate::header::{BlockHeader, HEADER_VERSION};
use crate::json::{PostJson, seconds_to_ms};
use crate::params::Params;
use crate::post::Post;
use crate::target::CompactTarget;
use serde::{Deserialize, Serialize};

/// Why the text cannot be checked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TamperError {
    /// Not JSON of a block or an array of blocks.
    #[error("not a block or an array of blocks in the JSON view: {0}")]
    Json(String),
    /// A block's field cannot be read.
    #[error("block {index}: {field}: {reason}")]
    Field {
        /// Position in the array.
        index: usize,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A block in the JSON view, read without the hash check.
#[derive(Deserialize)]
struct LenientBlock {
    index: u64,
    transactions: Vec<PostJson>,
    timestamp: f64,
    previous_hash: String,
    nonce: u64,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default = "header_version")]
    version: u32,
    merkle_root: String,
    target: String,
}

fn header_version() -> u32 {
    HEADER_VERSION
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    Many(Vec<LenientBlock>),
    One(Box<LenientBlock>),
}

/// Reads one block or an array of blocks leniently, with the hash each claims.
fn parse_blocks(text: &str) -> Result<Vec<(Block, Option<BlockHash>)>, TamperError> {
    let blocks = match serde_json::from_str::<OneOrMany>(text) {
        Ok(OneOrMany::Many(blocks)) => blocks,
        Ok(OneOrMany::One(block)) => vec![*block],
        // The untagged error says nothing useful: explain with the array form.
        Err(_) => serde_json::from_str::<Vec<LenientBlock>>(text).map_err(|e| TamperError::Json(e.to_string()))?,
    };
    blocks.into_iter().enumerate().map(|(index, json)| lenient_block(index, json)).collect()
}

/// One block of a copied chain after a tamperer rebuilt it: see [`rebuild_blocks_json`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rebuilt {
    /// `index` as given.
    pub height: u64,
    /// The hash after rebuilding.
    pub hash: BlockHash,
    /// The `hash` field as given: the block's hash on the real chain.
    pub original: Option<BlockHash>,
    /// Whether rebuilding changed the hash: the real chain's next block no
    /// longer points at this one.
    pub changed: bool,
    /// Whether the rebuilt hash still meets the block's target.
    pub pow_ok: bool,
    /// Whether every post passes the post rules, stamps and signatures included.
    pub posts_ok: bool,
}

/// What a tamperer gets who edits a post in a copy of consecutive blocks and
/// then repairs what they can: each block's Merkle root is recomputed from
/// its (edited) posts and each `previous_hash` is pointed at the rebuilt block
/// before it. An edit therefore changes its block's hash and, through the
/// links, the hash of every block after it; each changed block would need its
/// proof of work redone, and a signed post's signature still breaks.
pub fn rebuild_blocks_json(text: &str, params: &Params) -> Result<Vec<Rebuilt>, TamperError> {
    let chain_id = params.chain_id();
    let mut previous: Option<BlockHash> = None;
    let mut rebuilt = Vec::new();
    for (block, claimed) in parse_blocks(text)? {
        let mut header = block.header;
        header.merkle_root = block.compute_merkle_root();
        if let Some(previous) = previous {
            header.prev_hash = previous;
        }
        let hash = header.hash();
        let original = claimed.unwrap_or_else(|| block.hash());
        rebuilt.push(Rebuilt {
            height: header.height,
            hash,
            original: claimed,
            changed: hash != original,
            pow_ok: header.bits.to_target().is_ok_and(|t| t.is_met_by(&hash)),
            // The genesis block is the network's definition: its post has no stamp.
            posts_ok: if block.hash() == chain_id {
                block.posts.iter().all(|p| p.check_fields().is_ok())
            } else {
                block.posts.iter().all(|p| p.validate_on(params, &chain_id).is_ok())
            },
        });
        previous = Some(hash);
    }
    Ok(rebuilt)
}

fn lenient_block(index: usize, json: LenientBlock) -> Result<(Block, Option<BlockHash>), TamperError> {
    let field = |field: &'static str, reason: String| TamperError::Field { index, field, reason };
    let hash32 = |name: &'static str, s: &str| s.parse::<BlockHash>().map_err(|e| field(name, e.to_string()));
    let merkle_root = json.merkle_root.parse::<MerkleRoot>().map_err(|e| field("merkle_root", e.to_string()))?;
    let bits = if json.target.len() == 8 && json.target.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(&json.target, 16).map(CompactTarget).map_err(|e| field("target", e.to_string()))?
    } else {
        return Err(field("target", format!("{:?} is not 8 hex digits", json.target)));
    };
    let header = BlockHeader {
        version: json.version,
        height: json.index,
        prev_hash: hash32("previous_hash", &json.previous_hash)?,
        merkle_root,
        timestamp_ms: seconds_to_ms(json.timestamp).map_err(|e| field("timestamp", e.to_string()))?,
        bits,
        nonce: json.nonce,
    };
    let claimed = json.hash.as_deref().map(|h| hash32("hash", h)).transpose()?;
    let posts = json
        .transactions
        .into_iter()
        .enumerate()
        .map(|(i, post)| Post::try_from(post).map_err(|e| field("transactions", format!("post {i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((Block { header, posts }, claimed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mining::solve;
    use crate::params::Network;
    use crate::stamp::stamp_post;
    use crate::state::ChainState;

    /// Three dev blocks after genesis, each with a post (the second signed).
    fn chain() -> Vec<Block> {
        let params = Params::for_network(Network::Dev);
        let now = params.genesis_timestamp_ms + 3_600_000;
        let mut state = ChainState::new(params.clone());
        let mut blocks = vec![params.genesis()];
        for i in 0..3u64 {
            let t = params_time(&state) + 1_000;
            let post = if i == 1 {
                Post::new_signed("bob", "signed words", t, &[5; 32], &params.chain_id()).unwrap()
            } else {
                Post::new("alice", &format!("words {i}"), t).unwrap()
            };
            // Eight times the minimum, so that an edit breaks the stamp (all but 1 in ~1,000).
            state.submit_post(stamp_post(post, &params, 8), now).unwrap();
            let mut block = state.block_template(t);
            block.header = solve(&block.header, 1 << 20).unwrap().unwrap();
            state.submit_block(block.clone(), now).unwrap();
            blocks.push(block);
        }
        blocks
    }

    fn dev() -> Params {
        Params::for_network(Network::Dev)
    }

    fn params_time(state: &ChainState) -> u64 {
        state.chain().tip().timestamp_ms()
    }

    #[test]
    fn an_untouched_copy_rebuilds_to_the_same_hashes() {
        let blocks = chain();
        let text = serde_json::to_string_pretty(&blocks).unwrap();
        let rebuilt = rebuild_blocks_json(&text, &dev()).unwrap();
        assert_eq!(rebuilt.len(), 4);
        assert!(rebuilt.iter().all(|r| !r.changed && r.pow_ok && r.posts_ok), "{rebuilt:?}");
        assert_eq!(
            rebuilt.iter().map(|r| r.hash).collect::<Vec<_>>(),
            blocks.iter().map(Block::hash).collect::<Vec<_>>()
        );
        assert_eq!(rebuilt[2].original, Some(blocks[2].hash()));

        // One block alone, without its hash field: compared with its own header as given.
        let mut one = serde_json::to_value(&blocks[1]).unwrap();
        one.as_object_mut().unwrap().remove("hash");
        let rebuilt = rebuild_blocks_json(&one.to_string(), &dev()).unwrap();
        assert_eq!((rebuilt.len(), rebuilt[0].original, rebuilt[0].changed), (1, None, false));
        assert_eq!(rebuilt[0].hash, blocks[1].hash());
    }

    #[test]
    fn rebuilding_after_an_edit_changes_that_hash_and_every_later_one() {
        let blocks = chain();
        let text = serde_json::to_string_pretty(&blocks).unwrap();
        let untouched = rebuild_blocks_json(&text, &dev()).unwrap();
        assert!(untouched.iter().all(|r| !r.changed && r.pow_ok && r.posts_ok), "{untouched:?}");
        let rebuilt = rebuild_blocks_json(&text.replace("words 0", "words 9"), &dev()).unwrap();
        assert!(!rebuilt[0].changed);
        assert!(rebuilt[1..].iter().all(|r| r.changed), "{rebuilt:?}");
        assert_eq!(rebuilt[3].original, Some(blocks[3].hash()));
        assert_ne!(rebuilt[3].hash, blocks[3].hash());
        let rebuilt = rebuild_blocks_json(&text.replace("signed words", "signed wordz"), &dev()).unwrap();
        assert!(!rebuilt[1].changed && rebuilt[2].changed && !rebuilt[2].posts_ok && rebuilt[3].changed);
    }

    #[test]
    fn unreadable_text_is_an_error() {
        assert!(matches!(rebuild_blocks_json("nope", &dev()), Err(TamperError::Json(_))));
        assert!(matches!(rebuild_blocks_json("[{\"index\":1}]", &dev()), Err(TamperError::Json(_))));
        let mut value = serde_json::to_value(vec![chain()[1].clone()]).unwrap();
        value[0]["target"] = "zz".into();
        assert!(matches!(
            rebuild_blocks_json(&value.to_string(), &dev()),
            Err(TamperError::Field { index: 0, field: "target", .. })
        ));
    }
}
