//! The multilevel route cache.
//!
//! Level `L` holds entries whose distance to the nearest anchor (a locally registered key, or
//! the node's random ID when it has none) is below 2^255 / 10^L, at most
//! [`ENTRIES_PER_LEVEL`] per level, so a node knows the whole ring coarsely and its own
//! neighbourhood finely, and a search needs O(log N) hops. The [`LEAF_SET_SIDE`] nearest keys on
//! each side of every local key are never evicted for room. Only entries whose node answered
//! from the claimed address (a verified round trip) are ever inserted: a route entry heard from
//! a third party (in a FLOOD, SOLICIT or LOOKUP answer) is a candidate until it answers.
//!
//! Admission against Sybils: one globally routable address holds at most
//! [`MAX_ENTRIES_PER_ADDRESS`] entries and one /24 (IPv4) or /48 (IPv6) prefix at most
//! [`MAX_PREFIX_ENTRIES_PER_LEVEL`] per level; and a full level keeps its old contacts (as
//! Kademlia does): a newcomer takes the place of a live entry only in a leaf set or an empty
//! stretch of the level, and then the youngest goes; a stale entry is probed (see
//! [`RouteCache::replacement_probe`]) and replaced only once it fails to answer.

use alloc::vec::Vec;
use core::net::Ipv6Addr;
use core::time::Duration;

use super::keyspace::{CACHE_LEVELS, LevelBounds, U256, distance};
use crate::time::Instant;
use crate::wire::{Endpoint, Key, ProtocolVersion};

/// Entries per cache level.
pub const ENTRIES_PER_LEVEL: usize = 20;
/// Leaf-set keys on each side of a local key (5 smaller + 5 larger).
pub const LEAF_SET_SIDE: usize = 5;
/// Hard bound on the cache, whatever the levels.
pub const MAX_CACHE_ENTRIES: usize = 512;
/// Entries one globally routable IP address may hold, whatever its ports and keys (so one host
/// registering many keys cannot crowd a cache: an eclipse defence). Local addresses are exempt:
/// see [`address_limit_applies`].
pub const MAX_ENTRIES_PER_ADDRESS: usize = 3;
/// Entries one globally routable /24 (IPv4) or /48 (IPv6) may hold in one cache level (so one
/// network's many addresses cannot crowd a level either). Local addresses are exempt, as for
/// [`MAX_ENTRIES_PER_ADDRESS`].
pub const MAX_PREFIX_ENTRIES_PER_LEVEL: usize = 4;
/// Entries the table grows by when full.
const CACHE_GROWTH: usize = 8;
/// An entry not heard from for this long before a newcomer arrives is stale: it is probed, and
/// replaced only if the probe fails.
pub const REPLACEMENT_AGE: Duration = Duration::from_secs(30);

/// One verified route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The key the node registered.
    pub key: Key,
    /// Where it answered from.
    pub endpoint: Endpoint,
    /// Its protocol version.
    pub version: ProtocolVersion,
    /// When it last answered.
    pub verified_at: Instant,
    /// When it first answered (how long it has been known: old contacts are kept).
    pub since: Instant,
    /// Smoothed round-trip time, if measured.
    pub srtt: Option<Duration>,
    /// Round-trip variation.
    pub rttvar: Duration,
    level: u8,
}

impl CacheEntry {
    /// A freshly verified entry.
    pub fn new(
        key: Key,
        endpoint: Endpoint,
        version: ProtocolVersion,
        now: Instant,
        rtt: Option<Duration>,
    ) -> Self {
        Self {
            key,
            endpoint,
            version,
            verified_at: now,
            since: now,
            srtt: rtt,
            rttvar: rtt.map_or(Duration::ZERO, |r| r / 2),
            level: 0,
        }
    }
}

/// What an insertion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new entry.
    Added,
    /// An existing entry was refreshed.
    Refreshed,
    /// No room and nothing old enough to replace.
    Refused,
}

/// The cache of one DRT node.
#[derive(Debug)]
pub struct RouteCache {
    entries: Vec<CacheEntry>,
    anchors: Vec<Key>,
    local_keys: Vec<Key>,
}

/// Level bounds, computed at compile time.
static BOUNDS: LevelBounds = LevelBounds::new();

fn bounds() -> &'static LevelBounds {
    &BOUNDS
}

impl RouteCache {
    /// An empty cache anchored at `node_id`.
    pub fn new(node_id: Key) -> Self {
        Self { entries: Vec::new(), anchors: alloc::vec![node_id], local_keys: Vec::new() }
    }

    /// Every entry.
    pub fn entries(&self) -> &[CacheEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets the locally registered keys (they become the anchors; the node ID anchors when none).
    pub fn set_local_keys(&mut self, node_id: Key, local_keys: &[Key]) {
        self.local_keys.clear();
        self.local_keys.extend_from_slice(local_keys);
        self.anchors.clear();
        if local_keys.is_empty() {
            self.anchors.push(node_id);
        } else {
            self.anchors.extend_from_slice(local_keys);
        }
        for i in 0..self.entries.len() {
            self.entries[i].level = self.level_of(&self.entries[i].key);
        }
    }

    fn level_of(&self, key: &Key) -> u8 {
        let nearest = self.anchors.iter().map(|a| distance(a, key)).min().unwrap_or(U256::HALF);
        bounds().level(nearest) as u8
    }

    /// The entry for `key` at `endpoint`.
    pub fn get(&self, key: &Key, endpoint: &Endpoint) -> Option<&CacheEntry> {
        self.entries.iter().find(|e| e.key == *key && e.endpoint == *endpoint)
    }

    /// Any entry at `endpoint`.
    pub fn by_endpoint(&self, endpoint: &Endpoint) -> Option<&CacheEntry> {
        self.entries.iter().find(|e| e.endpoint == *endpoint)
    }

    /// Inserts or refreshes a verified entry.
    pub fn insert(&mut self, mut entry: CacheEntry) -> Inserted {
        if let Some(existing) =
            self.entries.iter_mut().find(|e| e.key == entry.key && e.endpoint == entry.endpoint)
        {
            existing.verified_at = entry.verified_at;
            existing.version = entry.version;
            if let Some(sample) = entry.srtt {
                update_rtt(existing, sample);
            }
            return Inserted::Refreshed;
        }
        if address_limit_applies(&entry.endpoint.addr)
            && self.entries.iter().filter(|e| e.endpoint.addr == entry.endpoint.addr).count()
                >= MAX_ENTRIES_PER_ADDRESS
        {
            return Inserted::Refused;
        }
        entry.level = self.level_of(&entry.key);
        let level = entry.level;
        if let Some(prefix) = routable_prefix(&entry.endpoint.addr)
            && self
                .entries
                .iter()
                .filter(|e| e.level == level && routable_prefix(&e.endpoint.addr) == Some(prefix))
                .count()
                >= MAX_PREFIX_ENTRIES_PER_LEVEL
        {
            return Inserted::Refused;
        }
        let at_level = self.entries.iter().filter(|e| e.level == level).count();
        if at_level < ENTRIES_PER_LEVEL && self.entries.len() < MAX_CACHE_ENTRIES {
            self.push(entry);
            return Inserted::Added;
        }
        // Full: a newcomer in a leaf set always gets in, in place of a stale entry of its level
        // if there is one, else of the youngest; anywhere else the old contacts stay (a stale
        // one is probed by the node and goes if it does not answer).
        if self.would_be_leaf(&entry.key) {
            let protected = self.leaf_keys();
            let now = entry.verified_at;
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.level == level || at_level < ENTRIES_PER_LEVEL)
                .filter(|(_, e)| !protected.contains(&e.key))
                .min_by_key(|(_, e)| {
                    let fresh = now.saturating_since(e.verified_at) < REPLACEMENT_AGE;
                    (fresh, core::cmp::Reverse(e.since))
                })
                .map(|(i, _)| i);
            return match victim {
                Some(i) => {
                    self.entries[i] = entry;
                    Inserted::Added
                }
                None if self.entries.len() < MAX_CACHE_ENTRIES => {
                    self.push(entry);
                    Inserted::Added
                }
                None => Inserted::Refused,
            };
        }
        let protected = self.leaf_keys();
        match self.crowded_victim(level, &entry.key, &protected) {
            // Keep each level spread over its range: a newcomer in an empty stretch replaces
            // the younger of the two closest entries.
            Some(i) => {
                self.entries[i] = entry;
                Inserted::Added
            }
            None => Inserted::Refused,
        }
    }

    /// The entry a refused newcomer `key` verified at `now` would replace if it were gone: the
    /// stalest unprotected entry of the newcomer's level, if not heard from for
    /// [`REPLACEMENT_AGE`]. The node probes it; if it does not answer it is removed, and the
    /// next newcomer gets in.
    pub fn replacement_probe(&self, key: &Key, now: Instant) -> Option<(Key, Endpoint)> {
        let level = self.level_of(key);
        let protected = self.leaf_keys();
        self.entries
            .iter()
            .filter(|e| e.level == level && !protected.contains(&e.key))
            .filter(|e| now.saturating_since(e.verified_at) >= REPLACEMENT_AGE)
            .min_by_key(|e| e.verified_at)
            .map(|e| (e.key, e.endpoint))
    }

    /// Grows the table a little at a time: doubling a 64-entry table would waste 6 KiB.
    fn push(&mut self, entry: CacheEntry) {
        if self.entries.len() == self.entries.capacity() {
            self.entries.reserve_exact(CACHE_GROWTH);
        }
        self.entries.push(entry);
    }

    /// The unprotected entry of `level` closest to another entry of the level (of two such, the
    /// younger: old contacts stay), if `key` would sit farther from its nearest neighbour than
    /// that entry does.
    fn crowded_victim(&self, level: u8, key: &Key, protected: &[Key]) -> Option<usize> {
        let at_level: Vec<usize> =
            (0..self.entries.len()).filter(|&i| self.entries[i].level == level).collect();
        let nearest = |key: &Key, skip: usize| {
            at_level.iter().filter(|&&j| j != skip).map(|&j| distance(&self.entries[j].key, key)).min()
        };
        let (victim, crowding) = at_level
            .iter()
            .filter(|&&i| !protected.contains(&self.entries[i].key))
            .filter_map(|&i| nearest(&self.entries[i].key, i).map(|d| (i, d)))
            .min_by_key(|&(i, d)| (d, core::cmp::Reverse(self.entries[i].since)))?;
        let room = nearest(key, victim)?;
        (room > crowding).then_some(victim)
    }

    /// Removes the entry for `key` at `endpoint`.
    pub fn remove(&mut self, key: &Key, endpoint: &Endpoint) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| !(e.key == *key && e.endpoint == *endpoint));
        before != self.entries.len()
    }

    /// Removes every entry at `endpoint` (the node stopped answering).
    pub fn remove_endpoint(&mut self, endpoint: &Endpoint) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.endpoint != *endpoint);
        before != self.entries.len()
    }

    /// Records a round-trip sample for `endpoint`.
    pub fn record_rtt(&mut self, endpoint: &Endpoint, sample: Duration, now: Instant) {
        for e in self.entries.iter_mut().filter(|e| e.endpoint == *endpoint) {
            update_rtt(e, sample);
            e.verified_at = now;
        }
    }

    /// The smoothed RTT and variation known for `endpoint`.
    pub fn rtt(&self, endpoint: &Endpoint) -> Option<(Duration, Duration)> {
        self.entries.iter().find(|e| e.endpoint == *endpoint).and_then(|e| e.srtt.map(|s| (s, e.rttvar)))
    }

    /// The entry closest to `target` whose endpoint is not excluded.
    pub fn closest(&self, target: &Key, excluded: impl Fn(&Endpoint) -> bool) -> Option<&CacheEntry> {
        self.entries.iter().filter(|e| !excluded(&e.endpoint)).min_by_key(|e| distance(&e.key, target))
    }

    /// The `count` entries closest to `target`, nearest first.
    pub fn closest_n(&self, target: &Key, count: usize) -> Vec<&CacheEntry> {
        let mut all: Vec<&CacheEntry> = self.entries.iter().collect();
        all.sort_by_key(|e| distance(&e.key, target));
        all.truncate(count);
        all
    }

    /// The leaf set of `local`: up to 5 nearest smaller and 5 nearest larger keys (around the
    /// ring), smaller side first.
    pub fn leaf_set(&self, local: &Key) -> Vec<&CacheEntry> {
        let origin = U256::from_key(local);
        let side = |clockwise: bool| {
            let mut side: Vec<(U256, &CacheEntry)> = self
                .entries
                .iter()
                .filter(|e| e.key != *local)
                .map(|e| {
                    let k = U256::from_key(&e.key);
                    (if clockwise { k.wrapping_sub(origin) } else { origin.wrapping_sub(k) }, e)
                })
                .collect();
            side.sort_by_key(|(d, _)| *d);
            side.truncate(LEAF_SET_SIDE);
            side
        };
        let mut set: Vec<&CacheEntry> = side(false).into_iter().map(|(_, e)| e).collect();
        for (_, e) in side(true) {
            if !set.iter().any(|s| core::ptr::eq(*s, e)) {
                set.push(e);
            }
        }
        set
    }

    /// Keys in the leaf set of any local key.
    fn leaf_keys(&self) -> Vec<Key> {
        self.local_keys.iter().flat_map(|local| self.leaf_set(local).into_iter().map(|e| e.key)).collect()
    }

    fn would_be_leaf(&self, key: &Key) -> bool {
        self.local_keys.iter().any(|local| {
            let origin = U256::from_key(local);
            let k = U256::from_key(key);
            let (up, down) = (k.wrapping_sub(origin), origin.wrapping_sub(k));
            let closer_up =
                self.entries.iter().filter(|e| U256::from_key(&e.key).wrapping_sub(origin) < up).count();
            let closer_down =
                self.entries.iter().filter(|e| origin.wrapping_sub(U256::from_key(&e.key)) < down).count();
            closer_up < LEAF_SET_SIDE || closer_down < LEAF_SET_SIDE
        })
    }

    /// Entries verified longest ago, oldest first, at most `count`, older than `age` at `now`.
    pub fn stalest(&self, now: Instant, age: Duration, count: usize) -> Vec<(Key, Endpoint)> {
        let mut stale: Vec<&CacheEntry> =
            self.entries.iter().filter(|e| now.saturating_since(e.verified_at) >= age).collect();
        stale.sort_by_key(|e| e.verified_at);
        stale.into_iter().take(count).map(|e| (e.key, e.endpoint)).collect()
    }

    /// Number of cache levels in use.
    pub fn levels_in_use(&self) -> usize {
        let mut used = [false; CACHE_LEVELS];
        for e in &self.entries {
            used[usize::from(e.level).min(CACHE_LEVELS - 1)] = true;
        }
        used.iter().filter(|u| **u).count()
    }

    /// Heap bytes held by the cache.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * core::mem::size_of::<CacheEntry>()
            + (self.anchors.capacity() + self.local_keys.capacity()) * core::mem::size_of::<Key>()
    }
}

/// RFC 6298 smoothing.
fn update_rtt(entry: &mut CacheEntry, sample: Duration) {
    match entry.srtt {
        None => {
            entry.srtt = Some(sample);
            entry.rttvar = sample / 2;
        }
        Some(srtt) => {
            let delta = srtt.abs_diff(sample);
            entry.rttvar = (entry.rttvar * 3 + delta) / 4;
            entry.srtt = Some((srtt * 7 + sample) / 8);
        }
    }
}

/// The /24 (IPv4-mapped) or /48 (IPv6) prefix of `addr` that [`MAX_PREFIX_ENTRIES_PER_LEVEL`]
/// counts, for a globally routable address (`None` for a local one, see
/// [`address_limit_applies`]).
pub fn routable_prefix(addr: &Ipv6Addr) -> Option<[u8; 6]> {
    if !address_limit_applies(addr) {
        return None;
    }
    let mut prefix = [0u8; 6];
    match addr.to_ipv4_mapped() {
        // A leading 4 keeps IPv4 prefixes apart from IPv6 ones.
        Some(v4) => {
            prefix[0] = 4;
            prefix[1..4].copy_from_slice(&v4.octets()[..3]);
        }
        None => prefix.copy_from_slice(&addr.octets()[..6]),
    }
    Some(prefix)
}

/// Whether [`MAX_ENTRIES_PER_ADDRESS`] holds for `addr`. Many nodes legitimately share one
/// address on a host, a LAN behind one router or a test bed (loopback, link-local, unique-local
/// and private IPv4); an attacker there already owns the network, so the limit only defends
/// against Sybils on globally routable addresses.
pub fn address_limit_applies(addr: &Ipv6Addr) -> bool {
    if let Some(v4) = addr.to_ipv4_mapped() {
        return !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified());
    }
    let first = addr.segments()[0];
    let link_local = first & 0xffc0 == 0xfe80;
    let unique_local = first & 0xfe00 == 0xfc00;
    !(addr.is_loopback() || addr.is_unspecified() || link_local || unique_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_holds_max_entries_per_address_entries_whatever_its_ports() {
        let mut cache = RouteCache::new([0; 32]);
        let version = ProtocolVersion::new(6, 0x65);
        let addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let entry = |i: u8, addr: Ipv6Addr| {
            let mut key = [0x40; 32];
            key[0] = i;
            CacheEntry::new(key, Endpoint { addr, port: 4000 + u16::from(i) }, version, Instant(0), None)
        };
        for i in 0..MAX_ENTRIES_PER_ADDRESS as u8 {
            assert_eq!(cache.insert(entry(i, addr)), Inserted::Added);
        }
        assert_eq!(cache.insert(entry(50, addr)), Inserted::Refused);
        assert_eq!(cache.insert(entry(50, Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2))), Inserted::Added);
    }

    const V: ProtocolVersion = ProtocolVersion::new(6, 0x65);

    /// A level-0 key (far from the all-zero anchor), `i` apart from its neighbours.
    fn far_key(i: u8) -> Key {
        let mut key = [0x11; 32];
        key[0] = 0x20 + i;
        key
    }

    fn at(addr: Ipv6Addr, key: Key, t: u64) -> CacheEntry {
        CacheEntry::new(key, Endpoint { addr, port: 4000 }, V, Instant(t), None)
    }

    #[test]
    fn one_routable_48_holds_max_prefix_entries_per_level_entries_in_a_level() {
        let mut cache = RouteCache::new([0; 32]);
        let in_prefix = |i: u16| Ipv6Addr::new(0x2001, 0xdb8, 7, i, 0, 0, 0, 1);
        for i in 0..MAX_PREFIX_ENTRIES_PER_LEVEL as u16 {
            assert_eq!(cache.insert(at(in_prefix(i), far_key(4 * i as u8), 0)), Inserted::Added);
        }
        assert_eq!(cache.insert(at(in_prefix(99), far_key(60), 0)), Inserted::Refused);
        // Another /48 is another party; another level of the same /48 has its own count.
        assert_eq!(
            cache.insert(at(Ipv6Addr::new(0x2001, 0xdb8, 8, 0, 0, 0, 0, 1), far_key(60), 0)),
            Inserted::Added
        );
        let mut deep = [0u8; 32];
        deep[3] = 1;
        assert_eq!(cache.insert(at(in_prefix(99), deep, 0)), Inserted::Added);
    }

    #[test]
    fn one_routable_ipv4_24_holds_max_prefix_entries_per_level_entries_in_a_level() {
        let mut cache = RouteCache::new([0; 32]);
        let in_prefix = |i: u8| core::net::Ipv4Addr::new(8, 8, 8, i).to_ipv6_mapped();
        for i in 0..MAX_PREFIX_ENTRIES_PER_LEVEL as u8 {
            assert_eq!(cache.insert(at(in_prefix(i), far_key(4 * i), 0)), Inserted::Added);
        }
        assert_eq!(cache.insert(at(in_prefix(99), far_key(60), 0)), Inserted::Refused);
        let next = core::net::Ipv4Addr::new(8, 8, 9, 1).to_ipv6_mapped();
        assert_eq!(cache.insert(at(next, far_key(60), 0)), Inserted::Added);
    }

    #[test]
    fn local_addresses_have_no_prefix_and_a_prefix_limit_is_no_lower_than_the_address_limit() {
        const { assert!(MAX_PREFIX_ENTRIES_PER_LEVEL >= MAX_ENTRIES_PER_ADDRESS) };
        for addr in [
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
            core::net::Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped(),
            core::net::Ipv4Addr::new(10, 1, 2, 3).to_ipv6_mapped(),
        ] {
            assert_eq!(routable_prefix(&addr), None, "{addr}");
        }
        let v4 = core::net::Ipv4Addr::new(8, 8, 8, 8).to_ipv6_mapped();
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 1);
        assert_ne!(routable_prefix(&v4), routable_prefix(&v6));
    }

    /// A cache whose level 0 is full of `ENTRIES_PER_LEVEL` live entries spread evenly, all
    /// first verified at 0 and last at `last_heard`.
    fn full_level(last_heard: u64) -> RouteCache {
        let mut cache = RouteCache::new([0; 32]);
        for i in 0..ENTRIES_PER_LEVEL as u16 {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, 100 + i, 0, 0, 0, 0, 1);
            let mut entry = at(addr, far_key(3 * i as u8), 0);
            entry.verified_at = Instant(last_heard + u64::from(i));
            assert_eq!(cache.insert(entry), Inserted::Added);
        }
        cache
    }

    #[test]
    fn a_full_level_keeps_its_old_contacts_and_names_the_stalest_for_a_probe_only_once_stale() {
        let newcomer_addr = Ipv6Addr::new(0x2001, 0xdb8, 999, 0, 0, 0, 0, 1);
        // Right next to an entry: no empty stretch to fill.
        let mut crowding = far_key(3);
        crowding[31] ^= 1;
        let stale_at = REPLACEMENT_AGE.as_millis() as u64;
        for now in [stale_at - 1, stale_at, 10 * stale_at] {
            let mut cache = full_level(0);
            assert_eq!(cache.insert(at(newcomer_addr, crowding, now)), Inserted::Refused, "at {now} ms");
            let probe = cache.replacement_probe(&crowding, Instant(now));
            if now < stale_at {
                assert_eq!(probe, None, "nothing stale at {now} ms");
            } else {
                // The stalest (last heard at 0) is probed; gone, it makes room for the newcomer.
                let (key, endpoint) = probe.expect("a stale entry");
                assert_eq!(key, far_key(0));
                assert!(cache.remove(&key, &endpoint));
                assert_eq!(cache.insert(at(newcomer_addr, crowding, now)), Inserted::Added);
            }
        }
    }

    #[test]
    fn a_newcomer_in_an_empty_stretch_replaces_the_younger_of_the_two_closest_entries() {
        let mut cache = full_level(0);
        // Two entries close together, the old one first verified at 0 and a young one now.
        let old = far_key(30);
        let mut young = old;
        young[31] ^= 1;
        let young_addr = Ipv6Addr::new(0x2001, 0xdb8, 500, 0, 0, 0, 0, 1);
        assert!(cache.remove(
            &far_key(33),
            &Endpoint { addr: Ipv6Addr::new(0x2001, 0xdb8, 111, 0, 0, 0, 0, 1), port: 4000 }
        ));
        assert_eq!(cache.insert(at(young_addr, young, 5)), Inserted::Added);
        assert!(
            cache
                .get(&old, &Endpoint { addr: Ipv6Addr::new(0x2001, 0xdb8, 110, 0, 0, 0, 0, 1), port: 4000 })
                .is_some()
        );
        // A newcomer far from everything (past the last entry) takes the young one's place.
        let lonely = far_key(0x5F);
        assert_eq!(
            cache.insert(at(Ipv6Addr::new(0x2001, 0xdb8, 600, 0, 0, 0, 0, 1), lonely, 6)),
            Inserted::Added
        );
        assert!(cache.entries().iter().all(|e| e.key != young), "the young one went");
        assert!(cache.entries().iter().any(|e| e.key == old), "the old contact stayed");
    }

    #[test]
    fn nodes_sharing_a_local_address_are_not_limited() {
        let mut cache = RouteCache::new([0; 32]);
        let version = ProtocolVersion::new(6, 0x65);
        for addr in [
            Ipv6Addr::LOCALHOST,
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1),
            core::net::Ipv4Addr::new(127, 0, 0, 1).to_ipv6_mapped(),
            core::net::Ipv4Addr::new(192, 168, 1, 2).to_ipv6_mapped(),
            core::net::Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped(),
        ] {
            assert!(!address_limit_applies(&addr), "{addr}");
        }
        assert!(address_limit_applies(&core::net::Ipv4Addr::new(8, 8, 8, 8).to_ipv6_mapped()));
        let addr = Ipv6Addr::LOCALHOST;
        for i in 0..=MAX_ENTRIES_PER_ADDRESS as u16 + 2 {
            let mut key = [0x40; 32];
            key[0] = i as u8;
            let entry = CacheEntry::new(key, Endpoint { addr, port: 4000 + i }, version, Instant(0), None);
            assert_eq!(cache.insert(entry), Inserted::Added);
        }
    }
}
