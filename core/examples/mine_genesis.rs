//! Finds the genesis nonces (run once when the genesis changes; paste them into params.rs).
use tabchain_core::mining::mine_range;
use tabchain_core::params::{Network, Params};

fn main() {
    for n in [Network::Dev, Network::Main] {
        let p = Params::for_network(n);
        let header = p.genesis().header;
        let out = mine_range(&header, 0, u64::MAX).expect("genesis target is valid");
        let (nonce, hash) = out.found.expect("a nonce exists");
        println!("{n}: nonce {nonce} hash {hash} after {} hashes", out.hashes);
    }
}
