//! PeerGroupDelete against a real daemon: the node's log of the group goes with the membership,
//! a group still open cannot be deleted, and a deleted group cannot be reopened.
#![cfg(unix)] // the node is a Linux daemon

mod common;

use std::ffi::c_void;
use std::path::Path;

use common::{DaemonProcess, narrow, wide};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::group::client::utc_now;
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
    let dir = std::env::temp_dir().join(format!("peerdrt-group-delete-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("node.sock");
    // The daemon's state directory (`<socket>.state`).
    let state = dir.join("node.sock.state");
    let daemon = DaemonProcess::start(&socket, Vec::new);
    // SAFETY: the only test of this binary that reads the environment.
    unsafe {
        std::env::set_var("PEERDRT_SOCKET", &socket);
        std::env::set_var("PEERDRT_IDENTITY_DIR", dir.join("identities"));
        std::env::set_var("PEERDRT_GROUP_DIR", dir.join("groups"));
    }

    unsafe {
        let mut version = PEER_VERSION_DATA::default();
        assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), 0);
        let mut props: PEER_GROUP_PROPERTIES = std::mem::zeroed();
        props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
        let classifier = wide("deleted");
        props.pwzClassifier = classifier.as_ptr() as *mut u16;
        let mut group: HGROUP = std::ptr::null_mut();
        assert_eq!(PeerGroupCreate(&props, &mut group), 0);
        let mut got: *mut PEER_GROUP_PROPERTIES = std::ptr::null_mut();
        assert_eq!(PeerGroupGetProperties(group, &mut got), 0);
        let name = wide(&narrow((*got).pwzGroupPeerName));
        PeerFreeData(got as *const c_void);

        let mut data = *b"soon gone";
        let record = PEER_RECORD {
            dwSize: size_of::<PEER_RECORD>() as u32,
            r#type: GUID { Data1: 7, Data2: 1, Data3: 2, Data4: [3; 8] },
            id: GUID::default(),
            dwVersion: 0,
            dwFlags: 0,
            pwzCreatorId: std::ptr::null_mut(),
            pwzModifiedById: std::ptr::null_mut(),
            pwzAttributes: std::ptr::null_mut(),
            ftCreation: FILETIME::default(),
            ftExpiration: FILETIME::from_u64(utc_now() + 3600 * 10_000_000),
            ftLastModified: FILETIME::default(),
            securityData: PEER_DATA { cbData: 0, pbData: std::ptr::null_mut() },
            data: PEER_DATA { cbData: data.len() as u32, pbData: data.as_mut_ptr() },
        };
        let mut id = GUID::default();
        assert_eq!(PeerGroupAddRecord(group, &record, &mut id), 0);
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
