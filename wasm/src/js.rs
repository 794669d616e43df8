//! How values cross between Rust and JS for the tab node: plain JS data out
//! (`to_js`, the output list of the tab node's module docs), numbers and
//! keys checked on the way in.

use js_sys::Array;
use serde::Serialize;
use tabchain_core::driver::{Change, Event, Output};
use tabchain_core::hash::{BlockHash, TxId};
use tabchain_core::wire::{self, Envelope, Message};
use wasm_bindgen::prelude::*;

/// Serializes to plain JS data: objects for structs and maps, `null` for
/// `None`, numbers for integers (an integer above 2^53 is an error, and none
/// is serialized here: nonces go out as strings), `Uint8Array` for bytes.
pub(crate) fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsError> {
    let serializer =
        serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true).serialize_maps_as_objects(true);
    match value.serialize(&serializer) {
        Ok(js) => Ok(js),
        // A number past 2^53 (a peer's claimed height, say) is no JS number:
        // through JSON it becomes the nearest one instead of an error, so
        // nothing a peer sends can make a call throw and lose its outputs.
        Err(exact) => {
            let text = serde_json::to_string(value).map_err(|e| JsError::new(&format!("cannot convert to JS: {e}")))?;
            js_sys::JSON::parse(&text).map_err(|_| JsError::new(&format!("cannot convert to JS: {exact}")))
        }
    }
}

/// A JS number that must be a non-negative integer-ish value (a time in ms,
/// a height) as a `u64`; fractions are dropped.
pub(crate) fn whole(name: &str, value: f64) -> Result<u64, JsError> {
    if !value.is_finite() || value < 0.0 {
        return Err(JsError::new(&format!("{name} must be a non-negative number, got {value}")));
    }
    Ok(value as u64)
}

/// A JS time in ms (`Date.now()`) as the core's `u64`.
pub(crate) fn ms(now_ms: f64) -> Result<u64, JsError> {
    whole("nowMs", now_ms)
}

/// A 32-byte Ed25519 secret key from JS bytes, or an `Error` saying the length.
pub(crate) fn secret_key(bytes: &[u8]) -> Result<[u8; 32], JsError> {
    bytes.try_into().map_err(|_| JsError::new(&format!("secretKey must be 32 bytes, got {}", bytes.len())))
}

/// Bytes that serialize as a `Uint8Array`.
pub(crate) struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum JsOutput<'a> {
    Send {
        text: &'a str,
    },
    Sibling {
        text: &'a str,
    },
    Store {
        #[serde(flatten)]
        change: JsChange<'a>,
    },
    TemplateStale,
    Event {
        event: &'a Event,
    },
    ServeBlocks {
        to: u64,
        hashes: &'a [BlockHash],
    },
    LoadBlocks {
        hashes: &'a [BlockHash],
    },
    ReadBlock {
        hash: BlockHash,
    },
}

#[derive(Serialize)]
#[serde(tag = "change", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum JsChange<'a> {
    Block { hash: BlockHash, height: u64, bytes: Bytes<'a> },
    BlockRemoved { hash: BlockHash },
    BestChain { from_height: u64, hashes: &'a [BlockHash] },
    PendingAdded { tx_id: TxId, bytes: Bytes<'a>, own: bool },
    PendingRemoved { tx_id: TxId, own: bool },
}

/// Outputs as a JS array (see the module docs).
pub(crate) fn outputs_to_js(outputs: &[Output]) -> Result<Array, JsError> {
    let array = Array::new_with_length(outputs.len() as u32);
    for (i, output) in outputs.iter().enumerate() {
        let post_bytes;
        let js = match output {
            Output::Send(text) => JsOutput::Send { text },
            Output::Store(change) => JsOutput::Store {
                change: match change {
                    Change::Block { hash, height, bytes } => {
                        JsChange::Block { hash: *hash, height: *height, bytes: Bytes(bytes) }
                    }
                    Change::BlockRemoved { hash } => JsChange::BlockRemoved { hash: *hash },
                    Change::BestChain { from_height, hashes } => {
                        JsChange::BestChain { from_height: *from_height, hashes }
                    }
                    Change::PendingAdded { tx_id, post, own } => {
                        post_bytes = post.to_bytes();
                        JsChange::PendingAdded { tx_id: *tx_id, bytes: Bytes(&post_bytes), own: *own }
                    }
                    Change::PendingRemoved { tx_id, own } => JsChange::PendingRemoved { tx_id: *tx_id, own: *own },
                },
            },
            Output::TemplateStale => JsOutput::TemplateStale,
            Output::Event(event) => JsOutput::Event { event },
            Output::ServeBlocks { to, hashes } => JsOutput::ServeBlocks { to: to.0, hashes },
            Output::LoadBlocks { hashes } => JsOutput::LoadBlocks { hashes },
            Output::ReadBlock { hash } => JsOutput::ReadBlock { hash: *hash },
        };
        array.set(i as u32, to_js(&js)?);
    }
    Ok(array)
}

/// Appends `{kind: "sibling", text}` to `outputs`: `message` (a post written
/// or block mined here) for the browser's other tabs, as the relay would carry
/// it. Nothing when it cannot be encoded (the relay would not take it either).
pub(crate) fn push_sibling(outputs: &Array, message: Message) -> Result<(), JsError> {
    if let Ok(text) = wire::encode(&Envelope::broadcast(message)) {
        outputs.push(&to_js(&JsOutput::Sibling { text: &text })?);
    }
    Ok(())
}

/// Sets `outputs` on a plain object made by [`to_js`].
pub(crate) fn with_outputs(object: JsValue, outputs: &[Output]) -> Result<JsValue, JsError> {
    js_sys::Reflect::set(&object, &"outputs".into(), outputs_to_js(outputs)?.as_ref())
        .map_err(|_| JsError::new("cannot set outputs"))?;
    Ok(object)
}
