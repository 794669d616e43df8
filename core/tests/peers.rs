//! `core::driver`'s view of the other peers stays current: a node whose tip
//! moves by others' blocks tells the relay (a `Hello`, at most one a
//! second), the relay's `Peers` answer updates heights, work, relay and last
//! block, and a block a peer announces dates its last block.

mod common;

use common::Net;
use tabchain_core::driver::{Event, HELLO_MIN_INTERVAL_MS, Output};
use tabchain_core::wire::{self, Envelope, Message, PeerInfo};

/// `n` joined nodes, idle.
fn joined_net(n: usize) -> Net {
    let mut net = Net::new(n);
    for slot in 0..n {
        net.connect(slot);
        net.run();
    }
    net
}

fn hellos(net: &Net, slot: usize) -> usize {
    net.sent[slot].iter().filter(|e| matches!(e.message, Message::Hello { .. })).count()
}

fn tick(net: &mut Net, slot: usize) {
    let outputs = net.nodes[slot].tick(net.now);
    net.handle(slot, outputs);
    net.run();
}

#[test]
fn a_node_that_only_receives_blocks_tells_the_relay_its_tip_at_most_once_a_second() {
    let mut net = joined_net(2);
    net.mine_n(0, 2, 0);
    net.run();
    assert_eq!(net.nodes[1].height(), 2);
    // The relay credits the finder (slot 0 claimed its tip by announcing),
    // but the receiver has said nothing yet.
    assert_eq!(net.joined[&1].best_height, 0);
    let before = (hellos(&net, 0), hellos(&net, 1));

    tick(&mut net, 1);
    assert_eq!(net.joined[&1].best_height, 2, "the receiver's Hello brings the relay up to date");
    assert_eq!(net.joined[&1].total_work, net.nodes[1].total_work());
    tick(&mut net, 0);
    assert_eq!((hellos(&net, 0), hellos(&net, 1)), (before.0, before.1 + 1), "the finder needs no Hello");

    // Another block within the second: the next Hello waits for the interval.
    net.mine(0, 0, true);
    net.run();
    net.now += HELLO_MIN_INTERVAL_MS - 1;
    tick(&mut net, 1);
    assert_eq!(hellos(&net, 1), before.1 + 1);
    net.now += 1;
    tick(&mut net, 1);
    assert_eq!(hellos(&net, 1), before.1 + 2);
    assert_eq!(net.joined[&1].best_height, 3);
    // Nothing new: no more Hellos.
    net.now += 10 * HELLO_MIN_INTERVAL_MS;
    tick(&mut net, 1);
    assert_eq!(hellos(&net, 1), before.1 + 2);
}

#[test]
fn the_relays_peer_list_brings_heights_relay_and_last_block_up_to_date() {
    let mut net = joined_net(3);
    net.mine_n(0, 2, 0);
    net.run();
    tick(&mut net, 1);
    // Slot 2 learnt slot 1's height only at join: 0.
    let (id0, id1) = (net.ids[0], net.ids[1]);
    assert_eq!(net.nodes[2].peers()[&id1].best_height, 0);
    assert_eq!(net.nodes[2].peers()[&id0].best_height, 2, "credited from the blocks it announced");
    assert_eq!(net.nodes[2].peer_last_block_ms(id0), Some(net.now));
    assert_eq!(net.nodes[2].peer_last_block_ms(id1), None);

    let ask = net.nodes[2].peers_request().expect("joined");
    assert_eq!(wire::decode(&ask).unwrap().message, Message::GetPeers {});
    net.route(2, &ask);
    net.run();
    assert_eq!(net.nodes[2].peers()[&id1].best_height, 2);
    assert_eq!(net.nodes[2].peers()[&id1].total_work, net.nodes[1].total_work());

    // A relay in a cluster names the relay and how long ago the last block came.
    net.now += 60_000;
    let listed = PeerInfo {
        relay: Some("east".into()),
        last_block_secs: Some(5),
        ..PeerInfo::new(id1, "test-node/1".into(), 1, net.nodes[1].total_work())
    };
    let text = wire::encode(&Envelope::broadcast(Message::Peers { peers: vec![listed] })).unwrap();
    let outputs = net.nodes[2].on_text(&text, net.now);
    assert!(outputs.iter().all(|o| !matches!(o, Output::Send(_))), "{outputs:?}");
    let info = &net.nodes[2].peers()[&id1];
    assert_eq!(info.relay.as_deref(), Some("east"));
    assert_eq!(info.best_height, 2, "a lower height than we know is not taken");
    assert_eq!(net.nodes[2].peer_last_block_ms(id1), Some(net.now - 5_000));

    // A peer that leaves takes its last block with it.
    net.disconnect(1);
    net.run();
    assert_eq!(net.nodes[2].peer_last_block_ms(id1), None);
}

#[test]
fn a_peer_list_from_a_peer_is_misbehaviour_and_changes_nothing() {
    let mut net = joined_net(2);
    let id0 = net.ids[0];
    let forged = PeerInfo::new(id0, "liar".into(), 1_000, net.nodes[0].total_work());
    let envelope = Envelope { from: Some(id0), to: None, message: Message::Peers { peers: vec![forged] } };
    let outputs = net.nodes[1].on_text(&wire::encode(&envelope).unwrap(), net.now);
    assert!(outputs.iter().any(|o| matches!(o, Output::Event(Event::BadMessage { .. }))), "{outputs:?}");
    assert_eq!(net.nodes[1].peers()[&id0].best_height, 0);
    assert!(net.nodes[1].peers_request().is_some());
    assert_eq!(Net::new(1).nodes[0].peers_request(), None, "not before joining");
}
