//! tabchain's chain logic, pure: no I/O, clock, threads or randomness. Time and
//! key bytes come in as arguments, so the same code runs in a browser tab
//! (wasm32) and in the native node, and every rule is testable natively.

pub mod block;
pub mod chain;
pub mod driver;
pub mod encode;
pub mod hash;
pub mod header;
pub mod headers;
pub mod invalid;
pub mod json;
pub mod mempool;
pub mod merkle;
pub mod mining;
pub mod orphans;
pub mod params;
pub mod post;
pub mod retarget;
pub mod stamp;
pub mod state;
pub mod tamper;
pub mod target;
#[cfg(any(test, feature = "test-util"))]
pub mod testkit;
pub mod validate;
pub mod wire;
