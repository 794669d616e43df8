//! `tabchain-wasm`: the browser's window into `tabchain-core`.
//!
//! A thin façade: every export parses its JS arguments, calls into
//! `tabchain-core`, and hands back plain data (strings, numbers, bigints,
//! plain objects). No chain logic lives here. Exported names are camelCase.
//! The page's full node is the class `TabNode` (see `tab_node.rs`).
//!
//! Built by `cargo xtask build-wasm`, which writes the ES module
//! `www/pkg/tabchain_wasm.js` and `www/pkg/tabchain_wasm_bg.wasm`.

mod js;
mod tab_node;

use std::str::FromStr;

use js_sys::{Object, Reflect};
use tabchain_core::header::BlockHeader;
use tabchain_core::mining::{Kernel, MiningJob, TAIL_NONCE_HI_WORD, TAIL_NONCE_LO_WORD};
use tabchain_core::params::{Network, Params};
use wasm_bindgen::prelude::*;

/// Parses a network name (`"main"` or `"dev"`) into its consensus parameters.
fn params(network: &str) -> Result<Params, JsError> {
    // The core error already names the bad input and the valid names.
    let network = Network::from_str(network).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(Params::for_network(network))
}

/// The network (`"main"` or `"dev"`) a relay's `Welcome` frame names, or
/// `undefined` for any other frame: a page opens that network's chain
/// before it has a node to hand the frame to.
#[wasm_bindgen(js_name = welcomeNetwork)]
pub fn welcome_network(text: &str) -> Option<String> {
    tabchain_core::wire::welcome_network(text).map(|network| network.to_string())
}

/// The post in an outbox entry that pages before the own-posts change kept
/// as its `Tx` message text: its bytes (as `pendingAdded` changes give them
/// now), or `undefined` when the text is not a `Tx`. Lets a page carry such
/// entries over instead of losing them.
#[wasm_bindgen(js_name = legacyOutboxPost)]
pub fn legacy_outbox_post(tx_text: &str) -> Option<Vec<u8>> {
    match tabchain_core::wire::decode(tx_text).ok()?.message {
        tabchain_core::wire::Message::Tx { tx } => Some(tx.to_bytes()),
        _ => None,
    }
}

/// Returns the chain id of `network` (`"main"` or `"dev"`): the genesis block
/// hash as 64 lowercase hex characters.
///
/// Throws an `Error` for an unknown network name.
#[wasm_bindgen(js_name = chainId)]
pub fn chain_id(network: &str) -> Result<String, JsError> {
    Ok(params(network)?.chain_id().to_string())
}

/// Returns the genesis block header of `network` (`"main"` or `"dev"`) as
/// hex: 96 bytes, 192 lowercase hex characters.
///
/// Throws an `Error` for an unknown network name.
#[wasm_bindgen(js_name = genesisHeaderHex)]
pub fn genesis_header_hex(network: &str) -> Result<String, JsError> {
    let header = params(network)?.genesis().header.to_bytes();
    Ok(hex::encode(header))
}

/// A proof-of-work miner for one block header, driven in slices from JS
/// (typically inside a Web Worker) so the page stays responsive.
#[wasm_bindgen]
pub struct Miner {
    job: MiningJob,
    kernel: Kernel,
    hashes_done: u64,
}

#[wasm_bindgen]
impl Miner {
    /// Creates a miner for the 96-byte encoded block header `headerBytes`.
    ///
    /// Throws an `Error` if the bytes are not a well-formed header or its
    /// target is unusable.
    #[wasm_bindgen(constructor)]
    pub fn new(header_bytes: &[u8]) -> Result<Miner, JsError> {
        let header =
            BlockHeader::from_bytes(header_bytes).map_err(|e| JsError::new(&format!("malformed block header: {e}")))?;
        let job =
            MiningJob::new(&header).map_err(|e| JsError::new(&format!("block header has an unusable target: {e}")))?;
        Ok(Miner { job, kernel: Kernel::detect(), hashes_done: 0 })
    }

    /// Tries nonces `startNonce .. startNonce + count` (a `bigint` start and a
    /// `number` count) against the header's target.
    ///
    /// Returns `{ nonce: bigint, hash: string }` (hash as 64 hex characters)
    /// for the first nonce that meets the target, or `undefined` if none in
    /// the range does.
    #[wasm_bindgen(js_name = mineRange)]
    pub fn mine_range(&mut self, start_nonce: u64, count: u32) -> Option<Object> {
        let outcome = self.job.mine(self.kernel, start_nonce, u64::from(count));
        self.hashes_done = self.hashes_done.saturating_add(outcome.hashes);
        let (nonce, hash) = outcome.found?;
        let result = Object::new();
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&result, &"nonce".into(), &JsValue::from(nonce));
        let _ = Reflect::set(&result, &"hash".into(), &hash.to_string().into());
        Some(result)
    }

    /// The job as the WebGPU kernel takes it (see `tabchain_core::mining::GpuJob`):
    /// `{midstate: Uint32Array(8), tail: Uint32Array(16), target:
    /// Uint32Array(8), nonceLoWord, nonceHiWord}`; the nonce's halves go
    /// byte-swapped into `tail[nonceLoWord]` and `tail[nonceHiWord]`, the hash
    /// is the eight state words after one compression of `tail` from
    /// `midstate`, and it meets the target when not greater, word by word
    /// from the first.
    #[wasm_bindgen(js_name = gpuJob)]
    pub fn gpu_job(&self) -> Object {
        let job = self.job.gpu_job();
        let result = Object::new();
        let words = |w: &[u32]| JsValue::from(js_sys::Uint32Array::from(w));
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&result, &"midstate".into(), &words(&job.midstate));
        let _ = Reflect::set(&result, &"tail".into(), &words(&job.tail));
        let _ = Reflect::set(&result, &"target".into(), &words(&job.target));
        let _ = Reflect::set(&result, &"nonceLoWord".into(), &JsValue::from(TAIL_NONCE_LO_WORD as u32));
        let _ = Reflect::set(&result, &"nonceHiWord".into(), &JsValue::from(TAIL_NONCE_HI_WORD as u32));
        result
    }

    /// Re-checks `nonce` (a `bigint`) with the reference (the whole header
    /// hashed): its hash as 64 hex characters if it meets the target, else
    /// `undefined`. A GPU's answer is used only after this.
    pub fn check(&self, nonce: u64) -> Option<String> {
        self.job.check(nonce).map(|hash| hash.to_string())
    }

    /// Total number of hashes computed by this miner so far, as a `number`
    /// (exact up to 2^53).
    #[wasm_bindgen(getter, js_name = hashesDone)]
    pub fn hashes_done(&self) -> f64 {
        self.hashes_done as f64
    }
}

/// The id of the Ed25519 key with these 32 secret bytes, as posts signed
/// with it show it (`keyId`): the first 16 hex digits (64 bits) of the
/// public key.
///
/// Throws an `Error` unless `secretKey` has 32 bytes.
#[wasm_bindgen(js_name = publicKeyId)]
pub fn public_key_id(secret_key: &[u8]) -> Result<String, JsError> {
    Ok(tabchain_core::post::public_key_id(&tab_node::secret_key(secret_key)?))
}

/// A stored block's bytes (a `block` change's `bytes`, read back from
/// storage) as the page shows it: `{height, hash, prevHash, nonce (decimal
/// string), timestamp, txCount, posts: [{txId, author, content, timestamp,
/// height, verified, keyId}] newest first, json (the pretty JSON view, for
/// the block detail and `tamperRebuild`: do not `JSON.parse` it)}`. For
/// blocks a node accepted: `verified` means signed (the signature was
/// checked when the block was).
///
/// Throws an `Error` if the bytes are not a block.
#[wasm_bindgen(js_name = blockView)]
pub fn block_view(bytes: &[u8]) -> Result<JsValue, JsError> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct BlockView<'a> {
        #[serde(flatten)]
        row: tab_node::BlockRow,
        posts: Vec<tab_node::PostRow<'a>>,
        json: String,
    }
    let block =
        tabchain_core::block::Block::from_bytes(bytes).map_err(|e| JsError::new(&format!("not a block: {e}")))?;
    let json = serde_json::to_string_pretty(&block).map_err(|e| JsError::new(&e.to_string()))?;
    let view = BlockView {
        row: tab_node::BlockRow::new(&block.header, block.hash(), block.posts.len()),
        posts: tab_node::post_rows(&block).collect(),
        json,
    };
    tab_node::to_js(&view)
}

/// The tamper demo's view: rebuilds the copied blocks (a JSON array of
/// consecutive blocks, possibly edited by hand) as a tamperer would, with each
/// Merkle root recomputed and each `previous_hash` pointed at the rebuilt block
/// before, and returns `[{height, hash (rebuilt), original (string|null),
/// changed, powOk, postsOk}]`: an edit changes its block's hash and every later
/// one.
///
/// `postsOk` checks stamps and signatures for `network` (`"main"` or `"dev"`).
///
/// Throws an `Error` if the text is not JSON of blocks or a field is
/// unreadable, or for an unknown network name.
#[wasm_bindgen(js_name = tamperRebuild)]
pub fn tamper_rebuild(blocks_json: &str, network: &str) -> Result<JsValue, JsError> {
    let rebuilt = tabchain_core::tamper::rebuild_blocks_json(blocks_json, &params(network)?)
        .map_err(|e| JsError::new(&e.to_string()))?;
    tab_node::to_js(&rebuilt)
}
