//! Anti-amplification: which source addresses are verified, and the requests from unverified
//! ones held back until their source proves it receives at its address.
//!
//! A source endpoint (address and port) is *verified* when it has completed a round trip with
//! this node: it answered, from that endpoint, a request this node sent to that endpoint, echoing
//! the request's random 32-bit message ID (an ACK, ADVERTISE or AUTHORITY that matched a pending
//! request). Route-cache entries are verified the same way before they are inserted, so an
//! endpoint in the cache counts as verified too. Verification lapses after
//! [`VERIFIED_LIFETIME`], or earlier when the table of [`MAX_VERIFIED_SOURCES`] needs room.
//!
//! To an unverified source, the node sends in reaction to one datagram at most as many bytes as
//! that datagram carried. A request whose answer would be larger is *deferred* (kept here) and a
//! challenge — a bare FLOOD asking for an ACK, 56 bytes — goes to the source if the request can
//! pay for it; the source's ACK completes the round trip, and the deferred requests are then
//! answered in full. (A 36-byte bare SOLICIT cannot pay: its sender also sends a 56-byte knock.)

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use crate::time::Instant;
use crate::wire::Endpoint;

/// Verified source endpoints remembered besides the route cache (the oldest goes when full).
pub const MAX_VERIFIED_SOURCES: usize = 64;
/// How long a completed round trip keeps an endpoint verified.
pub const VERIFIED_LIFETIME: Duration = Duration::from_secs(600);
/// Requests held back at once, from all unverified sources (the oldest goes when full).
pub const MAX_DEFERRED: usize = 16;
/// Requests held back at once from one source endpoint.
pub const MAX_DEFERRED_PER_SOURCE: usize = 4;
/// Largest request held back (an honest request is far smaller; larger ones are dropped).
pub const MAX_DEFERRED_LEN: usize = 1024;
/// Challenges outstanding at once (one per source; further sources wait for a slot).
pub const MAX_PENDING_CHALLENGES: usize = 16;
/// How long a request is held back for its source's answer to the challenge.
pub const DEFERRED_LIFETIME: Duration = Duration::from_secs(5);

/// Endpoints that completed a round trip with this node.
#[derive(Debug, Default)]
pub struct VerifiedSources {
    entries: Vec<(Endpoint, Instant)>,
}

impl VerifiedSources {
    /// Whether `endpoint` completed a round trip less than [`VERIFIED_LIFETIME`] before `now`.
    pub fn contains(&self, endpoint: &Endpoint, now: Instant) -> bool {
        self.entries.iter().any(|(e, at)| e == endpoint && now.saturating_since(*at) < VERIFIED_LIFETIME)
    }

    /// Notes a completed round trip with `endpoint` at `now`.
    pub fn insert(&mut self, endpoint: Endpoint, now: Instant) {
        if let Some((_, at)) = self.entries.iter_mut().find(|(e, _)| *e == endpoint) {
            *at = now;
            return;
        }
        if self.entries.len() >= MAX_VERIFIED_SOURCES
            && let Some(oldest) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].1)
        {
            self.entries.swap_remove(oldest);
        }
        self.entries.push((endpoint, now));
    }

    /// Endpoints remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<(Endpoint, Instant)>()
    }
}

/// A request held back until its source is verified.
#[derive(Debug)]
struct Deferred {
    from: Endpoint,
    message_id: u32,
    received_at: Instant,
    bytes: Vec<u8>,
}

/// What [`DeferredRequests::defer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// Held back.
    Held,
    /// The same request (a retransmission) is held already.
    Duplicate,
    /// Too large to hold: dropped.
    TooLarge,
}

/// Requests from unverified sources awaiting the answer to a challenge.
#[derive(Debug, Default)]
pub struct DeferredRequests {
    items: VecDeque<Deferred>,
}

impl DeferredRequests {
    /// Holds back the datagram `bytes` (message `message_id`) from `from`.
    pub fn defer(&mut self, now: Instant, from: Endpoint, message_id: u32, bytes: &[u8]) -> Deferral {
        if bytes.len() > MAX_DEFERRED_LEN {
            return Deferral::TooLarge;
        }
        if self.items.iter().any(|d| d.from == from && d.message_id == message_id) {
            return Deferral::Duplicate;
        }
        // One source cannot take every slot: its oldest request goes first.
        if self.items.iter().filter(|d| d.from == from).count() >= MAX_DEFERRED_PER_SOURCE
            && let Some(i) = self.items.iter().position(|d| d.from == from)
        {
            self.items.remove(i);
        }
        if self.items.len() >= MAX_DEFERRED {
            self.items.pop_front();
        }
        self.items.push_back(Deferred { from, message_id, received_at: now, bytes: bytes.to_vec() });
        Deferral::Held
    }

    /// Takes every request held back from `from`, oldest first.
    pub fn take(&mut self, from: &Endpoint) -> Vec<Vec<u8>> {
        let mut taken = Vec::new();
        self.items.retain_mut(|d| {
            if d.from == *from {
                taken.push(core::mem::take(&mut d.bytes));
                false
            } else {
                true
            }
        });
        taken
    }

    /// Forgets the requests from `from` (its challenge went unanswered).
    pub fn forget(&mut self, from: &Endpoint) {
        self.items.retain(|d| d.from != *from);
    }

    /// Forgets requests held longer than [`DEFERRED_LIFETIME`].
    pub fn expire(&mut self, now: Instant) {
        self.items.retain(|d| now.saturating_since(d.received_at) < DEFERRED_LIFETIME);
    }

    /// Requests held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.items.capacity() * core::mem::size_of::<Deferred>()
            + self.items.iter().map(|d| d.bytes.capacity()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv6Addr;

    fn ep(i: u16) -> Endpoint {
        Endpoint { addr: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), port: 3540 }
    }

    #[test]
    fn verification_lasts_its_lifetime_and_not_one_millisecond_more() {
        let mut v = VerifiedSources::default();
        v.insert(ep(1), Instant(0));
        let lifetime = VERIFIED_LIFETIME.as_millis() as u64;
        assert!(v.contains(&ep(1), Instant(lifetime - 1)));
        assert!(!v.contains(&ep(1), Instant(lifetime)));
        // Same address, other port: another endpoint.
        assert!(!v.contains(&Endpoint { port: 3541, ..ep(1) }, Instant(0)));
    }

    #[test]
    fn the_verified_table_holds_max_verified_sources_and_drops_the_oldest() {
        let mut v = VerifiedSources::default();
        for i in 0..MAX_VERIFIED_SOURCES as u16 {
            v.insert(ep(i), Instant(u64::from(i)));
        }
        assert_eq!(v.len(), MAX_VERIFIED_SOURCES);
        v.insert(ep(9999), Instant(10_000));
        assert_eq!(v.len(), MAX_VERIFIED_SOURCES);
        assert!(!v.contains(&ep(0), Instant(10_000)));
        assert!(v.contains(&ep(1), Instant(10_000)));
        assert!(v.contains(&ep(9999), Instant(10_000)));
    }

    #[test]
    fn deferred_requests_are_bounded_in_count_per_source_and_size() {
        let mut d = DeferredRequests::default();
        let now = Instant(0);
        assert_eq!(d.defer(now, ep(1), 1, &[0; MAX_DEFERRED_LEN]), Deferral::Held);
        assert_eq!(d.defer(now, ep(1), 2, &[0; MAX_DEFERRED_LEN + 1]), Deferral::TooLarge);
        assert_eq!(d.defer(now, ep(1), 1, &[0; 10]), Deferral::Duplicate);
        for id in 2..=MAX_DEFERRED_PER_SOURCE as u32 + 1 {
            assert_eq!(d.defer(now, ep(1), id, &[0; 10]), Deferral::Held);
        }
        assert_eq!(d.len(), MAX_DEFERRED_PER_SOURCE);
        for i in 0..(2 * MAX_DEFERRED) as u16 {
            d.defer(now, ep(100 + i), 7, &[0; 10]);
        }
        assert_eq!(d.len(), MAX_DEFERRED);
        // The newest are kept.
        assert_eq!(d.take(&ep(100 + 2 * MAX_DEFERRED as u16 - 1)).len(), 1);
        assert!(d.take(&ep(1)).is_empty());
    }

    #[test]
    fn deferred_requests_expire_after_their_lifetime() {
        let mut d = DeferredRequests::default();
        d.defer(Instant(0), ep(1), 1, &[1, 2, 3]);
        let lifetime = DEFERRED_LIFETIME.as_millis() as u64;
        d.expire(Instant(lifetime - 1));
        assert_eq!(d.len(), 1);
        d.expire(Instant(lifetime));
        assert!(d.is_empty());
    }
}
