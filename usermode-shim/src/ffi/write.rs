//! Filling the caller's single-block buffers: DRT_EVENT_DATA, DRT_SEARCH_RESULT and
//! DRT_ADDRESS_LIST, with every pointer pointing into the same buffer after the struct.

use std::ffi::c_void;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};

use super::types::*;
use crate::drt::{Event, LeafSetChange, SearchResult, Status};
use crate::hresult::{DRT_E_FAULTED, S_OK};

const KEY: usize = 32;

/// A SOCKADDR_STORAGE holding `addr` as a sockaddr_in6 (IPv4 as IPv4-mapped).
pub(crate) fn sockaddr_storage(addr: &SocketAddr) -> SOCKADDR_STORAGE {
    let v6 = match addr.ip() {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    let sin6 = SOCKADDR_IN6 {
        sin6_family: AF_INET6,
        sin6_port: addr.port().to_be(),
        sin6_flowinfo: 0,
        sin6_addr: v6.octets(),
        sin6_scope_id: match addr {
            SocketAddr::V6(a) => a.scope_id(),
            SocketAddr::V4(_) => 0,
        },
    };
    let mut ss = SOCKADDR_STORAGE { ss_family: 0, __ss_pad1: [0; 6], __ss_align: 0, __ss_pad2: [0; 112] };
    // SAFETY: a 28-byte sockaddr_in6 into the 128-byte storage.
    unsafe { std::ptr::write_unaligned(&mut ss as *mut SOCKADDR_STORAGE as *mut SOCKADDR_IN6, sin6) };
    ss
}

/// Bytes DrtGetEventData needs for `event`.
pub(crate) fn event_size(event: &Event) -> usize {
    size_of::<DRT_EVENT_DATA>()
        + match event {
            Event::StatusChanged { bootstrap, .. } => bootstrap.len() * size_of::<SOCKADDR_STORAGE>(),
            Event::LeafSetKeyChanged { .. } => 2 * KEY,
            Event::RegistrationStateChanged { .. } => KEY,
        }
}

fn data(cb: usize, pb: *mut u8) -> DRT_DATA {
    DRT_DATA { cb: cb as u32, pb }
}

/// Writes `event` into `buf` (at least [`event_size`] bytes).
///
/// # Safety
/// `buf` must be valid for writes of `event_size(event)` bytes.
pub(crate) unsafe fn write_event(buf: *mut u8, event: &Event, context: usize) {
    let tail = unsafe { buf.add(size_of::<DRT_EVENT_DATA>()) };
    let (kind, hr, u) = match event {
        Event::StatusChanged { status, bootstrap } => {
            for (i, a) in bootstrap.iter().enumerate() {
                let p = unsafe { tail.add(i * size_of::<SOCKADDR_STORAGE>()) } as *mut SOCKADDR_STORAGE;
                unsafe { p.write_unaligned(sockaddr_storage(a)) };
            }
            let hr = if *status == Status::Faulted { DRT_E_FAULTED } else { S_OK };
            let u = DRT_EVENT_DATA_0 {
                statusChange: DRT_STATUS_CHANGE {
                    status: status.raw(),
                    bootstrapAddresses: DRT_BOOTSTRAP_ADDRESSES {
                        cntAddress: bootstrap.len() as u32,
                        pAddresses: if bootstrap.is_empty() { std::ptr::null_mut() } else { tail.cast() },
                    },
                },
            };
            (DRT_EVENT_STATUS_CHANGED, hr, u)
        }
        Event::LeafSetKeyChanged { change, local_key, remote_key } => {
            let local = tail;
            let remote = unsafe { tail.add(KEY) };
            unsafe {
                std::ptr::copy_nonoverlapping(local_key.to_drt_data().as_ptr(), local, KEY);
                std::ptr::copy_nonoverlapping(remote_key.to_drt_data().as_ptr(), remote, KEY);
            }
            let u = DRT_EVENT_DATA_0 {
                leafsetKeyChange: DRT_LEAFSET_KEY_CHANGE {
                    change: match change {
                        LeafSetChange::Added => 0,
                        LeafSetChange::Deleted => 1,
                    },
                    localKey: data(KEY, local),
                    remoteKey: data(KEY, remote),
                },
            };
            (DRT_EVENT_LEAFSET_KEY_CHANGED, S_OK, u)
        }
        Event::RegistrationStateChanged { state, key, .. } => {
            unsafe { std::ptr::copy_nonoverlapping(key.to_drt_data().as_ptr(), tail, KEY) };
            let u = DRT_EVENT_DATA_0 {
                registrationStateChange: DRT_REGISTRATION_STATE_CHANGE {
                    state: *state,
                    localKey: data(KEY, tail),
                },
            };
            (DRT_EVENT_REGISTRATION_STATE_CHANGED, S_OK, u)
        }
    };
    let header = DRT_EVENT_DATA { r#type: kind, hr: hr as HRESULT, pvContext: context as *mut c_void, u };
    unsafe { (buf as *mut DRT_EVENT_DATA).write_unaligned(header) };
}

/// Bytes DrtGetSearchResult needs for `result`.
pub(crate) fn result_size(result: &SearchResult) -> usize {
    size_of::<DRT_SEARCH_RESULT>() + KEY + result.app_data.len()
}

/// Writes `result` into `buf` (at least [`result_size`] bytes).
///
/// # Safety
/// `buf` must be valid for writes of `result_size(result)` bytes.
pub(crate) unsafe fn write_result(buf: *mut u8, result: &SearchResult, context: usize) {
    let key = unsafe { buf.add(size_of::<DRT_SEARCH_RESULT>()) };
    let app = unsafe { key.add(KEY) };
    unsafe {
        std::ptr::copy_nonoverlapping(result.key.to_drt_data().as_ptr(), key, KEY);
        std::ptr::copy_nonoverlapping(result.app_data.as_ptr(), app, result.app_data.len());
    }
    let header = DRT_SEARCH_RESULT {
        dwSize: size_of::<DRT_SEARCH_RESULT>() as u32,
        r#type: result.match_type.raw(),
        pvContext: context as *mut c_void,
        registration: DRT_REGISTRATION {
            key: data(KEY, key),
            appData: data(
                result.app_data.len(),
                if result.app_data.is_empty() { std::ptr::null_mut() } else { app },
            ),
        },
    };
    unsafe { (buf as *mut DRT_SEARCH_RESULT).write_unaligned(header) };
}

/// Writes a DRT_ADDRESS_LIST of `entries` into `buf` (at least `address_list_size(n)` bytes).
///
/// # Safety
/// `buf` must be valid for writes of `address_list_size(entries.len())` bytes.
pub(crate) unsafe fn write_address_list(buf: *mut u8, entries: &[crate::drt::PathEntry]) {
    unsafe { std::ptr::write_bytes(buf, 0, address_list_size(entries.len())) };
    unsafe { (buf as *mut u32).write_unaligned(entries.len() as u32) };
    let first = unsafe { buf.add(std::mem::offset_of!(DRT_ADDRESS_LIST, AddressList)) } as *mut DRT_ADDRESS;
    for (i, e) in entries.iter().enumerate() {
        let a = DRT_ADDRESS {
            socketAddress: sockaddr_storage(&e.address),
            flags: e.flags,
            nearness: e.nearness as i32,
            latency: e.latency_ms,
        };
        unsafe { first.add(i).write_unaligned(a) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drt::MatchType;
    use crate::key::Key;

    #[repr(C, align(8))]
    struct Buf([u8; 1024]);

    #[test]
    fn events_point_into_their_own_buffer_with_drt_byte_order() {
        let mut b = Buf([0xAA; 1024]);
        let e = Event::LeafSetKeyChanged {
            change: LeafSetChange::Deleted,
            local_key: Key::from_u64(1),
            remote_key: Key::from_u64(0x0203),
        };
        assert_eq!(event_size(&e), 56 + 64);
        unsafe { write_event(b.0.as_mut_ptr(), &e, 0x1234) };
        let d = unsafe { &*(b.0.as_ptr() as *const DRT_EVENT_DATA) };
        assert_eq!(d.r#type, DRT_EVENT_LEAFSET_KEY_CHANGED);
        assert_eq!(d.hr, 0);
        assert_eq!(d.pvContext as usize, 0x1234);
        let l = unsafe { d.u.leafsetKeyChange };
        assert_eq!(l.change, 1);
        assert_eq!(l.localKey.cb, 32);
        assert_eq!(l.localKey.pb as usize, b.0.as_ptr() as usize + 56);
        assert_eq!(l.remoteKey.pb as usize, b.0.as_ptr() as usize + 88);
        let local = unsafe { std::slice::from_raw_parts(l.localKey.pb, 32) };
        assert_eq!(local[0], 1, "least-significant byte first");
        let remote = unsafe { std::slice::from_raw_parts(l.remoteKey.pb, 32) };
        assert_eq!(&remote[..2], &[0x03, 0x02]);

        let s = Event::StatusChanged {
            status: Status::Alone,
            bootstrap: vec!["127.0.0.1:4000".parse().unwrap(), "[::1]:4001".parse().unwrap()],
        };
        assert_eq!(event_size(&s), 56 + 256);
        unsafe { write_event(b.0.as_mut_ptr(), &s, 0) };
        let d = unsafe { &*(b.0.as_ptr() as *const DRT_EVENT_DATA) };
        let sc = unsafe { d.u.statusChange };
        assert_eq!(sc.status, 1);
        assert_eq!(sc.bootstrapAddresses.cntAddress, 2);
        let sin6 = unsafe { &*(sc.bootstrapAddresses.pAddresses as *const SOCKADDR_IN6) };
        assert_eq!(sin6.sin6_family, AF_INET6);
        assert_eq!(u16::from_be(sin6.sin6_port), 4000);
        assert_eq!(sin6.sin6_addr[10..], [0xff, 0xff, 127, 0, 0, 1]);
    }

    #[test]
    fn search_results_and_paths_fill_one_block() {
        let mut b = Buf([0; 1024]);
        let r = SearchResult {
            match_type: MatchType::Near,
            key: Key::from_u64(0xABCD),
            app_data: b"hello".to_vec(),
            endpoint: "127.0.0.1:1".parse().unwrap(),
        };
        assert_eq!(result_size(&r), 48 + 32 + 5);
        unsafe { write_result(b.0.as_mut_ptr(), &r, 7) };
        let d = unsafe { &*(b.0.as_ptr() as *const DRT_SEARCH_RESULT) };
        assert_eq!((d.dwSize, d.r#type, d.pvContext as usize), (48, 1, 7));
        let key = unsafe { std::slice::from_raw_parts(d.registration.key.pb, 32) };
        assert_eq!(&key[..2], &[0xCD, 0xAB]);
        let app = unsafe { std::slice::from_raw_parts(d.registration.appData.pb, 5) };
        assert_eq!(app, b"hello");
        assert_eq!(d.registration.appData.pb as usize, b.0.as_ptr() as usize + 80);

        let entries = [
            crate::drt::PathEntry {
                address: "[::1]:5000".parse().unwrap(),
                flags: 1,
                nearness: 7,
                latency_ms: 3,
            },
            crate::drt::PathEntry {
                address: "10.0.0.1:5001".parse().unwrap(),
                flags: 4,
                nearness: 9,
                latency_ms: 0,
            },
        ];
        unsafe { write_address_list(b.0.as_mut_ptr(), &entries) };
        let l = unsafe { &*(b.0.as_ptr() as *const DRT_ADDRESS_LIST) };
        assert_eq!(l.AddressCount, 2);
        let second = unsafe { &*(l.AddressList.as_ptr().add(1)) };
        assert_eq!((second.flags, second.nearness, second.latency), (4, 9, 0));
        let sin6 = unsafe { &*(&second.socketAddress as *const SOCKADDR_STORAGE as *const SOCKADDR_IN6) };
        assert_eq!(u16::from_be(sin6.sin6_port), 5001);
    }
}
