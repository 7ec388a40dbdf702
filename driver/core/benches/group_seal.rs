//! The cost of sealing group traffic (`group/session.rs`): seal and open of one datagram at
//! three sizes, and the handshake's key agreement (X25519 + HKDF-SHA256) per connection.
//!
//! ```text
//! cargo bench -p peerdrt-core --bench group_seal -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every benchmark has `Throughput::Bytes(clear message length)`; the time criterion prints is
//! per datagram. Opening includes the replay-window check and rebuilding the clear message; the
//! "open" benchmark opens each frame on a fresh receiving session, so the window never refuses.
//! The bytes a frame adds are printed once, before the runs.

use criterion::{BenchmarkId, Criterion, Throughput, black_box, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use peerdrt_core::group::handshake::{self, Contribution, Side, Transcript};
use peerdrt_core::group::id::GroupTag;
use peerdrt_core::group::session::{SEAL_OVERHEAD, SealedFrame, Session, SessionKeys};
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::group::wire::{Body, Message};

const TAG: GroupTag = GroupTag([0x42; 8]);
const KEYS: SessionKeys = SessionKeys { send: [1; 32], receive: [1; 32] };

/// An ACK (the smallest message), a 1 KB and a 16 KB body (a record at MAX_RECORD_SIZE).
fn messages() -> Vec<(&'static str, Vec<u8>)> {
    let ack = Message { tag: TAG, id: 7, body: Body::Ack(6) }.encode();
    let body = |len: usize| {
        let mut bytes = Message { tag: TAG, id: 7, body: Body::Disconnect }.encode();
        bytes[3] = 0x0b;
        bytes.extend((0..len).map(|i| i as u8));
        bytes
    };
    vec![("ack", ack), ("1KiB", body(1024)), ("16KiB", body(16 * 1024))]
}

fn seal_and_open(c: &mut Criterion) {
    eprintln!("sealed frame overhead: {SEAL_OVERHEAD} bytes per datagram");
    let mut group = c.benchmark_group("group_seal");
    for (name, clear) in messages() {
        group.throughput(Throughput::Bytes(clear.len() as u64));
        let mut sender = Session::new(&KEYS);
        group.bench_with_input(BenchmarkId::new("seal", name), &clear, |b, clear| {
            b.iter(|| sender.seal(black_box(clear)).unwrap())
        });
        let sealed = Session::new(&KEYS).seal(&clear).unwrap();
        group.bench_with_input(BenchmarkId::new("open", name), &sealed, |b, sealed| {
            b.iter(|| {
                let mut receiver = Session::new(&KEYS);
                receiver.open(&SealedFrame::decode(black_box(sealed)).unwrap()).unwrap()
            })
        });
    }
    group.finish();
}

fn key_agreement(c: &mut Criterion) {
    let (alice, bob) = (SigningKey::from_bytes(&[2; 32]), SigningKey::from_bytes(&[3; 32]));
    let entropy = [9; 32];
    let contribution = |key: &SigningKey| {
        let secret = handshake::ephemeral_secret(key, &entropy, 1);
        let c = Contribution {
            member: key.verifying_key().to_bytes(),
            nonce: handshake::nonce(key, &entropy, 1),
            ephemeral: handshake::ephemeral_public(&secret),
            clock: PeerTime(1),
        };
        (secret, c)
    };
    let (secret, a) = contribution(&alice);
    let (_, b) = contribution(&bob);
    let transcript = Transcript { tag: TAG, connecting: a, accepting: b }.hash();
    c.bench_function("group_handshake/session_keys (X25519 + HKDF, one side)", |bench| {
        bench.iter(|| {
            handshake::session_keys(black_box(&secret), &b.ephemeral, &transcript, Side::Connect).unwrap()
        })
    });
    c.bench_function("group_handshake/ephemeral key (derive + X25519 base point)", |bench| {
        bench.iter(|| {
            handshake::ephemeral_public(&handshake::ephemeral_secret(&alice, black_box(&entropy), 2))
        })
    });
}

criterion_group!(benches, seal_and_open, key_agreement);
criterion_main!(benches);
