//! Peer time: the group's shared clock, as a FILETIME (100-ns units since 1601-01-01 UTC).
//!
//! The engine never reads a clock: the host hands in its own reading (its UTC as a FILETIME)
//! and a member turns it into the group's peer time with its [`PeerClock`] offset. A member's
//! offset starts at zero (peer time = its UTC); the first time it connects to another member it
//! adopts that member's peer time, which the WELCOME carries (the handshake authenticates it),
//! corrected by half the round trip. A difference larger than
//! [`MAX_CLOCK_SKEW`](super::limits::MAX_CLOCK_SKEW) refuses the connection instead.

use super::limits::MAX_CLOCK_SKEW;

/// A FILETIME value on the group's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PeerTime(pub u64);

impl PeerTime {
    /// 100-ns units per millisecond.
    pub const TICKS_PER_MILLI: u64 = 10_000;
    /// 100-ns units per second.
    pub const TICKS_PER_SECOND: u64 = 10_000_000;

    /// `self` plus `ticks` 100-ns units, saturating at the end of time.
    pub const fn plus_ticks(self, ticks: u64) -> Self {
        Self(self.0.saturating_add(ticks))
    }

    /// `self` plus `seconds`, saturating.
    pub const fn plus_seconds(self, seconds: u64) -> Self {
        self.plus_ticks(seconds.saturating_mul(Self::TICKS_PER_SECOND))
    }

    /// `self` plus `millis`, saturating.
    pub const fn plus_millis(self, millis: u64) -> Self {
        self.plus_ticks(millis.saturating_mul(Self::TICKS_PER_MILLI))
    }

    /// `self - other` in 100-ns units, saturating at the ends of `i64`.
    pub fn ticks_since(self, other: PeerTime) -> i64 {
        let difference = i128::from(self.0) - i128::from(other.0);
        difference.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// `self` moved by `ticks` (either way), saturating.
    pub const fn shifted(self, ticks: i64) -> Self {
        Self(self.0.saturating_add_signed(ticks))
    }
}

/// A host clock reading converted to the group's peer time: the offset a member learned when it
/// connected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerClock {
    /// Peer time minus the host's clock, in 100-ns units.
    offset: i64,
    /// Whether the offset was adopted from another member (it is adopted once).
    adopted: bool,
}

/// Two peer times further apart than [`MAX_CLOCK_SKEW`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSkew {
    /// How far the other clock is ahead of ours (negative: behind), in 100-ns units.
    pub ticks: i64,
}

impl PeerClock {
    /// PeerGroupUniversalTimeToPeerTime: peer time at host clock reading `utc`.
    pub fn peer_time(&self, utc: PeerTime) -> PeerTime {
        utc.shifted(self.offset)
    }

    /// PeerGroupPeerTimeToUniversalTime: the host clock reading at peer time `peer`.
    pub fn universal_time(&self, peer: PeerTime) -> PeerTime {
        peer.shifted(self.offset.saturating_neg())
    }

    /// Peer time minus the host's clock, in 100-ns units.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// Whether the offset was adopted from another member.
    pub fn is_adopted(&self) -> bool {
        self.adopted
    }

    /// Checks another member's peer time `theirs` against ours (`ours`, at the same instant).
    pub fn check(ours: PeerTime, theirs: PeerTime) -> Result<i64, ClockSkew> {
        let ticks = theirs.ticks_since(ours);
        if ticks.unsigned_abs() > MAX_CLOCK_SKEW {
            return Err(ClockSkew { ticks });
        }
        Ok(ticks)
    }

    /// Learns from a WELCOME: we sent the HELLO at `sent` and received the answer at `received`
    /// (both our peer time), and the other member's peer time when it answered was `theirs`.
    /// The first time within [`MAX_CLOCK_SKEW`], our peer time becomes theirs (plus half the
    /// round trip); past the bound, nothing changes and the skew is returned.
    pub fn learn(&mut self, sent: PeerTime, received: PeerTime, theirs: PeerTime) -> Result<(), ClockSkew> {
        let half_trip = received.ticks_since(sent).max(0) / 2;
        let ticks = Self::check(received, theirs.shifted(half_trip))?;
        if !self.adopted {
            self.offset = self.offset.saturating_add(ticks);
            self.adopted = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: PeerTime = PeerTime(133_000_000_000_000_000);
    const SKEW: u64 = 90 * PeerTime::TICKS_PER_SECOND;

    #[test]
    fn a_member_adopts_the_first_peer_time_it_learns_within_the_bound() {
        let mut clock = PeerClock::default();
        assert_eq!(clock.peer_time(T), T, "peer time starts as the host's clock");
        // Our clock is 90 s ahead: we sent at T+90 s, heard back 2 s later, they said T+1 s.
        let sent = T.plus_ticks(SKEW);
        clock.learn(sent, sent.plus_seconds(2), T.plus_seconds(1)).unwrap();
        assert_eq!(clock.peer_time(T.plus_ticks(SKEW)), T, "peer time is theirs, half a round trip later");
        assert_eq!(clock.universal_time(T), T.plus_ticks(SKEW));
        assert!(clock.is_adopted());
        let offset = clock.offset();
        clock.learn(T, T, T.plus_seconds(30)).unwrap();
        assert_eq!(clock.offset(), offset, "adopted once");
    }

    #[test]
    fn a_skew_at_the_bound_is_accepted_and_one_tick_past_it_refused() {
        let at = T.plus_ticks(MAX_CLOCK_SKEW);
        assert_eq!(PeerClock::check(T, at), Ok(MAX_CLOCK_SKEW as i64));
        assert_eq!(PeerClock::check(at, T), Ok(-(MAX_CLOCK_SKEW as i64)));
        let past = at.plus_ticks(1);
        assert_eq!(PeerClock::check(T, past), Err(ClockSkew { ticks: MAX_CLOCK_SKEW as i64 + 1 }));
        let mut clock = PeerClock::default();
        assert!(clock.learn(T, T, past).is_err());
        assert_eq!(clock, PeerClock::default(), "a refused skew changes nothing");
    }
}
