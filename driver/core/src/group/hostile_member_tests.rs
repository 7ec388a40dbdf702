//! What a hostile member, or anyone who can send datagrams from a member's address, can do to
//! a member: fill its database (bounded in bytes), shift its clock (only a member's clock is
//! adopted), tear down or block its connections with handshake messages that prove nothing (they
//! are ignored), use it as an amplifier (one answer per HELLO, rate-limited), overflow a channel
//! by synchronisation (pushes are paced), write records dated in the future, or stay connected
//! past its certificate's expiry.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ed25519_dalek::SigningKey;

use super::database::{Applied, Change, DbError, RecordDb};
use super::handshake;
use super::limits::{
    HANDSHAKE_TIMEOUT, HELLO_WINDOW, MAX_CLOCK_SKEW, MAX_GROUP_DB_BYTES, MAX_HALF_OPEN,
    MAX_HANDSHAKE_AMPLIFICATION, MAX_HELLOS_PER_WINDOW, MAX_IN_FLIGHT, MAX_QUEUED, MAX_RECORD_SIZE,
    MAX_RECORDS, MAX_TRANSMISSIONS, RETRANSMIT_INTERVAL,
};
use super::member::{GroupError, GroupEvent, Member};
use super::membership::{Credentials, GroupRoot, MembershipCertificate, MembershipError, Role};
use super::record::{MAX_RECORD_WIRE_LEN, RECORD_FIXED_LEN, Record, RecordDraft, RecordError};
use super::time::{PeerClock, PeerTime};
use super::wire::{Body, Message};

const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

fn root() -> GroupRoot {
    GroupRoot::from_secret(&[1; 32])
}

fn credentials_until(root: &GroupRoot, secret: u8, role: Role, until: PeerTime) -> Credentials {
    let key = SigningKey::from_bytes(&[secret; 32]).verifying_key().to_bytes();
    let certificate = root.invite(&key, role, PeerTime(NOW.0 - 1), until);
    Credentials::new(&[secret; 32], certificate).unwrap()
}

fn credentials(root: &GroupRoot, secret: u8, role: Role) -> Credentials {
    credentials_until(root, secret, role, NOW.plus_seconds(86_400))
}

fn member(secret: u8, creator: bool) -> Member<usize> {
    let role = if creator { Role::Administrator } else { Role::Member };
    Member::new(credentials(&root(), secret, role), creator, u32::from(secret) << 20).unwrap()
}

/// A draft whose record is `wire_len` bytes long on the wire.
fn draft_of_len(wire_len: usize) -> RecordDraft {
    RecordDraft {
        record_type: [0x33; 16],
        attributes: String::new(),
        data: vec![0x5a; wire_len - RECORD_FIXED_LEN],
        expiration: NOW.plus_seconds(3600),
        flags: 0,
    }
}

/// Records by `author` of `MAX_RECORD_SIZE` until the next one would not fit, then what is left
/// of `MAX_GROUP_DB_BYTES` less `short` bytes (IDs from `first`).
fn records_filling(author: &Credentials, short: usize, first: u64) -> Vec<Record> {
    let group = root().public_key();
    let full = MAX_GROUP_DB_BYTES / MAX_RECORD_WIRE_LEN;
    let rest = MAX_GROUP_DB_BYTES - full * MAX_RECORD_WIRE_LEN - short;
    assert!(rest >= RECORD_FIXED_LEN, "the last record holds its fixed part");
    (0..full)
        .map(|i| Record::create(author, &group, draft_of_len(MAX_RECORD_WIRE_LEN), first + i as u64, NOW))
        .chain([Record::create(author, &group, draft_of_len(rest), first + full as u64, NOW)])
        .map(Result::unwrap)
        .collect()
}

/// Delivers every datagram among `members` (addressed by index) at `now` until nothing moves.
fn settle(members: &mut [Member<usize>], now: PeerTime) {
    for _ in 0..100_000 {
        let mut moved = false;
        for from in 0..members.len() {
            while let Some((to, bytes)) = members[from].poll_transmit(now) {
                if let Some(member) = members.get_mut(to) {
                    let _ = member.handle_datagram(from, &bytes, now);
                }
                moved = true;
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the members did not settle");
}

/// Settles, then runs timers one retransmission interval at a time until nothing is left to do.
fn settle_with_timers(members: &mut [Member<usize>], mut now: PeerTime) -> PeerTime {
    for _ in 0..=MAX_TRANSMISSIONS * 4 {
        settle(members, now);
        if members.iter().all(Member::is_idle) {
            return now;
        }
        now = now.plus_ticks(RETRANSMIT_INTERVAL);
        members.iter_mut().for_each(|m| m.handle_timeout(now));
    }
    now
}

fn events(member: &mut Member<usize>) -> Vec<GroupEvent<usize>> {
    core::iter::from_fn(|| member.poll_event()).collect()
}

/// The clear message a member sent, decoded.
fn body_kind(member: &Member<usize>, datagram: &[u8]) -> Option<u8> {
    member.clear_view(datagram).get(3).copied()
}

const HELLO: u8 = 0x01;
const WELCOME: u8 = 0x02;
const PROOF: u8 = 0x0d;

/// A HELLO anyone can make: a member's public certificate with a key agreement of its own.
fn spoofed_hello(certificate: MembershipCertificate, id: u32) -> Vec<u8> {
    let secret = handshake::ephemeral_secret(&SigningKey::from_bytes(&[0x77; 32]), &[0; 32], u64::from(id));
    let body = Body::Hello {
        certificate,
        nonce: [id as u8; 16],
        ephemeral: handshake::ephemeral_public(&secret),
        clock: NOW,
    };
    Message { tag: root().tag(), id, body }.encode()
}

// ---- the database's byte bound ----

#[test]
fn max_group_db_bytes_binds_before_max_records_for_records_past_512_bytes() {
    // The byte bound binds for large records, and MAX_RECORDS empty records fit under it.
    const { assert!(MAX_GROUP_DB_BYTES < MAX_RECORDS * MAX_RECORD_WIRE_LEN) };
    const { assert!(MAX_RECORDS * RECORD_FIXED_LEN <= MAX_GROUP_DB_BYTES) };
    assert_eq!(MAX_GROUP_DB_BYTES / MAX_RECORDS, 512);
    assert_eq!(MAX_RECORD_WIRE_LEN, RECORD_FIXED_LEN + MAX_RECORD_SIZE);
}

#[test]
fn the_database_holds_max_group_db_bytes_and_refuses_a_record_one_byte_past_it() {
    let group = root().public_key();
    let author = credentials(&root(), 2, Role::Member);
    let mut db = RecordDb::new(&group).unwrap();
    // Records filling the bound exactly; all but the last stored.
    let records = records_filling(&author, 0, 0);
    let (last, rest) = records.split_last().unwrap();
    for record in rest {
        assert_eq!(db.apply(&record.view(), NOW), Ok(Applied::Stored(Some(Change::Added))));
    }
    let (len, bytes) = (db.len(), db.bytes());
    let one_past =
        Record::create(&author, &group, draft_of_len(last.view().encoded_len() + 1), 1 << 40, NOW).unwrap();
    assert_eq!(bytes + one_past.view().encoded_len(), MAX_GROUP_DB_BYTES + 1);
    assert_eq!(db.apply(&one_past.view(), NOW), Err(DbError::Full));
    assert_eq!((db.len(), db.bytes()), (len, bytes), "a refused record changes nothing");
    assert!(db.get(&one_past.id).is_none());
    // At the bound exactly, it fits.
    assert_eq!(db.apply(&last.view(), NOW), Ok(Applied::Stored(Some(Change::Added))));
    assert_eq!(db.bytes(), MAX_GROUP_DB_BYTES);
    // Full: not even the smallest record, nor an update that grows a record, enters.
    let smallest = Record::create(&author, &group, draft_of_len(RECORD_FIXED_LEN), 1 << 41, NOW).unwrap();
    assert_eq!(db.apply(&smallest.view(), NOW), Err(DbError::Full));
    let grown = last.revise(&author, &group, draft_of_len(last.view().encoded_len() + 1), NOW).unwrap();
    assert_eq!(db.apply(&grown.view(), NOW), Err(DbError::Full));
    assert_eq!(db.get(&last.id), Some(last), "the stored version stays");
    // An update that keeps or shrinks the size does; a tombstone frees its payload.
    let same = last.revise(&author, &group, draft_of_len(last.view().encoded_len()), NOW).unwrap();
    assert_eq!(db.apply(&same.view(), NOW), Ok(Applied::Stored(Some(Change::Updated))));
    assert_eq!(db.bytes(), MAX_GROUP_DB_BYTES);
    let gone = rest[0].tombstone(&author, &group, NOW.plus_seconds(1)).unwrap();
    assert_eq!(db.apply(&gone.view(), NOW), Ok(Applied::Stored(Some(Change::Deleted))));
    assert_eq!(db.bytes(), MAX_GROUP_DB_BYTES - MAX_RECORD_SIZE);
    assert_eq!(db.apply(&smallest.view(), NOW), Ok(Applied::Stored(Some(Change::Added))));
    // Expiry gives every byte back.
    db.expire(NOW.plus_seconds(7200));
    assert_eq!((db.len(), db.bytes()), (0, 0));
}

#[test]
fn a_full_database_refuses_a_local_add_and_a_flooded_record_and_keeps_what_it_holds() {
    // Connected to the creator, member 1 then restores records from its log (nothing floods
    // them) to 311 bytes short of the bound.
    let mut members = [member(2, true), member(3, false)];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert!(members[1].is_ready());
    let author = credentials(&root(), 5, Role::Member);
    for record in records_filling(&author, RECORD_FIXED_LEN, 0) {
        assert!(members[1].restore(&record, NOW).is_ok());
    }
    assert_eq!(members[1].database().bytes(), MAX_GROUP_DB_BYTES - RECORD_FIXED_LEN);
    events(&mut members[1]);
    // Its own add one byte past the bound is refused, with the database as it was.
    let len = members[1].database().len();
    let past = members[1].add_record(draft_of_len(RECORD_FIXED_LEN + 1), 1, NOW);
    assert_eq!(past, Err(GroupError::Database(DbError::Full)));
    assert_eq!(members[1].database().len(), len);
    assert!(members[1].poll_transmit(NOW).is_none(), "nothing flooded");
    // A record one byte past the bound flooded to it by the creator is refused and reported;
    // the connection stays.
    let flooded = members[0].add_record(draft_of_len(RECORD_FIXED_LEN + 1), 7, NOW).unwrap();
    settle(&mut members, NOW);
    assert!(members[1].database().get(&flooded.id).is_none());
    assert_eq!(
        events(&mut members[1]),
        vec![GroupEvent::RecordRefused { peer: 0, error: GroupError::Database(DbError::Full) }]
    );
    assert_eq!(members[1].database().bytes(), MAX_GROUP_DB_BYTES - RECORD_FIXED_LEN);
    assert_eq!(members[1].connected().count(), 1);
    // A record that takes it exactly to the bound is taken.
    let at = members[0].add_record(draft_of_len(RECORD_FIXED_LEN), 8, NOW).unwrap();
    settle(&mut members, NOW);
    assert!(members[1].database().get(&at.id).is_some());
    assert_eq!(members[1].database().bytes(), MAX_GROUP_DB_BYTES);
}

// ---- the clock ----

#[test]
fn a_welcome_from_a_non_member_does_not_move_our_clock() {
    // The impostor signs its WELCOME with its own key, but its certificate was not issued by the
    // group's root; its clock runs 60 s ahead of ours.
    let mut fake = credentials(&root(), 9, Role::Administrator).certificate;
    let other_root = GroupRoot::from_secret(&[8; 32]);
    fake.signature = other_root.invite(&fake.member, fake.role, fake.valid_from, fake.valid_until).signature;
    let impostor = Member::new(Credentials::new(&[9; 32], fake).unwrap(), true, 5).unwrap();
    let mut members = [member(3, false), impostor];
    members[0].connect(1, NOW);
    let (ahead, mut refused) = (NOW.plus_seconds(60), Vec::new());
    for _ in 0..4 {
        while let Some((_, bytes)) = members[0].poll_transmit(NOW) {
            let _ = members[1].handle_datagram(0, &bytes, ahead);
        }
        while let Some((_, bytes)) = members[1].poll_transmit(ahead) {
            refused.extend(members[0].handle_datagram(1, &bytes, NOW).err());
        }
    }
    assert_eq!(refused, vec![GroupError::NotMember(MembershipError::NotSignedByRoot)]);
    assert_eq!(members[0].connected().count(), 0);
    assert_eq!(members[0].clock(), PeerClock::default(), "the impostor's clock was not adopted");
    assert_eq!(members[0].peer_time(NOW), NOW);
}

// ---- connecting twice ----

#[test]
fn connecting_again_to_a_member_connected_or_being_connected_to_changes_nothing() {
    let mut members = [member(2, true), member(3, false)];
    for i in 0..3 {
        members[0].add_record(draft_of_len(400), i, NOW).unwrap();
    }
    members[1].connect(0, NOW);
    members[1].connect(0, NOW);
    let hellos: Vec<Vec<u8>> =
        core::iter::from_fn(|| members[1].poll_transmit(NOW)).map(|(_, b)| b).collect();
    assert_eq!(hellos.len(), 1, "one HELLO for a connection being made");
    assert_eq!(body_kind(&members[1], &hellos[0]), Some(HELLO));
    let mut welcomes = Vec::new();
    for hello in &hellos {
        members[0].handle_datagram(1, hello, NOW).unwrap();
    }
    while let Some((_, bytes)) = members[0].poll_transmit(NOW) {
        welcomes.push(bytes);
    }
    for welcome in &welcomes {
        members[1].handle_datagram(0, welcome, NOW).unwrap();
    }
    // Connected, its PROOF and first solicit queued: a synchronisation is under way.
    assert_eq!(members[1].connected().count(), 1);
    assert!(members[1].is_synchronising());
    events(&mut members[0]);
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert!(members[1].is_ready(), "the synchronisation was not stranded");
    assert_eq!(members[1].database().len(), 3);
    assert!(
        !events(&mut members[0]).contains(&GroupEvent::MemberDisconnected(1)),
        "the other side saw no reconnection"
    );
    assert_eq!(members[0].connected().count(), 1);
}

// ---- handshake messages that prove nothing ----

/// The datagrams `from` sends at `now`.
fn sent(member: &mut Member<usize>, now: PeerTime) -> Vec<(usize, Vec<u8>)> {
    core::iter::from_fn(|| member.poll_transmit(now)).collect()
}

#[test]
fn a_forged_welcome_or_proof_is_ignored_and_the_genuine_one_still_connects() {
    let mut members = [member(2, true), member(3, false)];
    members[1].connect(0, NOW);
    for (_, hello) in sent(&mut members[1], NOW) {
        members[0].handle_datagram(1, &hello, NOW).unwrap();
    }
    let welcome = sent(&mut members[0], NOW).pop().unwrap().1;
    assert_eq!(body_kind(&members[0], &welcome), Some(WELCOME));
    // The same WELCOME (same message ID) with a proof that does not verify: ignored.
    let mut forged = welcome.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert_eq!(members[1].handle_datagram(0, &forged, NOW), Err(GroupError::BadProof));
    assert!(events(&mut members[1]).is_empty(), "no disconnection");
    assert!(sent(&mut members[1], NOW).is_empty(), "no answer");
    members[1].handle_datagram(0, &welcome, NOW).unwrap();
    let proof =
        sent(&mut members[1], NOW).into_iter().find(|(_, b)| body_kind(&members[1], b) == Some(PROOF));
    let proof = proof.unwrap().1;
    let mut forged = proof.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert_eq!(members[0].handle_datagram(1, &forged, NOW), Err(GroupError::BadProof));
    assert!(events(&mut members[0]).is_empty(), "no disconnection");
    assert!(sent(&mut members[0], NOW).is_empty(), "no REFUSE, no acknowledgement");
    members[0].handle_datagram(1, &proof, NOW).unwrap();
    assert_eq!(
        events(&mut members[0]),
        vec![GroupEvent::MemberConnected { peer: 1, member: members[1].key() }]
    );
    settle_with_timers(&mut members, NOW);
    assert!(members[1].is_ready());
}

#[test]
fn a_hello_from_a_connected_members_address_ends_nothing_until_a_new_handshake_proves_itself() {
    let mut members = [member(2, true), member(3, false)];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    events(&mut members[0]);
    // Anyone can send a HELLO with member 1's public certificate from its address.
    let spoofed = spoofed_hello(members[1].certificate(), 0xdead);
    members[0].handle_datagram(1, &spoofed, NOW).unwrap();
    assert!(events(&mut members[0]).is_empty(), "the connection stays");
    let record = members[1].add_record(draft_of_len(400), 1, NOW).unwrap();
    settle(&mut members, NOW);
    assert!(members[0].database().get(&record.id).is_some(), "and carries records");
    events(&mut members[0]);
    // No PROOF comes: the answered HELLO is forgotten, the connection still stands.
    let later = NOW.plus_ticks(HANDSHAKE_TIMEOUT);
    members[0].handle_timeout(later);
    settle(&mut members, later);
    assert!(events(&mut members[0]).is_empty());
    assert_eq!(members[0].connected().count(), 1);
    // Member 1 restarts and connects from the same address: its proven handshake replaces the
    // old connection.
    members[1] = Member::new(credentials(&root(), 3, Role::Member), false, 99).unwrap();
    members[1].connect(0, later);
    settle(&mut members, later);
    let key = members[1].key();
    assert_eq!(
        events(&mut members[0]),
        vec![GroupEvent::MemberDisconnected(1), GroupEvent::MemberConnected { peer: 1, member: key }]
    );
    assert!(members[1].is_ready());
    assert!(members[1].database().get(&record.id).is_some());
}

#[test]
fn an_unverified_address_gets_one_welcome_per_hello_never_retransmitted_and_never_max_handshake_amplification_times_more()
 {
    let mut creator = member(2, true);
    let victim = 7;
    let hello = spoofed_hello(member(3, false).certificate(), 1);
    let (mut received, mut answered) = (0, 0);
    let mut now = NOW;
    // The spoofer repeats its HELLO (one retransmission interval apart) as a connecting member
    // would; the answers go to the victim, never more of them than HELLOs.
    for _ in 0..MAX_TRANSMISSIONS {
        creator.handle_datagram(victim, &hello, now).unwrap();
        received += hello.len();
        let answers = sent(&mut creator, now);
        assert_eq!(answers.len(), 1, "one answer per HELLO");
        assert_eq!(body_kind(&creator, &answers[0].1), Some(WELCOME));
        answered += answers[0].1.len();
        now = now.plus_ticks(RETRANSMIT_INTERVAL);
        creator.handle_timeout(now);
    }
    for _ in 0..MAX_TRANSMISSIONS * 2 {
        now = now.plus_ticks(RETRANSMIT_INTERVAL);
        creator.handle_timeout(now);
        assert!(sent(&mut creator, now).is_empty(), "no retransmission to an unverified address");
    }
    assert!(answered <= received * MAX_HANDSHAKE_AMPLIFICATION, "{answered} bytes for {received}");
    assert_eq!(creator.connected().count(), 0);
}

#[test]
fn a_member_answers_max_hellos_per_window_hellos_in_a_window_and_drops_one_past_it() {
    let mut creator = member(2, true);
    let certificate = member(3, false).certificate();
    let start = PeerTime(NOW.0 / HELLO_WINDOW * HELLO_WINDOW);
    for i in 0..MAX_HELLOS_PER_WINDOW {
        let from = 100 + i as usize;
        creator.handle_datagram(from, &spoofed_hello(certificate, i), start).unwrap();
        assert_eq!(sent(&mut creator, start).len(), 1, "HELLO {i} answered");
    }
    let past = spoofed_hello(certificate, MAX_HELLOS_PER_WINDOW);
    creator.handle_datagram(99, &past, start.plus_ticks(HELLO_WINDOW - 1)).unwrap();
    assert!(sent(&mut creator, start).is_empty(), "one past the bound: dropped unanswered");
    assert_eq!(creator.stats().hellos_dropped, 1);
    // The next window answers again.
    creator.handle_datagram(99, &past, start.plus_ticks(HELLO_WINDOW)).unwrap();
    assert_eq!(sent(&mut creator, start).len(), 1);
}

/// Member 1 sends its HELLO to member 0, then `spoofed` HELLOs from other addresses reach member
/// 0 before member 1's PROOF does. Whether member 1 is connected when the PROOF arrives.
fn connects_after_spoofed_hellos(spoofed: usize) -> bool {
    let mut members = [member(2, true), member(3, false)];
    members[1].connect(0, NOW);
    for (_, hello) in sent(&mut members[1], NOW) {
        members[0].handle_datagram(1, &hello, NOW).unwrap();
    }
    let welcome = sent(&mut members[0], NOW).pop().unwrap().1;
    let certificate = member(4, false).certificate();
    for i in 0..spoofed {
        let later = NOW.plus_ticks(1 + i as u64);
        members[0].handle_datagram(100 + i, &spoofed_hello(certificate, i as u32), later).unwrap();
    }
    members[1].handle_datagram(0, &welcome, NOW).unwrap();
    for (_, bytes) in sent(&mut members[1], NOW) {
        let _ = members[0].handle_datagram(1, &bytes, NOW);
    }
    members[0].connected().count() == 1
}

#[test]
fn max_half_open_handshakes_wait_for_their_proof_and_one_more_replaces_the_oldest() {
    assert!(connects_after_spoofed_hellos(MAX_HALF_OPEN - 1), "MAX_HALF_OPEN answered HELLOs are kept");
    assert!(!connects_after_spoofed_hellos(MAX_HALF_OPEN), "one more replaces the oldest");
}

#[test]
fn spoofed_hellos_hold_no_connection_slot() {
    use super::limits::MAX_CONNECTIONS;
    let mut members = [member(2, true), member(3, false)];
    let certificate = member(4, false).certificate();
    for i in 0..MAX_CONNECTIONS {
        members[0].handle_datagram(100 + i, &spoofed_hello(certificate, i as u32), NOW).unwrap();
    }
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), 1);
    assert!(members[1].is_ready());
}

// ---- synchronisation larger than a channel ----

#[test]
fn a_member_with_more_records_than_a_channel_queues_synchronises_an_empty_member_without_dropping_it() {
    let records = MAX_QUEUED + MAX_IN_FLIGHT + 64;
    let mut members = [member(2, true), member(3, true)];
    for i in 0..records as u64 {
        members[0].add_record(draft_of_len(RECORD_FIXED_LEN), i, NOW).unwrap();
    }
    // The larger side connects, so it drives the synchronisation and pushes every record.
    members[0].connect(1, NOW);
    settle_with_timers(&mut members, NOW);
    assert!(!events(&mut members[0]).contains(&GroupEvent::MemberDisconnected(1)), "not dropped");
    assert_eq!(members[0].connected().count(), 1);
    assert_eq!(members[1].database().len(), records);
}

// ---- records' times and certificates' expiry ----

#[test]
fn a_record_modified_up_to_max_clock_skew_ahead_is_taken_and_one_tick_later_refused() {
    let group = root().public_key();
    let author = credentials(&root(), 2, Role::Member);
    let mut db = RecordDb::new(&group).unwrap();
    let at = NOW.plus_ticks(MAX_CLOCK_SKEW);
    let create = |random, modified: PeerTime| {
        let draft = RecordDraft { expiration: modified.plus_seconds(3600), ..draft_of_len(RECORD_FIXED_LEN) };
        Record::create(&author, &group, draft, random, modified).unwrap()
    };
    let past = create(1, at.plus_ticks(1));
    assert_eq!(db.apply(&past.view(), NOW), Err(DbError::Record(RecordError::InvalidTimes)));
    assert!(db.is_empty());
    assert_eq!(db.apply(&create(2, at).view(), NOW), Ok(Applied::Stored(Some(Change::Added))));
}

#[test]
fn a_connected_member_is_disconnected_when_its_certificate_expires() {
    let until = NOW.plus_seconds(60);
    let short = Member::new(credentials_until(&root(), 3, Role::Member, until), false, 9).unwrap();
    let mut members = [member(2, true), short];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    events(&mut members[0]);
    assert!(members[0].next_timeout().is_some_and(|t| t <= until), "the expiry is a deadline");
    let before = PeerTime(until.0 - 1);
    members[0].handle_timeout(before);
    assert_eq!(members[0].connected().count(), 1, "valid until its last tick");
    members[0].handle_timeout(until);
    assert_eq!(events(&mut members[0]), vec![GroupEvent::MemberDisconnected(1)]);
    let told = sent(&mut members[0], until);
    assert_eq!(told.len(), 1, "it is told (DISCONNECT)");
    assert_eq!(body_kind(&members[0], &told[0].1), Some(0x04));
    // It cannot come back with that certificate.
    let _ = members[1].handle_datagram(0, &told[0].1, until);
    members[1].connect(0, until);
    settle(&mut members, until);
    assert_eq!(members[0].connected().count(), 0);
}

/// Member 1's PROOF reaches member 0 after member 0's timers ran at `proof_at`. Whether it
/// connects.
fn proof_arriving_at(proof_at: PeerTime) -> bool {
    let mut members = [member(2, true), member(3, false)];
    members[1].connect(0, NOW);
    for (_, hello) in sent(&mut members[1], NOW) {
        members[0].handle_datagram(1, &hello, NOW).unwrap();
    }
    for (_, welcome) in sent(&mut members[0], NOW) {
        members[1].handle_datagram(0, &welcome, NOW).unwrap();
    }
    members[0].handle_timeout(proof_at);
    for (_, bytes) in sent(&mut members[1], NOW) {
        let _ = members[0].handle_datagram(1, &bytes, proof_at);
    }
    members[0].connected().count() == 1
}

#[test]
fn an_answered_hello_waits_handshake_timeout_for_its_proof() {
    assert!(proof_arriving_at(NOW.plus_ticks(HANDSHAKE_TIMEOUT - 1)), "one tick before the timeout");
    assert!(!proof_arriving_at(NOW.plus_ticks(HANDSHAKE_TIMEOUT)), "at the timeout it is forgotten");
}

#[test]
fn a_lowered_byte_limit_refuses_growth_but_still_takes_what_shrinks_the_database() {
    let group = root().public_key();
    let author = credentials(&root(), 2, Role::Member);
    let mut db = RecordDb::new(&group).unwrap();
    assert_eq!(db.byte_limit(), MAX_GROUP_DB_BYTES, "the core's bound by default");
    db.set_byte_limit(usize::MAX);
    assert_eq!(db.byte_limit(), MAX_GROUP_DB_BYTES, "a host cannot raise it past the core's bound");
    let first = Record::create(&author, &group, draft_of_len(RECORD_FIXED_LEN + 100), 1, NOW).unwrap();
    let len = first.view().encoded_len();
    // A limit of exactly one record: it fits, a second does not.
    db.set_byte_limit(len);
    assert_eq!(db.apply(&first.view(), NOW), Ok(Applied::Stored(Some(Change::Added))));
    let second = Record::create(&author, &group, draft_of_len(RECORD_FIXED_LEN), 2, NOW).unwrap();
    assert_eq!(db.apply(&second.view(), NOW), Err(DbError::Full));
    // Lowered below what is stored: nothing is dropped, growth is refused, shrinking is taken.
    db.set_byte_limit(0);
    assert_eq!(db.bytes(), len);
    let grown = first.revise(&author, &group, draft_of_len(RECORD_FIXED_LEN + 101), NOW).unwrap();
    assert_eq!(db.apply(&grown.view(), NOW), Err(DbError::Full));
    let gone = first.tombstone(&author, &group, NOW.plus_seconds(1)).unwrap();
    assert_eq!(db.apply(&gone.view(), NOW), Ok(Applied::Stored(Some(Change::Deleted))));
    assert!(db.bytes() < len);
}
