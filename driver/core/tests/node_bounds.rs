//! Every queue and table of the node has a named bound, and holds it under pressure.

use std::net::Ipv6Addr;
use std::time::Duration;

use peerdrt_core::drt::cache::*;
use peerdrt_core::drt::config::*;
use peerdrt_core::drt::keyspace::U256;
use peerdrt_core::drt::security::{KeyCredential, NullProvider};
use peerdrt_core::drt::*;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::*;

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);

fn node(port: u16) -> Node {
    Node::new(NodeConfig {
        version: VERSION,
        port,
        addresses: vec![Ipv6Addr::LOCALHOST],
        seeds: vec![],
        security: Box::new(NullProvider),
        rng_seed: [port as u8; 32],
        timing: Timing::default(),
        flood: FloodLimits::default(),
    })
    .unwrap()
}

fn endpoint(i: u32) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, (i >> 16) as u16, i as u16), port: 4000 }
}

#[test]
fn a_full_cache_level_admits_only_newcomers_that_spread_it_or_replace_stale_entries() {
    let anchor = [0u8; 32];
    let mut cache = RouteCache::new(anchor);
    // Keys far from the anchor all fall in level 0; these sit 10 apart.
    let far = |high: u8, low: u8| {
        let mut k = [0x80u8; 32];
        k[0] = high;
        k[31] = low;
        k
    };
    let t0 = Instant(1_000);
    for i in 0..ENTRIES_PER_LEVEL as u8 {
        assert_eq!(
            cache.insert(CacheEntry::new(far(0x80, i * 10), endpoint(u32::from(i)), VERSION, t0, None)),
            Inserted::Added
        );
    }
    let soon = t0.saturating_add(Duration::from_secs(1));
    // Squeezed between two entries: no room.
    assert_eq!(
        cache.insert(CacheEntry::new(far(0x80, 5), endpoint(100), VERSION, soon, None)),
        Inserted::Refused
    );
    // In an empty stretch of the ring: it replaces one of the crowded entries.
    assert_eq!(
        cache.insert(CacheEntry::new(far(0xC0, 0), endpoint(101), VERSION, soon, None)),
        Inserted::Added
    );
    assert_eq!(cache.len(), ENTRIES_PER_LEVEL);
    // Once an entry is stale, anyone replaces it.
    let later = t0.saturating_add(REPLACEMENT_AGE);
    assert_eq!(
        cache.insert(CacheEntry::new(far(0x80, 5), endpoint(102), VERSION, later, None)),
        Inserted::Added
    );
    assert_eq!(cache.len(), ENTRIES_PER_LEVEL);
    // Refreshing a known entry is not an insertion.
    assert_eq!(
        cache.insert(CacheEntry::new(far(0x80, 5), endpoint(102), VERSION, later, None)),
        Inserted::Refreshed
    );
}

#[test]
fn the_cache_never_exceeds_its_hard_bound_and_keeps_leaf_sets() {
    let local = [0x40u8; 32];
    let mut cache = RouteCache::new([0; 32]);
    cache.set_local_keys([0; 32], &[local]);
    let origin = U256::from_key(&local);
    let mut n = 0u32;
    // Keys at every distance scale from the local key, on both sides.
    for level in 0..77u32 {
        let mut dist = U256::HALF;
        for _ in 0..level {
            dist = dist.div_small(10);
        }
        for j in 0..30u64 {
            let offset = dist.div_small(j + 2);
            for key in [origin.wrapping_add(offset), origin.wrapping_sub(offset)] {
                n += 1;
                cache.insert(CacheEntry::new(
                    key.to_key(),
                    endpoint(n),
                    VERSION,
                    Instant(u64::from(n)),
                    None,
                ));
                assert!(cache.len() <= MAX_CACHE_ENTRIES);
            }
        }
    }
    assert!(cache.len() <= MAX_CACHE_ENTRIES);
    let leaves = cache.leaf_set(&local);
    assert_eq!(leaves.len(), 2 * LEAF_SET_SIDE);
}

#[test]
fn unread_events_keep_the_newest_and_count_the_dropped() {
    let mut n = node(4000);
    let now = Instant(0);
    n.start(now);
    for i in 0..(MAX_EVENTS + 50) as u32 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_be_bytes());
        // With an empty cache a search ends at once: one SearchEnded event each.
        let id = n.start_search(now, key, SearchInfo::exact(), Duration::from_secs(1)).unwrap();
        n.end_search(id).unwrap();
    }
    let mut events = 0;
    while n.poll_event().is_some() {
        events += 1;
    }
    assert_eq!(events, MAX_EVENTS);
    assert!(n.stats().events_dropped >= 50);
}

#[test]
fn searches_beyond_the_bound_are_refused_until_one_ends() {
    let mut n = node(4001);
    let now = Instant(0);
    let mut ids = Vec::new();
    for i in 0..MAX_SEARCHES as u32 {
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(&i.to_be_bytes());
        ids.push(n.start_search(now, key, SearchInfo::exact(), Duration::from_secs(1)).unwrap());
    }
    assert_eq!(
        n.start_search(now, [9; 32], SearchInfo::exact(), Duration::from_secs(1)),
        Err(DrtError::LimitReached)
    );
    n.end_search(ids[0]).unwrap();
    assert!(n.start_search(now, [9; 32], SearchInfo::exact(), Duration::from_secs(1)).is_ok());
}

#[test]
fn a_flood_of_lookups_never_grows_the_outbox_past_its_bound() {
    let mut n = node(4002);
    let now = Instant(0);
    n.start(now);
    let key = [0x33u8; 32];
    n.register(now, key, b"data", KeyCredential::None).unwrap();
    while n.poll_transmit().is_some() {}
    let path = [endpoint(1)];
    let mut buf = [0u8; 512];
    for i in 0..(MAX_OUTBOX + 100) as u32 {
        let d = Datagram {
            version: VERSION,
            message_id: i,
            message: Message::Lookup(Lookup {
                controls: LookupControls {
                    accept_any: false,
                    precision: 0,
                    criteria: ResolveCriteria::Exact,
                    reason: ResolveReason::AppRequest,
                },
                target: &[0x34; 32],
                validate_key: &key,
                best_match: None,
                path: List::Items(&path),
                proof: None,
            }),
        };
        let len = d.encode(&mut buf).unwrap();
        // 100 a second, within the rate limits: the outbox bound is what is tested here.
        n.handle_datagram(Instant(u64::from(i) * 10), endpoint(i % 1000 + 2), &buf[..len]);
    }
    let mut queued = 0;
    while n.poll_transmit().is_some() {
        queued += 1;
    }
    assert_eq!(queued, MAX_OUTBOX);
    assert!(n.stats().outbox_dropped >= 100);
    // Garbage is counted, not answered.
    let before = n.stats().malformed;
    n.handle_datagram(now, endpoint(3), &[0xFF; 40]);
    n.handle_datagram(now, Endpoint { addr: Ipv6Addr::LOCALHOST, port: 80 }, &buf[..10]);
    assert_eq!(n.stats().malformed, before + 2);
    assert!(n.poll_transmit().is_none());
}

#[test]
fn registrations_and_app_data_are_checked_at_their_edges() {
    let mut n = node(4003);
    let now = Instant(0);
    assert_eq!(n.register(now, [1; 32], &[], KeyCredential::None), Err(DrtError::InvalidArgument));
    assert!(n.register(now, [1; 32], &vec![0; MAX_PAYLOAD_SIZE], KeyCredential::None).is_ok());
    assert_eq!(
        n.register(now, [2; 32], &vec![0; MAX_PAYLOAD_SIZE + 1], KeyCredential::None),
        Err(DrtError::InvalidArgument)
    );
    let id = n.register(now, [3; 32], b"x", KeyCredential::None).unwrap();
    assert_eq!(n.update(now, id, &vec![0; MAX_PAYLOAD_SIZE + 1]), Err(DrtError::InvalidArgument));
    assert_eq!(n.update(now, RegistrationId(9999), b"x"), Err(DrtError::InvalidHandle));
    n.unregister(now, id).unwrap();
    assert_eq!(n.unregister(now, id), Err(DrtError::InvalidHandle));
}
