//! Cache exchange key lists: an ADVERTISE offers at most `MAX_ADVERTISE_KEYS` keys and a REQUEST
//! is answered for at most `MAX_REQUEST_KEYS`, each held at its edge and one past it.

use std::net::Ipv6Addr;

use peerdrt_core::drt::config::{MAX_ADVERTISE_KEYS, MAX_REQUEST_KEYS};
use peerdrt_core::drt::security::KeyCredential;
use peerdrt_core::drt::*;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::*;
use sha1::{Digest, Sha1};

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);
const PEER: Endpoint = Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 7), port: 4000 };
const NONCE: Nonce = [0x5C; NONCE_LEN];

fn key(i: usize) -> Key {
    let mut k = [0x30; 32];
    k[..2].copy_from_slice(&(i as u16).to_be_bytes());
    k
}

/// A node holding `keys` registrations (nothing in its cache).
fn holder(keys: usize) -> Node {
    let mut node = Node::new(NodeConfig::null_security(
        VERSION,
        4000,
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        vec![],
        [3; 32],
    ))
    .unwrap();
    node.start(Instant(0));
    for i in 0..keys {
        node.register(Instant(0), key(i), b"registered", KeyCredential::None).unwrap();
    }
    drain(&mut node);
    node
}

fn drain(node: &mut Node) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| node.poll_transmit()).map(|t| t.payload).collect()
}

fn send(node: &mut Node, at: u64, id: u32, message: Message<'_>) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = Datagram { version: VERSION, message_id: id, message }.encode(&mut buf).unwrap();
    node.handle_datagram(Instant(at), PEER, &buf[..len]);
    drain(node)
}

/// Verifies `PEER`'s address, as the node requires before it answers with more bytes than it
/// received: an INQUIRE draws a challenge (a bare FLOOD), which `PEER` acknowledges.
fn verify(node: &mut Node) {
    let inquire = Message::Inquire(Inquire {
        flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
        validate_key: &key(0),
        nonce: Some(&[7; NONCE_LEN]),
        proof: None,
    });
    let sent = send(node, 5, 10, inquire);
    let challenge = sent
        .iter()
        .find_map(|b| match Datagram::decode(b) {
            Ok(Datagram { message_id, message: Message::Flood(_), .. }) => Some(message_id),
            _ => None,
        })
        .expect("the node challenged the unverified source");
    send(node, 6, 11, Message::Ack(Ack { acked_id: challenge, not_found: false }));
}

/// SOLICIT from the verified `PEER`: the keys the ADVERTISE offers.
fn solicit(node: &mut Node) -> Vec<Key> {
    verify(node);
    let hashed: HashedNonce = Sha1::digest(NONCE).into();
    let sent = send(
        node,
        10,
        12,
        Message::Solicit(Solicit { solicit_type: None, route_entry: None, hashed_nonce: &hashed }),
    );
    let advertised: Vec<Key> = sent
        .iter()
        .filter_map(|bytes| match Datagram::decode(bytes).ok()?.message {
            Message::Advertise(a) => Some(a.keys.iter().collect::<Vec<Key>>()),
            _ => None,
        })
        .next()
        .expect("the node answered the SOLICIT with an ADVERTISE");
    advertised
}

/// REQUEST for `keys` in the conversation `solicit` opened: how many route entries are flooded.
fn request(node: &mut Node, keys: &[Key]) -> usize {
    let message =
        Message::Request(Request::Plain(RequestBody { nonce: &NONCE, keys: List::Items(keys), proof: None }));
    let sent = send(node, 30, 13, message);
    assert!(
        sent.iter().any(|b| matches!(
            Datagram::decode(b).map(|d| d.message),
            Ok(Message::Ack(Ack { acked_id: 13, .. }))
        )),
        "the REQUEST was acknowledged"
    );
    sent.iter().filter(|b| matches!(Datagram::decode(b).map(|d| d.message), Ok(Message::Flood(_)))).count()
}

#[test]
fn an_advertise_offers_max_advertise_keys_and_no_more() {
    for registered in
        [MAX_ADVERTISE_KEYS - 1, MAX_ADVERTISE_KEYS, MAX_ADVERTISE_KEYS + 1, 3 * MAX_ADVERTISE_KEYS]
    {
        let mut node = holder(registered);
        let offered = solicit(&mut node);
        assert_eq!(offered.len(), registered.min(MAX_ADVERTISE_KEYS), "{registered} registered");
        assert!(offered.iter().all(|k| (0..registered).any(|i| key(i) == *k)), "only its own keys");
    }
}

#[test]
fn a_request_is_answered_for_max_request_keys_and_no_more() {
    let registered = MAX_REQUEST_KEYS + 5;
    let all: Vec<Key> = (0..registered).map(key).collect();
    for asked in [MAX_REQUEST_KEYS, MAX_REQUEST_KEYS + 1, registered] {
        let mut node = holder(registered);
        solicit(&mut node);
        assert_eq!(request(&mut node, &all[..asked]), asked.min(MAX_REQUEST_KEYS), "{asked} keys asked");
    }
}
