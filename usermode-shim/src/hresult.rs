//! HRESULT values the API returns, with their names, and the shim's error type.

use std::fmt;

pub use peerdrt_abi::status::hresult::*;

/// E_NOTIMPL.
pub const E_NOTIMPL: u32 = 0x8000_4001;
/// E_POINTER.
pub const E_POINTER: u32 = 0x8000_4003;
/// `HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE)`: the device (peerdrt.sys / `peerdrtd`) is not
/// there. The shim's answer when DrtOpen cannot reach it.
pub const E_SERVICE_NOT_ACTIVE: u32 = 0x8007_0426;

/// Every named value, for [`name`].
const NAMES: &[(u32, &str)] = &[
    (S_OK, "S_OK"),
    (E_HANDLE, "E_HANDLE"),
    (E_INVALIDARG, "E_INVALIDARG"),
    (E_OUTOFMEMORY, "E_OUTOFMEMORY"),
    (E_UNEXPECTED, "E_UNEXPECTED"),
    (E_FAIL, "E_FAIL"),
    (E_ACCESSDENIED, "E_ACCESSDENIED"),
    (E_NOTIMPL, "E_NOTIMPL"),
    (E_POINTER, "E_POINTER"),
    (E_SERVICE_NOT_ACTIVE, "HRESULT_FROM_WIN32(ERROR_SERVICE_NOT_ACTIVE)"),
    (DRT_E_TIMEOUT, "DRT_E_TIMEOUT"),
    (DRT_E_INVALID_KEY_SIZE, "DRT_E_INVALID_KEY_SIZE"),
    (DRT_E_INVALID_CERT_CHAIN, "DRT_E_INVALID_CERT_CHAIN"),
    (DRT_E_INVALID_MESSAGE, "DRT_E_INVALID_MESSAGE"),
    (DRT_E_NO_MORE, "DRT_E_NO_MORE"),
    (DRT_E_INVALID_MAX_ADDRESSES, "DRT_E_INVALID_MAX_ADDRESSES"),
    (DRT_E_SEARCH_IN_PROGRESS, "DRT_E_SEARCH_IN_PROGRESS"),
    (DRT_E_INVALID_KEY, "DRT_E_INVALID_KEY"),
    (DRT_S_RETRY, "DRT_S_RETRY"),
    (DRT_E_INVALID_MAX_ENDPOINTS, "DRT_E_INVALID_MAX_ENDPOINTS"),
    (DRT_E_INVALID_SEARCH_RANGE, "DRT_E_INVALID_SEARCH_RANGE"),
    (DRT_E_INVALID_PORT, "DRT_E_INVALID_PORT"),
    (DRT_E_INVALID_TRANSPORT_PROVIDER, "DRT_E_INVALID_TRANSPORT_PROVIDER"),
    (DRT_E_INVALID_SECURITY_PROVIDER, "DRT_E_INVALID_SECURITY_PROVIDER"),
    (DRT_E_STILL_IN_USE, "DRT_E_STILL_IN_USE"),
    (DRT_E_INVALID_BOOTSTRAP_PROVIDER, "DRT_E_INVALID_BOOTSTRAP_PROVIDER"),
    (DRT_E_INVALID_ADDRESS, "DRT_E_INVALID_ADDRESS"),
    (DRT_E_INVALID_SCOPE, "DRT_E_INVALID_SCOPE"),
    (DRT_E_TRANSPORT_SHUTTING_DOWN, "DRT_E_TRANSPORT_SHUTTING_DOWN"),
    (DRT_E_NO_ADDRESSES_AVAILABLE, "DRT_E_NO_ADDRESSES_AVAILABLE"),
    (DRT_E_DUPLICATE_KEY, "DRT_E_DUPLICATE_KEY"),
    (DRT_E_TRANSPORTPROVIDER_IN_USE, "DRT_E_TRANSPORTPROVIDER_IN_USE"),
    (DRT_E_TRANSPORTPROVIDER_NOT_ATTACHED, "DRT_E_TRANSPORTPROVIDER_NOT_ATTACHED"),
    (DRT_E_SECURITYPROVIDER_IN_USE, "DRT_E_SECURITYPROVIDER_IN_USE"),
    (DRT_E_SECURITYPROVIDER_NOT_ATTACHED, "DRT_E_SECURITYPROVIDER_NOT_ATTACHED"),
    (DRT_E_BOOTSTRAPPROVIDER_IN_USE, "DRT_E_BOOTSTRAPPROVIDER_IN_USE"),
    (DRT_E_BOOTSTRAPPROVIDER_NOT_ATTACHED, "DRT_E_BOOTSTRAPPROVIDER_NOT_ATTACHED"),
    (DRT_E_TRANSPORT_ALREADY_BOUND, "DRT_E_TRANSPORT_ALREADY_BOUND"),
    (DRT_E_TRANSPORT_NOT_BOUND, "DRT_E_TRANSPORT_NOT_BOUND"),
    (DRT_E_TRANSPORT_UNEXPECTED, "DRT_E_TRANSPORT_UNEXPECTED"),
    (DRT_E_TRANSPORT_INVALID_ARGUMENT, "DRT_E_TRANSPORT_INVALID_ARGUMENT"),
    (DRT_E_TRANSPORT_NO_DEST_ADDRESSES, "DRT_E_TRANSPORT_NO_DEST_ADDRESSES"),
    (DRT_E_TRANSPORT_EXECUTING_CALLBACK, "DRT_E_TRANSPORT_EXECUTING_CALLBACK"),
    (DRT_E_TRANSPORT_ALREADY_EXISTS_FOR_SCOPE, "DRT_E_TRANSPORT_ALREADY_EXISTS_FOR_SCOPE"),
    (DRT_E_INVALID_SETTINGS, "DRT_E_INVALID_SETTINGS"),
    (DRT_E_INVALID_SEARCH_INFO, "DRT_E_INVALID_SEARCH_INFO"),
    (DRT_E_FAULTED, "DRT_E_FAULTED"),
    (DRT_E_TRANSPORT_STILL_BOUND, "DRT_E_TRANSPORT_STILL_BOUND"),
    (DRT_E_INSUFFICIENT_BUFFER, "DRT_E_INSUFFICIENT_BUFFER"),
    (DRT_E_INVALID_INSTANCE_PREFIX, "DRT_E_INVALID_INSTANCE_PREFIX"),
    (DRT_E_INVALID_SECURITY_MODE, "DRT_E_INVALID_SECURITY_MODE"),
    (DRT_E_CAPABILITY_MISMATCH, "DRT_E_CAPABILITY_MISMATCH"),
];

/// The symbolic name of an HRESULT the API returns.
pub fn name(hr: u32) -> Option<&'static str> {
    NAMES.iter().find(|(v, _)| *v == hr).map(|(_, n)| *n)
}

/// Whether an HRESULT is a failure (severity bit set).
pub const fn failed(hr: u32) -> bool {
    hr & 0x8000_0000 != 0
}

/// A failed call: its HRESULT.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error(pub u32);

impl Error {
    /// The HRESULT.
    pub fn hresult(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) => write!(f, "{n} (0x{:08X})", self.0),
            None => write!(f, "HRESULT 0x{:08X}", self.0),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// Results of the shim.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_facility_is_98_decimal() {
        for (i, (v, n)) in NAMES.iter().enumerate() {
            assert!(NAMES[i + 1..].iter().all(|(w, m)| w != v && m != n), "{n}");
            if n.starts_with("DRT_E_") {
                assert_eq!(v >> 16, 0x8062, "{n}");
            }
        }
        assert_eq!(Error(DRT_E_NO_MORE).to_string(), "DRT_E_NO_MORE (0x80621006)");
        assert!(!failed(DRT_S_RETRY));
        assert!(failed(DRT_E_TIMEOUT));
    }
}
