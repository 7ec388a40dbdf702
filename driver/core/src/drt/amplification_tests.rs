//! Anti-amplification and flood control, as specifications of the node's behaviour.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;

use super::*;
use crate::drt::rate::{UNVERIFIED_BURST, VERIFIED_SOURCE_BURST};
use crate::drt::security::KeyCredential;
use crate::drt::verified::{MAX_DEFERRED, MAX_PENDING_CHALLENGES};

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);
const KEY: Key = [0x42; 32];

fn ep(i: u32) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (i >> 16) as u16, i as u16), port: 4000 }
}

fn node(i: u32) -> Node {
    Node::new(NodeConfig::null_security(VERSION, 4000, ep(i).addr, vec![], [i as u8; 32])).unwrap()
}

/// A node holding `KEY` with `app_data`, its outbox drained.
fn holder(app_data: &[u8]) -> Node {
    let mut n = node(1);
    n.start(Instant(0));
    n.register(Instant(0), KEY, app_data, KeyCredential::None).unwrap();
    drain(&mut n);
    n
}

fn drain(n: &mut Node) -> Vec<Transmit> {
    core::iter::from_fn(|| n.poll_transmit()).collect()
}

fn encode(message_id: u32, message: Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = Datagram { version: VERSION, message_id, message }.encode(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn inquire(id: u32) -> Vec<u8> {
    encode(
        id,
        Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
            validate_key: &KEY,
            nonce: Some(&[7; NONCE_LEN]),
            proof: None,
        }),
    )
}

fn decode(bytes: &[u8]) -> Datagram<'_> {
    Datagram::decode(bytes).unwrap()
}

/// Every message type, as a spoofer would send it.
fn every_message_type(i: u32) -> Vec<Vec<u8>> {
    let addresses = [ep(9).addr];
    let entry = RouteEntry { key: &KEY, version: VERSION, port: 4000, addresses: List::Items(&addresses) };
    let path = [ep(9)];
    vec![
        encode(
            i,
            Message::Solicit(Solicit { solicit_type: None, route_entry: None, hashed_nonce: &[1; 20] }),
        ),
        encode(
            i,
            Message::Solicit(Solicit {
                solicit_type: None,
                route_entry: Some(entry),
                hashed_nonce: &[1; 20],
            }),
        ),
        encode(
            i,
            Message::Advertise(Advertise { acked_id: i, keys: List::Items(&[KEY]), hashed_nonce: &[1; 20] }),
        ),
        encode(
            i,
            Message::Request(Request::Plain(RequestBody {
                nonce: &[1; NONCE_LEN],
                keys: List::Items(&[KEY]),
                proof: None,
            })),
        ),
        encode(
            i,
            Message::Flood(Flood {
                no_ack: false,
                validate_key: &KEY,
                keytoken: None,
                revoke_cpa: None,
                route_entry: Some(entry),
                flooded: None,
            }),
        ),
        encode(i, bare_flood(true)),
        inquire(i),
        encode(
            i,
            Message::Lookup(Lookup {
                controls: LookupControls {
                    accept_any: true,
                    precision: 0,
                    criteria: ResolveCriteria::Nearest,
                    reason: ResolveReason::AppRequest,
                },
                target: &[0x43; 32],
                validate_key: &KEY,
                best_match: None,
                path: List::Items(&path),
                proof: None,
            }),
        ),
        encode(
            i,
            Message::Authority(Authority {
                acked_id: i,
                split: SplitControls { size: 6, offset: 0 },
                fragment: &[0, 64, 0, 6, 2, 0],
            }),
        ),
        encode(i, Message::Ack(Ack { acked_id: i, not_found: false })),
    ]
}

#[test]
fn an_inquire_from_an_unverified_source_gets_only_a_challenge_no_larger_than_itself() {
    // 5,000 bytes of app data: the full answer is five AUTHORITY fragments.
    let mut b = holder(&[0xAB; 5000]);
    let victim = ep(7);
    let request = inquire(11);
    b.handle_datagram(Instant(10), victim, &request);
    let sent = drain(&mut b);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].destination, victim);
    assert!(sent[0].payload.len() <= request.len(), "{} > {}", sent[0].payload.len(), request.len());
    assert!(matches!(
        decode(&sent[0].payload).message,
        Message::Flood(Flood { no_ack: false, route_entry: None, .. })
    ));
    assert_eq!(b.stats().deferred, 1);
    assert!(!b.is_verified(&victim, Instant(10)));
}

#[test]
fn once_the_challenge_is_acked_the_deferred_inquire_is_answered_in_full() {
    let mut b = holder(&[0xAB; 5000]);
    let a = ep(7);
    b.handle_datagram(Instant(10), a, &inquire(11));
    let challenge = drain(&mut b).remove(0);
    let challenge_id = decode(&challenge.payload).message_id;
    // A receives at its address, so it can echo the challenge's message ID.
    b.handle_datagram(
        Instant(20),
        a,
        &encode(12, Message::Ack(Ack { acked_id: challenge_id, not_found: false })),
    );
    assert!(b.is_verified(&a, Instant(20)));
    let answer = drain(&mut b);
    assert_eq!(answer.len(), 5, "five AUTHORITY fragments");
    for t in &answer {
        assert_eq!(t.destination, a);
        assert!(matches!(decode(&t.payload).message, Message::Authority(Authority { acked_id: 11, .. })));
    }
    // Verified now: the next INQUIRE is answered at once.
    b.handle_datagram(Instant(30), a, &inquire(13));
    assert_eq!(drain(&mut b).len(), 5);
}

#[test]
fn an_ack_with_the_wrong_message_id_verifies_nothing() {
    let mut b = holder(&[0xAB; 5000]);
    let a = ep(7);
    b.handle_datagram(Instant(10), a, &inquire(11));
    let challenge_id = decode(&drain(&mut b)[0].payload).message_id;
    b.handle_datagram(
        Instant(20),
        a,
        &encode(12, Message::Ack(Ack { acked_id: challenge_id.wrapping_add(1), not_found: false })),
    );
    assert!(!b.is_verified(&a, Instant(20)));
    assert!(drain(&mut b).is_empty());
    // Nor does the right ID from another endpoint.
    b.handle_datagram(
        Instant(20),
        ep(8),
        &encode(12, Message::Ack(Ack { acked_id: challenge_id, not_found: false })),
    );
    assert!(!b.is_verified(&a, Instant(20)) && !b.is_verified(&ep(8), Instant(20)));
    assert!(drain(&mut b).is_empty());
}

#[test]
fn a_reply_exactly_as_large_as_the_datagram_is_sent_and_one_byte_more_is_not() {
    let mut b = holder(b"x");
    let v = ep(7);
    // At the edge: a 56-byte knock pays for the 56-byte challenge exactly.
    let knock = encode(1, bare_flood(true));
    b.handle_datagram(Instant(10), v, &knock);
    let sent = drain(&mut b);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].payload.len(), knock.len());
    // One past the edge: a bare SOLICIT (36 bytes) cannot pay for the same challenge, nor for
    // the ADVERTISE; it is held back and nothing is sent.
    let w = ep(8);
    let solicit = encode(
        2,
        Message::Solicit(Solicit { solicit_type: None, route_entry: None, hashed_nonce: &[1; 20] }),
    );
    assert!(solicit.len() < knock.len());
    b.handle_datagram(Instant(10), w, &solicit);
    assert!(drain(&mut b).is_empty());
    assert_eq!(b.stats().deferred, 1);
    // The mechanism itself: a budget of n bytes lets an n-byte datagram out, not an n+1-byte one.
    for (budget, len, goes) in [(56, 56, true), (56, 57, false)] {
        b.reply_budget = Some((w, budget));
        let refused = b.stats().amplification_refused;
        b.queue(Transmit { destination: w, payload: vec![0; len] });
        assert_eq!(drain(&mut b).len(), usize::from(goes));
        assert_eq!(b.stats().amplification_refused, refused + u64::from(!goes));
    }
    b.reply_budget = None;
}

#[test]
fn a_spoofed_source_never_gets_back_more_bytes_than_it_sent_whatever_it_sends() {
    let mut b = holder(&[0xAB; 5000]);
    // The holder also knows a few routes, so SOLICITs and LOOKUPs have something to offer.
    for i in 0..8 {
        let mut key = [0u8; 32];
        key[0] = i * 30;
        b.cache.insert(CacheEntry::new(key, ep(100 + u32::from(i)), VERSION, Instant(0), None));
    }
    let victim = ep(7);
    let (mut received, mut sent) = (0usize, 0usize);
    let mut t = 0;
    for round in 0..50u32 {
        for datagram in every_message_type(round) {
            t += 100;
            received += datagram.len();
            b.handle_datagram(Instant(t), victim, &datagram);
            b.handle_timeout(Instant(t));
            sent += drain(&mut b)
                .iter()
                .filter(|x| x.destination == victim)
                .map(|x| x.payload.len())
                .sum::<usize>();
            assert!(sent <= received, "round {round}: sent {sent} > received {received}");
        }
    }
    assert!(!b.is_verified(&victim, Instant(t)));
}

#[test]
fn one_verified_source_gets_its_burst_and_the_next_datagram_is_dropped_unread() {
    let mut b = holder(b"x");
    let a = ep(7);
    b.verified.insert(a, Instant(0));
    let before = b.stats();
    for i in 0..VERIFIED_SOURCE_BURST {
        b.handle_datagram(Instant(0), a, &encode(i, bare_flood(true)));
    }
    assert_eq!(b.stats().rate_limited, before.rate_limited);
    b.handle_datagram(Instant(0), a, &inquire(99));
    assert_eq!(b.stats().rate_limited, before.rate_limited + 1);
    assert!(drain(&mut b).is_empty(), "the INQUIRE was not answered");
}

#[test]
fn spoofed_addresses_together_get_the_unverified_burst_and_no_more() {
    let mut b = holder(b"x");
    for i in 0..UNVERIFIED_BURST {
        b.handle_datagram(Instant(0), ep(1000 + i), &encode(i, bare_flood(true)));
    }
    assert_eq!(b.stats().rate_limited, 0);
    b.handle_datagram(Instant(0), ep(999), &inquire(1));
    assert_eq!(b.stats().rate_limited, 1);
}

#[test]
fn requests_held_back_stay_bounded_under_a_flood_from_spoofed_sources() {
    let mut b = holder(&[0xAB; 5000]);
    for i in 0..10_000u32 {
        b.handle_datagram(Instant(u64::from(i) * 5), ep(1000 + i), &inquire(i));
        drain(&mut b);
    }
    assert!(b.deferred.len() <= MAX_DEFERRED);
    let challenges = b.pending.iter().filter(|p| matches!(p.purpose, Purpose2::Challenge)).count();
    assert!(challenges <= MAX_PENDING_CHALLENGES);
    assert!(b.heap_bytes() < 128 * 1024, "{} bytes", b.heap_bytes());
}

#[test]
fn at_most_max_pending_challenges_are_outstanding_and_the_next_source_waits() {
    let mut b = holder(&[0xAB; 5000]);
    for i in 0..MAX_PENDING_CHALLENGES as u32 {
        b.handle_datagram(Instant(10), ep(100 + i), &inquire(i));
        assert_eq!(drain(&mut b).len(), 1, "source {i} is challenged");
    }
    b.handle_datagram(Instant(10), ep(999), &inquire(999));
    assert!(drain(&mut b).is_empty(), "no slot for a 17th challenge");
    let challenges = b.pending.iter().filter(|p| matches!(p.purpose, Purpose2::Challenge)).count();
    assert_eq!(challenges, MAX_PENDING_CHALLENGES);
}
