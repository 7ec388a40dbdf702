//! PeerGroupStartup's version negotiation.

use super::hresult::PEER_E_UNSUPPORTED_VERSION;
use super::types::{PEER_GROUP_VERSION, PEER_VERSION_DATA};

/// (major, minor) of a version WORD: the low byte is the major version, the high byte the minor.
fn parts(version: u16) -> (u8, u8) {
    (version as u8, (version >> 8) as u8)
}

/// The PEER_VERSION_DATA PeerGroupStartup answers `requested` (the highest version the caller
/// supports) with: the lower of it and [`PEER_GROUP_VERSION`], or PEER_E_UNSUPPORTED_VERSION for
/// a version below 1.0.
pub fn negotiate(requested: u16) -> Result<PEER_VERSION_DATA, u32> {
    if parts(requested).0 == 0 {
        return Err(PEER_E_UNSUPPORTED_VERSION);
    }
    let version = if parts(requested) < parts(PEER_GROUP_VERSION) { requested } else { PEER_GROUP_VERSION };
    Ok(PEER_VERSION_DATA { wVersion: version, wHighestVersion: PEER_GROUP_VERSION })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_gets_the_lower_of_its_version_and_ours() {
        assert_eq!(negotiate(0x0101), Ok(PEER_VERSION_DATA { wVersion: 0x0101, wHighestVersion: 0x0101 }));
        assert_eq!(negotiate(0x0001), Ok(PEER_VERSION_DATA { wVersion: 0x0001, wHighestVersion: 0x0101 }));
        assert_eq!(negotiate(0x0002), Ok(PEER_VERSION_DATA { wVersion: 0x0101, wHighestVersion: 0x0101 }));
        assert_eq!(negotiate(0x0501), Ok(PEER_VERSION_DATA { wVersion: 0x0101, wHighestVersion: 0x0101 }));
        assert_eq!(negotiate(0x0100), Err(PEER_E_UNSUPPORTED_VERSION), "0.1 is below 1.0");
    }
}
