//! Kept for `tests/driver.rs` until it imports `tabchain_core::testkit`
//! itself: the helpers now live in the test kit.

pub use tabchain_core::testkit::*;
