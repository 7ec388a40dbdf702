//! Real processes on real network stacks: four `peerdrtd` hosts, each in a network namespace of
//! its own, joined by veth pairs to a bridge (in a fifth namespace, so the machine's own
//! network is never touched), each with an IPv4 and an IPv6 address. A key registered on one
//! host is found from the others; that host is cut off (its bridge port goes down) and a
//! search for its key fails while the rest of the cloud keeps answering; the link comes back
//! and the cloud recovers: the key is found again.
//!
//! Needs root and `ip netns` (iproute2); without them the test says so and passes as skipped.
//! Everything it creates is removed when it ends, also on failure (a drop guard), and the
//! namespaces of an earlier run that was killed are removed at the start. The whole test is
//! bounded by [`BUDGET`].

#![cfg(target_os = "linux")]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peerdrt::abi::*;
use support::{Client, Daemon};

/// Hosts in the cloud.
const HOSTS: usize = 4;
/// The whole test, set-up to clean-up.
const BUDGET: Duration = Duration::from_secs(90);
/// Every host's standing instance listens here (each in its own namespace).
const PORT: u16 = 3540;
/// How long the host stays cut off: longer than a cache maintenance round (15 s) plus the
/// retransmissions of a request, so the cloud and the cut-off host both notice.
const CUT_FOR: Duration = Duration::from_secs(25);
/// Prefix of every namespace this test creates; the process id follows.
const PREFIX: &str = "pdrt-netns-";

fn ipv4(host: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 231, 0, host as u8 + 1)
}

fn ipv6(host: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x231, 0, 0, 0, 0, 0, host as u16 + 1)
}

fn endpoint(addr: IpAddr, port: u16) -> EndpointRecord {
    let addr = match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    };
    EndpointRecord { addr: addr.octets(), port }
}

/// Runs `ip ARGS`; the error output if it fails.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn must(args: &[&str]) {
    ip(args).unwrap_or_else(|e| panic!("{e}"));
}

/// Why this machine cannot run the test, if it cannot.
fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    let probe = format!("{PREFIX}probe-{}", std::process::id());
    if let Err(e) = ip(&["netns", "add", &probe]) {
        return Some(format!("ip netns is unavailable ({e})"));
    }
    let _ = ip(&["netns", "del", &probe]);
    None
}

/// Removes the namespaces of earlier runs whose process is gone.
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else { continue };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_some_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// The namespaces of one run: deleted on drop (which also deletes every veth and the bridge in
/// them). Declared before the daemons, so it drops after they are killed.
struct Network {
    switch: String,
    hosts: Vec<String>,
}

impl Network {
    /// A bridge in its own namespace, and `hosts` namespaces each with `eth0` on it, up, with
    /// [`ipv4`] /24 and [`ipv6`] /64 (no duplicate address detection, so usable at once).
    fn create(hosts: usize) -> Self {
        let pid = std::process::id();
        let mut net = Self { switch: format!("{PREFIX}{pid}-sw"), hosts: Vec::new() };
        must(&["netns", "add", &net.switch]);
        let sw = net.switch.clone();
        must(&["-n", &sw, "link", "set", "lo", "up"]);
        must(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        must(&["-n", &sw, "link", "set", "br0", "up"]);
        for h in 0..hosts {
            let ns = format!("{PREFIX}{pid}-h{h}");
            must(&["netns", "add", &ns]);
            net.hosts.push(ns.clone());
            let port = format!("h{h}");
            must(&["-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
            must(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            must(&["-n", &ns, "link", "set", "lo", "up"]);
            must(&["-n", &ns, "addr", "add", &format!("{}/24", ipv4(h)), "dev", "eth0"]);
            must(&["-n", &ns, "addr", "add", &format!("{}/64", ipv6(h)), "dev", "eth0", "nodad"]);
            must(&["-n", &ns, "link", "set", "eth0", "up"]);
        }
        net
    }

    /// Takes host `h`'s bridge port down (`up` false) or up again.
    fn set_link(&self, h: usize, up: bool) {
        must(&["-n", &self.switch, "link", "set", &format!("h{h}"), if up { "up" } else { "down" }]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A host: its daemon (a standing instance on [`PORT`] advertising both addresses, seeded from
/// hosts 0 and 1), and a client instance opened on it, if any.
struct Host {
    daemon: Daemon,
    client: Option<(Client, Handle)>,
}

/// The seeds every instance starts from: host 0 over IPv4, host 1 over IPv6.
fn seeds() -> Vec<SocketAddr> {
    vec![SocketAddr::new(ipv4(0).into(), PORT), SocketAddr::new(ipv6(1).into(), PORT)]
}

/// Starts host `h`'s daemon; its standing instance registers `key` (else a random node key).
fn start_host(dir: &std::path::Path, net: &Network, h: usize, key: Option<&KeyBytes>) -> Daemon {
    let mut args: Vec<String> = vec![
        "--instance-port".into(),
        PORT.to_string(),
        "--address".into(),
        ipv4(h).to_string(),
        "--address".into(),
        ipv6(h).to_string(),
    ];
    for seed in seeds() {
        args.push("--seed".into());
        args.push(seed.to_string());
    }
    if let Some(key) = key {
        args.push("--instance-key".into());
        args.push(key.iter().map(|b| format!("{b:02x}")).collect());
    }
    Daemon::start(dir, &format!("h{h}"), &["ip", "netns", "exec", &net.hosts[h]], &args)
}

struct Cloud {
    hosts: Vec<Host>,
    deadline: Instant,
}

impl Cloud {
    fn logs(&self) -> String {
        self.hosts.iter().map(|h| format!("--- {}:\n{}", h.daemon.name, h.daemon.log_text())).collect()
    }

    /// Host `h`'s client connection and instance.
    fn client(&mut self, h: usize) -> (&mut Client, Handle) {
        let (client, instance) = self.hosts[h].client.as_mut().expect("a client instance on this host");
        (client, *instance)
    }

    /// Searches for `key` from host `h` until `want(result)` holds; panics with every log if
    /// the test's budget runs out first. The number of searches it took.
    fn search_until(
        &mut self,
        h: usize,
        key: &KeyBytes,
        what: &str,
        want: impl Fn(&Option<Vec<u8>>) -> bool,
    ) -> usize {
        let mut searches = 0;
        loop {
            let (client, instance) = self.client(h);
            let result = client.search(instance, key, 3000);
            searches += 1;
            if want(&result) {
                return searches;
            }
            if Instant::now() > self.deadline {
                panic!("{what}: still {result:?} from host {h} after {searches} searches\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The key the cut-off host holds, and what a search finds with it.
const CUT_KEY: KeyBytes = [0xC1; KEY_LEN];
/// The default application data of a standing instance's node key.
const CUT_DATA: &[u8] = b"peerdrtd";
/// A key on a host that stays connected.
const STAYS_KEY: KeyBytes = [0x50; KEY_LEN];
const STAYS_DATA: &[u8] = b"on a host that stays";
/// The host that is cut off.
const CUT: usize = 1;

/// Builds the cloud, cuts host [`CUT`] off for [`CUT_FOR`] and restores it. The key it holds
/// is its standing instance's node key; with `island`, a client instance is opened next to
/// it, so the cut-off host is two nodes that keep each other company.
fn cut_off_and_restore(island: bool) {
    // The namespaces, addresses and ports are the same for every run in this process: one at a
    // time (a run that panicked leaves the lock poisoned, which does not matter here).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(why) = unavailable() {
        eprintln!("SKIPPED: the network-namespace test needs root and `ip netns` (iproute2): {why}");
        return;
    }
    let started = Instant::now();
    remove_leftovers();
    let net = Network::create(HOSTS);
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<EndpointRecord> = seeds().iter().map(|s| endpoint(s.ip(), s.port())).collect();
    let mut cloud = Cloud { hosts: Vec::new(), deadline: started + BUDGET };
    for h in 0..HOSTS {
        let daemon = start_host(dir.path(), &net, h, (h == CUT).then_some(&CUT_KEY));
        let client = (h != CUT || island).then(|| {
            let mut client = daemon.client();
            let (instance, _) = client.open_instance(&records);
            (client, instance)
        });
        cloud.hosts.push(Host { daemon, client });
    }
    for h in (0..HOSTS).filter(|&h| h != CUT || island) {
        let deadline = cloud.deadline;
        let (client, instance) = cloud.client(h);
        if !client.wait_active(instance, deadline) {
            panic!("host {h} never became active\n{}", cloud.logs());
        }
    }
    eprintln!("{HOSTS} hosts active after {:?}", started.elapsed());

    // Host 1's key and one on host 0, found from hosts 2 and 3.
    let (client, instance) = cloud.client(0);
    client.register(instance, &STAYS_KEY, STAYS_DATA);
    let found = |data: &'static [u8]| move |r: &Option<Vec<u8>>| r.as_deref() == Some(data);
    for h in [2, 3] {
        cloud.search_until(h, &CUT_KEY, "before the cut", found(CUT_DATA));
        cloud.search_until(h, &STAYS_KEY, "before the cut", found(STAYS_DATA));
    }
    eprintln!("keys found across hosts after {:?}", started.elapsed());

    // Host 1 is cut off for longer than a cache maintenance round (so every side notices):
    // its key cannot be found, while the rest of the cloud keeps answering every search.
    net.set_link(CUT, false);
    let cut_at = Instant::now();
    let n = cloud.search_until(3, &CUT_KEY, "while cut off", Option::is_none);
    eprintln!("host {CUT} cut off: its key not found after {n} search(es), {:?}", cut_at.elapsed());
    let mut during = 0;
    while cut_at.elapsed() < CUT_FOR {
        let (client, instance) = cloud.client(2 + during % 2);
        let stays = client.search(instance, &STAYS_KEY, 3000);
        assert_eq!(stays.as_deref(), Some(STAYS_DATA), "the rest of the cloud stopped answering");
        let (client, instance) = cloud.client(3 - during % 2);
        assert_eq!(client.search(instance, &CUT_KEY, 3000), None, "found on a host that is cut off");
        during += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    eprintln!("{during} search pairs during {:?} cut off, all as expected", cut_at.elapsed());

    // The link comes back: the cloud recovers and finds host 1's key again, from every host.
    net.set_link(CUT, true);
    let restored_at = Instant::now();
    for h in [3, 2, 0] {
        cloud.search_until(h, &CUT_KEY, "after the link came back", found(CUT_DATA));
    }
    eprintln!(
        "recovered {:?} after the link came back; whole test {:?}",
        restored_at.elapsed(),
        started.elapsed()
    );
    for host in &mut cloud.hosts {
        assert!(host.daemon.running(), "{} exited\n{}", host.daemon.name, host.daemon.log_text());
    }
    // The clients and daemons go first, then the namespaces (the guard `net` drops last).
    drop(cloud);
    drop(net);
    assert!(started.elapsed() < BUDGET + Duration::from_secs(10));
}

#[test]
fn a_cloud_of_daemons_in_network_namespaces_recovers_from_a_host_cut_off_and_restored() {
    cut_off_and_restore(false);
}

/// The same with two nodes on the cut-off host. They keep each other in their caches, so
/// neither is ever ALONE (which would make it re-bootstrap): they rejoin through partition
/// detection, which re-contacts the seeds missing from a small cache every `RESEED_INTERVAL`
/// (driver/core/src/drt/config.rs).
#[test]
fn an_island_of_two_nodes_cut_off_and_restored_rejoins_the_cloud() {
    cut_off_and_restore(true);
}
