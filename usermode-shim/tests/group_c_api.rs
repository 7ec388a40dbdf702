//! The PeerGroup* exports built so far, called as a C program would (through the same functions
//! the cdylib exports) against a real daemon; and p2p.h declares exactly those exports.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::ffi::c_void;

use common::group::record;
use common::{DaemonProcess, declared_and_exported, fresh_dir, use_daemon, wide};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::group::client::utc_now;
use peerdrt_shim::group::hresult::*;
use peerdrt_shim::group::types::*;
use peerdrt_shim::pnrp::IdentityStore;

fn is_group_export(n: &str) -> bool {
    n.starts_with("PeerGroup") || ["PeerGetNextItem", "PeerGetItemCount", "PeerEndEnumeration"].contains(&n)
}

#[test]
fn p2p_h_declares_exactly_the_group_exports() {
    let (declared, exported) = declared_and_exported(&["p2p.h"], is_group_export);
    assert_eq!(declared, exported);
    assert_eq!(declared.len(), 30);
}

const RECORD_TYPE: GUID = GUID { Data1: 0x1234_5678, Data2: 1, Data3: 2, Data4: [3; 8] };

/// The data of a returned PEER_RECORD.
unsafe fn data_of(r: *const PEER_RECORD) -> Vec<u8> {
    unsafe { std::slice::from_raw_parts((*r).data.pbData, (*r).data.cbData as usize).to_vec() }
}

#[test]
fn create_add_update_read_enumerate_delete_through_the_c_api() {
    let dir = fresh_dir("group-c");
    let socket = dir.join("node.sock");
    let daemon = DaemonProcess::start(&socket, Vec::new);
    // SAFETY: the only test of this binary that reads the environment.
    unsafe { use_daemon(&socket, &dir.join("identities"), None) };
    let identity = IdentityStore::open_default().unwrap().default_identity().unwrap();

    unsafe {
        let mut group: HGROUP = std::ptr::null_mut();
        let mut props: PEER_GROUP_PROPERTIES = std::mem::zeroed();
        props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
        let (creator, classifier) = (wide(&identity), wide("c-api-test"));
        props.pwzCreatorPeerName = creator.as_ptr() as *mut u16;
        props.pwzClassifier = classifier.as_ptr() as *mut u16;
        assert_eq!(PeerGroupCreate(&props, &mut group) as u32, PEER_E_NOT_INITIALIZED, "before startup");

        let mut version = PEER_VERSION_DATA::default();
        assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), 0);
        assert_eq!(version.wVersion, PEER_GROUP_VERSION);
        assert_eq!(PeerGroupCreate(&props, &mut group), 0);
        let mut status = 0u32;
        assert_eq!(PeerGroupGetStatus(group, &mut status), 0);
        assert_eq!(status & PEER_GROUP_STATUS_LISTENING, PEER_GROUP_STATUS_LISTENING);

        let mut first = *b"first";
        let mut id = GUID::default();
        assert_eq!(PeerGroupAddRecord(group, &record(RECORD_TYPE, &mut first, 3600), &mut id), 0);
        let mut second = *b"second";
        let mut id2 = GUID::default();
        assert_eq!(PeerGroupAddRecord(group, &record(RECORD_TYPE, &mut second, 3600), &mut id2), 0);
        let mut no_expiry = record(RECORD_TYPE, &mut first, 0);
        no_expiry.ftExpiration = FILETIME::default();
        assert_eq!(
            PeerGroupAddRecord(group, &no_expiry, &mut id) as u32,
            E_INVALIDARG,
            "ftExpiration is required"
        );

        let mut updated = *b"updated";
        let mut update = record(RECORD_TYPE, &mut updated, 3600);
        update.id = id;
        assert_eq!(PeerGroupUpdateRecord(group, &update), 0);
        let mut got: *mut PEER_RECORD = std::ptr::null_mut();
        assert_eq!(PeerGroupGetRecord(group, &id, &mut got), 0);
        assert_eq!(data_of(got), b"updated");
        assert_eq!((*got).id, id);
        assert_eq!((*got).dwVersion, 2);
        assert_eq!((*got).r#type, RECORD_TYPE);
        PeerFreeData(got as *const c_void);

        let mut records: HPEERENUM = std::ptr::null_mut();
        assert_eq!(PeerGroupEnumRecords(group, std::ptr::null(), &mut records), 0);
        let mut count = 0u32;
        assert_eq!(PeerGetItemCount(records, &mut count), 0);
        assert_eq!(count, 2);
        let mut items: *mut *mut c_void = std::ptr::null_mut();
        count = 10;
        assert_eq!(PeerGetNextItem(records, &mut count, &mut items), 0);
        assert_eq!(count, 2);
        let mut datas: Vec<Vec<u8>> = (0..2).map(|i| data_of(*items.add(i) as *const PEER_RECORD)).collect();
        datas.sort();
        assert_eq!(datas, vec![b"second".to_vec(), b"updated".to_vec()]);
        PeerFreeData(items as *const c_void);
        assert_eq!(PeerGetItemCount(records, &mut count), 0);
        assert_eq!(count, 0, "the enumeration is exhausted");
        assert_eq!(PeerEndEnumeration(records), 0);

        assert_eq!(PeerGroupDeleteRecord(group, &id2), 0);
        assert_eq!(PeerGroupGetRecord(group, &id2, &mut got) as u32, PEER_E_RECORD_NOT_FOUND);

        let utc = FILETIME::from_u64(utc_now());
        let (mut peer, mut back) = (FILETIME::default(), FILETIME::default());
        assert_eq!(PeerGroupUniversalTimeToPeerTime(group, &utc, &mut peer), 0);
        assert_eq!(PeerGroupPeerTimeToUniversalTime(group, &peer, &mut back), 0);
        assert_eq!(back, utc);

        assert_eq!(PeerGroupClose(group), 0);
        assert_eq!(PeerGroupGetStatus(group, &mut status) as u32, PEER_E_INVALID_GROUP, "a closed handle");
        assert_eq!(PeerGroupGetStatus(0x1234 as HGROUP, &mut status) as u32, PEER_E_INVALID_GROUP);
        assert_eq!(PeerGroupShutdown(), 0);
        assert_eq!(PeerGroupShutdown() as u32, PEER_E_NOT_INITIALIZED);
    }
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
