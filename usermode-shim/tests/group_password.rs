//! Password groups through the PeerGroup* API: this process creates a group with
//! PEER_GROUP_PASSWORD_AUTHENTICATION on one daemon; a C program on a second daemon joins with
//! PeerGroupPasswordJoin and the password invitation, connects (the creator grants it a
//! certificate after the password proof), adds a record that the creator receives and verifies,
//! and reopens the group by its peer name. A joiner with a wrong password is refused at connect
//! (PEER_E_CONNECTION_NOT_AUTHENTICATED) and nothing of it reaches the creator's database. The
//! password policy, a group without password authentication, a certificate invitation given to
//! PeerGroupPasswordJoin and an altered password invitation are refused with their HRESULTs.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::ffi::c_void;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::group::{Options, invite, record, startup};
use common::{DaemonProcess, bounded, c_program, compile_c, eventually, fresh_dir, narrow, use_daemon, wide};
use peerdrt_core::group::limits::MAX_PASSWORD_CHARS;
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::group::hresult::*;
use peerdrt_shim::group::types::*;
use peerdrt_shim::pnrp::IdentityStore;

const PASSWORD: &str = "correct horse battery staple";

/// PeerGroupCreate with a classifier, and, when `password` is given, password authentication
/// granting `role`.
unsafe fn create(classifier: &str, password: Option<&str>, role: GUID) -> Result<HGROUP, u32> {
    let options = Options { password: password.map(|p| (p, role)), ..Options::default() };
    unsafe { common::group::create(classifier, options) }
}

/// The data of every record of an open group (without the NUL a C string's data may end
/// with), sorted.
unsafe fn all_data(group: HGROUP) -> Vec<String> {
    let mut out: Vec<String> = unsafe { common::group::all_data(group) }
        .into_iter()
        .map(|data| data.trim_end_matches('\0').to_owned())
        .collect();
    out.sort();
    out
}

/// Runs the C joiner to its end; its stdout lines.
fn run_joiner(
    program: &Path,
    socket: &Path,
    identity: &str,
    invitation: &str,
    password: &str,
) -> Vec<String> {
    let out = c_program(program)
        .env("PEERDRT_SOCKET", socket)
        .args([identity, invitation, password])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert!(
        out.status.success(),
        "the C joiner failed: {stdout:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn a_password_joiner_on_another_node_joins_publishes_and_is_verified_and_a_wrong_password_is_refused() {
    bounded(240, || {
        let dir = fresh_dir("group-password");
        let (socket_a, socket_b) = (dir.join("a.sock"), dir.join("b.sock"));
        let _nodes = [DaemonProcess::start(&socket_a, Vec::new), DaemonProcess::start(&socket_b, Vec::new)];
        // SAFETY: the only test of this binary.
        unsafe { use_daemon(&socket_a, &dir.join("identities"), None) };
        let store = IdentityStore::open_default().unwrap();
        store.default_identity().unwrap();
        let guesser = store.create(Some("guesser"), Some("Guesser")).unwrap();
        let joiner = store.create(Some("joiner"), Some("Joiner")).unwrap();
        let program = dir.join("group_password");
        compile_c("group_password.c", &program, &["_POSIX_C_SOURCE=200809L"]);

        unsafe {
            startup();

            // The password policy, at and past its edges.
            assert_eq!(
                create("pw", Some(""), PEER_GROUP_ROLE_MEMBER),
                Err(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY)
            );
            let past = "p".repeat(MAX_PASSWORD_CHARS + 1);
            assert_eq!(
                create("pw", Some(&past), PEER_GROUP_ROLE_MEMBER),
                Err(PEER_E_PASSWORD_DOES_NOT_MEET_POLICY)
            );
            let unknown_role = GUID { Data1: 1, ..GUID::default() };
            assert_eq!(create("pw", Some(PASSWORD), unknown_role), Err(E_INVALIDARG));
            let at_limit =
                create("pwlimit", Some(&"p".repeat(MAX_PASSWORD_CHARS)), PEER_GROUP_ROLE_MEMBER).unwrap();
            assert_eq!(PeerGroupClose(at_limit), 0);

            // A group without password authentication gives no password invitation.
            let plain = create("plain", None, GUID::default()).unwrap();
            let mut invitation: *mut u16 = std::ptr::null_mut();
            assert_eq!(
                PeerGroupCreatePasswordInvitation(plain, &mut invitation) as u32,
                PEER_E_NOT_AUTHORIZED
            );
            assert_eq!(PeerGroupClose(plain), 0);

            let group = create("pwchat", Some(PASSWORD), PEER_GROUP_ROLE_MEMBER).unwrap();
            let mut props: *mut PEER_GROUP_PROPERTIES = std::ptr::null_mut();
            assert_eq!(PeerGroupGetProperties(group, &mut props), 0);
            assert_eq!(
                (*props).dwAuthenticationSchemes,
                PEER_GROUP_GMC_AUTHENTICATION | PEER_GROUP_PASSWORD_AUTHENTICATION
            );
            PeerFreeData(props as *const c_void);
            let mut from_creator = *b"from the creator";
            let mut id = GUID::default();
            let record_type =
                GUID { Data1: 0x7e57_c0de, Data2: 9, Data3: 9, Data4: [3, 4, 5, 6, 7, 8, 9, 10] };
            assert_eq!(PeerGroupAddRecord(group, &record(record_type, &mut from_creator, 3600), &mut id), 0);

            assert_eq!(PeerGroupCreatePasswordInvitation(group, &mut invitation), 0);
            let text = narrow(invitation);
            PeerFreeData(invitation as *const c_void);
            assert!(!text.contains(PASSWORD), "the invitation does not carry the password");

            // What PeerGroupPasswordJoin refuses before anything is sent.
            let mut h: HGROUP = std::ptr::null_mut();
            let pw = wide(PASSWORD);
            let certificate_invitation = invite(group, &joiner);
            assert_eq!(
                PeerGroupPasswordJoin(
                    std::ptr::null(),
                    wide(&certificate_invitation).as_ptr(),
                    pw.as_ptr(),
                    std::ptr::null(),
                    &mut h
                ) as u32,
                E_INVALIDARG,
                "a certificate invitation is not a password invitation"
            );
            let mut altered: serde_json::Value = serde_json::from_str(&text).unwrap();
            let properties = altered["security_properties"].as_str().unwrap().to_owned();
            // Flip a digit of the verifier (bytes 53..85 of the properties).
            let at = 2 * 60;
            let flipped = if &properties[at..at + 1] == "0" { "1" } else { "0" };
            altered["security_properties"] =
                format!("{}{flipped}{}", &properties[..at], &properties[at + 1..]).into();
            assert_eq!(
                PeerGroupPasswordJoin(
                    std::ptr::null(),
                    wide(&altered.to_string()).as_ptr(),
                    pw.as_ptr(),
                    std::ptr::null(),
                    &mut h
                ) as u32,
                PEER_E_INVITATION_NOT_TRUSTED
            );
            assert_eq!(
                PeerGroupPasswordJoin(
                    std::ptr::null(),
                    wide(&text).as_ptr(),
                    wide("").as_ptr(),
                    std::ptr::null(),
                    &mut h
                ) as u32,
                PEER_E_PASSWORD_DOES_NOT_MEET_POLICY
            );

            // PeerGroupParseInvitation: both kinds, checked.
            let mut info: *mut PEER_INVITATION_INFO = std::ptr::null_mut();
            assert_eq!(PeerGroupParseInvitation(wide(&text).as_ptr(), &mut info), 0);
            assert_eq!((*info).dwSize as usize, size_of::<PEER_INVITATION_INFO>());
            assert_eq!((*info).authScheme, PEER_GROUP_PASSWORD_AUTHENTICATION);
            assert!(narrow((*info).pwzGroupPeerName).ends_with(".pwchat"));
            assert_eq!(narrow((*info).pwzCloudName), "Global_");
            assert!((*info).pwzSubjectPeerName.is_null(), "a password invitation names no invitee");
            assert_eq!(((*info).cRoles, *(*info).pRoles), (1, PEER_GROUP_ROLE_MEMBER));
            PeerFreeData(info as *const c_void);
            assert_eq!(PeerGroupParseInvitation(wide(&certificate_invitation).as_ptr(), &mut info), 0);
            assert_eq!((*info).authScheme, PEER_GROUP_GMC_AUTHENTICATION);
            assert_eq!(
                narrow((*info).pwzIssuerPeerName),
                IdentityStore::open_default().unwrap().default_identity().unwrap()
            );
            assert_eq!(narrow((*info).pwzSubjectPeerName).len(), 64, "the invitee's member key");
            assert!((*info).ftValidityStart.to_u64() < (*info).ftValidityEnd.to_u64());
            PeerFreeData(info as *const c_void);
            assert_eq!(
                PeerGroupParseInvitation(wide(&altered.to_string()).as_ptr(), &mut info) as u32,
                PEER_E_INVITATION_NOT_TRUSTED,
                "an altered verifier"
            );
            let mut forged: serde_json::Value = serde_json::from_str(&certificate_invitation).unwrap();
            let certificate = forged["certificate"].as_str().unwrap().to_owned();
            let flipped = if &certificate[70..71] == "0" { "1" } else { "0" };
            forged["certificate"] = format!("{}{flipped}{}", &certificate[..70], &certificate[71..]).into();
            assert_eq!(
                PeerGroupParseInvitation(wide(&forged.to_string()).as_ptr(), &mut info) as u32,
                PEER_E_INVITATION_NOT_TRUSTED,
                "a certificate altered to name another key"
            );
            assert_eq!(
                PeerGroupParseInvitation(wide("<PeerInvitation/>").as_ptr(), &mut info) as u32,
                E_INVALIDARG
            );

            // A wrong password on the second node: refused at connect, nothing stored here.
            let lines = run_joiner(&program, &socket_b, &guesser, &text, "wrong horse");
            assert_eq!(
                lines,
                [
                    "parsed scheme 2 roles 1",
                    "joined",
                    &format!("connect {PEER_E_CONNECTION_NOT_AUTHENTICATED:#010x}")
                ]
            );
            assert_eq!(all_data(group), ["from the creator"]);

            // The right password: granted, connected, its record reaches the creator.
            let lines = run_joiner(&program, &socket_b, &joiner, &text, PASSWORD);
            assert_eq!(
                lines,
                [
                    "parsed scheme 2 roles 1",
                    "joined",
                    "connect 0x00000000",
                    "added from the password joiner",
                    "reopened from the password joiner",
                    "OK"
                ]
            );
            assert!(
                eventually(Duration::from_secs(10), || all_data(group)
                    == ["from the creator", "from the password joiner"]),
                "{:?}",
                all_data(group)
            );
            assert_eq!(all_data(group).len(), 2, "and nothing from the wrong password");
            assert_eq!(PeerGroupClose(group), 0);
            assert_eq!(PeerGroupShutdown(), 0);
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
}
