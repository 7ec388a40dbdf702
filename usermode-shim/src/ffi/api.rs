//! drt.dll: DrtOpen … DrtGetInstanceName, and the undocumented exports as stubs.

use std::ffi::c_void;
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use peerdrt_abi::{MAX_APP_DATA, SecurityKind};

use super::providers::{local_credential, resolve_seeds};
use super::types::*;
use super::write::{event_size, result_size, write_address_list, write_event, write_result};
use super::{
    CDrt, CRegistration, CSearch, Object, ProviderKind, data_bytes, guard, guard_void, read_wstr, registry,
};
use crate::client::{Instance, Next, OpenParams};
use crate::device::{self, Device};
use crate::drt::{PathEntry, SearchInfo};
use crate::hresult::*;
use crate::key::Key;

fn err<T>(hr: u32) -> Result<T> {
    Err(Error(hr))
}

/// A DRT_DATA key: DRT_E_INVALID_KEY_SIZE unless 32 bytes, E_INVALIDARG without bytes.
///
/// # Safety
/// `d` must be NULL or a valid DRT_DATA whose bytes are readable.
unsafe fn read_key(d: *const DRT_DATA) -> Result<Key> {
    if d.is_null() {
        return err(E_INVALIDARG);
    }
    // SAFETY: per the contract.
    let d = unsafe { d.read_unaligned() };
    if d.cb != 32 {
        return err(DRT_E_INVALID_KEY_SIZE);
    }
    // SAFETY: per the contract.
    let bytes = unsafe { data_bytes(&d) }.ok_or(Error(E_INVALIDARG))?;
    Key::from_drt_data(bytes).ok_or(Error(DRT_E_INVALID_KEY_SIZE))
}

/// Application data: E_INVALIDARG unless 1..=5120 bytes are there.
///
/// # Safety
/// `d` must be NULL or a valid DRT_DATA whose bytes are readable.
unsafe fn read_app_data(d: *const DRT_DATA) -> Result<Vec<u8>> {
    if d.is_null() {
        return err(E_INVALIDARG);
    }
    // SAFETY: per the contract.
    let d = unsafe { d.read_unaligned() };
    if d.cb == 0 || d.cb as usize > MAX_APP_DATA {
        return err(E_INVALIDARG);
    }
    // SAFETY: per the contract.
    Ok(unsafe { data_bytes(&d) }.ok_or(Error(E_INVALIDARG))?.to_vec())
}

static INSTANCE_SERIAL: AtomicU32 = AtomicU32::new(1);

/// DrtOpen. Checks, in the documented order: `phDrt` (E_INVALIDARG), `pSettings` and its
/// `dwSize` (DRT_E_INVALID_SETTINGS), `cbKey` (DRT_E_INVALID_KEY_SIZE),
/// `ulMaxRoutingAddresses` (DRT_E_INVALID_MAX_ADDRESSES), the transport
/// (DRT_E_INVALID_TRANSPORT_PROVIDER), the security mode (DRT_E_INVALID_SECURITY_MODE), the
/// security provider (DRT_E_INVALID_SECURITY_PROVIDER), the bootstrap provider
/// (DRT_E_INVALID_BOOTSTRAP_PROVIDER), the instance prefix (DRT_E_INVALID_INSTANCE_PREFIX),
/// then that no provider is attached to another DRT (DRT_E_TRANSPORTPROVIDER_IN_USE,
/// DRT_E_SECURITYPROVIDER_IN_USE, DRT_E_BOOTSTRAPPROVIDER_IN_USE). The device then opens the
/// instance (binding the transport's port) and reports DRT_ACTIVE or DRT_ALONE through
/// `hEvent`. Without a running device: HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE).
///
/// # Safety
/// Pointers must be NULL or valid as drt.h describes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtOpen(
    pSettings: *const DRT_SETTINGS,
    hEvent: HANDLE,
    pvContext: *const c_void,
    phDrt: *mut HDRT,
) -> HRESULT {
    guard(|| {
        if phDrt.is_null() {
            return err(E_INVALIDARG);
        }
        if pSettings.is_null() {
            return err(DRT_E_INVALID_SETTINGS);
        }
        // SAFETY: checked non-NULL; the caller passes a DRT_SETTINGS.
        let s = unsafe { pSettings.read_unaligned() };
        if s.dwSize as usize != size_of::<DRT_SETTINGS>() {
            return err(DRT_E_INVALID_SETTINGS);
        }
        if s.cbKey != 32 {
            return err(DRT_E_INVALID_KEY_SIZE);
        }
        if !(DRT_MIN_ROUTING_ADDRESSES..=DRT_MAX_ROUTING_ADDRESSES).contains(&s.ulMaxRoutingAddresses) {
            return err(DRT_E_INVALID_MAX_ADDRESSES);
        }
        let mut r = registry();
        let transport_key = s.hTransport as usize;
        let security_key = s.pSecurityProvider as usize;
        let bootstrap_key = s.pBootstrapProvider as usize;
        let (scope, scope_id, port) = match r.transports.get(&transport_key) {
            Some(t) => (t.scope, t.scope_id, t.port),
            None => return err(DRT_E_INVALID_TRANSPORT_PROVIDER),
        };
        if s.eSecurityMode > 2 {
            return err(DRT_E_INVALID_SECURITY_MODE);
        }
        let security = match r.providers.get(&security_key).map(|p| &p.kind) {
            Some(k @ (ProviderKind::NullSecurity | ProviderKind::DerivedKey { .. })) => k.clone(),
            _ => return err(DRT_E_INVALID_SECURITY_PROVIDER),
        };
        let (hosts, dns_port) = match r.providers.get(&bootstrap_key).map(|p| &p.kind) {
            Some(ProviderKind::Dns { hosts, port }) => (hosts.clone(), *port),
            _ => return err(DRT_E_INVALID_BOOTSTRAP_PROVIDER),
        };
        // SAFETY: the caller passes NULL or a NUL-terminated string.
        let prefix = match unsafe { read_wstr(s.pwzDrtInstancePrefix, DRT_MAX_INSTANCE_PREFIX_LEN) } {
            Ok(p) => p.unwrap_or_default(),
            Err(()) => return err(DRT_E_INVALID_INSTANCE_PREFIX),
        };
        if r.transports[&transport_key].attached.is_some() {
            return err(DRT_E_TRANSPORTPROVIDER_IN_USE);
        }
        if r.providers[&security_key].attached.is_some() {
            return err(DRT_E_SECURITYPROVIDER_IN_USE);
        }
        if r.providers[&bootstrap_key].attached.is_some() {
            return err(DRT_E_BOOTSTRAPPROVIDER_IN_USE);
        }
        let signal = super::signal_of(&r, hEvent)?;
        // Reserve the providers for this DRT while it opens.
        let token = r.token();
        if let Some(t) = r.transports.get_mut(&transport_key) {
            t.attached = Some(token);
        }
        for k in [security_key, bootstrap_key] {
            if let Some(p) = r.providers.get_mut(&k) {
                p.attached = Some(token);
            }
        }
        drop(r);

        let (kind, root, local) = match security {
            ProviderKind::DerivedKey { root, local } => {
                (SecurityKind::DerivedKey, Some(root.public_key), local)
            }
            _ => (SecurityKind::Null, None, None),
        };
        let opened = (|| {
            let device = Device::connect(&device::default_path()).map_err(|_| Error(E_SERVICE_NOT_ACTIVE))?;
            let params = OpenParams {
                version: (s.bProtocolMajorVersion, s.bProtocolMinorVersion),
                port,
                scope,
                scope_id,
                max_addresses: s.ulMaxRoutingAddresses,
                security_mode: s.eSecurityMode,
                security: kind,
                root,
                identity: local.clone(),
                seeds: resolve_seeds(&hosts, dns_port),
            };
            Instance::open(device, &params, signal, pvContext as usize)
        })();
        let mut r = registry();
        let instance = match opened {
            Ok(i) => i,
            Err(e) => {
                release(&mut r, token);
                return Err(e);
            }
        };
        if let Some(t) = r.transports.get(&transport_key) {
            t.bound_port.store(instance.port, Ordering::Relaxed);
        }
        let prefix = if prefix.is_empty() { "DRT".encode_utf16().collect() } else { prefix };
        let mut name = prefix;
        let suffix = format!("_{}_{}", std::process::id(), INSTANCE_SERIAL.fetch_add(1, Ordering::Relaxed));
        name.extend(suffix.encode_utf16());
        let drt = Arc::new(CDrt {
            instance,
            name,
            derived_key: kind == SecurityKind::DerivedKey,
            local,
            children: Default::default(),
        });
        r.objects.insert(token, Object::Drt(drt));
        // SAFETY: checked non-NULL.
        unsafe { phDrt.write_unaligned(token as HDRT) };
        Ok(())
    })
}

/// Detaches the providers reserved by DRT `token`.
fn release(r: &mut super::Registry, token: usize) {
    for t in r.transports.values_mut() {
        if t.attached == Some(token) {
            t.attached = None;
        }
    }
    for p in r.providers.values_mut() {
        if p.attached == Some(token) {
            p.attached = None;
        }
    }
}

/// DrtClose: ends the instance's searches, unregisters its keys, closes it, and detaches its
/// providers (which may then be deleted or used by another DrtOpen).
#[unsafe(no_mangle)]
pub extern "system" fn DrtClose(hDrt: HDRT) {
    guard_void(|| {
        let drt = {
            let mut r = registry();
            let token = hDrt as usize;
            let Some(Object::Drt(drt)) = r.objects.get(&token).cloned() else { return };
            r.objects.remove(&token);
            let children = std::mem::take(&mut *crate::event::lock(&drt.children));
            for c in children {
                r.objects.remove(&c);
            }
            release(&mut r, token);
            drt
        };
        drt.instance.close();
    });
}

/// Adds a registration or search of `drt` to the table, unless the DRT closed meanwhile.
fn insert_child(drt: &Arc<CDrt>, drt_token: usize, object: Object) -> Result<usize> {
    let mut r = registry();
    match r.objects.get(&drt_token) {
        Some(Object::Drt(d)) if Arc::ptr_eq(d, drt) => {}
        _ => return err(E_HANDLE),
    }
    let token = r.insert(object);
    crate::event::lock(&drt.children).push(token);
    Ok(token)
}

fn remove_child(r: &mut super::Registry, drt: &CDrt, token: usize) {
    r.objects.remove(&token);
    crate::event::lock(&drt.children).retain(|t| *t != token);
}

/// DrtRegisterKey. Key: 32 bytes (DRT_E_INVALID_KEY_SIZE); application data: 1..=5120 bytes
/// (E_INVALIDARG). With the derived-key provider `pvKeyContext` is the key's local certificate
/// (a peerdrt credential CERT_CONTEXT; NULL: the provider's local certificate).
///
/// # Safety
/// Pointers must be NULL or valid as drt.h describes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtRegisterKey(
    hDrt: HDRT,
    pRegistration: *const DRT_REGISTRATION,
    pvKeyContext: *const c_void,
    phKeyRegistration: *mut HDRT_REGISTRATION_CONTEXT,
) -> HRESULT {
    guard(|| {
        let drt = registry().drt(hDrt)?;
        if pRegistration.is_null() || phKeyRegistration.is_null() {
            return err(E_INVALIDARG);
        }
        // SAFETY: checked non-NULL.
        let reg = unsafe { pRegistration.read_unaligned() };
        // SAFETY: the caller's DRT_DATAs.
        let key = unsafe { read_key(&reg.key) }?;
        // SAFETY: as above.
        let app_data = unsafe { read_app_data(&reg.appData) }?;
        let credential = if !drt.derived_key {
            None
        } else if pvKeyContext.is_null() {
            drt.local.clone()
        } else {
            // SAFETY: with the derived-key provider pvKeyContext is a CERT_CONTEXT.
            Some(
                unsafe { local_credential(pvKeyContext as *const CERT_CONTEXT) }
                    .ok_or(Error(DRT_E_INVALID_CERT_CHAIN))?,
            )
        };
        let handle = drt.instance.register(&key, &app_data, credential.as_ref())?;
        let token = match insert_child(
            &drt,
            hDrt as usize,
            Object::Registration(Arc::new(CRegistration { drt: drt.clone(), handle })),
        ) {
            Ok(t) => t,
            Err(e) => {
                let _ = drt.instance.unregister(handle);
                return Err(e);
            }
        };
        // SAFETY: checked non-NULL.
        unsafe { phKeyRegistration.write_unaligned(token as HDRT_REGISTRATION_CONTEXT) };
        Ok(())
    })
}

/// DrtUpdateKey: new application data (1..=5120 bytes) for a registration.
///
/// # Safety
/// `pAppData` must be NULL or a valid DRT_DATA.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtUpdateKey(
    hKeyRegistration: HDRT_REGISTRATION_CONTEXT,
    pAppData: *const DRT_DATA,
) -> HRESULT {
    guard(|| {
        let reg = registry().registration(hKeyRegistration)?;
        // SAFETY: per the contract.
        let app_data = unsafe { read_app_data(pAppData) }?;
        reg.drt.instance.update(reg.handle, &app_data)
    })
}

/// DrtUnregisterKey.
#[unsafe(no_mangle)]
pub extern "system" fn DrtUnregisterKey(hKeyRegistration: HDRT_REGISTRATION_CONTEXT) {
    guard_void(|| {
        let reg = {
            let mut r = registry();
            let Ok(reg) = r.registration(hKeyRegistration) else { return };
            remove_child(&mut r, &reg.drt, hKeyRegistration as usize);
            reg
        };
        let _ = reg.drt.instance.unregister(reg.handle);
    });
}

/// DrtStartSearch. `pInfo` NULL is an exact search for one result. Checks: `hDrt` (E_HANDLE),
/// `pKey` (E_INVALIDARG / DRT_E_INVALID_KEY_SIZE), `hSearchContext` and `hEvent`
/// (E_INVALIDARG), `pInfo->dwSize` (DRT_E_INVALID_SEARCH_INFO), only one of the range keys
/// given (E_INVALIDARG), range key sizes (DRT_E_INVALID_KEY_SIZE), `cMaxEndpoints` (0, or > 1
/// with fIterative or fAnyMatchInRange: DRT_E_INVALID_MAX_ENDPOINTS), the range
/// (DRT_E_INVALID_SEARCH_RANGE: min > max, target outside, or min = max ≠ target).
///
/// # Safety
/// Pointers must be NULL or valid as drt.h describes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtStartSearch(
    hDrt: HDRT,
    pKey: *const DRT_DATA,
    pInfo: *const DRT_SEARCH_INFO,
    timeout: u32,
    hEvent: HANDLE,
    pvContext: *const c_void,
    hSearchContext: *mut HDRT_SEARCH_CONTEXT,
) -> HRESULT {
    guard(|| {
        let drt = registry().drt(hDrt)?;
        // SAFETY: per the contract.
        let key = unsafe { read_key(pKey) }?;
        if hSearchContext.is_null() || hEvent.is_null() {
            return err(E_INVALIDARG);
        }
        let info = if pInfo.is_null() {
            SearchInfo::exact()
        } else {
            // SAFETY: checked non-NULL.
            let i = unsafe { pInfo.read_unaligned() };
            if i.dwSize as usize != size_of::<DRT_SEARCH_INFO>() {
                return err(DRT_E_INVALID_SEARCH_INFO);
            }
            let range = match (i.pMinimumKey.is_null(), i.pMaximumKey.is_null()) {
                (true, true) => None,
                (false, false) => {
                    // SAFETY: both non-NULL DRT_DATAs.
                    Some(unsafe { (read_key(i.pMinimumKey)?, read_key(i.pMaximumKey)?) })
                }
                _ => return err(E_INVALIDARG),
            };
            SearchInfo {
                iterative: i.fIterative != 0,
                allow_current_instance_match: i.fAllowCurrentInstanceMatch != 0,
                any_match_in_range: i.fAnyMatchInRange != 0,
                max_endpoints: i.cMaxEndpoints,
                range,
            }
        };
        info.validate(&key)?;
        let signal = super::signal_of(&registry(), hEvent)?;
        let core = drt.instance.start_search(&key, &info, timeout, signal, pvContext as usize)?;
        let search = Arc::new(CSearch { drt: drt.clone(), core });
        let token = match insert_child(&drt, hDrt as usize, Object::Search(search.clone())) {
            Ok(t) => t,
            Err(e) => {
                let _ = drt.instance.end_search(&search.core);
                return Err(e);
            }
        };
        // SAFETY: checked non-NULL.
        unsafe { hSearchContext.write_unaligned(token as HDRT_SEARCH_CONTEXT) };
        Ok(())
    })
}

/// DrtContinueSearch: after a DRT_MATCH_INTERMEDIATE result of an iterative search; otherwise
/// E_UNEXPECTED.
#[unsafe(no_mangle)]
pub extern "system" fn DrtContinueSearch(hSearchContext: HDRT_SEARCH_CONTEXT) -> HRESULT {
    guard(|| {
        let s = registry().search(hSearchContext)?;
        s.drt.instance.continue_search(&s.core)
    })
}

/// DrtGetSearchResultSize: the size of the next result; DRT_E_SEARCH_IN_PROGRESS while none is
/// queued, then DRT_E_NO_MORE (or DRT_E_TIMEOUT, DRT_E_FAULTED) once the search has ended.
///
/// # Safety
/// `pulSearchResultSize` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetSearchResultSize(
    hSearchContext: HDRT_SEARCH_CONTEXT,
    pulSearchResultSize: *mut u32,
) -> HRESULT {
    guard(|| {
        let s = registry().search(hSearchContext)?;
        if pulSearchResultSize.is_null() {
            return err(E_INVALIDARG);
        }
        s.core.next(|next| match next {
            Next::Ready(r) => {
                // SAFETY: checked non-NULL.
                unsafe { pulSearchResultSize.write_unaligned(result_size(r) as u32) };
                (Ok(()), false)
            }
            Next::Status(hr) => (err(hr), false),
        })
    })
}

/// DrtGetSearchResult: dequeues the next result into the caller's buffer (DRT_SEARCH_RESULT
/// followed by the key and application data it points to).
///
/// # Safety
/// `pSearchResult` must be NULL or valid for writes of `ulSearchResultSize` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetSearchResult(
    hSearchContext: HDRT_SEARCH_CONTEXT,
    ulSearchResultSize: u32,
    pSearchResult: *mut DRT_SEARCH_RESULT,
) -> HRESULT {
    guard(|| {
        let s = registry().search(hSearchContext)?;
        if pSearchResult.is_null() {
            return err(E_INVALIDARG);
        }
        let context = s.core.context;
        s.core.next(|next| match next {
            Next::Ready(r) if (ulSearchResultSize as usize) < result_size(r) => {
                (err(DRT_E_INSUFFICIENT_BUFFER), false)
            }
            Next::Ready(r) => {
                // SAFETY: the caller's buffer holds ulSearchResultSize ≥ result_size bytes.
                unsafe { write_result(pSearchResult as *mut u8, r, context) };
                (Ok(()), true)
            }
            Next::Status(hr) => (err(hr), false),
        })
    })
}

fn path_of(s: &CSearch) -> Result<Vec<PathEntry>> {
    Ok(s.drt
        .instance
        .search_path(&s.core)?
        .iter()
        .map(|p| PathEntry {
            address: crate::client::socket_addr(&p.endpoint),
            flags: p.flags,
            nearness: p.nearness,
            latency_ms: p.latency_ms,
        })
        .collect())
}

/// DrtGetSearchPathSize: the size of the DRT_ADDRESS_LIST of the nodes contacted so far.
///
/// # Safety
/// `pulSearchPathSize` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetSearchPathSize(
    hSearchContext: HDRT_SEARCH_CONTEXT,
    pulSearchPathSize: *mut u32,
) -> HRESULT {
    guard(|| {
        let s = registry().search(hSearchContext)?;
        if pulSearchPathSize.is_null() {
            return err(E_INVALIDARG);
        }
        let path = path_of(&s)?;
        // SAFETY: checked non-NULL.
        unsafe { pulSearchPathSize.write_unaligned(address_list_size(path.len()) as u32) };
        Ok(())
    })
}

/// DrtGetSearchPath: the nodes contacted so far (DRT_ADDRESS_LIST of sockaddr_in6).
///
/// # Safety
/// `pSearchPath` must be NULL or valid for writes of `ulSearchPathSize` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetSearchPath(
    hSearchContext: HDRT_SEARCH_CONTEXT,
    ulSearchPathSize: u32,
    pSearchPath: *mut DRT_ADDRESS_LIST,
) -> HRESULT {
    guard(|| {
        let s = registry().search(hSearchContext)?;
        if pSearchPath.is_null() {
            return err(E_INVALIDARG);
        }
        let path = path_of(&s)?;
        if (ulSearchPathSize as usize) < address_list_size(path.len()) {
            return err(DRT_E_INSUFFICIENT_BUFFER);
        }
        // SAFETY: the caller's buffer is large enough (checked above).
        unsafe { write_address_list(pSearchPath as *mut u8, &path) };
        Ok(())
    })
}

/// DrtEndSearch.
#[unsafe(no_mangle)]
pub extern "system" fn DrtEndSearch(hSearchContext: HDRT_SEARCH_CONTEXT) -> HRESULT {
    guard(|| {
        let s = {
            let mut r = registry();
            let s = r.search(hSearchContext)?;
            remove_child(&mut r, &s.drt, hSearchContext as usize);
            s
        };
        s.drt.instance.end_search(&s.core)
    })
}

/// DrtGetEventDataSize: the size of the next event; DRT_E_NO_MORE when there is none.
///
/// # Safety
/// `pulEventDataLen` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetEventDataSize(hDrt: HDRT, pulEventDataLen: *mut u32) -> HRESULT {
    guard(|| {
        let drt = registry().drt(hDrt)?;
        if pulEventDataLen.is_null() {
            return err(E_INVALIDARG);
        }
        drt.instance.next_event(|e| match e {
            Some(e) => {
                // SAFETY: checked non-NULL.
                unsafe { pulEventDataLen.write_unaligned(event_size(e) as u32) };
                (Ok(()), false)
            }
            None => (err(DRT_E_NO_MORE), false),
        })
    })
}

/// DrtGetEventData: dequeues the next event into the caller's buffer (DRT_EVENT_DATA followed
/// by the keys or addresses it points to).
///
/// # Safety
/// `pEventData` must be NULL or valid for writes of `ulEventDataLen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetEventData(
    hDrt: HDRT,
    ulEventDataLen: u32,
    pEventData: *mut DRT_EVENT_DATA,
) -> HRESULT {
    guard(|| {
        let drt = registry().drt(hDrt)?;
        if pEventData.is_null() {
            return err(E_INVALIDARG);
        }
        let context = drt.instance.context;
        drt.instance.next_event(|e| match e {
            None => (err(DRT_E_NO_MORE), false),
            Some(e) if (ulEventDataLen as usize) < event_size(e) => (err(DRT_E_INSUFFICIENT_BUFFER), false),
            Some(e) => {
                // SAFETY: the caller's buffer holds ulEventDataLen ≥ event_size bytes.
                unsafe { write_event(pEventData as *mut u8, e, context) };
                (Ok(()), true)
            }
        })
    })
}

/// DrtGetInstanceNameSize: bytes of the instance name with its terminating NUL. The name is
/// the instance prefix (or "DRT") followed by `_<pid>_<serial>`.
///
/// # Safety
/// `pulcbInstanceNameSize` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetInstanceNameSize(hDrt: HDRT, pulcbInstanceNameSize: *mut u32) -> HRESULT {
    guard(|| {
        let drt = registry().drt(hDrt)?;
        if pulcbInstanceNameSize.is_null() {
            return err(E_INVALIDARG);
        }
        // SAFETY: checked non-NULL.
        unsafe { pulcbInstanceNameSize.write_unaligned(((drt.name.len() + 1) * 2) as u32) };
        Ok(())
    })
}

/// DrtGetInstanceName: the NUL-terminated UTF-16 instance name.
///
/// # Safety
/// `pwzDrtInstanceName` must be NULL or valid for writes of `ulcbInstanceNameSize` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtGetInstanceName(
    hDrt: HDRT,
    ulcbInstanceNameSize: u32,
    pwzDrtInstanceName: *mut u16,
) -> HRESULT {
    guard(|| {
        let drt = registry().drt(hDrt)?;
        if pwzDrtInstanceName.is_null() {
            return err(E_INVALIDARG);
        }
        if (ulcbInstanceNameSize as usize) < (drt.name.len() + 1) * 2 {
            return err(DRT_E_INSUFFICIENT_BUFFER);
        }
        for (i, c) in drt.name.iter().chain(std::iter::once(&0)).enumerate() {
            // SAFETY: within the caller's buffer (checked above).
            unsafe { pwzDrtInstanceName.add(i).write_unaligned(*c) };
        }
        Ok(())
    })
}

// ----- undocumented drt.dll exports ---------------------------------------------------------
//
// drt.dll also exports these (mingw-w64 drt.def); their signatures are not published. The shim
// exports them so that programs resolving them by name still load, and returns E_NOTIMPL
// without reading any argument (on x64 a callee that ignores its arguments is safe whatever
// the caller passed).

/// Undocumented; E_NOTIMPL.
#[unsafe(no_mangle)]
pub extern "system" fn DrtFlushCache() -> HRESULT {
    E_NOTIMPL as HRESULT
}

/// Undocumented; E_NOTIMPL.
#[unsafe(no_mangle)]
pub extern "system" fn DrtGetCacheStatsEx() -> HRESULT {
    E_NOTIMPL as HRESULT
}

/// Undocumented; E_NOTIMPL.
#[unsafe(no_mangle)]
pub extern "system" fn DrtHandlePowerEvent() -> HRESULT {
    E_NOTIMPL as HRESULT
}

/// Undocumented; E_NOTIMPL.
#[unsafe(no_mangle)]
pub extern "system" fn DrtPingPeer() -> HRESULT {
    E_NOTIMPL as HRESULT
}

/// Undocumented; E_NOTIMPL.
#[unsafe(no_mangle)]
pub extern "system" fn DrtStartPartitionDetection() -> HRESULT {
    E_NOTIMPL as HRESULT
}

#[cfg(test)]
mod tests {
    use std::ptr::{null, null_mut};

    use super::super::providers::*;
    use super::*;

    fn hr(v: u32) -> HRESULT {
        v as HRESULT
    }

    struct Providers {
        transport: HDRT_TRANSPORT,
        security: *mut DRT_SECURITY_PROVIDER,
        bootstrap: *mut DRT_BOOTSTRAP_PROVIDER,
    }

    impl Providers {
        fn new() -> Self {
            let mut port = 0u16;
            let mut transport = null_mut();
            let mut security = null_mut();
            let mut bootstrap = null_mut();
            let host: Vec<u16> = "localhost\0".encode_utf16().collect();
            unsafe {
                assert_eq!(DrtCreateIpv6UdpTransport(DRT_GLOBAL_SCOPE, 0, 300, &mut port, &mut transport), 0);
                assert_eq!(DrtCreateNullSecurityProvider(&mut security), 0);
                assert_eq!(DrtCreateDnsBootstrapResolver(3540, host.as_ptr(), &mut bootstrap), 0);
            }
            Self { transport, security, bootstrap }
        }

        fn settings(&self) -> DRT_SETTINGS {
            DRT_SETTINGS {
                dwSize: size_of::<DRT_SETTINGS>() as u32,
                cbKey: 32,
                bProtocolMajorVersion: 6,
                bProtocolMinorVersion: 0x65,
                ulMaxRoutingAddresses: 4,
                pwzDrtInstancePrefix: null_mut(),
                hTransport: self.transport,
                pSecurityProvider: self.security,
                pBootstrapProvider: self.bootstrap,
                eSecurityMode: 2,
            }
        }
    }

    impl Drop for Providers {
        fn drop(&mut self) {
            assert_eq!(DrtDeleteIpv6UdpTransport(self.transport), 0);
            DrtDeleteNullSecurityProvider(self.security);
            DrtDeleteDnsBootstrapResolver(self.bootstrap);
        }
    }

    fn open(s: &DRT_SETTINGS) -> HRESULT {
        let mut h = null_mut();
        unsafe { DrtOpen(s, null_mut(), null(), &mut h) }
    }

    #[test]
    fn drt_open_checks_arguments_in_the_documented_order() {
        let p = Providers::new();
        let good = p.settings();
        unsafe {
            assert_eq!(DrtOpen(&good, null_mut(), null(), null_mut()), hr(E_INVALIDARG));
            // phDrt is checked before the settings.
            assert_eq!(DrtOpen(null(), null_mut(), null(), null_mut()), hr(E_INVALIDARG));
        }
        assert_eq!(
            unsafe { DrtOpen(null(), null_mut(), null(), &mut null_mut()) },
            hr(DRT_E_INVALID_SETTINGS)
        );
        let mut s = good;
        s.dwSize = 48;
        s.cbKey = 8; // dwSize first
        assert_eq!(open(&s), hr(DRT_E_INVALID_SETTINGS));
        s.dwSize = good.dwSize;
        assert_eq!(open(&s), hr(DRT_E_INVALID_KEY_SIZE));
        s.cbKey = 32;
        for bad in [0, 21] {
            s.ulMaxRoutingAddresses = bad;
            s.hTransport = null_mut(); // the address count comes first
            assert_eq!(open(&s), hr(DRT_E_INVALID_MAX_ADDRESSES));
        }
        s.ulMaxRoutingAddresses = 20;
        assert_eq!(open(&s), hr(DRT_E_INVALID_TRANSPORT_PROVIDER));
        s.hTransport = 0x1230 as HDRT_TRANSPORT;
        assert_eq!(open(&s), hr(DRT_E_INVALID_TRANSPORT_PROVIDER));
        s.hTransport = good.hTransport;
        s.eSecurityMode = 3;
        s.pSecurityProvider = null_mut(); // the mode comes before the provider
        assert_eq!(open(&s), hr(DRT_E_INVALID_SECURITY_MODE));
        s.eSecurityMode = 1;
        assert_eq!(open(&s), hr(DRT_E_INVALID_SECURITY_PROVIDER));
        // A bootstrap provider is not a security provider.
        s.pSecurityProvider = good.pBootstrapProvider as *mut DRT_SECURITY_PROVIDER;
        assert_eq!(open(&s), hr(DRT_E_INVALID_SECURITY_PROVIDER));
        s.pSecurityProvider = good.pSecurityProvider;
        s.pBootstrapProvider = null_mut();
        assert_eq!(open(&s), hr(DRT_E_INVALID_BOOTSTRAP_PROVIDER));
        s.pBootstrapProvider = good.pSecurityProvider as *mut DRT_BOOTSTRAP_PROVIDER;
        assert_eq!(open(&s), hr(DRT_E_INVALID_BOOTSTRAP_PROVIDER));
        s.pBootstrapProvider = good.pBootstrapProvider;
        let mut long: Vec<u16> = "x".repeat(129).encode_utf16().collect();
        long.push(0);
        s.pwzDrtInstancePrefix = long.as_mut_ptr();
        assert_eq!(open(&s), hr(DRT_E_INVALID_INSTANCE_PREFIX));
        let mut max: Vec<u16> = "x".repeat(128).encode_utf16().collect();
        max.push(0);
        s.pwzDrtInstancePrefix = max.as_mut_ptr();
        // Valid settings: what remains is reaching the device (no daemon runs in unit tests,
        // unless the machine has one at the default path).
        let mut h = null_mut();
        let r = unsafe { DrtOpen(&s, null_mut(), null(), &mut h) };
        assert!(r == hr(E_SERVICE_NOT_ACTIVE) || r == 0, "{:08x}", r as u32);
        if r == 0 {
            DrtClose(h);
        }
    }

    #[test]
    fn provider_creation_checks_and_undocumented_stubs() {
        let mut port = 0u16;
        let mut t = null_mut();
        unsafe {
            assert_eq!(DrtCreateIpv6UdpTransport(1, 0, 0, null_mut(), &mut t), hr(DRT_E_INVALID_PORT));
            assert_eq!(DrtCreateIpv6UdpTransport(1, 0, 0, &mut port, null_mut()), hr(E_INVALIDARG));
            assert_eq!(DrtCreateIpv6UdpTransport(0, 0, 0, &mut port, &mut t), hr(DRT_E_INVALID_SCOPE));
            assert_eq!(DrtCreateIpv6UdpTransport(4, 0, 0, &mut port, &mut t), hr(DRT_E_INVALID_SCOPE));
            port = 4321;
            assert_eq!(DrtCreateIpv6UdpTransport(3, 7, 0, &mut port, &mut t), 0);
            assert_eq!(port, 4321, "the port is bound at DrtOpen, not here");
            let mut got = 0u16;
            assert_eq!(PeerDrtGetTransportPort(t, &mut got), 0);
            assert_eq!(got, 4321);
            assert_eq!(DrtDeleteIpv6UdpTransport(t), 0);
            assert_eq!(DrtDeleteIpv6UdpTransport(t), hr(E_HANDLE));
            assert_eq!(PeerDrtGetTransportPort(t, &mut got), hr(E_HANDLE));
            assert_eq!(DrtCreateNullSecurityProvider(null_mut()), hr(E_INVALIDARG));
            let mut b = null_mut();
            assert_eq!(DrtCreateDnsBootstrapResolver(1, null(), &mut b), hr(E_INVALIDARG));
            let empty = [0u16];
            assert_eq!(DrtCreateDnsBootstrapResolver(1, empty.as_ptr(), &mut b), hr(E_INVALIDARG));
            // Deleting something that is not ours is ignored.
            DrtDeleteNullSecurityProvider(0x5550 as *mut DRT_SECURITY_PROVIDER);
        }
        for f in
            [DrtFlushCache, DrtGetCacheStatsEx, DrtHandlePowerEvent, DrtPingPeer, DrtStartPartitionDetection]
        {
            assert_eq!(f(), hr(E_NOTIMPL));
        }
    }

    #[test]
    fn derived_key_credentials_through_the_c_api() {
        unsafe {
            let mut root = null();
            let mut local = null();
            assert_eq!(PeerDrtCreateRootCertificate(&mut root), 0);
            assert_eq!(PeerDrtIssueCertificate(root, &mut local), 0);
            let mut sp = null_mut();
            assert_eq!(DrtCreateDerivedKeySecurityProvider(root, local, &mut sp), 0);
            let mut other = null();
            assert_eq!(PeerDrtCreateRootCertificate(&mut other), 0);
            let mut sp2 = null_mut();
            assert_eq!(
                DrtCreateDerivedKeySecurityProvider(other, local, &mut sp2),
                hr(DRT_E_INVALID_CERT_CHAIN)
            );
            assert_eq!(
                DrtCreateDerivedKeySecurityProvider(local, null(), &mut sp2),
                hr(DRT_E_INVALID_CERT_CHAIN)
            );
            let mut key = DRT_DATA { cb: 0, pb: null_mut() };
            assert_eq!(DrtCreateDerivedKey(local, &mut key), 0);
            assert_eq!(key.cb, 32);
            let bytes = std::slice::from_raw_parts(key.pb, 32);
            let cred = local_credential(local).unwrap();
            assert_eq!(Key::from_drt_data(bytes), Some(cred.derived_key()));
            #[cfg(unix)]
            libc::free(key.pb as *mut c_void);
            #[cfg(not(unix))]
            drop(Box::from_raw(key.pb as *mut [u8; 32]));
            assert_eq!(DrtCreateDerivedKey(root, &mut key), hr(DRT_E_INVALID_CERT_CHAIN));
            DrtDeleteDerivedKeySecurityProvider(sp);
            PeerDrtFreeCertificate(local);
            PeerDrtFreeCertificate(other);
            PeerDrtFreeCertificate(root);
            PeerDrtFreeCertificate(root); // twice: ignored
        }
    }

    #[test]
    fn handles_that_were_never_issued_are_e_handle() {
        let bogus = 0xDEAD_BEE0usize as *mut c_void;
        let mut n = 0u32;
        let data = DRT_DATA { cb: 1, pb: b"x".as_ptr() as *mut u8 };
        unsafe {
            assert_eq!(DrtUpdateKey(bogus, &data), hr(E_HANDLE));
            assert_eq!(DrtEndSearch(bogus), hr(E_HANDLE));
            assert_eq!(DrtContinueSearch(bogus), hr(E_HANDLE));
            assert_eq!(DrtGetSearchResultSize(bogus, &mut n), hr(E_HANDLE));
            assert_eq!(DrtGetSearchPathSize(bogus, &mut n), hr(E_HANDLE));
            assert_eq!(DrtGetEventDataSize(bogus, &mut n), hr(E_HANDLE));
            assert_eq!(DrtGetInstanceNameSize(bogus, &mut n), hr(E_HANDLE));
            let key = [0u8; 32];
            let k = DRT_DATA { cb: 32, pb: key.as_ptr() as *mut u8 };
            let mut s = null_mut();
            assert_eq!(DrtStartSearch(bogus, &k, null(), 1000, bogus, null(), &mut s), hr(E_HANDLE));
            let reg = DRT_REGISTRATION { key: k, appData: data };
            let mut r = null_mut();
            assert_eq!(DrtRegisterKey(bogus, &reg, null(), &mut r), hr(E_HANDLE));
            DrtUnregisterKey(bogus);
            DrtClose(bogus);
            DrtClose(null_mut());
        }
    }
}
