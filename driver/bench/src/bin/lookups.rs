//! Lookups at N = 1,000 nodes in one process on loopback, real UDP sockets: peerdrt's DRT nodes
//! (peerdrt-core's `Node`, driven by two event-loop threads, as the simulator drives them but on
//! sockets) beside the `mainline` crate's BitTorrent DHT, same run, same N, same keys.
//!
//! Both clouds are built the same way: nodes join one after the other `--spacing` apart, each
//! bootstrapping from three random earlier nodes (mainline: its `bootstrap` list, never the
//! Internet). Each node publishes one key of the shared key set when it joins: peerdrt registers
//! it (DrtRegisterKey); mainline stores it as an immutable item (BEP 44 `put`, the item being
//! the key's 32 bytes). A lookup is an exact DRT search for a key (peerdrt) or a `get` of its
//! item (mainline), each from a random node.
//!
//! Figures per system: time until every key is findable after the last join (rounds of
//! concurrent lookups of every key, 64 at a time, until one round finds them all), latency
//! p50/p99 and CPU per lookup over sequential lookups, datagrams per lookup, lookups per second
//! with 64 in flight (the process has the machine's cores; 2 here), heap and RSS per node.
//! Datagram counts: peerdrt's nodes count their own (the searching node's sent + received, the
//! simulator's definition, and all nodes' datagrams per lookup); mainline cannot, so for both
//! the namespace's `Udp: OutDatagrams` is read, which is exact when the benchmark runs in a
//! network namespace of its own (`unshare -rn`, as `cargo make bench-lookups` does), with the
//! idle (maintenance) rate measured just before subtracted.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use peerdrt_bench::alloc_count::{self, CountingAlloc};
use peerdrt_bench::{process_cpu, quantile, rss_bytes, udp_out_datagrams};
use peerdrt_core::drt::security::{KeyCredential, NullProvider};
use peerdrt_core::drt::{Event, Node, NodeConfig, SearchId, SearchInfo, Timing};
use peerdrt_core::time::Instant as CoreInstant;
use peerdrt_core::wire::{Endpoint, ProtocolVersion};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

type Key = [u8; 32];

const VERSION: ProtocolVersion = ProtocolVersion { major: 6, minor: 101 };
/// Event-loop threads for the peerdrt nodes (the machine's cores).
const SHARDS: usize = 2;
/// Lookups in flight in the findability rounds and the throughput phase.
const IN_FLIGHT: usize = 64;
/// A lookup that has not ended by then is a miss.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// The findability rounds give up after this long.
const FINDABLE_LIMIT: Duration = Duration::from_secs(120);
const WAKE: Token = Token(usize::MAX);
/// mainline: attempts at storing a key's item (200 ms apart) before giving up.
const PUT_ATTEMPTS: usize = 20;

struct Args {
    n: usize,
    spacing: Duration,
    lookups: usize,
    throughput_secs: f64,
    seed: u64,
    only: Option<String>,
    json: Option<PathBuf>,
    plot_dir: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        n: 1000,
        spacing: Duration::from_millis(10),
        lookups: 2000,
        throughput_secs: 5.0,
        seed: 1,
        only: None,
        json: None,
        plot_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--n" => a.n = value().parse().expect("--n"),
            "--spacing-ms" => a.spacing = Duration::from_millis(value().parse().expect("--spacing-ms")),
            "--lookups" => a.lookups = value().parse().expect("--lookups"),
            "--throughput-secs" => a.throughput_secs = value().parse().expect("--throughput-secs"),
            "--seed" => a.seed = value().parse().expect("--seed"),
            "--only" => a.only = Some(value()),
            "--json" => a.json = Some(PathBuf::from(value())),
            "--plot-dir" => a.plot_dir = Some(PathBuf::from(value())),
            other => panic!(
                "unknown argument {other}\nUSAGE: lookups [--n N] [--spacing-ms MS] [--lookups K] [--throughput-secs S] [--seed S] [--only peerdrt|mainline] [--json PATH] [--plot-dir DIR]"
            ),
        }
    }
    a
}

/// What one lookup gave.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    found: bool,
    latency: Duration,
    /// The searching node's datagrams (sent + received) during the lookup; peerdrt only.
    node_datagrams: Option<u64>,
}

/// A cloud under test.
trait Cloud {
    fn name(&self) -> &'static str;
    /// Node `index` joins, bootstrapping from the earlier nodes `seeds`, and publishes its key.
    fn join(&self, index: usize, seeds: &[usize], rng: &mut ChaCha8Rng);
    /// Looks `key` up from node `from`; `done` gets the outcome.
    fn lookup(&self, from: usize, key: usize, done: mpsc::Sender<Outcome>);
    /// All nodes' heap bytes as the nodes account them themselves, if they do.
    fn node_heap_bytes(&self) -> Option<usize>;
    /// Datagrams all nodes sent so far, if they count them.
    fn datagrams_sent(&self) -> Option<u64>;
}

// ----- peerdrt ---------------------------------------------------------------------------------

enum Cmd {
    Join { index: usize, seeds: Vec<Endpoint>, key: Key, rng_seed: [u8; 32], bound: mpsc::Sender<u16> },
    Lookup { from: usize, target: Key, done: mpsc::Sender<Outcome> },
    Heap(mpsc::Sender<usize>),
    Sent(mpsc::Sender<u64>),
    Stop,
}

struct Lookup {
    id: SearchId,
    target: Key,
    start: Instant,
    datagrams: u64,
    done: mpsc::Sender<Outcome>,
}

struct PNode {
    node: Node,
    socket: UdpSocket,
    lookups: Vec<Lookup>,
}

fn node_datagrams(node: &Node) -> u64 {
    let s = node.stats();
    s.sent + s.received
}

struct Shard {
    origin: Instant,
    poll: Poll,
    nodes: Vec<PNode>,
    slots: HashMap<usize, usize>,
    timers: BinaryHeap<Reverse<(u64, usize)>>,
    buf: Vec<u8>,
}

impl Shard {
    fn now(&self) -> CoreInstant {
        CoreInstant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Sends what the node produced, reports ended lookups, re-arms its timer.
    fn after(&mut self, slot: usize) {
        let p = &mut self.nodes[slot];
        while let Some(t) = p.node.poll_transmit() {
            let to = SocketAddr::new(
                t.destination
                    .addr
                    .to_ipv4_mapped()
                    .map_or(std::net::IpAddr::V6(t.destination.addr), Into::into),
                t.destination.port,
            );
            let _ = p.socket.send_to(&t.payload, to);
        }
        while let Some(e) = p.node.poll_event() {
            let (search, found) = match e {
                Event::SearchResult { search, result } => (search, Some(result.key)),
                Event::SearchEnded { search, .. } => (search, None),
                _ => continue,
            };
            let Some(i) = p.lookups.iter().position(|l| l.id == search) else { continue };
            let l = p.lookups.swap_remove(i);
            let outcome = Outcome {
                found: found == Some(l.target),
                latency: l.start.elapsed(),
                node_datagrams: Some(node_datagrams(&p.node) - l.datagrams),
            };
            let _ = p.node.end_search(search);
            let _ = l.done.send(outcome);
        }
        if let Some(d) = p.node.next_deadline() {
            self.timers.push(Reverse((d.as_millis(), slot)));
        }
    }

    fn command(&mut self, cmd: Cmd) -> bool {
        match cmd {
            Cmd::Join { index, seeds, key, rng_seed, bound } => {
                let mut socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0).into()).expect("bind");
                let port = socket.local_addr().expect("addr").port();
                let _ = bound.send(port);
                let mut node = Node::new(NodeConfig {
                    version: VERSION,
                    port,
                    addresses: vec![Ipv4Addr::LOCALHOST.to_ipv6_mapped()],
                    seeds,
                    security: Box::new(NullProvider),
                    rng_seed,
                    timing: Timing::default(),
                    flood: peerdrt_core::drt::FloodLimits::default(),
                })
                .expect("node");
                let slot = self.nodes.len();
                self.poll
                    .registry()
                    .register(&mut socket, Token(slot), Interest::READABLE)
                    .expect("register");
                let now = self.now();
                node.start(now);
                node.register(now, key, &key[..8], KeyCredential::None).expect("register key");
                self.nodes.push(PNode { node, socket, lookups: Vec::new() });
                self.slots.insert(index, slot);
                self.after(slot);
            }
            Cmd::Lookup { from, target, done } => {
                let Some(&slot) = self.slots.get(&from) else { return true };
                let now = self.now();
                let p = &mut self.nodes[slot];
                let datagrams = node_datagrams(&p.node);
                let start = Instant::now();
                match p.node.start_search(now, target, SearchInfo::exact(), LOOKUP_TIMEOUT) {
                    Ok(id) => p.lookups.push(Lookup { id, target, start, datagrams, done }),
                    Err(_) => {
                        let _ = done.send(Outcome {
                            found: false,
                            latency: Duration::ZERO,
                            node_datagrams: Some(0),
                        });
                    }
                }
                self.after(slot);
            }
            Cmd::Heap(reply) => {
                let _ = reply.send(self.nodes.iter().map(|p| p.node.heap_bytes() + size_of::<Node>()).sum());
            }
            Cmd::Sent(reply) => {
                let _ = reply.send(self.nodes.iter().map(|p| p.node.stats().sent).sum());
            }
            Cmd::Stop => return false,
        }
        true
    }

    fn run(mut self, commands: mpsc::Receiver<Cmd>) {
        let mut events = Events::with_capacity(256);
        loop {
            let now_ms = self.now().as_millis();
            let timeout =
                self.timers.peek().map(|Reverse((d, _))| Duration::from_millis(d.saturating_sub(now_ms)));
            let _ = self.poll.poll(&mut events, timeout);
            for event in events.iter() {
                if event.token() == WAKE {
                    while let Ok(cmd) = commands.try_recv() {
                        if !self.command(cmd) {
                            return;
                        }
                    }
                    continue;
                }
                let slot = event.token().0;
                let now = self.now();
                while let Ok((len, from)) = self.nodes[slot].socket.recv_from(&mut self.buf) {
                    let from = match from {
                        SocketAddr::V4(a) => Endpoint { addr: a.ip().to_ipv6_mapped(), port: a.port() },
                        SocketAddr::V6(a) => Endpoint { addr: *a.ip(), port: a.port() },
                    };
                    self.nodes[slot].node.handle_datagram(now, from, &self.buf[..len]);
                }
                self.after(slot);
            }
            let now = self.now();
            while let Some(&Reverse((d, slot))) = self.timers.peek() {
                if d > now.as_millis() {
                    break;
                }
                self.timers.pop();
                if self.nodes[slot].node.next_deadline().is_some_and(|d| d <= now) {
                    self.nodes[slot].node.handle_timeout(now);
                    self.after(slot);
                }
            }
        }
    }
}

struct Peerdrt {
    shards: Vec<(mpsc::Sender<Cmd>, Arc<Waker>)>,
    threads: Vec<std::thread::JoinHandle<()>>,
    keys: Arc<Vec<Key>>,
    endpoints: Mutex<Vec<Endpoint>>,
}

impl Peerdrt {
    fn new(keys: Arc<Vec<Key>>) -> Self {
        let origin = Instant::now();
        let mut shards = Vec::new();
        let mut threads = Vec::new();
        for s in 0..SHARDS {
            let poll = Poll::new().expect("poll");
            let waker = Arc::new(Waker::new(poll.registry(), WAKE).expect("waker"));
            let (tx, rx) = mpsc::channel();
            let shard = Shard {
                origin,
                poll,
                nodes: Vec::new(),
                slots: HashMap::new(),
                timers: BinaryHeap::new(),
                buf: vec![0u8; 65_535],
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("drt-shard-{s}"))
                    .spawn(move || shard.run(rx))
                    .expect("shard thread"),
            );
            shards.push((tx, waker));
        }
        Self { shards, threads, keys, endpoints: Mutex::new(Vec::new()) }
    }

    fn send(&self, index: usize, cmd: Cmd) {
        let (tx, waker) = &self.shards[index % SHARDS];
        let _ = tx.send(cmd);
        let _ = waker.wake();
    }

    fn stop(self) {
        for (tx, waker) in &self.shards {
            let _ = tx.send(Cmd::Stop);
            let _ = waker.wake();
        }
        for t in self.threads {
            let _ = t.join();
        }
    }
}

impl Cloud for Peerdrt {
    fn name(&self) -> &'static str {
        "peerdrt"
    }
    fn join(&self, index: usize, seeds: &[usize], rng: &mut ChaCha8Rng) {
        let seeds: Vec<Endpoint> = {
            let e = self.endpoints.lock().expect("endpoints");
            seeds.iter().map(|&s| e[s]).collect()
        };
        let (bound, port) = mpsc::channel();
        let mut rng_seed = [0u8; 32];
        rng.fill(&mut rng_seed);
        self.send(index, Cmd::Join { index, seeds, key: self.keys[index], rng_seed, bound });
        let port = port.recv().expect("the shard binds a socket");
        self.endpoints
            .lock()
            .expect("endpoints")
            .push(Endpoint { addr: Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port });
    }

    fn lookup(&self, from: usize, key: usize, done: mpsc::Sender<Outcome>) {
        self.send(from, Cmd::Lookup { from, target: self.keys[key], done });
    }
    fn node_heap_bytes(&self) -> Option<usize> {
        let mut total = 0;
        for (i, _) in self.shards.iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            self.send(i, Cmd::Heap(tx));
            total += rx.recv().ok()?;
        }
        Some(total)
    }
    fn datagrams_sent(&self) -> Option<u64> {
        let mut total = 0;
        for (i, _) in self.shards.iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            self.send(i, Cmd::Sent(tx));
            total += rx.recv().ok()?;
        }
        Some(total)
    }
}

// ----- mainline --------------------------------------------------------------------------------

/// A job for mainline's lookup and put threads (its API blocks).
enum Job {
    Put { node: mainline::Dht, index: usize },
    Get { node: mainline::Dht, key: usize, done: mpsc::Sender<Outcome> },
}

struct Mainline {
    nodes: Mutex<Vec<mainline::Dht>>,
    keys: Arc<Vec<Key>>,
    /// The item ids of the keys, once their put completed.
    targets: Arc<Mutex<Vec<Option<mainline::Id>>>>,
    jobs: Option<mpsc::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Mainline {
    fn new(keys: Arc<Vec<Key>>) -> Self {
        let targets = Arc::new(Mutex::new(vec![None; keys.len()]));
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = (0..IN_FLIGHT)
            .map(|i| {
                let (rx, keys, targets) = (rx.clone(), keys.clone(), targets.clone());
                std::thread::Builder::new()
                    .name(format!("ml-client-{i}"))
                    .spawn(move || {
                        loop {
                            let job = match rx.lock().expect("jobs").recv() {
                                Ok(job) => job,
                                Err(_) => return,
                            };
                            match job {
                                Job::Put { node, index } => {
                                    // A node that has only just joined may not know its closest
                                    // nodes yet: try again, as a DRT node re-announces.
                                    for _ in 0..PUT_ATTEMPTS {
                                        #[allow(deprecated)]
                                        if let Ok(id) = node.put_immutable(&keys[index]) {
                                            targets.lock().expect("targets")[index] = Some(id);
                                            break;
                                        }
                                        std::thread::sleep(Duration::from_millis(200));
                                    }
                                }
                                Job::Get { node, key, done } => {
                                    let start = Instant::now();
                                    let target = targets.lock().expect("targets")[key];
                                    #[allow(deprecated)]
                                    let found = target
                                        .and_then(|t| node.get_immutable(t))
                                        .is_some_and(|v| v[..] == keys[key][..]);
                                    let _ = done.send(Outcome {
                                        found,
                                        latency: start.elapsed(),
                                        node_datagrams: None,
                                    });
                                }
                            }
                        }
                    })
                    .expect("mainline client thread")
            })
            .collect();
        Self { nodes: Mutex::new(Vec::new()), keys, targets, jobs: Some(tx), threads }
    }

    fn stop(mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.nodes.lock().expect("nodes").clear();
        let _ = (&self.keys, &self.targets);
    }
}

impl Cloud for Mainline {
    fn name(&self) -> &'static str {
        "mainline"
    }
    fn join(&self, index: usize, seeds: &[usize], _rng: &mut ChaCha8Rng) {
        let mut nodes = self.nodes.lock().expect("nodes");
        #[allow(deprecated)]
        let seeds: Vec<String> = seeds.iter().map(|&s| nodes[s].info().local_addr().to_string()).collect();
        let mut builder = mainline::Dht::builder();
        builder.server_mode().bind_address(Ipv4Addr::LOCALHOST);
        if seeds.is_empty() {
            builder.no_bootstrap();
        } else {
            // Local bootstrap only: the default list is on the Internet.
            builder.bootstrap(&seeds);
        }
        let node = builder.build().expect("mainline node");
        nodes.push(node.clone());
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Put { node, index });
        }
    }
    fn lookup(&self, from: usize, key: usize, done: mpsc::Sender<Outcome>) {
        let node = self.nodes.lock().expect("nodes")[from].clone();
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Get { node, key, done });
        }
    }
    fn node_heap_bytes(&self) -> Option<usize> {
        None
    }
    fn datagrams_sent(&self) -> Option<u64> {
        None
    }
}

// ----- the measurement -------------------------------------------------------------------------

/// Runs `lookups` with up to `in_flight` at once; outcomes in completion order.
fn run_lookups(cloud: &dyn Cloud, lookups: &[(usize, usize)], in_flight: usize) -> Vec<Outcome> {
    let (tx, rx) = mpsc::channel();
    let mut next = 0;
    let mut outcomes = Vec::with_capacity(lookups.len());
    while next < lookups.len().min(in_flight) {
        cloud.lookup(lookups[next].0, lookups[next].1, tx.clone());
        next += 1;
    }
    while outcomes.len() < lookups.len() {
        match rx.recv_timeout(LOOKUP_TIMEOUT * 2) {
            Ok(o) => outcomes.push(o),
            Err(_) => {
                // Never answered: a miss.
                outcomes.push(Outcome { found: false, latency: LOOKUP_TIMEOUT * 2, node_datagrams: None });
            }
        }
        if next < lookups.len() {
            cloud.lookup(lookups[next].0, lookups[next].1, tx.clone());
            next += 1;
        }
    }
    outcomes
}

/// Keeps [`IN_FLIGHT`] random lookups going for `duration` (a new one as each ends), then lets
/// the last ones finish: (lookups found, time until the last ended).
fn run_for(cloud: &dyn Cloud, duration: Duration, rng: &mut ChaCha8Rng, n: usize) -> (usize, Duration) {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let mut outstanding = 0;
    let mut found = 0;
    for _ in 0..IN_FLIGHT {
        let (from, key) = random_lookup(rng, n);
        cloud.lookup(from, key, tx.clone());
        outstanding += 1;
    }
    while outstanding > 0 {
        match rx.recv_timeout(LOOKUP_TIMEOUT * 2) {
            Ok(o) => {
                outstanding -= 1;
                found += usize::from(o.found);
            }
            Err(_) => break,
        }
        if start.elapsed() < duration {
            let (from, key) = random_lookup(rng, n);
            cloud.lookup(from, key, tx.clone());
            outstanding += 1;
        }
    }
    (found, start.elapsed())
}

/// A random lookup: a key, from a node other than its owner.
fn random_lookup(rng: &mut ChaCha8Rng, n: usize) -> (usize, usize) {
    let key = rng.gen_range(0..n);
    let mut from = rng.gen_range(0..n);
    while from == key && n > 1 {
        from = rng.gen_range(0..n);
    }
    (from, key)
}

#[derive(Debug, Default, serde::Serialize)]
struct Row {
    system: String,
    n: usize,
    build_s: f64,
    findable_s: Option<f64>,
    findable_rounds: usize,
    lookups: usize,
    found: usize,
    p50_ms: f64,
    p99_ms: f64,
    node_datagrams_mean: Option<f64>,
    network_datagrams_per_lookup: Option<f64>,
    snmp_datagrams_per_lookup: Option<f64>,
    cpu_us_per_lookup: f64,
    cpu_us_per_lookup_net: f64,
    idle_cpu_percent: f64,
    lookups_per_s: f64,
    heap_per_node: f64,
    node_accounted_per_node: Option<f64>,
    rss_per_node: f64,
    #[serde(skip)]
    latencies_ms: Vec<f64>,
}

fn measure(cloud: &dyn Cloud, args: &Args) -> Row {
    let n = args.n;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let heap0 = alloc_count::live_bytes();
    let rss0 = rss_bytes();
    let name = cloud.name();
    eprintln!("[{name}] {n} nodes joining {:?} apart…", args.spacing);
    let build_start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        let seeds: Vec<usize> =
            if i == 0 { Vec::new() } else { (0..3.min(i)).map(|_| rng.gen_range(0..i)).collect() };
        cloud.join(i, &seeds, &mut rng);
        if let Some(rest) = args.spacing.checked_sub(t.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let last_join = Instant::now();
    let build_s = (last_join - build_start).as_secs_f64();
    eprintln!("[{name}] built in {build_s:.1} s; rounds of {n} lookups until every key is found…");
    let mut findable_s = None;
    let mut rounds = 0;
    while last_join.elapsed() < FINDABLE_LIMIT {
        let round_start = last_join.elapsed();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng);
        let lookups: Vec<(usize, usize)> = order
            .iter()
            .map(|&key| {
                let mut from = rng.gen_range(0..n);
                while from == key && n > 1 {
                    from = rng.gen_range(0..n);
                }
                (from, key)
            })
            .collect();
        let outcomes = run_lookups(cloud, &lookups, IN_FLIGHT);
        rounds += 1;
        let missed = outcomes.iter().filter(|o| !o.found).count();
        eprintln!("[{name}]   round {rounds} at {:.1} s: {missed} of {n} missed", round_start.as_secs_f64());
        if missed == 0 {
            findable_s = Some(round_start.as_secs_f64());
            break;
        }
    }
    // Idle: what the cloud costs with nothing asked of it.
    let idle = Duration::from_secs(2);
    let (cpu0, snmp0, sent0) = (process_cpu(), udp_out_datagrams(), cloud.datagrams_sent());
    std::thread::sleep(idle);
    let idle_cpu_rate = (process_cpu() - cpu0).as_secs_f64() / idle.as_secs_f64();
    let idle_snmp_rate = snmp0.zip(udp_out_datagrams()).map(|(a, b)| (b - a) as f64 / idle.as_secs_f64());
    let idle_sent_rate = sent0.zip(cloud.datagrams_sent()).map(|(a, b)| (b - a) as f64 / idle.as_secs_f64());
    // Sequential lookups: latency, CPU and datagrams per lookup.
    eprintln!("[{name}] {} sequential lookups…", args.lookups);
    let lookups: Vec<(usize, usize)> = (0..args.lookups).map(|_| random_lookup(&mut rng, n)).collect();
    let (cpu0, snmp0, sent0, t0) =
        (process_cpu(), udp_out_datagrams(), cloud.datagrams_sent(), Instant::now());
    let outcomes = run_lookups(cloud, &lookups, 1);
    let wall = t0.elapsed().as_secs_f64();
    let cpu = (process_cpu() - cpu0).as_secs_f64();
    let snmp = snmp0.zip(udp_out_datagrams()).map(|(a, b)| (b - a) as f64);
    let sent = sent0.zip(cloud.datagrams_sent()).map(|(a, b)| (b - a) as f64);
    let k = outcomes.len() as f64;
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.latency.as_secs_f64() * 1e3).collect();
    latencies.sort_by(f64::total_cmp);
    let node_dg: Vec<u64> = outcomes.iter().filter_map(|o| o.node_datagrams).collect();
    // Throughput: IN_FLIGHT lookups at a time.
    eprintln!("[{name}] {} s of lookups, {IN_FLIGHT} in flight…", args.throughput_secs);
    let (found, elapsed) = run_for(cloud, Duration::from_secs_f64(args.throughput_secs), &mut rng, n);
    let lookups_per_s = found as f64 / elapsed.as_secs_f64();
    let heap = alloc_count::live_bytes().saturating_sub(heap0) as f64 / n as f64;
    let rss = rss_bytes().saturating_sub(rss0) as f64 / n as f64;
    Row {
        system: name.into(),
        n,
        build_s,
        findable_s,
        findable_rounds: rounds,
        lookups: outcomes.len(),
        found: outcomes.iter().filter(|o| o.found).count(),
        p50_ms: quantile(&latencies, 0.5).unwrap_or(0.0),
        p99_ms: quantile(&latencies, 0.99).unwrap_or(0.0),
        node_datagrams_mean: (!node_dg.is_empty())
            .then(|| node_dg.iter().sum::<u64>() as f64 / node_dg.len() as f64),
        network_datagrams_per_lookup: sent.zip(idle_sent_rate).map(|(s, r)| (s - r * wall).max(0.0) / k),
        snmp_datagrams_per_lookup: snmp.zip(idle_snmp_rate).map(|(s, r)| (s - r * wall).max(0.0) / k),
        cpu_us_per_lookup: cpu / k * 1e6,
        cpu_us_per_lookup_net: (cpu - idle_cpu_rate * wall).max(0.0) / k * 1e6,
        idle_cpu_percent: idle_cpu_rate * 100.0,
        lookups_per_s,
        heap_per_node: heap,
        node_accounted_per_node: cloud.node_heap_bytes().map(|b| b as f64 / n as f64),
        rss_per_node: rss,
        latencies_ms: latencies,
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn print_rows(rows: &[Row]) {
    println!();
    println!(
        "{:<9} {:>5} {:>9} {:>7} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9}",
        "system",
        "N",
        "findable",
        "found",
        "p50 ms",
        "p99 ms",
        "dg/node",
        "dg/net",
        "dg/snmp",
        "CPU µs",
        "net µs",
        "idle CPU",
        "lookups/s",
        "heap/node",
        "RSS/node"
    );
    for r in rows {
        println!(
            "{:<9} {:>5} {:>9} {:>7} {:>8.3} {:>8.3} {:>9} {:>9} {:>9} {:>9.0} {:>9.0} {:>8.0}% {:>10.0} {:>9.0} {:>9.0}",
            r.system,
            r.n,
            r.findable_s.map_or("MISS".into(), |s| format!("{s:.1} s")),
            format!("{}/{}", r.found, r.lookups),
            r.p50_ms,
            r.p99_ms,
            opt(r.node_datagrams_mean, 1),
            opt(r.network_datagrams_per_lookup, 1),
            opt(r.snmp_datagrams_per_lookup, 1),
            r.cpu_us_per_lookup,
            r.cpu_us_per_lookup_net,
            r.idle_cpu_percent,
            r.lookups_per_s,
            r.heap_per_node,
            r.rss_per_node,
        );
    }
}

fn main() {
    let args = parse_args();
    println!("machine: {}", peerdrt_bench::machine());
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x6b65_7973);
    let keys: Arc<Vec<Key>> = Arc::new((0..args.n).map(|_| rng.r#gen()).collect());
    let mut rows = Vec::new();
    if args.only.as_deref() != Some("mainline") {
        let cloud = Peerdrt::new(keys.clone());
        rows.push(measure(&cloud, &args));
        cloud.stop();
    }
    if args.only.as_deref() != Some("peerdrt") {
        let cloud = Mainline::new(keys.clone());
        rows.push(measure(&cloud, &args));
        cloud.stop();
    }
    print_rows(&rows);
    if rows.len() == 2 {
        let (p, m) = (&rows[0], &rows[1]);
        println!();
        let x = |a: f64, b: f64| if a > 0.0 { format!("{:.1}×", b / a) } else { "-".into() };
        println!(
            "mainline / peerdrt: p50 {}, p99 {}, datagrams per lookup (snmp) {}, CPU per lookup (net) {}, \
             heap/node {}, RSS/node {}; peerdrt / mainline lookups/s {}",
            x(p.p50_ms, m.p50_ms),
            x(p.p99_ms, m.p99_ms),
            p.snmp_datagrams_per_lookup.zip(m.snmp_datagrams_per_lookup).map_or("-".into(), |(a, b)| x(a, b)),
            x(p.cpu_us_per_lookup_net, m.cpu_us_per_lookup_net),
            x(p.heap_per_node, m.heap_per_node),
            x(p.rss_per_node, m.rss_per_node),
            x(m.lookups_per_s, p.lookups_per_s),
        );
    }
    if let Some(p) = rows.iter().find(|r| r.system == "peerdrt") {
        let goal = |ok: bool| if ok { "PASS" } else { "MISS" };
        println!();
        println!("peerdrt against the goals (N = {}):", p.n);
        println!("  p50 {:.3} ms ≤ 0.5 ms: {}", p.p50_ms, goal(p.p50_ms <= 0.5));
        println!("  p99 {:.3} ms ≤ 2 ms: {}", p.p99_ms, goal(p.p99_ms <= 2.0));
        println!(
            "  datagrams per lookup (searching node) {} ≤ 20: {}",
            opt(p.node_datagrams_mean, 1),
            goal(p.node_datagrams_mean.is_some_and(|d| d <= 20.0))
        );
        println!(
            "  CPU per lookup (idle subtracted) {:.0} µs ≤ 150 µs: {}",
            p.cpu_us_per_lookup_net,
            goal(p.cpu_us_per_lookup_net <= 150.0)
        );
        let mem = p.node_accounted_per_node.unwrap_or(p.heap_per_node);
        println!(
            "  memory per node {:.0} B ≤ 32 KiB: {} (process heap per node {:.0} B)",
            mem,
            goal(mem <= 32768.0),
            p.heap_per_node
        );
        println!("  lookups/s {:.0} ≥ 10,000: {}", p.lookups_per_s, goal(p.lookups_per_s >= 10_000.0));
        println!(
            "  every key findable {} after the last join ≤ 10 s: {}",
            p.findable_s.map_or("never (in the limit)".into(), |s| format!("{s:.1} s")),
            goal(p.findable_s.is_some_and(|s| s <= 10.0))
        );
    }
    if let Some(dir) = &args.plot_dir {
        let _ = std::fs::create_dir_all(dir);
        let series: Vec<(&str, Vec<f64>)> =
            rows.iter().map(|r| (r.system.as_str(), r.latencies_ms.clone())).collect();
        let path = dir.join("lookup-latency-cdf.png");
        match peerdrt_bench::plot::latency_cdf(
            &path,
            &format!("Lookup latency, N = {}, loopback, sequential lookups", args.n),
            &series,
        ) {
            Ok(()) => println!("plot: {}", path.display()),
            Err(e) => eprintln!("plot failed: {e}"),
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "machine": peerdrt_bench::machine(), "rows": rows });
        std::fs::write(path, serde_json::to_string_pretty(&json).expect("json")).expect("write json");
    }
}
