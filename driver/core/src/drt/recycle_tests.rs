//! Buffers given back by the host carry later datagrams, within named bounds.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use super::*;
use crate::drt::security::KeyCredential;

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);
const KEY: Key = [0x42; 32];

fn ep(i: u16) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i), port: 4000 }
}

/// A started node holding `KEY`, its outbox drained.
fn holder() -> Node {
    let mut n = Node::new(NodeConfig::null_security(VERSION, 4000, ep(1).addr, vec![], [1; 32])).unwrap();
    n.start(Instant(0));
    n.register(Instant(0), KEY, b"data", KeyCredential::None).unwrap();
    while n.poll_transmit().is_some() {}
    n
}

/// A LOOKUP for `KEY` that has passed through `hops` other nodes.
fn lookup(hops: u16) -> Vec<u8> {
    let path: Vec<Endpoint> = (0..hops).map(|h| ep(100 + h)).collect();
    let message = Message::Lookup(Lookup {
        controls: LookupControls {
            accept_any: false,
            precision: 0,
            criteria: ResolveCriteria::Exact,
            reason: ResolveReason::AppRequest,
        },
        target: &KEY,
        validate_key: &KEY,
        best_match: None,
        path: List::Items(&path),
        proof: None,
    });
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = Datagram { version: VERSION, message_id: 7, message }.encode(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

#[test]
fn a_recycled_buffer_carries_the_next_lookup_answer() {
    let mut n = holder();
    let buffer = Vec::with_capacity(MAX_POOLED_BUFFER_CAPACITY);
    let at = buffer.as_ptr();
    n.recycle(buffer);
    n.handle_datagram(Instant(1), ep(2), &lookup(MAX_ENDPOINT_ARRAY_ENTRIES as u16));
    let answer = n.poll_transmit().expect("an AUTHORITY answers the LOOKUP");
    assert!(matches!(Datagram::decode(&answer.payload).unwrap().message, Message::Authority(_)));
    assert_eq!(answer.payload.as_ptr(), at);
    assert!(n.buffers.is_empty());
}

#[test]
fn the_pool_keeps_max_pooled_buffers_and_drops_the_next() {
    let mut n = holder();
    for _ in 0..MAX_POOLED_BUFFERS {
        n.recycle(Vec::with_capacity(64));
    }
    assert_eq!(n.buffers.len(), MAX_POOLED_BUFFERS);
    n.recycle(Vec::with_capacity(64));
    assert_eq!(n.buffers.len(), MAX_POOLED_BUFFERS);
}

#[test]
fn a_buffer_of_max_pooled_buffer_capacity_is_kept_and_a_larger_one_is_not() {
    let mut n = holder();
    n.recycle(Vec::with_capacity(MAX_POOLED_BUFFER_CAPACITY + 1));
    assert!(n.buffers.is_empty());
    let mut kept = Vec::with_capacity(MAX_POOLED_BUFFER_CAPACITY);
    kept.extend_from_slice(b"old bytes");
    n.recycle(kept);
    assert_eq!(n.buffers.len(), 1);
    assert!(n.buffers[0].is_empty(), "a recycled buffer is emptied");
}
