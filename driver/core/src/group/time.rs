//! Peer time: the group's shared clock, as a FILETIME (100-ns units since 1601-01-01 UTC).
//!
//! The host converts its UTC clock to peer time (PeerGroupUniversalTimeToPeerTime) and hands
//! the value in; the engine never reads a clock.

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
}
