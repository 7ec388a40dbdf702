//! The cloud under duplication, reordering and a partition that heals.

use std::time::Duration;

use peerdrt_core::drt::*;
use peerdrt_sim::*;

const T: Duration = Duration::from_secs(5);

fn success_rate(cloud: &mut Cloud, searches: usize) -> f64 {
    let keys = cloud.keys.clone();
    let mut ok = 0;
    for i in 0..searches {
        let (owner, key, data) = &keys[(i * 7919) % keys.len()];
        let from = loop {
            let n = cloud.sim.random_live();
            if n != *owner {
                break n;
            }
        };
        let out = cloud.sim.search(from, *key, SearchInfo::exact(), T).unwrap();
        if matches!(&out.results[..], [r] if r.app_data == *data) {
            ok += 1;
        }
    }
    ok as f64 / searches as f64
}

#[test]
fn duplicated_and_reordered_datagrams_change_nothing() {
    // One-way latency 1..80 ms reorders freely; one datagram in ten arrives twice.
    let network =
        Network { latency: (Duration::from_millis(1), Duration::from_millis(80)), loss: 0.0, duplicate: 0.1 };
    let mut cloud = Cloud::build(31, 200, network, Duration::from_millis(20), Duration::from_secs(30));
    assert_eq!(success_rate(&mut cloud, 400), 1.0);
}

#[test]
fn a_partitioned_cloud_heals() {
    let mut cloud =
        Cloud::build(32, 200, Network::default(), Duration::from_millis(20), Duration::from_secs(30));
    // Cut off a quarter of the nodes for a minute.
    let cut: Vec<usize> = cloud.sim.live().into_iter().filter(|n| n % 4 == 0).collect();
    for &n in &cut {
        cloud.sim.set_group(n, 1);
    }
    cloud.sim.run_for(Duration::from_secs(60));
    // Meanwhile a cut-off node cannot reach keys on the other side.
    let (_, far_key, _) = cloud.keys.iter().find(|(n, _, _)| n % 4 != 0).unwrap().clone();
    let out = cloud.sim.search(cut[0], far_key, SearchInfo::exact(), Duration::from_secs(2)).unwrap();
    assert!(out.results.is_empty());
    for &n in &cut {
        cloud.sim.set_group(n, 0);
    }
    // One maintenance period later, every key is reachable from everywhere again.
    cloud.sim.run_for(Timing::default().maintenance * 2);
    assert!(success_rate(&mut cloud, 400) >= 0.99);
}

/// Every key of `owners` is found from every node of `from` (exact searches).
fn all_found(cloud: &mut Cloud, from: &[usize], owners: &[usize]) -> bool {
    let keys: Vec<(usize, peerdrt_core::wire::Key, Vec<u8>)> =
        cloud.keys.iter().filter(|(n, _, _)| owners.contains(n)).cloned().collect();
    let mut ok = true;
    for &f in from {
        for (_, key, data) in &keys {
            let out = cloud.sim.search(f, *key, SearchInfo::exact(), T).unwrap();
            if !matches!(&out.results[..], [r] if r.app_data == *data) {
                eprintln!("node {f} does not find the key of another side");
                ok = false;
            }
        }
    }
    ok
}

#[test]
fn an_island_that_keeps_itself_company_rejoins_once_the_partition_heals() {
    // A cloud of 40, then an island of three whose members bootstrap from a cloud node and
    // from each other, so they keep each other in their caches and are never ALONE.
    let mut cloud = Cloud::build(33, 40, Network::default(), Duration::from_millis(20), Duration::ZERO);
    let mut island = Vec::new();
    for _ in 0..3 {
        let mut seeds = vec![cloud.sim.random_live()];
        seeds.extend(island.last().copied());
        let node = cloud.sim.add_node(&seeds);
        let key = cloud.sim.random_key();
        let data = app_data_for(&key);
        cloud.sim.register(node, key, &data).unwrap();
        cloud.keys.push((node, key, data));
        island.push(node);
        cloud.sim.run_for(Duration::from_millis(20));
    }
    cloud.sim.run_for(Duration::from_secs(30));
    let main: Vec<usize> = cloud.sim.live().into_iter().filter(|n| !island.contains(n)).collect();

    // Cut off long enough for the island to forget every node of the cloud.
    for &n in &island {
        cloud.sim.set_group(n, 1);
    }
    cloud.sim.run_for(Duration::from_secs(180));
    let island_endpoints: Vec<peerdrt_core::wire::Endpoint> =
        island.iter().map(|&n| cloud.sim.node(n).local_endpoint()).collect();
    for &n in &island {
        let node = cloud.sim.node(n);
        assert_eq!(node.status(), Status::Active, "island node {n} went ALONE: not the case under test");
        assert!(
            node.cache().entries().iter().all(|e| island_endpoints.contains(&e.endpoint)),
            "island node {n} still knows the cloud"
        );
    }

    // The partition heals: within a re-seeding interval and two maintenance rounds, each side
    // finds the other's keys.
    for &n in &island {
        cloud.sim.set_group(n, 0);
    }
    let rejoin_within = RESEED_INTERVAL + Timing::default().maintenance * 2;
    cloud.sim.run_for(rejoin_within);
    let askers: Vec<usize> = main.iter().step_by(main.len() / 8).copied().collect();
    assert!(all_found(&mut cloud, &askers, &island), "the cloud does not find the island's keys");
    let sample: Vec<usize> = main.iter().step_by(main.len() / 8).copied().collect();
    assert!(all_found(&mut cloud, &island, &sample), "the island does not find the cloud's keys");
}

/// The cost of partition detection in steady state.
#[test]
fn a_healthy_cloud_does_not_hammer_its_seeds() {
    let mut cloud =
        Cloud::build(34, 100, Network::default(), Duration::from_millis(20), Duration::from_secs(60));
    let reseeds = |cloud: &Cloud| -> u64 {
        cloud.sim.live().iter().map(|&n| cloud.sim.node(n).stats().reseed_solicits).sum()
    };
    let (before, sent_before) = (reseeds(&cloud), cloud.sim.traffic().sent);
    let minutes = 10;
    cloud.sim.run_for(Duration::from_secs(60 * minutes));
    let (added, sent) = (reseeds(&cloud) - before, cloud.sim.traffic().sent - sent_before);
    let small =
        cloud.sim.live().iter().filter(|&&n| cloud.sim.node(n).cache().len() < RESEED_BELOW_ENTRIES).count();
    eprintln!(
        "100 nodes, {minutes} min: {added} re-seeding SOLICITs ({:.2}/min for the cloud) among {sent} datagrams; {small} nodes with a small cache",
        added as f64 / minutes as f64
    );
    // Every cache is large and no peer is lost: partition detection adds no datagram at all.
    assert_eq!(small, 0, "a node of a cloud of 100 has a small cache: not the case under test");
    assert_eq!(added, 0, "a healthy cloud re-contacted its seeds");
}
