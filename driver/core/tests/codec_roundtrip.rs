//! Property: every message the codec can encode decodes back to the same value, and
//! re-encoding the decoded value gives the same bytes.

use std::net::Ipv6Addr;

use peerdrt_core::wire::*;
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct OwnedRoute {
    key: Key,
    version: (u8, u8),
    port: u16,
    addresses: Vec<Ipv6Addr>,
}

impl OwnedRoute {
    fn view(&self) -> RouteEntry<'_> {
        RouteEntry {
            key: &self.key,
            version: ProtocolVersion::new(self.version.0, self.version.1),
            port: self.port,
            addresses: List::Items(&self.addresses),
        }
    }
}

#[derive(Debug, Clone)]
struct OwnedProof {
    credential: Vec<u8>,
    signature: Vec<u8>,
    key_identifier: Vec<u8>,
}

impl OwnedProof {
    fn view(&self) -> MembershipProof<'_> {
        MembershipProof {
            credential: &self.credential,
            signature: &self.signature,
            key_identifier: &self.key_identifier,
        }
    }
}

#[derive(Debug, Clone)]
enum Owned {
    Solicit(Option<SolicitType>, Option<OwnedRoute>, HashedNonce),
    Advertise(u32, Vec<Key>, HashedNonce),
    Request(Nonce, Vec<Key>, Option<OwnedProof>),
    RequestFragment(u16, Vec<u8>),
    Flood(bool, Key, Option<Vec<u8>>, Option<Vec<u8>>, Option<OwnedRoute>, Option<Vec<Endpoint>>),
    Inquire(InquireFlags, Key, Option<Nonce>, Option<OwnedProof>),
    Authority(u32, u16, Vec<u8>),
    Ack(u32, bool),
    Lookup(LookupControls, Key, Key, Option<OwnedRoute>, Vec<Endpoint>, Option<OwnedProof>),
}

impl Owned {
    fn view(&self) -> Message<'_> {
        match self {
            Owned::Solicit(t, r, h) => Message::Solicit(Solicit {
                solicit_type: *t,
                route_entry: r.as_ref().map(|r| r.view()),
                hashed_nonce: h,
            }),
            Owned::Advertise(id, keys, h) => {
                Message::Advertise(Advertise { acked_id: *id, keys: List::Items(keys), hashed_nonce: h })
            }
            Owned::Request(n, keys, p) => Message::Request(Request::Plain(RequestBody {
                nonce: n,
                keys: List::Items(keys),
                proof: p.as_ref().map(|p| p.view()),
            })),
            Owned::RequestFragment(size, bytes) => {
                let (split, fragment) = split_of(*size, bytes);
                Message::Request(Request::Fragment { split, fragment })
            }
            Owned::Flood(d, k, token, revoke, r, flooded) => Message::Flood(Flood {
                no_ack: *d,
                validate_key: k,
                keytoken: token.as_deref(),
                revoke_cpa: revoke.as_deref(),
                route_entry: r.as_ref().map(|r| r.view()),
                flooded: flooded.as_ref().map(|f| List::Items(f)),
            }),
            Owned::Inquire(flags, k, n, p) => Message::Inquire(Inquire {
                flags: *flags,
                validate_key: k,
                nonce: n.as_ref(),
                proof: p.as_ref().map(|p| p.view()),
            }),
            Owned::Authority(id, size, bytes) => {
                let (split, fragment) = split_of(*size, bytes);
                Message::Authority(Authority { acked_id: *id, split, fragment })
            }
            Owned::Ack(id, n) => Message::Ack(Ack { acked_id: *id, not_found: *n }),
            Owned::Lookup(c, t, v, r, path, p) => Message::Lookup(Lookup {
                controls: *c,
                target: t,
                validate_key: v,
                best_match: r.as_ref().map(|r| r.view()),
                path: List::Items(path),
                proof: p.as_ref().map(|p| p.view()),
            }),
        }
    }
}

/// A fragment at the last offset of a buffer of `size` bytes, `bytes` cut to fit.
fn split_of(size: u16, bytes: &[u8]) -> (SplitControls, &[u8]) {
    let offset = (usize::from(size) - 1) / fragment::FRAGMENT_LEN * fragment::FRAGMENT_LEN;
    let len = usize::from(size) - offset;
    (SplitControls { size, offset: offset as u16 }, &bytes[..len])
}

fn key() -> impl Strategy<Value = Key> {
    any::<Key>()
}

fn route() -> impl Strategy<Value = OwnedRoute> {
    (key(), any::<(u8, u8)>(), MIN_ROUTE_PORT..=u16::MAX, vec(any::<u128>(), 1..=MAX_ROUTE_ADDRESSES))
        .prop_map(|(key, version, port, a)| OwnedRoute {
            key,
            version,
            port,
            addresses: a.into_iter().map(Ipv6Addr::from).collect(),
        })
}

fn endpoints() -> impl Strategy<Value = Vec<Endpoint>> {
    vec((any::<u128>(), any::<u16>()), 1..=MAX_ENDPOINT_ARRAY_ENTRIES)
        .prop_map(|v| v.into_iter().map(|(a, port)| Endpoint { addr: Ipv6Addr::from(a), port }).collect())
}

fn blob() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..300)
}

fn proof() -> impl Strategy<Value = Option<OwnedProof>> {
    proptest::option::of((blob(), blob(), blob()).prop_map(|(credential, signature, key_identifier)| {
        OwnedProof { credential, signature, key_identifier }
    }))
}

fn controls() -> impl Strategy<Value = LookupControls> {
    let criteria = prop_oneof![
        Just(ResolveCriteria::Exact),
        Just(ResolveCriteria::AnyPeerName),
        Just(ResolveCriteria::Nearest),
        Just(ResolveCriteria::Nearest64),
        Just(ResolveCriteria::UpperBits),
    ];
    let reason = prop_oneof![
        Just(ResolveReason::AppRequest),
        Just(ResolveReason::Registration),
        Just(ResolveReason::CacheMaintenance),
        Just(ResolveReason::SplitDetection),
    ];
    (any::<bool>(), any::<u16>(), criteria, reason).prop_map(|(accept_any, precision, criteria, reason)| {
        LookupControls { accept_any, precision, criteria, reason }
    })
}

fn split_size() -> impl Strategy<Value = u16> {
    1..=fragment::MAX_AUTHORITY_BUFFER_LEN as u16
}

fn message() -> impl Strategy<Value = Owned> {
    let solicit_type = proptest::option::of(prop_oneof![Just(SolicitType::Any), Just(SolicitType::Local)]);
    prop_oneof![
        (solicit_type, proptest::option::of(route()), any::<HashedNonce>())
            .prop_map(|(t, r, h)| Owned::Solicit(t, r, h)),
        (any::<u32>(), vec(key(), 0..40), any::<HashedNonce>())
            .prop_map(|(i, k, h)| Owned::Advertise(i, k, h)),
        (any::<Nonce>(), vec(key(), 0..40), proof()).prop_map(|(n, k, p)| Owned::Request(n, k, p)),
        (split_size(), vec(any::<u8>(), fragment::FRAGMENT_LEN))
            .prop_map(|(s, b)| Owned::RequestFragment(s, b)),
        (
            any::<bool>(),
            key(),
            proptest::option::of(blob()),
            proptest::option::of(blob()),
            proptest::option::of(route()),
            proptest::option::of(endpoints())
        )
            .prop_map(|(d, k, t, r, e, f)| Owned::Flood(d, k, t, r, e, f)),
        (any::<(bool, bool, bool)>(), key(), proptest::option::of(any::<Nonce>()), proof()).prop_map(
            |((a, x, c), k, n, p)| Owned::Inquire(
                InquireFlags { want_cpa: a, want_payload: x, want_credential: c },
                k,
                n,
                p
            )
        ),
        (any::<u32>(), split_size(), vec(any::<u8>(), fragment::FRAGMENT_LEN))
            .prop_map(|(i, s, b)| Owned::Authority(i, s, b)),
        (any::<u32>(), any::<bool>()).prop_map(|(i, n)| Owned::Ack(i, n)),
        (controls(), key(), key(), proptest::option::of(route()), endpoints(), proof())
            .prop_map(|(c, t, v, r, p, s)| Owned::Lookup(c, t, v, r, p, s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_message_round_trips(owned in message(), id in any::<u32>(), major in any::<u8>(), minor in any::<u8>()) {
        let datagram = Datagram { version: ProtocolVersion::new(major, minor), message_id: id, message: owned.view() };
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
        let len = datagram.encode(&mut buf).expect("a valid message encodes");
        let decoded = Datagram::decode(&buf[..len]).expect("what the codec encodes, it decodes");
        prop_assert_eq!(&decoded, &datagram);
        let mut again = vec![0u8; len];
        prop_assert_eq!(decoded.encode(&mut again), Ok(len));
        prop_assert_eq!(&again[..], &buf[..len]);
        // Fields start on 4-byte boundaries and nothing but the last field is unpadded.
        prop_assert!(len >= HEADER_LEN);
    }

    #[test]
    fn a_short_buffer_reports_the_exact_length_needed(owned in message(), cut in 0usize..64) {
        let datagram = Datagram { version: ProtocolVersion::PNRP, message_id: 1, message: owned.view() };
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
        let len = datagram.encode(&mut buf).unwrap();
        let short = len.saturating_sub(cut + 1);
        let mut small = vec![0u8; short];
        prop_assert_eq!(datagram.encode(&mut small), Err(EncodeError::BufferTooSmall { needed: len }));
    }

    #[test]
    fn authority_buffers_round_trip_through_fragments(
        flags in any::<(bool, bool, bool)>(),
        credential in proptest::option::of(blob()),
        keytoken in proptest::option::of(blob()),
        classifier in proptest::option::of(vec(any::<u16>(), 0..=MAX_CLASSIFIER_UNITS)),
        payload in proptest::option::of(vec(any::<u8>(), 0..6000)),
        entry in proptest::option::of(route()),
        cpa in proptest::option::of(blob()),
        order in any::<u64>(),
    ) {
        let buffer = AuthorityBuffer {
            flags: AuthorityFlags { leaf_set: flags.0, busy: flags.1, not_found: flags.2 },
            credential: credential.as_deref(),
            keytoken: keytoken.as_deref(),
            classifier: classifier.as_ref().map(|c| List::Items(c)),
            extended_payload: payload.as_deref(),
            route_entry: entry.as_ref().map(|r| r.view()),
            cpa: cpa.as_deref(),
        };
        let mut bytes = vec![0u8; fragment::MAX_AUTHORITY_BUFFER_LEN];
        let len = buffer.encode(&mut bytes).unwrap();
        let bytes = &bytes[..len];
        prop_assert_eq!(&AuthorityBuffer::decode(bytes).unwrap(), &buffer);

        // Send every fragment as an AUTHORITY datagram, in a shuffled order, and reassemble.
        let mut datagrams: Vec<Vec<u8>> = fragment::fragments(bytes).unwrap().map(|(split, fragment)| {
            let d = Datagram { version: ProtocolVersion::PNRP, message_id: 9,
                message: Message::Authority(Authority { acked_id: 7, split, fragment }) };
            let mut out = vec![0u8; 1500];
            let n = d.encode(&mut out).unwrap();
            out.truncate(n);
            out
        }).collect();
        let rotate = (order as usize) % datagrams.len();
        datagrams.rotate_left(rotate);
        let mut reassembler = Reassembler::new();
        let mut result = None;
        for (i, d) in datagrams.iter().enumerate() {
            let Message::Authority(a) = Datagram::decode(d).unwrap().message else { panic!("not an AUTHORITY") };
            match reassembler.accept(peerdrt_core::time::Instant(0), 1u8, 9, a.split, a.fragment).unwrap() {
                Reassembled::Whole(w) => result = Some(w.to_vec()),
                Reassembled::Complete(v) => result = Some(v),
                Reassembled::Pending => prop_assert!(i + 1 < datagrams.len()),
            }
        }
        prop_assert_eq!(result.as_deref(), Some(bytes));
        prop_assert_eq!(reassembler.reserved_bytes(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decoded_values_reencode(bytes in vec(any::<u8>(), 0..2000)) {
        if let Ok(d) = Datagram::decode(&bytes) {
            let mut out = vec![0u8; MAX_DATAGRAM_LEN];
            let n = d.encode(&mut out).unwrap();
            prop_assert_eq!(Datagram::decode(&out[..n]).unwrap(), d);
        }
        let _ = AuthorityBuffer::decode(&bytes);
        let _ = RequestBody::decode(&bytes);
    }
}
