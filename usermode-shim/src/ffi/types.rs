//! The C types of drt.h, laid out as on Win32 x64 (natural C alignment), with compile-time
//! size and offset checks. Names follow the header, hence the lint allowances.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::c_void;
use std::mem::{align_of, offset_of, size_of};

/// HRESULT (LONG).
pub type HRESULT = i32;
/// BOOL.
pub type BOOL = i32;
/// HANDLE.
pub type HANDLE = *mut c_void;
/// HDRT.
pub type HDRT = *mut c_void;
/// HDRT_SEARCH_CONTEXT.
pub type HDRT_SEARCH_CONTEXT = *mut c_void;
/// HDRT_TRANSPORT.
pub type HDRT_TRANSPORT = *mut c_void;
/// HDRT_REGISTRATION_CONTEXT.
pub type HDRT_REGISTRATION_CONTEXT = *mut c_void;
/// WCHAR: UTF-16 on every platform (drt.h's PWSTR), as Wine and mingw define it.
pub type WCHAR = u16;

/// DRT_SCOPE values.
pub const DRT_GLOBAL_SCOPE: u32 = 1;
/// DRT_SITE_LOCAL_SCOPE.
pub const DRT_SITE_LOCAL_SCOPE: u32 = 2;
/// DRT_LINK_LOCAL_SCOPE.
pub const DRT_LINK_LOCAL_SCOPE: u32 = 3;

/// DRT_EVENT_TYPE values.
pub const DRT_EVENT_STATUS_CHANGED: u32 = 0;
/// DRT_EVENT_LEAFSET_KEY_CHANGED.
pub const DRT_EVENT_LEAFSET_KEY_CHANGED: u32 = 1;
/// DRT_EVENT_REGISTRATION_STATE_CHANGED.
pub const DRT_EVENT_REGISTRATION_STATE_CHANGED: u32 = 2;

/// DRT_MAX_PAYLOAD_SIZE.
pub const DRT_MAX_PAYLOAD_SIZE: u32 = 5120;
/// DRT_MAX_INSTANCE_PREFIX_LEN.
pub const DRT_MAX_INSTANCE_PREFIX_LEN: usize = 128;
/// DRT_MIN_ROUTING_ADDRESSES.
pub const DRT_MIN_ROUTING_ADDRESSES: u32 = 1;
/// DRT_MAX_ROUTING_ADDRESSES.
pub const DRT_MAX_ROUTING_ADDRESSES: u32 = 20;

/// WAIT_OBJECT_0.
pub const WAIT_OBJECT_0: u32 = 0;
/// WAIT_TIMEOUT.
pub const WAIT_TIMEOUT: u32 = 0x102;
/// WAIT_FAILED.
pub const WAIT_FAILED: u32 = 0xFFFF_FFFF;
/// INFINITE.
pub const INFINITE: u32 = 0xFFFF_FFFF;

/// AF_INET6 of the platform the shim runs on (23 on Windows, 10 on Linux).
#[cfg(windows)]
pub const AF_INET6: u16 = 23;
/// AF_INET6 of the platform the shim runs on (23 on Windows, 10 on Linux).
#[cfg(unix)]
pub const AF_INET6: u16 = libc::AF_INET6 as u16;

/// DRT_DATA.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_DATA {
    /// Byte count.
    pub cb: u32,
    /// The bytes.
    pub pb: *mut u8,
}

/// DRT_REGISTRATION.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_REGISTRATION {
    /// The key (32 bytes, least-significant byte first).
    pub key: DRT_DATA,
    /// Application data (1..=5120 bytes).
    pub appData: DRT_DATA,
}

/// DRT_SECURITY_PROVIDER: a context and thirteen cdecl method pointers. The shim's own
/// providers run in the driver; their method table is empty (NULL).
#[repr(C)]
#[derive(Debug)]
pub struct DRT_SECURITY_PROVIDER {
    /// pvContext.
    pub pvContext: *mut c_void,
    /// Attach, Detach, RegisterKey, UnregisterKey, ValidateAndUnpackPayload,
    /// SecureAndPackPayload, FreeData, EncryptData, DecryptData, GetSerializedCredential,
    /// ValidateRemoteCredential, SignData, VerifyData.
    pub methods: [*mut c_void; 13],
}

/// DRT_BOOTSTRAP_PROVIDER: a context and seven cdecl method pointers (Attach, Detach,
/// InitResolve, IssueResolve, EndResolve, Register, Unregister).
#[repr(C)]
#[derive(Debug)]
pub struct DRT_BOOTSTRAP_PROVIDER {
    /// pvContext.
    pub pvContext: *mut c_void,
    /// The methods.
    pub methods: [*mut c_void; 7],
}

/// DRT_SETTINGS.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_SETTINGS {
    /// sizeof(DRT_SETTINGS).
    pub dwSize: u32,
    /// Key size: 32.
    pub cbKey: u32,
    /// Protocol major version (in every packet).
    pub bProtocolMajorVersion: u8,
    /// Protocol minor version.
    pub bProtocolMinorVersion: u8,
    /// 1..=20.
    pub ulMaxRoutingAddresses: u32,
    /// Instance name prefix (≤ 128 characters).
    pub pwzDrtInstancePrefix: *mut WCHAR,
    /// From DrtCreateIpv6UdpTransport.
    pub hTransport: HDRT_TRANSPORT,
    /// From DrtCreate*SecurityProvider.
    pub pSecurityProvider: *mut DRT_SECURITY_PROVIDER,
    /// From DrtCreate*BootstrapResolver.
    pub pBootstrapProvider: *mut DRT_BOOTSTRAP_PROVIDER,
    /// DRT_SECURITY_MODE.
    pub eSecurityMode: u32,
}

/// DRT_SEARCH_INFO.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_SEARCH_INFO {
    /// sizeof(DRT_SEARCH_INFO).
    pub dwSize: u32,
    /// Report every hop.
    pub fIterative: BOOL,
    /// Keys of this instance may match.
    pub fAllowCurrentInstanceMatch: BOOL,
    /// Stop at the first key in range.
    pub fAnyMatchInRange: BOOL,
    /// Results wanted.
    pub cMaxEndpoints: u32,
    /// Upper bound of the range.
    pub pMaximumKey: *mut DRT_DATA,
    /// Lower bound of the range.
    pub pMinimumKey: *mut DRT_DATA,
}

/// SOCKADDR_STORAGE (128 bytes, 8-aligned); the shim fills it as a sockaddr_in6.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR_STORAGE {
    /// Address family.
    pub ss_family: u16,
    /// Padding.
    pub __ss_pad1: [u8; 6],
    /// Alignment.
    pub __ss_align: i64,
    /// Padding.
    pub __ss_pad2: [u8; 112],
}

/// sockaddr_in6 (the same 28-byte layout on Windows and Linux).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SOCKADDR_IN6 {
    /// AF_INET6.
    pub sin6_family: u16,
    /// Port, network byte order.
    pub sin6_port: u16,
    /// Flow information.
    pub sin6_flowinfo: u32,
    /// Address.
    pub sin6_addr: [u8; 16],
    /// Scope id.
    pub sin6_scope_id: u32,
}

/// DRT_ADDRESS.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_ADDRESS {
    /// The node.
    pub socketAddress: SOCKADDR_STORAGE,
    /// DRT_ADDRESS_FLAGS.
    pub flags: u32,
    /// Leading bits shared with the target.
    pub nearness: i32,
    /// Round-trip time.
    pub latency: u32,
}

/// DRT_ADDRESS_LIST (variable length).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_ADDRESS_LIST {
    /// Entries.
    pub AddressCount: u32,
    /// The first of them.
    pub AddressList: [DRT_ADDRESS; 1],
}

/// DRT_SEARCH_RESULT.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_SEARCH_RESULT {
    /// sizeof(DRT_SEARCH_RESULT).
    pub dwSize: u32,
    /// DRT_MATCH_TYPE.
    pub r#type: u32,
    /// The search's pvContext.
    pub pvContext: *mut c_void,
    /// Key and application data (pointing into the same buffer).
    pub registration: DRT_REGISTRATION,
}

/// DRT_EVENT_DATA.leafsetKeyChange.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_LEAFSET_KEY_CHANGE {
    /// DRT_LEAFSET_KEY_CHANGE_TYPE.
    pub change: u32,
    /// The local key.
    pub localKey: DRT_DATA,
    /// The remote key.
    pub remoteKey: DRT_DATA,
}

/// DRT_EVENT_DATA.registrationStateChange.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_REGISTRATION_STATE_CHANGE {
    /// DRT_REGISTRATION_STATE.
    pub state: u32,
    /// The key.
    pub localKey: DRT_DATA,
}

/// DRT_EVENT_DATA.statusChange.bootstrapAddresses.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_BOOTSTRAP_ADDRESSES {
    /// Count.
    pub cntAddress: u32,
    /// The addresses.
    pub pAddresses: *mut SOCKADDR_STORAGE,
}

/// DRT_EVENT_DATA.statusChange.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct DRT_STATUS_CHANGE {
    /// DRT_STATUS.
    pub status: u32,
    /// What the bootstrapper returned (on DRT_ALONE).
    pub bootstrapAddresses: DRT_BOOTSTRAP_ADDRESSES,
}

/// The union of DRT_EVENT_DATA.
#[repr(C)]
#[derive(Clone, Copy)]
pub union DRT_EVENT_DATA_0 {
    /// DRT_EVENT_LEAFSET_KEY_CHANGED.
    pub leafsetKeyChange: DRT_LEAFSET_KEY_CHANGE,
    /// DRT_EVENT_REGISTRATION_STATE_CHANGED.
    pub registrationStateChange: DRT_REGISTRATION_STATE_CHANGE,
    /// DRT_EVENT_STATUS_CHANGED.
    pub statusChange: DRT_STATUS_CHANGE,
}

/// DRT_EVENT_DATA.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DRT_EVENT_DATA {
    /// DRT_EVENT_TYPE.
    pub r#type: u32,
    /// HRESULT of the event.
    pub hr: HRESULT,
    /// DrtOpen's pvContext.
    pub pvContext: *mut c_void,
    /// Per type.
    pub u: DRT_EVENT_DATA_0,
}

/// CERT_CONTEXT of wincrypt.h (the shim reads peerdrt credentials from it; see `cert`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CERT_CONTEXT {
    /// Encoding type: `PEERDRT_CERT_ENCODING` for peerdrt credentials.
    pub dwCertEncodingType: u32,
    /// Encoded bytes.
    pub pbCertEncoded: *mut u8,
    /// Their count.
    pub cbCertEncoded: u32,
    /// PCERT_INFO (unused by the shim).
    pub pCertInfo: *mut c_void,
    /// HCERTSTORE (unused by the shim).
    pub hCertStore: *mut c_void,
}

macro_rules! layout {
    ($t:ty, size $s:expr, align $a:expr $(, $f:ident @ $o:expr)*) => {
        const _: () = assert!(size_of::<$t>() == $s);
        const _: () = assert!(align_of::<$t>() == $a);
        $(const _: () = assert!(offset_of!($t, $f) == $o);)*
    };
}

// The Win32 x64 layouts (natural alignment: pointers 8, ULONG/DWORD/BOOL/enums 4).
layout!(DRT_DATA, size 16, align 8, cb @ 0, pb @ 8);
layout!(DRT_REGISTRATION, size 32, align 8, key @ 0, appData @ 16);
layout!(DRT_SETTINGS, size 56, align 8,
    dwSize @ 0, cbKey @ 4, bProtocolMajorVersion @ 8, bProtocolMinorVersion @ 9,
    ulMaxRoutingAddresses @ 12, pwzDrtInstancePrefix @ 16, hTransport @ 24,
    pSecurityProvider @ 32, pBootstrapProvider @ 40, eSecurityMode @ 48);
layout!(DRT_SEARCH_INFO, size 40, align 8,
    dwSize @ 0, fIterative @ 4, fAllowCurrentInstanceMatch @ 8, fAnyMatchInRange @ 12,
    cMaxEndpoints @ 16, pMaximumKey @ 24, pMinimumKey @ 32);
layout!(SOCKADDR_STORAGE, size 128, align 8, ss_family @ 0, __ss_align @ 8, __ss_pad2 @ 16);
layout!(SOCKADDR_IN6, size 28, align 4,
    sin6_family @ 0, sin6_port @ 2, sin6_flowinfo @ 4, sin6_addr @ 8, sin6_scope_id @ 24);
layout!(DRT_ADDRESS, size 144, align 8, socketAddress @ 0, flags @ 128, nearness @ 132, latency @ 136);
layout!(DRT_ADDRESS_LIST, size 152, align 8, AddressCount @ 0, AddressList @ 8);
layout!(DRT_SEARCH_RESULT, size 48, align 8, dwSize @ 0, r#type @ 4, pvContext @ 8, registration @ 16);
layout!(DRT_LEAFSET_KEY_CHANGE, size 40, align 8, change @ 0, localKey @ 8, remoteKey @ 24);
layout!(DRT_REGISTRATION_STATE_CHANGE, size 24, align 8, state @ 0, localKey @ 8);
layout!(DRT_BOOTSTRAP_ADDRESSES, size 16, align 8, cntAddress @ 0, pAddresses @ 8);
layout!(DRT_STATUS_CHANGE, size 24, align 8, status @ 0, bootstrapAddresses @ 8);
layout!(DRT_EVENT_DATA_0, size 40, align 8);
layout!(DRT_EVENT_DATA, size 56, align 8, r#type @ 0, hr @ 4, pvContext @ 8, u @ 16);
layout!(DRT_SECURITY_PROVIDER, size 112, align 8, pvContext @ 0, methods @ 8);
layout!(DRT_BOOTSTRAP_PROVIDER, size 64, align 8, pvContext @ 0, methods @ 8);
layout!(CERT_CONTEXT, size 40, align 8,
    dwCertEncodingType @ 0, pbCertEncoded @ 8, cbCertEncoded @ 16, pCertInfo @ 24, hCertStore @ 32);

/// Bytes of a DRT_ADDRESS_LIST with `n` entries (never less than the declared struct).
pub const fn address_list_size(n: usize) -> usize {
    let s = offset_of!(DRT_ADDRESS_LIST, AddressList) + n * size_of::<DRT_ADDRESS>();
    if s < size_of::<DRT_ADDRESS_LIST>() { size_of::<DRT_ADDRESS_LIST>() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The const asserts above already fail the build on any mismatch; this test states the
    // numbers once more where `cargo test` output shows them.
    #[test]
    fn struct_layouts_match_win32_x64() {
        let sizes = [
            ("DRT_DATA", size_of::<DRT_DATA>(), 16),
            ("DRT_REGISTRATION", size_of::<DRT_REGISTRATION>(), 32),
            ("DRT_SETTINGS", size_of::<DRT_SETTINGS>(), 56),
            ("DRT_SEARCH_INFO", size_of::<DRT_SEARCH_INFO>(), 40),
            ("DRT_SEARCH_RESULT", size_of::<DRT_SEARCH_RESULT>(), 48),
            ("DRT_EVENT_DATA", size_of::<DRT_EVENT_DATA>(), 56),
            ("DRT_ADDRESS", size_of::<DRT_ADDRESS>(), 144),
            ("DRT_ADDRESS_LIST", size_of::<DRT_ADDRESS_LIST>(), 152),
            ("SOCKADDR_STORAGE", size_of::<SOCKADDR_STORAGE>(), 128),
            ("DRT_SECURITY_PROVIDER", size_of::<DRT_SECURITY_PROVIDER>(), 112),
            ("DRT_BOOTSTRAP_PROVIDER", size_of::<DRT_BOOTSTRAP_PROVIDER>(), 64),
            ("CERT_CONTEXT", size_of::<CERT_CONTEXT>(), 40),
        ];
        for (name, got, want) in sizes {
            assert_eq!(got, want, "sizeof({name})");
        }
        assert_eq!(offset_of!(DRT_SETTINGS, eSecurityMode), 48);
        assert_eq!(offset_of!(DRT_SEARCH_INFO, pMinimumKey), 32);
        assert_eq!(offset_of!(DRT_EVENT_DATA, u), 16);
        assert_eq!(offset_of!(DRT_ADDRESS, latency), 136);
        assert_eq!(address_list_size(0), 152);
        assert_eq!(address_list_size(1), 152);
        assert_eq!(address_list_size(3), 8 + 3 * 144);
    }
}
