//! Bounds of the grouping engine that `tests.rs` does not hold at their edge: the database's
//! record count, a member's connections, the size of a range listed rather than split, and the
//! solicits one synchronisation has outstanding, each at its limit and one past it.

use alloc::string::String;
use alloc::vec::Vec;

use super::database::{Applied, Change, DbError, RecordDb};
use super::limits::{
    LEAF_RECORDS, MAX_CONNECTIONS, MAX_RECORDS, MAX_SYNC_OUTSTANDING, MAX_TRANSMISSIONS, RANGE_FANOUT,
    RETRANSMIT_INTERVAL,
};
use super::member::{GroupEvent, Member};
use super::membership::Role;
use super::range::Range;
use super::record::{Record, RecordDraft};
use super::test_support::{NOW, credentials, root, settle};
use super::wire::{Body, Message};

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
        member.connect(0, NOW);
    }
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS);
    // One more is refused at the door, and the hub's connections stay as they were.
    let late = MAX_CONNECTIONS + 1;
    members[late].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS);
    assert_eq!(members[late].connected().count(), 0);
    assert!(!members[late].is_ready());
    // The hub connecting out past its bound sends nothing and reports the peer disconnected.
    while members[0].poll_event().is_some() {}
    members[0].connect(late, NOW);
    assert!(members[0].poll_transmit(NOW).is_none(), "a HELLO past the bound");
    assert_eq!(members[0].poll_event(), Some(GroupEvent::MemberDisconnected(late)));
    // A connection that ends frees its place for the one that was refused.
    members[0].disconnect(&1);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS - 1);
    members[late].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), MAX_CONNECTIONS);
    assert!(members[late].is_ready(), "the newcomer synchronised");
}

/// A creator whose root range has 16 children: child 0 holds exactly `LEAF_RECORDS` records and
/// each other child one more, spread over all 16 of its own children.
fn creator_with_ranges_around_leaf_records() -> (Member<usize>, usize) {
    let root = root();
    let mut creator = Member::new(credentials(&root, 2, Role::Administrator), true, 1).unwrap();
    let mut added = 0;
    for child in 0..RANGE_FANOUT as u64 {
        let count = if child == 0 { LEAF_RECORDS } else { LEAF_RECORDS + 1 } as u64;
        for i in 0..count {
            // The random half leads the sync key: its first nibble picks the child, the second
            // the grandchild.
            let random = child << 60 | (i % RANGE_FANOUT as u64) << 56 | i;
            creator.add_record(draft(&i.to_be_bytes()), random, NOW).unwrap();
            added += 1;
        }
    }
    (creator, added)
}

#[test]
fn ranges_of_leaf_records_are_listed_and_larger_ones_split_with_max_sync_outstanding_solicits_at_once() {
    let (creator, added) = creator_with_ranges_around_leaf_records();
    let joiner = Member::new(credentials(&root(), 40, Role::Member), false, 2).unwrap();
    let mut members = [creator, joiner];
    members[1].connect(0, NOW);
    // Deliver everything except the creator's ADVERTISE answers, which are held back: the
    // joiner's synchronisation then waits on every SOLICIT_ABSTRACTS it sends.
    let mut held = Vec::new();
    let mut hashes_asked = Vec::new();
    let mut abstracts_asked = alloc::collections::BTreeSet::new();
    loop {
        let mut moved = false;
        while let Some((to, bytes)) = members[1].poll_transmit(NOW) {
            let clear = members[1].clear_view(&bytes);
            match Message::decode(&clear).map(|m| m.body) {
                Ok(Body::SolicitHash(range)) => hashes_asked.push(range),
                Ok(Body::SolicitAbstracts(range)) => {
                    abstracts_asked.insert(range);
                }
                _ => {}
            }
            let _ = members[to].handle_datagram(1, &bytes, NOW);
            moved = true;
        }
        while let Some((to, bytes)) = members[0].poll_transmit(NOW) {
            let clear = members[0].clear_view(&bytes);
            if matches!(Message::decode(&clear).map(|m| m.body), Ok(Body::Advertise { .. })) {
                held.push(bytes);
            } else {
                let _ = members[to].handle_datagram(0, &bytes, NOW);
            }
            moved = true;
        }
        if !moved {
            break;
        }
    }
    // LEAF_RECORDS records in child 0: listed; LEAF_RECORDS + 1 in the others: split.
    let child = |digit| Range::ROOT.child(digit).unwrap();
    assert!(abstracts_asked.contains(&child(0)), "a range of LEAF_RECORDS records is listed");
    assert!(!hashes_asked.contains(&child(0)));
    for digit in 1..RANGE_FANOUT as u8 {
        assert!(hashes_asked.contains(&child(digit)), "a range of LEAF_RECORDS + 1 records is split");
        assert!(!abstracts_asked.contains(&child(digit)));
    }
    // 1 + 15 × 16 ranges are to be listed; MAX_SYNC_OUTSTANDING of them are asked for at once.
    assert_eq!(abstracts_asked.len(), MAX_SYNC_OUTSTANDING);
    assert!(!members[1].is_ready());
    // Released, the held answers complete the synchronisation: those held past the replay
    // window are refused as too old, and their retransmissions (sealed anew) make up for them.
    for bytes in held {
        let _ = members[1].handle_datagram(0, &bytes, NOW);
    }
    let mut now = NOW;
    for _ in 0..MAX_TRANSMISSIONS {
        settle(&mut members, now);
        if members[1].is_ready() {
            break;
        }
        now = now.plus_ticks(RETRANSMIT_INTERVAL);
    }
    assert!(members[1].is_ready());
    assert_eq!(members[1].database().len(), added);
}
