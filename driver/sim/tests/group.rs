//! Peer Grouping among five simulated members: replication, catch-up by difference, refusal of
//! unauthorised and forged records, expiry, and survival of datagram loss.

use peerdrt_core::group::database::Change;
use peerdrt_core::group::database::DbError;
use peerdrt_core::group::id::{GroupTag, RecordId};
use peerdrt_core::group::member::{GroupError, GroupEvent};
use peerdrt_core::group::membership::{GroupRoot, Role};
use peerdrt_core::group::record::{Record, RecordError};
use peerdrt_core::group::wire::{Body, Message};
use peerdrt_sim::group::{GroupNetwork, GroupSim, credentials, draft};

const MEMBERS: usize = 5;

fn group(seed: u64, network: GroupNetwork) -> GroupSim {
    let mut sim = GroupSim::new(MEMBERS, seed, network);
    sim.connect_all();
    for i in 0..MEMBERS {
        assert!(sim.member(i).is_ready(), "member {i} synchronised on joining");
        assert_eq!(sim.member(i).connected().count(), MEMBERS - 1, "member {i} is connected to all others");
    }
    sim
}

/// Every member holds exactly the same records (tombstones included) as member 0.
fn assert_converged(sim: &GroupSim) {
    let reference: Vec<&Record> = sim.member(0).database().all().collect();
    for i in 1..sim.len() {
        let mine: Vec<&Record> = sim.member(i).database().all().collect();
        assert_eq!(mine, reference, "member {i} holds what member 0 holds");
    }
}

/// A FLOOD of `record` with message ID `id` (distinct per injected message, so none is taken
/// for a retransmission).
fn flood(sim: &GroupSim, id: u32, record: &Record) -> Vec<u8> {
    Message { tag: sim.member(0).tag(), id, body: Body::Flood(record.view()) }.encode()
}

#[test]
fn a_record_added_on_one_member_appears_on_all_and_updates_and_deletes_follow() {
    let mut sim = group(1, GroupNetwork::default());
    let record = sim.add(3, b"hello group", 3600).unwrap();
    sim.settle();
    for i in 0..MEMBERS {
        assert_eq!(sim.member(i).record(&record.id).unwrap().data, b"hello group", "member {i}");
        assert!(sim.events(i).iter().any(|e| matches!(
            e,
            GroupEvent::RecordChanged { change: Change::Added, id, .. } if *id == record.id
        )));
    }

    let updated = sim.update(3, &record.id, b"hello again").unwrap();
    assert_eq!(updated.version, 2);
    sim.settle();
    for i in 0..MEMBERS {
        let seen = sim.member(i).record(&record.id).unwrap();
        assert_eq!((seen.version, seen.data.as_slice()), (2, &b"hello again"[..]), "member {i}");
    }

    // The creator's administrator deletes it: a tombstone replaces it everywhere.
    sim.delete(0, &record.id).unwrap();
    sim.settle();
    for i in 0..MEMBERS {
        assert_eq!(sim.member(i).record(&record.id), Err(GroupError::NotFound), "member {i}");
        assert!(sim.member(i).database().get(&record.id).unwrap().is_deleted());
        assert!(sim.events(i).iter().any(|e| matches!(
            e,
            GroupEvent::RecordChanged { change: Change::Deleted, id, .. } if *id == record.id
        )));
    }
    assert_converged(&sim);
}

#[test]
fn a_member_offline_during_changes_catches_up_with_only_the_difference() {
    let mut sim = group(2, GroupNetwork::default());
    let mut ids = Vec::new();
    for n in 0..200u32 {
        ids.push(sim.add(n as usize % 4, &n.to_be_bytes().repeat(32), 7200).unwrap().id);
    }
    sim.settle();
    assert_converged(&sim);
    let full_transfer_bytes: usize = sim.member(0).database().all().map(|r| r.view().encoded_len()).sum();

    sim.go_offline(4);
    let mut changed = 0u64;
    for n in 0..10u32 {
        ids.push(sim.add(n as usize % 4, b"while 4 was away", 7200).unwrap().id);
        changed += 1;
    }
    for (k, id) in ids[..5].iter().enumerate() {
        sim.update(k % 4, id, b"updated while away").unwrap();
        changed += 1;
    }
    for (k, id) in ids[5..8].iter().enumerate() {
        sim.delete((5 + k) % 4, id).unwrap();
        changed += 1;
    }
    sim.settle();

    let before = sim.received(4);
    sim.go_online(4);
    sim.settle();
    let moved = {
        let after = sim.received(4);
        (after.records - before.records, after.bytes - before.bytes)
    };
    assert_converged(&sim);
    eprintln!(
        "catch-up: {} records / {} bytes moved to the returning member for {} changes; a full transfer is {} records / {} bytes",
        moved.0,
        moved.1,
        changed,
        sim.member(0).database().len(),
        full_transfer_bytes
    );
    assert_eq!(moved.0, changed, "exactly the changed records moved, once each");
    assert!(moved.1 * 4 < full_transfer_bytes as u64, "catch-up bytes are a fraction of a full transfer");
}

#[test]
fn unauthorised_and_forged_records_are_refused_by_every_member() {
    let mut sim = group(3, GroupNetwork::default());
    let record = sim.add(1, b"member 1's record", 3600).unwrap();
    sim.settle();
    let group_root = sim.root().public_key();

    // Through the API: a plain member may not change another member's record.
    assert_eq!(sim.update(2, &record.id, b"hijack"), Err(GroupError::Record(RecordError::NotAuthorized)));

    // On the wire: a successor presented under member 2's (member-role) certificate.
    let mallory = credentials(sim.root(), 2, Role::Member);
    let member_1 = credentials(sim.root(), 1, Role::Member);
    let mut unauthorised =
        record.revise(&member_1, &group_root, draft(b"hijacked", record.expiration), sim.now()).unwrap();
    unauthorised.certificate = mallory.certificate;
    // An altered payload under the original signature.
    let mut altered = record.clone();
    altered.version = 9;
    altered.data = b"altered".to_vec();
    // A record from outside the group, claiming the group root.
    let outsider_root = GroupRoot::from_secret(&[0x77; 32]);
    let mut outsider = credentials(&outsider_root, 9, Role::Administrator);
    outsider.certificate.group_root = group_root;
    let foreign =
        Record::create(&outsider, &group_root, draft(b"spam", record.expiration), 5, sim.now()).unwrap();

    for (n, bad) in [&unauthorised, &altered, &foreign].into_iter().enumerate() {
        for to in 0..MEMBERS {
            let from = if to == 2 { 3 } else { 2 };
            // Sent by a member over its own sealed connection, as a dishonest member would.
            let bytes = flood(&sim, 0xdead_0000 + n as u32, bad);
            sim.inject_sealed(from, to, &bytes);
        }
    }
    sim.settle();
    for i in 0..MEMBERS {
        assert_eq!(sim.member(i).record(&record.id).unwrap(), &record, "member {i} kept the genuine record");
        assert!(sim.member(i).record(&foreign.id).is_err(), "member {i} never took the outsider's record");
    }
    let refused = |error: RecordError| {
        sim.refusals().iter().filter(|e| **e == GroupError::Database(DbError::Record(error))).count()
    };
    assert_eq!(refused(RecordError::NotAuthorized), MEMBERS);
    assert_eq!(refused(RecordError::BadSignature), MEMBERS);
    assert_eq!(
        sim.refusals()
            .iter()
            .filter(|e| matches!(e, GroupError::Database(DbError::Record(RecordError::NotMember(_)))))
            .count(),
        MEMBERS
    );

    // An outsider cannot even connect: its HELLO is refused.
    let hello = Message {
        tag: GroupTag::of_root(&group_root),
        id: 1,
        body: Body::Hello {
            certificate: outsider.certificate,
            nonce: [1; 16],
            ephemeral: [9; 32],
            clock: sim.now(),
        },
    }
    .encode();
    sim.inject(4, 0, hello);
    sim.settle();
    assert!(sim.refusals().iter().any(|e| matches!(e, GroupError::NotMember(_))));
}

#[test]
fn expired_records_disappear_from_every_member() {
    let mut sim = group(4, GroupNetwork::default());
    let short = sim.add(2, b"short-lived", 60).unwrap();
    let long = sim.add(3, b"long-lived", 3600).unwrap();
    let deleted = sim.add(1, b"deleted", 120).unwrap();
    sim.settle();
    sim.delete(1, &deleted.id).unwrap();
    sim.settle();
    sim.advance(61);
    for i in 0..MEMBERS {
        assert!(sim.member(i).database().get(&short.id).is_none(), "member {i} dropped the expired record");
        assert!(sim.member(i).record(&long.id).is_ok());
        assert!(sim.events(i).iter().any(|e| matches!(
            e,
            GroupEvent::RecordChanged { change: Change::Expired, id, .. } if *id == short.id
        )));
        assert!(sim.member(i).database().get(&deleted.id).is_some(), "the tombstone is kept until expiry");
    }
    sim.advance(60);
    for i in 0..MEMBERS {
        assert!(
            sim.member(i).database().get(&deleted.id).is_none(),
            "member {i} dropped the expired tombstone"
        );
    }
    assert_converged(&sim);
}

#[test]
fn replication_survives_datagram_loss_through_retransmission() {
    let mut sim = group(5, GroupNetwork { latency_ms: (5, 40), loss: 0.2 });
    let mut ids: Vec<RecordId> = Vec::new();
    for n in 0..40u32 {
        ids.push(sim.add(n as usize % MEMBERS, &n.to_be_bytes(), 3600).unwrap().id);
    }
    for (k, id) in ids[..10].iter().enumerate() {
        sim.update(k % MEMBERS, id, b"v2").unwrap();
    }
    sim.settle();
    assert_converged(&sim);
    for i in 0..MEMBERS {
        assert_eq!(sim.member(i).database().live().count(), 40);
    }
    let retransmissions: u64 = (0..MEMBERS).map(|i| sim.member(i).stats().retransmissions).sum();
    eprintln!("20% loss: {retransmissions} retransmissions");
    assert!(retransmissions > 0, "with 20% loss some messages needed retransmission");
}
