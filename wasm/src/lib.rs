//! `tabchain-wasm`: the browser's window into `tabchain-core`.
//!
//! A thin façade: every export parses its JS arguments, calls into
//! `tabchain-core`, and hands back plain data (strings, numbers, bigints,
//! plain objects). No chain logic lives here. Exported names are camelCase.
//!
//! Built by `cargo xtask build-wasm`, which writes the ES module
//! `www/pkg/tabchain_wasm.js` and `www/pkg/tabchain_wasm_bg.wasm`.

use std::str::FromStr;

use js_sys::{Object, Reflect};
use tabchain_core::header::BlockHeader;
use tabchain_core::params::{Network, Params};
use tabchain_core::pow::{Kernel, MiningJob};
use wasm_bindgen::prelude::*;

/// Parses a network name (`"main"` or `"dev"`) into its consensus parameters.
fn params(network: &str) -> Result<Params, JsError> {
    // The core error already names the bad input and the valid names.
    let network = Network::from_str(network).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(Params::for_network(network))
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

    /// Total number of hashes computed by this miner so far, as a `number`
    /// (exact up to 2^53).
    #[wasm_bindgen(getter, js_name = hashesDone)]
    pub fn hashes_done(&self) -> f64 {
        self.hashes_done as f64
    }
}
