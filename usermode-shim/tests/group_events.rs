//! Group events from the device, through PeerGroupRegisterEvent / PeerGroupGetEventData, and
//! PeerGroupEnumMembers, against real daemons: every record change is its own event, in order;
//! member changes name the member; the queues' bounds behave as documented at and past their
//! edges.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::ffi::c_void;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::group::{Options, create, drain_events, invite, record, startup};
use common::{DaemonProcess, bounded, eventually, fresh_dir, narrow, use_daemon, wide};
use peerdrt_abi::group::{EVENT_QUEUE_DEPTH, GroupEventRecord, RecordFields};
use peerdrt_abi::{MAX_EVENT_LEN, Request, ioctl, status};
use peerdrt_core::group::membership::member_key;
use peerdrt_shim::device::{self, Device};
use peerdrt_shim::ffi::group::*;
use peerdrt_shim::ffi::group_members::{PeerGroupEnumConnections, PeerGroupEnumMembers};
use peerdrt_shim::ffi::pnrp::PeerFreeData;
use peerdrt_shim::ffi::sync::{PeerDrtCreateEvent, PeerDrtWaitForEvent};
use peerdrt_shim::group::client::{GroupHandle, utc_now};
use peerdrt_shim::group::events::MAX_QUEUED_EVENTS;
use peerdrt_shim::group::hresult::*;
use peerdrt_shim::group::invitation::Invitation;
use peerdrt_shim::group::membership_store::hex;
use peerdrt_shim::group::types::*;
use peerdrt_shim::pnrp::IdentityStore;

const RECORD_TYPE: GUID = GUID { Data1: 0x5eed_0001, Data2: 1, Data3: 2, Data4: [3; 8] };

unsafe fn add(group: HGROUP, data: &str) -> GUID {
    let mut bytes = data.as_bytes().to_vec();
    let mut id = GUID::default();
    assert_eq!(unsafe { PeerGroupAddRecord(group, &record(RECORD_TYPE, &mut bytes, 3600), &mut id) }, 0);
    id
}

/// An event as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Record(u32, GUID),
    Member(u32, String),
    Status(u32),
    Failed(u32),
}

/// Every event queued on a registration, until PEER_S_NO_EVENT_DATA.
unsafe fn drain(event: HPEEREVENT) -> Vec<Seen> {
    let seen = |event_type, union: *const u8| unsafe {
        Some(match event_type {
            PEER_GROUP_EVENT_RECORD_CHANGED => {
                let c = (union as *const PEER_EVENT_RECORD_CHANGE_DATA).read_unaligned();
                assert_eq!(c.dwSize as usize, size_of::<PEER_EVENT_RECORD_CHANGE_DATA>());
                assert_eq!(c.recordType, RECORD_TYPE);
                Seen::Record(c.changeType, c.recordId)
            }
            PEER_GROUP_EVENT_MEMBER_CHANGED => {
                let c = (union as *const PEER_EVENT_MEMBER_CHANGE_DATA).read_unaligned();
                assert_eq!(c.dwSize as usize, size_of::<PEER_EVENT_MEMBER_CHANGE_DATA>());
                Seen::Member(c.changeType, narrow(c.pwzIdentity))
            }
            PEER_GROUP_EVENT_STATUS_CHANGED => Seen::Status((union as *const u32).read()),
            PEER_GROUP_EVENT_CONNECTION_FAILED => Seen::Failed((union as *const u32).read()),
            other => panic!("unexpected event type {other}"),
        })
    };
    unsafe { drain_events(event, seen) }
}

unsafe fn register(group: HGROUP, types: &[u32]) -> (*mut c_void, HPEEREVENT) {
    let event = PeerDrtCreateEvent(0);
    let registrations: Vec<PEER_GROUP_EVENT_REGISTRATION> = types
        .iter()
        .map(|t| PEER_GROUP_EVENT_REGISTRATION { eventType: *t, pType: std::ptr::null_mut() })
        .collect();
    let mut peer_event: HPEEREVENT = std::ptr::null_mut();
    let hr = unsafe {
        PeerGroupRegisterEvent(
            group,
            event,
            registrations.len() as u32,
            registrations.as_ptr(),
            &mut peer_event,
        )
    };
    assert_eq!(hr, 0);
    (event, peer_event)
}

/// Waits (up to `wait`) until the registration has produced `n` events; returns them all.
unsafe fn collect(event: *mut c_void, peer_event: HPEEREVENT, n: usize, wait: Duration) -> Vec<Seen> {
    let mut seen = Vec::new();
    eventually(wait, || {
        PeerDrtWaitForEvent(event, 100);
        seen.extend(unsafe { drain(peer_event) });
        seen.len() >= n
    });
    seen
}

/// A member as PeerGroupEnumMembers returns it: identity, flags, node ID, addresses.
type MemberItem = (String, u32, u64, Vec<SocketAddr>);

unsafe fn members(group: HGROUP, flags: u32, identity: Option<&str>) -> Vec<MemberItem> {
    let identity = identity.map(wide);
    let mut e: HPEERENUM = std::ptr::null_mut();
    let filter = identity.as_ref().map_or(std::ptr::null(), |i| i.as_ptr());
    assert_eq!(unsafe { PeerGroupEnumMembers(group, flags, filter, &mut e) }, 0);
    let mut count = 0u32;
    assert_eq!(unsafe { PeerGetItemCount(e, &mut count) }, 0);
    let mut items: *mut *mut c_void = std::ptr::null_mut();
    let mut got = count + 5;
    assert_eq!(unsafe { PeerGetNextItem(e, &mut got, &mut items) }, 0);
    assert_eq!(got, count);
    let mut out = Vec::new();
    for i in 0..got as usize {
        unsafe {
            let m = (*items.add(i) as *const PEER_MEMBER).read();
            assert_eq!(m.dwSize as usize, size_of::<PEER_MEMBER>());
            assert!(m.pwzAttributes.is_null() && m.pCredentialInfo.is_null());
            let addresses = (0..m.cAddresses as usize)
                .map(|k| {
                    let a = m.pAddresses.add(k).read_unaligned();
                    assert_eq!(a.dwSize as usize, size_of::<PEER_ADDRESS>());
                    SocketAddr::new(Ipv6Addr::from(a.sin6.sin6_addr).into(), u16::from_be(a.sin6.sin6_port))
                })
                .collect();
            out.push((narrow(m.pwzIdentity), m.dwFlags, m.ullNodeId, addresses));
        }
    }
    PeerFreeData(items as *const c_void);
    assert_eq!(PeerEndEnumeration(e), 0);
    out.sort();
    out
}

/// The group's connections as PeerGroupEnumConnections returns them: flags, peer ID, address.
unsafe fn connections(group: HGROUP, flags: u32) -> Vec<(u32, String, u64, SocketAddr)> {
    let mut e: HPEERENUM = std::ptr::null_mut();
    assert_eq!(unsafe { PeerGroupEnumConnections(group, flags, &mut e) }, 0);
    let mut items: *mut *mut c_void = std::ptr::null_mut();
    let mut got = 100u32;
    assert_eq!(unsafe { PeerGetNextItem(e, &mut got, &mut items) }, 0);
    let out = (0..got as usize)
        .map(|i| unsafe {
            let c = (*items.add(i) as *const PEER_CONNECTION_INFO).read();
            assert_eq!(c.dwSize as usize, size_of::<PEER_CONNECTION_INFO>());
            assert_eq!(c.ullConnectionId, c.ullNodeId, "one connection per member");
            let a = c.address;
            let address =
                SocketAddr::new(Ipv6Addr::from(a.sin6.sin6_addr).into(), u16::from_be(a.sin6.sin6_port));
            (c.dwFlags, narrow(c.pwzPeerId), c.ullNodeId, address)
        })
        .collect();
    PeerFreeData(items as *const c_void);
    assert_eq!(PeerEndEnumeration(e), 0);
    out
}

#[test]
fn events_come_one_per_change_in_order_and_name_the_member_and_enum_members_lists_who_is_present() {
    bounded(240, || {
        let dir = fresh_dir("group-events");
        let (socket_a, socket_b) = (dir.join("a.sock"), dir.join("b.sock"));
        let node_a = DaemonProcess::start(&socket_a, Vec::new);
        let mut node_b = DaemonProcess::start(&socket_b, Vec::new);
        // SAFETY: the only test of this binary that reads or writes the environment.
        unsafe { use_daemon(&socket_a, &dir.join("identities"), Some(&dir.join("groups"))) };
        let store = IdentityStore::open_default().unwrap();
        let creator_name = store.default_identity().unwrap();
        let creator_key = hex(&member_key(&store.get(&creator_name).unwrap().key.to_bytes()));
        let member_name = store.create(Some("member"), Some("Member")).unwrap();
        let member_secret = store.get(&member_name).unwrap().key.to_bytes();
        let member_hex = hex(&member_key(&member_secret));

        unsafe {
            startup();
            let group = create("gevents", Options::default()).unwrap();

            // Two AddRecords in a row: two RECORD_CHANGED events, in order, with their IDs.
            let (records_event, records) = register(group, &[PEER_GROUP_EVENT_RECORD_CHANGED]);
            let (first, second) = (add(group, "first"), add(group, "second"));
            let seen = collect(records_event, records, 2, Duration::from_secs(10));
            assert_eq!(
                seen,
                vec![Seen::Record(PEER_RECORD_ADDED, first), Seen::Record(PEER_RECORD_ADDED, second)]
            );
            let mut again = b"first again".to_vec();
            let mut update = record(RECORD_TYPE, &mut again, 3600);
            update.id = first;
            assert_eq!(PeerGroupUpdateRecord(group, &update), 0);
            assert_eq!(PeerGroupDeleteRecord(group, &first), 0);
            let seen = collect(records_event, records, 2, Duration::from_secs(10));
            assert_eq!(
                seen,
                vec![Seen::Record(PEER_RECORD_UPDATED, first), Seen::Record(PEER_RECORD_DELETED, first)]
            );

            // Before anyone connects only the creator is listed, present.
            let alone = members(group, 0, None);
            assert_eq!(alone.len(), 1);
            assert_eq!((&alone[0].0, alone[0].1, alone[0].3.len()), (&creator_key, PEER_MEMBER_PRESENT, 0));

            // A member on node B joins and connects to the creator.
            let (members_event, member_events) = register(
                group,
                &[
                    PEER_GROUP_EVENT_MEMBER_CHANGED,
                    PEER_GROUP_EVENT_STATUS_CHANGED,
                    PEER_GROUP_EVENT_CONNECTION_FAILED,
                ],
            );
            let invitation = Invitation::decode(&invite(group, &member_name)).unwrap();
            let hint = invitation
                .hints
                .iter()
                .filter_map(|h| h.parse::<SocketAddr>().ok())
                .find(|a| a.ip().is_loopback())
                .expect("a loopback hint");
            let loopback = match hint.ip() {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            let device_b = Device::connect(&socket_b).unwrap();
            let joined = GroupHandle::join(&device_b, &member_secret, &invitation.certificate).unwrap();
            joined.connect(loopback, hint.port()).unwrap();
            let connected = collect(members_event, member_events, 3, Duration::from_secs(10));
            assert_eq!(
                connected,
                vec![
                    Seen::Member(PEER_MEMBER_JOINED, member_hex.clone()),
                    Seen::Member(PEER_MEMBER_CONNECTED, member_hex.clone()),
                    Seen::Status(PEER_GROUP_STATUS_LISTENING | PEER_GROUP_STATUS_HAS_CONNECTIONS),
                ]
            );

            let present = members(group, PEER_MEMBER_PRESENT, None);
            assert_eq!(present.len(), 2, "{present:?}");
            let joiner = present.iter().find(|m| m.0 == member_hex).expect("the member is listed");
            assert_eq!(joiner.1, PEER_MEMBER_PRESENT);
            assert_eq!(joiner.3.len(), 1, "its group socket");
            assert_eq!(joiner.3[0].port(), joined.port);
            assert_ne!(joiner.2, 0, "a present member has a node ID");
            assert_eq!(members(group, 0, Some(&member_hex)), vec![joiner.clone()], "the identity filter");
            assert_eq!(members(group, 0, Some(&member_name)), vec![joiner.clone()], "by identity name too");
            assert_eq!(
                connections(group, PEER_CONNECTION_NEIGHBOR),
                vec![(PEER_CONNECTION_NEIGHBOR, member_hex.clone(), joiner.2, joiner.3[0])],
                "one neighbor connection: the member's"
            );
            assert_eq!(connections(group, PEER_CONNECTION_DIRECT), vec![], "no direct connections exist");
            assert_eq!(PeerGroupEnumConnections(group, 0, &mut std::ptr::null_mut()) as u32, E_INVALIDARG);

            // Node B dies. The creator's next record is not acknowledged; once its
            // retransmissions run out the member is disconnected.
            node_b.kill();
            add(group, "after the member died");
            let gone = collect(members_event, member_events, 2, Duration::from_secs(15));
            assert_eq!(
                gone,
                vec![
                    Seen::Member(PEER_MEMBER_DISCONNECTED, member_hex.clone()),
                    Seen::Status(PEER_GROUP_STATUS_LISTENING),
                ]
            );
            let all = members(group, 0, None);
            assert_eq!(all.len(), 2);
            let known = all.iter().find(|m| m.0 == member_hex).unwrap();
            assert_eq!((known.1, known.2, known.3.len()), (0, 0, 0), "known, no longer present");
            assert_eq!(members(group, PEER_MEMBER_PRESENT, None).len(), 1);
            assert_eq!(connections(group, PEER_CONNECTION_NEIGHBOR), vec![]);
            let mut unused: HPEERENUM = std::ptr::null_mut();
            assert_eq!(PeerGroupEnumMembers(group, 4, std::ptr::null(), &mut unused) as u32, E_INVALIDARG);

            // A registration left undrained holds MAX_QUEUED_EVENTS: the oldest ones, none
            // missing among them; newer ones are dropped until the application makes room.
            // A second registration, drained as records are added, shows when the hub has
            // handed every event out.
            assert_eq!(PeerGroupUnregisterEvent(records), 0);
            let (_, progress) = register(group, &[PEER_GROUP_EVENT_RECORD_CHANGED]);
            let (_, overflow) = register(group, &[PEER_GROUP_EVENT_RECORD_CHANGED]);
            let mut delivered = 0;
            let mut ids = Vec::new();
            for n in 0..MAX_QUEUED_EVENTS + 2 {
                ids.push(add(group, &format!("r{n}")));
                if n % 64 == 0 {
                    delivered += drain(progress).len();
                }
            }
            assert!(eventually(Duration::from_secs(20), || {
                delivered += drain(progress).len();
                delivered == ids.len()
            }));
            let kept = drain(overflow);
            let expected: Vec<Seen> =
                ids[..MAX_QUEUED_EVENTS].iter().map(|id| Seen::Record(PEER_RECORD_ADDED, *id)).collect();
            assert_eq!(kept.len(), MAX_QUEUED_EVENTS, "at the limit, every event; past it, none");
            assert_eq!(kept, expected);
            let after = add(group, "room again");
            assert!(eventually(Duration::from_secs(10), || {
                drain(overflow) == vec![Seen::Record(PEER_RECORD_ADDED, after)]
            }));

            assert_eq!(PeerGroupClose(group), 0);
            assert_eq!(PeerGroupShutdown(), 0);
        }
        drop(node_a);
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// One WAIT_EVENT on `device`; `None` if nothing arrives within `wait`.
fn wait_event(device: &Device, wait: Duration) -> Option<Vec<u8>> {
    let input = device::encode(&Request::WaitEvent).unwrap();
    let pending = device.submit(ioctl::WAIT_EVENT, &input, MAX_EVENT_LEN).unwrap();
    let reply = pending.wait_timeout(wait).unwrap()?;
    assert_eq!(reply.status, status::SUCCESS);
    Some(reply.output)
}

#[test]
fn the_device_queue_keeps_its_oldest_events_and_counts_the_rest_at_and_past_its_depth() {
    bounded(240, || {
        let dir = fresh_dir("group-event-queue");
        let socket = dir.join("c.sock");
        let node = DaemonProcess::start(&socket, Vec::new);
        let device = Device::connect(&socket).unwrap();
        let group = GroupHandle::create(&device, &[7; 32], &[8; 32], 3600).unwrap();
        group.watch_events(true).unwrap();
        let add = |n: usize| {
            let data = format!("q{n}");
            let fields = RecordFields {
                record_type: [4; 16],
                expiration: utc_now() + 3600 * 10_000_000,
                flags: 0,
                attributes: b"",
                data: data.as_bytes(),
            };
            group.add(fields).unwrap()
        };
        // Nobody reads: DEPTH - 1 events fit; the two after them are counted in the last place.
        let depth = EVENT_QUEUE_DEPTH;
        let ids: Vec<[u8; 16]> = (0..depth + 1).map(add).collect();
        for (n, id) in ids[..depth - 1].iter().enumerate() {
            let bytes = wait_event(&device, Duration::from_secs(5)).expect("a queued event");
            match GroupEventRecord::decode(&bytes) {
                Ok(GroupEventRecord::RecordChanged { group: g, change: 1, id: got, .. }) => {
                    assert_eq!((g, got), (group.handle, id), "event {n} in order")
                }
                other => panic!("event {n}: {other:?}"),
            }
        }
        let last = wait_event(&device, Duration::from_secs(5)).expect("the dropped count");
        assert_eq!(
            GroupEventRecord::decode(&last),
            Ok(GroupEventRecord::EventsDropped { group: 0, count: 2 })
        );
        let next = add(depth + 1);
        let bytes = wait_event(&device, Duration::from_secs(5)).expect("room again");
        assert!(
            matches!(GroupEventRecord::decode(&bytes), Ok(GroupEventRecord::RecordChanged { id, .. }) if *id == next)
        );
        group.watch_events(false).unwrap();
        add(depth + 2);
        assert_eq!(wait_event(&device, Duration::from_millis(500)), None, "unwatched: nothing queued");
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
    });
}
