//! The password GROUP_* codes on two group tables (two devices) joined by a lossless wire:
//! GROUP_ENABLE_PASSWORD on the creator, GROUP_PASSWORD_JOIN and GROUP_GET_CERTIFICATE on the
//! joiner, and the HRESULTs of every refusal.

use peerdrt_abi::Handle;
use peerdrt_abi::group::{
    GROUP_CREATE, GROUP_GET_CERTIFICATE, GROUP_PASSWORD_JOIN, GroupRequest, GroupResponse, RecordFields,
    hresult,
};
use peerdrt_core::group::membership::{MembershipCertificate, Role};
use peerdrt_core::group::password::{derive_seed, verifier_of};

use super::group::tests::{NOW, OPEN, endpoint, settle};
use super::group::{GroupFailure, GroupNotice, GroupTable};

const ROOT_SECRET: [u8; 32] = [1; 32];

fn run(table: &mut GroupTable, request: GroupRequest<'_>) -> Result<Vec<u8>, GroupFailure> {
    let mut out = vec![0u8; 32 * 1024];
    let len = table.execute(OPEN, &request, NOW, &[0x5a; 32], &mut out)?;
    out.truncate(len);
    Ok(out)
}

fn opened(bytes: &[u8], code: u32) -> Handle {
    match GroupResponse::decode(code, bytes).unwrap() {
        GroupResponse::Opened { group, .. } => group,
        other => panic!("unexpected {other:?}"),
    }
}

/// A creator table whose group grants plain membership to holders of `password` (if given).
fn creator(password: Option<&str>) -> (GroupTable, Handle) {
    let mut table = GroupTable::new();
    let create =
        GroupRequest::Create { root_secret: &ROOT_SECRET, member_secret: &[2; 32], lifetime_seconds: 3600 };
    let group = opened(&run(&mut table, create).unwrap(), GROUP_CREATE);
    if let Some(password) = password {
        let verifier = verifier_of(&seed(password));
        let enable =
            GroupRequest::EnablePassword { group, verifier: &verifier, role: 1, lifetime_seconds: 3600 };
        assert_eq!(run(&mut table, enable).unwrap(), Vec::<u8>::new());
    }
    (table, group)
}

fn seed(password: &str) -> [u8; 32] {
    derive_seed(password, &[9; 16], 10_000).unwrap()
}

/// A joiner table with a password join of the creator's group, connected to it.
fn joiner(creator: &mut GroupTable, password: &str) -> (GroupTable, Handle) {
    let mut table = GroupTable::new();
    let root = peerdrt_core::group::membership::GroupRoot::from_secret(&ROOT_SECRET).public_key();
    let join = GroupRequest::PasswordJoin {
        member_secret: &[3; 32],
        group_root: &root,
        password_seed: &seed(password),
    };
    let group = opened(&run(&mut table, join).unwrap(), GROUP_PASSWORD_JOIN);
    let pending = run(&mut table, GroupRequest::GetCertificate { group });
    assert_eq!(pending, Err(GroupFailure::HResult(hresult::PEER_E_GROUP_NOT_READY)), "nothing granted yet");
    let address = endpoint(1).addr.octets();
    run(&mut table, GroupRequest::Connect { group, address: &address, port: endpoint(1).port }).unwrap();
    settle(creator, &mut table);
    (table, group)
}

fn add(table: &mut GroupTable, group: Handle, data: &[u8]) -> Result<Vec<u8>, GroupFailure> {
    let record = RecordFields {
        record_type: [4; 16],
        expiration: NOW.plus_seconds(600).0,
        flags: 0,
        attributes: b"",
        data,
    };
    run(table, GroupRequest::AddRecord { group, record })
}

#[test]
fn the_right_password_gets_a_certificate_and_a_record_through() {
    let (mut a, group_a) = creator(Some("pw"));
    let (mut b, group_b) = joiner(&mut a, "pw");
    let granted = run(&mut b, GroupRequest::GetCertificate { group: group_b }).unwrap();
    let GroupResponse::Invitation(bytes) = GroupResponse::decode(GROUP_GET_CERTIFICATE, &granted).unwrap()
    else {
        panic!("a certificate")
    };
    let certificate = MembershipCertificate::from_bytes(bytes).unwrap();
    assert_eq!(certificate.role, Role::Member);
    add(&mut b, group_b, b"hello").unwrap();
    settle(&mut a, &mut b);
    let status = run(&mut a, GroupRequest::GetStatus { group: group_a }).unwrap();
    let GroupResponse::Status(status) =
        GroupResponse::decode(peerdrt_abi::group::GROUP_GET_STATUS, &status).unwrap()
    else {
        panic!("a status")
    };
    assert_eq!(status.records, 1, "the joiner's record reached the creator");
}

#[test]
fn refusals_carry_their_hresults() {
    let refused = Err(GroupFailure::HResult(hresult::PEER_E_CONNECTION_NOT_AUTHENTICATED));
    let (mut a, _) = creator(Some("pw"));
    let (mut b, group_b) = joiner(&mut a, "wrong");
    assert_eq!(run(&mut b, GroupRequest::GetCertificate { group: group_b }).map(|_| ()), refused);
    assert_eq!(add(&mut b, group_b, b"x"), Err(GroupFailure::HResult(hresult::PEER_E_GROUP_NOT_READY)));

    let (mut plain, _) = creator(None);
    let (mut c, group_c) = joiner(&mut plain, "pw");
    assert_eq!(
        run(&mut c, GroupRequest::GetCertificate { group: group_c }).map(|_| ()),
        refused,
        "no password authentication"
    );

    // Only the root's holder can enable password authentication.
    let (mut d, group_d) = joiner(&mut a, "pw");
    let enable =
        GroupRequest::EnablePassword { group: group_d, verifier: &[5; 32], role: 1, lifetime_seconds: 60 };
    assert_eq!(run(&mut d, enable), Err(GroupFailure::HResult(hresult::PEER_E_NOT_AUTHORIZED)));
}

#[test]
fn a_wrong_password_raises_authentication_failed_on_both_sides_when_watched() {
    let (mut a, group_a) = creator(Some("pw"));
    run(&mut a, GroupRequest::WatchEvents { group: group_a, enabled: true }).unwrap();
    let mut b = GroupTable::new();
    let root = peerdrt_core::group::membership::GroupRoot::from_secret(&ROOT_SECRET).public_key();
    let join = GroupRequest::PasswordJoin {
        member_secret: &[3; 32],
        group_root: &root,
        password_seed: &seed("wrong"),
    };
    let group_b = opened(&run(&mut b, join).unwrap(), GROUP_PASSWORD_JOIN);
    run(&mut b, GroupRequest::WatchEvents { group: group_b, enabled: true }).unwrap();
    let address = endpoint(1).addr.octets();
    run(&mut b, GroupRequest::Connect { group: group_b, address: &address, port: endpoint(1).port }).unwrap();
    settle(&mut a, &mut b);

    let failed = |group| GroupNotice::AuthenticationFailed {
        group,
        hresult: hresult::PEER_E_CONNECTION_NOT_AUTHENTICATED,
    };
    let on_a: Vec<_> = core::iter::from_fn(|| a.poll_notice()).map(|(_, n)| n).collect();
    let on_b: Vec<_> = core::iter::from_fn(|| b.poll_notice()).map(|(_, n)| n).collect();
    assert!(on_a.contains(&failed(group_a)), "the granting side: {on_a:?}");
    assert!(on_b.contains(&failed(group_b)), "the joiner: {on_b:?}");
}
