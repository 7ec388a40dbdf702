//! Records, the database, the codec and members together, as specifications of behaviour.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use ed25519_dalek::SigningKey;

use super::attributes::AttributeError;
use super::database::{Applied, Change, DbError, RecordDb};
use super::id::{GroupTag, RecordId};
use super::limits::*;
use super::member::{GroupError, GroupEvent, Member};
use super::membership::{Credentials, GroupRoot, MembershipError, Role};
use super::range::{Range, RangeDigest};
use super::record::{MAX_RECORD_WIRE_LEN, Record, RecordDraft, RecordError, RecordView};
use super::test_support::{NOW, credentials, root, settle};
use super::wire::{Abstract, Abstracts, Body, DecodeError, Ids, Message, Records};

const CHAT: [u8; 16] = [0x11; 16];

fn draft(data: &[u8]) -> RecordDraft {
    RecordDraft {
        record_type: CHAT,
        attributes: String::from(
            r#"<attributes><attribute name="room" type="string">lobby</attribute></attributes>"#,
        ),
        data: data.to_vec(),
        expiration: NOW.plus_seconds(3600),
        flags: 0,
    }
}

fn db(root: &GroupRoot) -> RecordDb {
    RecordDb::new(&root.public_key()).unwrap()
}

#[test]
fn a_record_signed_by_a_member_verifies_and_survives_its_encoding() {
    let root = root();
    let alice = credentials(&root, 2, Role::Member);
    let record = Record::create(&alice, &root.public_key(), draft(b"hello"), 42, NOW).unwrap();
    assert_eq!((record.version, record.creation, record.modified), (1, NOW, NOW));
    assert!(record.id.is_bound_to(&alice.member()));
    let mut bytes = Vec::new();
    record.encode(&mut bytes);
    let (view, rest) = RecordView::decode(&bytes).unwrap();
    assert!(rest.is_empty());
    assert_eq!(view.to_record(), record);
    assert_eq!(view.verify(db(&root).root()), Ok(()));
}

#[test]
fn forged_altered_and_foreign_records_are_refused_with_their_reason() {
    let root = root();
    let alice = credentials(&root, 2, Role::Member);
    let record = Record::create(&alice, &root.public_key(), draft(b"hello"), 42, NOW).unwrap();
    let mut store = db(&root);

    let mut altered = record.clone();
    altered.data = b"HELLO".to_vec();
    assert_eq!(store.apply(&altered.view(), NOW), Err(DbError::Record(RecordError::BadSignature)));

    let stranger_root = GroupRoot::from_secret(&[9; 32]);
    let mallory = credentials(&stranger_root, 3, Role::Administrator);
    let foreign = Record::create(&mallory, &root.public_key(), draft(b"x"), 1, NOW).unwrap();
    assert_eq!(
        store.apply(&foreign.view(), NOW),
        Err(DbError::Record(RecordError::NotMember(MembershipError::OtherGroup)))
    );

    let mut stolen_id = Record::create(&alice, &root.public_key(), draft(b"x"), 1, NOW).unwrap();
    stolen_id.id = RecordId::for_creator(&[5; 32], 1);
    assert_eq!(store.apply(&stolen_id.view(), NOW), Err(DbError::Record(RecordError::IdNotBoundToCreator)));
    assert!(store.is_empty(), "nothing refused entered the database");
}

#[test]
fn only_the_creator_or_an_administrator_may_change_a_record() {
    let root = root();
    let group = root.public_key();
    let alice = credentials(&root, 2, Role::Member);
    let bob = credentials(&root, 3, Role::Member);
    let admin = credentials(&root, 4, Role::Administrator);
    let record = Record::create(&alice, &group, draft(b"v1"), 7, NOW).unwrap();
    assert_eq!(
        record.revise(&bob, &group, draft(b"bob"), NOW.plus_seconds(1)),
        Err(RecordError::NotAuthorized)
    );
    assert_eq!(record.tombstone(&bob, &group, NOW.plus_seconds(1)), Err(RecordError::NotAuthorized));

    // Bob signs a successor anyway by hand: every member refuses it.
    let mut forged = record.revise(&alice, &group, draft(b"bob"), NOW.plus_seconds(1)).unwrap();
    forged.certificate = bob.certificate;
    assert_eq!(forged.view().verify(db(&root).root()), Err(RecordError::NotAuthorized));

    let by_admin = record.revise(&admin, &group, draft(b"admin"), NOW.plus_seconds(1)).unwrap();
    assert_eq!(by_admin.view().verify(db(&root).root()), Ok(()));
    assert_eq!(by_admin.version, 2);
}

#[test]
fn drafts_are_checked_against_the_size_limit_and_the_schema() {
    let root = root();
    let alice = credentials(&root, 2, Role::Member);
    let mut at_limit = draft(&[]);
    at_limit.data = vec![0; MAX_RECORD_SIZE - at_limit.attributes.len()];
    let record = Record::create(&alice, &root.public_key(), at_limit.clone(), 1, NOW).unwrap();
    assert_eq!(record.view().encoded_len(), MAX_RECORD_WIRE_LEN);
    at_limit.data.push(0);
    assert_eq!(Record::create(&alice, &root.public_key(), at_limit, 1, NOW), Err(RecordError::TooLarge));

    let mut bad = draft(b"x");
    bad.attributes =
        String::from(r#"<attributes><attribute name="a-b" type="string">x</attribute></attributes>"#);
    assert_eq!(
        Record::create(&alice, &root.public_key(), bad, 1, NOW),
        Err(RecordError::InvalidAttributes(AttributeError::InvalidName))
    );
    let mut past = draft(b"x");
    past.expiration = NOW;
    assert_eq!(Record::create(&alice, &root.public_key(), past, 1, NOW), Err(RecordError::InvalidTimes));
}

#[test]
fn the_database_keeps_the_newest_version_and_tombstones_until_expiry() {
    let root = root();
    let group = root.public_key();
    let alice = credentials(&root, 2, Role::Member);
    let v1 = Record::create(&alice, &group, draft(b"v1"), 7, NOW).unwrap();
    let v2 = v1.revise(&alice, &group, draft(b"v2"), NOW.plus_seconds(1)).unwrap();
    let gone = v2.tombstone(&alice, &group, NOW.plus_seconds(2)).unwrap();
    let mut store = db(&root);

    assert_eq!(store.apply(&v2.view(), NOW), Ok(Applied::Stored(Some(Change::Added))));
    assert_eq!(store.apply(&v1.view(), NOW), Ok(Applied::NotNewer), "an older version never wins");
    assert_eq!(store.apply(&v2.view(), NOW), Ok(Applied::NotNewer));
    assert_eq!(store.apply(&gone.view(), NOW), Ok(Applied::Stored(Some(Change::Deleted))));
    assert_eq!(store.apply(&v2.view(), NOW), Ok(Applied::NotNewer), "a delete is not undone by an old copy");
    assert!(store.get_live(&v1.id).is_none());
    assert!(store.get(&v1.id).unwrap().is_deleted());

    assert!(store.expire(NOW.plus_seconds(3599)).is_empty());
    assert!(store.expire(NOW.plus_seconds(3600)).is_empty(), "a tombstone expires silently");
    assert!(store.is_empty());
    assert_eq!(store.apply(&v1.view(), NOW.plus_seconds(3600)), Err(DbError::Expired));
}

#[test]
fn an_update_that_extends_the_expiration_moves_the_expiry() {
    let root = root();
    let group = root.public_key();
    let alice = credentials(&root, 2, Role::Member);
    let v1 = Record::create(&alice, &group, draft(b"v1"), 7, NOW).unwrap();
    let mut later = draft(b"v2");
    later.expiration = NOW.plus_seconds(7200);
    let v2 = v1.revise(&alice, &group, later, NOW.plus_seconds(1)).unwrap();
    let mut store = db(&root);
    store.apply(&v1.view(), NOW).unwrap();
    store.apply(&v2.view(), NOW).unwrap();
    assert_eq!(store.next_expiration(), Some(NOW.plus_seconds(7200)));
    assert!(store.expire(NOW.plus_seconds(3600)).is_empty(), "the old expiration no longer applies");
    assert_eq!(store.expire(NOW.plus_seconds(7200)), vec![(v1.id, CHAT)]);
    assert_eq!(store.next_expiration(), None);
}

#[test]
fn range_digests_differ_exactly_where_records_differ() {
    let root = root();
    let alice = credentials(&root, 2, Role::Member);
    let mut a = db(&root);
    let mut b = db(&root);
    for i in 0..40u64 {
        let r = Record::create(&alice, &root.public_key(), draft(b"x"), i * 0x0400_0000_0000_0000 + 5, NOW)
            .unwrap();
        a.apply(&r.view(), NOW).unwrap();
        b.apply(&r.view(), NOW).unwrap();
    }
    assert_eq!(a.child_digests(&Range::ROOT), b.child_digests(&Range::ROOT));
    let extra = Record::create(&alice, &root.public_key(), draft(b"y"), 0x0123, NOW).unwrap();
    a.apply(&extra.view(), NOW).unwrap();
    // The creator-bound half of the ID fixes the first digits: descend to where they diverge.
    let mut range = Range::ROOT;
    loop {
        let (da, db) = (a.child_digests(&range), b.child_digests(&range));
        let differing: Vec<usize> = (0..RANGE_FANOUT).filter(|&i| da[i] != db[i]).collect();
        assert_eq!(differing.len(), 1, "exactly one child differs at depth {}", range.depth());
        let digit = differing[0] as u8;
        assert_eq!(digit, range.child_digit(&extra.id));
        if db[usize::from(digit)] == RangeDigest::EMPTY {
            break;
        }
        range = range.child(digit).unwrap();
    }
}

#[test]
fn every_message_survives_encode_and_decode() {
    let root = root();
    let alice = credentials(&root, 2, Role::Member);
    let record = Record::create(&alice, &root.public_key(), draft(b"hello"), 42, NOW).unwrap();
    let tag = GroupTag::of_root(&root.public_key());
    let abstracts = Abstracts::encode(&[Abstract { id: record.id, version: 1, modified: NOW }]);
    let ids = Ids::encode(&[record.id, RecordId([3; 16])]);
    let mut encoded_records = Vec::new();
    record.encode(&mut encoded_records);
    record.encode(&mut encoded_records);
    let child = Range::ROOT.child(3).unwrap();
    let bodies = [
        Body::Hello { certificate: alice.certificate, nonce: [6; 16], ephemeral: [10; 32], clock: NOW },
        Body::Welcome {
            certificate: alice.certificate,
            nonce: [7; 16],
            ephemeral: [11; 32],
            clock: NOW,
            proof: [8; 64],
        },
        Body::Refuse(super::wire::RefuseReason::ClockSkew),
        Body::Proof([9; 64]),
        Body::Refuse(super::wire::RefuseReason::Full),
        Body::Disconnect,
        Body::Ack(77),
        Body::SolicitHash(child),
        Body::Hashes { range: child, children: [RangeDigest { hash: [5; 16], count: 9 }; RANGE_FANOUT] },
        Body::SolicitAbstracts(child),
        Body::Advertise { range: child, abstracts: Abstracts::from_encoded(&abstracts).unwrap() },
        Body::Request(Ids::from_encoded(&ids).unwrap()),
        Body::Flood(record.view()),
        Body::Records {
            records: Records::from_encoded(&encoded_records).unwrap(),
            gone: Ids::from_encoded(&ids).unwrap(),
        },
        Body::Refuse(super::wire::RefuseReason::AuthenticationFailed),
        Body::Refuse(super::wire::RefuseReason::NoPasswordAuthentication),
        Body::PasswordHello { member: alice.member(), nonce: [1; 16] },
        Body::PasswordChallenge { nonce: [1; 16], challenge: [2; 16] },
        Body::PasswordProof(super::password::PasswordProof {
            member: alice.member(),
            nonce: [1; 16],
            challenge: [2; 16],
            password_signature: [3; 64],
            member_signature: [4; 64],
        }),
        Body::PasswordGrant(alice.certificate),
    ];
    for body in bodies {
        let message = Message { tag, id: 5, body };
        let bytes = message.encode();
        assert_eq!(Message::decode(&bytes), Ok(message.clone()));
        for cut in 0..bytes.len() {
            assert!(Message::decode(&bytes[..cut]).is_err(), "a truncated {:?} is refused", message.body);
        }
    }
}

#[test]
fn decode_limits_hold_at_their_edges() {
    let tag = GroupTag([0; 8]);
    let ids: Vec<RecordId> = (0..=MAX_REQUEST_IDS as u8).map(|i| RecordId([i; 16])).collect();
    let at = Ids::encode(&ids[..MAX_REQUEST_IDS]);
    let request = Message { tag, id: 1, body: Body::Request(Ids::from_encoded(&at).unwrap()) }.encode();
    assert!(Message::decode(&request).is_ok());
    assert!(Ids::from_encoded(&Ids::encode(&ids)).is_none());
    let mut past = request.clone();
    past[16..18].copy_from_slice(&((MAX_REQUEST_IDS + 1) as u16).to_be_bytes());
    past.extend_from_slice(&[0; 16]);
    assert_eq!(Message::decode(&past), Err(DecodeError::TooMany));

    let items = vec![Abstract { id: RecordId([1; 16]), version: 1, modified: NOW }; MAX_ABSTRACTS + 1];
    assert!(Abstracts::from_encoded(&Abstracts::encode(&items[..MAX_ABSTRACTS])).is_some());
    assert!(Abstracts::from_encoded(&Abstracts::encode(&items)).is_none());

    let mut long = vec![0u8; MAX_MESSAGE_LEN + 1];
    long[..3].copy_from_slice(b"PG\x02");
    assert_eq!(Message::decode(&long), Err(DecodeError::TooLong));
    long.truncate(MAX_MESSAGE_LEN);
    assert_ne!(Message::decode(&long), Err(DecodeError::TooLong));

    let mut deep = Message { tag, id: 1, body: Body::SolicitHash(Range::ROOT) }.encode();
    deep[16] = MAX_RANGE_DEPTH + 1;
    assert_eq!(Message::decode(&deep), Err(DecodeError::InvalidField));
}

fn events(member: &mut Member<usize>) -> Vec<GroupEvent<usize>> {
    core::iter::from_fn(|| member.poll_event()).collect()
}

#[test]
fn a_joiner_is_not_ready_until_synchronised_then_has_every_record() {
    let root = root();
    let mut creator = Member::new(credentials(&root, 2, Role::Administrator), true, 1000).unwrap();
    let mut ids = Vec::new();
    for i in 0..100u64 {
        ids.push(
            creator
                .add_record(draft(&i.to_be_bytes()), i.wrapping_mul(0x9e37_79b9_7f4a_7c15), NOW)
                .unwrap()
                .id,
        );
    }
    let joiner = Member::new(credentials(&root, 3, Role::Member), false, 2000).unwrap();
    let mut members = [creator, joiner];
    assert_eq!(members[1].add_record(draft(b"early"), 1, NOW), Err(GroupError::NotReady));
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert!(members[1].is_ready());
    assert!(events(&mut members[1]).contains(&GroupEvent::Synchronised));
    for id in &ids {
        assert_eq!(members[1].record(id).unwrap(), members[0].record(id).unwrap());
    }
    assert_eq!(members[1].database().len(), 100);
}

#[test]
fn a_non_member_is_refused_at_the_door() {
    let root = root();
    let stranger_root = GroupRoot::from_secret(&[8; 32]);
    let mut creator = Member::new(credentials(&root, 2, Role::Administrator), true, 1).unwrap();
    let mut outsider_creds = credentials(&stranger_root, 3, Role::Member);
    outsider_creds.certificate.group_root = root.public_key();
    let outsider = Member::new(outsider_creds, false, 2).unwrap();
    creator.add_record(draft(b"secret"), 1, NOW).unwrap();
    let mut members = [creator, outsider];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert!(!members[1].is_ready());
    assert!(members[1].database().is_empty());
    assert_eq!(members[0].connected().count(), 0);
}

#[test]
fn a_copied_certificate_without_its_key_never_connects() {
    let root = root();
    let mut creator = Member::new(credentials(&root, 2, Role::Administrator), true, 1).unwrap();
    creator.add_record(draft(b"members only"), 1, NOW).unwrap();
    let genuine = credentials(&root, 3, Role::Member);
    let impostor =
        Credentials { signing_key: SigningKey::from_bytes(&[66; 32]), certificate: genuine.certificate };
    let mut members = [creator, Member::new(impostor, false, 2).unwrap()];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(members[0].connected().count(), 0, "the creator dropped the impostor");
    assert!(members[1].database().is_empty(), "and sent it nothing");
    assert!(!members[1].is_ready());
    assert!(events(&mut members[0]).iter().all(|e| !matches!(e, GroupEvent::MemberConnected { .. })));
}

mod convergence {
    use proptest::prelude::*;

    use super::*;

    /// Where a record lives before two members meet.
    #[derive(Debug, Clone, Copy)]
    enum Placement {
        Both,
        OnlyA,
        OnlyB,
        NewerOnA,
        NewerOnB,
        DeletedOnA,
    }

    fn placement() -> impl Strategy<Value = Placement> {
        prop_oneof![
            4 => Just(Placement::Both),
            1 => Just(Placement::OnlyA),
            1 => Just(Placement::OnlyB),
            1 => Just(Placement::NewerOnA),
            1 => Just(Placement::NewerOnB),
            1 => Just(Placement::DeletedOnA),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whatever two members hold, one synchronisation leaves them identical, and exactly the
        /// records one side lacked or held older moved, each once.
        #[test]
        fn two_members_converge_moving_only_the_difference(
            placements in proptest::collection::vec(placement(), 0..120),
            seed in any::<u64>(),
        ) {
            let root = root();
            let group = root.public_key();
            let author = credentials(&root, 2, Role::Member);
            let mut a = Member::new(credentials(&root, 3, Role::Member), true, 1).unwrap();
            let mut b = Member::new(credentials(&root, 4, Role::Member), true, 1 << 30).unwrap();
            let (mut to_a, mut to_b) = (0u64, 0u64);
            for (i, placement) in placements.iter().enumerate() {
                let random = seed.wrapping_add(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let v1 = Record::create(&author, &group, draft(&[i as u8]), random, NOW).unwrap();
                let v2 = v1.revise(&author, &group, draft(b"v2"), NOW.plus_seconds(1)).unwrap();
                let gone = v1.tombstone(&author, &group, NOW.plus_seconds(1)).unwrap();
                let (on_a, on_b) = match placement {
                    Placement::Both => (Some(&v1), Some(&v1)),
                    Placement::OnlyA => { to_b += 1; (Some(&v1), None) }
                    Placement::OnlyB => { to_a += 1; (None, Some(&v1)) }
                    Placement::NewerOnA => { to_b += 1; (Some(&v2), Some(&v1)) }
                    Placement::NewerOnB => { to_a += 1; (Some(&v1), Some(&v2)) }
                    Placement::DeletedOnA => { to_b += 1; (Some(&gone), Some(&v1)) }
                };
                if let Some(r) = on_a { a.restore(r, NOW).unwrap(); }
                if let Some(r) = on_b { b.restore(r, NOW).unwrap(); }
            }
            let mut members = [a, b];
            members[0].connect(1, NOW);
            settle(&mut members, NOW);
            let held = |m: &Member<usize>| m.database().all().cloned().collect::<Vec<_>>();
            prop_assert_eq!(held(&members[0]), held(&members[1]));
            prop_assert_eq!(members[1].stats().records_served, to_a, "B served exactly what A lacked");
            prop_assert_eq!(members[0].stats().records_flooded, to_b, "A pushed exactly what B lacked");
            prop_assert!(members[0].is_idle() && members[1].is_idle());
        }
    }
}

/// A creator whose group admits password joiners as plain members, and the password's
/// security properties.
fn password_group(password: &str) -> (GroupRoot, super::password::SecurityProperties, Member<usize>) {
    use super::password::{PasswordGrantor, SecurityProperties, derive_seed};
    let root = root();
    let salt = [7; PASSWORD_SALT_LEN];
    let seed = derive_seed(password, &salt, MIN_PASSWORD_ITERATIONS).unwrap();
    let properties = SecurityProperties::issue(&root, Role::Member, salt, MIN_PASSWORD_ITERATIONS, &seed);
    let mut creator = Member::new(credentials(&root, 2, Role::Administrator), true, 1).unwrap();
    creator.enable_password_authentication(PasswordGrantor::new(
        root.clone(),
        properties.verifier,
        Role::Member,
        3600,
    ));
    (root, properties, creator)
}

fn password_joiner(
    properties: &super::password::SecurityProperties,
    password: &str,
    secret: u8,
) -> Member<usize> {
    let seed = super::password::derive_seed(password, &properties.salt, properties.iterations).unwrap();
    Member::new_password_join(&[secret; 32], properties.group_root, &seed, 77).unwrap()
}

#[test]
fn a_password_joiner_earns_a_certificate_and_its_records_verify_everywhere() {
    use super::member::PasswordJoinState;
    let (root, properties, creator) = password_group("open sesame");
    let joiner = password_joiner(&properties, "open sesame", 3);
    let mut members = [creator, joiner];
    assert_eq!(members[1].password_join_state(), PasswordJoinState::Pending);
    assert_eq!(members[1].add_record(draft(b"early"), 1, NOW), Err(GroupError::NotReady));
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(members[1].password_join_state(), PasswordJoinState::Member);
    let certificate = members[1].certificate();
    assert_eq!(certificate.role, Role::Member);
    let root_key = ed25519_dalek::VerifyingKey::from_bytes(&root.public_key()).unwrap();
    assert_eq!(certificate.check(&root_key, NOW), Ok(()), "an ordinary root-signed certificate");
    assert!(events(&mut members[1]).contains(&GroupEvent::CertificateGranted(certificate)));
    assert!(members[1].is_ready(), "connected and synchronised as a member");
    let record = members[1].add_record(draft(b"from the password joiner"), 5, NOW).unwrap();
    settle(&mut members, NOW);
    assert_eq!(members[0].record(&record.id), Ok(&record));
    // A third member that never saw the password verifies the joiner's record from the root alone.
    let mut third = db(&root);
    assert!(matches!(third.apply(&record.view(), NOW), Ok(Applied::Stored(_))));
}

#[test]
fn a_wrong_password_is_refused_and_its_records_enter_no_database() {
    use super::member::PasswordJoinState;
    use super::wire::RefuseReason;
    let (_, properties, creator) = password_group("right");
    let joiner = password_joiner(&properties, "wrong", 3);
    let mut members = [creator, joiner];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(
        members[1].password_join_state(),
        PasswordJoinState::Refused(RefuseReason::AuthenticationFailed)
    );
    let reason = RefuseReason::AuthenticationFailed;
    assert!(events(&mut members[0]).contains(&GroupEvent::AuthenticationFailed { peer: 1, reason }));
    assert!(events(&mut members[1]).contains(&GroupEvent::AuthenticationFailed { peer: 0, reason }));
    assert_eq!(members[0].connected().count(), 0);
    assert_eq!(members[1].add_record(draft(b"sneaky"), 1, NOW), Err(GroupError::NotReady));
    members[1].mark_ready();
    assert!(!members[1].is_ready(), "a durable log does not make a refused joiner ready");
    assert_eq!(members[0].database().len(), 0);
}

#[test]
fn a_group_without_password_authentication_refuses_password_joiners() {
    use super::member::PasswordJoinState;
    use super::wire::RefuseReason;
    let (_, properties, _) = password_group("pw");
    let plain = Member::new(credentials(&root(), 2, Role::Administrator), true, 1).unwrap();
    let mut members = [plain, password_joiner(&properties, "pw", 3)];
    members[1].connect(0, NOW);
    settle(&mut members, NOW);
    assert_eq!(
        members[1].password_join_state(),
        PasswordJoinState::Refused(RefuseReason::NoPasswordAuthentication)
    );
}

#[test]
fn an_unanswered_password_hello_is_repeated_then_given_up() {
    let (_, properties, _) = password_group("pw");
    let mut joiner = password_joiner(&properties, "pw", 3);
    joiner.connect(9, NOW);
    let mut now = NOW;
    let mut sent = 0u32;
    for _ in 0..2 * MAX_TRANSMISSIONS {
        joiner.handle_timeout(now);
        sent += core::iter::from_fn(|| joiner.poll_transmit(now)).count() as u32;
        match joiner.next_timeout() {
            Some(due) => now = due,
            None => break,
        }
    }
    assert_eq!(sent, MAX_TRANSMISSIONS);
    assert!(events(&mut joiner).contains(&GroupEvent::MemberDisconnected(9)));
}
