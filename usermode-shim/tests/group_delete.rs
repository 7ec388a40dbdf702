//! PeerGroupDelete against a real daemon: the node's log of the group goes with the membership,
//! a group still open cannot be deleted, and a deleted group cannot be reopened.
#![cfg(unix)] // the node is a Linux daemon

mod common;

use std::path::Path;

use common::group::{Options, create, peer_name, record, startup};
use common::{DaemonProcess, fresh_dir, use_daemon, wide};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::group::hresult::*;
use peerdrt_shim::group::types::*;

/// The group logs the daemon keeps under its state directory.
fn logs(state: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state.join("groups")) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect()
}

#[test]
fn a_deleted_group_leaves_no_log_on_the_node_and_cannot_be_reopened() {
    let dir = fresh_dir("group-delete");
    let socket = dir.join("node.sock");
    // The daemon's state directory (`<socket>.state`).
    let state = dir.join("node.sock.state");
    let daemon = DaemonProcess::start(&socket, Vec::new);
    // SAFETY: the only test of this binary that reads the environment.
    unsafe { use_daemon(&socket, &dir.join("identities"), Some(&dir.join("groups"))) };

    unsafe {
        startup();
        let mut group = create("deleted", Options::default()).unwrap();
        let name = wide(&peer_name(group));

        let mut data = *b"soon gone";
        let record_type = GUID { Data1: 7, Data2: 1, Data3: 2, Data4: [3; 8] };
        let mut id = GUID::default();
        assert_eq!(PeerGroupAddRecord(group, &record(record_type, &mut data, 3600), &mut id), 0);
        assert_eq!(logs(&state).len(), 1, "the node logged the group");

        assert_eq!(
            PeerGroupDelete(std::ptr::null(), name.as_ptr()) as u32,
            PEER_E_GROUP_IN_USE,
            "an open group is not deleted"
        );
        assert_eq!(logs(&state).len(), 1);

        assert_eq!(PeerGroupClose(group), 0);
        assert_eq!(PeerGroupDelete(std::ptr::null(), name.as_ptr()), 0);
        assert!(logs(&state).is_empty(), "the node's log of the group is gone: {:?}", logs(&state));
        assert_eq!(
            PeerGroupOpen(std::ptr::null(), name.as_ptr(), std::ptr::null(), &mut group) as u32,
            peerdrt_shim::pnrp::PEER_E_NOT_FOUND,
            "a deleted group cannot be reopened"
        );
        assert_eq!(PeerGroupShutdown(), 0);
    }
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
