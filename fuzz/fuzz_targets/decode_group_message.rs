//! Group messages on arbitrary bytes: decoding never panics, a decoded message re-encodes to
//! the same bytes, a decoded record goes through verification, and a member fed the datagram
//! keeps its invariants (nothing unverified enters its database). The member grants password
//! memberships, and a password joiner is fed the datagram too, so every password message
//! reaches a handler. Sealed frames: the parser never panics, opening under a fixed session key
//! never panics, what opens decodes like any clear message and seals back to a frame that opens
//! to it again; a frame accepted once is refused the second time.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use peerdrt_core::group::attributes;
use peerdrt_core::group::member::Member;
use peerdrt_core::group::membership::{Credentials, GroupRoot, Role, member_key};
use peerdrt_core::group::password::{PasswordGrantor, verifier_of};
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::group::session::{SealError, SealedFrame, Session, SessionKeys};
use peerdrt_core::group::wire::{Body, Message};

const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

/// The group root the seeds use.
fn root() -> GroupRoot {
    GroupRoot::from_secret(&[0xa5; 32])
}

/// The password key seed the seeds' password proof uses.
const PASSWORD_SEED: [u8; 32] = [0x77; 32];

/// The member every input is fed to (signed once; the seeds use the same keys).
fn credentials() -> &'static Credentials {
    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let root = root();
        let secret = [0x11; 32];
        let certificate = root.invite(&member_key(&secret), Role::Member, PeerTime(0), PeerTime(u64::MAX));
        Credentials::new(&secret, certificate).expect("the certificate names the key")
    })
}

/// The member every input is fed to, granting password memberships, and a password joiner of
/// the same group (built once: key derivations dominate otherwise; each input gets clones).
fn members() -> &'static (Member<u8>, Member<u8>) {
    static MEMBERS: OnceLock<(Member<u8>, Member<u8>)> = OnceLock::new();
    MEMBERS.get_or_init(|| {
        let mut member: Member<u8> = Member::new(credentials().clone(), true, 1).expect("a valid root");
        member.enable_password_authentication(PasswordGrantor::new(
            root(),
            verifier_of(&PASSWORD_SEED),
            Role::Member,
            3600,
        ));
        let joiner = Member::new_password_join(&[0x22; 32], root().public_key(), &PASSWORD_SEED, 2)
            .expect("a valid root");
        (member, joiner)
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
    let (granting, pending) = members();
    let mut member = granting.clone();
    let mut joiner = pending.clone();
    joiner.connect(7, NOW);
    while joiner.poll_transmit(NOW).is_some() {}
    let _ = joiner.handle_datagram(7, data, NOW);
    while joiner.poll_transmit(NOW).is_some() {}
    joiner.handle_timeout(NOW.plus_seconds(10));
    assert!(joiner.database().is_empty() || joiner.password_join_state() == peerdrt_core::group::member::PasswordJoinState::Member);

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
