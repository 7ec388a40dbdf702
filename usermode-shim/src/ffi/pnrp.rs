//! The PNRP and identity exports of p2p.dll (`include/p2p.h`): PeerPnrp*, PeerCreatePeerName,
//! PeerNameToPeerHostName / PeerHostNameToPeerName, PeerIdentityCreate / GetDefault / Delete,
//! PeerFreeData.
//!
//! The process has one PNRP session (PeerPnrpStartup … PeerPnrpShutdown, counted), so the
//! device's rule that a session never resolves its own registrations is the API's rule that a
//! process never resolves its own names. Everything returned to the caller is one allocation
//! (PeerFreeData frees it), its strings and addresses inside the same block.

#![allow(non_snake_case, non_camel_case_types)]

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::collections::HashMap;
use std::ffi::c_void;
use std::mem::{align_of, offset_of, size_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::{Arc, LazyLock, Mutex};

use peerdrt_core::pnrp::name::MAX_PEER_NAME_UNITS;
use peerdrt_core::pnrp::record::{MAX_ADDRESSES, MAX_COMMENT_UNITS, MAX_PAYLOAD};

use super::types::{HANDLE, HRESULT, SOCKADDR_IN6, WCHAR};
use super::{guard, guard_void, read_wstr, registry};
use crate::event::lock;
use crate::hresult::{E_INVALIDARG, E_OUTOFMEMORY, E_POINTER, Error, Result};
use crate::pnrp::{
    Addresses, Endpoint, IdentityStore, PEER_E_INVALID_PEER_NAME, PEER_E_NOT_INITIALIZED,
    PEER_E_UNSUPPORTED_VERSION, PEER_PNRP_AUTO_ADDRESSES, Pnrp, Registration, RegistrationInfo, Resolve,
    create_peer_name, hostname,
};

/// HREGISTRATION, HRESOLUTION.
pub type HREGISTRATION = *mut c_void;
/// HRESOLUTION.
pub type HRESOLUTION = *mut c_void;

/// PEER_DATA.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_DATA {
    /// Byte count.
    pub cbData: u32,
    /// The bytes.
    pub pbData: *mut u8,
}

/// PEER_PNRP_REGISTRATION_INFO.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_PNRP_REGISTRATION_INFO {
    /// NULL: every cloud; `PEER_PNRP_ALL_LINKS`: every link-local cloud.
    pub pwzCloudName: *mut WCHAR,
    /// The identity publishing a secured name.
    pub pwzPublishingIdentity: *mut WCHAR,
    /// Address count, or PEER_PNRP_AUTO_ADDRESSES.
    pub cAddresses: u32,
    /// SOCKADDR* each.
    pub ppAddresses: *mut *mut c_void,
    /// Port of the automatic addresses.
    pub wPort: u16,
    /// Comment.
    pub pwzComment: *mut WCHAR,
    /// Payload.
    pub payload: PEER_DATA,
}

/// PEER_PNRP_ENDPOINT_INFO.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_PNRP_ENDPOINT_INFO {
    /// The peer name.
    pub pwzPeerName: *mut WCHAR,
    /// Address count.
    pub cAddresses: u32,
    /// SOCKADDR* each (sockaddr_in or sockaddr_in6).
    pub ppAddresses: *mut *mut c_void,
    /// Comment.
    pub pwzComment: *mut WCHAR,
    /// Payload.
    pub payload: PEER_DATA,
}

/// PEER_PNRP_CLOUD_INFO.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_PNRP_CLOUD_INFO {
    /// The cloud's name.
    pub pwzCloudName: *mut WCHAR,
    /// PNRP_SCOPE.
    pub dwScope: u32,
    /// Scope id.
    pub dwScopeId: u32,
}

const _: () = {
    assert!(size_of::<PEER_DATA>() == 16 && align_of::<PEER_DATA>() == 8);
    assert!(size_of::<PEER_PNRP_REGISTRATION_INFO>() == 64);
    assert!(offset_of!(PEER_PNRP_REGISTRATION_INFO, cAddresses) == 16);
    assert!(offset_of!(PEER_PNRP_REGISTRATION_INFO, wPort) == 32);
    assert!(offset_of!(PEER_PNRP_REGISTRATION_INFO, payload) == 48);
    assert!(size_of::<PEER_PNRP_ENDPOINT_INFO>() == 48);
    assert!(offset_of!(PEER_PNRP_ENDPOINT_INFO, ppAddresses) == 16);
    assert!(offset_of!(PEER_PNRP_ENDPOINT_INFO, payload) == 32);
    assert!(size_of::<PEER_PNRP_CLOUD_INFO>() == 16);
};

/// AF_INET (2 on Windows and Linux).
const AF_INET: u16 = 2;
/// Longest cloud name read from the caller.
const MAX_CLOUD_UNITS: usize = 256;
/// Longest host name read from the caller.
const MAX_HOST_NAME_UNITS: usize = 1024;
/// Longest identity or friendly name read from the caller.
const MAX_IDENTITY_UNITS: usize = 512;

// ----- single-block allocations -------------------------------------------------------------

static BLOCKS: LazyLock<Mutex<HashMap<usize, Layout>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// A zeroed block the caller frees with PeerFreeData (8-aligned).
pub(crate) fn alloc_block(size: usize) -> Result<*mut u8> {
    let layout = Layout::from_size_align(size.max(1), 8).map_err(|_| Error(E_OUTOFMEMORY))?;
    // SAFETY: a non-zero size.
    let p = unsafe { alloc_zeroed(layout) };
    if p.is_null() {
        return Err(Error(E_OUTOFMEMORY));
    }
    lock(&BLOCKS).insert(p as usize, layout);
    Ok(p)
}

/// PeerFreeData: frees what a Peer* function returned. NULL and unknown pointers are ignored.
#[unsafe(no_mangle)]
pub extern "system" fn PeerFreeData(pvData: *const c_void) {
    guard_void(|| {
        if let Some(layout) = lock(&BLOCKS).remove(&(pvData as usize)) {
            // SAFETY: allocated by alloc_block with this layout, freed once (removed above).
            unsafe { dealloc(pvData as *mut u8, layout) };
        }
    });
}

/// Lays out a block: every `take` reserves aligned room; run once to size, once to write.
struct Block {
    base: *mut u8,
    len: usize,
}

impl Block {
    fn take(&mut self, size: usize, align: usize) -> *mut u8 {
        self.len = self.len.div_ceil(align) * align;
        let p = if self.base.is_null() { std::ptr::null_mut() } else { self.base.wrapping_add(self.len) };
        self.len += size;
        p
    }

    fn wstr(&mut self, text: &str) -> *mut WCHAR {
        let units: Vec<u16> = text.encode_utf16().chain(std::iter::once(0)).collect();
        let p = self.take(units.len() * 2, 2) as *mut u16;
        if !p.is_null() {
            // SAFETY: room reserved above inside the block.
            unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), p, units.len()) };
        }
        p
    }

    fn bytes(&mut self, data: &[u8]) -> *mut u8 {
        if data.is_empty() {
            return std::ptr::null_mut();
        }
        let p = self.take(data.len(), 1);
        if !p.is_null() {
            // SAFETY: as above.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len()) };
        }
        p
    }

    /// A sockaddr_in (IPv4) or sockaddr_in6 in a 28-byte slot.
    fn sockaddr(&mut self, a: &SocketAddr) -> *mut c_void {
        let p = self.take(size_of::<SOCKADDR_IN6>(), 4);
        if p.is_null() {
            return p as *mut c_void;
        }
        match a {
            SocketAddr::V4(v4) => {
                let mut raw = [0u8; 16];
                raw[..2].copy_from_slice(&AF_INET.to_ne_bytes());
                raw[2..4].copy_from_slice(&v4.port().to_be_bytes());
                raw[4..8].copy_from_slice(&v4.ip().octets());
                // SAFETY: 16 bytes into the reserved 28.
                unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), p, raw.len()) };
            }
            SocketAddr::V6(v6) => {
                let s = SOCKADDR_IN6 {
                    sin6_family: super::types::AF_INET6,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: v6.ip().octets(),
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: the reserved slot is SOCKADDR_IN6-sized.
                unsafe { (p as *mut SOCKADDR_IN6).write_unaligned(s) };
            }
        }
        p as *mut c_void
    }

    /// Runs `fill` to size the block, allocates it, runs `fill` again to write it.
    fn build(fill: impl Fn(&mut Block)) -> Result<*mut u8> {
        let mut sizing = Block { base: std::ptr::null_mut(), len: 0 };
        fill(&mut sizing);
        let base = alloc_block(sizing.len)?;
        let mut writing = Block { base, len: 0 };
        fill(&mut writing);
        Ok(base)
    }
}

fn endpoints_block(endpoints: &[Endpoint]) -> Result<*mut PEER_PNRP_ENDPOINT_INFO> {
    Block::build(|b| {
        let infos =
            b.take(endpoints.len() * size_of::<PEER_PNRP_ENDPOINT_INFO>(), 8) as *mut PEER_PNRP_ENDPOINT_INFO;
        for (i, e) in endpoints.iter().enumerate() {
            let ptrs = b.take(e.addresses.len() * size_of::<*mut c_void>(), 8) as *mut *mut c_void;
            for (j, a) in e.addresses.iter().enumerate() {
                let sa = b.sockaddr(a);
                if !ptrs.is_null() {
                    // SAFETY: inside the block's pointer array.
                    unsafe { ptrs.add(j).write(sa) };
                }
            }
            let info = PEER_PNRP_ENDPOINT_INFO {
                pwzPeerName: b.wstr(&e.name),
                cAddresses: e.addresses.len() as u32,
                ppAddresses: if e.addresses.is_empty() { std::ptr::null_mut() } else { ptrs },
                pwzComment: b.wstr(&e.comment),
                payload: PEER_DATA { cbData: e.payload.len() as u32, pbData: b.bytes(&e.payload) },
            };
            if !infos.is_null() {
                // SAFETY: inside the block's info array.
                unsafe { infos.add(i).write(info) };
            }
        }
    })
    .map(|p| p as *mut PEER_PNRP_ENDPOINT_INFO)
}

fn wstr_block(text: &str) -> Result<*mut WCHAR> {
    Block::build(|b| {
        b.wstr(text);
    })
    .map(|p| p as *mut WCHAR)
}

// ----- the session --------------------------------------------------------------------------

#[derive(Default)]
struct State {
    session: Option<Pnrp>,
    startups: u32,
    registrations: HashMap<usize, Arc<Mutex<Option<Registration>>>>,
    resolves: HashMap<usize, Arc<Resolve>>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(|| Mutex::new(State::default()));

fn session() -> Result<Pnrp> {
    lock(&STATE).session.clone().ok_or(Error(PEER_E_NOT_INITIALIZED))
}

/// Reads a string argument, `Err(too_long)` past `max` units, `Ok(None)` for NULL.
///
/// # Safety
/// `p` must be NULL or a NUL-terminated UTF-16 string.
unsafe fn text(p: *const WCHAR, max: usize, too_long: u32) -> Result<Option<String>> {
    // SAFETY: per the contract.
    match unsafe { read_wstr(p, max) } {
        Ok(None) => Ok(None),
        Ok(Some(units)) => String::from_utf16(&units).map(Some).map_err(|_| Error(too_long)),
        Err(()) => Err(Error(too_long)),
    }
}

/// A required peer name argument.
unsafe fn peer_name_arg(p: *const WCHAR) -> Result<String> {
    if p.is_null() {
        return Err(Error(E_INVALIDARG));
    }
    // SAFETY: per the caller's contract.
    unsafe { text(p, MAX_PEER_NAME_UNITS, PEER_E_INVALID_PEER_NAME) }?.ok_or(Error(E_INVALIDARG))
}

/// Reads a SOCKADDR the caller passes (sockaddr_in or sockaddr_in6).
unsafe fn read_sockaddr(p: *const c_void) -> Result<SocketAddr> {
    if p.is_null() {
        return Err(Error(E_INVALIDARG));
    }
    let b = p as *const u8;
    // SAFETY: a SOCKADDR starts with its family; its size follows from the family.
    let family = u16::from_ne_bytes(unsafe { [b.read(), b.add(1).read()] });
    let read =
        |off: usize, n: usize| -> Vec<u8> { (0..n).map(|i| unsafe { b.add(off + i).read() }).collect() };
    let port = |v: Vec<u8>| u16::from_be_bytes([v[0], v[1]]);
    if family == AF_INET {
        let ip: [u8; 4] = read(4, 4).try_into().map_err(|_| Error(E_INVALIDARG))?;
        Ok(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port(read(2, 2)))))
    } else if family == super::types::AF_INET6 {
        let ip: [u8; 16] = read(8, 16).try_into().map_err(|_| Error(E_INVALIDARG))?;
        let scope = u32::from_ne_bytes(read(24, 4).try_into().map_err(|_| Error(E_INVALIDARG))?);
        Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port(read(2, 2)), 0, scope)))
    } else {
        Err(Error(crate::pnrp::PEER_E_INVALID_ADDRESS))
    }
}

/// PEER_PNRP_REGISTRATION_INFO to its Rust form (NULL: every cloud, automatic addresses).
unsafe fn registration_info(p: *const PEER_PNRP_REGISTRATION_INFO) -> Result<RegistrationInfo> {
    if p.is_null() {
        return Ok(RegistrationInfo::default());
    }
    // SAFETY: non-NULL; the caller passes a PEER_PNRP_REGISTRATION_INFO.
    let i = unsafe { p.read_unaligned() };
    // SAFETY: the struct's strings, per its contract.
    let cloud = unsafe { text(i.pwzCloudName, MAX_CLOUD_UNITS, E_INVALIDARG) }?;
    let identity = unsafe { text(i.pwzPublishingIdentity, MAX_IDENTITY_UNITS, E_INVALIDARG) }?;
    let comment = unsafe { text(i.pwzComment, MAX_COMMENT_UNITS, E_INVALIDARG) }?.unwrap_or_default();
    let addresses = if i.cAddresses == PEER_PNRP_AUTO_ADDRESSES {
        Addresses::Auto(i.wPort)
    } else {
        if i.cAddresses as usize > MAX_ADDRESSES || (i.cAddresses > 0 && i.ppAddresses.is_null()) {
            return Err(Error(E_INVALIDARG));
        }
        let mut list = Vec::with_capacity(i.cAddresses as usize);
        for k in 0..i.cAddresses as usize {
            // SAFETY: cAddresses pointers, per the contract.
            list.push(unsafe { read_sockaddr(i.ppAddresses.add(k).read_unaligned()) }?);
        }
        Addresses::List(list)
    };
    if i.payload.cbData as usize > MAX_PAYLOAD || (i.payload.cbData > 0 && i.payload.pbData.is_null()) {
        return Err(Error(E_INVALIDARG));
    }
    let payload = if i.payload.cbData == 0 {
        Vec::new()
    } else {
        // SAFETY: cbData readable bytes, per the contract.
        unsafe { std::slice::from_raw_parts(i.payload.pbData, i.payload.cbData as usize) }.to_vec()
    };
    Ok(RegistrationInfo { cloud, identity, addresses, comment, payload })
}

/// PeerPnrpStartup: `wVersionRequested` must be PNRP_VERSION (major 2). Counted; without a
/// device, PEER_E_SERVICE_NOT_AVAILABLE.
#[unsafe(no_mangle)]
pub extern "system" fn PeerPnrpStartup(wVersionRequested: u16) -> HRESULT {
    guard(|| {
        if wVersionRequested & 0xFF != 2 {
            return Err(Error(PEER_E_UNSUPPORTED_VERSION));
        }
        let mut s = lock(&STATE);
        if s.session.is_none() {
            s.session = Some(Pnrp::startup(None, None)?);
        }
        s.startups += 1;
        Ok(())
    })
}

/// PeerPnrpShutdown: the last one ends every registration and resolve of the process.
#[unsafe(no_mangle)]
pub extern "system" fn PeerPnrpShutdown() -> HRESULT {
    guard(|| {
        let (session, regs, resolves) = {
            let mut s = lock(&STATE);
            if s.startups == 0 {
                return Err(Error(PEER_E_NOT_INITIALIZED));
            }
            s.startups -= 1;
            if s.startups > 0 {
                return Ok(());
            }
            let regs: Vec<_> = s.registrations.drain().map(|(_, r)| r).collect();
            let resolves: Vec<_> = s.resolves.drain().map(|(_, r)| r).collect();
            (s.session.take(), regs, resolves)
        };
        for r in regs {
            let reg = lock(&r).take();
            drop(reg);
        }
        for r in resolves {
            r.end();
        }
        if let Some(s) = session {
            s.shutdown();
        }
        Ok(())
    })
}

/// PeerPnrpRegister.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerPnrpRegister(
    pcwzPeerName: *const WCHAR,
    pRegistrationInfo: *const PEER_PNRP_REGISTRATION_INFO,
    phRegistration: *mut HREGISTRATION,
) -> HRESULT {
    guard(|| {
        if phRegistration.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: per the contract.
        let name = unsafe { peer_name_arg(pcwzPeerName) }?;
        let info = unsafe { registration_info(pRegistrationInfo) }?;
        let reg = session()?.register(&name, &info)?;
        let token = registry().token();
        lock(&STATE).registrations.insert(token, Arc::new(Mutex::new(Some(reg))));
        // SAFETY: checked non-NULL.
        unsafe { phRegistration.write_unaligned(token as HREGISTRATION) };
        Ok(())
    })
}

fn registration(h: HREGISTRATION) -> Result<Arc<Mutex<Option<Registration>>>> {
    lock(&STATE).registrations.get(&(h as usize)).cloned().ok_or(Error(crate::hresult::E_HANDLE))
}

/// PeerPnrpUpdateRegistration: the cloud and the address count cannot change (E_INVALIDARG).
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerPnrpUpdateRegistration(
    hRegistration: HREGISTRATION,
    pRegistrationInfo: *const PEER_PNRP_REGISTRATION_INFO,
) -> HRESULT {
    guard(|| {
        if pRegistrationInfo.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let r = registration(hRegistration)?;
        // SAFETY: per the contract.
        let info = unsafe { registration_info(pRegistrationInfo) }?;
        let mut guard = lock(&r);
        guard.as_mut().ok_or(Error(crate::hresult::E_HANDLE))?.update(&info)
    })
}

/// PeerPnrpUnregister.
#[unsafe(no_mangle)]
pub extern "system" fn PeerPnrpUnregister(hRegistration: HREGISTRATION) -> HRESULT {
    guard(|| {
        let r = lock(&STATE)
            .registrations
            .remove(&(hRegistration as usize))
            .ok_or(Error(crate::hresult::E_HANDLE))?;
        let reg = lock(&r).take();
        reg.map_or(Ok(()), Registration::unregister)
    })
}

/// PeerPnrpResolve: `*pcEndpoints` in = most wanted (≥ 1), out = how many `*ppEndpoints`
/// holds (one PeerFreeData block). None found: PEER_E_NOT_FOUND.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerPnrpResolve(
    pcwzPeerName: *const WCHAR,
    pcwzCloudName: *const WCHAR,
    pcEndpoints: *mut u32,
    ppEndpoints: *mut *mut PEER_PNRP_ENDPOINT_INFO,
) -> HRESULT {
    guard(|| {
        if pcEndpoints.is_null() || ppEndpoints.is_null() {
            return Err(Error(E_POINTER));
        }
        // SAFETY: per the contract.
        let name = unsafe { peer_name_arg(pcwzPeerName) }?;
        let cloud = unsafe { text(pcwzCloudName, MAX_CLOUD_UNITS, E_INVALIDARG) }?;
        let max = unsafe { pcEndpoints.read_unaligned() };
        let found = session()?.resolve(&name, cloud.as_deref(), max, crate::pnrp::RESOLVE_TIMEOUT)?;
        let block = endpoints_block(&found)?;
        // SAFETY: checked non-NULL.
        unsafe {
            pcEndpoints.write_unaligned(found.len() as u32);
            ppEndpoints.write_unaligned(block);
        }
        Ok(())
    })
}

/// PeerPnrpStartResolve: `hEvent` is signalled for every endpoint and once at the end.
/// `cMaxEndpoints` 0: the default (5).
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerPnrpStartResolve(
    pcwzPeerName: *const WCHAR,
    pcwzCloudName: *const WCHAR,
    cMaxEndpoints: u32,
    hEvent: HANDLE,
    phResolve: *mut HRESOLUTION,
) -> HRESULT {
    guard(|| {
        if phResolve.is_null() {
            return Err(Error(E_POINTER));
        }
        if hEvent.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: per the contract.
        let name = unsafe { peer_name_arg(pcwzPeerName) }?;
        let cloud = unsafe { text(pcwzCloudName, MAX_CLOUD_UNITS, E_INVALIDARG) }?;
        let signal = super::signal_of(&registry(), hEvent)?.ok_or(Error(crate::hresult::E_HANDLE))?;
        let resolve =
            session()?.start_resolve_signal(&name, cloud.as_deref(), cMaxEndpoints, Some(signal))?;
        let token = registry().token();
        lock(&STATE).resolves.insert(token, Arc::new(resolve));
        // SAFETY: checked non-NULL.
        unsafe { phResolve.write_unaligned(token as HRESOLUTION) };
        Ok(())
    })
}

/// PeerPnrpGetEndpoint: the next endpoint (a PeerFreeData block); E_PENDING while none is
/// ready, PEER_E_NO_MORE once the resolve is over.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerPnrpGetEndpoint(
    hResolve: HRESOLUTION,
    ppEndpoint: *mut *mut PEER_PNRP_ENDPOINT_INFO,
) -> HRESULT {
    guard(|| {
        if ppEndpoint.is_null() {
            return Err(Error(E_POINTER));
        }
        let r = lock(&STATE)
            .resolves
            .get(&(hResolve as usize))
            .cloned()
            .ok_or(Error(crate::hresult::E_HANDLE))?;
        let e = r.get_endpoint()?;
        let block = endpoints_block(std::slice::from_ref(&e))?;
        // SAFETY: checked non-NULL.
        unsafe { ppEndpoint.write_unaligned(block) };
        Ok(())
    })
}

/// PeerPnrpEndResolve.
#[unsafe(no_mangle)]
pub extern "system" fn PeerPnrpEndResolve(hResolve: HRESOLUTION) -> HRESULT {
    guard(|| {
        let r = lock(&STATE).resolves.remove(&(hResolve as usize)).ok_or(Error(crate::hresult::E_HANDLE))?;
        r.end();
        Ok(())
    })
}

/// PeerPnrpGetCloudInfo: every cloud, one PeerFreeData block.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerPnrpGetCloudInfo(
    pcNumClouds: *mut u32,
    ppCloudInfo: *mut *mut PEER_PNRP_CLOUD_INFO,
) -> HRESULT {
    guard(|| {
        if pcNumClouds.is_null() || ppCloudInfo.is_null() {
            return Err(Error(E_POINTER));
        }
        let clouds = session()?.clouds()?;
        let block = Block::build(|b| {
            let infos =
                b.take(clouds.len() * size_of::<PEER_PNRP_CLOUD_INFO>(), 8) as *mut PEER_PNRP_CLOUD_INFO;
            for (i, c) in clouds.iter().enumerate() {
                let info = PEER_PNRP_CLOUD_INFO {
                    pwzCloudName: b.wstr(&c.name),
                    dwScope: c.scope,
                    dwScopeId: c.scope_id,
                };
                if !infos.is_null() {
                    // SAFETY: inside the block.
                    unsafe { infos.add(i).write(info) };
                }
            }
        })?;
        // SAFETY: checked non-NULL.
        unsafe {
            pcNumClouds.write_unaligned(clouds.len() as u32);
            ppCloudInfo.write_unaligned(block as *mut PEER_PNRP_CLOUD_INFO);
        }
        Ok(())
    })
}

/// Writes a PeerFreeData string to `out`.
unsafe fn return_string(out: *mut *mut WCHAR, value: &str) -> Result<()> {
    let block = wstr_block(value)?;
    // SAFETY: checked non-NULL by the callers.
    unsafe { out.write_unaligned(block) };
    Ok(())
}

/// PeerCreatePeerName: NULL identity makes `0.<classifier>`.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerCreatePeerName(
    pwzIdentity: *const WCHAR,
    pwzClassifier: *const WCHAR,
    ppwzPeerName: *mut *mut WCHAR,
) -> HRESULT {
    guard(|| {
        if ppwzPeerName.is_null() || pwzClassifier.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: per the contract.
        let identity =
            unsafe { text(pwzIdentity, MAX_IDENTITY_UNITS, crate::pnrp::PEER_E_INVALID_IDENTITY) }?;
        let limit = peerdrt_core::pnrp::name::MAX_CLASSIFIER_UNITS + 1;
        let classifier = unsafe { text(pwzClassifier, limit, crate::pnrp::PEER_E_CLASSIFIER_TOO_LONG) }?
            .unwrap_or_default();
        let name = create_peer_name(identity.as_deref(), &classifier)?;
        // SAFETY: checked non-NULL.
        unsafe { return_string(ppwzPeerName, &name) }
    })
}

/// PeerNameToPeerHostName.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerNameToPeerHostName(
    pwzPeerName: *const WCHAR,
    ppwzHostName: *mut *mut WCHAR,
) -> HRESULT {
    guard(|| {
        if ppwzHostName.is_null() || pwzPeerName.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let cannot = crate::pnrp::PEER_E_CANNOT_CONVERT_PEER_NAME;
        // SAFETY: per the contract.
        let name = unsafe { text(pwzPeerName, MAX_PEER_NAME_UNITS, cannot) }?.unwrap_or_default();
        let host = hostname::to_host_name(&name)?;
        // SAFETY: checked non-NULL.
        unsafe { return_string(ppwzHostName, &host) }
    })
}

/// PeerHostNameToPeerName.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerHostNameToPeerName(
    pwzHostName: *const WCHAR,
    ppwzPeerName: *mut *mut WCHAR,
) -> HRESULT {
    guard(|| {
        if ppwzPeerName.is_null() || pwzHostName.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let bad = crate::pnrp::PEER_E_INVALID_PEER_HOST_NAME;
        // SAFETY: per the contract.
        let host = unsafe { text(pwzHostName, MAX_HOST_NAME_UNITS, bad) }?.unwrap_or_default();
        let name = hostname::to_peer_name(&host)?;
        // SAFETY: checked non-NULL.
        unsafe { return_string(ppwzPeerName, &name) }
    })
}

/// PeerIdentityCreate: a new Ed25519 identity in the user's store. `hCryptProv` must be 0
/// (keys are the store's own, not a CSP's).
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerIdentityCreate(
    pwzClassifier: *const WCHAR,
    pwzFriendlyName: *const WCHAR,
    hCryptProv: usize,
    ppwzIdentity: *mut *mut WCHAR,
) -> HRESULT {
    guard(|| {
        if ppwzIdentity.is_null() || hCryptProv != 0 {
            return Err(Error(E_INVALIDARG));
        }
        let limit = peerdrt_core::pnrp::name::MAX_CLASSIFIER_UNITS + 1;
        // SAFETY: per the contract.
        let classifier = unsafe { text(pwzClassifier, limit, crate::pnrp::PEER_E_CLASSIFIER_TOO_LONG) }?;
        let friendly = unsafe { text(pwzFriendlyName, MAX_IDENTITY_UNITS, E_INVALIDARG) }?;
        let name = IdentityStore::open_default()?.create(classifier.as_deref(), friendly.as_deref())?;
        // SAFETY: checked non-NULL.
        unsafe { return_string(ppwzIdentity, &name) }
    })
}

/// PeerIdentityGetDefault (created on first use).
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerIdentityGetDefault(ppwzDefaultIdentity: *mut *mut WCHAR) -> HRESULT {
    guard(|| {
        if ppwzDefaultIdentity.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let name = IdentityStore::open_default()?.default_identity()?;
        // SAFETY: checked non-NULL.
        unsafe { return_string(ppwzDefaultIdentity, &name) }
    })
}

/// PeerIdentityDelete.
///
/// # Safety
/// Pointers as in p2p.h.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerIdentityDelete(pwzIdentity: *const WCHAR) -> HRESULT {
    guard(|| {
        // SAFETY: per the contract.
        let identity =
            unsafe { text(pwzIdentity, MAX_IDENTITY_UNITS, crate::pnrp::PEER_E_INVALID_IDENTITY) }?
                .ok_or(Error(E_INVALIDARG))?;
        IdentityStore::open_default()?.delete(&identity)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(std::iter::once(0)).collect()
    }

    unsafe fn read(p: *const u16) -> String {
        let units = unsafe { read_wstr(p, 4096) }.unwrap().unwrap();
        String::from_utf16(&units).unwrap()
    }

    #[test]
    fn names_and_host_names_come_back_in_blocks_peer_free_data_frees() {
        let mut out: *mut u16 = std::ptr::null_mut();
        let hr = unsafe { PeerCreatePeerName(std::ptr::null(), w("demo").as_ptr(), &mut out) };
        assert_eq!(hr, 0);
        assert_eq!(unsafe { read(out) }, "0.demo");
        let mut host: *mut u16 = std::ptr::null_mut();
        assert_eq!(unsafe { PeerNameToPeerHostName(out, &mut host) }, 0);
        assert_eq!(unsafe { read(host) }, "demo.p0.pnrp.net");
        let mut back: *mut u16 = std::ptr::null_mut();
        assert_eq!(unsafe { PeerHostNameToPeerName(host, &mut back) }, 0);
        assert_eq!(unsafe { read(back) }, "0.demo");
        for p in [out, host, back] {
            assert!(lock(&BLOCKS).contains_key(&(p as usize)));
            PeerFreeData(p as *const c_void);
            assert!(!lock(&BLOCKS).contains_key(&(p as usize)));
        }
        PeerFreeData(std::ptr::null());
        PeerFreeData(8 as *const c_void); // unknown: ignored
        let long = "c".repeat(peerdrt_core::pnrp::name::MAX_CLASSIFIER_UNITS + 1);
        let hr = unsafe { PeerCreatePeerName(std::ptr::null(), w(&long).as_ptr(), &mut out) };
        assert_eq!(hr as u32, crate::pnrp::PEER_E_CLASSIFIER_TOO_LONG);
        let hr = unsafe { PeerNameToPeerHostName(w("0.a_b").as_ptr(), &mut out) };
        assert_eq!(hr as u32, crate::pnrp::PEER_E_CANNOT_CONVERT_PEER_NAME);
    }

    #[test]
    fn calls_before_startup_and_bad_versions_have_their_hresults() {
        let mut n = 0u32;
        let mut p: *mut PEER_PNRP_ENDPOINT_INFO = std::ptr::null_mut();
        n += 1;
        let hr = unsafe { PeerPnrpResolve(w("0.x").as_ptr(), std::ptr::null(), &mut n, &mut p) };
        assert_eq!(hr as u32, PEER_E_NOT_INITIALIZED);
        assert_eq!(PeerPnrpShutdown() as u32, PEER_E_NOT_INITIALIZED);
        assert_eq!(PeerPnrpStartup(0x0001) as u32, PEER_E_UNSUPPORTED_VERSION);
    }

    #[test]
    fn an_endpoint_block_holds_everything_inside_itself() {
        let eps = vec![
            Endpoint {
                name: "0.a".into(),
                addresses: vec!["192.0.2.1:80".parse().unwrap(), "[2001:db8::1]:443".parse().unwrap()],
                comment: "c".into(),
                payload: b"pay".to_vec(),
                cloud: "Global_".into(),
            },
            Endpoint {
                name: "0.b".into(),
                addresses: vec![],
                comment: String::new(),
                payload: b"x".to_vec(),
                cloud: "Global_".into(),
            },
        ];
        let block = endpoints_block(&eps).unwrap();
        let layout = *lock(&BLOCKS).get(&(block as usize)).unwrap();
        let inside = |p: *const u8| (block as usize..block as usize + layout.size()).contains(&(p as usize));
        let infos = unsafe { std::slice::from_raw_parts(block, 2) };
        assert_eq!(unsafe { read(infos[0].pwzPeerName) }, "0.a");
        assert_eq!(infos[0].cAddresses, 2);
        let a0 = unsafe { read_sockaddr(infos[0].ppAddresses.read()) }.unwrap();
        let a1 = unsafe { read_sockaddr(infos[0].ppAddresses.add(1).read()) }.unwrap();
        assert_eq!((a0, a1), (eps[0].addresses[0], eps[0].addresses[1]));
        let pay = unsafe { std::slice::from_raw_parts(infos[0].payload.pbData, 3) };
        assert_eq!(pay, b"pay");
        for p in [
            infos[0].pwzPeerName as *const u8,
            infos[0].pwzComment as *const u8,
            infos[0].payload.pbData,
            infos[1].pwzPeerName as *const u8,
        ] {
            assert!(inside(p));
        }
        assert!(infos[1].ppAddresses.is_null());
        PeerFreeData(block as *const c_void);
    }
}
