use std::time::Duration;
use peerdrt_core::drt::search::SearchSettings;
use peerdrt_core::drt::*;
use peerdrt_sim::adversary::HostileCloud;
use peerdrt_sim::hostile::Attack;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
fn main() {
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let d: u8 = std::env::args().nth(2).unwrap().parse().unwrap();
    let mut c = HostileCloud::build(1, n, 0.1, Attack::Sybil, Duration::from_millis(20), Duration::from_secs(30));
    let (owner, key, _) = c.focus.clone();
    let ep = c.sim.node(owner).local_endpoint();
    let holders: Vec<usize> = c.honest.iter().map(|h| h.0).filter(|&x| c.sim.node(x).cache().get(&key, &ep).is_some()).collect();
    println!("holders {}", holders.len());
    let honest: Vec<usize> = c.honest.iter().map(|h| h.0).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut fails = 0;
    for _ in 0..200 {
        let from = honest[rng.gen_range(0..honest.len())];
        if from == owner { continue; }
        c.sim.with_node(from, |n| n.set_search_settings(SearchSettings::new(d).unwrap()));
        let out = c.sim.search(from, key, SearchInfo::exact(), Duration::from_secs(5)).unwrap();
        if out.results.is_empty() {
            fails += 1;
            let hostile: Vec<_> = c.hostile.iter().map(|&h| peerdrt_sim::endpoint(h)).collect();
            let hp = out.path.iter().filter(|p| hostile.contains(&p.endpoint)).count();
            let hold = out.path.iter().filter(|p| holders.iter().any(|&h| peerdrt_sim::endpoint(h) == p.endpoint)).count();
            println!("fail from {from}: end {:?} path {} hostile {hp} holders-on-path {hold} dg {} lat {:?}", out.end, out.path.len(), out.datagrams, out.latency);
        }
    }
    println!("fails {fails}");
}
