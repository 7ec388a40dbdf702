//! A node bootstraps from at most `MAX_SEEDS` seeds, and sends a request at most `RETRIES` times
//! more when no answer comes: each at its edge and one past it.

use std::net::Ipv6Addr;
use std::time::Duration;

use peerdrt_core::drt::config::{MAX_SEEDS, RETRIES};
use peerdrt_core::drt::*;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::*;

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);

fn seed(i: usize) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 1, i as u16), port: 3540 }
}

fn node(seeds: usize) -> Node {
    Node::new(NodeConfig::null_security(
        VERSION,
        4000,
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        (0..seeds).map(seed).collect(),
        [5; 32],
    ))
    .unwrap()
}

/// What the node sends until `until`, ticking every 50 ms: (destination, message ID, whether
/// it is a SOLICIT).
fn run(node: &mut Node, until: Duration) -> Vec<(Endpoint, u32, bool)> {
    let mut sent = Vec::new();
    let mut now = Instant(0);
    node.start(now);
    loop {
        while let Some(t) = node.poll_transmit() {
            let d = Datagram::decode(&t.payload).unwrap();
            sent.push((t.destination, d.message_id, matches!(d.message, Message::Solicit(_))));
        }
        if now >= Instant(0).saturating_add(until) {
            return sent;
        }
        now = now.saturating_add(Duration::from_millis(50));
        node.handle_timeout(now);
    }
}

#[test]
fn a_node_bootstraps_from_its_first_max_seeds_seeds_and_no_more() {
    for seeds in [MAX_SEEDS, MAX_SEEDS + 1] {
        let mut n = node(seeds);
        let mut solicited: Vec<Endpoint> = run(&mut n, Duration::ZERO)
            .into_iter()
            .filter(|(_, _, solicit)| *solicit)
            .map(|(to, _, _)| to)
            .collect();
        solicited.sort_by_key(|e| e.addr);
        solicited.dedup();
        assert_eq!(solicited, (0..MAX_SEEDS).map(seed).collect::<Vec<_>>(), "{seeds} seeds configured");
    }
}

#[test]
fn a_request_nobody_answers_is_sent_retries_more_times_and_no_more() {
    let mut n = node(1);
    let sent = run(&mut n, Duration::from_secs(60));
    let (_, first_id, _) =
        *sent.iter().find(|(to, _, solicit)| *to == seed(0) && *solicit).expect("a SOLICIT");
    let copies = sent.iter().filter(|(to, id, _)| *to == seed(0) && *id == first_id).count();
    assert_eq!(copies, 1 + usize::from(RETRIES));
}
