//! Flood control: token buckets driven by the caller's time values, one per recent source (a
//! bounded table) and one shared by every source that is not verified.
//!
//! A source is an address when the address is globally routable, and an address and port when
//! it is not (loopback, private, link-local): many honest nodes share one local address (every
//! node of a host on loopback, a LAN behind one NAT), while a routable address is one party.
//! This is the rule of the route cache's per-address limit ([`address_limit_applies`]). A
//! verified source (one that completed a round trip, see `verified.rs`) gets a larger bucket
//! than an unverified one.
//!
//! A datagram that finds its bucket empty is dropped before it is decoded, so a flood of any
//! message type, from one source or from many spoofed ones, costs a bounded amount of work and
//! memory per second.

use alloc::vec::Vec;

use super::cache::address_limit_applies;
use crate::time::Instant;
use crate::wire::Endpoint;

/// Datagrams one unverified source may send in a burst.
pub const SOURCE_BURST: u32 = 128;
/// Datagrams per second one unverified source may send once its burst is spent.
pub const SOURCE_RATE: u32 = 64;
/// Datagrams one verified source may send in a burst.
pub const VERIFIED_SOURCE_BURST: u32 = 1024;
/// Datagrams per second one verified source may send once its burst is spent.
pub const VERIFIED_SOURCE_RATE: u32 = 512;
/// Sources with a bucket of their own (the least recently seen goes when full).
pub const MAX_RATE_SOURCES: usize = 64;
/// Datagrams all unverified sources together may send in a burst.
pub const UNVERIFIED_BURST: u32 = 512;
/// Datagrams per second all unverified sources together may send once the burst is spent.
pub const UNVERIFIED_RATE: u32 = 256;

/// Tokens are counted in thousandths so that a rate in tokens per second refills exactly per
/// millisecond.
const MILLI: u64 = 1000;

/// The size of a token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSize {
    /// Tokens when full (datagrams in a burst).
    pub burst: u32,
    /// Tokens added per second.
    pub rate: u32,
}

/// The per-source buckets' sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// A source that is not verified.
    pub unverified: BucketSize,
    /// A verified source.
    pub verified: BucketSize,
}

impl Default for SourceLimits {
    fn default() -> Self {
        Self {
            unverified: BucketSize { burst: SOURCE_BURST, rate: SOURCE_RATE },
            verified: BucketSize { burst: VERIFIED_SOURCE_BURST, rate: VERIFIED_SOURCE_RATE },
        }
    }
}

/// A node's flood limits (`NodeConfig::flood`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodLimits {
    /// Per-source buckets, or `None` for no per-source limit: for benchmarks that drive one
    /// node from one verified source, never for a node on a network. The shared unverified
    /// bucket and the anti-amplification rule hold either way.
    pub per_source: Option<SourceLimits>,
    /// The bucket shared by all unverified sources.
    pub unverified: BucketSize,
}

impl Default for FloodLimits {
    fn default() -> Self {
        Self {
            per_source: Some(SourceLimits::default()),
            unverified: BucketSize { burst: UNVERIFIED_BURST, rate: UNVERIFIED_RATE },
        }
    }
}

impl FloodLimits {
    /// The defaults without per-source limits (see [`FloodLimits::per_source`]).
    pub fn benchmark() -> Self {
        Self { per_source: None, ..Self::default() }
    }
}

/// A token bucket: `burst` tokens at most, refilled at `rate` tokens per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    milli_tokens: u64,
    size: BucketSize,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, rate: u32, now: Instant) -> Self {
        Self { milli_tokens: u64::from(burst) * MILLI, size: BucketSize { burst, rate }, refilled_at: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed_ms = now.as_millis().saturating_sub(self.refilled_at.as_millis());
        // rate tokens/s = rate milli-tokens/ms.
        let refill = elapsed_ms.saturating_mul(u64::from(self.size.rate));
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(u64::from(self.size.burst) * MILLI);
        self.refilled_at = self.refilled_at.max(now);
        if self.milli_tokens >= MILLI {
            self.milli_tokens -= MILLI;
            true
        } else {
            false
        }
    }

    /// Changes the bucket's size from now on: tokens gained so far are kept (refilled at the old
    /// rate up to `now`); a smaller burst caps them at the next `take`.
    fn resize(&mut self, size: BucketSize, now: Instant) {
        if self.size != size {
            let elapsed_ms = now.as_millis().saturating_sub(self.refilled_at.as_millis());
            let refill = elapsed_ms.saturating_mul(u64::from(self.size.rate));
            self.milli_tokens =
                self.milli_tokens.saturating_add(refill).min(u64::from(self.size.burst) * MILLI);
            self.refilled_at = self.refilled_at.max(now);
            self.size = size;
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
    /// Its source spent its own bucket.
    Source,
    /// Unverified sources together spent the shared bucket.
    Unverified,
}

/// What one per-source bucket belongs to: an address and port for a local address, the address
/// alone (port 0) for a globally routable one.
fn source_of(from: Endpoint) -> Endpoint {
    if address_limit_applies(&from.addr) { Endpoint { addr: from.addr, port: 0 } } else { from }
}

/// The buckets of one node.
#[derive(Debug)]
pub struct RateLimiter {
    /// A bucket's last refill is its source's last datagram (every datagram takes or tries to
    /// take a token), so no separate "last seen" time is kept.
    sources: Vec<(Endpoint, TokenBucket)>,
    per_source: Option<SourceLimits>,
    unverified: TokenBucket,
}

impl RateLimiter {
    /// Full buckets at `now`, sized by `limits`.
    pub fn new(now: Instant, limits: FloodLimits) -> Self {
        Self {
            sources: Vec::new(),
            per_source: limits.per_source,
            unverified: TokenBucket::new(limits.unverified.burst, limits.unverified.rate, now),
        }
    }

    /// Admits one datagram from `from` (which is `verified` or not), or says why not.
    pub fn admit(&mut self, now: Instant, from: Endpoint, verified: bool) -> Result<(), Limited> {
        if let Some(limits) = self.per_source {
            let size = if verified { limits.verified } else { limits.unverified };
            let source = source_of(from);
            let index = match self.sources.iter().position(|(s, _)| *s == source) {
                Some(i) => i,
                None => {
                    if self.sources.len() >= MAX_RATE_SOURCES {
                        // The least recently seen source loses its bucket (a new one starts
                        // full, which the shared bucket bounds for spoofed sources).
                        if let Some(oldest) =
                            (0..self.sources.len()).min_by_key(|&i| self.sources[i].1.refilled_at)
                        {
                            self.sources.swap_remove(oldest);
                        }
                    }
                    self.sources.push((source, TokenBucket::new(size.burst, size.rate, now)));
                    self.sources.len() - 1
                }
            };
            let (_, bucket) = &mut self.sources[index];
            bucket.resize(size, now);
            if !bucket.take(now) {
                return Err(Limited::Source);
            }
        }
        if !verified && !self.unverified.take(now) {
            return Err(Limited::Unverified);
        }
        Ok(())
    }

    /// Sources with a bucket.
    pub fn tracked(&self) -> usize {
        self.sources.len()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.sources.capacity() * core::mem::size_of::<(Endpoint, TokenBucket)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    /// A globally routable address.
    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn ep(addr: Ipv6Addr, port: u16) -> Endpoint {
        Endpoint { addr, port }
    }

    fn loopback(port: u16) -> Endpoint {
        ep(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port)
    }

    fn limiter() -> RateLimiter {
        RateLimiter::new(Instant(0), FloodLimits::default())
    }

    /// Admits `n` datagrams from `from` at `now`, all of which must pass.
    fn admit_all(limiter: &mut RateLimiter, now: Instant, from: Endpoint, verified: bool, n: u32) {
        for i in 0..n {
            assert_eq!(limiter.admit(now, from, verified), Ok(()), "datagram {i}");
        }
    }

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
    fn an_unverified_source_gets_exactly_source_burst_then_source_rate() {
        let mut limiter = limiter();
        // Its first datagrams also draw on the shared bucket, which is larger.
        admit_all(&mut limiter, Instant(0), ep(A, 4000), false, SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(0), ep(A, 4000), false), Err(Limited::Source));
        // SOURCE_RATE per second: exactly SOURCE_RATE more one second later, not one more.
        admit_all(&mut limiter, Instant(1000), ep(A, 4000), false, SOURCE_RATE);
        assert_eq!(limiter.admit(Instant(1000), ep(A, 4000), false), Err(Limited::Source));
    }

    #[test]
    fn a_verified_source_gets_exactly_verified_source_burst_then_its_rate() {
        let mut limiter = limiter();
        admit_all(&mut limiter, Instant(0), ep(A, 4000), true, VERIFIED_SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(0), ep(A, 4000), true), Err(Limited::Source));
        admit_all(&mut limiter, Instant(1000), ep(A, 4000), true, VERIFIED_SOURCE_RATE);
        assert_eq!(limiter.admit(Instant(1000), ep(A, 4000), true), Err(Limited::Source));
        // Another address is not affected.
        let b = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        assert_eq!(limiter.admit(Instant(1000), ep(b, 4000), true), Ok(()));
    }

    #[test]
    fn a_source_that_becomes_verified_keeps_its_tokens_and_grows_to_the_verified_burst() {
        let mut limiter = limiter();
        admit_all(&mut limiter, Instant(0), ep(A, 4000), false, SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(0), ep(A, 4000), true), Err(Limited::Source));
        // Refilled at the verified rate, up to the verified burst.
        let full = u64::from(VERIFIED_SOURCE_BURST / VERIFIED_SOURCE_RATE) * 1000;
        admit_all(&mut limiter, Instant(full), ep(A, 4000), true, VERIFIED_SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(full), ep(A, 4000), true), Err(Limited::Source));
    }

    #[test]
    fn a_routable_address_is_one_source_whatever_its_ports() {
        let mut limiter = limiter();
        for i in 0..SOURCE_BURST {
            assert_eq!(limiter.admit(Instant(0), ep(A, 4000 + i as u16), false), Ok(()));
        }
        assert_eq!(limiter.admit(Instant(0), ep(A, 9999), false), Err(Limited::Source));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn each_port_of_a_local_address_is_a_source_of_its_own() {
        let mut limiter = limiter();
        admit_all(&mut limiter, Instant(0), loopback(4000), true, VERIFIED_SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(0), loopback(4000), true), Err(Limited::Source));
        // Another node on the same host.
        admit_all(&mut limiter, Instant(0), loopback(4001), true, VERIFIED_SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(0), loopback(4001), true), Err(Limited::Source));
        // The same for private, link-local and unique-local addresses.
        for addr in [
            Ipv4Addr::new(192, 168, 1, 2).to_ipv6_mapped(),
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
        ] {
            admit_all(&mut limiter, Instant(0), ep(addr, 4000), true, VERIFIED_SOURCE_BURST);
            assert_eq!(limiter.admit(Instant(0), ep(addr, 4001), true), Ok(()));
        }
    }

    #[test]
    fn unverified_sources_share_one_bucket_whatever_their_addresses() {
        let mut limiter = limiter();
        for i in 0..UNVERIFIED_BURST {
            let addr = Ipv6Addr::from(u128::from(i) + 1);
            assert_eq!(limiter.admit(Instant(0), ep(addr, 4000), false), Ok(()));
        }
        let next = Ipv6Addr::from(u128::from(UNVERIFIED_BURST) + 1);
        assert_eq!(limiter.admit(Instant(0), ep(next, 4000), false), Err(Limited::Unverified));
        // Verified sources do not draw on it.
        assert_eq!(limiter.admit(Instant(0), ep(next, 4000), true), Ok(()));
    }

    #[test]
    fn without_per_source_limits_one_verified_source_is_never_limited() {
        let mut limiter = RateLimiter::new(Instant(0), FloodLimits::benchmark());
        admit_all(&mut limiter, Instant(0), loopback(4000), true, 100_000);
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn without_per_source_limits_the_shared_unverified_bucket_still_holds() {
        let mut limiter = RateLimiter::new(Instant(0), FloodLimits::benchmark());
        admit_all(&mut limiter, Instant(0), loopback(4000), false, UNVERIFIED_BURST);
        assert_eq!(limiter.admit(Instant(0), loopback(4000), false), Err(Limited::Unverified));
    }

    #[test]
    fn the_table_holds_at_most_max_rate_sources_sources() {
        let mut limiter = limiter();
        for i in 0..MAX_RATE_SOURCES as u16 {
            let _ = limiter.admit(Instant(u64::from(i)), loopback(4000 + i), true);
        }
        assert_eq!(limiter.tracked(), MAX_RATE_SOURCES);
        let bytes = limiter.heap_bytes();
        let _ = limiter.admit(Instant(100), loopback(9000), true);
        assert_eq!(limiter.tracked(), MAX_RATE_SOURCES);
        for i in 0..10_000u128 {
            let _ = limiter.admit(Instant(100), ep(Ipv6Addr::from(i + 1000), 4000), false);
        }
        assert_eq!(limiter.tracked(), MAX_RATE_SOURCES);
        assert_eq!(limiter.heap_bytes(), bytes);
    }

    #[test]
    fn the_least_recently_seen_source_loses_its_bucket() {
        let mut limiter = limiter();
        for i in 0..MAX_RATE_SOURCES as u16 {
            let _ = limiter.admit(Instant(u64::from(i)), loopback(4000 + i), false);
        }
        // Port 4000 was seen first; seeing it again makes 4001 the oldest.
        admit_all(&mut limiter, Instant(100), loopback(4000), false, SOURCE_BURST);
        assert_eq!(limiter.admit(Instant(100), loopback(5000), false), Ok(()));
        assert_eq!(limiter.tracked(), MAX_RATE_SOURCES);
        // 4000 kept its spent bucket; 4001 starts again with a full one.
        assert_eq!(limiter.admit(Instant(100), loopback(4000), false), Err(Limited::Source));
        admit_all(&mut limiter, Instant(100), loopback(4001), false, SOURCE_BURST);
    }
}
