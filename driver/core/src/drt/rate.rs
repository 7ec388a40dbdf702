//! Flood control: token buckets driven by the caller's time values, one per recent source
//! address (a bounded table) and one shared by every source whose address is not verified.
//!
//! A datagram that finds its bucket empty is dropped before it is decoded, so a flood of any
//! message type, from one address or from many spoofed ones, costs a bounded amount of work and
//! memory per second.

use alloc::vec::Vec;
use core::net::Ipv6Addr;

use crate::time::Instant;

/// Datagrams one source address may send in a burst.
pub const SOURCE_BURST: u32 = 128;
/// Datagrams per second one source address may send once its burst is spent.
pub const SOURCE_RATE: u32 = 64;
/// Source addresses with a bucket of their own (the least recently seen goes when full).
pub const MAX_RATE_SOURCES: usize = 64;
/// Datagrams all unverified sources together may send in a burst.
pub const UNVERIFIED_BURST: u32 = 512;
/// Datagrams per second all unverified sources together may send once the burst is spent.
pub const UNVERIFIED_RATE: u32 = 256;

/// Tokens are counted in thousandths so that a rate in tokens per second refills exactly per
/// millisecond.
const MILLI: u64 = 1000;

/// A token bucket: `burst` tokens at most, refilled at `rate` tokens per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    milli_tokens: u64,
    burst: u32,
    rate: u32,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, rate: u32, now: Instant) -> Self {
        Self { milli_tokens: u64::from(burst) * MILLI, burst, rate, refilled_at: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed_ms = now.as_millis().saturating_sub(self.refilled_at.as_millis());
        // rate tokens/s = rate milli-tokens/ms.
        let refill = elapsed_ms.saturating_mul(u64::from(self.rate));
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(u64::from(self.burst) * MILLI);
        self.refilled_at = self.refilled_at.max(now);
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }

    /// Whole tokens left (as of the last `take`).
    pub fn tokens(&self) -> u32 {
        u32::try_from(self.milli_tokens / MILLI).unwrap_or(u32::MAX)
    }
}

/// Why a datagram was dropped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// Its source address spent its own bucket.
    Source,
    /// Unverified sources together spent the shared bucket.
    Unverified,
}

/// The buckets of one node.
#[derive(Debug)]
pub struct RateLimiter {
    sources: Vec<(Ipv6Addr, TokenBucket, Instant)>,
    unverified: TokenBucket,
}

impl RateLimiter {
    /// Full buckets at `now`.
    pub fn new(now: Instant) -> Self {
        Self { sources: Vec::new(), unverified: TokenBucket::new(UNVERIFIED_BURST, UNVERIFIED_RATE, now) }
    }

    /// Admits one datagram from `addr` (whose address is `verified` or not), or says why not.
    pub fn admit(&mut self, now: Instant, addr: Ipv6Addr, verified: bool) -> Result<(), Limited> {
        let index = match self.sources.iter().position(|(a, _, _)| *a == addr) {
            Some(i) => i,
            None => {
                if self.sources.len() >= MAX_RATE_SOURCES {
                    // The least recently seen address loses its bucket (a new one starts full,
                    // which the shared bucket bounds for spoofed addresses).
                    if let Some(oldest) = (0..self.sources.len()).min_by_key(|&i| self.sources[i].2) {
                        self.sources.swap_remove(oldest);
                    }
                }
                self.sources.push((addr, TokenBucket::new(SOURCE_BURST, SOURCE_RATE, now), now));
                self.sources.len() - 1
            }
        };
        let (_, bucket, seen) = &mut self.sources[index];
        *seen = now;
        if !bucket.take(now) {
            return Err(Limited::Source);
        }
        if !verified && !self.unverified.take(now) {
            return Err(Limited::Unverified);
        }
        Ok(())
    }

    /// Source addresses with a bucket.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.sources.capacity() * core::mem::size_of::<(Ipv6Addr, TokenBucket, Instant)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    #[test]
    fn a_bucket_gives_its_burst_then_refills_at_its_rate() {
        let mut bucket = TokenBucket::new(3, 10, Instant(0));
        assert!((0..3).all(|_| bucket.take(Instant(0))));
        assert!(!bucket.take(Instant(0)));
        // 10 per second: one token every 100 ms, not before.
        assert!(!bucket.take(Instant(99)));
        assert!(bucket.take(Instant(100)));
        // Never more than the burst, however long the pause.
        let mut bucket = TokenBucket::new(3, 10, Instant(0));
        assert!((0..3).all(|_| bucket.take(Instant(1_000_000))));
        assert!(!bucket.take(Instant(1_000_000)));
    }

    #[test]
    fn one_source_gets_exactly_its_burst_and_one_more_is_refused() {
        let mut limiter = RateLimiter::new(Instant(0));
        for _ in 0..SOURCE_BURST {
            assert_eq!(limiter.admit(Instant(0), A, true), Ok(()));
        }
        assert_eq!(limiter.admit(Instant(0), A, true), Err(Limited::Source));
        // Another address is not affected.
        let b = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        assert_eq!(limiter.admit(Instant(0), b, true), Ok(()));
    }

    #[test]
    fn unverified_sources_share_one_bucket_whatever_their_addresses() {
        let mut limiter = RateLimiter::new(Instant(0));
        for i in 0..UNVERIFIED_BURST {
            let addr = Ipv6Addr::from(u128::from(i) + 1);
            assert_eq!(limiter.admit(Instant(0), addr, false), Ok(()));
        }
        let next = Ipv6Addr::from(u128::from(UNVERIFIED_BURST) + 1);
        assert_eq!(limiter.admit(Instant(0), next, false), Err(Limited::Unverified));
        // Verified sources do not draw on it.
        assert_eq!(limiter.admit(Instant(0), next, true), Ok(()));
    }

    #[test]
    fn the_table_holds_at_most_max_rate_sources_addresses() {
        let mut limiter = RateLimiter::new(Instant(0));
        for i in 0..=MAX_RATE_SOURCES as u128 {
            let _ = limiter.admit(Instant(i as u64), Ipv6Addr::from(i + 1), true);
        }
        assert_eq!(limiter.tracked(), MAX_RATE_SOURCES);
        let bytes = limiter.heap_bytes();
        for i in 0..10_000u128 {
            let _ = limiter.admit(Instant(100), Ipv6Addr::from(i + 1000), false);
        }
        assert_eq!(limiter.tracked(), MAX_RATE_SOURCES);
        assert_eq!(limiter.heap_bytes(), bytes);
    }
}
