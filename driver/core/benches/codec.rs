//! Codec benchmarks: one LOOKUP and one fragmented AUTHORITY, each way.
//!
//! ```text
//! cargo bench -p peerdrt-core --bench codec -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every benchmark has `Throughput::Elements(1)`: criterion's figures read as time per message.
//! For the AUTHORITY benchmarks one message is a whole ~6 KB AUTHORITY_BUFFER, i.e. all of its
//! six AUTHORITY datagrams.

use std::net::Ipv6Addr;

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use peerdrt_core::time::Instant;
use peerdrt_core::wire::fragment::{self, FRAGMENT_LEN, MAX_AUTHORITY_BUFFER_LEN};
use peerdrt_core::wire::*;

/// Room for one AUTHORITY fragment datagram: header, HEADER_ACKED, SPLIT_CONTROLS, fragment.
const FRAGMENT_DATAGRAM_LEN: usize = 1500;

fn key(tag: u8) -> Key {
    core::array::from_fn(|i| tag ^ (i as u8).wrapping_mul(29))
}

fn filler(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_add((i as u8).wrapping_mul(13)) ^ (i >> 8) as u8).collect()
}

fn addresses(n: u16) -> Vec<Ipv6Addr> {
    (0..n).map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0x10, i, 0, 0, 0, 0x100 + i)).collect()
}

fn endpoints(n: u16) -> Vec<Endpoint> {
    (0..n)
        .map(|i| Endpoint { addr: Ipv6Addr::new(0x2001, 0xdb8, 0x20, i, 0, 0, 0, 1), port: 3540 + i })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let (target, validate, best) = (key(1), key(2), key(3));
    let best_addresses = addresses(3);
    let path = endpoints(5);
    let datagram = Datagram {
        version: ProtocolVersion::PNRP,
        message_id: 0x0102_0304,
        message: Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: false,
                precision: 0,
                criteria: ResolveCriteria::Nearest,
                reason: ResolveReason::AppRequest,
            },
            target: &target,
            validate_key: &validate,
            best_match: Some(RouteEntry {
                key: &best,
                version: ProtocolVersion::PNRP,
                port: 3540,
                addresses: List::Items(&best_addresses),
            }),
            path: List::Items(&path),
            proof: None,
        }),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = datagram.encode(&mut buf).expect("the LOOKUP encodes");
    let wire = buf[..len].to_vec();
    assert_eq!(Datagram::decode(&wire).as_ref(), Ok(&datagram));

    let mut group = c.benchmark_group("lookup");
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("encode", format!("{len}B")), |b| {
        b.iter(|| black_box(&datagram).encode(black_box(&mut buf[..])).unwrap())
    });
    group.bench_function(BenchmarkId::new("decode", format!("{len}B")), |b| {
        b.iter(|| Datagram::decode(black_box(&wire[..])).unwrap())
    });
    group.finish();
}

fn authority(c: &mut Criterion) {
    let route_key = key(4);
    let route_addresses = addresses(3);
    let payload = filler(5, 5120);
    let cpa = filler(6, 768);
    let buffer = AuthorityBuffer {
        flags: AuthorityFlags::default(),
        credential: None,
        keytoken: None,
        classifier: None,
        extended_payload: Some(&payload),
        route_entry: Some(RouteEntry {
            key: &route_key,
            version: ProtocolVersion::PNRP,
            port: 3540,
            addresses: List::Items(&route_addresses),
        }),
        cpa: Some(&cpa),
    };
    const MESSAGE_ID: u32 = 0x0A0B_0C0D;
    const ACKED_ID: u32 = 0x0102_0304;

    // Encode: the AUTHORITY_BUFFER, then one AUTHORITY datagram per fragment.
    let mut buffer_bytes = vec![0u8; MAX_AUTHORITY_BUFFER_LEN];
    let size = buffer.encode(&mut buffer_bytes).expect("the AUTHORITY_BUFFER encodes");
    let count = size.div_ceil(FRAGMENT_LEN);
    let mut datagrams = vec![[0u8; FRAGMENT_DATAGRAM_LEN]; count];
    let mut lengths = vec![0usize; count];
    let encode = |buffer: &AuthorityBuffer<'_>,
                  buffer_bytes: &mut [u8],
                  datagrams: &mut [[u8; FRAGMENT_DATAGRAM_LEN]],
                  lengths: &mut [usize]| {
        let size = buffer.encode(buffer_bytes).unwrap();
        let pieces = fragment::fragments(&buffer_bytes[..size]).unwrap();
        for (((split, piece), out), len) in pieces.zip(datagrams.iter_mut()).zip(lengths.iter_mut()) {
            let datagram = Datagram {
                version: ProtocolVersion::PNRP,
                message_id: MESSAGE_ID,
                message: Message::Authority(Authority { acked_id: ACKED_ID, split, fragment: piece }),
            };
            *len = datagram.encode(out).unwrap();
        }
        size
    };
    assert_eq!(encode(&buffer, &mut buffer_bytes, &mut datagrams, &mut lengths), size);
    let wire: Vec<Vec<u8>> = datagrams.iter().zip(&lengths).map(|(d, &len)| d[..len].to_vec()).collect();

    // Decode: every datagram, through the reassembler, then the AUTHORITY_BUFFER.
    let peer = 7u32;
    let mut reassembler = Reassembler::new();
    let mut receive = |wire: &[Vec<u8>], check: &dyn Fn(&AuthorityBuffer<'_>)| {
        for datagram in wire {
            let datagram = Datagram::decode(datagram).unwrap();
            let Message::Authority(a) = datagram.message else { unreachable!("an AUTHORITY") };
            match reassembler.accept(Instant(0), peer, datagram.message_id, a.split, a.fragment).unwrap() {
                Reassembled::Pending => {}
                Reassembled::Whole(bytes) => check(&AuthorityBuffer::decode(bytes).unwrap()),
                Reassembled::Complete(bytes) => check(&AuthorityBuffer::decode(&bytes).unwrap()),
            }
        }
    };
    let received = std::cell::Cell::new(false);
    receive(&wire, &|decoded| {
        assert_eq!(decoded, &buffer);
        received.set(true);
    });
    assert!(received.get(), "the AUTHORITY_BUFFER was not reassembled");

    let mut group = c.benchmark_group("authority");
    group.throughput(Throughput::Elements(1));
    let label = format!("{size}B-{count}frags");
    group.bench_function(BenchmarkId::new("encode_fragments", &label), |b| {
        b.iter(|| encode(black_box(&buffer), &mut buffer_bytes, &mut datagrams, &mut lengths))
    });
    group.bench_function(BenchmarkId::new("decode_reassemble", &label), |b| {
        b.iter(|| {
            receive(black_box(&wire), &|decoded| {
                black_box(decoded);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, lookup, authority);
criterion_main!(benches);
