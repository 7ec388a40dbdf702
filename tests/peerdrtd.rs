//! `peerdrtd` as a process: real daemons on loopback UDP ports, driven over their Unix-socket
//! device with the frame protocol of `peerdrt_abi::frame` and the IOCTL encodings of
//! `peerdrt_abi` — what the shim's Linux backend speaks.
//!
//! Every daemon runs in a temporary directory, on ephemeral loopback ports, and is killed when
//! its handle drops; every wait is bounded.

#![cfg(unix)]

mod support;

use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peerdrt::abi::frame::{MAX_INPUT_LEN, MAX_OUTPUT_CAPACITY, RequestHeader};
use peerdrt::abi::status;
use peerdrt::abi::*;
use support::{Client, Daemon, REPLY_TIMEOUT, Reply, START_TIMEOUT, daemon_command, endpoints, loopback};

/// How long a cloud may take to converge on what a test waits for.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(40);
/// Standing-instance ports come from here, below Linux's ephemeral range (32768–60999), so
/// they never collide with the ports instances opened with port 0 get; the process id spreads
/// concurrent test runs over the range.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A UDP port, free right now, that no other test of this process will pick.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let span = TEST_PORTS.end - TEST_PORTS.start;
    let base = (std::process::id() % u32::from(span / 64)) as u16 * 64;
    for _ in 0..span {
        let port = TEST_PORTS.start + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % span;
        let free = UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).is_ok()
            && UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free UDP port in {TEST_PORTS:?}");
}

/// Runs a daemon expected to fail at start; kills it (and fails) if it is still running after
/// [`START_TIMEOUT`]. Its exit status and stderr.
fn run_failing(cmd: &mut Command) -> (std::process::ExitStatus, String) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log.reopen().unwrap()).spawn().unwrap();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, std::fs::read_to_string(log.path()).unwrap());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon kept running:\n{}", std::fs::read_to_string(log.path()).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Three daemons, each with a standing instance; B is seeded from A, C from A and B.
fn cloud(dir: &Path) -> Vec<Daemon> {
    let a = Daemon::standing(dir, "a", Some(free_port()), &[], &[]);
    let b = Daemon::standing(dir, "b", Some(free_port()), &[a.port()], &[]);
    let c = Daemon::standing(dir, "c", Some(free_port()), &[a.port(), b.port()], &[]);
    vec![a, b, c]
}

fn standing_ports(daemons: &[Daemon]) -> Vec<u16> {
    daemons.iter().map(Daemon::port).collect()
}

/// Searches from `client` until `want(result)` holds, or fails after [`CONVERGE_TIMEOUT`].
fn search_until(
    client: &mut Client,
    instance: Handle,
    key: &KeyBytes,
    daemons: &[Daemon],
    want: impl Fn(&Option<(Vec<u8>, EndpointRecord)>) -> bool,
) -> Option<(Vec<u8>, EndpointRecord)> {
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let result = client.search_match(instance, key, 3000, false);
        if want(&result) {
            return result;
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = daemons.iter().map(Daemon::log_text).collect();
            panic!("the cloud never converged; last result {result:?}\nlogs:\n{}", logs.join("\n-----\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A client of `daemon` with an instance seeded from `seeds`, active before `deadline`: the
/// client, the instance and its port.
fn active_instance(daemon: &Daemon, seeds: &[EndpointRecord], deadline: Instant) -> (Client, Handle, u16) {
    let mut client = daemon.client();
    let (instance, port) = client.open_instance(seeds);
    assert!(client.wait_active(instance, deadline), "instance never became active");
    (client, instance, port)
}

#[test]
fn a_key_registered_through_one_daemon_is_found_through_another() {
    let dir = tempfile::tempdir().unwrap();
    let daemons = cloud(dir.path());
    let seeds = standing_ports(&daemons);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;

    let (mut publisher, pub_instance, pub_port) = active_instance(&daemons[0], &loopback(&seeds), deadline);
    let key = [0x5a; KEY_LEN];
    publisher.register(pub_instance, &key, b"hello from daemon a");

    let (mut searcher, instance, _) = active_instance(&daemons[1], &loopback(&seeds), deadline);
    let (data, endpoint) = search_until(&mut searcher, instance, &key, &daemons, Option::is_some).unwrap();
    assert_eq!(data, b"hello from daemon a");
    assert_eq!(endpoint.port, pub_port);
    assert_eq!(Ipv6Addr::from(endpoint.addr), Ipv4Addr::LOCALHOST.to_ipv6_mapped());

    // The third daemon, seeded only through the standing instances, finds it too.
    let (mut third, instance, _) = active_instance(&daemons[2], &loopback(&seeds[2..]), deadline);
    let (data, _) = search_until(&mut third, instance, &key, &daemons, Option::is_some).unwrap();
    assert_eq!(data, b"hello from daemon a");
}

#[test]
fn daemons_advertising_ipv6_loopback_form_a_cloud_too() {
    if UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let v6 = ["--address", "::1"];
    let a = Daemon::standing(dir.path(), "a", Some(free_port()), &[], &v6);
    let seed = format!("[::1]:{}", a.port());
    let b = Daemon::standing(dir.path(), "b", Some(free_port()), &[], &["--address", "::1", "--seed", &seed]);
    let seeds = [a.port(), b.port()];
    let deadline = Instant::now() + CONVERGE_TIMEOUT;

    let (mut publisher, pub_instance, pub_port) =
        active_instance(&a, &endpoints(Ipv6Addr::LOCALHOST, &seeds), deadline);
    let key = [0x66; KEY_LEN];
    publisher.register(pub_instance, &key, b"over ::1");

    let (mut searcher, instance, _) = active_instance(&b, &endpoints(Ipv6Addr::LOCALHOST, &seeds), deadline);
    let daemons = [a, b];
    let (data, endpoint) = search_until(&mut searcher, instance, &key, &daemons, Option::is_some).unwrap();
    assert_eq!(data, b"over ::1");
    assert_eq!((Ipv6Addr::from(endpoint.addr), endpoint.port), (Ipv6Addr::LOCALHOST, pub_port));
}

#[test]
fn when_a_connection_closes_its_keys_are_gone_for_other_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let daemons = cloud(dir.path());
    let seeds = standing_ports(&daemons);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;

    let (mut publisher, pub_instance, _) = active_instance(&daemons[0], &loopback(&seeds), deadline);
    let key = [0xa7; KEY_LEN];
    publisher.register(pub_instance, &key, b"short-lived");

    let (mut searcher, instance, _) = active_instance(&daemons[1], &loopback(&seeds), deadline);
    search_until(&mut searcher, instance, &key, &daemons, Option::is_some);

    // The connection ends without any unregister or close request.
    drop(publisher);
    search_until(&mut searcher, instance, &key, &daemons, Option::is_none);
}

#[test]
fn bad_frames_get_defined_errors_or_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::standing(dir.path(), "d", None, &[], &[]);
    let mut good = daemon.client();
    let (instance, _) = good.open_instance(&[]);
    let still_good = |good: &mut Client| assert_eq!(good.query(instance).err(), None);

    let mut bad = daemon.client();
    // Well framed, refused by the engine: unknown code, bad ABI version, undecodable input,
    // an output buffer too small for the answer.
    assert_eq!(bad.call_raw(0xDEAD_BEEF, &[1, 0, 0, 0], 16).status, status::INVALID_DEVICE_REQUEST);
    assert_eq!(
        bad.call_raw(ioctl::QUERY_INSTANCE, &[9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], 64).status,
        status::REVISION_MISMATCH
    );
    assert_eq!(bad.call_raw(ioctl::REGISTER_KEY, &[1, 0, 0, 0, 1, 2], 64).status, status::INVALID_PARAMETER);
    assert_eq!(bad.call_raw(ioctl::WAIT_EVENT, &[1, 0, 0, 0], 100).status, status::BUFFER_TOO_SMALL);
    let mut open = vec![0u8; 256];
    let len = Request::OpenInstance(OpenInstance {
        version_major: 6,
        version_minor: 101,
        port: 0,
        scope: 1,
        scope_id: 0,
        max_addresses: 1,
        security_mode: 0,
        security: SecurityKind::Null,
        root: None,
        identity: None,
        seeds: encode_endpoints(&[], &mut []).unwrap(),
    })
    .encode(&mut open)
    .unwrap();
    assert_eq!(bad.call_raw(ioctl::OPEN_INSTANCE, &open[..len], 4).status, status::BUFFER_TOO_SMALL);
    // Another open's handle.
    assert_eq!(bad.query(instance).err(), Some(status::INVALID_HANDLE));
    // An output capacity over the limit: answered, and the connection goes on.
    let reply =
        bad.call_raw(ioctl::QUERY_INSTANCE, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], MAX_OUTPUT_CAPACITY + 1);
    assert_eq!(reply.status, status::INVALID_PARAMETER);
    assert_eq!(bad.call_raw(0xDEAD_BEEF, &[1, 0, 0, 0], 16).status, status::INVALID_DEVICE_REQUEST);
    still_good(&mut good);
    // An input over the limit: answered, then the connection is closed.
    let mut header =
        RequestHeader { input_len: 0, request_id: 77, code: ioctl::QUERY_INSTANCE, output_capacity: 64 }
            .encode();
    header[..4].copy_from_slice(&((MAX_INPUT_LEN + 1 + 16) as u32).to_le_bytes());
    bad.send_raw(&header);
    assert_eq!(bad.recv(77, REPLY_TIMEOUT).unwrap().status, status::INVALID_PARAMETER);
    assert!(bad.closed_within(REPLY_TIMEOUT));
    still_good(&mut good);

    // Garbage: framing is lost at once; answered with the bytes' "id", then closed.
    let mut garbage = daemon.client();
    garbage.send_raw(b"GET / HTTP/1.1\r\nHost: peerdrt\r\n\r\n");
    let id = u64::from_le_bytes(b"GET / HTTP/1.1\r\n"[4..12].try_into().unwrap());
    assert_eq!(garbage.recv(id, REPLY_TIMEOUT).unwrap().status, status::INVALID_PARAMETER);
    assert!(garbage.closed_within(REPLY_TIMEOUT));
    // A length below the header's own size.
    let mut short = daemon.client();
    let mut header =
        RequestHeader { input_len: 0, request_id: 5, code: ioctl::WAIT_EVENT, output_capacity: 0 }.encode();
    header[..4].copy_from_slice(&3u32.to_le_bytes());
    short.send_raw(&header);
    assert_eq!(short.recv(5, REPLY_TIMEOUT).unwrap().status, status::INVALID_PARAMETER);
    assert!(short.closed_within(REPLY_TIMEOUT));
    still_good(&mut good);

    // Truncated: the stream ends inside a header, or inside an input.
    let mut truncated = daemon.client();
    truncated.send_raw(&[12, 0, 0, 0, 1, 2, 3]);
    truncated.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(truncated.closed_within(REPLY_TIMEOUT));
    let mut truncated = daemon.client();
    let header =
        RequestHeader { input_len: 100, request_id: 1, code: ioctl::REGISTER_KEY, output_capacity: 64 }
            .encode();
    truncated.send_raw(&header);
    truncated.send_raw(&[1, 0, 0, 0, 7]);
    truncated.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(truncated.closed_within(REPLY_TIMEOUT));
    assert!(truncated.stash.is_empty());

    // The first connection never noticed; a new one works as well.
    still_good(&mut good);
    let mut fresh = daemon.client();
    let (other, _) = fresh.open_instance(&[]);
    assert_eq!(fresh.query(other).err(), None);
}

#[test]
fn a_handle_from_one_connection_is_invalid_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::standing(dir.path(), "d", None, &[], &[]);
    let mut first = daemon.client();
    let mut second = daemon.client();
    let (instance, _) = first.open_instance(&[]);
    let registration = first.register(instance, &[1; KEY_LEN], b"mine");

    assert_eq!(second.query(instance).err(), Some(status::INVALID_HANDLE));
    assert_eq!(second.call(&Request::CloseInstance { instance }, 0).status, status::INVALID_HANDLE);
    let key = [2; KEY_LEN];
    let steal = Request::RegisterKey { instance, key: &key, app_data: b"theirs", credential: None };
    assert_eq!(second.call(&steal, 64).status, status::INVALID_HANDLE);
    assert_eq!(second.call(&Request::UnregisterKey { registration }, 0).status, status::INVALID_HANDLE);

    let info = first.query(instance).expect("QUERY_INSTANCE");
    assert_eq!(info.registrations, 1);
}

#[test]
fn sigterm_cancels_waits_closes_connections_and_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::standing(dir.path(), "d", Some(free_port()), &[], &[]);
    let mut client = daemon.client();
    let (instance, _) = client.open_instance(&[]);
    client.register(instance, &[3; KEY_LEN], b"bye");
    // Drain the instance's events until a wait stays pending.
    while client.next_event(Duration::from_millis(500)).is_some() {}
    let wait = client.wait.expect("a pending wait");

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon.child.id() as i32), nix::sys::signal::SIGTERM)
        .unwrap();
    let cancelled = client.recv(wait, REPLY_TIMEOUT).expect("the pending wait was not answered");
    assert_eq!(cancelled.status, status::CANCELLED);
    assert!(client.closed_within(REPLY_TIMEOUT), "the connection stayed open");

    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = daemon.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit}:\n{}", daemon.log_text());
    assert!(!daemon.socket.exists(), "the socket file was left behind");
    let log = daemon.log_text();
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
}

#[test]
fn a_second_daemon_on_the_same_socket_or_port_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let first = Daemon::standing(dir.path(), "d", Some(port), &[], &[]);
    let (status, stderr) = run_failing(daemon_command(&[]).arg("--socket").arg(&first.socket));
    assert!(!status.success());
    assert!(stderr.contains("another daemon"), "{stderr}");
    let other = dir.path().join("other.sock");
    let (status, stderr) = run_failing(
        daemon_command(&[]).arg("--socket").arg(&other).args(["--instance-port", &port.to_string()]),
    );
    assert!(!status.success());
    assert!(stderr.contains("port in use"), "{stderr}");
    assert!(!other.exists(), "a failed start left its socket file");
    // The first daemon is unaffected.
    let mut client = first.client();
    let (instance, _) = client.open_instance(&loopback(&[port]));
    assert_eq!(client.query(instance).err(), None);
}

/// QUERY_INSTANCE, or `None` if the daemon closed the connection.
fn try_query(c: &mut Client, instance: Handle) -> Option<Reply> {
    let mut input = [0u8; 12];
    Request::QueryInstance { instance }.encode(&mut input).unwrap();
    let header =
        RequestHeader { input_len: 12, request_id: 1, code: ioctl::QUERY_INSTANCE, output_capacity: 64 };
    let mut frame = header.encode().to_vec();
    frame.extend_from_slice(&input);
    c.try_send_raw(&frame).ok()?;
    c.recv(1, REPLY_TIMEOUT)
}

#[test]
fn connections_past_the_bound_are_closed_and_the_rest_keep_working() {
    use peerdrt::host::server::MAX_CONNECTIONS;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::standing(dir.path(), "d", None, &[], &[]);
    // Each is a device open: a bad handle is refused by the engine, not by a closed socket. A
    // connection may be refused while the start-up probe's slot is not yet free: retry it.
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let mut clients: Vec<Client> = Vec::new();
    while clients.len() < MAX_CONNECTIONS {
        let mut c = daemon.client();
        if let Some(reply) = try_query(&mut c, 1) {
            assert_eq!(reply.status, status::INVALID_HANDLE);
            clients.push(c);
        } else {
            assert!(Instant::now() < deadline, "only {} connections were served", clients.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut refused = daemon.client();
    assert!(refused.closed_within(REPLY_TIMEOUT), "connection {} was accepted", MAX_CONNECTIONS + 1);
    clients.pop();
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        // Until the daemon has seen the freed connection end, a new one may still be refused.
        if let Some(reply) = try_query(&mut daemon.client(), 1) {
            assert_eq!(reply.status, status::INVALID_HANDLE);
            break;
        }
        assert!(Instant::now() < deadline, "a freed connection slot was never reused");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(clients[0].query(1).err(), Some(status::INVALID_HANDLE));
}

#[test]
fn a_config_file_declares_standing_instances_whose_node_keys_are_found() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (free_port(), free_port());
    let key = [0x42u8; KEY_LEN];
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let config = dir.path().join("a.toml");
    std::fs::write(
        &config,
        format!(
            "socket_mode = \"0600\"\naddresses = [\"127.0.0.1\"]\n\n\
             [[instance]]\nport = {pa}\nversion = \"6.101\"\nkey = \"{hex}\"\napp_data = \"seed node a\"\n"
        ),
    )
    .unwrap();
    let a = Daemon::standing(dir.path(), "a", None, &[], &["--config", config.to_str().unwrap()]);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&a.socket).unwrap().permissions().mode() & 0o777, 0o600);
    let b = Daemon::standing(dir.path(), "b", Some(pb), &[pa], &[]);

    let (mut client, instance, _) = active_instance(&b, &loopback(&[pb]), Instant::now() + CONVERGE_TIMEOUT);
    let daemons = [a, b];
    let (data, endpoint) = search_until(&mut client, instance, &key, &daemons, Option::is_some).unwrap();
    assert_eq!(data, b"seed node a");
    assert_eq!(endpoint.port, pa);
}
