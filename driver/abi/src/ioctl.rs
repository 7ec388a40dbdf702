//! The device's control codes: `FILE_DEVICE_NETWORK`, functions from 0x800, `METHOD_BUFFERED`,
//! and the access each needs (read for queries, read + write for anything that changes state).

use crate::{FILE_DEVICE_NETWORK, FILE_READ_ACCESS, FILE_WRITE_ACCESS, METHOD_BUFFERED, ctl_code};

const RW: u32 = FILE_READ_ACCESS | FILE_WRITE_ACCESS;

/// DrtOpen: create a DRT instance bound to its transport.
pub const OPEN_INSTANCE: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x800, METHOD_BUFFERED, RW);
/// DrtClose.
pub const CLOSE_INSTANCE: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x801, METHOD_BUFFERED, RW);
/// DrtRegisterKey.
pub const REGISTER_KEY: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x802, METHOD_BUFFERED, RW);
/// DrtUpdateKey.
pub const UPDATE_KEY: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x803, METHOD_BUFFERED, RW);
/// DrtUnregisterKey.
pub const UNREGISTER_KEY: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x804, METHOD_BUFFERED, RW);
/// DrtStartSearch.
pub const START_SEARCH: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x805, METHOD_BUFFERED, RW);
/// DrtContinueSearch.
pub const CONTINUE_SEARCH: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x806, METHOD_BUFFERED, RW);
/// DrtEndSearch.
pub const END_SEARCH: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x807, METHOD_BUFFERED, RW);
/// DrtGetSearchPath.
pub const GET_SEARCH_PATH: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x808, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Wait for the next event of this open (pends until one arrives; the inverted call).
pub const WAIT_EVENT: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x809, METHOD_BUFFERED, FILE_READ_ACCESS);
/// Instance status and counters.
pub const QUERY_INSTANCE: u32 = ctl_code(FILE_DEVICE_NETWORK, 0x80A, METHOD_BUFFERED, FILE_READ_ACCESS);

/// Every control code, in function order.
pub const ALL: [u32; 11] = [
    OPEN_INSTANCE,
    CLOSE_INSTANCE,
    REGISTER_KEY,
    UPDATE_KEY,
    UNREGISTER_KEY,
    START_SEARCH,
    CONTINUE_SEARCH,
    END_SEARCH,
    GET_SEARCH_PATH,
    WAIT_EVENT,
    QUERY_INSTANCE,
];

/// The function number of a control code.
pub const fn function(code: u32) -> u32 {
    (code >> 2) & 0xFFF
}

/// The access bits of a control code.
pub const fn access(code: u32) -> u32 {
    (code >> 14) & 0x3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_buffered_network_codes_from_0x800() {
        for (i, code) in ALL.iter().enumerate() {
            assert_eq!(code >> 16, FILE_DEVICE_NETWORK);
            assert_eq!(code & 3, METHOD_BUFFERED);
            assert_eq!(function(*code), 0x800 + i as u32);
        }
        assert_eq!(OPEN_INSTANCE, 0x0012_E000);
        assert_eq!(access(GET_SEARCH_PATH), FILE_READ_ACCESS);
        assert_eq!(access(REGISTER_KEY), FILE_READ_ACCESS | FILE_WRITE_ACCESS);
    }
}
