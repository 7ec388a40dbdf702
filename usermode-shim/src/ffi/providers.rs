//! drttransport.dll and drtprov.dll: the transport, the security providers, the DNS
//! bootstrap resolver, derived keys; and peerdrt.h's credential helpers.
//!
//! Differences from Windows, by design:
//! * **The transport binds at DrtOpen, not here.** The UDP socket belongs to the driver, which
//!   binds it when the instance opens. `DrtCreateIpv6UdpTransport` records scope, scope id and
//!   the requested port and leaves `*pwPort` as given (0 stays 0); the port the driver chose is
//!   available after DrtOpen from `PeerDrtGetTransportPort`. The locality threshold is
//!   accepted and ignored.
//! * **Providers run in the driver.** The shim's `DRT_SECURITY_PROVIDER` and
//!   `DRT_BOOTSTRAP_PROVIDER` structs are real allocations with a NULL method table;
//!   application-written (custom) providers are refused by DrtOpen with
//!   DRT_E_INVALID_SECURITY_PROVIDER / DRT_E_INVALID_BOOTSTRAP_PROVIDER.
//! * **The DNS bootstrap resolver resolves at DrtOpen** with the system resolver
//!   (`ToSocketAddrs`); IPv4 results become IPv4-mapped IPv6 seeds. `pwszAddress` may list
//!   several hosts separated by `,` or `;`, each optionally with its own `:port`.
//! * **Certificates are peerdrt credentials** in a `CERT_CONTEXT` (see [`crate::cert`]).

use std::ptr;
use std::sync::atomic::{AtomicU16, Ordering};

use super::types::*;
use super::{Provider, ProviderKind, Transport, guard, guard_void, read_wstr, registry};
use crate::cert::{Credential, PEERDRT_CERT_ENCODING, RootCredential};
use crate::hresult::*;

// ----- transport ----------------------------------------------------------------------------

/// DrtCreateIpv6UdpTransport.
///
/// # Safety
/// `pwPort` and `phTransport` must be NULL or valid for reads/writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtCreateIpv6UdpTransport(
    scope: u32,
    dwScopeId: u32,
    _dwLocalityThreshold: u32,
    pwPort: *mut u16,
    phTransport: *mut HDRT_TRANSPORT,
) -> HRESULT {
    guard(|| {
        if pwPort.is_null() {
            return Err(Error(DRT_E_INVALID_PORT));
        }
        if phTransport.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        if !(DRT_GLOBAL_SCOPE..=DRT_LINK_LOCAL_SCOPE).contains(&scope) {
            return Err(Error(DRT_E_INVALID_SCOPE));
        }
        // SAFETY: checked non-NULL; the caller passes a valid USHORT.
        let port = unsafe { pwPort.read_unaligned() };
        let mut r = registry();
        let token = r.token();
        r.transports.insert(
            token,
            Transport { scope, scope_id: dwScopeId, port, bound_port: AtomicU16::new(0), attached: None },
        );
        // SAFETY: checked non-NULL.
        unsafe { phTransport.write_unaligned(token as HDRT_TRANSPORT) };
        Ok(())
    })
}

/// DrtDeleteIpv6UdpTransport. DRT_E_TRANSPORT_STILL_BOUND while a DRT uses it.
#[unsafe(no_mangle)]
pub extern "system" fn DrtDeleteIpv6UdpTransport(hTransport: HDRT_TRANSPORT) -> HRESULT {
    guard(|| {
        let mut r = registry();
        match r.transports.get(&(hTransport as usize)) {
            None => Err(Error(E_HANDLE)),
            Some(t) if t.attached.is_some() => Err(Error(DRT_E_TRANSPORT_STILL_BOUND)),
            Some(_) => {
                r.transports.remove(&(hTransport as usize));
                Ok(())
            }
        }
    })
}

/// peerdrt.h: the UDP port of a transport — the one the driver bound once a DRT opened on it,
/// else the port requested at creation.
///
/// # Safety
/// `pwPort` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerDrtGetTransportPort(
    hTransport: HDRT_TRANSPORT,
    pwPort: *mut u16,
) -> HRESULT {
    guard(|| {
        if pwPort.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let r = registry();
        let t = r.transports.get(&(hTransport as usize)).ok_or(Error(E_HANDLE))?;
        let bound = t.bound_port.load(Ordering::Relaxed);
        // SAFETY: checked non-NULL.
        unsafe { pwPort.write_unaligned(if bound != 0 { bound } else { t.port }) };
        Ok(())
    })
}

// ----- providers ----------------------------------------------------------------------------

fn new_security_provider(kind: ProviderKind) -> *mut DRT_SECURITY_PROVIDER {
    let p = Box::into_raw(Box::new(DRT_SECURITY_PROVIDER {
        pvContext: ptr::null_mut(),
        methods: [ptr::null_mut(); 13],
    }));
    registry().providers.insert(p as usize, Provider { kind, attached: None });
    p
}

fn new_bootstrap_provider(kind: ProviderKind) -> *mut DRT_BOOTSTRAP_PROVIDER {
    let p = Box::into_raw(Box::new(DRT_BOOTSTRAP_PROVIDER {
        pvContext: ptr::null_mut(),
        methods: [ptr::null_mut(); 7],
    }));
    registry().providers.insert(p as usize, Provider { kind, attached: None });
    p
}

/// Frees a provider of ours whose kind `is_kind` accepts; anything else is ignored.
fn delete_provider<T>(p: *mut T, is_kind: impl Fn(&ProviderKind) -> bool) {
    let ours = {
        let mut r = registry();
        match r.providers.get(&(p as usize)) {
            Some(entry) if is_kind(&entry.kind) => {
                r.providers.remove(&(p as usize));
                true
            }
            _ => false,
        }
    };
    if ours {
        // SAFETY: allocated by `new_*_provider` as a Box<T> and now removed from the table, so
        // freed exactly once. An open DRT keeps its own copy of what it needs.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// DrtCreateNullSecurityProvider.
///
/// # Safety
/// `ppSecurityProvider` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtCreateNullSecurityProvider(
    ppSecurityProvider: *mut *mut DRT_SECURITY_PROVIDER,
) -> HRESULT {
    guard(|| {
        if ppSecurityProvider.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let p = new_security_provider(ProviderKind::NullSecurity);
        // SAFETY: checked non-NULL.
        unsafe { ppSecurityProvider.write_unaligned(p) };
        Ok(())
    })
}

/// DrtDeleteNullSecurityProvider.
#[unsafe(no_mangle)]
pub extern "system" fn DrtDeleteNullSecurityProvider(pSecurityProvider: *mut DRT_SECURITY_PROVIDER) {
    guard_void(|| delete_provider(pSecurityProvider, |k| matches!(k, ProviderKind::NullSecurity)));
}

/// Reads a peerdrt credential out of a CERT_CONTEXT.
///
/// # Safety
/// `p` must be NULL or point to a CERT_CONTEXT whose `pbCertEncoded` holds `cbCertEncoded` bytes.
unsafe fn cert_bytes<'a>(p: *const CERT_CONTEXT) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: per the contract.
    let c = unsafe { p.read_unaligned() };
    if c.dwCertEncodingType != PEERDRT_CERT_ENCODING || c.pbCertEncoded.is_null() || c.cbCertEncoded > 1024 {
        return None;
    }
    // SAFETY: per the contract.
    Some(unsafe { std::slice::from_raw_parts(c.pbCertEncoded, c.cbCertEncoded as usize) })
}

/// The local credential a CERT_CONTEXT carries.
///
/// # Safety
/// As [`cert_bytes`].
pub(crate) unsafe fn local_credential(p: *const CERT_CONTEXT) -> Option<Credential> {
    // SAFETY: per the contract.
    Credential::decode(unsafe { cert_bytes(p) }?)
}

/// DrtCreateDerivedKeySecurityProvider. The root must be a peerdrt root credential; the local
/// credential (optional) must chain to it (DRT_E_INVALID_CERT_CHAIN otherwise).
///
/// # Safety
/// The certificate pointers must be NULL or valid CERT_CONTEXTs; `ppSecurityProvider` NULL or
/// valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtCreateDerivedKeySecurityProvider(
    pRootCert: *const CERT_CONTEXT,
    pLocalCert: *const CERT_CONTEXT,
    ppSecurityProvider: *mut *mut DRT_SECURITY_PROVIDER,
) -> HRESULT {
    guard(|| {
        if pRootCert.is_null() || ppSecurityProvider.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: per the contract.
        let root = unsafe { cert_bytes(pRootCert) }
            .and_then(RootCredential::decode)
            .ok_or(Error(DRT_E_INVALID_CERT_CHAIN))?;
        let local = if pLocalCert.is_null() {
            None
        } else {
            // SAFETY: per the contract.
            let l = unsafe { local_credential(pLocalCert) }.ok_or(Error(DRT_E_INVALID_CERT_CHAIN))?;
            if !root.verifies(&l) {
                return Err(Error(DRT_E_INVALID_CERT_CHAIN));
            }
            Some(l)
        };
        let p = new_security_provider(ProviderKind::DerivedKey { root, local });
        // SAFETY: checked non-NULL.
        unsafe { ppSecurityProvider.write_unaligned(p) };
        Ok(())
    })
}

/// DrtDeleteDerivedKeySecurityProvider.
#[unsafe(no_mangle)]
pub extern "system" fn DrtDeleteDerivedKeySecurityProvider(pSecurityProvider: *mut DRT_SECURITY_PROVIDER) {
    guard_void(|| delete_provider(pSecurityProvider, |k| matches!(k, ProviderKind::DerivedKey { .. })));
}

fn alloc_key(bytes: [u8; 32]) -> *mut u8 {
    #[cfg(unix)]
    {
        // SAFETY: malloc of 32 bytes; the application frees it with free().
        let p = unsafe { libc::malloc(32) } as *mut u8;
        if !p.is_null() {
            // SAFETY: 32 bytes were just allocated.
            unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p, 32) };
        }
        p
    }
    #[cfg(not(unix))]
    {
        Box::into_raw(Box::new(bytes)) as *mut u8
    }
}

/// DrtCreateDerivedKey: the key a local credential may register (SHA-256 of its public key),
/// in DRT_DATA byte order. `pKey->pb` is allocated by the shim (`malloc`; release it with
/// `free`) and `pKey->cb` set to 32.
///
/// # Safety
/// `pLocalCert` must be NULL or a valid CERT_CONTEXT; `pKey` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtCreateDerivedKey(
    pLocalCert: *const CERT_CONTEXT,
    pKey: *mut DRT_DATA,
) -> HRESULT {
    guard(|| {
        if pLocalCert.is_null() || pKey.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: per the contract.
        let local = unsafe { local_credential(pLocalCert) }.ok_or(Error(DRT_E_INVALID_CERT_CHAIN))?;
        let pb = alloc_key(local.derived_key().to_drt_data());
        if pb.is_null() {
            return Err(Error(E_OUTOFMEMORY));
        }
        // SAFETY: checked non-NULL.
        unsafe { pKey.write_unaligned(DRT_DATA { cb: 32, pb }) };
        Ok(())
    })
}

/// DrtCreateDnsBootstrapResolver: seeds from `pwszAddress` (host names or addresses, `,`/`;`
/// separated, each optionally `host:port`) and `port`, resolved at DrtOpen.
///
/// # Safety
/// `pwszAddress` must be NULL or a NUL-terminated UTF-16 string; `ppModule` NULL or valid for
/// writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn DrtCreateDnsBootstrapResolver(
    port: u16,
    pwszAddress: *const u16,
    ppModule: *mut *mut DRT_BOOTSTRAP_PROVIDER,
) -> HRESULT {
    guard(|| {
        if ppModule.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: per the contract.
        let hosts = match unsafe { read_wstr(pwszAddress, 4096) } {
            Ok(Some(h)) if !h.is_empty() => String::from_utf16(&h).map_err(|_| Error(E_INVALIDARG))?,
            _ => return Err(Error(E_INVALIDARG)),
        };
        let p = new_bootstrap_provider(ProviderKind::Dns { hosts, port });
        // SAFETY: checked non-NULL.
        unsafe { ppModule.write_unaligned(p) };
        Ok(())
    })
}

/// DrtDeleteDnsBootstrapResolver.
#[unsafe(no_mangle)]
pub extern "system" fn DrtDeleteDnsBootstrapResolver(pResolver: *mut DRT_BOOTSTRAP_PROVIDER) {
    guard_void(|| delete_provider(pResolver, |k| matches!(k, ProviderKind::Dns { .. })));
}

/// Resolves a DNS bootstrap resolver's hosts (what DrtOpen does); failures are skipped, so a
/// host that does not resolve leaves the DRT ALONE rather than failing the open.
pub(crate) fn resolve_seeds(hosts: &str, port: u16) -> Vec<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let mut out = Vec::new();
    for h in hosts.split([',', ';']).map(str::trim).filter(|h| !h.is_empty()) {
        let found: Vec<_> = match h.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(_) => (h.trim_start_matches('[').trim_end_matches(']'), port)
                .to_socket_addrs()
                .map(|a| a.collect())
                .unwrap_or_default(),
        };
        for a in found {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

// ----- peerdrt.h credential helpers ---------------------------------------------------------

#[repr(C)]
struct CertBox {
    context: CERT_CONTEXT,
    bytes: Vec<u8>,
}

fn new_cert(bytes: Vec<u8>) -> *const CERT_CONTEXT {
    let mut b = Box::new(CertBox {
        context: CERT_CONTEXT {
            dwCertEncodingType: PEERDRT_CERT_ENCODING,
            pbCertEncoded: ptr::null_mut(),
            cbCertEncoded: bytes.len() as u32,
            pCertInfo: ptr::null_mut(),
            hCertStore: ptr::null_mut(),
        },
        bytes,
    });
    b.context.pbCertEncoded = b.bytes.as_mut_ptr();
    let p = Box::into_raw(b);
    registry().certs.insert(p as usize);
    p as *const CERT_CONTEXT
}

/// peerdrt.h: a new root credential (a key pair that can issue), the stand-in for the SDK
/// sample's self-signed root certificate. Free with `PeerDrtFreeCertificate`.
///
/// # Safety
/// `ppRoot` must be NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerDrtCreateRootCertificate(ppRoot: *mut *const CERT_CONTEXT) -> HRESULT {
    guard(|| {
        if ppRoot.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        let p = new_cert(RootCredential::generate().encode());
        // SAFETY: checked non-NULL.
        unsafe { ppRoot.write_unaligned(p) };
        Ok(())
    })
}

/// peerdrt.h: a new local credential issued by `pRoot` (which must hold its secret).
///
/// # Safety
/// `pRoot` must be NULL or a valid CERT_CONTEXT; `ppLocal` NULL or valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "system" fn PeerDrtIssueCertificate(
    pRoot: *const CERT_CONTEXT,
    ppLocal: *mut *const CERT_CONTEXT,
) -> HRESULT {
    guard(|| {
        if pRoot.is_null() || ppLocal.is_null() {
            return Err(Error(E_INVALIDARG));
        }
        // SAFETY: per the contract.
        let root = unsafe { cert_bytes(pRoot) }
            .and_then(RootCredential::decode)
            .ok_or(Error(DRT_E_INVALID_CERT_CHAIN))?;
        let local = root.issue().ok_or(Error(DRT_E_INVALID_CERT_CHAIN))?;
        let p = new_cert(local.encode());
        // SAFETY: checked non-NULL.
        unsafe { ppLocal.write_unaligned(p) };
        Ok(())
    })
}

/// peerdrt.h: frees a credential made by the two functions above (others are ignored).
#[unsafe(no_mangle)]
pub extern "system" fn PeerDrtFreeCertificate(pCert: *const CERT_CONTEXT) {
    guard_void(|| {
        let ours = registry().certs.remove(&(pCert as usize));
        if ours {
            // SAFETY: allocated by `new_cert` and removed from the table: freed once.
            drop(unsafe { Box::from_raw(pCert as *mut CertBox) });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_resolver_hosts_resolve_with_default_and_own_ports() {
        let s = resolve_seeds("127.0.0.1, [::1]:4001; localhost:4002;nonexistent.invalid", 4000);
        assert!(s.contains(&"127.0.0.1:4000".parse().unwrap()));
        assert!(s.contains(&"[::1]:4001".parse().unwrap()));
        assert!(s.iter().any(|a| a.port() == 4002));
        assert!(!s.iter().any(|a| a.port() == 4000 && a.ip().is_unspecified()));
        assert_eq!(resolve_seeds("::1", 5000), vec!["[::1]:5000".parse().unwrap()]);
    }
}
