//! The NTSTATUS values (ntstatus.h) the driver and the netio.sys stand-in use.

use crate::base::NTSTATUS;

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        $($(#[$doc])* pub const $name: NTSTATUS = $value as u32 as NTSTATUS;)*
    };
}

statuses! {
    STATUS_SUCCESS = 0x0000_0000u32;
    STATUS_WAIT_0 = 0x0000_0000u32;
    STATUS_USER_APC = 0x0000_00C0u32;
    STATUS_ALERTED = 0x0000_0101u32;
    STATUS_TIMEOUT = 0x0000_0102u32;
    /// The operation continues; its IRP completes later.
    STATUS_PENDING = 0x0000_0103u32;
    STATUS_BUFFER_OVERFLOW = 0x8000_0005u32;
    STATUS_NO_MORE_ENTRIES = 0x8000_001Au32;
    STATUS_UNSUCCESSFUL = 0xC000_0001u32;
    STATUS_NOT_IMPLEMENTED = 0xC000_0002u32;
    STATUS_INVALID_HANDLE = 0xC000_0008u32;
    STATUS_INVALID_PARAMETER = 0xC000_000Du32;
    STATUS_INVALID_DEVICE_REQUEST = 0xC000_0010u32;
    /// An IoCompletion routine keeps the IRP (always, for IRPs the driver allocated).
    STATUS_MORE_PROCESSING_REQUIRED = 0xC000_0016u32;
    STATUS_NO_MEMORY = 0xC000_0017u32;
    STATUS_ACCESS_DENIED = 0xC000_0022u32;
    STATUS_BUFFER_TOO_SMALL = 0xC000_0023u32;
    STATUS_OBJECT_NAME_COLLISION = 0xC000_0035u32;
    STATUS_DELETE_PENDING = 0xC000_0056u32;
    STATUS_REVISION_MISMATCH = 0xC000_0059u32;
    STATUS_INSUFFICIENT_RESOURCES = 0xC000_009Au32;
    STATUS_DEVICE_NOT_READY = 0xC000_00A3u32;
    /// A WSK socket is no longer usable: close it.
    STATUS_FILE_FORCED_CLOSED = 0xC000_00B6u32;
    STATUS_NOT_SUPPORTED = 0xC000_00BBu32;
    STATUS_REQUEST_NOT_ACCEPTED = 0xC000_00D0u32;
    STATUS_UNEXPECTED_IO_ERROR = 0xC000_00E9u32;
    STATUS_CANCELLED = 0xC000_0120u32;
    STATUS_INVALID_ADDRESS = 0xC000_0141u32;
    STATUS_INVALID_DEVICE_STATE = 0xC000_0184u32;
    STATUS_INVALID_BUFFER_SIZE = 0xC000_0206u32;
    STATUS_INVALID_ADDRESS_COMPONENT = 0xC000_0207u32;
    STATUS_ADDRESS_ALREADY_EXISTS = 0xC000_020Au32;
    STATUS_CONNECTION_RESET = 0xC000_020Du32;
    /// WskReceiveFromEvent: the datagrams were not taken (event callbacks pause).
    STATUS_DATA_NOT_ACCEPTED = 0xC000_021Bu32;
    STATUS_NOT_FOUND = 0xC000_0225u32;
    STATUS_CONNECTION_REFUSED = 0xC000_0236u32;
    STATUS_NETWORK_UNREACHABLE = 0xC000_023Cu32;
    STATUS_HOST_UNREACHABLE = 0xC000_023Du32;
    /// NMR: the client declines a provider (or an NPI version is not supported).
    STATUS_NOINTERFACE = 0xC000_02B9u32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_their_bit_patterns() {
        assert_eq!(STATUS_PENDING, 0x103);
        assert_eq!(STATUS_MORE_PROCESSING_REQUIRED as u32, 0xC000_0016);
        assert_eq!(STATUS_NOINTERFACE as u32, 0xC000_02B9);
        assert!(!crate::base::NT_SUCCESS(STATUS_UNSUCCESSFUL));
    }
}
