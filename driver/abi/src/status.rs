//! NTSTATUS values the device completes requests with, and the HRESULTs the shim returns.
//!
//! DRT errors travel as customer NTSTATUS codes `0xE062xxxx` (severity error, customer bit,
//! facility 0x062) and become the DRT HRESULTs `0x8062xxxx` (FACILITY_DRT = 98 decimal) bit for
//! bit in their low 16 bits.

/// STATUS_SUCCESS.
pub const SUCCESS: u32 = 0x0000_0000;
/// STATUS_PENDING: a wait-for-event request stays queued.
pub const PENDING: u32 = 0x0000_0103;
/// STATUS_BUFFER_OVERFLOW (warning): partial data returned.
pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
/// STATUS_NO_MORE_ENTRIES.
pub const NO_MORE_ENTRIES: u32 = 0x8000_001A;
/// STATUS_INVALID_HANDLE.
pub const INVALID_HANDLE: u32 = 0xC000_0008;
/// STATUS_INVALID_PARAMETER.
pub const INVALID_PARAMETER: u32 = 0xC000_000D;
/// STATUS_INVALID_DEVICE_REQUEST: an unknown control code.
pub const INVALID_DEVICE_REQUEST: u32 = 0xC000_0010;
/// STATUS_BUFFER_TOO_SMALL.
pub const BUFFER_TOO_SMALL: u32 = 0xC000_0023;
/// STATUS_REVISION_MISMATCH: the request's ABI version is not this driver's.
pub const REVISION_MISMATCH: u32 = 0xC000_0059;
/// STATUS_INSUFFICIENT_RESOURCES: a per-open quota or device-wide bound is full.
pub const INSUFFICIENT_RESOURCES: u32 = 0xC000_009A;
/// STATUS_CANCELLED: a pending wait was cancelled (its open is closing).
pub const CANCELLED: u32 = 0xC000_0120;
/// STATUS_ACCESS_DENIED.
pub const ACCESS_DENIED: u32 = 0xC000_0022;
/// STATUS_ADDRESS_ALREADY_EXISTS: the transport's port is taken.
pub const ADDRESS_ALREADY_EXISTS: u32 = 0xC000_020A;
/// STATUS_INVALID_DEVICE_STATE: the call is not valid now (E_UNEXPECTED).
pub const INVALID_DEVICE_STATE: u32 = 0xC000_0184;
/// STATUS_OBJECT_NAME_NOT_FOUND: no cloud of that name (PEER_E_CLOUD_NOT_FOUND).
pub const OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
/// STATUS_UNEXPECTED_IO_ERROR.
pub const UNEXPECTED_IO_ERROR: u32 = 0xC000_00E9;

/// The customer NTSTATUS carrying a DRT HRESULT.
pub const fn from_drt_hresult(hresult: u32) -> u32 {
    0xE062_0000 | (hresult & 0xFFFF)
}

/// HRESULT values of drt.h (bit-exact) and the generic ones the API returns.
pub mod hresult {
    /// S_OK.
    pub const S_OK: u32 = 0;
    /// E_HANDLE.
    pub const E_HANDLE: u32 = 0x8007_0006;
    /// E_INVALIDARG.
    pub const E_INVALIDARG: u32 = 0x8007_0057;
    /// E_OUTOFMEMORY.
    pub const E_OUTOFMEMORY: u32 = 0x8007_000E;
    /// E_UNEXPECTED.
    pub const E_UNEXPECTED: u32 = 0x8000_FFFF;
    /// E_FAIL.
    pub const E_FAIL: u32 = 0x8000_4005;
    /// E_ACCESSDENIED.
    pub const E_ACCESSDENIED: u32 = 0x8007_0005;
    /// DRT_E_TIMEOUT.
    pub const DRT_E_TIMEOUT: u32 = 0x8062_1001;
    /// DRT_E_INVALID_KEY_SIZE.
    pub const DRT_E_INVALID_KEY_SIZE: u32 = 0x8062_1002;
    /// DRT_E_INVALID_CERT_CHAIN.
    pub const DRT_E_INVALID_CERT_CHAIN: u32 = 0x8062_1004;
    /// DRT_E_INVALID_MESSAGE.
    pub const DRT_E_INVALID_MESSAGE: u32 = 0x8062_1005;
    /// DRT_E_NO_MORE.
    pub const DRT_E_NO_MORE: u32 = 0x8062_1006;
    /// DRT_E_INVALID_MAX_ADDRESSES.
    pub const DRT_E_INVALID_MAX_ADDRESSES: u32 = 0x8062_1007;
    /// DRT_E_SEARCH_IN_PROGRESS.
    pub const DRT_E_SEARCH_IN_PROGRESS: u32 = 0x8062_1008;
    /// DRT_E_INVALID_KEY.
    pub const DRT_E_INVALID_KEY: u32 = 0x8062_1009;
    /// DRT_S_RETRY.
    pub const DRT_S_RETRY: u32 = 0x0062_1010;
    /// DRT_E_INVALID_MAX_ENDPOINTS.
    pub const DRT_E_INVALID_MAX_ENDPOINTS: u32 = 0x8062_1011;
    /// DRT_E_INVALID_SEARCH_RANGE.
    pub const DRT_E_INVALID_SEARCH_RANGE: u32 = 0x8062_1012;
    /// DRT_E_INVALID_PORT.
    pub const DRT_E_INVALID_PORT: u32 = 0x8062_2000;
    /// DRT_E_INVALID_TRANSPORT_PROVIDER.
    pub const DRT_E_INVALID_TRANSPORT_PROVIDER: u32 = 0x8062_2001;
    /// DRT_E_INVALID_SECURITY_PROVIDER.
    pub const DRT_E_INVALID_SECURITY_PROVIDER: u32 = 0x8062_2002;
    /// DRT_E_STILL_IN_USE.
    pub const DRT_E_STILL_IN_USE: u32 = 0x8062_2003;
    /// DRT_E_INVALID_BOOTSTRAP_PROVIDER.
    pub const DRT_E_INVALID_BOOTSTRAP_PROVIDER: u32 = 0x8062_2004;
    /// DRT_E_INVALID_ADDRESS.
    pub const DRT_E_INVALID_ADDRESS: u32 = 0x8062_2005;
    /// DRT_E_INVALID_SCOPE.
    pub const DRT_E_INVALID_SCOPE: u32 = 0x8062_2006;
    /// DRT_E_TRANSPORT_SHUTTING_DOWN.
    pub const DRT_E_TRANSPORT_SHUTTING_DOWN: u32 = 0x8062_2007;
    /// DRT_E_NO_ADDRESSES_AVAILABLE.
    pub const DRT_E_NO_ADDRESSES_AVAILABLE: u32 = 0x8062_2008;
    /// DRT_E_DUPLICATE_KEY.
    pub const DRT_E_DUPLICATE_KEY: u32 = 0x8062_2009;
    /// DRT_E_TRANSPORTPROVIDER_IN_USE.
    pub const DRT_E_TRANSPORTPROVIDER_IN_USE: u32 = 0x8062_200A;
    /// DRT_E_TRANSPORTPROVIDER_NOT_ATTACHED.
    pub const DRT_E_TRANSPORTPROVIDER_NOT_ATTACHED: u32 = 0x8062_200B;
    /// DRT_E_SECURITYPROVIDER_IN_USE.
    pub const DRT_E_SECURITYPROVIDER_IN_USE: u32 = 0x8062_200C;
    /// DRT_E_SECURITYPROVIDER_NOT_ATTACHED.
    pub const DRT_E_SECURITYPROVIDER_NOT_ATTACHED: u32 = 0x8062_200D;
    /// DRT_E_BOOTSTRAPPROVIDER_IN_USE.
    pub const DRT_E_BOOTSTRAPPROVIDER_IN_USE: u32 = 0x8062_200E;
    /// DRT_E_BOOTSTRAPPROVIDER_NOT_ATTACHED.
    pub const DRT_E_BOOTSTRAPPROVIDER_NOT_ATTACHED: u32 = 0x8062_200F;
    /// DRT_E_TRANSPORT_ALREADY_BOUND.
    pub const DRT_E_TRANSPORT_ALREADY_BOUND: u32 = 0x8062_2101;
    /// DRT_E_TRANSPORT_NOT_BOUND.
    pub const DRT_E_TRANSPORT_NOT_BOUND: u32 = 0x8062_2102;
    /// DRT_E_TRANSPORT_UNEXPECTED.
    pub const DRT_E_TRANSPORT_UNEXPECTED: u32 = 0x8062_2103;
    /// DRT_E_TRANSPORT_INVALID_ARGUMENT.
    pub const DRT_E_TRANSPORT_INVALID_ARGUMENT: u32 = 0x8062_2104;
    /// DRT_E_TRANSPORT_NO_DEST_ADDRESSES.
    pub const DRT_E_TRANSPORT_NO_DEST_ADDRESSES: u32 = 0x8062_2105;
    /// DRT_E_TRANSPORT_EXECUTING_CALLBACK.
    pub const DRT_E_TRANSPORT_EXECUTING_CALLBACK: u32 = 0x8062_2106;
    /// DRT_E_TRANSPORT_ALREADY_EXISTS_FOR_SCOPE.
    pub const DRT_E_TRANSPORT_ALREADY_EXISTS_FOR_SCOPE: u32 = 0x8062_2107;
    /// DRT_E_INVALID_SETTINGS.
    pub const DRT_E_INVALID_SETTINGS: u32 = 0x8062_2108;
    /// DRT_E_INVALID_SEARCH_INFO.
    pub const DRT_E_INVALID_SEARCH_INFO: u32 = 0x8062_2109;
    /// DRT_E_FAULTED.
    pub const DRT_E_FAULTED: u32 = 0x8062_210A;
    /// DRT_E_TRANSPORT_STILL_BOUND.
    pub const DRT_E_TRANSPORT_STILL_BOUND: u32 = 0x8062_210B;
    /// DRT_E_INSUFFICIENT_BUFFER.
    pub const DRT_E_INSUFFICIENT_BUFFER: u32 = 0x8062_210C;
    /// DRT_E_INVALID_INSTANCE_PREFIX.
    pub const DRT_E_INVALID_INSTANCE_PREFIX: u32 = 0x8062_210D;
    /// DRT_E_INVALID_SECURITY_MODE.
    pub const DRT_E_INVALID_SECURITY_MODE: u32 = 0x8062_210E;
    /// DRT_E_CAPABILITY_MISMATCH.
    pub const DRT_E_CAPABILITY_MISMATCH: u32 = 0x8062_210F;
}

/// The HRESULT an application sees for a completion status.
pub const fn to_hresult(status: u32) -> u32 {
    match status {
        SUCCESS => hresult::S_OK,
        s if s & 0xFFFF_0000 == 0xE062_0000 => 0x8062_0000 | (s & 0xFFFF),
        s if s & 0xFFFF_0000 == 0xE063_0000 => 0x8063_0000 | (s & 0xFFFF),
        INVALID_HANDLE => hresult::E_HANDLE,
        INVALID_PARAMETER | REVISION_MISMATCH => hresult::E_INVALIDARG,
        BUFFER_TOO_SMALL | BUFFER_OVERFLOW => hresult::DRT_E_INSUFFICIENT_BUFFER,
        INSUFFICIENT_RESOURCES => hresult::E_OUTOFMEMORY,
        NO_MORE_ENTRIES => hresult::DRT_E_NO_MORE,
        ACCESS_DENIED => hresult::E_ACCESSDENIED,
        ADDRESS_ALREADY_EXISTS => hresult::DRT_E_TRANSPORT_ALREADY_BOUND,
        CANCELLED | INVALID_DEVICE_STATE => hresult::E_UNEXPECTED,
        OBJECT_NAME_NOT_FOUND => crate::pnrp::PEER_E_CLOUD_NOT_FOUND,
        _ => hresult::E_FAIL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drt_hresults_round_trip_through_customer_ntstatus() {
        for hr in [hresult::DRT_E_TIMEOUT, hresult::DRT_E_DUPLICATE_KEY, hresult::DRT_E_CAPABILITY_MISMATCH] {
            let status = from_drt_hresult(hr);
            assert_eq!(status >> 28, 0xE);
            assert_eq!(to_hresult(status), hr);
        }
        assert_eq!(to_hresult(SUCCESS), 0);
        assert_eq!(to_hresult(INVALID_HANDLE), hresult::E_HANDLE);
        assert_eq!(hresult::DRT_S_RETRY, 0x0062_1010);
    }
}
