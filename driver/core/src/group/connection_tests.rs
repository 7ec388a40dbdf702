//! Connections between members as specifications: what a third party on the path sees and can
//! do to sealed traffic, and how skewed clocks agree on peer time.

use alloc::string::String;
use alloc::vec::Vec;

use ed25519_dalek::SigningKey;

use super::id::RecordId;
use super::limits::{MAX_CLOCK_SKEW, MAX_IN_FLIGHT, REPLAY_WINDOW, RETRANSMIT_INTERVAL};
use super::member::{GroupError, GroupEvent, Member};
use super::membership::{Credentials, GroupRoot, Role};
use super::record::RecordDraft;
use super::session::{Rejects, SEAL_OVERHEAD, SealError};
use super::time::PeerTime;
use super::wire::{Body, Message};

/// Real time at the start of every test (the unskewed member's host clock).
const REAL: PeerTime = PeerTime(133_000_000_000_000_000);
const PAYLOAD: &[u8] = b"the minutes of the secret meeting";
const ATTRIBUTES: &str =
    r#"<attributes><attribute name="room" type="string">confidential</attribute></attributes>"#;

fn root() -> GroupRoot {
    GroupRoot::from_secret(&[1; 32])
}

fn member(root: &GroupRoot, secret: u8, role: Role, creator: bool) -> Member<usize> {
    let key = SigningKey::from_bytes(&[secret; 32]).verifying_key().to_bytes();
    let certificate = root.invite(&key, role, PeerTime(REAL.0 - 1), REAL.plus_seconds(86_400));
    let mut member =
        Member::new(Credentials::new(&[secret; 32], certificate).unwrap(), creator, u32::from(secret) << 24)
            .unwrap();
    member.add_entropy(&[secret, 0xee]);
    member
}

fn draft(data: &[u8], expiration: PeerTime) -> RecordDraft {
    RecordDraft {
        record_type: [0x11; 16],
        attributes: String::from(ATTRIBUTES),
        data: data.to_vec(),
        expiration,
        flags: 0,
    }
}

/// Two members on a path: member `i`'s host clock reads `real + skew[i]` seconds.
struct Path {
    members: [Member<usize>; 2],
    skew: [i64; 2],
    real: PeerTime,
    /// Every datagram that crossed the path, in order: (from, to, bytes).
    wire: Vec<(usize, usize, Vec<u8>)>,
    refusals: Vec<GroupError>,
}

impl Path {
    fn new(a: Member<usize>, b: Member<usize>, skew: [i64; 2]) -> Self {
        Self { members: [a, b], skew, real: REAL, wire: Vec::new(), refusals: Vec::new() }
    }

    fn clock(&self, i: usize) -> PeerTime {
        self.real.shifted(self.skew[i] * PeerTime::TICKS_PER_SECOND as i64)
    }

    /// Delivers everything until quiet; `tap` may alter a datagram or drop it (`false`).
    fn settle_with(&mut self, mut tap: impl FnMut(usize, usize, &mut Vec<u8>) -> bool) {
        loop {
            let mut moved = false;
            for from in 0..2 {
                let now = self.clock(from);
                while let Some((to, mut bytes)) = self.members[from].poll_transmit(now) {
                    moved = true;
                    self.wire.push((from, to, bytes.clone()));
                    if tap(from, to, &mut bytes) {
                        // Refusals are recorded in `refusals`.
                        let _ = self.deliver(from, to, &bytes);
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn settle(&mut self) {
        self.settle_with(|_, _, _| true);
    }

    fn deliver(&mut self, from: usize, to: usize, bytes: &[u8]) -> Result<(), GroupError> {
        let now = self.clock(to);
        let result = self.members[to].handle_datagram(from, bytes, now);
        if let Err(error) = result {
            self.refusals.push(error);
        }
        result
    }

    /// Advances real time by `seconds`, running both members' timers.
    fn advance(&mut self, seconds: u64) {
        self.real = self.real.plus_seconds(seconds);
        for i in 0..2 {
            let now = self.clock(i);
            self.members[i].handle_timeout(now);
        }
        self.settle();
    }

    fn connected(&self) -> bool {
        self.members.iter().all(|m| m.connected().count() == 1)
    }
}

fn connected_pair() -> Path {
    let root = root();
    let mut path =
        Path::new(member(&root, 2, Role::Administrator, true), member(&root, 3, Role::Member, false), [0, 0]);
    let now = path.clock(1);
    path.members[1].connect(0, now);
    path.settle();
    assert!(path.connected());
    path
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The next datagram member `from` sends, taken off the path instead of delivered.
fn intercept(path: &mut Path, from: usize) -> Vec<u8> {
    let now = path.clock(from);
    path.members[from].poll_transmit(now).expect("a datagram is waiting").1
}

#[test]
fn a_third_party_on_the_path_reads_nothing_of_a_record() {
    let mut path = connected_pair();
    let now = path.clock(0);
    let record = path.members[0].add_record(draft(PAYLOAD, REAL.plus_seconds(3600)), 9, now).unwrap();
    path.settle();
    assert_eq!(path.members[1].record(&record.id).unwrap(), &record, "the member got the record");
    let floods =
        path.wire.iter().filter(|(from, _, bytes)| *from == 0 && bytes.len() > PAYLOAD.len()).count();
    assert!(floods >= 1);
    for (_, _, bytes) in &path.wire {
        assert!(!contains(bytes, PAYLOAD), "the payload crossed the path in the clear");
        assert!(!contains(bytes, b"confidential"), "the attributes crossed the path in the clear");
        assert!(!contains(bytes, &record.id.0), "the record ID crossed the path in the clear");
        if let Ok(message) = Message::decode(bytes) {
            assert!(
                message.body.is_handshake() || matches!(message.body, Body::Ack(_)),
                "only the handshake and its acknowledgements travel in the clear: {:?}",
                message.body
            );
        }
    }
}

#[test]
fn tampered_truncated_replayed_and_clear_datagrams_are_refused_and_counted_and_change_nothing() {
    let mut path = connected_pair();
    let now = path.clock(0);
    let record = path.members[0].add_record(draft(PAYLOAD, REAL.plus_seconds(3600)), 9, now).unwrap();
    let sealed = intercept(&mut path, 0);

    let mut tampered = sealed.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 0x80;
    assert_eq!(path.deliver(0, 1, &tampered), Err(GroupError::Seal(SealError::Unauthentic)));
    assert_eq!(
        path.deliver(0, 1, &sealed[..sealed.len() - 1]),
        Err(GroupError::Seal(SealError::Unauthentic))
    );
    assert_eq!(path.deliver(0, 1, &sealed[..SEAL_OVERHEAD]), Err(GroupError::Seal(SealError::Truncated)));
    assert!(path.members[1].database().is_empty(), "nothing entered the database");

    assert_eq!(path.deliver(0, 1, &sealed), Ok(()), "the genuine frame still opens");
    assert_eq!(path.members[1].record(&record.id).unwrap(), &record);
    assert_eq!(path.deliver(0, 1, &sealed), Err(GroupError::Seal(SealError::Replayed)));

    // The same FLOOD in the clear, as a forger who knows its content would send it.
    let clear = Message { tag: path.members[0].tag(), id: 0x7777, body: Body::Flood(record.view()) }.encode();
    assert_eq!(path.deliver(0, 1, &clear), Err(GroupError::Unsealed));
    // Sealed under another connection's keys: a third member's session with member 1.
    let root = root();
    let mut other =
        Path::new(member(&root, 4, Role::Member, true), member(&root, 3, Role::Member, false), [0, 0]);
    let now = other.clock(1);
    other.members[1].connect(0, now);
    other.settle();
    // (Its counter is taken past what member 1 has seen, so the key is what refuses it.)
    let foreign = (0..100).map(|_| other.members[0].seal_to(&1, &clear).unwrap()).last().unwrap();
    assert_eq!(path.deliver(0, 1, &foreign), Err(GroupError::Seal(SealError::Unauthentic)));

    assert_eq!(
        path.members[1].stats().rejects,
        Rejects { malformed: 1, unauthentic: 3, replayed: 1, too_old: 0, unsealed: 1 }
    );
    assert!(path.connected(), "refused datagrams do not end the connection");
    path.settle();
    assert_eq!(path.members[0].database().all().count(), path.members[1].database().all().count());
}

#[test]
fn datagrams_reordered_within_the_replay_window_are_accepted_and_older_ones_refused() {
    let mut path = connected_pair();
    let start = path.clock(0);
    let ids: Vec<RecordId> = (0..MAX_IN_FLIGHT as u64)
        .map(|n| {
            path.members[0].add_record(draft(&n.to_be_bytes(), REAL.plus_seconds(3600)), n, start).unwrap().id
        })
        .collect();
    // REPLAY_WINDOW + 1 frames, none delivered: first transmissions, then retransmissions (each
    // sealed under a counter of its own).
    let mut frames = Vec::new();
    let mut at = start;
    while frames.len() <= REPLAY_WINDOW as usize {
        match path.members[0].poll_transmit(at) {
            Some((_, bytes)) => frames.push(bytes),
            None => at = at.plus_ticks(RETRANSMIT_INTERVAL),
        }
    }
    // The newest frame arrives first; then the oldest still inside the window (REPLAY_WINDOW - 1
    // behind it), then the one past it.
    assert_eq!(path.deliver(0, 1, &frames[REPLAY_WINDOW as usize]), Ok(()));
    assert_eq!(path.deliver(0, 1, &frames[1]), Ok(()), "reordered, at the window's edge");
    assert_eq!(path.members[1].record(&ids[1]).map(|r| r.id), Ok(ids[1]), "and its record taken");
    assert_eq!(path.deliver(0, 1, &frames[0]), Err(GroupError::Seal(SealError::TooOld)));
    assert_eq!(path.deliver(0, 1, &frames[1]), Err(GroupError::Seal(SealError::Replayed)));
    // The sender retransmits what was not acknowledged, under new counters: everything arrives.
    path.advance(2);
    for id in &ids {
        assert!(path.members[1].record(id).is_ok());
    }
    assert_eq!(path.members[1].stats().rejects, Rejects { too_old: 1, replayed: 1, ..Rejects::default() });
    assert!(path.connected());
}

#[test]
fn a_substituted_ephemeral_key_breaks_the_handshake() {
    let root = root();
    let mut path =
        Path::new(member(&root, 2, Role::Administrator, true), member(&root, 3, Role::Member, false), [0, 0]);
    let now = path.clock(1);
    path.members[1].connect(0, now);
    // A man in the middle replaces the ephemeral key of every HELLO and WELCOME with its own.
    path.settle_with(|_, _, bytes| {
        if let Ok(message) = Message::decode(bytes) {
            let body = match message.body {
                Body::Hello { certificate, nonce, clock, .. } => {
                    Body::Hello { certificate, nonce, ephemeral: [0x42; 32], clock }
                }
                Body::Welcome { certificate, nonce, clock, proof, .. } => {
                    Body::Welcome { certificate, nonce, ephemeral: [0x43; 32], clock, proof }
                }
                _ => return true,
            };
            *bytes = Message { body, ..message }.encode();
        }
        true
    });
    // The WELCOME's proof fails: it is ignored (it proves nothing, so it ends nothing) and
    // neither side connects.
    assert!(path.members.iter().all(|m| m.connected().count() == 0), "no connection with substituted keys");
    assert!(path.refusals.contains(&GroupError::BadProof));
    assert!(path.members[1].database().is_empty());
}

#[test]
fn a_skewed_member_adopts_peer_time_and_a_record_expires_at_the_same_real_instant_on_both() {
    let root = root();
    // Member 1's clock runs 90 s ahead of member 0's.
    let mut path = Path::new(
        member(&root, 2, Role::Administrator, true),
        member(&root, 3, Role::Member, false),
        [0, 90],
    );
    let now = path.clock(1);
    path.members[1].connect(0, now);
    path.settle();
    assert!(path.connected());
    assert_eq!(path.members[1].clock().offset(), -90 * PeerTime::TICKS_PER_SECOND as i64);
    assert_eq!(path.members[1].peer_time(path.clock(1)), path.members[0].peer_time(path.clock(0)));
    assert_eq!(path.members[1].universal_time(REAL), REAL.plus_seconds(90), "PeerTimeToUniversalTime");

    // The creator writes a record expiring at peer time T = now + 60 s.
    let expiration = REAL.plus_seconds(60);
    let now = path.clock(0);
    let record = path.members[0].add_record(draft(PAYLOAD, expiration), 5, now).unwrap();
    path.settle();
    let held = |path: &Path, i: usize| path.members[i].database().get(&record.id).is_some();
    assert!(held(&path, 0) && held(&path, 1));
    assert_eq!(
        path.members[1].next_timeout(),
        Some(expiration.plus_seconds(90)),
        "its timer is on its own clock"
    );
    path.advance(59);
    assert!(held(&path, 0) && held(&path, 1), "one second before T both hold it");
    path.advance(1);
    assert!(!held(&path, 0) && !held(&path, 1), "at T both dropped it");
    let expired = |i: usize, path: &mut Path| {
        core::iter::from_fn(|| path.members[i].poll_event())
            .any(|e| matches!(e, GroupEvent::RecordChanged { id, .. } if id == record.id))
    };
    assert!(expired(0, &mut path) && expired(1, &mut path));
}

#[test]
fn a_member_whose_clock_is_off_by_more_than_the_bound_is_refused() {
    let root = root();
    let bound = (MAX_CLOCK_SKEW / PeerTime::TICKS_PER_SECOND) as i64;
    for (skew, connects) in [(bound, true), (-bound, true), (bound + 1, false), (-(bound + 1), false)] {
        let mut path = Path::new(
            member(&root, 2, Role::Administrator, true),
            member(&root, 3, Role::Member, false),
            [0, skew],
        );
        let now = path.clock(1);
        path.members[1].connect(0, now);
        path.settle();
        assert_eq!(path.connected(), connects, "skew of {skew} s");
        if !connects {
            assert!(path.refusals.iter().all(|e| *e == GroupError::ClockSkew), "{:?}", path.refusals);
            assert_eq!(
                path.refusals.len(),
                2,
                "refused by the accepting side, reported on the connecting side"
            );
            assert_eq!(path.members[1].clock().offset(), 0, "a refused member keeps its clock");
            let at = path.clock(1);
            assert_eq!(
                path.members[1].add_record(draft(b"x", at.plus_seconds(60)), 1, at),
                Err(GroupError::NotReady)
            );
        }
    }
}
