//! Route entries heard from others, as specifications: who can make this node send INQUIREs
//! to a third party, how fast, and when such an entry enters the cache.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use super::*;
use crate::drt::security::NullProvider;

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);

fn ep(i: u32) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0x2001, 0xdb8, i as u16, (i >> 16) as u16, 0, 0, 0, 1), port: 4000 }
}

fn node() -> Node {
    let mut n = Node::new(NodeConfig::null_security(VERSION, 4000, ep(1).addr, vec![], [1; 32])).unwrap();
    n.start(Instant(0));
    drain(&mut n);
    n
}

fn drain(n: &mut Node) -> Vec<Transmit> {
    core::iter::from_fn(|| n.poll_transmit()).collect()
}

fn key(i: u32) -> Key {
    let mut k = [0x42; 32];
    k[..4].copy_from_slice(&i.to_be_bytes());
    k
}

/// A FLOOD (no ACK wanted) carrying the route entry of `key(i)` at `at`.
fn flood_naming(i: u32, at: Endpoint) -> Vec<u8> {
    let k = key(i);
    let addresses = [at.addr];
    let entry = RouteEntry { key: &k, version: VERSION, port: at.port, addresses: List::Items(&addresses) };
    let message = Message::Flood(Flood {
        no_ack: true,
        validate_key: &[0; KEY_LEN],
        keytoken: None,
        revoke_cpa: None,
        route_entry: Some(entry),
        flooded: None,
    });
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = Datagram { version: VERSION, message_id: i, message }.encode(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn inquires_to_third_parties(sent: &[Transmit], source: Endpoint) -> usize {
    sent.iter()
        .filter(|t| t.destination != source)
        .filter(|t| matches!(Datagram::decode(&t.payload).unwrap().message, Message::Inquire(_)))
        .count()
}

#[test]
fn a_route_entry_naming_a_third_party_is_not_followed_from_an_unverified_source() {
    let mut n = node();
    let spoofer = ep(7);
    n.handle_datagram(Instant(10), spoofer, &flood_naming(1, ep(100)));
    assert_eq!(inquires_to_third_parties(&drain(&mut n), spoofer), 0);
    assert_eq!(n.stats().third_party_refused, 1);
}

#[test]
fn a_route_entry_naming_its_own_source_is_verified_even_from_an_unverified_source() {
    let mut n = node();
    let source = ep(7);
    n.handle_datagram(Instant(10), source, &flood_naming(1, source));
    let sent = drain(&mut n);
    assert!(sent.iter().any(|t| t.destination == source));
    assert_eq!(n.stats().third_party_refused, 0);
}

#[test]
fn a_verified_source_aims_third_party_probe_burst_inquires_then_third_party_probe_rate_per_second() {
    const {
        assert!(
            THIRD_PARTY_PROBE_BURST as usize + THIRD_PARTY_PROBE_RATE as usize <= MAX_PENDING_VERIFICATIONS
        )
    };
    let mut n = node();
    let peer = ep(7);
    n.verified.insert(peer, Instant(0));
    let mut third = 100;
    let mut flood = |n: &mut Node, at: u64, count: u32| {
        for _ in 0..count {
            third += 1;
            n.handle_datagram(Instant(at), peer, &flood_naming(third, ep(third)));
        }
        inquires_to_third_parties(&drain(n), peer)
    };
    assert_eq!(flood(&mut n, 0, THIRD_PARTY_PROBE_BURST + 1), THIRD_PARTY_PROBE_BURST as usize);
    assert_eq!(n.stats().third_party_refused, 1);
    // A second later the bucket holds THIRD_PARTY_PROBE_RATE tokens, and no more.
    assert_eq!(flood(&mut n, 1_000, THIRD_PARTY_PROBE_RATE + 1), THIRD_PARTY_PROBE_RATE as usize);
    assert_eq!(n.stats().third_party_refused, 2);
}

#[test]
fn a_third_party_named_by_a_verified_source_is_cached_only_once_it_answers_itself() {
    let mut n = node();
    let (peer, third) = (ep(7), ep(8));
    n.verified.insert(peer, Instant(0));
    n.handle_datagram(Instant(0), peer, &flood_naming(1, third));
    let sent = drain(&mut n);
    let inquire = sent.iter().find(|t| t.destination == third).expect("the third party is asked");
    assert!(n.cache().is_empty(), "heard of, not yet answered");
    // The third party answers its INQUIRE with its record (Null provider: the nonce sealed).
    let asked = Datagram::decode(&inquire.payload).unwrap();
    let Message::Inquire(q) = asked.message else { panic!("an INQUIRE") };
    let mut cpa = Vec::new();
    crate::drt::security::SecurityProvider::seal(
        &NullProvider,
        &key(1),
        &crate::drt::security::KeyCredential::None,
        &[],
        q.nonce.unwrap(),
        false,
        &mut cpa,
    );
    let k = key(1);
    let addresses = [third.addr];
    let buffer = AuthorityBuffer {
        flags: AuthorityFlags::default(),
        credential: None,
        keytoken: None,
        classifier: None,
        extended_payload: None,
        route_entry: Some(RouteEntry {
            key: &k,
            version: VERSION,
            port: third.port,
            addresses: List::Items(&addresses),
        }),
        cpa: Some(&cpa),
    };
    let mut bytes = vec![0u8; 1024];
    let len = buffer.encode(&mut bytes).unwrap();
    let answer = Message::Authority(Authority {
        acked_id: asked.message_id,
        split: SplitControls { size: len as u16, offset: 0 },
        fragment: &bytes[..len],
    });
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let dlen = Datagram { version: VERSION, message_id: 77, message: answer }.encode(&mut buf).unwrap();
    // From anyone else, the answer is ignored.
    n.handle_datagram(Instant(20), peer, &buf[..dlen]);
    assert!(n.cache().is_empty());
    n.handle_datagram(Instant(20), third, &buf[..dlen]);
    assert!(n.cache().get(&key(1), &third).is_some());
}
