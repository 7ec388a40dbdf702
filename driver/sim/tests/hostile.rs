//! Hostile peers: what must always hold, at a size that runs fast. The figures against the
//! hostile fraction are printed by `drt-adversity-bench --hostile`.

use std::time::Duration;

use peerdrt_core::drt::search::SearchSettings;
use peerdrt_sim::adversary::HostileCloud;
use peerdrt_sim::hostile::Attack;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const N: usize = 200;
const SEARCHES: usize = 100;
/// Honest searches that must succeed with a tenth of the nodes hostile, whatever the attack.
const MIN_SUCCESS_AT_10_PERCENT: f64 = 0.90;

fn run(attack: Attack, fraction: f64, seed: u64) -> (f64, usize) {
    let mut cloud =
        HostileCloud::build(seed, N, fraction, attack, Duration::from_millis(20), Duration::from_secs(30));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let outcome = cloud.measure(SEARCHES, &mut rng, SearchSettings::new(1).expect("in range"));
    (outcome.rate(), outcome.forged)
}

#[test]
fn with_a_tenth_of_the_nodes_hostile_honest_searches_succeed_and_nothing_forged_is_returned() {
    let mut failures = Vec::new();
    for attack in Attack::ALL {
        let (rate, forged) = run(attack, 0.10, 5);
        if forged != 0 || rate < MIN_SUCCESS_AT_10_PERCENT {
            failures.push((attack.name(), rate, forged));
        }
    }
    assert!(failures.is_empty(), "(attack, success, forged results): {failures:?}");
}

#[test]
fn forged_spoofed_or_replayed_records_are_never_returned_even_with_30_percent_hostile() {
    for attack in [Attack::SpoofedAuthority, Attack::ForgedRegistration, Attack::Replay] {
        let (_, forged) = run(attack, 0.30, 6);
        assert_eq!(forged, 0, "{}", attack.name());
    }
}

#[test]
fn an_honest_cloud_is_not_hurt_by_the_defences() {
    for attack in [Attack::SpoofedAuthority, Attack::ForgedRegistration] {
        let (rate, forged) = run(attack, 0.0, 7);
        assert_eq!((rate, forged), (1.0, 0), "{}", attack.name());
    }
}
