//! Bounds of the grouping engine that `tests.rs` does not hold at their edge: the database's
//! record count and a member's connections, each at its limit and one past it.

use alloc::string::String;
use alloc::vec::Vec;

use ed25519_dalek::SigningKey;

use super::database::{Applied, Change, DbError, RecordDb};
use super::limits::{MAX_CONNECTIONS, MAX_RECORDS};
use super::member::{GroupEvent, Member};
use super::membership::{Credentials, GroupRoot, Role};
use super::record::{Record, RecordDraft};
use super::time::PeerTime;

const NOW: PeerTime = PeerTime(133_000_000_000_000_000);

fn root() -> GroupRoot {
    GroupRoot::from_secret(&[1; 32])
}

fn credentials(root: &GroupRoot, secret: u8, role: Role) -> Credentials {
    let key = SigningKey::from_bytes(&[secret; 32]).verifying_key().to_bytes();
    let certificate = root.invite(&key, role, PeerTime(NOW.0 - 1), NOW.plus_seconds(86_400));
    Credentials::new(&[secret; 32], certificate).unwrap()
}

fn draft(data: &[u8]) -> RecordDraft {
    RecordDraft {
        record_type: [0x22; 16],
        attributes: String::new(),
        data: data.to_vec(),
        expiration: NOW.plus_seconds(3600),
        flags: 0,
    }
}

#[test]
fn the_database_holds_max_records_and_refuses_a_new_one_past_it() {
    let root = root();
    let group = root.public_key();
    let author = credentials(&root, 2, Role::Member);
    let mut store = RecordDb::new(&group).unwrap();
    let mut first = None;
    for i in 0..MAX_RECORDS as u64 {
        let record = Record::create(&author, &group, draft(b""), i, NOW).unwrap();
        assert_eq!(store.apply(&record.view(), NOW), Ok(Applied::Stored(Some(Change::Added))), "record {i}");
        first.get_or_insert(record);
    }
    assert_eq!(store.len(), MAX_RECORDS);
    let one_more = Record::create(&author, &group, draft(b""), MAX_RECORDS as u64, NOW).unwrap();
    assert_eq!(store.apply(&one_more.view(), NOW), Err(DbError::Full));
    assert_eq!(store.len(), MAX_RECORDS);
    // A full database still takes newer versions of what it holds (a delete included), and an
    // expired record's place is free again.
    let first = first.unwrap();
    let gone = first.tombstone(&author, &group, NOW.plus_seconds(1)).unwrap();
    assert_eq!(store.apply(&gone.view(), NOW), Ok(Applied::Stored(Some(Change::Deleted))));
    assert_eq!(store.apply(&one_more.view(), NOW), Err(DbError::Full), "a tombstone keeps its place");
    let later = NOW.plus_seconds(3600);
    assert_eq!(store.expire(later).len(), MAX_RECORDS - 1, "the live records expire");
    let fresh = Record::create(
        &author,
        &group,
        RecordDraft { expiration: later.plus_seconds(60), ..draft(b"") },
        0,
        later,
    )
    .unwrap();
    assert_eq!(store.apply(&fresh.view(), later), Ok(Applied::Stored(Some(Change::Added))));
}

/// Delivers every datagram among `members` (addressed by index) until nothing moves.
fn settle(members: &mut [Member<usize>], now: PeerTime) {
    for _ in 0..10_000 {
        let mut moved = false;
        for from in 0..members.len() {
            while let Some((to, bytes)) = members[from].poll_transmit(now) {
                let _ = members[to].handle_datagram(from, &bytes, now);
                moved = true;
            }
        }
        if !moved {
            return;
        }
    }
    panic!("the members did not settle");
}

#[test]
fn a_member_holds_max_connections_and_refuses_one_past_it_both_ways() {
    let root = root();
    let hub = Member::new(credentials(&root, 2, Role::Administrator), true, 1).unwrap();
    let mut members: Vec<Member<usize>> = core::iter::once(hub)
        .chain((0..=MAX_CONNECTIONS).map(|i| {
            Member::new(credentials(&root, 3 + i as u8, Role::Member), false, 100 + i as u32).unwrap()
        }))
        .collect();
    // MAX_CONNECTIONS members connect to the hub: all are taken.
    for member in &mut members[1..=MAX_CONNECTIONS] {
        member.connect(0);
    }
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS);
    // One more is refused at the door, and the hub's connections stay as they were.
    let late = MAX_CONNECTIONS + 1;
    members[late].connect(0);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS);
    assert_eq!(members[late].connected().count(), 0);
    assert!(!members[late].is_ready());
    // The hub connecting out past its bound sends nothing and reports the peer disconnected.
    while members[0].poll_event().is_some() {}
    members[0].connect(late);
    assert!(members[0].poll_transmit(NOW).is_none(), "a HELLO past the bound");
    assert_eq!(members[0].poll_event(), Some(GroupEvent::MemberDisconnected(late)));
    // A connection that ends frees its place for the one that was refused.
    members[0].disconnect(&1);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS - 1);
    members[late].connect(0);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS);
    assert!(members[late].is_ready(), "the newcomer synchronised");
}
