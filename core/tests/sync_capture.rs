//! A sync cannot be captured: a liar claiming the maximum work next to an
//! honest peer, answering late and short (or not at all). The new node must
//! have the honest peer's chain within 15 s (virtual time), every time.

use tabchain_core::block::Block;
use tabchain_core::driver::{Driver, Event, Output, SYNC_TIMEOUT_MS};
use tabchain_core::target::Work;
use tabchain_core::testkit::{NOW, dev, dev_chain};
use tabchain_core::wire::{self, Envelope, Message, PeerId, PeerInfo};

const NEW: PeerId = PeerId(1);
const HONEST: PeerId = PeerId(2);
const LIAR: PeerId = PeerId(3);
const HONEST_HEIGHT: u64 = 50;

/// What the liar does when asked for headers.
#[derive(Clone, Copy, Debug)]
enum Liar {
    /// Never answers.
    Silent,
    /// Answers each request 9 s later with one real header (a block on
    /// genesis): a chain that ends far short of its claim.
    OneHeaderEvery9s,
    /// Answers 9 s later with headers that do not connect.
    Garbage,
}

fn frame(from: PeerId, message: Message) -> String {
    wire::encode(&Envelope { from: Some(from), to: None, message }).expect("encodes")
}

/// A frame from the relay itself (no `from`).
fn relay_frame(message: Message) -> String {
    wire::encode(&Envelope::broadcast(message)).expect("encodes")
}

fn sends(outputs: &[Output]) -> Vec<Envelope> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(text) => Some(wire::decode(text).expect("the driver sends valid messages")),
            _ => None,
        })
        .collect()
}

/// Runs the new node next to the honest peer and the liar; returns the
/// virtual time (ms after the join) at which the new node had the honest
/// chain, and its events.
fn sync_time(liar: Liar, honest_chain: &[Block]) -> (u64, Vec<Event>) {
    let params = dev();
    let mut honest = Driver::new(params.clone(), "honest");
    for block in honest_chain {
        honest.submit_block(block.clone(), NOW).expect("honest chain is valid");
    }
    let liar_block =
        tabchain_core::testkit::block_on(params.chain_id(), 1, vec![tabchain_core::testkit::post("liar", 1)]);
    let mut node = Driver::new(params.clone(), "new");
    let info = |id, agent: &str, best_height, total_work| PeerInfo::new(id, agent.into(), best_height, total_work);
    let peers = vec![
        info(LIAR, "liar", u64::MAX / 2, Work::from_hex(&"f".repeat(64)).unwrap()),
        info(HONEST, "honest", HONEST_HEIGHT, honest.total_work()),
    ];
    let mut events = Vec::new();
    let mut now = NOW;
    let welcome = Message::Welcome { peer_id: NEW, network: params.network, chain_id: params.chain_id(), peers };
    let mut inbox: Vec<(u64, PeerId, String)> = vec![(now, PeerId(0), relay_frame(welcome))];
    let me = info(NEW, "new", 0, node.total_work());
    inbox.push((now, PeerId(0), relay_frame(Message::PeerJoined { peer: me })));
    let start = now;
    let end = start + 60_000;
    while now < end {
        // Deliver what is due, oldest first.
        inbox.sort_by_key(|(at, _, _)| *at);
        while let Some(pos) = inbox.iter().position(|(at, _, _)| *at <= now) {
            let (_, _, text) = inbox.remove(pos);
            let outputs = node.on_text(&text, now);
            route(&outputs, now, liar, &liar_block, &mut honest, &mut inbox, &mut events);
        }
        if node.tip() == honest.tip() {
            return (now - start, events);
        }
        now += 100;
        let outputs = node.tick(now);
        route(&outputs, now, liar, &liar_block, &mut honest, &mut inbox, &mut events);
    }
    panic!("the new node never synced from the honest peer: {events:?}");
}

/// Carries out the new node's outputs: the honest peer answers at once, the
/// liar as scripted.
fn route(
    outputs: &[Output],
    now: u64,
    liar: Liar,
    liar_block: &Block,
    honest: &mut Driver,
    inbox: &mut Vec<(u64, PeerId, String)>,
    events: &mut Vec<Event>,
) {
    for output in outputs {
        if let Output::Event(event) = output {
            events.push(event.clone());
        }
    }
    for envelope in sends(outputs) {
        match envelope.to {
            Some(HONEST) => {
                let asked = frame(NEW, envelope.message);
                for answer in sends(&honest.on_text(&asked, now)) {
                    if answer.to == Some(NEW) {
                        inbox.push((now, HONEST, frame(HONEST, answer.message)));
                    }
                }
            }
            Some(LIAR) => {
                if let Message::GetHeaders { .. } = envelope.message {
                    let headers = match liar {
                        Liar::Silent => continue,
                        Liar::OneHeaderEvery9s => vec![liar_block.header],
                        Liar::Garbage => {
                            let mut h = liar_block.header;
                            h.prev_hash = tabchain_core::testkit::fake_hash("nowhere");
                            vec![h]
                        }
                    };
                    inbox.push((now + 9_000, LIAR, frame(LIAR, Message::Headers { headers })));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn a_liar_claiming_the_most_work_cannot_hold_the_sync() {
    let chain = dev_chain(HONEST_HEIGHT);
    for liar in [Liar::Silent, Liar::OneHeaderEvery9s, Liar::Garbage] {
        let (ms, events) = sync_time(liar, &chain);
        assert!(ms <= 15_000, "{liar:?}: synced after {ms} ms: {events:?}");
        // The liar was asked first (it claims the most work), then dropped.
        assert!(events.contains(&Event::SyncStarted { peer: LIAR, target_height: u64::MAX / 2 }), "{events:?}");
        assert!(events.iter().any(|e| matches!(e, Event::SyncStarted { peer: HONEST, .. })), "{liar:?}: {events:?}");
        if !matches!(liar, Liar::Silent) {
            assert!(events.iter().any(|e| matches!(e, Event::PeerDoubted { peer: LIAR, .. })), "{events:?}");
        }
        println!("{liar:?}: synced from the honest peer after {ms} ms (timeout {SYNC_TIMEOUT_MS} ms)");
    }
}
