//! The DRT API's behaviour, node by node, in small simulated clouds.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use peerdrt_core::drt::cache::LEAF_SET_SIDE;
use peerdrt_core::drt::config::MAX_REGISTRATIONS;
use peerdrt_core::drt::keyspace::U256;
use peerdrt_core::drt::security::*;
use peerdrt_core::drt::*;
use peerdrt_core::wire::Key;
use peerdrt_sim::*;

const T: Duration = Duration::from_secs(5);

fn small_cloud(seed: u64, n: usize) -> Cloud {
    Cloud::build(seed, n, Network::default(), Duration::from_millis(100), Duration::from_secs(20))
}

fn statuses(events: &[Event]) -> Vec<Status> {
    events
        .iter()
        .filter_map(|e| if let Event::StatusChanged { status, .. } = e { Some(*status) } else { None })
        .collect()
}

#[test]
fn a_lone_node_is_alone_and_both_become_active_when_a_second_node_joins() {
    let mut sim = Sim::new(1, Network::default());
    let first = sim.add_node(&[]);
    sim.register(first, [1; 32], b"first").unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(statuses(&sim.take_events(first)), vec![Status::Alone]);
    let second = sim.add_node(&[first]);
    sim.register(second, [2; 32], b"second").unwrap();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(statuses(&sim.take_events(second)), vec![Status::Active]);
    assert_eq!(statuses(&sim.take_events(first)), vec![Status::Active]);
    assert_eq!(sim.node(first).status(), Status::Active);
}

#[test]
fn a_node_whose_seeds_are_all_dead_reports_alone_with_the_seeds_it_tried() {
    let mut sim = Sim::new(2, Network::default());
    let seed = sim.add_node(&[]);
    sim.remove_node(seed);
    let lonely = sim.add_node(&[seed]);
    sim.run_for(Duration::from_secs(5));
    let events = sim.take_events(lonely);
    assert!(
        matches!(&events[..], [Event::StatusChanged { status: Status::Alone, bootstrap }] if *bootstrap == vec![endpoint(seed)])
    );
}

#[test]
fn updated_app_data_is_what_later_searches_see() {
    let mut cloud = small_cloud(3, 12);
    let owner = 4;
    let key = cloud.sim.random_key();
    let now = cloud.sim.now();
    let id = cloud.sim.with_node(owner, |n| n.register(now, key, b"version 1", KeyCredential::None)).unwrap();
    cloud.sim.run_for(Duration::from_secs(2));
    assert_eq!(cloud.sim.search(9, key, SearchInfo::exact(), T).unwrap().results[0].app_data, b"version 1");
    let now = cloud.sim.now();
    cloud.sim.with_node(owner, |n| n.update(now, id, b"version 2")).unwrap();
    assert_eq!(cloud.sim.search(9, key, SearchInfo::exact(), T).unwrap().results[0].app_data, b"version 2");
}

#[test]
fn an_unregistered_key_is_no_longer_found_and_its_neighbours_drop_it_from_their_leaf_sets() {
    let mut cloud = small_cloud(4, 12);
    let (owner, key, _) = cloud.keys[5].clone();
    let neighbours: Vec<usize> = cloud
        .keys
        .iter()
        .filter(|(n, _, _)| *n != owner)
        .filter(|(n, _, _)| cloud.sim.node(*n).cache().entries().iter().any(|e| e.key == key))
        .map(|(n, _, _)| *n)
        .collect();
    assert!(!neighbours.is_empty());
    for &n in &neighbours {
        cloud.sim.take_events(n);
    }
    let now = cloud.sim.now();
    let id = RegistrationId(1);
    cloud.sim.with_node(owner, |n| n.unregister(now, id)).unwrap();
    cloud.sim.run_for(Duration::from_secs(2));
    let out = cloud.sim.search((owner + 1) % 12, key, SearchInfo::exact(), T).unwrap();
    assert!(out.results.is_empty());
    assert_eq!(out.end, Some(SearchEnd::Complete));
    let deleted_somewhere = neighbours.iter().any(|&n| {
        cloud.sim.take_events(n).iter().any(|e| {
            matches!(e, Event::LeafSetKeyChanged { remote_key, change: LeafSetChange::Deleted, .. } if *remote_key == key)
        })
    });
    assert!(deleted_somewhere, "no leaf set dropped the revoked key");
}

#[test]
fn the_keys_of_a_closed_node_are_gone() {
    let mut cloud = small_cloud(5, 12);
    let (owner, key, _) = cloud.keys[3].clone();
    cloud.sim.close_node(owner);
    cloud.sim.run_for(Duration::from_secs(2));
    let out = cloud.sim.search((owner + 2) % 12, key, SearchInfo::exact(), T).unwrap();
    assert!(out.results.is_empty());
}

#[test]
fn an_iterative_search_reports_each_hop_then_the_match() {
    let mut cloud =
        Cloud::build(6, 400, Network::default(), Duration::from_millis(20), Duration::from_secs(20));
    let keys = cloud.keys.clone();
    // A searcher whose own cache does not know the key, so the search has hops to report.
    let (searcher, (_, key, data)) = keys
        .iter()
        .enumerate()
        .find_map(|(i, k)| {
            let searcher = (k.0 + 1 + i) % 400;
            let knows = cloud.sim.node(searcher).cache().entries().iter().any(|e| e.key == k.1);
            (!knows && searcher != k.0).then_some((searcher, k.clone()))
        })
        .expect("some key two hops away");
    let info = SearchInfo { iterative: true, ..SearchInfo::exact() };
    let out = cloud.sim.search(searcher, key, info, T).unwrap();
    let (last, hops) = out.results.split_last().expect("results");
    assert!(!hops.is_empty(), "no intermediate result");
    assert!(
        hops.iter().all(|r| r.match_type == MatchType::Intermediate && r.key != key && r.app_data.is_empty())
    );
    assert_eq!((last.match_type, last.key, &last.app_data), (MatchType::Exact, key, &data));
    // Every intermediate key is closer to the target than the one before.
    let dists: Vec<U256> = hops.iter().map(|r| peerdrt_core::drt::keyspace::distance(&r.key, &key)).collect();
    assert!(dists.windows(2).all(|w| w[1] < w[0]), "{dists:?}");
    // Without DrtContinueSearch the search waits at its first hop (for a key the searcher's
    // cache still does not know: the first search may have taught it this one).
    let unknown = keys
        .iter()
        .find(|k| k.0 != searcher && !cloud.sim.node(searcher).cache().entries().iter().any(|e| e.key == k.1))
        .expect("a key the searcher does not know")
        .1;
    let now = cloud.sim.now();
    let id = cloud
        .sim
        .with_node(searcher, |n| {
            n.start_search(now, unknown, SearchInfo { iterative: true, ..SearchInfo::exact() }, T)
        })
        .unwrap();
    cloud.sim.run_for(Duration::from_secs(2));
    let events = cloud.sim.take_events(searcher);
    let results: Vec<&Event> =
        events.iter().filter(|e| matches!(e, Event::SearchResult { search, .. } if *search == id)).collect();
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        matches!(results[0], Event::SearchResult { result, .. } if result.match_type == MatchType::Intermediate)
    );
    assert!(!events.iter().any(|e| matches!(e, Event::SearchEnded { search, .. } if *search == id)));
}

#[test]
fn keys_of_the_searching_instance_match_only_when_allowed() {
    let mut cloud = small_cloud(7, 8);
    let (owner, key, data) = cloud.keys[2].clone();
    let out = cloud.sim.search(owner, key, SearchInfo::exact(), T).unwrap();
    assert!(out.results.is_empty());
    let info = SearchInfo { allow_current_instance_match: true, ..SearchInfo::exact() };
    let out = cloud.sim.search(owner, key, info, T).unwrap();
    assert_eq!(out.results.len(), 1);
    assert_eq!(out.results[0].app_data, data);
}

#[test]
fn a_search_cut_off_from_the_cloud_ends_with_a_timeout() {
    let mut cloud = small_cloud(8, 8);
    let (_, key, _) = cloud.keys[5].clone();
    cloud.sim.set_group(0, 1);
    let out = cloud.sim.search(0, key, SearchInfo::exact(), Duration::from_millis(100)).unwrap();
    assert_eq!(out.end, Some(SearchEnd::TimedOut));
    assert!(out.latency >= Duration::from_millis(100) && out.latency < Duration::from_millis(200));
}

#[test]
fn the_search_path_records_every_node_contacted() {
    let mut cloud = small_cloud(9, 40);
    let (owner, key, _) = cloud.keys[11].clone();
    let out = cloud.sim.search((owner + 5) % 40, key, SearchInfo::exact(), T).unwrap();
    assert!(!out.path.is_empty());
    assert!(out.path.iter().all(|p| p.flags & address_flags::ACCEPTED != 0 && p.latency > Duration::ZERO));
    let last = out.path.last().unwrap();
    assert_eq!(last.endpoint, endpoint(owner));
    assert_eq!(last.nearness, 256);
    assert_ne!(last.flags & address_flags::INQUIRE, 0);
}

#[test]
fn search_info_is_checked_like_drt_start_search() {
    let mut sim = Sim::new(10, Network::default());
    let n = sim.add_node(&[]);
    let target = [0x40; 32];
    let mut bad = |info: SearchInfo| {
        sim.with_node(n, |node| node.start_search(Default::default(), target, info, T)).unwrap_err()
    };
    assert_eq!(bad(SearchInfo { max_endpoints: 0, ..SearchInfo::exact() }), DrtError::InvalidMaxEndpoints);
    assert_eq!(
        bad(SearchInfo { max_endpoints: 2, iterative: true, ..SearchInfo::nearest(2) }),
        DrtError::InvalidMaxEndpoints
    );
    assert_eq!(
        bad(SearchInfo { max_endpoints: 2, any_match_in_range: true, ..SearchInfo::nearest(2) }),
        DrtError::InvalidMaxEndpoints
    );
    assert_eq!(
        bad(SearchInfo { range: Some(([0x50; 32], [0x60; 32])), ..SearchInfo::exact() }),
        DrtError::InvalidSearchRange
    );
    assert_eq!(
        bad(SearchInfo { range: Some(([0x50; 32], [0x50; 32])), ..SearchInfo::exact() }),
        DrtError::InvalidSearchRange
    );
    assert_eq!(
        bad(SearchInfo { max_endpoints: MAX_SEARCH_RESULTS + 1, ..SearchInfo::nearest(1) }),
        DrtError::InvalidMaxEndpoints
    );
}

#[test]
fn app_data_is_one_to_5120_bytes_and_the_largest_travels_in_fragments() {
    let mut cloud = small_cloud(11, 6);
    let key = [0x77; 32];
    let now = cloud.sim.now();
    let reg =
        |sim: &mut Sim, data: &[u8]| sim.with_node(1, |n| n.register(now, key, data, KeyCredential::None));
    assert_eq!(reg(&mut cloud.sim, &[]), Err(DrtError::InvalidArgument));
    assert_eq!(reg(&mut cloud.sim, &vec![1; MAX_PAYLOAD_SIZE + 1]), Err(DrtError::InvalidArgument));
    let big: Vec<u8> = (0..MAX_PAYLOAD_SIZE).map(|i| i as u8).collect();
    reg(&mut cloud.sim, &big).unwrap();
    assert_eq!(reg(&mut cloud.sim, &big), Err(DrtError::DuplicateKey));
    cloud.sim.run_for(Duration::from_secs(2));
    let out = cloud.sim.search(4, key, SearchInfo::exact(), T).unwrap();
    assert_eq!(out.results[0].app_data, big);
}

#[test]
fn a_node_holds_at_most_max_registrations() {
    let mut sim = Sim::new(12, Network::default());
    let n = sim.add_node(&[]);
    for i in 0..MAX_REGISTRATIONS {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_be_bytes());
        sim.register(n, key, b"x").unwrap();
    }
    assert_eq!(sim.register(n, [0xFF; 32], b"x"), Err(DrtError::LimitReached));
}

#[test]
fn leaf_set_events_track_the_five_nearest_keys_on_each_side() {
    let mut cloud = small_cloud(13, 30);
    cloud.sim.run_for(Duration::from_secs(30));
    let keys = cloud.keys.clone();
    for (node, key, _) in keys.iter().take(10) {
        let mut current: Vec<Key> = Vec::new();
        for e in cloud.sim.take_events(*node) {
            if let Event::LeafSetKeyChanged { local_key, remote_key, change } = e {
                assert_eq!(local_key, *key);
                match change {
                    LeafSetChange::Added => current.push(remote_key),
                    LeafSetChange::Deleted => current.retain(|k| *k != remote_key),
                }
            }
        }
        let origin = U256::from_key(key);
        let mut others: Vec<Key> = keys.iter().filter(|(n, _, _)| n != node).map(|(_, k, _)| *k).collect();
        others.sort_by_key(|k| U256::from_key(k).wrapping_sub(origin));
        let mut expected: Vec<Key> = others[..LEAF_SET_SIDE].to_vec();
        expected.extend_from_slice(&others[others.len() - LEAF_SET_SIDE..]);
        current.sort();
        expected.sort();
        assert_eq!(current, expected, "leaf set of node {node}");
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = small_cloud(14, 15);
    let b = small_cloud(14, 15);
    assert_eq!(a.sim.traffic(), b.sim.traffic());
    assert_eq!(a.keys, b.keys);
}

mod derived_keys {
    use super::*;

    fn root() -> SigningKey {
        SigningKey::from_bytes(&[9; 32])
    }

    fn identity(seed: u8) -> Identity {
        let signing_key = SigningKey::from_bytes(&[seed; 32]);
        let certificate = Certificate::issue(&root(), &signing_key.verifying_key());
        Identity { signing_key, certificate }
    }

    fn resolve_mode(_: usize) -> BoxedProvider {
        Box::new(DerivedKeyProvider::new(root().verifying_key(), None, SecurityMode::Resolve).unwrap())
    }

    fn membership(i: usize) -> BoxedProvider {
        Box::new(
            DerivedKeyProvider::new(
                root().verifying_key(),
                Some(identity(100 + i as u8)),
                SecurityMode::Membership,
            )
            .unwrap(),
        )
    }

    fn cloud_of(provider: fn(usize) -> BoxedProvider, n: usize) -> (Sim, Vec<(usize, Key)>) {
        let mut sim = Sim::new(21, Network::default()).with_provider(provider);
        let mut keys = Vec::new();
        for i in 0..n {
            let node = sim.add_node(if i == 0 { &[] } else { &[0] });
            let id = identity(i as u8 + 1);
            let key = id.certificate.derived_key();
            sim.register_with(node, key, &key[..4], KeyCredential::Identity(Box::new(id))).unwrap();
            keys.push((node, key));
            sim.run_for(Duration::from_millis(200));
        }
        sim.run_for(Duration::from_secs(20));
        (sim, keys)
    }

    #[test]
    fn a_key_that_does_not_match_its_credential_is_refused() {
        let mut sim = Sim::new(20, Network::default()).with_provider(resolve_mode);
        let n = sim.add_node(&[]);
        assert_eq!(
            sim.register_with(n, [5; 32], b"x", KeyCredential::Identity(Box::new(identity(1)))),
            Err(DrtError::InvalidKey)
        );
        assert_eq!(sim.register_with(n, [5; 32], b"x", KeyCredential::None), Err(DrtError::InvalidKey));
        // A certificate from another root does not vouch for anything.
        let stranger = SigningKey::from_bytes(&[3; 32]);
        let signing_key = SigningKey::from_bytes(&[4; 32]);
        let certificate = Certificate::issue(&stranger, &signing_key.verifying_key());
        let forged = Identity { signing_key, certificate };
        let key = forged.certificate.derived_key();
        assert_eq!(
            sim.register_with(n, key, b"x", KeyCredential::Identity(Box::new(forged))),
            Err(DrtError::InvalidKey)
        );
        let good = identity(2);
        let key = good.certificate.derived_key();
        assert!(sim.register_with(n, key, b"x", KeyCredential::Identity(Box::new(good))).is_ok());
    }

    #[test]
    fn signed_records_are_found_in_resolve_mode() {
        let (mut sim, keys) = cloud_of(resolve_mode, 10);
        for (owner, key) in &keys {
            let out = sim.search((owner + 3) % 10, *key, SearchInfo::exact(), T).unwrap();
            assert_eq!(out.results.len(), 1, "key of node {owner}");
            assert_eq!(out.results[0].app_data, key[..4].to_vec());
        }
    }

    #[test]
    fn membership_mode_clouds_work_and_refuse_outsiders() {
        let (mut sim, keys) = cloud_of(membership, 8);
        let (owner, key) = keys[3];
        let out = sim.search((owner + 1) % 8, key, SearchInfo::exact(), T).unwrap();
        assert_eq!(out.results.len(), 1);
        // A node without a certificate from the root gets no answers.
        fn outsider(_: usize) -> BoxedProvider {
            let other_root = SigningKey::from_bytes(&[66; 32]);
            let signing_key = SigningKey::from_bytes(&[67; 32]);
            let certificate = Certificate::issue(&other_root, &signing_key.verifying_key());
            Box::new(
                DerivedKeyProvider::new(
                    other_root.verifying_key(),
                    Some(Identity { signing_key, certificate }),
                    SecurityMode::Membership,
                )
                .unwrap(),
            )
        }
        let mut sim2 = sim.with_provider(outsider);
        let intruder = sim2.add_node(&[0]);
        sim2.run_for(Duration::from_secs(5));
        assert_eq!(sim2.node(intruder).status(), Status::Alone);
        let out = sim2.search(intruder, key, SearchInfo::exact(), Duration::from_secs(2)).unwrap();
        assert!(out.results.is_empty());
    }
}
