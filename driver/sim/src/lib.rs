//! A deterministic simulator of DRT clouds.
//!
//! N real [`peerdrt_core::drt::Node`]s exchange real encoded datagrams on a virtual clock, with
//! a latency distribution, loss, duplication, reordering (jitter), partitions and churn, all
//! drawn from one seed: the same seed gives the same run, event for event.

pub mod group;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv6Addr;
use std::time::Duration;

use peerdrt_core::drt::security::{BoxedProvider, KeyCredential, NullProvider};
use peerdrt_core::drt::*;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::{Endpoint, Key, ProtocolVersion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub mod adversary;
pub mod hostile;

use hostile::{Hostile, Intercept};

/// The network's behaviour.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    /// One-way latency, uniformly drawn from this range (the jitter reorders datagrams).
    pub latency: (Duration, Duration),
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
}

impl Default for Network {
    fn default() -> Self {
        Self { latency: (Duration::from_millis(5), Duration::from_millis(25)), loss: 0.0, duplicate: 0.0 }
    }
}

/// The protocol version the simulated cloud speaks (the SDK sample's 6.101).
pub const SIM_VERSION: ProtocolVersion = ProtocolVersion::new(6, 0x65);

/// The endpoint of simulated node `index`: each node in its own routable /48, as independent
/// hosts on the Internet are (the route cache limits the entries of one /48 in each level, see
/// `cache::MAX_PREFIX_ENTRIES_PER_LEVEL`).
pub fn endpoint(index: usize) -> Endpoint {
    let i = index as u32;
    Endpoint { addr: Ipv6Addr::new(0x2001, 0xdb8, i as u16, (i >> 16) as u16, 0, 0, 0, 1), port: 3540 }
}

#[derive(Debug)]
struct SimNode {
    node: Node,
    timer: Option<Instant>,
    group: u32,
    events: Vec<Event>,
    hostile: Option<Box<Hostile>>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    Deliver { to: usize, from: Endpoint, payload: Vec<u8> },
    Timer { node: usize, at: Instant },
}

/// Counters of the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Datagrams handed to the network.
    pub sent: u64,
    /// Datagrams delivered to a live node.
    pub delivered: u64,
    /// Datagrams lost (loss, partition, or a departed node).
    pub lost: u64,
    /// Bytes sent to endpoints no simulated node has (spoofed sources, poisoned routes).
    pub unrouted_bytes: u64,
}

/// What a finished search found.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Results in delivery order.
    pub results: Vec<SearchResult>,
    /// How it ended (`None`: still running when the simulation gave up on it).
    pub end: Option<SearchEnd>,
    /// Nodes contacted.
    pub path: Vec<PathEntry>,
    /// Virtual time from start to end.
    pub latency: Duration,
    /// Datagrams the searching node sent and received meanwhile.
    pub datagrams: u64,
}

/// The simulator.
pub struct Sim {
    now: Instant,
    rng: ChaCha8Rng,
    network: Network,
    timing: Timing,
    nodes: Vec<Option<SimNode>>,
    by_endpoint: HashMap<Endpoint, usize>,
    queue: BinaryHeap<Reverse<(Instant, u64, Work)>>,
    seq: u64,
    traffic: Traffic,
    provider: fn(usize) -> BoxedProvider,
    unrouted: HashMap<Ipv6Addr, u64>,
}

fn null_provider(_: usize) -> BoxedProvider {
    Box::new(NullProvider)
}

impl Sim {
    /// An empty simulation.
    pub fn new(seed: u64, network: Network) -> Self {
        Self {
            now: Instant(0),
            rng: ChaCha8Rng::seed_from_u64(seed),
            network,
            timing: Timing::default(),
            nodes: Vec::new(),
            by_endpoint: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            traffic: Traffic::default(),
            provider: null_provider,
            unrouted: HashMap::new(),
        }
    }

    /// Uses `provider` to give each new node its security provider.
    pub fn with_provider(mut self, provider: fn(usize) -> BoxedProvider) -> Self {
        self.provider = provider;
        self
    }

    /// Uses these timers for new nodes.
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Changes the network's behaviour from now on.
    pub fn set_network(&mut self, network: Network) {
        self.network = network;
    }

    /// Virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Counters so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Bytes sent so far to each address no simulated node has.
    pub fn unrouted(&self) -> &HashMap<Ipv6Addr, u64> {
        &self.unrouted
    }

    /// Indices of live nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].is_some()).collect()
    }

    /// A live node.
    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index].as_ref().expect("node is live").node
    }

    /// A random 32-byte key from the simulation's seed.
    pub fn random_key(&mut self) -> Key {
        self.rng.r#gen()
    }

    /// A random live node.
    pub fn random_live(&mut self) -> usize {
        let live = self.live();
        live[self.rng.gen_range(0..live.len())]
    }

    /// Adds a node that bootstraps from `seeds` (node indices) and starts it.
    pub fn add_node(&mut self, seeds: &[usize]) -> usize {
        let index = self.nodes.len();
        let mut rng_seed = [0u8; 32];
        self.rng.fill(&mut rng_seed);
        let config = NodeConfig {
            version: SIM_VERSION,
            port: endpoint(index).port,
            addresses: vec![endpoint(index).addr],
            seeds: seeds.iter().map(|&s| endpoint(s)).collect(),
            security: (self.provider)(index),
            rng_seed,
            timing: self.timing,
            flood: peerdrt_core::drt::FloodLimits::default(),
        };
        let node = Node::new(config).expect("valid simulated node");
        self.nodes.push(Some(SimNode { node, timer: None, group: 0, events: Vec::new(), hostile: None }));
        self.by_endpoint.insert(endpoint(index), index);
        let now = self.now;
        self.with_node(index, |n| n.start(now));
        index
    }

    /// Removes a node abruptly (it stops answering; nobody is told).
    pub fn remove_node(&mut self, index: usize) {
        self.nodes[index] = None;
        self.by_endpoint.remove(&endpoint(index));
    }

    /// Closes a node gracefully (unregisters its keys), then removes it after the revocations
    /// have been sent.
    pub fn close_node(&mut self, index: usize) {
        let now = self.now;
        self.with_node(index, |n| n.close(now));
        self.remove_node(index);
    }

    /// Makes a live node hostile: `hostile` decides what it answers first.
    pub fn set_hostile(&mut self, index: usize, hostile: Hostile) {
        if let Some(n) = self.nodes[index].as_mut() {
            n.hostile = Some(Box::new(hostile));
        }
    }

    /// The hostile state of a node, if it is hostile.
    pub fn hostile_mut(&mut self, index: usize) -> Option<&mut Hostile> {
        self.nodes[index].as_mut().and_then(|n| n.hostile.as_deref_mut())
    }

    /// Delivers `payload` to node `to` as if it came from `from` (any address: a spoofer's),
    /// after `delay`.
    pub fn inject(&mut self, from: Endpoint, to: usize, payload: Vec<u8>, delay: Duration) {
        let at = self.now.saturating_add(delay);
        self.push(at, Work::Deliver { to, from, payload });
    }

    /// Puts a node in partition group `group`; datagrams cross no group boundary.
    pub fn set_group(&mut self, index: usize, group: u32) {
        if let Some(n) = self.nodes[index].as_mut() {
            n.group = group;
        }
    }

    /// Registers `key` at `node`.
    pub fn register(&mut self, node: usize, key: Key, app_data: &[u8]) -> Result<RegistrationId, DrtError> {
        self.register_with(node, key, app_data, KeyCredential::None)
    }

    /// Registers `key` at `node` with a credential.
    pub fn register_with(
        &mut self,
        node: usize,
        key: Key,
        app_data: &[u8],
        credential: KeyCredential,
    ) -> Result<RegistrationId, DrtError> {
        let now = self.now;
        self.with_node(index_check(node), |n| n.register(now, key, app_data, credential))
    }

    /// Calls `f` on a live node, then ships what it produced.
    pub fn with_node<R>(&mut self, index: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        let sim_node = self.nodes[index].as_mut().expect("node is live");
        let result = f(&mut sim_node.node);
        self.flush(index);
        result
    }

    /// Events a node produced so far (drained).
    pub fn take_events(&mut self, index: usize) -> Vec<Event> {
        self.nodes[index].as_mut().map(|n| std::mem::take(&mut n.events)).unwrap_or_default()
    }

    fn flush(&mut self, index: usize) {
        let Some(sim_node) = self.nodes[index].as_mut() else { return };
        let from = sim_node.node.local_endpoint();
        let group = sim_node.group;
        let mut outgoing = Vec::new();
        while let Some(t) = sim_node.node.poll_transmit() {
            outgoing.push(t);
        }
        while let Some(e) = sim_node.node.poll_event() {
            sim_node.events.push(e);
        }
        let deadline = sim_node.node.next_deadline();
        if deadline != sim_node.timer {
            sim_node.timer = deadline;
            if let Some(at) = deadline {
                self.push(at.max(self.now), Work::Timer { node: index, at });
            }
        }
        for t in outgoing {
            self.route(from, group, t);
        }
    }

    /// Hands one datagram from `from` (in partition `group`) to the network.
    fn route(&mut self, from: Endpoint, group: u32, t: Transmit) {
        self.traffic.sent += 1;
        let Some(&to) = self.by_endpoint.get(&t.destination) else {
            self.traffic.lost += 1;
            self.traffic.unrouted_bytes += t.payload.len() as u64;
            *self.unrouted.entry(t.destination.addr).or_default() += t.payload.len() as u64;
            return;
        };
        let to_group = self.nodes[to].as_ref().map_or(u32::MAX, |n| n.group);
        if to_group != group || self.rng.gen_bool(self.network.loss) {
            self.traffic.lost += 1;
            return;
        }
        let copies = if self.rng.gen_bool(self.network.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let (lo, hi) = self.network.latency;
            let delay = if hi > lo { self.rng.gen_range(lo..=hi) } else { lo };
            self.push(self.now.saturating_add(delay), Work::Deliver { to, from, payload: t.payload.clone() });
        }
    }

    fn push(&mut self, at: Instant, work: Work) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, work)));
    }

    /// Runs the simulation until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > until {
                break;
            }
            let Reverse((at, _, work)) = self.queue.pop().expect("peeked");
            self.now = self.now.max(at);
            self.step(work);
        }
        self.now = self.now.max(until);
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let until = self.now.saturating_add(duration);
        self.run_until(until);
    }

    fn step(&mut self, work: Work) {
        let now = self.now;
        match work {
            Work::Deliver { to, from, payload } => {
                if self.nodes[to].is_none() {
                    self.traffic.lost += 1;
                    return;
                }
                self.traffic.delivered += 1;
                let intercepted =
                    self.nodes[to].as_mut().and_then(|n| n.hostile.as_mut()).map(|h| h.intercept(&payload));
                if let Some(Intercept::Reply(replies)) = intercepted {
                    let sim_node = self.nodes[to].as_ref().expect("live");
                    let (local, group) = (sim_node.node.local_endpoint(), sim_node.group);
                    for payload in replies {
                        self.route(local, group, Transmit { destination: from, payload });
                    }
                    return;
                }
                self.with_node(to, |n| n.handle_datagram(now, from, &payload));
            }
            Work::Timer { node, at } => {
                let Some(sim_node) = self.nodes[node].as_mut() else { return };
                if sim_node.timer != Some(at) {
                    return; // superseded
                }
                sim_node.timer = None;
                self.with_node(node, |n| n.handle_timeout(now));
            }
        }
    }

    /// Runs one search to its end (or `timeout` plus a margin) and reports it.
    pub fn search(
        &mut self,
        node: usize,
        target: Key,
        info: SearchInfo,
        timeout: Duration,
    ) -> Result<SearchOutcome, DrtError> {
        let start = self.now;
        let before = self.node(node).stats();
        let now = self.now;
        let id = self.with_node(node, |n| n.start_search(now, target, info, timeout))?;
        let mut results = Vec::new();
        let mut end = None;
        let give_up = start.saturating_add(timeout + Duration::from_secs(1));
        // Keep this node's other events for the caller.
        let mut kept = Vec::new();
        while end.is_none() && self.now < give_up {
            let next = self.queue.peek().map(|Reverse((at, _, _))| *at).unwrap_or(give_up).min(give_up);
            self.run_until(next);
            for event in self.take_events(node) {
                match event {
                    Event::SearchResult { search, result } if search == id => {
                        if result.match_type == MatchType::Intermediate {
                            let now = self.now;
                            self.with_node(node, |n| n.continue_search(now, id)).ok();
                        }
                        results.push(result);
                    }
                    Event::SearchEnded { search, end: e } if search == id => end = Some(e),
                    other => kept.push(other),
                }
            }
        }
        if let Some(n) = self.nodes[node].as_mut() {
            kept.append(&mut n.events);
            n.events = kept;
        }
        let path = self.node(node).search_path(id).map(<[PathEntry]>::to_vec).unwrap_or_default();
        let after = self.node(node).stats();
        self.with_node(node, |n| n.end_search(id)).ok();
        Ok(SearchOutcome {
            results,
            end,
            path,
            latency: self.now.saturating_since(start),
            datagrams: (after.sent - before.sent) + (after.received - before.received),
        })
    }
}

fn index_check(index: usize) -> usize {
    index
}

/// A cloud of `n` nodes, each registering one random key, joined one after another.
pub struct Cloud {
    /// The simulation.
    pub sim: Sim,
    /// `(node, key, app data)` of every registration.
    pub keys: Vec<(usize, Key, Vec<u8>)>,
}

/// Application data registered for `key` in generated clouds.
pub fn app_data_for(key: &Key) -> Vec<u8> {
    let mut data = b"appdata:".to_vec();
    data.extend_from_slice(&key[..8]);
    data
}

impl Cloud {
    /// Builds a cloud: node `i` bootstraps from up to three earlier nodes and registers a key;
    /// joins are `spacing` apart; then the cloud settles for `settle`.
    pub fn build(seed: u64, n: usize, network: Network, spacing: Duration, settle: Duration) -> Self {
        let sim = Sim::new(seed, network);
        Self::build_in(sim, n, spacing, settle)
    }

    /// As [`Cloud::build`], in a prepared simulation.
    pub fn build_in(mut sim: Sim, n: usize, spacing: Duration, settle: Duration) -> Self {
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            let seeds: Vec<usize> = if i == 0 {
                Vec::new()
            } else {
                let live = sim.live();
                (0..3.min(live.len())).map(|_| live[sim.rng.gen_range(0..live.len())]).collect()
            };
            let node = sim.add_node(&seeds);
            let key = sim.random_key();
            let data = app_data_for(&key);
            sim.register(node, key, &data).expect("register");
            keys.push((node, key, data));
            sim.run_for(spacing);
        }
        sim.run_for(settle);
        Self { sim, keys }
    }

    /// Replaces a live node with a new one: the old one vanishes, the new one joins and
    /// registers a fresh key.
    pub fn replace(&mut self, index: usize) -> usize {
        self.sim.remove_node(index);
        self.keys.retain(|(n, _, _)| *n != index);
        let seeds: Vec<usize> = (0..3).map(|_| self.sim.random_live()).collect();
        let node = self.sim.add_node(&seeds);
        let key = self.sim.random_key();
        let data = app_data_for(&key);
        self.sim.register(node, key, &data).expect("register");
        self.keys.push((node, key, data));
        node
    }
}
