//! A DRT node fed arbitrary interleavings of datagrams (raw and well-formed), timer ticks and API
//! calls. It must never panic, every datagram it sends must decode, and its memory stays bounded.

#![no_main]

use std::net::Ipv6Addr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use peerdrt_core::drt::config::MAX_OUTBOX;
use peerdrt_core::drt::security::{KeyCredential, NullProvider};
use peerdrt_core::drt::*;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::*;

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);
/// Far above what the bounded tables can hold for the inputs a run can feed.
const MEMORY_BOUND: usize = 64 * 1024 * 1024;
/// Most operations one input runs; the rest of a longer input is ignored. Without a cap,
/// libFuzzer grows scripts to thousands of operations and the target slows to about 2,200
/// executions per second. 64 operations still reach every message handler and timer (a tick
/// moves the clock up to 5.1 s, a datagram carries up to 255 bytes); the tables' bounds, which
/// take thousands of inputs to fill, are held by the node's unit and `node_bounds` tests.
const MAX_OPS: usize = 64;

fn peer(b: u8) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(b % 8) + 1), port: 3540 }
}

fn key(b: u8) -> Key {
    let mut k = [0u8; 32];
    k[0] = b;
    k[31] = b.wrapping_mul(7);
    k
}

fuzz_target!(|data: &[u8]| {
    let mut node = Node::new(NodeConfig {
        version: VERSION,
        port: 3540,
        addresses: vec![Ipv6Addr::LOCALHOST],
        seeds: vec![peer(1)],
        security: Box::new(NullProvider),
        rng_seed: [1; 32],
        timing: Timing::default(),
        flood: FloodLimits::default(),
    })
    .expect("valid config");
    let mut now = Instant(0);
    node.start(now);
    let mut regs = Vec::new();
    let mut searches = Vec::new();
    let mut input = data;
    let mut buf = [0u8; 2048];
    let mut ops = 0;
    while let Some((&op, rest)) = input.split_first() {
        if ops == MAX_OPS {
            break;
        }
        ops += 1;
        input = rest;
        let arg = |i: &mut &[u8]| -> u8 {
            let (b, r) = i.split_first().map(|(b, r)| (*b, r)).unwrap_or((0, &[]));
            *i = r;
            b
        };
        match op % 8 {
            0 => {
                // A raw datagram.
                let from = arg(&mut input);
                let len = usize::from(arg(&mut input)).min(input.len());
                let (bytes, rest) = input.split_at(len);
                input = rest;
                node.handle_datagram(now, peer(from), bytes);
            }
            1 => {
                now = now.saturating_add(Duration::from_millis(u64::from(arg(&mut input)) * 20));
                node.handle_timeout(now);
            }
            2 => {
                let k = key(arg(&mut input));
                if let Ok(id) = node.register(now, k, b"fuzz", KeyCredential::None) {
                    regs.push(id);
                }
            }
            3 => {
                let k = key(arg(&mut input));
                let info = match arg(&mut input) % 3 {
                    0 => SearchInfo::exact(),
                    1 => SearchInfo::nearest(3),
                    _ => SearchInfo { iterative: true, ..SearchInfo::exact() },
                };
                if let Ok(id) = node.start_search(now, k, info, Duration::from_secs(2)) {
                    searches.push(id);
                }
            }
            4 => {
                if let Some(id) = regs.pop() {
                    let _ = node.unregister(now, id);
                }
                if let Some(id) = searches.pop() {
                    let _ = node.continue_search(now, id);
                    let _ = node.end_search(id);
                }
            }
            5 => {
                // A well-formed LOOKUP or INQUIRE about a key this node may hold.
                let from = arg(&mut input);
                let k = key(arg(&mut input));
                let id = u32::from(arg(&mut input));
                let path = [peer(from.wrapping_add(1))];
                let message = if from % 2 == 0 {
                    Message::Lookup(Lookup {
                        controls: LookupControls {
                            accept_any: from % 4 == 0,
                            precision: 0,
                            criteria: ResolveCriteria::Nearest,
                            reason: ResolveReason::AppRequest,
                        },
                        target: &k,
                        validate_key: &k,
                        best_match: None,
                        path: List::Items(&path),
                        proof: None,
                    })
                } else {
                    Message::Inquire(Inquire {
                        flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
                        validate_key: &k,
                        nonce: Some(&[3; 16]),
                        proof: None,
                    })
                };
                let len =
                    Datagram { version: VERSION, message_id: id, message }.encode(&mut buf).expect("fits");
                node.handle_datagram(now, peer(from), &buf[..len]);
            }
            6 => {
                // A FLOOD or ADVERTISE answering whatever the node may have sent.
                let from = arg(&mut input);
                let k = key(arg(&mut input));
                let acked = u32::from(arg(&mut input));
                let addrs = [peer(from).addr];
                let message = if from % 2 == 0 {
                    Message::Flood(Flood {
                        no_ack: from % 4 == 0,
                        validate_key: &[0; 32],
                        keytoken: None,
                        revoke_cpa: None,
                        route_entry: Some(RouteEntry {
                            key: &k,
                            version: VERSION,
                            port: 3540,
                            addresses: List::Items(&addrs),
                        }),
                        flooded: None,
                    })
                } else {
                    Message::Ack(Ack { acked_id: acked, not_found: from % 3 == 0 })
                };
                let len =
                    Datagram { version: VERSION, message_id: acked, message }.encode(&mut buf).expect("fits");
                node.handle_datagram(now, peer(from), &buf[..len]);
            }
            _ => while node.poll_event().is_some() {},
        }
        let mut sent = 0;
        while let Some(t) = node.poll_transmit() {
            sent += 1;
            assert!(Datagram::decode(&t.payload).is_ok(), "the node sent a datagram it cannot decode");
        }
        assert!(sent <= MAX_OUTBOX);
        assert!(node.heap_bytes() < MEMORY_BOUND);
    }
});
