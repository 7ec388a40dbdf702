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
