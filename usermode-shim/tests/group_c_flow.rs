//! Invitations, joining, connecting, events and reopening through the PeerGroup* C API: this
//! process creates a group on one daemon (through the same functions the cdylib exports), and a
//! C program compiled against include/p2p.h joins it from a second daemon with the invitation,
//! connects, adds a record, sees its RECORD_CHANGED, closes and reopens the group by its peer
//! name. The creator sees the C program's record arrive as an event, and after its own
//! PeerGroupClose / PeerGroupOpen both records are still there. PeerGroupSearchRecords finds a
//! record by its attributes.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::ffi::c_void;
use std::time::Duration;

use common::group::{Options, all_data, create, drain_events, invite, record, startup};
use common::{
    CProgram, DaemonProcess, bounded, c_program, compile_c, eventually, fresh_dir, narrow, use_daemon, wide,
};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::ffi::sync::{PeerDrtCloseEvent, PeerDrtCreateEvent, PeerDrtWaitForEvent};
use peerdrt_shim::group::client::utc_now;
use peerdrt_shim::group::hresult::*;
use peerdrt_shim::group::types::*;
use peerdrt_shim::pnrp::IdentityStore;

const RECORD_TYPE: GUID = GUID { Data1: 0x1234_5678, Data2: 1, Data3: 2, Data4: [3; 8] };

/// Drains a registration: every RECORD_CHANGED (change, id) queued, until PEER_S_NO_EVENT_DATA.
unsafe fn drain(event: HPEEREVENT) -> Vec<(u32, GUID)> {
    let record_changes = |event_type, union: *const u8| {
        (event_type == PEER_GROUP_EVENT_RECORD_CHANGED).then(|| {
            let change = unsafe { (union as *const PEER_EVENT_RECORD_CHANGE_DATA).read() };
            assert_eq!(change.dwSize as usize, size_of::<PEER_EVENT_RECORD_CHANGE_DATA>());
            (change.changeType, change.recordId)
        })
    };
    unsafe { drain_events(event, record_changes) }
}

#[test]
fn create_invite_join_connect_add_event_close_open_through_the_c_api() {
    bounded(180, || {
        let dir = fresh_dir("group-c-flow");
        let (socket_a, socket_b) = (dir.join("a.sock"), dir.join("b.sock"));
        let nodes = [DaemonProcess::start(&socket_a, Vec::new), DaemonProcess::start(&socket_b, Vec::new)];
        // SAFETY: the only test of this binary.
        unsafe { use_daemon(&socket_a, &dir.join("identities"), None) };
        let store = IdentityStore::open_default().unwrap();
        let creator = store.default_identity().unwrap();
        let joiner = store.create(Some("joiner"), Some("Joiner")).unwrap();
        let program = dir.join("group_flow");
        compile_c("group_flow.c", &program, &["_POSIX_C_SOURCE=200809L"]);

        unsafe {
            startup();
            let mut group = create("cflow", Options { friendly_name: Some("C flow"), ..Options::default() })
                .expect("NULL creator: the default identity");

            let mut got: *mut PEER_GROUP_PROPERTIES = std::ptr::null_mut();
            assert_eq!(PeerGroupGetProperties(group, &mut got), 0);
            let name = narrow((*got).pwzGroupPeerName);
            assert_eq!(narrow((*got).pwzClassifier), "cflow");
            assert_eq!(narrow((*got).pwzFriendlyName), "C flow");
            assert_eq!(narrow((*got).pwzCreatorPeerName), creator);
            assert!(name.ends_with(".cflow") && name.len() == 40 + 6, "{name}");
            PeerFreeData(got as *const c_void);

            let event = PeerDrtCreateEvent(0);
            let registration = PEER_GROUP_EVENT_REGISTRATION {
                eventType: PEER_GROUP_EVENT_RECORD_CHANGED,
                pType: std::ptr::null_mut(),
            };
            let mut peer_event: HPEEREVENT = std::ptr::null_mut();
            assert_eq!(PeerGroupRegisterEvent(group, event, 1, &registration, &mut peer_event), 0);
            let bad = PEER_GROUP_EVENT_REGISTRATION { eventType: 99, pType: std::ptr::null_mut() };
            let mut unused: HPEEREVENT = std::ptr::null_mut();
            assert_eq!(PeerGroupRegisterEvent(group, event, 1, &bad, &mut unused) as u32, E_INVALIDARG);

            let mut from_rust = *b"from-rust";
            let mut rust_id = GUID::default();
            assert_eq!(
                PeerGroupAddRecord(group, &record(RECORD_TYPE, &mut from_rust, 3600), &mut rust_id),
                0
            );
            assert!(eventually(Duration::from_secs(5), || drain(peer_event)
                .contains(&(PEER_RECORD_ADDED, rust_id))));

            let mut invitation: *mut u16 = std::ptr::null_mut();
            let past = FILETIME::from_u64(utc_now() - 10_000_000);
            let invitee = wide(&joiner);
            assert_eq!(
                PeerGroupCreateInvitation(
                    group,
                    invitee.as_ptr(),
                    &past,
                    0,
                    std::ptr::null(),
                    &mut invitation
                ) as u32,
                PEER_E_INVALID_TIME_PERIOD
            );
            let roles = [GUID { Data1: 1, ..GUID::default() }];
            assert_eq!(
                PeerGroupCreateInvitation(
                    group,
                    invitee.as_ptr(),
                    std::ptr::null(),
                    1,
                    roles.as_ptr(),
                    &mut invitation
                ) as u32,
                E_INVALIDARG,
                "an unknown role"
            );
            let invitation_text = invite(group, &joiner);

            let mut c = CProgram::spawn(
                c_program(&program).env("PEERDRT_SOCKET", &socket_b).args([&joiner, &invitation_text]),
            );
            let printed = c.wait_for("EVENTS");
            assert!(printed.contains(&format!("joined {name}")), "{printed:?}");
            assert!(printed.contains(&"event RECORD_CHANGED added".to_string()), "{printed:?}");

            // The C program's record reaches the creator, as a RECORD_CHANGED event.
            let mut arrived = Vec::new();
            assert!(
                eventually(Duration::from_secs(10), || {
                    PeerDrtWaitForEvent(event, 100);
                    arrived.extend(drain(peer_event));
                    arrived.iter().any(|(change, _)| *change == PEER_RECORD_ADDED)
                }),
                "no RECORD_CHANGED for the joiner's record on the creator"
            );
            let mut c_record: *mut PEER_RECORD = std::ptr::null_mut();
            let added: Vec<GUID> = arrived
                .iter()
                .filter(|(change, _)| *change == PEER_RECORD_ADDED)
                .map(|(_, id)| *id)
                .collect();
            assert_eq!(added.len(), 1, "{arrived:?}");
            assert_eq!(PeerGroupGetRecord(group, &added[0], &mut c_record), 0);
            assert_eq!(
                std::slice::from_raw_parts((*c_record).data.pbData, (*c_record).data.cbData as usize),
                b"from-c"
            );
            PeerFreeData(c_record as *const c_void);

            c.send("go");
            let rest = c.wait_for("OK");
            assert!(rest.contains(&"enumerated 2".to_string()), "{rest:?}");
            assert!(rest.contains(&"reopened: record from-c v1".to_string()), "{rest:?}");
            assert!(c.wait().success());

            assert_eq!(PeerGroupUnregisterEvent(peer_event), 0);
            assert_eq!(PeerGroupUnregisterEvent(peer_event) as u32, peerdrt_shim::hresult::E_HANDLE);
            // PeerGroupSearchRecords: a record with attributes, found by them.
            let mut tagged = *b"tagged";
            let mut with_attributes = record(RECORD_TYPE, &mut tagged, 3600);
            let attributes = wide(
                r#"<attributes><attribute name="topic" type="string">weather report</attribute><attribute name="rank" type="int">7</attribute></attributes>"#,
            );
            with_attributes.pwzAttributes = attributes.as_ptr() as *mut u16;
            let mut tagged_id = GUID::default();
            assert_eq!(PeerGroupAddRecord(group, &with_attributes, &mut tagged_id), 0);
            let search = |criteria: &str| {
                let criteria = wide(criteria);
                let mut found: HPEERENUM = std::ptr::null_mut();
                let hr = PeerGroupSearchRecords(group, criteria.as_ptr(), &mut found) as u32;
                if hr != 0 {
                    return Err(hr);
                }
                let mut count = 0u32;
                assert_eq!(PeerGetItemCount(found, &mut count), 0);
                let mut items: *mut *mut c_void = std::ptr::null_mut();
                assert_eq!(PeerGetNextItem(found, &mut count, &mut items), 0);
                let ids: Vec<GUID> =
                    (0..count as usize).map(|i| (**items.add(i).cast::<*mut PEER_RECORD>()).id).collect();
                PeerFreeData(items as *const c_void);
                assert_eq!(PeerEndEnumeration(found), 0);
                Ok(ids)
            };
            let and = r#"<peersearch><and><clause attrib="topic" type="string" compare="equal">weather*</clause><clause attrib="rank" type="int" compare="greaterorequal">7</clause></and></peersearch>"#;
            assert_eq!(search(and), Ok(vec![tagged_id]));
            let none =
                r#"<peersearch><clause attrib="rank" type="int" compare="greater">7</clause></peersearch>"#;
            assert_eq!(search(none), Ok(vec![]));
            assert_eq!(search("<peersearch></peersearch>"), Err(PEER_E_INVALID_SEARCH));
            let escape = r#"<peersearch><clause attrib="topic" type="string" compare="equal">a\b</clause></peersearch>"#;
            assert_eq!(search(escape), Err(E_INVALIDARG));
            assert_eq!(PeerGroupDeleteRecord(group, &tagged_id), 0);
            assert_eq!(PeerGroupClose(group), 0);

            // Reopened by its peer name: the creator's root was kept, so it can still invite.
            let group_name = wide(&name);
            assert_eq!(PeerGroupOpen(std::ptr::null(), group_name.as_ptr(), std::ptr::null(), &mut group), 0);
            assert_eq!(all_data(group), vec!["from-c".to_string(), "from-rust".to_string()]);
            invite(group, &joiner);
            assert_eq!(PeerGroupClose(group), 0);

            assert_eq!(PeerGroupDelete(std::ptr::null(), group_name.as_ptr()), 0);
            assert_eq!(
                PeerGroupOpen(std::ptr::null(), group_name.as_ptr(), std::ptr::null(), &mut group) as u32,
                peerdrt_shim::pnrp::PEER_E_NOT_FOUND,
                "deleted"
            );
            PeerDrtCloseEvent(event);
            assert_eq!(PeerGroupShutdown(), 0);
        }
        drop(nodes);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
