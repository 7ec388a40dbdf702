//! What the tests that drive real `peerdrtd` processes share: a daemon handle that kills its
//! process on drop, and a device client speaking the frame protocol of `peerdrt_abi::frame`
//! over the daemon's Unix socket (what the shim's Linux backend speaks). Every wait is bounded.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Ipv6Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use peerdrt::abi::frame::{MAX_INPUT_LEN, RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader};
use peerdrt::abi::status;
use peerdrt::abi::*;

/// How long a daemon may take to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take to be answered.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// The protocol version of every instance the tests open.
pub const VERSION: (u8, u8) = (6, 101);

/// A `peerdrtd` command that dies with the test thread that spawned it, even if the test
/// process is killed before the [`Daemon`] handle drops. `prefix` runs first (e.g. `ip netns
/// exec NAME`), which must `exec` the daemon so that the death signal carries over.
pub fn daemon_command(prefix: &[&str]) -> Command {
    use std::os::unix::process::CommandExt;
    let daemon = env!("CARGO_BIN_EXE_peerdrtd");
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(daemon);
            c
        }
        None => Command::new(daemon),
    };
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    cmd
}

/// A daemon process, killed on drop.
pub struct Daemon {
    pub name: String,
    pub child: Child,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// The UDP port of its standing instance, if it was started with one ([`Daemon::standing`]).
    pub instance_port: Option<u16>,
}

impl Daemon {
    /// Starts `peerdrtd --socket DIR/NAME.sock ARGS...` (after `prefix`) and waits until its
    /// socket accepts connections.
    pub fn start(dir: &Path, name: &str, prefix: &[&str], args: &[String]) -> Self {
        let socket = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let child = daemon_command(prefix)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("PEERDRT_TEST_LOG").unwrap_or_else(|_| "peerdrt=info,peerdrtd=info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut daemon = Self { name: name.into(), child, socket, log, instance_port: None };
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(&daemon.socket).is_err() {
            if let Ok(Some(exit)) = daemon.child.try_wait() {
                panic!("{name} exited with {exit} while starting:\n{}", daemon.log_text());
            }
            assert!(Instant::now() < deadline, "{name} did not come up:\n{}", daemon.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        daemon
    }

    /// Starts a daemon with a standing instance on `port` (if given) seeded from the loopback
    /// ports `seeds`, with the further arguments `extra`.
    pub fn standing(dir: &Path, name: &str, port: Option<u16>, seeds: &[u16], extra: &[&str]) -> Self {
        let mut args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        if let Some(port) = port {
            args.extend(["--instance-port".into(), port.to_string()]);
        }
        for seed in seeds {
            args.extend(["--seed".into(), format!("127.0.0.1:{seed}")]);
        }
        let mut daemon = Self::start(dir, name, &[], &args);
        daemon.instance_port = port;
        daemon
    }

    /// The port of its standing instance.
    pub fn port(&self) -> u16 {
        self.instance_port.expect("a daemon started with a standing instance")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.socket)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reply frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub output: Vec<u8>,
}

/// One connection to the device (one open): frames over the Unix socket, answers matched by id.
pub struct Client {
    pub stream: UnixStream,
    buf: Vec<u8>,
    next_id: u64,
    /// Answers read while waiting for another one, by request id.
    pub stash: HashMap<u64, Reply>,
    /// The wait-for-event request outstanding, if any.
    pub wait: Option<u64>,
    pub closed: bool,
}

impl Client {
    pub fn connect(path: &Path) -> Self {
        let stream = UnixStream::connect(path).unwrap();
        Self { stream, buf: Vec::new(), next_id: 1, stash: HashMap::new(), wait: None, closed: false }
    }

    /// Sends one request frame; its id.
    pub fn send(&mut self, code: u32, input: &[u8], capacity: usize) -> u64 {
        let request_id = self.next_id;
        self.next_id += 1;
        let header = RequestHeader { input_len: input.len(), request_id, code, output_capacity: capacity };
        let mut frame = header.encode().to_vec();
        frame.extend_from_slice(input);
        self.send_raw(&frame);
        request_id
    }

    /// Writes bytes as they are, framed or not.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes).unwrap();
    }

    /// Writes bytes; an error if the daemon has closed the connection.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads frames until the answer to `id` arrives (others are kept), `timeout` passes, or
    /// the daemon closes the connection.
    pub fn recv(&mut self, id: u64, timeout: Duration) -> Option<Reply> {
        let deadline = Instant::now() + timeout;
        loop {
            while self.buf.len() >= RESPONSE_HEADER_LEN {
                let header = ResponseHeader::decode(self.buf[..RESPONSE_HEADER_LEN].try_into().unwrap())
                    .expect("the daemon sent a bad response header");
                let end = RESPONSE_HEADER_LEN + header.information;
                if self.buf.len() < end {
                    break;
                }
                let output = self.buf[RESPONSE_HEADER_LEN..end].to_vec();
                self.buf.drain(..end);
                self.stash.insert(header.request_id, Reply { status: header.status, output });
            }
            if let Some(reply) = self.stash.remove(&id) {
                return Some(reply);
            }
            let now = Instant::now();
            if now >= deadline || self.closed {
                return None;
            }
            self.stream.set_read_timeout(Some(deadline - now)).unwrap();
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => self.closed = true,
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Whether the daemon closed the connection within `timeout` (frames before the end are kept).
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        self.recv(u64::MAX, timeout);
        self.closed
    }

    /// Sends raw input and waits for the answer.
    pub fn call_raw(&mut self, code: u32, input: &[u8], capacity: usize) -> Reply {
        let id = self.send(code, input, capacity);
        self.recv(id, REPLY_TIMEOUT).unwrap_or_else(|| panic!("no answer to request {id} (code {code:#x})"))
    }

    pub fn call(&mut self, request: &Request<'_>, capacity: usize) -> Reply {
        let mut input = vec![0u8; MAX_INPUT_LEN];
        let len = request.encode(&mut input).unwrap();
        self.call_raw(request.code(), &input[..len], capacity)
    }

    /// OPEN_INSTANCE on an ephemeral port with the Null provider, seeded with `seeds`.
    pub fn open_instance(&mut self, seeds: &[EndpointRecord]) -> (Handle, u16) {
        let mut buf = [0u8; MAX_SEEDS * ENDPOINT_LEN];
        let seeds = encode_endpoints(seeds, &mut buf).unwrap();
        let reply = self.call(
            &Request::OpenInstance(OpenInstance {
                version_major: VERSION.0,
                version_minor: VERSION.1,
                port: 0,
                scope: 1,
                scope_id: 0,
                max_addresses: 4,
                security_mode: 0,
                security: SecurityKind::Null,
                root: None,
                identity: None,
                seeds,
            }),
            64,
        );
        assert_eq!(reply.status, status::SUCCESS, "OPEN_INSTANCE: {:#x}", reply.status);
        match Response::decode(ioctl::OPEN_INSTANCE, &reply.output).unwrap() {
            Response::Instance { instance, port } => (instance, port),
            other => panic!("{other:?}"),
        }
    }

    pub fn query(&mut self, instance: Handle) -> Result<InstanceInfo, u32> {
        let reply = self.call(&Request::QueryInstance { instance }, 64);
        match Response::decode(ioctl::QUERY_INSTANCE, &reply.output) {
            Ok(Response::InstanceInfo(info)) if reply.status == status::SUCCESS => Ok(info),
            _ => Err(reply.status),
        }
    }

    pub fn register(&mut self, instance: Handle, key: &KeyBytes, data: &[u8]) -> Handle {
        let reply = self.call(&Request::RegisterKey { instance, key, app_data: data, credential: None }, 64);
        assert_eq!(reply.status, status::SUCCESS, "REGISTER_KEY: {:#x}", reply.status);
        match Response::decode(ioctl::REGISTER_KEY, &reply.output).unwrap() {
            Response::Registration { registration } => registration,
            other => panic!("{other:?}"),
        }
    }

    /// The next event, if one arrives within `timeout` (the wait stays outstanding if not).
    pub fn next_event(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let id = match self.wait {
            Some(id) => id,
            None => {
                let id = self.send(ioctl::WAIT_EVENT, &[1, 0, 0, 0], MAX_EVENT_LEN);
                self.wait = Some(id);
                id
            }
        };
        let reply = self.recv(id, timeout)?;
        self.wait = None;
        assert_eq!(reply.status, status::SUCCESS, "WAIT_EVENT: {:#x}", reply.status);
        Some(reply.output)
    }

    /// Waits until `instance` reports DRT_ACTIVE; whether it did before `deadline`.
    pub fn wait_active(&mut self, instance: Handle, deadline: Instant) -> bool {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if let Some(event) = self.next_event(deadline - now)
                && let Ok(EventRecord::StatusChanged { instance: i, status, .. }) =
                    EventRecord::decode(&event)
                && i == instance
                && status == drt_status::ACTIVE
            {
                return true;
            }
        }
    }

    /// One exact search with a `timeout_ms` budget: the app data of the match, if any.
    pub fn search(&mut self, instance: Handle, key: &KeyBytes, timeout_ms: u32) -> Option<Vec<u8>> {
        self.search_with(instance, key, timeout_ms, false)
    }

    /// [`Client::search`], also matching keys registered on the searching node itself (by
    /// other opens attached to the same cloud, for instance).
    pub fn search_with(
        &mut self,
        instance: Handle,
        key: &KeyBytes,
        timeout_ms: u32,
        allow_current_instance_match: bool,
    ) -> Option<Vec<u8>> {
        self.search_match(instance, key, timeout_ms, allow_current_instance_match).map(|(data, _)| data)
    }

    /// [`Client::search_with`]: the app data of the match and the endpoint that published it.
    pub fn search_match(
        &mut self,
        instance: Handle,
        key: &KeyBytes,
        timeout_ms: u32,
        allow_current_instance_match: bool,
    ) -> Option<(Vec<u8>, EndpointRecord)> {
        let request = Request::StartSearch(StartSearch {
            instance,
            key,
            iterative: false,
            allow_current_instance_match,
            any_match_in_range: false,
            max_endpoints: 1,
            range: None,
            timeout_ms,
        });
        let reply = self.call(&request, 64);
        assert_eq!(reply.status, status::SUCCESS, "START_SEARCH: {:#x}", reply.status);
        let Response::Search { search } = Response::decode(ioctl::START_SEARCH, &reply.output).unwrap()
        else {
            panic!("bad START_SEARCH reply")
        };
        let mut found = None;
        let deadline = Instant::now() + Duration::from_millis(u64::from(timeout_ms)) + REPLY_TIMEOUT;
        loop {
            let now = Instant::now();
            assert!(now < deadline, "search never ended");
            let Some(event) = self.next_event(deadline - now) else { continue };
            match EventRecord::decode(&event).unwrap() {
                EventRecord::SearchResult { search: s, key: k, app_data, endpoint, match_type, .. }
                    if s == search && k == key && match_type == 0 =>
                {
                    found = Some((app_data.to_vec(), endpoint))
                }
                EventRecord::SearchEnded { search: s, .. } if s == search => break,
                _ => {}
            }
        }
        let end = self.call(&Request::EndSearch { search }, 0);
        assert_eq!(end.status, status::SUCCESS);
        found
    }
}

/// Seed records: `addr` at each of `ports`.
pub fn endpoints(addr: Ipv6Addr, ports: &[u16]) -> Vec<EndpointRecord> {
    ports.iter().map(|&port| EndpointRecord { addr: addr.octets(), port }).collect()
}

/// Seed records: the IPv4 loopback address (as IPv6) at each of `ports`.
pub fn loopback(ports: &[u16]) -> Vec<EndpointRecord> {
    endpoints(std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), ports)
}
