//! Writes the seed corpora under `fuzz/corpus/<target>/seed-*`, deterministically.
//!
//! ```text
//! cd fuzz && cargo run --example gen_seeds
//! ```
//!
//! Every old `seed-*` file of the three targets is removed first; every seed written is checked
//! to decode and to pass the target's own checks.

use std::fs;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use peerdrt_core::wire::fragment::{self, FRAGMENT_LEN};
use peerdrt_core::wire::*;
use peerdrt_fuzz::reassembly::{self, Op};

const TARGETS: [&str; 3] = ["decode_datagram", "decode_authority_buffer", "reassembly"];

/// Deterministic filler bytes.
fn bytes(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(7)) ^ (i >> 8) as u8).collect()
}

fn key(tag: u8) -> Key {
    core::array::from_fn(|i| tag ^ (i as u8).wrapping_mul(13))
}

fn addrs(tag: u16, n: usize) -> Vec<Ipv6Addr> {
    (0..n as u16).map(|i| Ipv6Addr::new(0x2001, 0xdb8, tag, i, 0, 0, 0, i + 1)).collect()
}

fn endpoints(n: usize) -> Vec<Endpoint> {
    (0..n as u16)
        .map(|i| Endpoint { addr: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0x10, i + 1), port: 3540 + i })
        .collect()
}

fn route<'a>(key: &'a Key, addresses: &'a [Ipv6Addr]) -> RouteEntry<'a> {
    RouteEntry { key, version: ProtocolVersion::PNRP, port: 3540, addresses: List::Items(addresses) }
}

fn proof<'a>(credential: &'a [u8], signature: &'a [u8], key_identifier: &'a [u8]) -> MembershipProof<'a> {
    MembershipProof { credential, signature, key_identifier }
}

struct Seeds {
    root: PathBuf,
    count: usize,
    total: usize,
}

impl Seeds {
    fn write(&mut self, target: &str, name: &str, data: &[u8]) {
        let path = self.root.join(target).join(format!("seed-{name}"));
        fs::write(&path, data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.count += 1;
        self.total += data.len();
    }

    fn datagram(&mut self, name: &str, message_id: u32, message: Message<'_>) {
        let datagram = Datagram { version: ProtocolVersion::PNRP, message_id, message };
        let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
        let len = datagram.encode(&mut buf).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let data = &buf[..len];
        assert_eq!(Datagram::decode(data).as_ref(), Ok(&datagram), "{name}");
        peerdrt_fuzz::check_datagram(data);
        self.write("decode_datagram", name, data);
    }

    /// One REQUEST or AUTHORITY datagram per fragment of `body`.
    fn fragmented(&mut self, name: &str, message_id: u32, body: &[u8], authority: bool) {
        for (i, (split, fragment)) in fragment::fragments(body).unwrap().enumerate() {
            let message = if authority {
                Message::Authority(Authority { acked_id: message_id ^ 0xFFFF, split, fragment })
            } else {
                Message::Request(Request::Fragment { split, fragment })
            };
            self.datagram(&format!("{name}-{i}"), message_id, message);
        }
    }

    fn authority_buffer(&mut self, name: &str, buffer: &AuthorityBuffer<'_>) -> Vec<u8> {
        let mut buf = vec![0u8; fragment::MAX_AUTHORITY_BUFFER_LEN];
        let len = buffer.encode(&mut buf).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        buf.truncate(len);
        assert_eq!(AuthorityBuffer::decode(&buf).as_ref(), Ok(buffer), "{name}");
        peerdrt_fuzz::check_authority_buffer(&buf);
        self.write("decode_authority_buffer", name, &buf);
        buf
    }

    fn ops(&mut self, name: &str, ops: &[Op]) {
        let data = reassembly::encode(ops);
        peerdrt_fuzz::reassembly::check(&data);
        self.write("reassembly", name, &data);
    }
}

fn request_body<'a>(nonce: &'a Nonce, keys: &'a [Key], proof: Option<MembershipProof<'a>>) -> Vec<u8> {
    let body = RequestBody { nonce, keys: List::Items(keys), proof };
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = body.encode(&mut buf).unwrap();
    buf.truncate(len);
    assert_eq!(RequestBody::decode(&buf).as_ref(), Ok(&body));
    buf
}

fn datagrams(s: &mut Seeds) {
    let hashed: HashedNonce = core::array::from_fn(|i| 0xA0 ^ i as u8);
    let nonce: Nonce = core::array::from_fn(|i| 0x50 ^ i as u8);
    let (k1, k2, k3) = (key(1), key(2), key(3));
    let keys = [key(4), key(5), key(6)];
    let a2 = addrs(1, 2);
    let a3 = addrs(2, 3);
    let (credential, signature, key_id) = (bytes(1, 300), bytes(2, 128), bytes(3, 20));
    let cpa = bytes(4, 180);
    let token = bytes(5, 24);

    s.datagram(
        "solicit",
        0x1001,
        Message::Solicit(Solicit { solicit_type: None, route_entry: None, hashed_nonce: &hashed }),
    );
    s.datagram(
        "solicit-route-entry",
        0x1002,
        Message::Solicit(Solicit {
            solicit_type: Some(SolicitType::Local),
            route_entry: Some(route(&k1, &a2)),
            hashed_nonce: &hashed,
        }),
    );
    s.datagram(
        "advertise",
        0x1003,
        Message::Advertise(Advertise { acked_id: 0x1001, keys: List::Items(&keys), hashed_nonce: &hashed }),
    );
    s.datagram(
        "request-plain",
        0x1004,
        Message::Request(Request::Plain(RequestBody {
            nonce: &nonce,
            keys: List::Items(&keys),
            proof: None,
        })),
    );
    s.datagram(
        "request-plain-proof",
        0x1005,
        Message::Request(Request::Plain(RequestBody {
            nonce: &nonce,
            keys: List::Items(&keys[..1]),
            proof: Some(proof(&credential, &signature, &key_id)),
        })),
    );
    // A membership-mode REQUEST whose body fits one fragment, and one that needs two.
    let small = request_body(&nonce, &keys, Some(proof(&credential, &signature, &key_id)));
    s.fragmented("request-fragment-whole", 0x1006, &small, false);
    let big_credential = bytes(6, 1500);
    let big = request_body(&nonce, &keys, Some(proof(&big_credential, &signature, &key_id)));
    assert!(big.len() > FRAGMENT_LEN);
    s.fragmented("request-fragment", 0x1007, &big, false);

    let flooded = endpoints(3);
    s.datagram(
        "flood-revoke",
        0x1008,
        Message::Flood(Flood {
            no_ack: false,
            validate_key: &k2,
            keytoken: None,
            revoke_cpa: Some(&cpa),
            route_entry: None,
            flooded: None,
        }),
    );
    s.datagram(
        "flood-route-entry-flooded",
        0x1009,
        Message::Flood(Flood {
            no_ack: true,
            validate_key: &[0; KEY_LEN],
            keytoken: None,
            revoke_cpa: None,
            route_entry: Some(route(&k1, &a3)),
            flooded: Some(List::Items(&flooded)),
        }),
    );
    s.datagram(
        "flood-all",
        0x100A,
        Message::Flood(Flood {
            no_ack: false,
            validate_key: &k2,
            keytoken: Some(&token),
            revoke_cpa: Some(&cpa),
            route_entry: Some(route(&k1, &a2)),
            flooded: Some(List::Items(&flooded[..1])),
        }),
    );
    s.datagram(
        "inquire",
        0x100B,
        Message::Inquire(Inquire {
            flags: InquireFlags::default(),
            validate_key: &k3,
            nonce: None,
            proof: None,
        }),
    );
    s.datagram(
        "inquire-nonce-proof",
        0x100C,
        Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
            validate_key: &k3,
            nonce: Some(&nonce),
            proof: Some(proof(&credential, &signature, &key_id)),
        }),
    );
    s.datagram("ack", 0x100D, Message::Ack(Ack { acked_id: 0x1008, not_found: false }));
    s.datagram("ack-not-found", 0x100E, Message::Ack(Ack { acked_id: 0x1009, not_found: true }));

    let path = endpoints(5);
    s.datagram(
        "lookup",
        0x100F,
        Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: false,
                precision: 0,
                criteria: ResolveCriteria::Exact,
                reason: ResolveReason::AppRequest,
            },
            target: &k1,
            validate_key: &k2,
            best_match: None,
            path: List::Items(&path[..1]),
            proof: None,
        }),
    );
    s.datagram(
        "lookup-best-match-path",
        0x1010,
        Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: true,
                precision: 192,
                criteria: ResolveCriteria::UpperBits,
                reason: ResolveReason::CacheMaintenance,
            },
            target: &k1,
            validate_key: &k2,
            best_match: Some(route(&k3, &a3)),
            path: List::Items(&path),
            proof: Some(proof(&credential, &signature, &key_id)),
        }),
    );
}

/// AUTHORITY_BUFFER seeds; also the AUTHORITY datagrams that carry two of them.
fn authority(s: &mut Seeds) {
    let k = key(7);
    let a = addrs(3, 2);
    let (credential, token, cpa) = (bytes(7, 400), bytes(8, 24), bytes(9, 180));
    let classifier: Vec<u16> = "peer.example".encode_utf16().collect();

    let minimal = AuthorityBuffer {
        flags: AuthorityFlags { leaf_set: false, busy: false, not_found: true },
        credential: None,
        keytoken: None,
        classifier: None,
        extended_payload: None,
        route_entry: None,
        cpa: None,
    };
    s.authority_buffer("not-found", &minimal);
    let busy =
        AuthorityBuffer { flags: AuthorityFlags { busy: true, ..Default::default() }, ..minimal.clone() };
    s.authority_buffer("busy", &busy);
    let next_hop = AuthorityBuffer {
        flags: AuthorityFlags { leaf_set: true, ..Default::default() },
        route_entry: Some(route(&k, &a)),
        ..minimal.clone()
    };
    s.authority_buffer("next-hop", &next_hop);
    let small_payload = bytes(10, 200);
    let record = AuthorityBuffer {
        flags: AuthorityFlags::default(),
        credential: Some(&credential),
        keytoken: Some(&token),
        classifier: Some(List::Items(&classifier)),
        extended_payload: Some(&small_payload),
        route_entry: Some(route(&k, &a)),
        cpa: Some(&cpa),
    };
    let single = s.authority_buffer("record", &record);
    assert!(single.len() <= FRAGMENT_LEN);
    s.fragmented("authority-single", 0x2001, &single, true);

    let payload = bytes(11, 2400);
    let multi = AuthorityBuffer { extended_payload: Some(&payload), ..record.clone() };
    let multi = s.authority_buffer("record-3-fragments", &multi);
    assert_eq!(multi.len().div_ceil(FRAGMENT_LEN), 3);
    s.fragmented("authority-multi", 0x2002, &multi, true);

    // The benchmark's shape: a 5 KiB payload, a route entry and a CPA.
    let payload = bytes(12, 5120);
    let large = AuthorityBuffer {
        flags: AuthorityFlags::default(),
        credential: None,
        keytoken: None,
        classifier: None,
        extended_payload: Some(&payload),
        route_entry: Some(route(&k, &a)),
        cpa: Some(&cpa),
    };
    s.authority_buffer("payload-5k", &large);
}

fn reassembly_scripts(s: &mut Seeds) {
    const BIG: u16 = 3000; // three fragments
    const MAX: u16 = fragment::MAX_AUTHORITY_BUFFER_LEN as u16;
    // A buffer in order, and one that fits a single fragment.
    s.ops(
        "in-order",
        &[Op::fragment(0, 1, 1, BIG, 0), Op::fragment(1, 1, 1, BIG, 1), Op::fragment(1, 1, 1, BIG, 2)],
    );
    s.ops("whole", &[Op::fragment(0, 1, 1, 900, 0)]);
    // Out of order, with a duplicate, an inconsistent size, a bad length and a bad offset.
    s.ops(
        "out-of-order-errors",
        &[
            Op::fragment(0, 2, 5, BIG, 2),
            Op::fragment(1, 2, 5, BIG, 2),
            Op::fragment(1, 2, 5, BIG + 1, 0),
            Op { length: Some(100), ..Op::fragment(1, 2, 5, BIG, 1) },
            Op { raw_offset: true, offset: 17, ..Op::fragment(1, 2, 5, BIG, 1) },
            Op::fragment(1, 2, 5, BIG, 0),
            Op::fragment(1, 2, 5, BIG, 1),
        ],
    );
    // Largest buffers, in runs both ways; two peers interleaved.
    s.ops(
        "runs",
        &[
            Op::run(0, 3, 9, MAX, 0, false),
            Op::run(1, 4, 9, MAX, 0, true),
            Op::fragment(1, 5, 9, MAX, 31),
            Op::run(1, 5, 9, MAX, 1, false),
            Op::fragment(1, 5, 9, MAX, 0),
        ],
    );
    // One peer over its budget (two largest buffers pending, a third refused).
    s.ops(
        "peer-budget",
        &[
            Op::run(0, 6, 1, MAX, 1, false),
            Op::run(0, 6, 2, MAX, 1, false),
            Op::fragment(0, 6, 3, BIG, 0),
            Op::forget(1, 6),
            Op::fragment(0, 6, 3, BIG, 0),
        ],
    );
    // Every peer fills its budget: the total overflows and the oldest partials are dropped.
    let mut total = Vec::new();
    for peer in 0..reassembly::PEERS {
        total.push(Op::run(1, peer, 1, MAX, 1, false));
        total.push(Op::run(1, peer, 2, MAX, 1, false));
    }
    total.push(Op::fragment(0, 0, 1, MAX, 0));
    total.push(Op::fragment(0, 15, 2, MAX, 0));
    s.ops("total-budget", &total);
    // More small partials than the count limit.
    let count: Vec<Op> = (0..70u8).map(|i| Op::fragment(0, i % reassembly::PEERS, i, 1189, 0)).collect();
    s.ops("count-limit", &count);
    // Partials time out (5 s = 100 steps of 50 ms), explicitly and inside `accept`.
    s.ops(
        "expiry",
        &[
            Op::fragment(0, 7, 1, BIG, 0),
            Op::fragment(50, 7, 2, BIG, 0),
            Op::expire(60),
            Op::fragment(0, 7, 1, BIG, 1),
            Op::fragment(0, 7, 1, BIG, 2),
            Op::fragment(200, 7, 2, BIG, 1),
            Op::expire(0),
        ],
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in TARGETS {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("seed-")) {
                fs::remove_file(path).unwrap();
            }
        }
    }
    let mut seeds = Seeds { root, count: 0, total: 0 };
    datagrams(&mut seeds);
    authority(&mut seeds);
    reassembly_scripts(&mut seeds);
    println!("wrote {} seeds, {} bytes, under {}", seeds.count, seeds.total, seeds.root.display());
}
