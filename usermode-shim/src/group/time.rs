//! Peer time (PeerGroupUniversalTimeToPeerTime / PeerGroupPeerTimeToUniversalTime).
//!
//! Peer time is UTC corrected by a group-wide offset: a member adopts the peer time of the first
//! member it connects to (the WELCOME carries it, `peerdrt_core::group::time`), and the device
//! reports the offset with the group's status.

use super::types::FILETIME;
use peerdrt_core::group::time::PeerTime;

/// The group's offset from local UTC to peer time, in 100-ns units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerClock {
    /// Peer time minus UTC.
    pub offset: i64,
}

impl PeerClock {
    /// PeerGroupUniversalTimeToPeerTime.
    pub fn to_peer_time(&self, utc: FILETIME) -> PeerTime {
        PeerTime(utc.to_u64().saturating_add_signed(self.offset))
    }

    /// PeerGroupPeerTimeToUniversalTime.
    pub fn to_universal_time(&self, peer: PeerTime) -> FILETIME {
        FILETIME::from_u64(peer.0.saturating_add_signed(self.offset.saturating_neg()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_inverse_and_apply_the_offset() {
        let clock = PeerClock { offset: -5_000_000 };
        let utc = FILETIME::from_u64(133_000_000_000_000_000);
        assert_eq!(clock.to_peer_time(utc), PeerTime(133_000_000_000_000_000 - 5_000_000));
        assert_eq!(clock.to_universal_time(clock.to_peer_time(utc)), utc);
        assert_eq!(PeerClock::default().to_peer_time(utc).0, utc.to_u64());
    }
}
