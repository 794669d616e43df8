//! Relay frames (`wire::decode_bytes`): never a panic; a decoded message
//! encodes, and that text decodes to the same message and encodes to itself.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabchain_core::wire::{self, Message, WireError};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = wire::decode_bytes(data) else { return };
    if let Message::Blocks { blocks } = &envelope.message {
        blocks.iter().for_each(tabchain_fuzz::assert_block_round_trips);
    }
    let text = match wire::encode(&envelope) {
        Ok(text) => text,
        // Numbers can print longer than they were written (`1e3` → `1000.0`).
        Err(WireError::TooLarge { .. }) => return,
        Err(e) => panic!("a decoded message does not encode: {e}"),
    };
    let again = wire::decode(&text).expect("an encoded message decodes");
    assert_eq!(again, envelope, "decode(encode(m)) == m: {text}");
    assert_eq!(wire::encode(&again).expect("encodes"), text, "encoding is stable");
    let is_welcome = matches!(envelope.message, Message::Welcome { .. });
    assert_eq!(wire::welcome_network(&text).is_some(), is_welcome);
});
