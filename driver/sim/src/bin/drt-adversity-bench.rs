//! drt-adversity-bench: honest search success under hostile nodes, under network faults at
//! N = 1,000, and a node's memory under floods of every message type. Prints Markdown tables.
//!
//! Run: `cargo run --release -p peerdrt-sim --bin drt-adversity-bench -- [--hostile] [--faults]
//! [--floods] [--n N] [--searches K] [--seed S] [--paths 1,3] [--attacks poison,sybil,eclipse]`
//! (no section flag: all three).

use std::net::Ipv6Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant as WallInstant};

use peerdrt_core::drt::search::{MAX_DISJOINT_PATHS, SearchSettings};
use peerdrt_core::drt::*;
use peerdrt_core::wire::*;
use peerdrt_sim::adversary::{HostileCloud, Outcome};
use peerdrt_sim::hostile::Attack;
use peerdrt_sim::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Hostile fractions measured unless `--fractions` says otherwise.
const FRACTIONS: [f64; 5] = [0.0, 0.05, 0.10, 0.20, 0.30];
/// Cloud size of the fault runs (the N).
const FAULT_N: usize = 1000;
/// Search timeout.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Join spacing and settle time of every cloud.
const SPACING: Duration = Duration::from_millis(20);
const SETTLE: Duration = Duration::from_secs(30);
/// Datagrams per flood, and the virtual time they are spread over.
const FLOOD_DATAGRAMS: usize = 20_000;
const FLOOD_SPAN: Duration = Duration::from_secs(10);
/// Size of the cloud the flooded node lives in.
const FLOOD_CLOUD: usize = 50;

const USAGE: &str = "\
drt-adversity-bench: hostile peers, faults and floods in the DRT simulator

USAGE: drt-adversity-bench [--hostile] [--faults] [--floods] [--n N] [--searches K] [--seed S]
                           [--paths D,D,..] [--fractions P,P,..] [--attacks NAME,..]

  --hostile      success of honest searches against the fraction of hostile nodes, per attack
  --faults       loss, jitter, duplication, partitions and churn at N = 1000
  --floods       one node's memory under a flood of each message type
                 (no section flag: all three)
  --n N          cloud size of the hostile runs (default 1000)
  --searches K   searches per table row (default 500)
  --seed S       simulation seed (default 1)
  --paths D,..   disjoint lookup paths of the honest searches, one table column group each
                 (default 1,3; each 1..=4)
  --fractions P,.. hostile percentages of the hostile table (default 0,5,10,20,30)
  --attacks A,.. attacks of the hostile table: spoofed, forged, replay, poison, sybil,
                 sybil-first (the cluster in place before the key's owner joins),
                 eclipse (default all)";

struct Args {
    hostile: bool,
    faults: bool,
    floods: bool,
    n: usize,
    searches: usize,
    seed: u64,
    paths: Vec<u8>,
    fractions: Vec<f64>,
    attacks: Vec<Attack>,
}

fn attack_named(name: &str) -> Option<Attack> {
    Some(match name {
        "spoofed" => Attack::SpoofedAuthority,
        "forged" => Attack::ForgedRegistration,
        "replay" => Attack::Replay,
        "poison" => Attack::RoutePoisoning,
        "sybil" => Attack::Sybil,
        "sybil-first" => Attack::SybilBeforeOwner,
        "eclipse" => Attack::Eclipse,
        _ => return None,
    })
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        hostile: false,
        faults: false,
        floods: false,
        n: 1000,
        searches: 500,
        seed: 1,
        paths: vec![1, 3],
        fractions: FRACTIONS.to_vec(),
        attacks: Attack::ALL.to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--hostile" => args.hostile = true,
            "--faults" => args.faults = true,
            "--floods" => args.floods = true,
            "--n" => args.n = value("--n")?.parse().map_err(|_| "--n: a number")?,
            "--searches" => {
                args.searches = value("--searches")?.parse().map_err(|_| "--searches: a number")?
            }
            "--seed" => args.seed = value("--seed")?.parse().map_err(|_| "--seed: a number")?,
            "--paths" => {
                args.paths = value("--paths")?
                    .split(',')
                    .map(|d| d.parse::<u8>().ok().filter(|d| (1..=MAX_DISJOINT_PATHS).contains(d)))
                    .collect::<Option<_>>()
                    .ok_or("--paths: numbers from 1 to 4, comma-separated")?
            }
            "--fractions" => {
                args.fractions = value("--fractions")?
                    .split(',')
                    .map(|p| p.parse::<u8>().ok().filter(|p| *p < 100).map(|p| f64::from(p) / 100.0))
                    .collect::<Option<_>>()
                    .ok_or("--fractions: percentages from 0 to 99, comma-separated")?
            }
            "--attacks" => {
                args.attacks = value("--attacks")?
                    .split(',')
                    .map(attack_named)
                    .collect::<Option<_>>()
                    .ok_or("--attacks: spoofed, forged, replay, poison, sybil, sybil-first or eclipse")?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !(args.hostile || args.faults || args.floods) {
        args.hostile = true;
        args.faults = true;
        args.floods = true;
    }
    if args.n < 10 {
        return Err("--n must be at least 10".into());
    }
    Ok(args)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn latency_cells(outcome: &Outcome) -> String {
    let mut l = outcome.latencies.clone();
    l.sort();
    format!("{} | {}", ms(percentile(&l, 0.5)), ms(percentile(&l, 0.99)))
}

fn hostile_section(args: &Args) {
    println!(
        "## Honest exact searches against hostile nodes (N = {}, {} searches per row, seed {})\n",
        args.n, args.searches, args.seed
    );
    let groups: Vec<String> = args.paths.iter().map(|d| format!("d = {d}")).collect();
    print!("| attack | hostile |");
    for g in &groups {
        print!(" success {g} | datagrams/search {g} | p50 / p99 ms {g} |");
    }
    println!(
        " forged results | hostile share of victim cache | honest caches holding the key's owner | wall s |"
    );
    println!("|---|---:|{}---:|---:|---:|---:|", "---:|---:|---:|".repeat(groups.len()));
    for &attack in &args.attacks {
        for &fraction in &args.fractions {
            let wall = WallInstant::now();
            let mut share = "–".to_string();
            let mut holding = "–".to_string();
            print!("| {} | {:.0}% |", attack.name(), fraction * 100.0);
            let mut forged = 0;
            for &d in &args.paths {
                // The same cloud (same seed) and the same searches for every d; a fresh build
                // each time, since a search leaves its searcher's cache warmer for the next.
                let mut cloud = HostileCloud::build(args.seed, args.n, fraction, attack, SPACING, SETTLE);
                if attack == Attack::Eclipse {
                    share = format!("{:.0}%", cloud.victim_cache_hostile_share() * 100.0);
                }
                if attack.is_sybil() {
                    holding =
                        format!("{} of {}", cloud.honest_caches_holding_focus(), cloud.honest.len() - 1);
                }
                let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x5EA);
                let settings = SearchSettings::new(d).expect("checked by the argument parser");
                let outcome = cloud.measure(args.searches, &mut rng, settings);
                forged += outcome.forged;
                let mut l = outcome.latencies.clone();
                l.sort();
                print!(
                    " {:.1}% | {:.1} | {} / {} |",
                    outcome.rate() * 100.0,
                    outcome.datagrams_per_search(),
                    ms(percentile(&l, 0.5)),
                    ms(percentile(&l, 0.99))
                );
            }
            println!(" {forged} | {share} | {holding} | {:.1} |", wall.elapsed().as_secs_f64());
        }
    }
    println!();
}

/// Datagrams per exact search in an honest cloud of `args.n`, for each number of paths.
fn cost_section(args: &Args) {
    println!(
        "## Cost of disjoint paths: honest cloud of {}, {} exact searches per row\n",
        args.n, args.searches
    );
    println!("| disjoint paths d | success | datagrams/search | p50 ms | p99 ms |");
    println!("|---:|---:|---:|---:|---:|");
    for d in 1..=MAX_DISJOINT_PATHS {
        // A fresh cloud per row: a search leaves its searcher's cache warmer for the next.
        let mut cloud = HostileCloud::build(args.seed, args.n, 0.0, Attack::RoutePoisoning, SPACING, SETTLE);
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xC057);
        let outcome = cloud.measure(args.searches, &mut rng, SearchSettings::new(d).expect("in range"));
        println!(
            "| {d} | {:.1}% | {:.1} | {} |",
            outcome.rate() * 100.0,
            outcome.datagrams_per_search(),
            latency_cells(&outcome)
        );
    }
    println!();
}

/// Exact searches for random keys from random other nodes.
fn searches(cloud: &mut Cloud, count: usize, rng: &mut ChaCha8Rng) -> Outcome {
    let keys = cloud.keys.clone();
    let mut outcome = Outcome::default();
    for _ in 0..count {
        let (owner, key, data) = &keys[rng.gen_range(0..keys.len())];
        let from = loop {
            let n = cloud.sim.random_live();
            if n != *owner {
                break n;
            }
        };
        let out = cloud.sim.search(from, *key, SearchInfo::exact(), TIMEOUT).expect("search starts");
        outcome.searches += 1;
        outcome.forged += out.results.iter().filter(|r| r.key != *key || r.app_data != *data).count();
        if matches!(&out.results[..], [r] if r.app_data == *data) {
            outcome.succeeded += 1;
            outcome.latencies.push(out.latency);
        }
    }
    outcome
}

fn fault_row(name: &str, outcome: &Outcome, wall: WallInstant) {
    println!(
        "| {name} | {:.2}% | {} | {} | {:.1} |",
        outcome.rate() * 100.0,
        latency_cells(outcome),
        ms(outcome.latencies.iter().sum::<Duration>() / outcome.latencies.len().max(1) as u32),
        wall.elapsed().as_secs_f64()
    );
}

fn build(seed: u64, network: Network) -> Cloud {
    Cloud::build(seed, FAULT_N, network, SPACING, SETTLE)
}

fn faults_section(args: &Args) {
    println!("## Faults at N = {FAULT_N} ({} exact searches per row, timeout 5 s)\n", args.searches);
    println!("| condition | success | p50 ms | p99 ms | mean ms | wall s |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xFA);
    for loss in [0.0, 0.05, 0.10, 0.20, 0.30] {
        let wall = WallInstant::now();
        let mut cloud = build(args.seed, Network::default());
        cloud.sim.set_network(Network { loss, ..Network::default() });
        let outcome = searches(&mut cloud, args.searches, &mut rng);
        fault_row(&format!("loss {:.0}%", loss * 100.0), &outcome, wall);
    }
    {
        let wall = WallInstant::now();
        let jitter =
            Network { latency: (Duration::from_millis(1), Duration::from_millis(200)), ..Network::default() };
        let mut cloud = build(args.seed, jitter);
        let outcome = searches(&mut cloud, args.searches, &mut rng);
        fault_row("latency jitter 1–200 ms (reordering)", &outcome, wall);
    }
    for duplicate in [0.1, 0.3] {
        let wall = WallInstant::now();
        let mut cloud = build(args.seed, Network { duplicate, ..Network::default() });
        let outcome = searches(&mut cloud, args.searches, &mut rng);
        fault_row(&format!("duplication {:.0}%", duplicate * 100.0), &outcome, wall);
    }
    {
        let wall = WallInstant::now();
        let mut cloud = build(args.seed, Network::default());
        let cut: Vec<usize> = cloud.sim.live().into_iter().filter(|n| n % 4 == 0).collect();
        for &n in &cut {
            cloud.sim.set_group(n, 1);
        }
        cloud.sim.run_for(Duration::from_secs(60));
        for &n in &cut {
            cloud.sim.set_group(n, 0);
        }
        cloud.sim.run_for(Timing::default().maintenance * 2);
        let outcome = searches(&mut cloud, args.searches, &mut rng);
        fault_row("partition of 25% for 60 s, healed 30 s before", &outcome, wall);
    }
    for churn in [0.1, 0.2, 0.3] {
        let wall = WallInstant::now();
        let mut cloud = build(args.seed, Network::default());
        let count = (FAULT_N as f64 * churn) as usize;
        let mut live = cloud.sim.live();
        for _ in 0..count {
            let i = rng.gen_range(0..live.len());
            let victim = live.swap_remove(i);
            cloud.replace(victim);
            cloud.sim.run_for(Duration::from_millis(10));
        }
        cloud.sim.run_for(Timing::default().maintenance);
        let outcome = searches(&mut cloud, args.searches, &mut rng);
        fault_row(
            &format!("churn {:.0}% replaced, one maintenance period before", churn * 100.0),
            &outcome,
            wall,
        );
    }
    {
        let wall = WallInstant::now();
        let mut cloud = build(args.seed, Network::default());
        cloud.sim.set_network(Network {
            latency: (Duration::from_millis(1), Duration::from_millis(200)),
            loss: 0.10,
            duplicate: 0.1,
        });
        let count = FAULT_N / 5;
        let mut live = cloud.sim.live();
        for _ in 0..count {
            let i = rng.gen_range(0..live.len());
            let victim = live.swap_remove(i);
            cloud.replace(victim);
            cloud.sim.run_for(Duration::from_millis(10));
        }
        cloud.sim.run_for(Timing::default().maintenance);
        let outcome = searches(&mut cloud, args.searches, &mut rng);
        fault_row("all at once: 10% loss, 10% dup, jitter 1–200 ms, 20% churn", &outcome, wall);
    }
    println!();
}

/// One datagram of each kind a flooder sends (message id `i`).
fn flood_datagram(kind: usize, i: u32, victim_key: &Key) -> Vec<u8> {
    let key: Key = {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        k
    };
    let addresses = [Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 0, 0, 0, (i >> 16) as u16, i as u16)];
    let entry =
        RouteEntry { key: &key, version: SIM_VERSION, port: 3540, addresses: List::Items(&addresses) };
    let path = [endpoint(0)];
    let nonce = [i as u8; NONCE_LEN];
    let hashed = [i as u8; 20];
    let message = match kind {
        0 => {
            Message::Solicit(Solicit { solicit_type: None, route_entry: Some(entry), hashed_nonce: &hashed })
        }
        1 => Message::Advertise(Advertise { acked_id: i, keys: List::Items(&[key]), hashed_nonce: &hashed }),
        2 => Message::Request(Request::Plain(RequestBody {
            nonce: &nonce,
            keys: List::Items(&[key]),
            proof: None,
        })),
        3 => Message::Flood(Flood {
            no_ack: false,
            validate_key: &key,
            keytoken: None,
            revoke_cpa: None,
            route_entry: Some(entry),
            flooded: None,
        }),
        4 => Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
            validate_key: victim_key,
            nonce: Some(&nonce),
            proof: None,
        }),
        5 => Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: true,
                precision: 0,
                criteria: ResolveCriteria::Nearest,
                reason: ResolveReason::AppRequest,
            },
            target: &key,
            validate_key: victim_key,
            best_match: None,
            path: List::Items(&path),
            proof: None,
        }),
        6 => Message::Authority(Authority {
            acked_id: i,
            split: SplitControls { size: 4000, offset: 0 },
            fragment: &[0u8; peerdrt_core::wire::fragment::FRAGMENT_LEN],
        }),
        _ => Message::Ack(Ack { acked_id: i, not_found: false }),
    };
    let mut buf = vec![0u8; MAX_DATAGRAM_LEN];
    let len = Datagram { version: SIM_VERSION, message_id: i, message }.encode(&mut buf).expect("encodes");
    buf.truncate(len);
    buf
}

const FLOOD_KINDS: [&str; 8] =
    ["SOLICIT", "ADVERTISE", "REQUEST", "FLOOD", "INQUIRE", "LOOKUP", "AUTHORITY (fragment)", "ACK"];

fn floods_section(args: &Args) {
    println!(
        "## One node under a flood ({FLOOD_DATAGRAMS} datagrams over {} s of virtual time, in a cloud of {FLOOD_CLOUD})\n",
        FLOOD_SPAN.as_secs()
    );
    println!(
        "| message | sources | heap before | heap peak | heap after | dropped by rate limits | bytes in | bytes back to spoofed sources | deferred |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (kind, name) in FLOOD_KINDS.iter().enumerate() {
        for many in [false, true] {
            let mut cloud = Cloud::build(args.seed, FLOOD_CLOUD, Network::default(), SPACING, SETTLE);
            let (victim, victim_key, _) = cloud.keys[FLOOD_CLOUD / 2].clone();
            let before = cloud.sim.node(victim).heap_bytes();
            let stats_before = cloud.sim.node(victim).stats();
            let spoofed = |addr: &Ipv6Addr| addr.segments()[..4] == [0x2001, 0xdb8, 0xbad, 1];
            let to_spoofed =
                |sim: &Sim| sim.unrouted().iter().filter(|(a, _)| spoofed(a)).map(|(_, b)| b).sum::<u64>();
            let unrouted_before = to_spoofed(&cloud.sim);
            let mut peak = before;
            let mut bytes_in = 0u64;
            // The clock has millisecond steps: the flood is scheduled up front, evenly spread.
            let span_ms = FLOOD_SPAN.as_millis() as u64;
            for i in 0..FLOOD_DATAGRAMS as u32 {
                let from = Endpoint {
                    addr: if many {
                        Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 1, 0, 0, (i >> 16) as u16, i as u16)
                    } else {
                        Ipv6Addr::new(0x2001, 0xdb8, 0xbad, 1, 0, 0, 0, 1)
                    },
                    port: 3540,
                };
                let payload = flood_datagram(kind, i, &victim_key);
                bytes_in += payload.len() as u64;
                let at = Duration::from_millis(u64::from(i) * span_ms / FLOOD_DATAGRAMS as u64);
                cloud.sim.inject(from, victim, payload, at);
            }
            for _ in 0..span_ms / 50 {
                cloud.sim.run_for(Duration::from_millis(50));
                peak = peak.max(cloud.sim.node(victim).heap_bytes());
            }
            cloud.sim.run_for(Duration::from_secs(10));
            let after = cloud.sim.node(victim).heap_bytes();
            peak = peak.max(after);
            let stats = cloud.sim.node(victim).stats();
            println!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
                if many { "20,000 spoofed" } else { "1 spoofed" },
                before,
                peak,
                after,
                stats.rate_limited - stats_before.rate_limited,
                bytes_in,
                to_spoofed(&cloud.sim) - unrouted_before,
                stats.deferred - stats_before.deferred
            );
        }
    }
    println!();
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}\n");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    if args.floods {
        floods_section(&args);
    }
    if args.hostile {
        cost_section(&args);
        hostile_section(&args);
    }
    if args.faults {
        faults_section(&args);
    }
    ExitCode::SUCCESS
}
