//! `peerdrtd --disjoint-paths N` (or `disjoint_paths = N` in its file): the lookup paths of
//! every exact search, 1 to MAX_DISJOINT_PATHS, refused outside that at start with a clear
//! error; with more than one path, daemons still find each other's keys.

#![cfg(unix)]

mod support;

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use peerdrt::abi::*;
use peerdrt::core::drt::search::MAX_DISJOINT_PATHS;
use support::{Daemon, START_TIMEOUT};

/// How long a cloud of daemons may take to find a key.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(40);

/// Runs `peerdrtd --socket DIR/refused.sock ARGS`, expected to exit at once: its exit code and
/// stderr (a daemon still running after [`START_TIMEOUT`] is killed and fails the test).
fn run_refused(dir: &Path, args: &[String]) -> (Option<i32>, String) {
    let log = dir.join("refused.log");
    let mut child = support::daemon_command(&[])
        .arg("--socket")
        .arg(dir.join("refused.sock"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), std::fs::read_to_string(&log).unwrap());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon started with {args:?}:\n{}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A daemon's log without the terminal colour sequences tracing puts round field names.
fn plain_log(daemon: &Daemon) -> String {
    let mut out = String::new();
    let mut chars = daemon.log_text().chars().collect::<Vec<_>>().into_iter();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `daemon` logged that it searches with `n` disjoint paths.
fn logged_paths(daemon: &Daemon, n: u64) -> bool {
    plain_log(daemon).contains(&format!("disjoint_paths={n}"))
}

fn disjoint_paths(n: u64) -> Vec<String> {
    vec!["--disjoint-paths".into(), n.to_string()]
}

#[test]
fn peerdrtd_refuses_0_or_more_than_max_disjoint_paths_and_says_what_it_expects() {
    let dir = tempfile::tempdir().unwrap();
    let max = u64::from(MAX_DISJOINT_PATHS);
    for n in [0, max + 1, 259] {
        let (code, stderr) = run_refused(dir.path(), &disjoint_paths(n));
        assert_eq!(code, Some(2), "--disjoint-paths {n}: {stderr}");
        let expected = format!("disjoint paths {n}: expected 1 to {MAX_DISJOINT_PATHS}");
        assert!(stderr.contains(&expected), "--disjoint-paths {n}: {stderr}");
    }
    let config = dir.path().join("peerdrtd.toml");
    std::fs::write(&config, format!("disjoint_paths = {}\n", max + 1)).unwrap();
    let (code, stderr) = run_refused(dir.path(), &["--config".into(), config.display().to_string()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("disjoint paths {}", max + 1)), "{stderr}");
}

#[test]
fn peerdrtd_starts_with_1_or_max_disjoint_paths_from_the_flag_or_its_file() {
    let dir = tempfile::tempdir().unwrap();
    for n in [1, u64::from(MAX_DISJOINT_PATHS)] {
        let daemon = Daemon::start(dir.path(), &format!("d{n}"), &[], &disjoint_paths(n));
        assert!(logged_paths(&daemon, n), "{}", plain_log(&daemon));
    }
    let config = dir.path().join("peerdrtd.toml");
    std::fs::write(&config, "disjoint_paths = 2\n").unwrap();
    let from_file =
        Daemon::start(dir.path(), "file", &[], &["--config".into(), config.display().to_string()]);
    assert!(logged_paths(&from_file, 2), "{}", plain_log(&from_file));
    // The flag wins over the file.
    let both = Daemon::start(
        dir.path(),
        "both",
        &[],
        &["--config".into(), config.display().to_string(), "--disjoint-paths".into(), "3".into()],
    );
    assert!(logged_paths(&both, 3), "{}", plain_log(&both));
}

#[test]
fn with_3_disjoint_paths_a_key_registered_through_one_daemon_is_found_through_another() {
    let dir = tempfile::tempdir().unwrap();
    let daemons: Vec<Daemon> = ["a", "b", "c", "d"]
        .iter()
        .map(|name| Daemon::start(dir.path(), name, &[], &disjoint_paths(3)))
        .collect();
    let at = |port: u16| EndpointRecord { addr: Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets(), port };
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    // Each daemon's instance registers a key of its own and is seeded with the ones before it.
    let mut clients = Vec::new();
    let mut seeds: Vec<EndpointRecord> = Vec::new();
    for (i, daemon) in daemons.iter().enumerate() {
        let mut client = daemon.client();
        let (instance, port) = client.open_instance(&seeds);
        client.register(instance, &[0x10 + i as u8; KEY_LEN], format!("node {i}").as_bytes());
        if !seeds.is_empty() {
            assert!(client.wait_active(instance, deadline), "{} never became active", daemon.name);
        }
        seeds.push(at(port));
        clients.push((client, instance));
    }
    // The last daemon finds the first one's key, and the first the last one's.
    for (from, to) in [(3usize, 0usize), (0, 3)] {
        let key = [0x10 + to as u8; KEY_LEN];
        let want = format!("node {to}").into_bytes();
        let (client, instance) = &mut clients[from];
        loop {
            if client.search(*instance, &key, 3000).as_deref() == Some(&want[..]) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never found {}'s key:\n{}",
                daemons[from].name,
                daemons[to].name,
                daemons.iter().map(Daemon::log_text).collect::<Vec<_>>().join("\n-----\n")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
