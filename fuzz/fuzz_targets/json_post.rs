//! A post in the JSON view (wire `Tx` and `Mempool`, blocks' `transactions`):
//! never a panic; the typed decoder (`PostJson` → `Post`) agrees with
//! serde's; a decoded post round-trips through JSON and binary, and checking
//! its rules never panics either.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tabchain_core::json::PostJson;
use tabchain_core::params::{Network, Params};
use tabchain_core::post::Post;

fuzz_target!(|data: &[u8]| {
    let direct = serde_json::from_slice::<Post>(data);
    let typed = serde_json::from_slice::<PostJson>(data).map(Post::try_from);
    match (&direct, &typed) {
        (Ok(post), Ok(Ok(same))) => assert_eq!(post, same, "serde and the typed decoder agree"),
        (Err(_), Err(_) | Ok(Err(_))) => {}
        _ => panic!("serde and the typed decoder disagree: {direct:?} / {typed:?}"),
    }
    if let Ok(post) = direct {
        tabchain_fuzz::assert_post_round_trips(&post);
        let _ = post.validate(&Params::for_network(Network::Dev));
    }
});
