//! Group messages on arbitrary bytes: decoding never panics, a decoded message re-encodes to
//! the same bytes, a decoded record goes through verification, and a member fed the datagram
//! keeps its invariants (nothing unverified enters its database). Sealed frames: the parser
//! never panics, opening under a fixed session key never panics, what opens decodes like any
//! clear message and seals back to a frame that opens to it again; a frame accepted once is
//! refused the second time.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use peerdrt_core::group::attributes;
use peerdrt_core::group::member::Member;
use peerdrt_core::group::membership::{Credentials, GroupRoot, Role, member_key};
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::group::session::{SealError, SealedFrame, Session, SessionKeys};
use peerdrt_core::group::wire::{Body, Message};

const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

/// The member every input is fed to (signed once; the seeds use the same keys).
fn credentials() -> &'static Credentials {
    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let root = GroupRoot::from_secret(&[0xa5; 32]);
        let secret = [0x11; 32];
        let certificate = root.invite(&member_key(&secret), Role::Member, PeerTime(0), PeerTime(u64::MAX));
        Credentials::new(&secret, certificate).expect("the certificate names the key")
    })
}

/// The key the seeds' sealed frames use (`fuzz/examples/group_seeds.rs`).
pub const SEED_KEY: [u8; 32] = [0x5c; 32];

fn sealed_frames(data: &[u8]) {
    let Ok(frame) = SealedFrame::decode(data) else { return };
    assert_eq!(&data[4..12], &frame.tag.0);
    let mut session = Session::new(&SessionKeys { send: SEED_KEY, receive: SEED_KEY });
    let Ok(clear) = session.open(&frame) else { return };
    assert_eq!(session.open(&frame), Err(SealError::Replayed), "a frame opens once");
    let _ = Message::decode(&clear);
    let resealed = session.seal(&clear).expect("an opened frame's message seals again");
    let mut peer = Session::new(&SessionKeys { send: SEED_KEY, receive: SEED_KEY });
    let reopened = SealedFrame::decode(&resealed).and_then(|f| peer.open(&f));
    assert_eq!(reopened, Ok(clear));
}

fuzz_target!(|data: &[u8]| {
    sealed_frames(data);
    if let Ok(text) = core::str::from_utf8(data) {
        let _ = attributes::validate(text);
    }
    let mut member: Member<u8> = Member::new(credentials().clone(), true, 1).expect("a valid root");

    if let Ok(message) = Message::decode(data) {
        assert_eq!(message.encode(), data, "the encoding is canonical");
        if let Body::Flood(record) = &message.body {
            let _ = record.verify(member.database().root());
        }
        if let Body::Records { records, .. } = &message.body {
            assert_eq!(records.iter().count(), records.len());
        }
        // Let the sender be connected so every body reaches its handler.
        member.connect(7, NOW);
    }
    let _ = member.handle_datagram(7, data, NOW);
    for record in member.database().all() {
        assert!(record.view().verify(member.database().root()).is_ok(), "only verified records are stored");
    }
    while member.poll_transmit(NOW).is_some() {}
    member.handle_timeout(NOW.plus_seconds(10));
});
