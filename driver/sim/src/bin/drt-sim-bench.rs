//! drt-sim-bench: what a simulated DRT cloud costs and how fast it answers, at N = 100, 1,000,
//! 10,000 (and 100,000 with `--max-n 100000`), measured against the project's goals.
//!
//! Each size builds a cloud with [`Cloud::build`] (settle 0), measures how long after the last
//! join every (sampled) key becomes findable, lets the cloud settle, then runs `--searches`
//! exact searches one after another with [`Sim::search`]. Everything runs in this one thread:
//! wall-clock figures are the simulator's CPU, simulated peers included.
//!
//! Run: `cargo run --release -p peerdrt-sim --bin drt-sim-bench -- --max-n 10000`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant as WallInstant};

use peerdrt_core::drt::*;
use peerdrt_core::time::Instant;
use peerdrt_sim::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The sizes measured (those up to `--max-n`).
const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];
/// Timeout of every search.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Convergence: a round of searches starts this often.
const ROUND_EVERY: Duration = Duration::from_millis(250);
/// Convergence: keys sampled per round above this N (all keys at or below it).
const ROUND_ALL_KEYS_UP_TO: usize = 1_000;
/// Convergence: keys per round for larger clouds: the newest keys (the last nodes to join,
/// the likeliest to be unfindable) and as many random older ones.
const ROUND_SAMPLE: usize = 200;
const ROUND_NEWEST: usize = 100;
const _: () = assert!(ROUND_NEWEST < ROUND_SAMPLE && ROUND_SAMPLE <= ROUND_ALL_KEYS_UP_TO);
/// Convergence: no round starts later than this after the last join.
const CONVERGENCE_CAP: Duration = Duration::from_secs(120);
/// Virtual time from the last join before the exact-search runs start (at least).
const SETTLE: Duration = Duration::from_secs(30);
const SETTLE_QUICK: Duration = Duration::from_secs(15);
/// Goal: datagrams per exact search at N = 1,000 (judged on the mean).
const GOAL_DATAGRAMS_AT_1000: f64 = 20.0;
/// Goal: bytes per node (judged on the maximum).
const GOAL_BYTES_PER_NODE: usize = 32 * 1024;

const USAGE: &str = "\
drt-sim-bench: DRT cloud figures from the deterministic simulator

USAGE: drt-sim-bench [--max-n N] [--min-n N] [--seed S] [--searches K] [--quick]
                     [--json PATH] [--budget-secs T]

  --max-n N         largest cloud (sizes 100, 1000, 10000, 100000 up to N; N itself if
                    not one of them); default 10000 (1000 with --quick)
  --min-n N         skip the sizes below N (default: none)
  --seed S          simulation seed (default 1)
  --searches K      exact searches per size (default 1000; 200 with --quick)
  --quick           fewer searches, a shorter settle, max-n 1000 unless given
  --json PATH       also write the figures as JSON to PATH
  --budget-secs T   skip a size above 10000 whose wall time, estimated from the smaller
                    sizes of this run, exceeds T seconds (default 600)
  -h, --help        this text";

#[derive(Debug)]
struct Args {
    min_n: usize,
    max_n: usize,
    seed: u64,
    searches: usize,
    quick: bool,
    json: Option<PathBuf>,
    budget_secs: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut max_n = None;
    let mut min_n = 0;
    let mut seed = 1;
    let mut searches = None;
    let mut quick = false;
    let mut json = None;
    let mut budget_secs = 600.0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value =
            |what: &str| inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{what} needs a value"));
        match name.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--quick" => quick = true,
            "--max-n" => max_n = Some(parse_num(&value("--max-n")?, "--max-n")?),
            "--min-n" => min_n = parse_num(&value("--min-n")?, "--min-n")?,
            "--seed" => seed = parse_num(&value("--seed")?, "--seed")?,
            "--searches" => searches = Some(parse_num(&value("--searches")?, "--searches")?),
            "--json" => json = Some(PathBuf::from(value("--json")?)),
            "--budget-secs" => {
                budget_secs =
                    value("--budget-secs")?.parse::<f64>().map_err(|e| format!("--budget-secs: {e}"))?;
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    let max_n: usize = max_n.unwrap_or(if quick { 1_000 } else { 10_000 });
    if max_n < 2 {
        return Err("--max-n must be at least 2".into());
    }
    Ok(Args {
        min_n,
        max_n,
        seed,
        searches: searches.unwrap_or(if quick { 200 } else { 1_000 }).max(1),
        quick,
        json,
        budget_secs,
    })
}

fn parse_num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.replace('_', "").parse::<T>().map_err(|e| format!("{what}: {e}"))
}

/// Join spacing: 20 ms up to 1,000 nodes, then shorter so large clouds build in minutes (the
/// background maintenance while the cloud grows costs ∝ N² · spacing).
fn spacing_for(n: usize) -> Duration {
    match n {
        0..=1_000 => Duration::from_millis(20),
        1_001..=10_000 => Duration::from_millis(5),
        _ => Duration::from_millis(1),
    }
}

/// Goal: p99 sequential round trips per exact search ≤ ceil(log16 N) + 1.
fn round_trip_goal(n: usize) -> usize {
    // Smallest d with 16^d ≥ n, in integers.
    let mut d = 0;
    let mut reach: u128 = 1;
    while reach < n as u128 {
        reach *= 16;
        d += 1;
    }
    d + 1
}

/// Nearest-rank percentile of sorted values.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// How long after the last join every sampled key became findable.
#[derive(Debug, Clone)]
struct Convergence {
    /// Virtual time from the last join to the start of the first round in which every search
    /// succeeded (`None`: no such round before the cap).
    after_last_join: Option<Duration>,
    /// Rounds started.
    rounds: usize,
    /// Searches per round.
    per_round: usize,
    /// Failed searches in the first round and in the best round.
    first_round_failures: usize,
}

/// One size's figures.
#[derive(Debug, Clone)]
struct Row {
    n: usize,
    spacing: Duration,
    build_wall: Duration,
    build_datagrams: u64,
    convergence: Convergence,
    searches: usize,
    found: usize,
    rt_median: usize,
    rt_p99: usize,
    rt_max: usize,
    rt_goal: usize,
    /// Path entries alone (no retransmissions): p99.
    path_p99: usize,
    /// How many searches took each number of round trips.
    rt_histogram: Vec<(usize, usize)>,
    retransmissions: u64,
    searches_with_retransmissions: usize,
    /// Virtual time and datagrams (whole cloud) of the search loop.
    loop_virtual: Duration,
    loop_datagrams: u64,
    dg_mean: f64,
    dg_p99: u64,
    lat_p50: Duration,
    lat_p99: Duration,
    search_wall: Duration,
    mem_mean: f64,
    mem_max: usize,
    /// Nodes above the memory goal.
    mem_over_goal: usize,
    /// The largest node: index and cache entries.
    largest_node: (usize, usize),
    cache_mean: f64,
    rss_after: Option<u64>,
}

impl Row {
    fn searches_per_cpu_sec(&self) -> f64 {
        self.searches as f64 / self.search_wall.as_secs_f64().max(1e-9)
    }
    fn rt_pass(&self) -> bool {
        self.rt_p99 <= self.rt_goal
    }
    fn dg_pass(&self) -> Option<bool> {
        (self.n == 1_000).then_some(self.dg_mean <= GOAL_DATAGRAMS_AT_1000)
    }
    fn mem_pass(&self) -> bool {
        self.mem_max <= GOAL_BYTES_PER_NODE
    }
}

/// A size not run, and why.
#[derive(Debug, Clone)]
struct Skipped {
    n: usize,
    reason: String,
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// Resident set size figures of this process from /proc (bytes): (current, peak).
fn rss() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return (None, None) };
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| {
            l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).map(|kib| kib * 1024)
        })
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// MemAvailable from /proc/meminfo (bytes).
fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
}

/// One running search of a convergence round.
struct Running {
    round: usize,
    key: usize,
    found: bool,
}

#[derive(Default)]
struct RoundState {
    start: Instant,
    open: usize,
    failed: usize,
}

/// Runs rounds of concurrent exact searches every [`ROUND_EVERY`] from the end of the build
/// until a round in which every search finds its key, and reports when that round started.
fn time_to_findable(cloud: &mut Cloud, rng: &mut ChaCha8Rng, last_join: Instant) -> Convergence {
    let n = cloud.keys.len();
    let per_round = if n <= ROUND_ALL_KEYS_UP_TO { n } else { ROUND_SAMPLE };
    let keys = cloud.keys.clone();
    let sim = &mut cloud.sim;
    let mut rounds: Vec<RoundState> = Vec::new();
    let mut running: HashMap<(usize, SearchId), Running> = HashMap::new();
    let mut searchers: HashMap<usize, usize> = HashMap::new(); // node → searches running
    let mut next_round = sim.now();
    let cap = last_join.saturating_add(CONVERGENCE_CAP);
    loop {
        // The answer: the earliest round without a failure, once every earlier round is over.
        let mut answer = None;
        let mut undecided = false;
        for r in &rounds {
            if r.open > 0 {
                undecided = true;
                break;
            }
            if r.failed == 0 {
                answer = Some(r.start);
                break;
            }
        }
        let succeeded_somewhere = rounds.iter().any(|r| r.open == 0 && r.failed == 0);
        if let Some(start) = answer {
            return summary(&rounds, per_round, Some(start.saturating_since(last_join)));
        }
        if !undecided && (sim.now() > cap) {
            return summary(&rounds, per_round, None);
        }
        // Launch the next round, unless one already succeeded (waiting on earlier ones).
        if sim.now() >= next_round && !succeeded_somewhere && sim.now() <= cap {
            let round = rounds.len();
            let mut state = RoundState { start: sim.now(), ..RoundState::default() };
            // `keys` is in join order.
            let picks: Vec<usize> = if per_round == n {
                (0..n).collect()
            } else {
                let older = n - ROUND_NEWEST;
                (older..n).chain((0..per_round - ROUND_NEWEST).map(|_| rng.gen_range(0..older))).collect()
            };
            for k in picks {
                let (owner, key, _) = keys[k];
                let from = loop {
                    let f = rng.gen_range(0..n);
                    if f != owner {
                        break f;
                    }
                };
                let now = sim.now();
                match sim
                    .with_node(from, |node| node.start_search(now, key, SearchInfo::exact(), SEARCH_TIMEOUT))
                {
                    Ok(id) => {
                        state.open += 1;
                        running.insert((from, id), Running { round, key: k, found: false });
                        *searchers.entry(from).or_default() += 1;
                    }
                    Err(_) => state.failed += 1,
                }
            }
            rounds.push(state);
            next_round = next_round.saturating_add(ROUND_EVERY);
        }
        let until = if succeeded_somewhere || sim.now() > cap {
            sim.now().saturating_add(ROUND_EVERY)
        } else {
            next_round
        };
        sim.run_until(until);
        // Collect what the searching nodes reported.
        let nodes: Vec<usize> = searchers.keys().copied().collect();
        for node in nodes {
            for event in sim.take_events(node) {
                match event {
                    Event::SearchResult { search, result } => {
                        if let Some(r) = running.get_mut(&(node, search)) {
                            let (_, key, data) = &keys[r.key];
                            if result.match_type == MatchType::Exact
                                && result.key == *key
                                && result.app_data == *data
                            {
                                r.found = true;
                            }
                        }
                    }
                    Event::SearchEnded { search, end } => {
                        if let Some(r) = running.remove(&(node, search)) {
                            let state = &mut rounds[r.round];
                            state.open -= 1;
                            if !(r.found && end == SearchEnd::Complete) {
                                state.failed += 1;
                            }
                            sim.with_node(node, |n| n.end_search(search)).ok();
                            let count = searchers.get_mut(&node).expect("searcher");
                            *count -= 1;
                            if *count == 0 {
                                searchers.remove(&node);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn summary(rounds: &[RoundState], per_round: usize, after: Option<Duration>) -> Convergence {
    Convergence {
        after_last_join: after,
        rounds: rounds.len(),
        per_round,
        first_round_failures: rounds.first().map_or(0, |r| r.failed),
    }
}

fn measure(n: usize, args: &Args) -> Row {
    let spacing = spacing_for(n);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x6265_6e63_6800_0000 ^ n as u64);

    eprintln!("[N={n}] building (join spacing {} ms, settle 0)…", spacing.as_millis());
    let wall = WallInstant::now();
    let mut cloud = Cloud::build(args.seed, n, Network::default(), spacing, Duration::ZERO);
    let build_wall = wall.elapsed();
    let build_datagrams = cloud.sim.traffic().sent;
    // Cloud::build runs `spacing` after each join, settle 0: the last join was `spacing` ago.
    let last_join = Instant(cloud.sim.now().as_millis().saturating_sub(spacing.as_millis() as u64));
    // Status and leaf-set events pile up in the simulator (not in the nodes): drop them.
    for i in 0..n {
        cloud.sim.take_events(i);
    }
    eprintln!(
        "[N={n}] built in {:.1} s wall, {} datagrams; measuring time until every key is findable…",
        build_wall.as_secs_f64(),
        build_datagrams
    );

    let convergence = time_to_findable(&mut cloud, &mut rng, last_join);
    eprintln!(
        "[N={n}] findable after {} ({} rounds of {}); settling…",
        convergence.after_last_join.map_or("never (cap)".to_string(), |d| format!("{} ms", d.as_millis())),
        convergence.rounds,
        convergence.per_round
    );
    let settle = if args.quick { SETTLE_QUICK } else { SETTLE };
    let settled = last_join.saturating_add(settle);
    if cloud.sim.now() < settled {
        cloud.sim.run_until(settled);
    }
    for i in 0..n {
        cloud.sim.take_events(i);
    }

    eprintln!("[N={n}] {} exact searches…", args.searches);
    let keys = cloud.keys.clone();
    let mut round_trips = Vec::with_capacity(args.searches);
    let mut paths = Vec::with_capacity(args.searches);
    let mut searches_with_retransmissions = 0;
    let (virtual_before, traffic_before) = (cloud.sim.now(), cloud.sim.traffic().sent);
    let mut datagrams = Vec::with_capacity(args.searches);
    let mut latencies = Vec::with_capacity(args.searches);
    let mut found = 0;
    let mut retransmissions = 0;
    let wall = WallInstant::now();
    for done in 0..args.searches {
        if n >= 10_000 && done > 0 && done % 100 == 0 {
            eprintln!("[N={n}]   {done} searches, {:.0} s", wall.elapsed().as_secs_f64());
        }
        let (owner, key, ref data) = keys[rng.gen_range(0..n)];
        let from = loop {
            let f = rng.gen_range(0..n);
            if f != owner {
                break f;
            }
        };
        let retx_before = cloud.sim.node(from).stats().retransmitted;
        let out = cloud.sim.search(from, key, SearchInfo::exact(), SEARCH_TIMEOUT).expect("search starts");
        let retx = cloud.sim.node(from).stats().retransmitted - retx_before;
        retransmissions += retx;
        searches_with_retransmissions += usize::from(retx > 0);
        round_trips.push(out.path.len() + retx as usize);
        paths.push(out.path.len());
        datagrams.push(out.datagrams);
        latencies.push(out.latency);
        if out.end == Some(SearchEnd::Complete)
            && matches!(&out.results[..], [r] if r.match_type == MatchType::Exact && r.key == key && r.app_data == *data)
        {
            found += 1;
        }
    }
    let search_wall = wall.elapsed();
    let loop_virtual = cloud.sim.now().saturating_since(virtual_before);
    let loop_datagrams = cloud.sim.traffic().sent - traffic_before;
    round_trips.sort_unstable();
    paths.sort_unstable();
    let mut rt_histogram: Vec<(usize, usize)> = Vec::new();
    for &rt in &round_trips {
        match rt_histogram.last_mut() {
            Some((v, count)) if *v == rt => *count += 1,
            _ => rt_histogram.push((rt, 1)),
        }
    }
    datagrams.sort_unstable();
    latencies.sort_unstable();
    let dg: Vec<f64> = datagrams.iter().map(|&d| d as f64).collect();

    let node_size = std::mem::size_of::<Node>();
    let mem: Vec<usize> = (0..n).map(|i| cloud.sim.node(i).heap_bytes() + node_size).collect();
    let cache: Vec<f64> = (0..n).map(|i| cloud.sim.node(i).cache().len() as f64).collect();
    let (rss_after, _) = rss();
    let largest = (0..n).max_by_key(|&i| mem[i]).expect("n ≥ 1");
    Row {
        n,
        spacing,
        build_wall,
        build_datagrams,
        convergence,
        searches: args.searches,
        found,
        rt_median: percentile(&round_trips, 50.0),
        rt_p99: percentile(&round_trips, 99.0),
        rt_max: *round_trips.last().expect("searches ≥ 1"),
        rt_goal: round_trip_goal(n),
        path_p99: percentile(&paths, 99.0),
        rt_histogram,
        retransmissions,
        searches_with_retransmissions,
        loop_virtual,
        loop_datagrams,
        dg_mean: mean(&dg),
        dg_p99: percentile(&datagrams, 99.0),
        lat_p50: percentile(&latencies, 50.0),
        lat_p99: percentile(&latencies, 99.0),
        search_wall,
        mem_mean: mean(&mem.iter().map(|&m| m as f64).collect::<Vec<_>>()),
        mem_max: mem[largest],
        mem_over_goal: mem.iter().filter(|&&m| m > GOAL_BYTES_PER_NODE).count(),
        largest_node: (largest, cloud.sim.node(largest).cache().len()),
        cache_mean: mean(&cache),
        rss_after,
    }
}

/// Estimated wall time of size `n` from the last two sizes measured, counted in datagrams:
/// building sends a·N (joins) + b·N²·spacing (maintenance while the cloud grows), fitted on
/// those sizes; settling and searching carry background maintenance traffic ∝ N per virtual
/// second; each datagram costs what it cost at the last size, growing per decade of N as it
/// grew between the two sizes (caches miss more as the cloud grows).
fn estimate_secs(n: usize, rows: &[Row], args: &Args) -> Option<f64> {
    let [.., r1, r2] = rows else { return None };
    let f = |r: &Row| (r.n as f64, r.spacing.as_secs_f64(), r.build_datagrams as f64);
    let ((n1, s1, d1), (n2, s2, d2)) = (f(r1), f(r2));
    // d = a n + b n² s: solve the 2×2 system.
    let det = n1 * n2 * n2 * s2 - n2 * n1 * n1 * s1;
    let (a, b) = if det.abs() > f64::EPSILON {
        ((d1 * n2 * n2 * s2 - d2 * n1 * n1 * s1) / det, (n1 * d2 - n2 * d1) / det)
    } else {
        (d2 / n2, 0.0)
    };
    let (a, b) = (a.max(0.0), b.max(0.0));
    let (nn, ss) = (n as f64, spacing_for(n).as_secs_f64());
    let build = a * nn + b * nn * nn * ss;
    // Background datagrams per node per virtual second, from the last search loop.
    let background = r2.loop_datagrams as f64 / r2.loop_virtual.as_secs_f64().max(1e-9) / n2;
    let settle = if args.quick { SETTLE_QUICK } else { SETTLE }.as_secs_f64() + 2.0;
    let settling = background * nn * settle;
    let searching = args.searches as f64 * (r2.loop_datagrams as f64 / r2.searches as f64) * nn / n2 * 1.15;
    let cost = |r: &Row| {
        (r.build_wall + r.search_wall).as_secs_f64() / (r.build_datagrams + r.loop_datagrams).max(1) as f64
    };
    let growth = (cost(r2) / cost(r1)).clamp(1.0, 3.0).powf((nn / n2).log10() / (n2 / n1).log10());
    Some((build + settling + searching) * cost(r2) * growth)
}

fn estimate_bytes(n: usize, rows: &[Row]) -> Option<u64> {
    let last = rows.last()?;
    let per_node = last.rss_after? as f64 / last.n as f64;
    Some((per_node * n as f64 * 1.5) as u64)
}

/// A rate with a decimal below 10 (a 100,000-node cloud answers about one search per second).
fn fmt_rate(rate: f64) -> String {
    if rate < 10.0 { format!("{rate:.1}") } else { format!("{rate:.0}") }
}

fn fmt_ms(d: Duration) -> String {
    format!("{}", d.as_millis())
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

fn print_table(rows: &[Row], skipped: &[Skipped], args: &Args) {
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "drt-sim-bench — seed {}, {} exact searches per size, network latency 5–25 ms one way, no loss",
        args.seed, args.searches
    );
    let _ = writeln!(out, "Definitions:");
    let _ = writeln!(
        out,
        "  RT        sequential round trips per exact search = entries in the search path (one per node asked;"
    );
    let _ = writeln!(
        out,
        "            an exact search sends one request at a time) + retransmissions by the searching node"
    );
    let _ = writeln!(out, "            during the search. Goal: p99 ≤ ceil(log16 N) + 1.");
    let _ = writeln!(
        out,
        "  DG        datagrams the searching node sent + received during the search (SearchOutcome.datagrams,"
    );
    let _ = writeln!(
        out,
        "            its background maintenance included). Goal: mean ≤ {GOAL_DATAGRAMS_AT_1000} at N = 1,000."
    );
    let _ = writeln!(out, "  latency   virtual time from start to end of the search.");
    let _ = writeln!(
        out,
        "  srch/s    searches per second of this process's CPU (wall time of the sequential search loop in one"
    );
    let _ = writeln!(
        out,
        "            thread; the simulator's CPU, every simulated peer's work and maintenance included)."
    );
    let _ = writeln!(
        out,
        "  mem/node  Node::heap_bytes() + size_of::<Node>() ({} B), after the searches. Goal: max ≤ 32 KiB.",
        std::mem::size_of::<Node>()
    );
    let _ = writeln!(
        out,
        "  findable  virtual time from the last join (settle 0) to the start of the first round of concurrent"
    );
    let _ = writeln!(
        out,
        "            exact searches (one round every {} ms; all keys for N ≤ {ROUND_ALL_KEYS_UP_TO}, else the {ROUND_NEWEST} newest keys",
        ROUND_EVERY.as_millis()
    );
    let _ = writeln!(
        out,
        "            and {} random older ones; each from a random other node) in which every search found its key.",
        ROUND_SAMPLE - ROUND_NEWEST
    );
    let _ = writeln!(out, "  build     wall time of Cloud::build and datagrams sent while building.");
    let _ = writeln!(out);

    let header = [
        "N", "RT med", "RT p99", "RT goal", "", "DG mean", "DG p99", "", "lat p50", "lat p99", "srch/s",
        "mem mean", "mem max", "", "findable", "build", "build dg", "found",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    let units =
        ["", "", "", "", "", "", "", "", "ms", "ms", "CPU", "B", "B", "", "ms", "s (spacing)", "", ""];
    table.push(units.iter().map(|s| s.to_string()).collect());
    for r in rows {
        table.push(vec![
            format!("{}", r.n),
            format!("{}", r.rt_median),
            format!("{}", r.rt_p99),
            format!("≤ {}", r.rt_goal),
            pass(r.rt_pass()).to_string(),
            format!("{:.1}", r.dg_mean),
            format!("{}", r.dg_p99),
            match r.dg_pass() {
                Some(ok) => pass(ok).to_string(),
                None => "-".to_string(),
            },
            fmt_ms(r.lat_p50),
            fmt_ms(r.lat_p99),
            fmt_rate(r.searches_per_cpu_sec()),
            format!("{:.0}", r.mem_mean),
            format!("{}", r.mem_max),
            pass(r.mem_pass()).to_string(),
            match r.convergence.after_last_join {
                Some(d) => fmt_ms(d),
                None => format!("> {}", CONVERGENCE_CAP.as_millis()),
            },
            format!("{:.1} ({} ms)", r.build_wall.as_secs_f64(), r.spacing.as_millis()),
            format!("{}", r.build_datagrams),
            format!("{}/{}", r.found, r.searches),
        ]);
    }
    let columns = table[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| table.iter().map(|row| row[c].chars().count()).max().unwrap_or(0)).collect();
    for (i, row) in table.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(&" ".repeat(pad));
            line.push_str(cell);
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if i == 1 {
            let _ = writeln!(out, "{}", "-".repeat(widths.iter().sum::<usize>() + 2 * (columns - 1)));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Goals:");
    for r in rows {
        let _ = writeln!(
            out,
            "  N = {:>6}: p99 RT {} ≤ {} (ceil(log16 N) + 1) {}; max mem/node {} ≤ 32 KiB {}{}",
            r.n,
            r.rt_p99,
            r.rt_goal,
            pass(r.rt_pass()),
            r.mem_max,
            pass(r.mem_pass()),
            match r.dg_pass() {
                Some(ok) => format!("; mean DG {:.1} ≤ 20 {}", r.dg_mean, pass(ok)),
                None => String::new(),
            }
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Details:");
    for r in rows {
        let c = &r.convergence;
        let histogram: Vec<String> =
            r.rt_histogram.iter().map(|(rt, count)| format!("{rt}:{count}")).collect();
        let _ = writeln!(
            out,
            "  N = {:>6}: found {}/{}; RT histogram (RT:searches) {}; RT max {}; path entries alone p99 {}; \
             {} retransmissions in {} searches",
            r.n,
            r.found,
            r.searches,
            histogram.join(" "),
            r.rt_max,
            r.path_p99,
            r.retransmissions,
            r.searches_with_retransmissions,
        );
        let _ = writeln!(
            out,
            "            search loop: {:.2} s wall for {:.1} s virtual, {} datagrams in the whole cloud ({:.0} per search, \
             {:.0} per virtual second)",
            r.search_wall.as_secs_f64(),
            r.loop_virtual.as_secs_f64(),
            r.loop_datagrams,
            r.loop_datagrams as f64 / r.searches as f64,
            r.loop_datagrams as f64 / r.loop_virtual.as_secs_f64().max(1e-9),
        );
        let _ = writeln!(
            out,
            "            memory: mean cache {:.0} entries; largest node #{} ({} B, {} cache entries); {} of {} nodes \
             above 32 KiB; process RSS {}",
            r.cache_mean,
            r.largest_node.0,
            r.mem_max,
            r.largest_node.1,
            r.mem_over_goal,
            r.n,
            r.rss_after.map_or("?".into(), |b| fmt_bytes(b as f64)),
        );
        let _ = writeln!(
            out,
            "            findable: {} rounds of {} concurrent searches; first round (at build end) {} failed",
            c.rounds, c.per_round, c.first_round_failures,
        );
    }
    for s in skipped {
        let _ = writeln!(out, "  N = {:>6}: skipped — {}", s.n, s.reason);
    }
    print!("{out}");
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn to_json(rows: &[Row], skipped: &[Skipped], args: &Args) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{{");
    let _ = writeln!(out, "  \"seed\": {},", args.seed);
    let _ = writeln!(out, "  \"searches_per_size\": {},", args.searches);
    let _ = writeln!(out, "  \"network\": {{\"latency_ms\": [5, 25], \"loss\": 0.0, \"duplicate\": 0.0}},");
    let _ = writeln!(
        out,
        "  \"definitions\": {{\"round_trips\": \"search path entries + retransmissions by the searching node during the search\", \
         \"datagrams\": \"SearchOutcome.datagrams (sent + received by the searching node during the search)\", \
         \"searches_per_cpu_second\": \"searches / wall time of the single-threaded search loop (simulator CPU, all simulated peers included)\", \
         \"bytes_per_node\": \"Node::heap_bytes() + size_of::<Node>()\", \
         \"findable_after_last_join_ms\": \"virtual time from the last join (settle 0) to the start of the first round of concurrent exact searches, one round every 250 ms, in which all succeeded; all keys for N <= 1000, else the 100 newest and 100 random older keys (null: not before the cap)\"}},"
    );
    let _ = writeln!(out, "  \"rows\": [");
    for (i, r) in rows.iter().enumerate() {
        let c = &r.convergence;
        let _ = write!(
            out,
            "    {{\"n\": {}, \"join_spacing_ms\": {}, \
             \"round_trips\": {{\"median\": {}, \"p99\": {}, \"max\": {}, \"goal_p99_max\": {}, \"pass\": {}}}, \
             \"path_entries_p99\": {}, \"round_trip_histogram\": {{{}}}, \
             \"retransmissions\": {}, \"searches_with_retransmissions\": {}, \
             \"search_loop_virtual_s\": {:.3}, \"search_loop_cloud_datagrams\": {}, \
             \"datagrams\": {{\"mean\": {:.3}, \"p99\": {}, \"goal_mean_max\": {}, \"pass\": {}}}, \
             \"latency_ms\": {{\"p50\": {}, \"p99\": {}}}, \
             \"searches\": {}, \"found\": {}, \"search_loop_wall_s\": {:.4}, \"searches_per_cpu_second\": {:.1}, \
             \"bytes_per_node\": {{\"mean\": {:.1}, \"max\": {}, \"goal_max\": {}, \"pass\": {}}}, \
             \"mean_cache_entries\": {:.1}, \"nodes_above_memory_goal\": {}, \"largest_node\": {}, \
             \"largest_node_cache_entries\": {}, \"process_rss_bytes\": {}, \
             \"findable_after_last_join_ms\": {}, \"findable_rounds\": {}, \"findable_searches_per_round\": {}, \
             \"findable_first_round_failures\": {}, \
             \"build_wall_s\": {:.3}, \"build_datagrams\": {}}}",
            r.n,
            r.spacing.as_millis(),
            r.rt_median,
            r.rt_p99,
            r.rt_max,
            r.rt_goal,
            r.rt_pass(),
            r.path_p99,
            r.rt_histogram
                .iter()
                .map(|(rt, count)| format!("\"{rt}\": {count}"))
                .collect::<Vec<_>>()
                .join(", "),
            r.retransmissions,
            r.searches_with_retransmissions,
            r.loop_virtual.as_secs_f64(),
            r.loop_datagrams,
            r.dg_mean,
            r.dg_p99,
            if r.n == 1_000 { format!("{GOAL_DATAGRAMS_AT_1000}") } else { "null".into() },
            r.dg_pass().map_or("null".into(), |b| b.to_string()),
            r.lat_p50.as_millis(),
            r.lat_p99.as_millis(),
            r.searches,
            r.found,
            r.search_wall.as_secs_f64(),
            r.searches_per_cpu_sec(),
            r.mem_mean,
            r.mem_max,
            GOAL_BYTES_PER_NODE,
            r.mem_pass(),
            r.cache_mean,
            r.mem_over_goal,
            r.largest_node.0,
            r.largest_node.1,
            r.rss_after.map_or("null".into(), |b| b.to_string()),
            c.after_last_join.map_or("null".into(), |d| d.as_millis().to_string()),
            c.rounds,
            c.per_round,
            c.first_round_failures,
            r.build_wall.as_secs_f64(),
            r.build_datagrams,
        );
        let _ = writeln!(out, "{}", if i + 1 < rows.len() { "," } else { "" });
    }
    let _ = writeln!(out, "  ],");
    let _ = writeln!(out, "  \"skipped\": [");
    for (i, s) in skipped.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {{\"n\": {}, \"reason\": \"{}\"}}{}",
            s.n,
            json_escape(&s.reason),
            if i + 1 < skipped.len() { "," } else { "" }
        );
    }
    let _ = writeln!(out, "  ]");
    let _ = writeln!(out, "}}");
    out
}

/// Writes the JSON file if `--json` was given; false if that failed.
fn write_json(rows: &[Row], skipped: &[Skipped], args: &Args) -> bool {
    let Some(path) = &args.json else { return true };
    match std::fs::write(path, to_json(rows, skipped, args)) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("writing {}: {e}", path.display());
            false
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut sizes: Vec<usize> =
        SIZES.iter().copied().filter(|&n| n <= args.max_n && n >= args.min_n).collect();
    if !sizes.contains(&args.max_n) && args.max_n >= args.min_n {
        sizes.push(args.max_n);
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped = Vec::new();
    for &n in &sizes {
        if n > 10_000 {
            if let Some(est) = estimate_secs(n, &rows, &args) {
                eprintln!("[N={n}] estimated wall time {est:.0} s (budget {:.0} s)", args.budget_secs);
                if est > args.budget_secs {
                    skipped.push(Skipped {
                        n,
                        reason: format!(
                            "estimated {est:.0} s of wall time (from the smaller sizes) exceeds the budget of {:.0} s \
                             (--budget-secs)",
                            args.budget_secs
                        ),
                    });
                    continue;
                }
            }
            if let (Some(need), Some(avail)) = (estimate_bytes(n, &rows), mem_available()) {
                eprintln!(
                    "[N={n}] estimated memory {} (available {})",
                    fmt_bytes(need as f64),
                    fmt_bytes(avail as f64)
                );
                if need > avail * 3 / 4 {
                    skipped.push(Skipped {
                        n,
                        reason: format!(
                            "estimated {} of memory exceeds 3/4 of the {} available",
                            fmt_bytes(need as f64),
                            fmt_bytes(avail as f64)
                        ),
                    });
                    continue;
                }
            }
        }
        let row = measure(n, &args);
        eprintln!(
            "[N={n}] done: RT p99 {}, DG mean {:.1}, latency p99 {} ms, {} searches/s CPU, mem max {} B",
            row.rt_p99,
            row.dg_mean,
            row.lat_p99.as_millis(),
            fmt_rate(row.searches_per_cpu_sec()),
            row.mem_max
        );
        rows.push(row);
        // Written after every size, so a run cut short keeps what it measured.
        if !write_json(&rows, &skipped, &args) {
            return ExitCode::FAILURE;
        }
    }
    print_table(&rows, &skipped, &args);
    if !write_json(&rows, &skipped, &args) {
        return ExitCode::FAILURE;
    }
    if let Some(path) = &args.json {
        eprintln!("JSON written to {}", path.display());
    }
    ExitCode::SUCCESS
}
