//! The codec at its limits, one step past them, and against byte vectors built by hand from
//! the field tables of [MC-DRT] §2.2 / [MS-PNRP] §2.2.

use std::net::Ipv6Addr;
use std::time::Duration;

use peerdrt_core::time::Instant;
use peerdrt_core::wire::fragment::*;
use peerdrt_core::wire::*;

fn encode(message: Message<'_>) -> Result<Vec<u8>, EncodeError> {
    let datagram = Datagram { version: ProtocolVersion::PNRP, message_id: 0x0102_0304, message };
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN + 64];
    let len = datagram.encode(&mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

fn header(message_type: u8) -> Vec<u8> {
    vec![0x00, 0x10, 0x00, 0x0C, 0x51, 4, 0, message_type, 0x01, 0x02, 0x03, 0x04]
}

const KEY_A: Key = [0xA5; 32];
const KEY_B: Key = [0x5A; 32];

fn addresses(n: usize) -> Vec<Ipv6Addr> {
    (0..n).map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16 + 1)).collect()
}

fn endpoints(n: usize) -> Vec<Endpoint> {
    addresses(n).into_iter().map(|addr| Endpoint { addr, port: 3540 }).collect()
}

fn route(addrs: &[Ipv6Addr], port: u16) -> RouteEntry<'_> {
    RouteEntry { key: &KEY_A, version: ProtocolVersion::PNRP, port, addresses: List::Items(addrs) }
}

mod hand_built_vectors {
    use super::*;

    #[test]
    fn the_shortest_message_is_a_20_byte_ack() {
        let mut bytes = header(0x09);
        bytes.extend([0x00, 0x18, 0x00, 0x08, 0xDE, 0xAD, 0xBE, 0xEF]);
        assert_eq!(bytes.len(), 20);
        let d = Datagram::decode(&bytes).unwrap();
        assert_eq!(d.version, ProtocolVersion::PNRP);
        assert_eq!(d.message_id, 0x0102_0304);
        assert_eq!(d.message, Message::Ack(Ack { acked_id: 0xDEAD_BEEF, not_found: false }));
        assert_eq!(encode(d.message).unwrap(), bytes);
    }

    #[test]
    fn an_ack_with_the_n_flag_is_26_bytes_without_trailing_padding() {
        let mut bytes = header(0x09);
        bytes.extend([0x00, 0x18, 0x00, 0x08, 0, 0, 0, 7]);
        bytes.extend([0x00, 0x40, 0x00, 0x06, 0x00, 0x01]);
        let encoded = encode(Message::Ack(Ack { acked_id: 7, not_found: true })).unwrap();
        assert_eq!(encoded, bytes);
        assert_eq!(encoded.len(), 26);
    }

    #[test]
    fn a_drt_solicit_is_the_header_and_a_hashed_nonce() {
        let mut bytes = header(0x01);
        bytes.extend([0x00, 0x92, 0x00, 0x18]);
        bytes.extend([0x11; 20]);
        let d = Datagram::decode(&bytes).unwrap();
        assert_eq!(
            d.message,
            Message::Solicit(Solicit { solicit_type: None, route_entry: None, hashed_nonce: &[0x11; 20] })
        );
    }

    #[test]
    fn a_route_entry_has_length_42_plus_16_per_address_and_two_padding_bytes() {
        let addrs = addresses(1);
        let encoded = encode(Message::Solicit(Solicit {
            solicit_type: None,
            route_entry: Some(route(&addrs, 3540)),
            hashed_nonce: &[0; 20],
        }))
        .unwrap();
        let mut expected = header(0x01);
        expected.extend([0x00, 0x9A, 0x00, 0x3A]);
        expected.extend(KEY_A);
        expected.extend([4, 0, 0x0D, 0xD4, 0, 1]);
        expected.extend(addrs[0].octets());
        expected.extend([0, 0]);
        expected.extend([0x00, 0x92, 0x00, 0x18]);
        expected.extend([0; 20]);
        assert_eq!(encoded, expected);
    }

    #[test]
    fn an_inquire_carries_flags_validate_key_and_nonce() {
        let mut bytes = header(0x07);
        bytes.extend([0x00, 0x40, 0x00, 0x06, 0x00, 0x1C, 0x00, 0x00]); // A | X | C, padding
        bytes.extend([0x00, 0x39, 0x00, 0x24]);
        bytes.extend(KEY_B);
        bytes.extend([0x00, 0x93, 0x00, 0x14]);
        bytes.extend([0x33; 16]);
        let d = Datagram::decode(&bytes).unwrap();
        let expected = Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
            validate_key: &KEY_B,
            nonce: Some(&[0x33; 16]),
            proof: None,
        });
        assert_eq!(d.message, expected);
        assert_eq!(encode(expected).unwrap(), bytes);
    }

    #[test]
    fn a_lookup_ends_with_its_flagged_path() {
        let mut bytes = header(0x0B);
        bytes.extend([0x00, 0x45, 0x00, 0x0C, 0x00, 0x02, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
        bytes.extend([0x00, 0x38, 0x00, 0x24]);
        bytes.extend(KEY_A);
        bytes.extend([0x00, 0x39, 0x00, 0x24]);
        bytes.extend(KEY_B);
        bytes.extend([0x00, 0x9E, 0x00, 0x1E, 0x00, 0x01, 0x00, 0x1A, 0x00, 0x9D, 0x00, 0x12, 0x0D, 0xD4]);
        bytes.extend(Ipv6Addr::LOCALHOST.octets());
        let path = [Endpoint { addr: Ipv6Addr::LOCALHOST, port: 3540 }];
        let expected = Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: true,
                precision: 0,
                criteria: ResolveCriteria::Nearest,
                reason: ResolveReason::AppRequest,
            },
            target: &KEY_A,
            validate_key: &KEY_B,
            best_match: None,
            path: List::Items(&path),
            proof: None,
        });
        assert_eq!(Datagram::decode(&bytes).unwrap().message, expected);
        assert_eq!(encode(expected).unwrap(), bytes);
    }

    #[test]
    fn a_flood_has_controls_of_length_7_padded_to_8() {
        let mut bytes = header(0x04);
        bytes.extend([0x00, 0x43, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00]);
        bytes.extend([0x00, 0x39, 0x00, 0x24]);
        bytes.extend(KEY_B);
        let expected = Message::Flood(Flood {
            no_ack: true,
            validate_key: &KEY_B,
            keytoken: None,
            revoke_cpa: None,
            route_entry: None,
            flooded: None,
        });
        assert_eq!(Datagram::decode(&bytes).unwrap().message, expected);
        assert_eq!(encode(expected).unwrap(), bytes);
    }

    #[test]
    fn an_unfragmented_authority_carries_the_whole_buffer() {
        let mut bytes = header(0x08);
        bytes.extend([0x00, 0x18, 0x00, 0x08, 0, 0, 0, 5]);
        bytes.extend([0x00, 0x98, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00]);
        bytes.extend([0x00, 0x40, 0x00, 0x06, 0x00, 0x01]);
        let d = Datagram::decode(&bytes).unwrap();
        let Message::Authority(a) = d.message else { panic!("not an AUTHORITY: {d:?}") };
        assert_eq!((a.acked_id, a.split), (5, SplitControls { size: 6, offset: 0 }));
        let buffer = AuthorityBuffer::decode(a.fragment).unwrap();
        assert_eq!(buffer.flags, AuthorityFlags { leaf_set: false, busy: false, not_found: true });
        assert_eq!(buffer.route_entry, None);
    }

    #[test]
    fn a_windows_sender_may_pad_the_last_field() {
        let mut bytes = header(0x09);
        bytes.extend([0x00, 0x18, 0x00, 0x08, 0, 0, 0, 7]);
        bytes.extend([0x00, 0x40, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(
            Datagram::decode(&bytes).unwrap().message,
            Message::Ack(Ack { acked_id: 7, not_found: true })
        );
    }
}

mod header_rules {
    use super::*;

    fn ack() -> Vec<u8> {
        let mut bytes = header(0x09);
        bytes.extend([0x00, 0x18, 0x00, 0x08, 0, 0, 0, 1]);
        bytes
    }

    #[test]
    fn a_bad_field_id_length_or_identifier_is_a_bad_header() {
        for (index, value) in [(1, 0x11), (3, 0x0D), (4, 0x52)] {
            let mut bytes = ack();
            bytes[index] = value;
            assert_eq!(Datagram::decode(&bytes), Err(DecodeError::BadHeader), "byte {index}");
        }
    }

    #[test]
    fn only_the_eight_message_types_are_accepted() {
        for t in 0..=u8::MAX {
            let mut bytes = ack();
            bytes[7] = t;
            let known = MessageType::ALL.iter().any(|m| *m as u8 == t);
            if !known {
                assert_eq!(Datagram::decode(&bytes), Err(DecodeError::UnknownMessageType(t)));
            }
        }
    }

    #[test]
    fn the_version_bytes_are_carried_not_judged() {
        let mut bytes = ack();
        bytes[5] = 6;
        bytes[6] = 0x65;
        assert_eq!(Datagram::decode(&bytes).unwrap().version, ProtocolVersion::new(6, 0x65));
    }

    #[test]
    fn every_strict_prefix_of_a_message_is_rejected() {
        let addrs = addresses(3);
        let path = endpoints(5);
        let bytes = encode(Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: false,
                precision: 0,
                criteria: ResolveCriteria::Exact,
                reason: ResolveReason::AppRequest,
            },
            target: &KEY_A,
            validate_key: &KEY_B,
            best_match: Some(route(&addrs, 4000)),
            path: List::Items(&path),
            proof: None,
        }))
        .unwrap();
        for len in 0..bytes.len() {
            assert!(Datagram::decode(&bytes[..len]).is_err(), "prefix of {len} bytes decoded");
        }
    }

    #[test]
    fn bytes_after_the_last_field_are_rejected() {
        let mut bytes = ack();
        bytes.extend([0, 0, 0, 0, 0]);
        assert!(Datagram::decode(&bytes).is_err());
        let mut bytes = ack();
        bytes.extend([0x00, 0x93, 0x00, 0x14]);
        bytes.extend([0; 16]);
        assert_eq!(Datagram::decode(&bytes), Err(DecodeError::UnexpectedField { found: field::NONCE }));
    }

    #[test]
    fn a_datagram_past_the_largest_udp_payload_is_rejected() {
        let mut bytes = ack();
        bytes.resize(MAX_DATAGRAM_LEN + 1, 0);
        assert_eq!(Datagram::decode(&bytes), Err(DecodeError::TooLong));
    }

    #[test]
    fn a_membership_proof_needs_all_three_fields() {
        let mut bytes = header(0x07);
        bytes.extend([0x00, 0x40, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00]);
        bytes.extend([0x00, 0x39, 0x00, 0x24]);
        bytes.extend(KEY_B);
        bytes.extend([0x00, 0x80, 0x00, 0x08, 1, 2, 3, 4]);
        assert_eq!(Datagram::decode(&bytes), Err(DecodeError::MissingField { expected: field::SIGNATURE }));
    }

    #[test]
    fn confidential_mode_fields_are_not_accepted_yet() {
        let mut bytes = header(0x04);
        bytes.extend([0x00, 0x43, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00]);
        bytes.extend([0x00, 0x39, 0x00, 0x24]);
        bytes.extend(KEY_B);
        bytes.extend([0x00, 0xA1, 0x00, 0x08, 1, 2, 3, 4]);
        assert_eq!(
            Datagram::decode(&bytes),
            Err(DecodeError::UnexpectedField { found: field::ENCRYPTED_ROUTE_ENTRY })
        );
    }
}

mod limits {
    use super::*;

    fn solicit_with(addrs: &[Ipv6Addr], port: u16) -> Result<Vec<u8>, EncodeError> {
        encode(Message::Solicit(Solicit {
            solicit_type: None,
            route_entry: Some(route(addrs, port)),
            hashed_nonce: &[0; 20],
        }))
    }

    /// Offset of the route entry's address count in a SOLICIT with a route entry.
    const COUNT_AT: usize = HEADER_LEN + 4 + KEY_LEN + 5;

    #[test]
    fn a_route_entry_carries_one_to_twenty_addresses() {
        let max = addresses(MAX_ROUTE_ADDRESSES);
        let bytes = solicit_with(&max, 3540).unwrap();
        let Message::Solicit(s) = Datagram::decode(&bytes).unwrap().message else { panic!() };
        assert_eq!(s.route_entry.unwrap().addresses.len(), MAX_ROUTE_ADDRESSES);

        let over = addresses(MAX_ROUTE_ADDRESSES + 1);
        assert_eq!(solicit_with(&over, 3540), Err(EncodeError::InvalidValue { field: field::ROUTE_ENTRY }));
        assert_eq!(solicit_with(&[], 3540), Err(EncodeError::InvalidValue { field: field::ROUTE_ENTRY }));

        // A count of 0, or one that disagrees with the address bytes, is refused.
        let mut forged = bytes.clone();
        forged[COUNT_AT] = 0;
        assert_eq!(Datagram::decode(&forged), Err(DecodeError::TooManyEntries { field: field::ROUTE_ENTRY }));
        let mut forged = solicit_with(&max, 3540).unwrap();
        forged[COUNT_AT] = 19;
        assert!(matches!(Datagram::decode(&forged), Err(DecodeError::BadFieldLength { .. })));
    }

    #[test]
    fn a_route_entry_port_is_at_least_1024() {
        let addrs = addresses(1);
        assert!(solicit_with(&addrs, MIN_ROUTE_PORT).is_ok());
        assert_eq!(
            solicit_with(&addrs, MIN_ROUTE_PORT - 1),
            Err(EncodeError::InvalidValue { field: field::ROUTE_ENTRY })
        );
        let mut forged = solicit_with(&addrs, MIN_ROUTE_PORT).unwrap();
        forged[COUNT_AT - 3] = 0x03; // port 0x03FF = 1023
        forged[COUNT_AT - 2] = 0xFF;
        assert_eq!(Datagram::decode(&forged), Err(DecodeError::BadFieldValue { field: field::ROUTE_ENTRY }));
    }

    fn lookup_with(path: &[Endpoint]) -> Result<Vec<u8>, EncodeError> {
        encode(Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: false,
                precision: 0,
                criteria: ResolveCriteria::Exact,
                reason: ResolveReason::AppRequest,
            },
            target: &KEY_A,
            validate_key: &KEY_B,
            best_match: None,
            path: List::Items(path),
            proof: None,
        }))
    }

    #[test]
    fn a_flagged_path_has_one_to_twenty_two_endpoints() {
        assert!(lookup_with(&endpoints(MAX_ENDPOINT_ARRAY_ENTRIES)).is_ok());
        let over = lookup_with(&endpoints(MAX_ENDPOINT_ARRAY_ENTRIES + 1));
        assert_eq!(over, Err(EncodeError::InvalidValue { field: field::IPV6_ENDPOINT_ARRAY }));
        assert_eq!(lookup_with(&[]), Err(EncodeError::InvalidValue { field: field::IPV6_ENDPOINT_ARRAY }));

        // Forge NumEntries = 23 with matching lengths: refused as too many.
        let mut bytes = lookup_with(&endpoints(MAX_ENDPOINT_ARRAY_ENTRIES)).unwrap();
        let at = HEADER_LEN + 12 + 36 + 36;
        bytes.extend([0; 18]);
        let set = |b: &mut Vec<u8>, i: usize, v: u16| b[i..i + 2].copy_from_slice(&v.to_be_bytes());
        set(&mut bytes, at + 2, 12 + 18 * 23);
        set(&mut bytes, at + 4, 23);
        set(&mut bytes, at + 6, 8 + 18 * 23);
        assert_eq!(
            Datagram::decode(&bytes),
            Err(DecodeError::TooManyEntries { field: field::IPV6_ENDPOINT_ARRAY })
        );
    }

    #[test]
    fn an_id_array_fills_a_datagram_and_no_more() {
        // 12 header + 8 acked + (12 + 32 n) array + 24 hashed nonce must fit a UDP payload.
        let fits = (MAX_DATAGRAM_LEN - 56) / KEY_LEN;
        let keys = vec![KEY_A; fits + 1];
        let advertise = |n| {
            encode(Message::Advertise(Advertise {
                acked_id: 1,
                keys: List::Items(&keys[..n]),
                hashed_nonce: &[0; 20],
            }))
        };
        let bytes = advertise(fits).unwrap();
        let Message::Advertise(a) = Datagram::decode(&bytes).unwrap().message else { panic!() };
        assert_eq!(a.keys.len(), fits);
        assert!(advertise(fits + 1).is_err());
    }

    #[test]
    fn a_classifier_has_at_most_149_units() {
        let units = vec![u16::from(b'a'); MAX_CLASSIFIER_UNITS + 1];
        let buffer = |n| AuthorityBuffer {
            flags: AuthorityFlags::default(),
            credential: None,
            keytoken: None,
            classifier: Some(List::Items(&units[..n])),
            extended_payload: None,
            route_entry: None,
            cpa: None,
        };
        let mut out = vec![0; 1024];
        let len = buffer(MAX_CLASSIFIER_UNITS).encode(&mut out).unwrap();
        assert_eq!(
            AuthorityBuffer::decode(&out[..len]).unwrap().classifier.unwrap().len(),
            MAX_CLASSIFIER_UNITS
        );
        assert_eq!(
            buffer(MAX_CLASSIFIER_UNITS + 1).encode(&mut out),
            Err(EncodeError::InvalidValue { field: field::CLASSIFIER })
        );
    }

    #[test]
    fn an_authority_buffer_is_at_most_37348_bytes() {
        let buffer_of = |payload: &[u8]| {
            let buffer = AuthorityBuffer {
                flags: AuthorityFlags::default(),
                credential: None,
                keytoken: None,
                classifier: None,
                extended_payload: Some(payload),
                route_entry: None,
                cpa: None,
            };
            let mut out = vec![0; MAX_AUTHORITY_BUFFER_LEN + 64];
            buffer.encode(&mut out).map(|n| out[..n].to_vec())
        };
        // FLAGS takes 8 bytes and the payload field header 4.
        let max = vec![7u8; MAX_AUTHORITY_BUFFER_LEN - 12];
        let bytes = buffer_of(&max).unwrap();
        assert_eq!(bytes.len(), MAX_AUTHORITY_BUFFER_LEN);
        assert_eq!(fragments(&bytes).unwrap().count(), MAX_FRAGMENTS);
        assert!(buffer_of(&vec![7u8; MAX_AUTHORITY_BUFFER_LEN - 11]).is_err());

        let mut over = bytes.clone();
        over.push(0);
        assert_eq!(AuthorityBuffer::decode(&over), Err(DecodeError::TooLong));
        assert!(fragments(&over).is_err());
        assert!(fragments(&[]).is_err());
    }

    #[test]
    fn split_controls_must_describe_a_real_fragment() {
        let ok = SplitControls { size: 3000, offset: 1188 };
        assert_eq!(ok.check_fragment(FRAGMENT_LEN), Ok(()));
        let last = SplitControls { size: 3000, offset: 2376 };
        assert_eq!(last.check_fragment(3000 - 2376), Ok(()));
        for (split, len) in [
            (SplitControls { size: 3000, offset: 1000 }, FRAGMENT_LEN), // not on a boundary
            (SplitControls { size: 3000, offset: 3564 }, 10),           // past the end
            (SplitControls { size: 3000, offset: 1188 }, FRAGMENT_LEN - 1), // short
            (SplitControls { size: 3000, offset: 2376 }, FRAGMENT_LEN), // longer than what is left
            (SplitControls { size: 0, offset: 0 }, 0),
            (SplitControls { size: MAX_AUTHORITY_BUFFER_LEN as u16 + 1, offset: 0 }, FRAGMENT_LEN),
        ] {
            assert!(split.check_fragment(len).is_err(), "{split:?} with {len} bytes");
        }
    }
}

mod reassembly {
    use super::*;

    const T0: Instant = Instant(1_000);

    fn buffer(size: usize, seed: u8) -> Vec<u8> {
        (0..size).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
    }

    fn feed<'f>(
        r: &mut Reassembler<u8>,
        now: Instant,
        peer: u8,
        id: u32,
        buf: &'f [u8],
        index: usize,
    ) -> Result<Reassembled<'f>, FragmentError> {
        let (split, frag) = fragments(buf).unwrap().nth(index).unwrap();
        r.accept(now, peer, id, split, frag)
    }

    #[test]
    fn a_single_fragment_buffer_is_returned_without_a_copy() {
        let buf = buffer(500, 1);
        let mut r = Reassembler::new();
        assert_eq!(feed(&mut r, T0, 1, 1, &buf, 0), Ok(Reassembled::Whole(&buf[..])));
        assert_eq!(r.reserved_bytes(), 0);
    }

    #[test]
    fn fragments_in_any_order_complete_the_buffer_once() {
        let buf = buffer(4000, 2);
        let mut r = Reassembler::new();
        assert_eq!(feed(&mut r, T0, 1, 1, &buf, 3), Ok(Reassembled::Pending));
        assert_eq!(r.reserved_bytes(), 4000);
        assert_eq!(feed(&mut r, T0, 1, 1, &buf, 0), Ok(Reassembled::Pending));
        assert_eq!(feed(&mut r, T0, 1, 1, &buf, 2), Ok(Reassembled::Pending));
        assert_eq!(feed(&mut r, T0, 1, 1, &buf, 1), Ok(Reassembled::Complete(buf.clone())));
        assert_eq!((r.pending(), r.reserved_bytes()), (0, 0));
    }

    #[test]
    fn a_duplicate_or_inconsistent_fragment_is_rejected_and_changes_nothing() {
        let buf = buffer(4000, 3);
        let mut r = Reassembler::new();
        feed(&mut r, T0, 1, 1, &buf, 0).unwrap();
        assert_eq!(feed(&mut r, T0, 1, 1, &buf, 0), Err(FragmentError::Duplicate));
        let other = buffer(3000, 3);
        assert_eq!(feed(&mut r, T0, 1, 1, &other, 1), Err(FragmentError::Inconsistent));
        assert_eq!((r.pending(), r.reserved_bytes()), (1, 4000));
        // The same message ID from another peer is another buffer.
        assert_eq!(feed(&mut r, T0, 2, 1, &buf, 0), Ok(Reassembled::Pending));
        assert_eq!(r.pending(), 2);
    }

    #[test]
    fn a_peer_cannot_reserve_more_than_its_budget() {
        let buf = buffer(MAX_AUTHORITY_BUFFER_LEN, 4);
        let per_peer = MAX_REASSEMBLY_BYTES_PER_PEER / MAX_AUTHORITY_BUFFER_LEN;
        let mut r = Reassembler::new();
        for id in 0..per_peer as u32 {
            assert_eq!(feed(&mut r, T0, 7, id, &buf, 0), Ok(Reassembled::Pending));
        }
        assert_eq!(feed(&mut r, T0, 7, 99, &buf, 0), Err(FragmentError::PeerBudgetExceeded));
        assert_eq!(r.reserved_bytes(), MAX_REASSEMBLY_BYTES_PER_PEER);
        // Another peer is unaffected.
        assert_eq!(feed(&mut r, T0, 8, 99, &buf, 0), Ok(Reassembled::Pending));
    }

    #[test]
    fn the_total_budget_drops_the_oldest_partial_buffer() {
        let buf = buffer(MAX_AUTHORITY_BUFFER_LEN, 5);
        let fit = MAX_REASSEMBLY_BYTES_TOTAL / MAX_AUTHORITY_BUFFER_LEN;
        let mut r = Reassembler::new();
        for peer in 0..fit as u8 {
            let now = Instant(T0.0 + u64::from(peer));
            feed(&mut r, now, peer, 1, &buf, 0).unwrap();
        }
        assert_eq!(r.reserved_bytes(), MAX_REASSEMBLY_BYTES_TOTAL);
        feed(&mut r, Instant(T0.0 + 100), 200, 1, &buf, 0).unwrap();
        assert_eq!(r.reserved_bytes(), MAX_REASSEMBLY_BYTES_TOTAL);
        // Peer 0's buffer was the oldest: its next fragment starts over.
        assert_eq!(feed(&mut r, Instant(T0.0 + 101), 0, 1, &buf, 0), Ok(Reassembled::Pending));
        assert!(r.reserved_bytes() <= MAX_REASSEMBLY_BYTES_TOTAL);
    }

    #[test]
    fn at_most_max_reassemblies_buffers_are_pending() {
        let buf = buffer(FRAGMENT_LEN + 1, 6);
        let mut r = Reassembler::new();
        for id in 0..(MAX_REASSEMBLIES as u32 + 10) {
            feed(&mut r, T0, (id % 200) as u8, id, &buf, 0).unwrap();
            assert!(r.pending() <= MAX_REASSEMBLIES);
        }
        assert_eq!(r.pending(), MAX_REASSEMBLIES);
    }

    #[test]
    fn partial_buffers_expire_after_the_timeout() {
        let buf = buffer(3000, 7);
        let mut r = Reassembler::new();
        feed(&mut r, T0, 1, 1, &buf, 0).unwrap();
        assert_eq!(r.next_deadline(), Some(T0.saturating_add(REASSEMBLY_TIMEOUT)));
        r.expire(T0.saturating_add(REASSEMBLY_TIMEOUT - Duration::from_millis(1)));
        assert_eq!(r.pending(), 1);
        r.expire(T0.saturating_add(REASSEMBLY_TIMEOUT));
        assert_eq!((r.pending(), r.reserved_bytes(), r.next_deadline()), (0, 0, None));
    }

    #[test]
    fn forgetting_a_peer_frees_its_buffers() {
        let buf = buffer(3000, 8);
        let mut r = Reassembler::new();
        feed(&mut r, T0, 1, 1, &buf, 0).unwrap();
        feed(&mut r, T0, 2, 1, &buf, 0).unwrap();
        r.forget_peer(1);
        assert_eq!((r.pending(), r.reserved_bytes()), (1, 3000));
    }
}
