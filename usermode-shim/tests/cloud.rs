//! The shim across processes, against real daemons on loopback: process A
//! (`peerdrt demo-register`) registers through the shim on one node; this test process (B)
//! searches through another node.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::time::Duration;

use common::*;
use peerdrt_shim::abi::{Request, status};
use peerdrt_shim::device::Device;
use peerdrt_shim::drt::{MatchType, SearchInfo};
use peerdrt_shim::hresult::E_HANDLE;
use peerdrt_shim::{Key, ffi};

const PATIENCE: Duration = Duration::from_secs(15);

#[test]
fn a_key_registered_in_one_process_is_found_updated_and_removed_from_another() {
    bounded(120, || {
        let cloud = Cloud::start(4);
        let (k1, k2) = (random_key(), random_key());
        let mut a = Registrar::spawn(&cloud, 1, &[(k1, "first"), (k2, "second")]);
        let b = cloud.open(3);

        // Exact: the key, its data, and the publishing instance (A's).
        let mut exact = None;
        assert!(
            eventually(PATIENCE, || {
                let s = b.search(&k1, &SearchInfo::exact(), Duration::from_secs(5)).unwrap();
                exact = s.results().filter_map(Result::ok).next();
                exact.is_some()
            }),
            "B never found A's key"
        );
        let r = exact.unwrap();
        assert_eq!((r.key, r.match_type, r.app_data.as_slice()), (k1, MatchType::Exact, &b"first"[..]));
        assert_eq!(r.endpoint.port(), a.port(), "published by A's instance");

        // Nearest: the three keys nearest k1 include k1.
        let s = b.search(&k1, &SearchInfo::nearest(3), Duration::from_secs(5)).unwrap();
        let near: Vec<_> = s.results().filter_map(Result::ok).collect();
        assert!(near.len() <= 3 && near.iter().any(|r| r.key == k1 && r.app_data == b"first"), "{near:?}");
        let path = s.path().unwrap();
        assert!(!path.is_empty(), "a search path");

        // Range: a narrow range around k1 holds only k1.
        let mut delta = Key::MIN;
        delta.0[6] = 1;
        let lo = Key(sub(&k1.0, &delta.0));
        let hi = Key(add(&k1.0, &delta.0));
        let s = b.search(&k1, &SearchInfo::range(lo, hi, 2), Duration::from_secs(5)).unwrap();
        let ranged: Vec<_> = s.results().filter_map(Result::ok).collect();
        assert_eq!(ranged.iter().map(|r| r.key).collect::<Vec<_>>(), vec![k1]);

        // Updated application data is what B sees next.
        assert_eq!(a.command(&format!("update {} second-version", k1.to_hex()))["ok"], true);
        assert!(
            eventually(PATIENCE, || find(&b, &k1).as_deref() == Some(&b"second-version"[..])),
            "B never saw the updated data"
        );

        // Unregistered: gone, while the other key stays.
        assert_eq!(a.command(&format!("unregister {}", k1.to_hex()))["ok"], true);
        assert!(eventually(PATIENCE, || find(&b, &k1).is_none()), "k1 still found after DrtUnregisterKey");
        assert_eq!(find(&b, &k2).as_deref(), Some(&b"second"[..]));

        // A dies without unregistering: its open closes and the device revokes its keys.
        a.child.kill().unwrap();
        a.child.wait().unwrap();
        assert!(eventually(PATIENCE, || find(&b, &k2).is_none()), "k2 still found after A exited");
        b.close();
    });
}

fn add(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let v = a[i] as u16 + b[i] as u16 + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    if carry != 0 { [0xFF; 32] } else { out }
}

fn sub(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let v = a[i] as i16 - b[i] as i16 - borrow;
        out[i] = v.rem_euclid(256) as u8;
        borrow = i16::from(v < 0);
    }
    if borrow != 0 { [0; 32] } else { out }
}

#[test]
fn handles_of_one_process_mean_nothing_in_another() {
    bounded(90, || {
        let cloud = Cloud::start(3);
        let k = random_key();
        let a = Registrar::spawn(&cloud, 1, &[(k, "mine")]);
        let (reg, inst, search) = (a.registration_handle(0), a.instance_handle(), a.held_search());

        // B on the same node (same daemon), replaying A's raw device handles on its own open.
        let dev = Device::connect(&cloud.nodes[1].socket).unwrap();
        let hr = |r: &Request<'_>| status::to_hresult(dev.request(r, 64).unwrap().0);
        assert_eq!(hr(&Request::UpdateKey { registration: reg, app_data: b"stolen" }), E_HANDLE);
        assert_eq!(hr(&Request::UnregisterKey { registration: reg }), E_HANDLE);
        assert_eq!(hr(&Request::EndSearch { search }), E_HANDLE);
        assert_eq!(hr(&Request::ContinueSearch { search }), E_HANDLE);
        assert_eq!(hr(&Request::GetSearchPath { search }), E_HANDLE);
        assert_eq!(hr(&Request::QueryInstance { instance: inst }), E_HANDLE);
        assert_eq!(hr(&Request::CloseInstance { instance: inst }), E_HANDLE);
        // ...also through an instance of its own on that node.
        let b = cloud.open(1);
        let own = |r: &Request<'_>| status::to_hresult(b.device().request(r, 64).unwrap().0);
        assert_eq!(own(&Request::UpdateKey { registration: reg, app_data: b"stolen" }), E_HANDLE);
        assert_eq!(own(&Request::UnregisterKey { registration: reg }), E_HANDLE);
        assert_eq!(own(&Request::EndSearch { search }), E_HANDLE);

        // And through the C API, with the raw values as handles.
        let data = ffi::types::DRT_DATA { cb: 6, pb: b"stolen".as_ptr() as *mut u8 };
        unsafe {
            assert_eq!(ffi::api::DrtUpdateKey(reg as usize as *mut _, &data) as u32, E_HANDLE);
            assert_eq!(ffi::api::DrtEndSearch(search as usize as *mut _) as u32, E_HANDLE);
        }
        ffi::api::DrtUnregisterKey(reg as usize as *mut _);
        ffi::api::DrtClose(inst as usize as *mut _);

        // A's key is untouched.
        let c = cloud.open(2);
        assert!(
            eventually(PATIENCE, || find(&c, &k).as_deref() == Some(&b"mine"[..])),
            "A's key was disturbed"
        );
        drop(a);
    });
}

#[test]
fn a_search_that_cannot_finish_in_time_ends_with_drt_e_timeout() {
    bounded(60, || unsafe {
        let mut cloud = Cloud::start(4);
        let k = random_key();
        let _a = Registrar::spawn(&cloud, 3, &[(k, "soon unreachable")]);
        let b = cloud.open(1);
        assert!(eventually(PATIENCE, || find(&b, &k).is_some()));
        // The publisher's node dies without a word: its key stays in the others' caches, and a
        // search keeps waiting for answers that never come.
        cloud.kill(3);

        let s = b.search(&k, &SearchInfo::exact(), Duration::from_millis(200)).unwrap();
        let r: Vec<_> = s.results().collect();
        assert_eq!(r, vec![Err(peerdrt_shim::Error(peerdrt_shim::hresult::DRT_E_TIMEOUT))]);

        // The same through the C API: the event is set when the search ends, and
        // DrtGetSearchResultSize reports how.
        use ffi::api::*;
        use ffi::types::*;
        let ev = ffi::sync::PeerDrtCreateEvent(1);
        // The only test of this file that reads $PEERDRT_SOCKET.
        std::env::set_var("PEERDRT_SOCKET", &cloud.nodes[1].socket);
        let mut port = 0u16;
        let mut t = std::ptr::null_mut();
        let mut sp = std::ptr::null_mut();
        let mut bp = std::ptr::null_mut();
        let host: Vec<u16> = "127.0.0.1\0".encode_utf16().collect();
        assert_eq!(ffi::providers::DrtCreateIpv6UdpTransport(1, 0, 0, &mut port, &mut t), 0);
        assert_eq!(ffi::providers::DrtCreateNullSecurityProvider(&mut sp), 0);
        assert_eq!(
            ffi::providers::DrtCreateDnsBootstrapResolver(cloud.nodes[1].port, host.as_ptr(), &mut bp),
            0
        );
        let s = DRT_SETTINGS {
            dwSize: 56,
            cbKey: 32,
            bProtocolMajorVersion: 6,
            bProtocolMinorVersion: 101,
            ulMaxRoutingAddresses: 4,
            pwzDrtInstancePrefix: std::ptr::null_mut(),
            hTransport: t,
            pSecurityProvider: sp,
            pBootstrapProvider: bp,
            eSecurityMode: 0,
        };
        let mut h = std::ptr::null_mut();
        assert_eq!(DrtOpen(&s, std::ptr::null_mut(), std::ptr::null(), &mut h), 0);
        let kb = k.to_drt_data();
        let key = DRT_DATA { cb: 32, pb: kb.as_ptr() as *mut u8 };
        let mut outcome = 0;
        for _ in 0..20 {
            let mut sh = std::ptr::null_mut();
            assert_eq!(DrtStartSearch(h, &key, std::ptr::null(), 200, ev, std::ptr::null(), &mut sh), 0);
            assert_eq!(ffi::sync::PeerDrtWaitForEvent(ev, 5000), WAIT_OBJECT_0);
            let mut n = 0u32;
            outcome = DrtGetSearchResultSize(sh, &mut n) as u32;
            assert_eq!(DrtEndSearch(sh), 0);
            ffi::sync::PeerDrtResetEvent(ev);
            if outcome == peerdrt_shim::hresult::DRT_E_TIMEOUT {
                break;
            }
            // The new instance may not know the dead node yet: then the search completes.
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(outcome, peerdrt_shim::hresult::DRT_E_TIMEOUT);
        DrtClose(h);
        ffi::sync::PeerDrtCloseEvent(ev);
    });
}

#[test]
fn an_instance_whose_node_dies_is_faulted() {
    bounded(60, || {
        let mut cloud = Cloud::start(3);
        let d = cloud.open(2);
        let k = random_key();
        let r = d.register(&k, b"x").unwrap();
        cloud.kill(2);
        let faulted = eventually(PATIENCE, || {
            matches!(
                d.next_event(Duration::from_millis(100)),
                Some(peerdrt_shim::drt::Event::StatusChanged {
                    status: peerdrt_shim::drt::Status::Faulted,
                    ..
                })
            )
        });
        assert!(faulted, "no DRT_FAULTED event");
        assert_eq!(d.status(), Some(peerdrt_shim::drt::Status::Faulted));
        let fault = peerdrt_shim::Error(peerdrt_shim::hresult::DRT_E_FAULTED);
        assert_eq!(d.register(&random_key(), b"y").unwrap_err(), fault);
        assert_eq!(r.update(b"z"), Err(fault));
        assert_eq!(d.search(&k, &SearchInfo::exact(), Duration::from_secs(1)).unwrap_err(), fault);
        d.close();
    });
}
