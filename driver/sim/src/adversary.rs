//! Clouds with a fraction of hostile nodes, and what honest searches get out of them.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use peerdrt_core::drt::search::SearchSettings;
use peerdrt_core::drt::security::{
    BoxedProvider, Certificate, DerivedKeyProvider, Identity, KeyCredential, SecurityMode,
};
use peerdrt_core::drt::*;
use peerdrt_core::wire::{Endpoint, Key};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hostile::{Attack, Hostile, SYBIL_PREFIX_BITS};
use crate::{Network, Sim, app_data_for, endpoint};

/// Keys each eclipsing node registers near its victim's key.
pub const ECLIPSE_KEYS_PER_NODE: usize = 8;
/// Leading bits an eclipsing node's keys share with the victim's key.
pub const ECLIPSE_PREFIX_BITS: u32 = 8;
/// Search timeout in the hostile measurements.
pub const HOSTILE_SEARCH_TIMEOUT: Duration = Duration::from_secs(5);

const ROOT_SEED: [u8; 32] = [0x5A; 32];

fn root() -> SigningKey {
    SigningKey::from_bytes(&ROOT_SEED)
}

/// The certified identity of simulated member `seed`.
pub fn member_identity(seed: u64) -> Identity {
    let mut bytes = [0u8; 32];
    ChaCha8Rng::seed_from_u64(seed ^ 0x1D).fill(&mut bytes);
    let signing_key = SigningKey::from_bytes(&bytes);
    let certificate = Certificate::issue(&root(), &signing_key.verifying_key());
    Identity { signing_key, certificate }
}

fn derived_provider(_: usize) -> BoxedProvider {
    Box::new(
        DerivedKeyProvider::new(root().verifying_key(), None, SecurityMode::Resolve).expect("valid root"),
    )
}

/// A built cloud with hostile nodes.
pub struct HostileCloud {
    /// The simulation.
    pub sim: Sim,
    /// The attack.
    pub attack: Attack,
    /// `(node, key, app data)` of every honest registration.
    pub honest: Vec<(usize, Key, Vec<u8>)>,
    /// Hostile node indices.
    pub hostile: Vec<usize>,
    /// The key a Sybil cluster surrounds (an honest node's: the second to join, or the last
    /// for [`Attack::SybilBeforeOwner`]).
    pub focus: (usize, Key, Vec<u8>),
    /// The node an eclipse targets.
    pub victim: usize,
}

/// What a batch of honest searches got.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Searches run.
    pub searches: usize,
    /// Searches that returned exactly the owner's record.
    pub succeeded: usize,
    /// Results that were not the owner's record (must stay 0).
    pub forged: usize,
    /// Latency of each successful search.
    pub latencies: Vec<Duration>,
    /// Datagrams the searching nodes sent and received during the searches.
    pub datagrams: u64,
}

impl Outcome {
    /// Mean datagrams per search.
    pub fn datagrams_per_search(&self) -> f64 {
        if self.searches == 0 { 0.0 } else { self.datagrams as f64 / self.searches as f64 }
    }

    /// Success rate in [0, 1].
    pub fn rate(&self) -> f64 {
        if self.searches == 0 { 0.0 } else { self.succeeded as f64 / self.searches as f64 }
    }
}

impl HostileCloud {
    /// Builds `n` nodes of which `fraction` are hostile with `attack`, joined `spacing` apart,
    /// then lets the cloud settle for `settle`.
    pub fn build(
        seed: u64,
        n: usize,
        fraction: f64,
        attack: Attack,
        spacing: Duration,
        settle: Duration,
    ) -> Self {
        let derived = attack.needs_derived_keys();
        let mut sim = Sim::new(seed, Network::default());
        if derived {
            sim = sim.with_provider(derived_provider);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xA77AC);
        let hostile_count = ((n as f64) * fraction).round() as usize;
        // The focus's owner joins second, or, when the cluster is to be in place before it,
        // last (its key is known to the attacker from the start).
        let owner_joins_last = attack == Attack::SybilBeforeOwner;
        let owner = if owner_joins_last { n.saturating_sub(1) } else { 1 };
        // Node 0 (the first seed), the focus's owner and the victim (2) are honest.
        let mut candidates: Vec<usize> = (3..n).filter(|&i| i != owner).collect();
        candidates.shuffle(&mut rng);
        let mut is_hostile = vec![false; n];
        for &i in candidates.iter().take(hostile_count) {
            is_hostile[i] = true;
        }
        let planted: Key = if owner_joins_last { rng.r#gen() } else { [0u8; 32] };
        let mut focus = (owner, planted, Vec::new());
        let mut victim_key = [0u8; 32];
        let mut honest = Vec::new();
        let mut hostile = Vec::new();
        let mut identities = Vec::new();
        for (i, &hostile_here) in is_hostile.iter().enumerate() {
            let seeds: Vec<usize> = if i == 0 {
                Vec::new()
            } else {
                let live = sim.live();
                (0..3.min(live.len())).map(|_| live[rng.gen_range(0..live.len())]).collect()
            };
            let node = sim.add_node(&seeds);
            let identity = member_identity(seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
            let random_key: Key = rng.r#gen();
            if !hostile_here {
                let key = if derived {
                    identity.certificate.derived_key()
                } else if owner_joins_last && i == owner {
                    planted
                } else {
                    random_key
                };
                let data = app_data_for(&key);
                let credential = if derived {
                    KeyCredential::Identity(Box::new(identity.clone()))
                } else {
                    KeyCredential::None
                };
                sim.register_with(node, key, &data, credential).expect("register");
                if i == owner {
                    focus = (node, key, data.clone());
                }
                if i == 2 {
                    victim_key = key;
                }
                identities.push((key, identity, data.clone()));
                honest.push((node, key, data));
            } else {
                let mut h = Hostile::new(attack, endpoint(node), rng.r#gen());
                h.focus = focus.1;
                h.identity = Some(identity.clone());
                h.root = Some(root().verifying_key());
                let keys: Vec<Key> = match attack {
                    Attack::ForgedRegistration | Attack::Replay => vec![identity.certificate.derived_key()],
                    Attack::Sybil | Attack::SybilBeforeOwner => {
                        vec![near(&focus.1, SYBIL_PREFIX_BITS, &mut rng)]
                    }
                    Attack::Eclipse => (0..ECLIPSE_KEYS_PER_NODE)
                        .map(|_| near(&victim_key, ECLIPSE_PREFIX_BITS, &mut rng))
                        .collect(),
                    Attack::SpoofedAuthority | Attack::RoutePoisoning => vec![random_key],
                };
                for key in &keys {
                    let credential = if derived {
                        KeyCredential::Identity(Box::new(identity.clone()))
                    } else {
                        KeyCredential::None
                    };
                    sim.register_with(node, *key, b"hostile", credential).expect("register");
                }
                h.own_keys = keys;
                sim.set_hostile(node, h);
                hostile.push(node);
            }
            sim.run_for(spacing);
        }
        // Accomplices, and the records a replaying node recorded earlier.
        let accomplices: Vec<Endpoint> = hostile.iter().map(|&i| endpoint(i)).collect();
        for &i in &hostile {
            let h = sim.hostile_mut(i).expect("hostile");
            h.accomplices = accomplices.clone();
            if attack == Attack::Replay {
                for (key, identity, data) in &identities {
                    h.recorded.insert(*key, (identity.clone(), data.clone()));
                }
            }
        }
        sim.run_for(settle);
        Self { sim, attack, honest, hostile, focus, victim: 2 }
    }

    /// Runs `count` honest searches the attack aims at: searches for the Sybil cluster's key,
    /// searches from the eclipsed node, otherwise searches for random honest keys from random
    /// honest nodes. The searching nodes run their searches with `settings`.
    pub fn measure(&mut self, count: usize, rng: &mut ChaCha8Rng, settings: SearchSettings) -> Outcome {
        let mut outcome = Outcome::default();
        let honest_nodes: Vec<usize> = self.honest.iter().map(|(n, _, _)| *n).collect();
        for _ in 0..count {
            let (owner, key, data) = match self.attack {
                Attack::Sybil | Attack::SybilBeforeOwner => self.focus.clone(),
                _ => self.honest[rng.gen_range(0..self.honest.len())].clone(),
            };
            let from = match self.attack {
                Attack::Eclipse if owner != self.victim => self.victim,
                _ => loop {
                    let n = honest_nodes[rng.gen_range(0..honest_nodes.len())];
                    if n != owner {
                        break n;
                    }
                },
            };
            if from == owner {
                continue;
            }
            self.sim.with_node(from, |n| n.set_search_settings(settings));
            let out = self
                .sim
                .search(from, key, SearchInfo::exact(), HOSTILE_SEARCH_TIMEOUT)
                .expect("search starts");
            outcome.searches += 1;
            outcome.datagrams += out.datagrams;
            outcome.forged += out.results.iter().filter(|r| r.key != key || r.app_data != data).count();
            if matches!(&out.results[..], [r] if r.key == key && r.app_data == data) {
                outcome.succeeded += 1;
                outcome.latencies.push(out.latency);
            }
        }
        outcome
    }

    /// Honest nodes other than the focus's owner whose route cache holds the owner: the
    /// searchers that can reach it past a Sybil cluster.
    pub fn honest_caches_holding_focus(&self) -> usize {
        let owner = endpoint(self.focus.0);
        self.honest
            .iter()
            .filter(|(n, _, _)| *n != self.focus.0)
            .filter(|(n, _, _)| self.sim.node(*n).cache().entries().iter().any(|e| e.endpoint == owner))
            .count()
    }

    /// Share of the eclipsed node's cache held by hostile nodes.
    pub fn victim_cache_hostile_share(&self) -> f64 {
        let cache = self.sim.node(self.victim).cache();
        if cache.is_empty() {
            return 0.0;
        }
        let hostile: Vec<Endpoint> = self.hostile.iter().map(|&i| endpoint(i)).collect();
        let held = cache.entries().iter().filter(|e| hostile.contains(&e.endpoint)).count();
        held as f64 / cache.len() as f64
    }
}

/// A random key sharing its first `bits` bits with `key`.
fn near(key: &Key, bits: u32, rng: &mut ChaCha8Rng) -> Key {
    let mut out: Key = rng.r#gen();
    for bit in 0..bits as usize {
        let mask = 0x80u8 >> (bit % 8);
        out[bit / 8] = (out[bit / 8] & !mask) | (key[bit / 8] & mask);
    }
    out
}
