//! The HRESULTs of the PNRP and identity API (p2p.h), bit-exact.

/// PEER_E_NOT_INITIALIZED: PeerPnrpStartup was not called.
pub const PEER_E_NOT_INITIALIZED: u32 = 0x8063_0002;
/// PEER_E_CLASSIFIER_TOO_LONG.
pub const PEER_E_CLASSIFIER_TOO_LONG: u32 = 0x8063_0201;
/// PEER_E_NO_KEY_ACCESS.
pub const PEER_E_NO_KEY_ACCESS: u32 = 0x8063_0203;
/// PEER_E_IDENTITY_NOT_FOUND.
pub const PEER_E_IDENTITY_NOT_FOUND: u32 = 0x8063_0401;
/// PEER_E_INVALID_PEER_NAME.
pub const PEER_E_INVALID_PEER_NAME: u32 = 0x8063_2050;
/// PEER_E_INVALID_CLASSIFIER.
pub const PEER_E_INVALID_CLASSIFIER: u32 = 0x8063_2060;
/// PEER_E_UNSUPPORTED_VERSION.
pub const PEER_E_UNSUPPORTED_VERSION: u32 = 0x8063_2090;
/// PEER_E_SERVICE_NOT_AVAILABLE: no PNRP node (peerdrt.sys / peerdrtd) to talk to.
pub const PEER_E_SERVICE_NOT_AVAILABLE: u32 = 0x8063_20A1;
/// PEER_E_CANNOT_CONVERT_PEER_NAME.
pub const PEER_E_CANNOT_CONVERT_PEER_NAME: u32 = 0x8063_4001;
/// PEER_E_INVALID_PEER_HOST_NAME.
pub const PEER_E_INVALID_PEER_HOST_NAME: u32 = 0x8063_4002;
/// PEER_E_NO_MORE: an asynchronous resolve has returned every endpoint.
pub const PEER_E_NO_MORE: u32 = 0x8063_4003;
/// PEER_E_PNRP_DUPLICATE_PEER_NAME.
pub const PEER_E_PNRP_DUPLICATE_PEER_NAME: u32 = 0x8063_4005;
/// PEER_E_TIMEOUT.
pub const PEER_E_TIMEOUT: u32 = 0x8063_7005;
/// PEER_E_INVALID_ADDRESS.
pub const PEER_E_INVALID_ADDRESS: u32 = 0x8063_7007;
/// PEER_E_CLOUD_NOT_FOUND (HRESULT_FROM_WIN32(WSA_PNRP_CLOUD_NOT_FOUND)).
pub const PEER_E_CLOUD_NOT_FOUND: u32 = peerdrt_abi::pnrp::PEER_E_CLOUD_NOT_FOUND;
/// PEER_E_INVALID_IDENTITY (HRESULT_FROM_WIN32(WSA_PNRP_INVALID_IDENTITY)).
pub const PEER_E_INVALID_IDENTITY: u32 = 0x8007_2CEF;
/// PEER_E_NOT_FOUND (HRESULT_FROM_WIN32(ERROR_NOT_FOUND)): nothing resolved.
pub const PEER_E_NOT_FOUND: u32 = 0x8007_0490;
/// PEER_E_ALREADY_EXISTS (HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)).
pub const PEER_E_ALREADY_EXISTS: u32 = 0x8007_00B7;
/// E_PENDING: an asynchronous resolve has no endpoint yet.
pub const E_PENDING: u32 = 0x8000_000A;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win32_facility_codes_are_hresult_from_win32_of_their_wsa_codes() {
        let from_win32 = |code: u32| 0x8007_0000 | code;
        assert_eq!(PEER_E_CLOUD_NOT_FOUND, from_win32(11501));
        assert_eq!(PEER_E_INVALID_IDENTITY, from_win32(11503));
        assert_eq!(PEER_E_NOT_FOUND, from_win32(1168));
        assert_eq!(PEER_E_ALREADY_EXISTS, from_win32(183));
    }
}
