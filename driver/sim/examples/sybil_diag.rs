use peerdrt_sim::adversary::HostileCloud;
use peerdrt_sim::hostile::Attack;
use std::time::Duration;
fn main() {
    let n: usize = std::env::args().nth(1).map(|a| a.parse().unwrap()).unwrap_or(1000);
    let f: f64 = std::env::args().nth(2).map(|a| a.parse().unwrap()).unwrap_or(0.1);
    let cloud =
        HostileCloud::build(1, n, f, Attack::Sybil, Duration::from_millis(20), Duration::from_secs(30));
    let (owner, key, _) = cloud.focus.clone();
    let ep = cloud.sim.node(owner).local_endpoint();
    let mut holders = 0;
    let mut honest = 0;
    for (node, _, _) in &cloud.honest {
        honest += 1;
        if cloud.sim.node(*node).cache().get(&key, &ep).is_some() {
            holders += 1;
        }
    }
    println!(
        "honest {honest} holders of focus {holders}; focus cache {}",
        cloud.sim.node(owner).cache().len()
    );
}
