//! The exported C functions, called in-process against a real daemon: DrtOpen's provider
//! checks, DrtStartSearch's argument checks with their exact HRESULTs, event objects signalled
//! by the DRT, the Size/Get buffer protocol, handles after DrtClose.
//!
//! DrtOpen finds the device through $PEERDRT_SOCKET, so this file holds one test that sets it.
#![cfg(unix)] // the nodes are Linux daemons

mod common;

use std::ffi::c_void;
use std::mem::size_of;
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use peerdrt_shim::Key;
use peerdrt_shim::ffi::api::*;
use peerdrt_shim::ffi::providers::*;
use peerdrt_shim::ffi::sync::*;
use peerdrt_shim::ffi::types::*;
use peerdrt_shim::hresult::*;

fn hr(v: u32) -> HRESULT {
    v as HRESULT
}

struct Providers {
    transport: HDRT_TRANSPORT,
    security: *mut DRT_SECURITY_PROVIDER,
    bootstrap: *mut DRT_BOOTSTRAP_PROVIDER,
}

fn providers(seed_port: u16) -> Providers {
    let mut port = 0u16;
    let mut p = Providers { transport: null_mut(), security: null_mut(), bootstrap: null_mut() };
    let host: Vec<u16> = "127.0.0.1\0".encode_utf16().collect();
    unsafe {
        assert_eq!(DrtCreateIpv6UdpTransport(DRT_GLOBAL_SCOPE, 0, 300, &mut port, &mut p.transport), 0);
        assert_eq!(DrtCreateNullSecurityProvider(&mut p.security), 0);
        assert_eq!(DrtCreateDnsBootstrapResolver(seed_port, host.as_ptr(), &mut p.bootstrap), 0);
    }
    p
}

fn settings(p: &Providers) -> DRT_SETTINGS {
    DRT_SETTINGS {
        dwSize: size_of::<DRT_SETTINGS>() as u32,
        cbKey: 32,
        bProtocolMajorVersion: 6,
        bProtocolMinorVersion: 101,
        ulMaxRoutingAddresses: 4,
        pwzDrtInstancePrefix: null_mut(),
        hTransport: p.transport,
        pSecurityProvider: p.security,
        pBootstrapProvider: p.bootstrap,
        eSecurityMode: 0,
    }
}

static CALLBACKS: AtomicUsize = AtomicUsize::new(0);
unsafe extern "C" fn on_event(_: *mut c_void) {
    CALLBACKS.fetch_add(1, Ordering::SeqCst);
}

fn data(bytes: &[u8]) -> DRT_DATA {
    DRT_DATA { cb: bytes.len() as u32, pb: bytes.as_ptr() as *mut u8 }
}

#[test]
fn the_c_api_against_a_daemon() {
    bounded(120, || unsafe {
        let cloud = Cloud::start(3);
        let remote = random_key();
        let _a = Registrar::spawn(&cloud, 1, &[(remote, "remote")]);

        // No device at $PEERDRT_SOCKET: DrtOpen says so, and releases the providers.
        std::env::set_var("PEERDRT_SOCKET", cloud.dir.join("nothing-here.sock"));
        let p = providers(cloud.nodes[0].port);
        let s = settings(&p);
        let mut h: HDRT = null_mut();
        assert_eq!(DrtOpen(&s, null_mut(), null(), &mut h), hr(E_SERVICE_NOT_ACTIVE));
        assert_eq!(DrtOpen(&s, null_mut(), null(), &mut h), hr(E_SERVICE_NOT_ACTIVE), "not *_IN_USE");

        // The real device, with an auto-reset event whose callback counts signals.
        std::env::set_var("PEERDRT_SOCKET", &cloud.nodes[0].socket);
        let open_event = PeerDrtCreateEvent(0);
        assert_eq!(PeerDrtSetEventCallback(open_event, Some(on_event), null_mut()), 1);
        assert_eq!(DrtOpen(&s, 0x1230 as HANDLE, null(), &mut h), hr(E_HANDLE), "not an event handle");
        assert_eq!(DrtOpen(&s, open_event, 0x99 as *const c_void, &mut h), 0);
        assert!(
            eventually(std::time::Duration::from_secs(10), || CALLBACKS.load(Ordering::SeqCst) > 0),
            "no event"
        );
        let mut size = 0u32;
        assert_eq!(DrtGetEventDataSize(h, &mut size), 0);
        let mut buf = vec![0u64; 64];
        assert_eq!(DrtGetEventData(h, size - 1, buf.as_mut_ptr().cast()), hr(DRT_E_INSUFFICIENT_BUFFER));
        assert_eq!(DrtGetEventData(h, size, buf.as_mut_ptr().cast()), 0);
        let e = &*(buf.as_ptr() as *const DRT_EVENT_DATA);
        assert_eq!((e.r#type, e.pvContext as usize), (DRT_EVENT_STATUS_CHANGED, 0x99));
        assert!([0, 1].contains(&e.u.statusChange.status), "ACTIVE or ALONE");

        // Every provider is attached to that DRT now.
        let q = providers(cloud.nodes[0].port);
        let mut h2: HDRT = null_mut();
        let mut s2 = settings(&q);
        s2.hTransport = p.transport;
        assert_eq!(DrtOpen(&s2, null_mut(), null(), &mut h2), hr(DRT_E_TRANSPORTPROVIDER_IN_USE));
        s2.hTransport = q.transport;
        s2.pSecurityProvider = p.security;
        assert_eq!(DrtOpen(&s2, null_mut(), null(), &mut h2), hr(DRT_E_SECURITYPROVIDER_IN_USE));
        s2.pSecurityProvider = q.security;
        s2.pBootstrapProvider = p.bootstrap;
        assert_eq!(DrtOpen(&s2, null_mut(), null(), &mut h2), hr(DRT_E_BOOTSTRAPPROVIDER_IN_USE));
        assert_eq!(DrtDeleteIpv6UdpTransport(p.transport), hr(DRT_E_TRANSPORT_STILL_BOUND));
        let mut bound = 0u16;
        assert_eq!(PeerDrtGetTransportPort(p.transport, &mut bound), 0);
        assert_ne!(bound, 0);

        // DrtStartSearch's checks, in order.
        let ev = PeerDrtCreateEvent(1);
        let kb = remote.to_drt_data();
        let key = data(&kb);
        let short = data(&kb[..31]);
        let mut sh: HDRT_SEARCH_CONTEXT = null_mut();
        let mut info = DRT_SEARCH_INFO {
            dwSize: size_of::<DRT_SEARCH_INFO>() as u32,
            fIterative: 0,
            fAllowCurrentInstanceMatch: 0,
            fAnyMatchInRange: 0,
            cMaxEndpoints: 1,
            pMaximumKey: null_mut(),
            pMinimumKey: null_mut(),
        };
        let start =
            |k: *const DRT_DATA, i: *const DRT_SEARCH_INFO, e: HANDLE, out: *mut HDRT_SEARCH_CONTEXT| {
                DrtStartSearch(h, k, i, 5000, e, null(), out)
            };
        assert_eq!(DrtStartSearch(0x40 as HDRT, &key, null(), 5000, ev, null(), &mut sh), hr(E_HANDLE));
        assert_eq!(start(null(), null(), ev, &mut sh), hr(E_INVALIDARG));
        assert_eq!(start(&short, null(), ev, &mut sh), hr(DRT_E_INVALID_KEY_SIZE));
        assert_eq!(start(&key, null(), ev, null_mut()), hr(E_INVALIDARG));
        assert_eq!(start(&key, null(), null_mut(), &mut sh), hr(E_INVALIDARG));
        info.dwSize -= 8;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_SEARCH_INFO));
        info.dwSize += 8;
        info.cMaxEndpoints = 0;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_MAX_ENDPOINTS));
        info.cMaxEndpoints = 2;
        info.fAnyMatchInRange = 1;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_MAX_ENDPOINTS));
        info.fAnyMatchInRange = 0;
        info.fIterative = 1;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_MAX_ENDPOINTS));
        info.fIterative = 0;
        let (lo_b, hi_b) = (Key::MIN.to_drt_data(), Key::MAX.to_drt_data());
        let (mut lo, mut hi) = (data(&lo_b), data(&hi_b));
        info.pMinimumKey = &mut lo;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(E_INVALIDARG), "only one of the range keys");
        let mut short_lo = data(&lo_b[..16]);
        info.pMinimumKey = &mut short_lo;
        info.pMaximumKey = &mut hi;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_KEY_SIZE));
        let one_b = Key::from_u64(1).to_drt_data();
        let mut one = data(&one_b);
        let mut one_again = data(&one_b);
        info.pMinimumKey = &mut one;
        info.pMaximumKey = &mut one_again;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_SEARCH_RANGE), "min = max ≠ target");
        info.pMaximumKey = &mut hi;
        info.pMinimumKey = &mut hi;
        assert_eq!(start(&key, &info, ev, &mut sh), hr(DRT_E_INVALID_SEARCH_RANGE), "target below the range");
        assert_eq!(start(&key, null(), 0x50 as HANDLE, &mut sh), hr(E_HANDLE), "not an event handle");

        // A search that finds A's key: the manual-reset event, the Size/Get protocol.
        let mut found = None;
        for _ in 0..20 {
            assert_eq!(start(&key, null(), ev, &mut sh), 0);
            assert_eq!(PeerDrtWaitForEvent(ev, 10_000), WAIT_OBJECT_0);
            let mut n = 0u32;
            let r = DrtGetSearchResultSize(sh, &mut n);
            if r == 0 {
                let mut out = vec![0u64; (n as usize).div_ceil(8)];
                assert_eq!(
                    DrtGetSearchResult(sh, n - 1, out.as_mut_ptr().cast()),
                    hr(DRT_E_INSUFFICIENT_BUFFER)
                );
                assert_eq!(DrtGetSearchResult(sh, n, out.as_mut_ptr().cast()), 0);
                let res = &*(out.as_ptr() as *const DRT_SEARCH_RESULT);
                let app = std::slice::from_raw_parts(
                    res.registration.appData.pb,
                    res.registration.appData.cb as usize,
                );
                let k = std::slice::from_raw_parts(res.registration.key.pb, 32);
                found = Some((res.r#type, Key::from_drt_data(k).unwrap(), app.to_vec()));
                // After the only result, the search ends: NO_MORE, and the event stays set.
                assert!(eventually(std::time::Duration::from_secs(5), || DrtGetSearchResultSize(sh, &mut n)
                    == hr(DRT_E_NO_MORE)));
                assert_eq!(PeerDrtWaitForEvent(ev, 0), WAIT_OBJECT_0);
                assert_eq!(DrtContinueSearch(sh), hr(E_UNEXPECTED), "not an iterative search");
            }
            assert_eq!(DrtEndSearch(sh), 0);
            assert_eq!(DrtGetSearchResultSize(sh, &mut n), hr(E_HANDLE));
            PeerDrtResetEvent(ev);
            if found.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert_eq!(found, Some((0, remote, b"remote".to_vec())));

        // A search still in progress: DRT_E_SEARCH_IN_PROGRESS, the event unsignalled.
        let absent_b = random_key().to_drt_data();
        let absent = data(&absent_b);
        assert_eq!(DrtStartSearch(h, &absent, null(), 30_000, ev, null(), &mut sh), 0);
        let mut n = 0u32;
        let r = DrtGetSearchResultSize(sh, &mut n);
        assert!(r == hr(DRT_E_SEARCH_IN_PROGRESS) || r == hr(DRT_E_NO_MORE), "{:08x}", r as u32);
        if r == hr(DRT_E_SEARCH_IN_PROGRESS) {
            assert!(PeerDrtWaitForEvent(ev, 0) == WAIT_TIMEOUT || DrtGetSearchResultSize(sh, &mut n) != r);
        }
        assert_eq!(DrtEndSearch(sh), 0);

        // Registration checks, then a key of our own found with fAllowCurrentInstanceMatch.
        let mine = random_key();
        let mine_b = mine.to_drt_data();
        let mut reg = DRT_REGISTRATION { key: data(&mine_b), appData: data(b"own") };
        let mut rh: HDRT_REGISTRATION_CONTEXT = null_mut();
        assert_eq!(DrtRegisterKey(h, null(), null(), &mut rh), hr(E_INVALIDARG));
        assert_eq!(DrtRegisterKey(h, &reg, null(), null_mut()), hr(E_INVALIDARG));
        reg.appData.cb = 0;
        assert_eq!(DrtRegisterKey(h, &reg, null(), &mut rh), hr(E_INVALIDARG));
        reg.appData.cb = 5121;
        assert_eq!(DrtRegisterKey(h, &reg, null(), &mut rh), hr(E_INVALIDARG));
        reg.appData.cb = 3;
        reg.key.cb = 33;
        assert_eq!(DrtRegisterKey(h, &reg, null(), &mut rh), hr(DRT_E_INVALID_KEY_SIZE));
        reg.key.cb = 32;
        assert_eq!(DrtRegisterKey(h, &reg, null(), &mut rh), 0);
        assert_eq!(DrtRegisterKey(h, &reg, null(), &mut rh), hr(DRT_E_DUPLICATE_KEY));
        let big = vec![7u8; 5120];
        assert_eq!(DrtUpdateKey(rh, &data(&big)), 0);
        assert_eq!(DrtUpdateKey(rh, null()), hr(E_INVALIDARG));
        info = DRT_SEARCH_INFO {
            dwSize: size_of::<DRT_SEARCH_INFO>() as u32,
            fIterative: 0,
            fAllowCurrentInstanceMatch: 1,
            fAnyMatchInRange: 0,
            cMaxEndpoints: 1,
            pMaximumKey: null_mut(),
            pMinimumKey: null_mut(),
        };
        let mk = data(&mine_b);
        assert_eq!(DrtStartSearch(h, &mk, &info, 5000, ev, 0x77 as *const c_void, &mut sh), 0);
        assert_eq!(PeerDrtWaitForEvent(ev, 10_000), WAIT_OBJECT_0);
        assert_eq!(DrtGetSearchResultSize(sh, &mut n), 0);
        assert_eq!(n as usize, size_of::<DRT_SEARCH_RESULT>() + 32 + 5120);
        let mut out = vec![0u64; (n as usize).div_ceil(8)];
        assert_eq!(DrtGetSearchResult(sh, n, out.as_mut_ptr().cast()), 0);
        let res = &*(out.as_ptr() as *const DRT_SEARCH_RESULT);
        assert_eq!((res.pvContext as usize, res.registration.appData.cb), (0x77, 5120));
        let mut path_size = 0u32;
        assert_eq!(DrtGetSearchPathSize(sh, &mut path_size), 0);
        assert!(path_size as usize >= size_of::<DRT_ADDRESS_LIST>());
        assert_eq!(DrtEndSearch(sh), 0);

        // Instance name: the prefix (none given: "DRT"), the pid, a serial.
        let mut name_size = 0u32;
        assert_eq!(DrtGetInstanceNameSize(h, &mut name_size), 0);
        let mut name = vec![0u16; name_size as usize / 2];
        assert_eq!(DrtGetInstanceName(h, name_size, name.as_mut_ptr()), 0);
        let name = String::from_utf16(&name[..name.len() - 1]).unwrap();
        assert!(name.starts_with(&format!("DRT_{}_", std::process::id())), "{name}");

        // DrtClose: every handle of the instance is gone, the providers are free again.
        DrtClose(h);
        assert_eq!(DrtUpdateKey(rh, &data(b"x")), hr(E_HANDLE));
        assert_eq!(DrtGetEventDataSize(h, &mut n), hr(E_HANDLE));
        DrtUnregisterKey(rh);
        assert_eq!(DrtDeleteIpv6UdpTransport(p.transport), 0);
        DrtDeleteNullSecurityProvider(p.security);
        DrtDeleteDnsBootstrapResolver(p.bootstrap);
        assert_eq!(DrtDeleteIpv6UdpTransport(q.transport), 0);
        DrtDeleteNullSecurityProvider(q.security);
        DrtDeleteDnsBootstrapResolver(q.bootstrap);
        PeerDrtCloseEvent(ev);
        PeerDrtCloseEvent(open_event);
    });
}
