//! A post's binary encoding (stored pending posts, the page's `postStamped`):
//! never a panic; a decoded post encodes to exactly the input, its JSON view
//! round-trips, and checking its rules never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;

fuzz_target!(|data: &[u8]| {
    let Ok(post) = Post::from_bytes(data) else { return };
    assert_eq!(post.to_bytes(), data, "the encoding is canonical");
    tabchain_fuzz::assert_post_round_trips(&post);
    let _ = post.validate(&Params::for_network(Network::Dev));
});
