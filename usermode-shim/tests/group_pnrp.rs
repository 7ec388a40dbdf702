//! Groups found by name: the creator publishes the group's peer name (secured by the group root)
//! in PNRP with its group socket; a member whose invitation names no address resolves it in
//! PeerGroupConnect and connects. A C program is the member, on a second daemon of the cloud.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::time::Duration;

use common::group::{Options, create, invite, peer_name, startup};
use common::{CProgram, DaemonProcess, bounded, c_program, compile_c, eventually, fresh_dir, use_daemon};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::pnrp::{IdentityStore, PEER_E_NOT_FOUND, Pnrp};

#[test]
fn a_member_without_address_hints_finds_the_group_through_pnrp() {
    bounded(180, || {
        let dir = fresh_dir("group-pnrp");
        let (socket_a, socket_b) = (dir.join("a.sock"), dir.join("b.sock"));
        let creator_node = DaemonProcess::pnrp(&socket_a, None);
        let member_node = DaemonProcess::pnrp(&socket_b, creator_node.pnrp_port);
        // SAFETY: the only test of this binary.
        unsafe { use_daemon(&socket_a, &dir.join("identities"), None) };
        let store = IdentityStore::open_default().unwrap();
        let joiner = store.create(Some("joiner"), None).unwrap();
        let program = dir.join("group_flow");
        compile_c("group_flow.c", &program, &["_POSIX_C_SOURCE=200809L"]);
        // A session on the member's node, like the member's own process.
        let member_side = Pnrp::startup(Some(socket_b.clone()), None).unwrap();

        unsafe {
            startup();
            let group = create("bypnrp", Options::default()).unwrap();
            let name = peer_name(group);

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

            let mut text: serde_json::Value = serde_json::from_str(&invite(group, &joiner)).unwrap();
            assert!(!text["hints"].as_array().unwrap().is_empty());
            text["hints"] = serde_json::json!([]);

            let mut c = CProgram::spawn(
                c_program(&program).env("PEERDRT_SOCKET", &socket_b).args([&joiner, &text.to_string()]),
            );
            let printed = c.wait_for("EVENTS");
            assert!(printed.contains(&"event MEMBER_CHANGED connected".to_string()), "{printed:?}");
            c.send("go");
            let rest = c.wait_for("OK");
            assert!(rest.contains(&"reopened: record from-c v1".to_string()), "{rest:?}");
            assert!(c.wait().success());

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
