//! The 96-byte header (`BlockHeader::from_bytes`, headers in wire `Headers`
//! and in the page's stored headers): decodes exactly 96 bytes, and then its
//! encoding is those bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabchain_core::header::{BlockHeader, HEADER_BYTES};

fuzz_target!(|data: &[u8]| {
    match BlockHeader::from_bytes(data) {
        Ok(header) => {
            assert_eq!(data.len(), HEADER_BYTES);
            assert_eq!(header.to_bytes().as_slice(), data, "the encoding is canonical");
        }
        Err(_) => assert_ne!(data.len(), HEADER_BYTES, "every 96 bytes are a header"),
    }
});
