//! The datagram fast path of one peerdrtd on loopback, beside a plain UDP echo loop measured in
//! the same run.
//!
//! A load generator keeps a window of (AUTHORITY, LOOKUP) pairs in flight at a daemon (the
//! library's `host::Daemon`, exactly what `peerdrtd` runs, with one standing instance). The
//! LOOKUPs ask for the instance's own key, so each is answered with an AUTHORITY; the AUTHORITYs
//! answer nothing the node asked, so it decodes and drops them. Every datagram is a real
//! [MC-DRT] datagram encoded with peerdrt-core's codec. The same generator then drives a
//! single-threaded `recv_from`/`send_to` echo loop with the same datagrams.
//!
//! Figures: datagrams handled per second of the server's CPU time (its threads' schedstat), i.e.
//! per core; the ratio to the echo loop; the same with batching off (`PEERDRT_UDP_BATCH=0`);
//! and allocations per handled datagram in steady state (a counting global allocator), checked
//! against what the protocol core itself allocates per LOOKUP answer.
//!
//! `--pairs N` sends exactly N pairs at the daemon and exits (for callgrind, see
//! BENCHMARKS.md); `--callgrind-report FILE --pairs N` turns callgrind's totals into
//! instructions per datagram. `--core N` measures the protocol core alone: a bare `Node` fed N
//! pairs in virtual time (allocations; under callgrind, instructions per datagram).

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use peerdrt::host::config::{Config, InstanceConfig, NodeKey, Security};
use peerdrt::host::{Daemon, WorkerStats};
use peerdrt_bench::alloc_count::{self, CountingAlloc};
use peerdrt_bench::threads_cpu;
use peerdrt_core::drt::security::NullProvider;
use peerdrt_core::drt::{FloodLimits, Node, NodeConfig, Timing};
use peerdrt_core::time::Instant as CoreInstant;
use peerdrt_core::wire::{
    Ack, Authority, AuthorityBuffer, AuthorityFlags, Datagram, Endpoint, Inquire, InquireFlags, List, Lookup,
    LookupControls, Message, NONCE_LEN, ProtocolVersion, ResolveCriteria, ResolveReason, SplitControls,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The daemon's default protocol version (6.101).
const VERSION: ProtocolVersion = ProtocolVersion { major: 6, minor: 101 };
/// The standing instance's key.
const NODE_KEY: [u8; 32] = [0x5a; 32];
/// Distinct pre-encoded pairs cycled through.
const DISTINCT: usize = 256;

struct Args {
    seconds: f64,
    window: usize,
    authorities_per_lookup: usize,
    pairs: Option<u64>,
    core: Option<usize>,
    callgrind_report: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut a = Args {
        seconds: 5.0,
        window: 64,
        authorities_per_lookup: 1,
        pairs: None,
        core: None,
        callgrind_report: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => a.seconds = value().parse().expect("--seconds"),
            "--window" => a.window = value().parse().expect("--window"),
            "--authorities-per-lookup" => a.authorities_per_lookup = value().parse().expect("count"),
            "--pairs" => a.pairs = Some(value().parse().expect("--pairs")),
            "--core" => a.core = Some(value().parse().expect("--core")),
            "--callgrind-report" => a.callgrind_report = Some(PathBuf::from(value())),
            "--json" => a.json = Some(PathBuf::from(value())),
            other => panic!(
                "unknown argument {other}\nUSAGE: fastpath [--seconds S] [--window W] [--authorities-per-lookup K] [--pairs N] [--core N] [--callgrind-report FILE] [--json PATH]"
            ),
        }
    }
    a
}

/// One LOOKUP for the node's key and `k` unsolicited AUTHORITYs, encoded.
struct Traffic {
    /// `[authority × k, lookup]` per group, DISTINCT groups.
    groups: Vec<Vec<Vec<u8>>>,
}

fn encode(message_id: u32, message: Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 1536];
    let len = Datagram { version: VERSION, message_id, message }.encode(&mut buf).expect("encodes");
    buf.truncate(len);
    buf
}

fn lookup(rng: &mut ChaCha8Rng, client: Endpoint) -> Vec<u8> {
    let target: [u8; 32] = rng.r#gen();
    let path = [client];
    encode(
        rng.r#gen(),
        Message::Lookup(Lookup {
            controls: LookupControls {
                accept_any: false,
                precision: 0,
                criteria: ResolveCriteria::Exact,
                reason: ResolveReason::AppRequest,
            },
            target: &target,
            validate_key: &NODE_KEY,
            best_match: None,
            path: List::Items(&path),
            proof: None,
        }),
    )
}

fn authority(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let buffer = AuthorityBuffer {
        flags: AuthorityFlags { not_found: true, ..AuthorityFlags::default() },
        credential: None,
        keytoken: None,
        classifier: None,
        extended_payload: None,
        route_entry: None,
        cpa: None,
    };
    let mut bytes = [0u8; 256];
    let len = buffer.encode(&mut bytes).expect("encodes");
    encode(
        rng.r#gen(),
        Message::Authority(Authority {
            acked_id: rng.r#gen(),
            split: SplitControls { size: len as u16, offset: 0 },
            fragment: &bytes[..len],
        }),
    )
}

impl Traffic {
    fn new(client: Endpoint, k: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let groups = (0..DISTINCT)
            .map(|_| {
                let mut g: Vec<Vec<u8>> = (0..k).map(|_| authority(&mut rng)).collect();
                g.push(lookup(&mut rng, client));
                g
            })
            .collect();
        Self { groups }
    }
}

/// Completes the anti-amplification round trip for the generator's endpoint, as an honest
/// client does: sends an INQUIRE for the instance's key asking for its CPA and payload (an
/// answer larger than the request, so the daemon challenges instead of answering), answers the
/// challenge (a FLOOD asking for an ACK) and waits for the deferred answer. The daemon then
/// treats the endpoint as verified. (A LOOKUP's answer is no larger than the LOOKUP, so a
/// LOOKUP alone never gets its source challenged, nor verified.)
fn verify(socket: &UdpSocket, to: SocketAddr) {
    let inquire = encode(
        0x1234_5678,
        Message::Inquire(Inquire {
            flags: InquireFlags { want_cpa: true, want_payload: true, want_credential: true },
            validate_key: &NODE_KEY,
            nonce: Some(&[7; NONCE_LEN]),
            proof: None,
        }),
    );
    let mut buf = [0u8; 2048];
    let mut challenged = false;
    for _ in 0..25 {
        let _ = socket.send_to(&inquire, to);
        while let Ok((len, _)) = socket.recv_from(&mut buf) {
            let ack = match Datagram::decode(&buf[..len]).map(|d| (d.message_id, d.message)) {
                Ok((id, Message::Flood(f))) if !f.no_ack => {
                    challenged = true;
                    encode(1, Message::Ack(Ack { acked_id: id, not_found: false }))
                }
                Ok((_, Message::Authority(_))) => {
                    assert!(
                        challenged,
                        "the daemon answered without a challenge: the generator is not verified"
                    );
                    return;
                }
                _ => continue,
            };
            let _ = socket.send_to(&ack, to);
        }
    }
    panic!("the daemon never answered the generator's INQUIRE");
}

/// A closed loop: `window` groups in flight; each answer to a group's last datagram sends
/// another. Returns (groups completed, wall time).
fn drive(
    socket: &UdpSocket,
    to: SocketAddr,
    traffic: &Traffic,
    window: usize,
    replies_per_group: usize,
    until: impl Fn(u64, Duration) -> bool,
) -> (u64, Duration) {
    let start = Instant::now();
    let mut next = 0usize;
    let send_group = |next: &mut usize| {
        for d in &traffic.groups[*next % DISTINCT] {
            let _ = socket.send_to(d, to);
        }
        *next += 1;
    };
    for _ in 0..window {
        send_group(&mut next);
    }
    let mut buf = [0u8; 2048];
    let mut replies = 0usize;
    let mut groups = 0u64;
    loop {
        match socket.recv_from(&mut buf) {
            Ok(_) => {
                replies += 1;
                if replies == replies_per_group {
                    replies = 0;
                    groups += 1;
                    if until(groups, start.elapsed()) {
                        return (groups, start.elapsed());
                    }
                    send_group(&mut next);
                }
            }
            Err(_) => {
                // A lost datagram (a full socket buffer): refill the window.
                if until(groups, start.elapsed()) {
                    return (groups, start.elapsed());
                }
                replies = 0;
                for _ in 0..window {
                    send_group(&mut next);
                }
            }
        }
    }
}

/// Runs [`drive`] through a warm-up of [`WARM_UP`], then measures `seconds` without pausing the
/// load (so the steady state is the one warmed up): (groups, wall, server CPU, allocations).
fn measure_window(
    socket: &UdpSocket,
    to: SocketAddr,
    traffic: &Traffic,
    window: usize,
    replies_per_group: usize,
    seconds: f64,
    server_threads: &[&str],
) -> (u64, Duration, Duration, u64) {
    use std::cell::Cell;
    let start: Cell<Option<(u64, Duration, Duration, u64)>> = Cell::new(None);
    let (groups, wall) = drive(socket, to, traffic, window, replies_per_group, |g, t| {
        if start.get().is_none() && t >= WARM_UP {
            // The CPU probe reads /proc (and allocates) before the allocation snapshot.
            let cpu = threads_cpu(server_threads);
            start.set(Some((g, t, cpu, alloc_count::allocations())));
        }
        start.get().is_some_and(|(_, t0, _, _)| (t - t0).as_secs_f64() >= seconds)
    });
    let allocations = alloc_count::allocations();
    let cpu = threads_cpu(server_threads);
    let (g0, t0, cpu0, a0) = start.get().expect("warmed up");
    (groups - g0, wall - t0, cpu - cpu0, allocations - a0)
}

/// Load before the measured window.
const WARM_UP: Duration = Duration::from_millis(500);

struct Row {
    name: String,
    datagrams: u64,
    wall: Duration,
    cpu: Duration,
    allocations: u64,
    dropped: u64,
}

impl Row {
    fn per_core(&self) -> f64 {
        self.datagrams as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
    fn wall_rate(&self) -> f64 {
        self.datagrams as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

fn client_socket() -> (UdpSocket, Endpoint) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    socket.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let port = socket.local_addr().expect("addr").port();
    (socket, Endpoint { addr: std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port })
}

fn free_port() -> u16 {
    UdpSocket::bind("[::]:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("a free port")
}

fn start_daemon(batched: bool, dir: &std::path::Path) -> (Daemon, u16) {
    // Read by the daemon's UDP platform when it starts; nothing else runs yet.
    // SAFETY: no other thread reads the environment while it is set.
    unsafe { std::env::set_var(peerdrt::host::udp::BATCH_ENV, if batched { "1" } else { "0" }) };
    let port = free_port();
    let mut config = Config::with_socket(dir.join(format!("fastpath-{port}.sock")));
    config.instances.push(InstanceConfig {
        port,
        version: (VERSION.major, VERSION.minor),
        seeds: Vec::new(),
        security: Security::Null,
        key: NodeKey::Fixed(NODE_KEY),
        app_data: b"fastpath".to_vec(),
        cloud: None,
    });
    // One generator endpoint carries the load of many peers: no per-source limit (the daemon's
    // `--flood-limits off`). The generator verifies itself, so the limit shared by unverified
    // sources does not apply either.
    config.flood_limits = FloodLimits::benchmark();
    (Daemon::start(config).expect("daemon starts"), port)
}

/// Measures a daemon: warm-up, then `seconds` of steady state.
fn measure_daemon(batched: bool, args: &Args, dir: &std::path::Path) -> (Row, WorkerStats) {
    let (daemon, port) = start_daemon(batched, dir);
    let (socket, client) = client_socket();
    let traffic = Traffic::new(client, args.authorities_per_lookup);
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    verify(&socket, to);
    let per_group = args.authorities_per_lookup as u64 + 1;
    let (groups, wall, cpu, allocations) = measure_window(
        &socket,
        to,
        &traffic,
        args.window,
        1,
        args.seconds,
        &["peerdrt-recv", "peerdrt-worker"],
    );
    let stats = daemon.shutdown().expect("worker stats");
    let name = if batched { "peerdrtd (recvmmsg/sendmmsg)" } else { "peerdrtd (recv_from/send_to)" };
    let row = Row {
        name: name.into(),
        datagrams: groups * per_group,
        wall,
        cpu,
        allocations,
        dropped: stats.receive_dropped,
    };
    (row, stats)
}

fn measure_echo(args: &Args) -> Row {
    let server = UdpSocket::bind("127.0.0.1:0").expect("bind echo");
    server.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    let to = server.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("echo".into())
        .spawn({
            let stop = stop.clone();
            move || {
                let mut buf = [0u8; 65_535];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((len, from)) = server.recv_from(&mut buf) {
                        let _ = server.send_to(&buf[..len], from);
                    }
                }
            }
        })
        .expect("echo thread");
    let (socket, client) = client_socket();
    let traffic = Traffic::new(client, args.authorities_per_lookup);
    let per_group = args.authorities_per_lookup + 1;
    let (groups, wall, cpu, allocations) =
        measure_window(&socket, to, &traffic, args.window, per_group, args.seconds, &["echo"]);
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
    Row {
        name: "UDP echo loop (recv_from/send_to)".into(),
        datagrams: groups * per_group as u64,
        wall,
        cpu,
        allocations,
        dropped: 0,
    }
}

/// Virtual time between two datagrams handed to the bare node: slower than the per-source rate
/// limit of an unverified source (`SOURCE_RATE` = 64 per second; the client is unverified until
/// it answers the challenge), so that no datagram is dropped unread under the default limits.
const CORE_STEP: Duration = Duration::from_millis(16);

/// What the protocol core itself does to answer LOOKUPs and drop unsolicited AUTHORITYs: a bare
/// `Node` on this thread, nothing else running, driven in virtual time within the rate limits by
/// a client that answers the node's anti-amplification challenge (so it is verified). Every
/// LOOKUP must be answered with an AUTHORITY, which the benchmark checks. Sent buffers go back to
/// the node, as the daemon does. `pairs` groups are counted after as many warm-up groups.
struct CoreRun {
    allocations_per_lookup: f64,
    allocations_per_authority: f64,
    /// Datagrams handed to `Node::handle_datagram` in all (warm-up, counted, challenge ACKs).
    handled: u64,
}

fn core_run(pairs: usize) -> CoreRun {
    let mut node = Node::new(NodeConfig {
        version: VERSION,
        port: 4000,
        addresses: vec![Ipv6Addr::LOCALHOST],
        seeds: Vec::new(),
        security: Box::new(NullProvider),
        rng_seed: [7; 32],
        timing: Timing::default(),
        flood: FloodLimits::default(),
    })
    .expect("node");
    let mut now = CoreInstant::from_millis(1);
    node.start(now);
    node.register(now, NODE_KEY, b"fastpath", peerdrt_core::drt::security::KeyCredential::None)
        .expect("register");
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
    let client = Endpoint { addr: std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port: 50_000 };
    let traffic = Traffic::new(client, 1);
    let mut handled = 0u64;
    // Hands one datagram in, answers a challenge, gives the sent buffers back; the AUTHORITYs
    // the node sent.
    let mut feed = |node: &mut Node, now: &mut CoreInstant, bytes: &[u8]| -> usize {
        *now = now.saturating_add(CORE_STEP);
        node.handle_datagram(*now, client, bytes);
        handled += 1;
        let mut answers = 0;
        let mut ack = None;
        while let Some(t) = node.poll_transmit() {
            match Datagram::decode(&t.payload).map(|d| (d.message_id, d.message)) {
                Ok((_, Message::Authority(_))) => answers += 1,
                Ok((id, Message::Flood(f))) if !f.no_ack => {
                    ack = Some(encode(1, Message::Ack(Ack { acked_id: id, not_found: false })))
                }
                _ => {}
            }
            node.recycle(t.payload);
        }
        if let Some(ack) = ack {
            *now = now.saturating_add(CORE_STEP);
            node.handle_datagram(*now, client, &ack);
            handled += 1;
            while let Some(t) = node.poll_transmit() {
                if matches!(Datagram::decode(&t.payload).map(|d| d.message), Ok(Message::Authority(_))) {
                    answers += 1;
                }
                node.recycle(t.payload);
            }
        }
        answers
    };
    // Warm-up: the client gets verified and the node's buffers and tables reach their size.
    for i in 0..pairs.max(traffic.groups.len()) {
        let g = &traffic.groups[i % traffic.groups.len()];
        feed(&mut node, &mut now, &g[0]);
        feed(&mut node, &mut now, &g[1]);
    }
    let (mut lookups, mut authorities) = (0u64, 0u64);
    for i in 0..pairs {
        let g = &traffic.groups[i % traffic.groups.len()];
        let before = alloc_count::allocations();
        assert_eq!(feed(&mut node, &mut now, &g[0]), 0, "an unsolicited AUTHORITY was answered");
        authorities += alloc_count::allocations() - before;
        let before = alloc_count::allocations();
        assert_eq!(feed(&mut node, &mut now, &g[1]), 1, "a LOOKUP was not answered with one AUTHORITY");
        lookups += alloc_count::allocations() - before;
    }
    assert_eq!(node.stats().rate_limited, 0, "the bare node's rate limits dropped datagrams");
    CoreRun {
        allocations_per_lookup: lookups as f64 / pairs as f64,
        allocations_per_authority: authorities as f64 / pairs as f64,
        handled,
    }
}

fn callgrind_report(path: &PathBuf, pairs: u64, k: usize) {
    let text = std::fs::read_to_string(path).expect("callgrind output");
    let total: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a totals line");
    let datagrams = pairs * (k as u64 + 1);
    println!(
        "callgrind: {total} instructions in the daemon's receive and worker threads for {datagrams} datagrams \
         ({pairs} LOOKUP + {} AUTHORITY): {:.0} instructions per handled datagram",
        pairs * k as u64,
        total as f64 / datagrams as f64
    );
}

fn main() {
    let args = parse_args();
    if let Some(pairs) = args.core {
        // The protocol core alone (for callgrind: toggle-collect `Node::handle_datagram`).
        let run = core_run(pairs);
        println!(
            "bare Node, {pairs} LOOKUP + AUTHORITY pairs counted: {:.3} allocations per LOOKUP answer, {:.3} per AUTHORITY dropped; {} datagrams handled in all",
            run.allocations_per_lookup, run.allocations_per_authority, run.handled
        );
        return;
    }
    if let (Some(path), Some(pairs)) = (&args.callgrind_report, args.pairs) {
        callgrind_report(path, pairs, args.authorities_per_lookup);
        return;
    }
    let dir = std::env::temp_dir();
    if let Some(pairs) = args.pairs {
        // A fixed amount of work for callgrind: batched daemon, exactly `pairs` groups.
        let (daemon, port) = start_daemon(true, &dir);
        let (socket, client) = client_socket();
        let traffic = Traffic::new(client, args.authorities_per_lookup);
        let to: SocketAddr = ([127, 0, 0, 1], port).into();
        verify(&socket, to);
        let (groups, wall) = drive(&socket, to, &traffic, args.window, 1, |g, _| g >= pairs);
        let stats = daemon.shutdown().expect("stats");
        println!(
            "{groups} groups in {:.2} s; receive queue dropped {}",
            wall.as_secs_f64(),
            stats.receive_dropped
        );
        return;
    }
    println!("machine: {}", peerdrt_bench::machine());
    println!(
        "traffic: closed loop, {} groups in flight, each {} unsolicited AUTHORITY + 1 LOOKUP (answered); {} s per row",
        args.window, args.authorities_per_lookup, args.seconds
    );
    let core = core_run(2 * DISTINCT);
    let (core_lookup, core_authority) = (core.allocations_per_lookup, core.allocations_per_authority);
    let echo = measure_echo(&args);
    let (batched, _) = measure_daemon(true, &args, &dir);
    let (unbatched, _) = measure_daemon(false, &args, &dir);
    let echo_again = measure_echo(&args);
    let echo_rate = (echo.per_core() + echo_again.per_core()) / 2.0;
    println!();
    println!(
        "{:<36} {:>10} {:>8} {:>12} {:>12} {:>8} {:>11} {:>8}",
        "server", "datagrams", "CPU s", "dg/s (wall)", "dg/s/core", "vs echo", "allocs/dg", "dropped"
    );
    for r in [&echo, &batched, &unbatched, &echo_again] {
        println!(
            "{:<36} {:>10} {:>8.2} {:>12.0} {:>12.0} {:>7.0}% {:>11.3} {:>8}",
            r.name,
            r.datagrams,
            r.cpu.as_secs_f64(),
            r.wall_rate(),
            r.per_core(),
            100.0 * r.per_core() / echo_rate,
            r.allocations as f64 / r.datagrams.max(1) as f64,
            r.dropped
        );
    }
    let ratio = batched.per_core() / echo_rate;
    println!();
    println!(
        "ratio to echo (mean of the two echo rows): batched {:.0}% (goal ≥ 70%: {}), unbatched {:.0}%; batching gains {:+.0}% per core",
        100.0 * ratio,
        if ratio >= 0.7 { "PASS" } else { "MISS" },
        100.0 * unbatched.per_core() / echo_rate,
        100.0 * (batched.per_core() / unbatched.per_core() - 1.0)
    );
    // Allocation check: the daemon's allocations in steady state are exactly what the protocol
    // core makes for the answers (none once sent buffers come back to it: `Node::recycle`).
    let k = args.authorities_per_lookup as f64;
    let per_group = k + 1.0;
    let expected_per_dg = (core_lookup + k * core_authority) / per_group;
    for r in [&batched, &unbatched] {
        let lookups = r.datagrams as f64 / per_group;
        let host_engine = r.allocations as f64 - lookups * (core_lookup + k * core_authority);
        println!(
            "allocations, {}: {} in {} datagrams = {:.3}/datagram; the core accounts for {:.3}/datagram \
             ({core_lookup} per LOOKUP answer, {core_authority} per AUTHORITY dropped); host + engine: {:.0} in total",
            r.name,
            r.allocations,
            r.datagrams,
            r.allocations as f64 / r.datagrams as f64,
            expected_per_dg,
            host_engine
        );
    }
    // The groups in flight at the two edges of the window are answered on one side of an edge
    // and counted on the other: that many answers' allocations are the measurement's slack (at
    // least one allocation per group in flight, for a core that allocates nothing).
    let slack = 2.0 * args.window as f64 * (core_lookup + k * core_authority).max(1.0);
    let excess: Vec<f64> = [&batched, &unbatched]
        .iter()
        .map(|r| r.allocations as f64 - r.datagrams as f64 / per_group * (core_lookup + k * core_authority))
        .collect();
    println!(
        "host + engine allocations beyond the core's: {:.0} and {:.0} (the window edges allow ±{slack:.0}): \
         none per datagram in steady state",
        excess[0], excess[1]
    );
    if let Some(path) = &args.json {
        let rows: Vec<serde_json::Value> = [&echo, &batched, &unbatched, &echo_again]
            .iter()
            .map(|r| {
                serde_json::json!({
                    "server": r.name, "datagrams": r.datagrams, "cpu_s": r.cpu.as_secs_f64(),
                    "wall_rate": r.wall_rate(), "per_core": r.per_core(), "allocations": r.allocations,
                    "dropped": r.dropped,
                })
            })
            .collect();
        let json = serde_json::json!({
            "machine": peerdrt_bench::machine(),
            "window": args.window,
            "authorities_per_lookup": args.authorities_per_lookup,
            "seconds": args.seconds,
            "rows": rows,
            "ratio_batched": ratio,
            "core_allocations_per_lookup": core_lookup,
            "core_allocations_per_authority": core_authority,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json).expect("json")).expect("write json");
    }
    // The claim, checked: the host and engine add no allocation per datagram in steady state.
    for e in excess {
        assert!(
            e.abs() <= slack,
            "the host and engine allocated {e} times beyond the core's encoder in steady state (slack {slack})"
        );
    }
}
