//! Groups found by name: the creator publishes the group's peer name (secured by the group root)
//! in PNRP with its group socket; a member whose invitation names no address resolves it in
//! PeerGroupConnect and connects. A C program is the member, on a second daemon of the cloud.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::ffi::c_void;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::{DaemonProcess, bounded, c_program, compile_c, eventually, narrow, wide};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::group::types::*;
use peerdrt_shim::pnrp::{IdentityStore, PEER_E_NOT_FOUND, Pnrp};

/// A daemon with a Global_ PNRP cloud, seeded from `seed` if given.
#[test]
fn a_member_without_address_hints_finds_the_group_through_pnrp() {
    bounded(180, || {
        let dir = std::env::temp_dir().join(format!("peerdrt-group-pnrp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (socket_a, socket_b) = (dir.join("a.sock"), dir.join("b.sock"));
        let creator_node = DaemonProcess::pnrp(&socket_a, None);
        let member_node = DaemonProcess::pnrp(&socket_b, creator_node.pnrp_port);
        let identities: PathBuf = dir.join("identities");
        // SAFETY: the only test of this binary.
        unsafe {
            std::env::set_var("PEERDRT_SOCKET", &socket_a);
            std::env::set_var("PEERDRT_IDENTITY_DIR", &identities);
        }
        let store = IdentityStore::open_default().unwrap();
        let joiner = store.create(Some("joiner"), None).unwrap();
        let program = dir.join("group_flow");
        compile_c("group_flow.c", &program, &["_POSIX_C_SOURCE=200809L"]);
        // A session on the member's node, like the member's own process.
        let member_side = Pnrp::startup(Some(socket_b.clone()), None).unwrap();

        unsafe {
            let mut version = PEER_VERSION_DATA::default();
            assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), 0);
            let mut props: PEER_GROUP_PROPERTIES = std::mem::zeroed();
            props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
            let classifier = wide("bypnrp");
            props.pwzClassifier = classifier.as_ptr() as *mut u16;
            let mut group: HGROUP = std::ptr::null_mut();
            assert_eq!(PeerGroupCreate(&props, &mut group), 0);
            let mut got: *mut PEER_GROUP_PROPERTIES = std::ptr::null_mut();
            assert_eq!(PeerGroupGetProperties(group, &mut got), 0);
            let name = narrow((*got).pwzGroupPeerName);
            PeerFreeData(got as *const c_void);

            // The creator's publication reaches the other node.
            let mut endpoints = Vec::new();
            assert!(
                eventually(Duration::from_secs(30), || {
                    endpoints =
                        member_side.resolve(&name, None, 5, Duration::from_secs(3)).unwrap_or_default();
                    !endpoints.is_empty()
                }),
                "{name} did not resolve from the member's node"
            );
            assert_eq!(endpoints[0].comment, "peer group");

            let mut invitation: *mut u16 = std::ptr::null_mut();
            let invitee = wide(&joiner);
            assert_eq!(
                PeerGroupCreateInvitation(
                    group,
                    invitee.as_ptr(),
                    std::ptr::null(),
                    0,
                    std::ptr::null(),
                    &mut invitation
                ),
                0
            );
            let mut text: serde_json::Value = serde_json::from_str(&narrow(invitation)).unwrap();
            PeerFreeData(invitation as *const c_void);
            assert!(!text["hints"].as_array().unwrap().is_empty());
            text["hints"] = serde_json::json!([]);

            let mut c = c_program(&program)
                .env("PEERDRT_SOCKET", &socket_b)
                .args([&joiner, &text.to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = c.stdin.take().unwrap();
            let mut stderr = c.stderr.take().unwrap();
            let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
            let mut wait_for = |word: &str| {
                let mut seen = Vec::new();
                for line in lines.by_ref() {
                    let line = line.unwrap();
                    if line == word {
                        return seen;
                    }
                    seen.push(line);
                }
                let mut err = String::new();
                let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                panic!("the C program ended before {word}; it printed {seen:?} and on stderr:\n{err}");
            };
            let printed = wait_for("EVENTS");
            assert!(printed.contains(&"event MEMBER_CHANGED connected".to_string()), "{printed:?}");
            writeln!(stdin, "go").unwrap();
            let rest = wait_for("OK");
            assert!(rest.contains(&"reopened: record from-c v1".to_string()), "{rest:?}");
            assert!(c.wait().unwrap().success());

            // Closing the group withdraws its name.
            assert_eq!(PeerGroupClose(group), 0);
            assert!(
                eventually(Duration::from_secs(30), || member_side
                    .resolve(&name, None, 5, Duration::from_secs(2))
                    .is_err_and(|e| e.0 == PEER_E_NOT_FOUND)),
                "{name} still resolves after PeerGroupClose"
            );
            assert_eq!(PeerGroupShutdown(), 0);
        }
        member_side.shutdown();
        drop((creator_node, member_node));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
