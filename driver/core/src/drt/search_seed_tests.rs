//! A search starts from at most `SEED_CANDIDATES` cache entries (an application's exact search
//! from `RESERVE_CANDIDATES` more), and fetches one node's record at most
//! `MAX_FETCHES_PER_NODE` times: each at its edge and one past it.

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv6Addr;
use core::time::Duration;

use super::*;
use crate::drt::cache::{CacheEntry, Inserted};
use crate::drt::search::{MAX_FETCHES_PER_NODE, RESERVE_CANDIDATES, SEED_CANDIDATES};
use crate::drt::security::KeyCredential;

const VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);
const TARGET: Key = [0x3C; 32];

fn ep(i: u16) -> Endpoint {
    Endpoint { addr: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i), port: 4000 }
}

/// A key sharing exactly its first `bits` bits with the target.
fn sharing(bits: usize) -> Key {
    let mut k = TARGET;
    k[bits / 8] ^= 0x80 >> (bits % 8);
    k
}

/// A started node whose cache holds `keys` (the i-th at `ep(10 + i)`), its outbox drained.
fn node_knowing(keys: &[Key]) -> Node {
    let mut n = Node::new(NodeConfig::null_security(VERSION, 4000, ep(1).addr, vec![], [3; 32])).unwrap();
    n.start(Instant(0));
    for (i, key) in keys.iter().enumerate() {
        let entry = CacheEntry::new(*key, ep(10 + i as u16), VERSION, Instant(0), None);
        assert_eq!(n.cache.insert(entry), Inserted::Added, "cache entry {i}");
    }
    while n.poll_transmit().is_some() {}
    n
}

/// The keys a new search of the node's starts from.
fn starting_keys(n: &mut Node, info: SearchInfo) -> Vec<Key> {
    let id = n.start_search(Instant(0), TARGET, info, Duration::from_secs(60)).unwrap();
    let search = n.searches.iter().find(|s| s.id == id).unwrap();
    let mut keys: Vec<Key> = search.candidates.iter().map(|c| c.key).collect();
    keys.sort_by_key(|k| core::cmp::Reverse(common_prefix_bits(k, &TARGET)));
    keys
}

/// `count` keys at distinct distances, nearest first.
fn nearest_first(count: usize) -> Vec<Key> {
    (0..count).map(|i| sharing(200 - i)).collect()
}

#[test]
fn a_search_starts_from_the_seed_candidates_nearest_cache_entries() {
    for known in [SEED_CANDIDATES, SEED_CANDIDATES + 1] {
        let keys = nearest_first(known);
        let mut n = node_knowing(&keys);
        assert_eq!(
            starting_keys(&mut n, SearchInfo::nearest(4)),
            keys[..SEED_CANDIDATES],
            "{known} cache entries"
        );
    }
}

#[test]
fn an_exact_search_keeps_reserve_candidates_more_from_farther_parts_of_the_ring() {
    for known in [SEED_CANDIDATES + RESERVE_CANDIDATES, SEED_CANDIDATES + RESERVE_CANDIDATES + 1] {
        let keys = nearest_first(known);
        let mut n = node_knowing(&keys);
        assert_eq!(
            starting_keys(&mut n, SearchInfo::exact()),
            keys[..SEED_CANDIDATES + RESERVE_CANDIDATES],
            "{known} cache entries"
        );
    }
}

#[test]
fn the_reserve_takes_the_nearest_entry_of_each_shared_prefix_length() {
    // Past the seeds: two entries sharing 100 bits with the target, then one each sharing 99,
    // 98, ... The farther of the two is nearer than all the singles, yet the reserve passes it
    // over for them: it spreads over the ring rather than crowding one part of it.
    let seeds = nearest_first(SEED_CANDIDATES);
    let mut farther = sharing(100);
    farther[31] ^= 0x04; // TARGET has this bit set: the key moves away from it
    let singles: Vec<Key> = (1..RESERVE_CANDIDATES).map(|i| sharing(100 - i)).collect();
    let mut n = node_knowing(&[&seeds[..], &[sharing(100), farther], &singles[..]].concat());
    assert_eq!(
        starting_keys(&mut n, SearchInfo::exact()),
        [&seeds[..], &[sharing(100)], &singles[..]].concat()
    );
}

/// A started node at `ep(at)` (nothing in its cache), its outbox drained.
fn node_at(at: u16) -> Node {
    let mut n =
        Node::new(NodeConfig::null_security(VERSION, 4000, ep(at).addr, vec![], [at as u8; 32])).unwrap();
    n.start(Instant(0));
    while n.poll_transmit().is_some() {}
    n
}

#[test]
fn a_record_is_fetched_from_one_node_max_fetches_per_node_times_and_no_more() {
    // The searcher knows the target's holder, which answers its LOOKUPs; every INQUIRE for the
    // record is lost on the way.
    let (mut searcher, mut holder) = (node_at(1), node_at(2));
    holder.register(Instant(0), TARGET, b"record", KeyCredential::None).unwrap();
    while holder.poll_transmit().is_some() {}
    let entry = CacheEntry::new(TARGET, ep(2), VERSION, Instant(0), None);
    assert_eq!(searcher.cache.insert(entry), Inserted::Added);
    let id =
        searcher.start_search(Instant(0), TARGET, SearchInfo::exact(), Duration::from_secs(120)).unwrap();
    let mut inquiries = Vec::new();
    let mut now = Instant(0);
    let mut end = None;
    while end.is_none() && now < Instant(0).saturating_add(Duration::from_secs(130)) {
        while let Some(t) = searcher.poll_transmit() {
            let d = Datagram::decode(&t.payload).unwrap();
            if matches!(d.message, Message::Inquire(_)) {
                assert_eq!(t.destination, ep(2));
                inquiries.push(d.message_id);
            } else if t.destination == ep(2) {
                holder.handle_datagram(now, ep(1), &t.payload);
            }
        }
        while let Some(t) = holder.poll_transmit() {
            if t.destination == ep(1) {
                searcher.handle_datagram(now, ep(2), &t.payload);
            }
        }
        while let Some(event) = searcher.poll_event() {
            if let Event::SearchEnded { search, end: why } = event
                && search == id
            {
                end = Some(why);
            }
        }
        now = now.saturating_add(Duration::from_millis(50));
        searcher.handle_timeout(now);
        holder.handle_timeout(now);
    }
    assert!(end.is_some(), "the search never ended");
    // Retransmissions of one INQUIRE carry its message ID; each fetch has a new one.
    inquiries.dedup();
    assert_eq!(inquiries.len(), usize::from(MAX_FETCHES_PER_NODE), "INQUIREs: {inquiries:?}");
}
