//! The FACILITY_P2P HRESULTs of the grouping API, with their p2p.h names.

pub use peerdrt_abi::group::hresult::*;

/// PEER_E_UNSUPPORTED_VERSION.
pub const PEER_E_UNSUPPORTED_VERSION: u32 = 0x8063_2090;
/// E_POINTER.
pub const E_POINTER: u32 = 0x8000_4003;

/// Every named grouping value.
const NAMES: &[(u32, &str)] = &[
    (PEER_S_NO_EVENT_DATA, "PEER_S_NO_EVENT_DATA"),
    (PEER_S_ALREADY_CONNECTED, "PEER_S_ALREADY_CONNECTED"),
    (PEER_E_NOT_INITIALIZED, "PEER_E_NOT_INITIALIZED"),
    (PEER_E_RECORD_NOT_FOUND, "PEER_E_RECORD_NOT_FOUND"),
    (PEER_E_MAX_RECORD_SIZE_EXCEEDED, "PEER_E_MAX_RECORD_SIZE_EXCEEDED"),
    (PEER_E_INVALID_SEARCH, "PEER_E_INVALID_SEARCH"),
    (PEER_E_INVALID_ATTRIBUTES, "PEER_E_INVALID_ATTRIBUTES"),
    (PEER_E_INVALID_TIME_PERIOD, "PEER_E_INVALID_TIME_PERIOD"),
    (PEER_E_INVALID_RECORD, "PEER_E_INVALID_RECORD"),
    (PEER_E_NOT_AUTHORIZED, "PEER_E_NOT_AUTHORIZED"),
    (PEER_E_INVALID_RECORD_EXPIRATION, "PEER_E_INVALID_RECORD_EXPIRATION"),
    (PEER_E_INVALID_CREDENTIAL, "PEER_E_INVALID_CREDENTIAL"),
    (PEER_E_UNSUPPORTED_VERSION, "PEER_E_UNSUPPORTED_VERSION"),
    (PEER_E_GROUP_NOT_READY, "PEER_E_GROUP_NOT_READY"),
    (PEER_E_INVALID_GROUP, "PEER_E_INVALID_GROUP"),
    (PEER_E_NO_MEMBER_CONNECTIONS, "PEER_E_NO_MEMBER_CONNECTIONS"),
    (PEER_E_CONNECTION_NOT_AUTHENTICATED, "PEER_E_CONNECTION_NOT_AUTHENTICATED"),
    (PEER_E_PASSWORD_DOES_NOT_MEET_POLICY, "PEER_E_PASSWORD_DOES_NOT_MEET_POLICY"),
    (PEER_E_INVITATION_NOT_TRUSTED, "PEER_E_INVITATION_NOT_TRUSTED"),
];

/// The p2p.h name of a grouping HRESULT.
pub fn name(hresult: u32) -> Option<&'static str> {
    NAMES.iter().find(|(value, _)| *value == hresult).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bit_exact_with_the_p2p_h_table() {
        let expected = [
            ("PEER_E_GROUP_NOT_READY", 0x8063_2091),
            ("PEER_E_INVALID_GROUP", 0x8063_2093),
            ("PEER_E_NOT_AUTHORIZED", 0x8063_2020),
            ("PEER_E_MAX_RECORD_SIZE_EXCEEDED", 0x8063_0304),
            ("PEER_E_INVALID_ATTRIBUTES", 0x8063_0602),
            ("PEER_E_INVALID_RECORD", 0x8063_2010),
            ("PEER_E_RECORD_NOT_FOUND", 0x8063_0301),
            ("PEER_E_UNSUPPORTED_VERSION", 0x8063_2090),
            ("PEER_S_NO_EVENT_DATA", 0x0063_0002),
        ];
        for (label, value) in expected {
            assert_eq!(name(value), Some(label));
        }
        let mut values: Vec<u32> = NAMES.iter().map(|(v, _)| *v).collect();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), NAMES.len(), "no two names share a value");
    }
}
