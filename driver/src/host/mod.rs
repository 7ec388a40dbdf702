//! The Linux node: the platform-neutral [`engine`](crate::engine) behind real UDP sockets and a
//! Unix-socket device — what `peerdrtd` runs.
//!
//! Threads, and how they mirror the kernel driver:
//!
//! | here | in `peerdrt.sys` |
//! |---|---|
//! | a receive thread per UDP socket ([`udp`]): `recv_from`, push `(transport, source, bytes)` onto the bounded [`queue`], nothing else | the WSK receive-from event callback at DISPATCH_LEVEL: queue the datagram, signal the worker |
//! | the worker thread ([`worker`]): owns the [`Device`](crate::engine::Device); datagrams, timers, IOCTLs, sends | the PASSIVE_LEVEL work item under the device lock |
//! | per connection, a reader and a writer thread ([`server`]) | the I/O manager delivering IRPs, completing them |
//!
//! The discipline is the kernel's DISPATCH→PASSIVE one: a receive path only queues, and only
//! the worker enters the engine. Each thread records its role in a thread-local, and every
//! engine entry asserts it is on the worker (debug builds).

pub mod config;
pub mod pnrp_discovery;
pub mod queue;
pub mod server;
pub mod udp;
pub mod worker;

use std::cell::Cell;
use std::fmt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use config::{Config, InstanceConfig};
pub use worker::WorkerStats;

use queue::WorkQueue;
use worker::{Command, Worker};

/// What a thread of the daemon is, for the PASSIVE-only assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Connection, accept, main threads.
    Other,
    /// A socket's receive thread (the DISPATCH_LEVEL receive callback's twin).
    Receive,
    /// The worker (PASSIVE_LEVEL).
    Worker,
}

thread_local! {
    static ROLE: Cell<Role> = const { Cell::new(Role::Other) };
}

pub(crate) fn set_role(role: Role) {
    ROLE.set(role);
}

/// Asserts (debug builds) that the engine is entered on the worker thread: never from a receive
/// thread (which may only queue, as a DISPATCH_LEVEL callback may only queue) nor a connection.
#[track_caller]
pub(crate) fn assert_on_worker() {
    debug_assert_eq!(ROLE.get(), Role::Worker, "the engine was entered off the worker thread");
}

/// Why the daemon could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

/// A running node: the device socket is being served, standing instances are open.
#[derive(Debug)]
pub struct Daemon {
    queue: Arc<WorkQueue>,
    worker: Option<JoinHandle<Option<WorkerStats>>>,
    acceptor: Option<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
    socket: PathBuf,
    /// Answers multicast searches for the link-local PNRP clouds.
    discovery: Option<pnrp_discovery::Responder>,
}

impl Daemon {
    /// Starts the worker (which opens the standing instances), then binds the device socket and
    /// accepts connections: once the socket accepts, the node is up.
    pub fn start(config: Config) -> Result<Self, StartError> {
        Self::start_with(config, server::ServerSettings::default())
    }

    /// [`Daemon::start`] with other limits for the device's connections (tests reach an edge
    /// with them without waiting 30 seconds for it).
    pub(crate) fn start_with(
        mut config: Config,
        settings: server::ServerSettings,
    ) -> Result<Self, StartError> {
        let socket = config.socket.clone();
        let socket_mode = config.socket_mode;
        let socket_error = |e: std::io::Error| StartError(format!("device socket {}: {e}", socket.display()));
        // A second daemon on the same path fails before it binds any port.
        server::check_socket_path(&socket).map_err(socket_error)?;
        // Link-local clouds without seed servers bootstrap from the nodes their link answers with.
        let mut link_local = std::collections::BTreeMap::new();
        for c in &mut config.instances {
            let Some(cloud) = c.cloud.as_ref().filter(|cloud| cloud.scope == 3) else { continue };
            if c.seeds.is_empty() {
                c.seeds = pnrp_discovery::discover(cloud.scope_id, pnrp_discovery::DISCOVERY_WAIT);
                tracing::info!(cloud = %cloud.name, seeds = ?c.seeds, "link-local discovery");
            }
            link_local.insert(cloud.scope_id, c.port);
        }
        let queue = Arc::new(WorkQueue::default());
        let (ready, started) = mpsc::sync_channel(1);
        let worker = std::thread::Builder::new()
            .name("peerdrt-worker".into())
            .spawn({
                let queue = queue.clone();
                move || match Worker::new(&config, queue) {
                    Ok(worker) => {
                        let _ = ready.send(Ok(()));
                        Some(worker.run())
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        None
                    }
                }
            })
            .map_err(|e| StartError(format!("cannot start the worker: {e}")))?;
        match started.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StartError(e)),
            Err(_) => return Err(StartError("the worker stopped while starting".into())),
        }
        let stop_worker = |worker: JoinHandle<_>| {
            queue.push_command(Command::Shutdown);
            let _ = worker.join();
        };
        // The socket last: once it accepts connections, the node is up (standing instances open).
        let listener = match server::bind_listener(&socket, socket_mode) {
            Ok(l) => l,
            Err(e) => {
                stop_worker(worker);
                return Err(socket_error(e));
            }
        };
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = std::thread::Builder::new().name("peerdrt-accept".into()).spawn({
            let (queue, stopping) = (queue.clone(), stopping.clone());
            move || server::accept_loop(listener, queue, stopping, settings)
        });
        let acceptor = match acceptor {
            Ok(a) => a,
            Err(e) => {
                stop_worker(worker);
                let _ = std::fs::remove_file(&socket);
                return Err(StartError(format!("cannot start the accept thread: {e}")));
            }
        };
        let discovery = if link_local.is_empty() {
            None
        } else {
            pnrp_discovery::Responder::start(link_local)
                .map_err(|e| tracing::warn!(error = %e, "link-local discovery responder not started"))
                .ok()
        };
        tracing::info!(socket = %socket.display(), "device socket ready");
        Ok(Self { queue, worker: Some(worker), acceptor: Some(acceptor), stopping, socket, discovery })
    }

    /// The device socket's path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// Whether the worker stopped on its own (it only does if it panicked).
    pub fn worker_exited(&self) -> bool {
        self.worker.as_ref().is_none_or(|w| w.is_finished())
    }

    /// Stops: no new connections, every open closed (pending waits cancelled, keys revoked),
    /// standing instances closed with their revocations sent, sockets closed, the socket file
    /// removed. `None` if the worker had panicked.
    pub fn shutdown(mut self) -> Option<WorkerStats> {
        self.stop()
    }

    fn stop(&mut self) -> Option<WorkerStats> {
        self.discovery = None;
        self.stopping.store(true, Ordering::Release);
        if let Some(acceptor) = self.acceptor.take() {
            // Wake the accept thread so it sees `stopping`.
            let _ = UnixStream::connect(&self.socket);
            let _ = acceptor.join();
        }
        let _ = std::fs::remove_file(&self.socket);
        let worker = self.worker.take()?;
        if !worker.is_finished() {
            self.queue.push_command(Command::Shutdown);
        }
        worker.join().ok().flatten()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.worker.is_some() {
            self.stop();
        }
    }
}

/// Runs a daemon until SIGINT or SIGTERM, then shuts it down cleanly.
pub fn run(config: Config) -> Result<(), StartError> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    // Handlers first: a signal during start-up must not kill the process with the socket left.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| StartError(format!("cannot install signal handlers: {e}")))?;
    let handle = signals.handle();
    let daemon = Daemon::start(config)?;
    let (tx, rx) = mpsc::channel();
    let watcher = std::thread::Builder::new()
        .name("peerdrt-signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = tx.send(signal);
            }
        })
        .map_err(|e| StartError(format!("cannot start the signal thread: {e}")))?;
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(signal) => {
                tracing::info!(signal, "shutting down");
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if !daemon.worker_exited() => {}
            Err(_) => {
                handle.close();
                let _ = daemon.shutdown();
                return Err(StartError("the worker stopped unexpectedly".into()));
            }
        }
    }
    handle.close();
    let _ = watcher.join();
    daemon.shutdown();
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerdrt_abi::frame::{MAX_OUTPUT_CAPACITY, RESPONSE_HEADER_LEN, RequestHeader, ResponseHeader};
    use peerdrt_abi::{Request, status};
    use std::io::{Read, Write};

    /// A QUERY_INSTANCE request frame (for a handle nobody holds).
    fn query(request_id: u64) -> Vec<u8> {
        let mut input = [0u8; 64];
        let len = Request::QueryInstance { instance: 0x0001_0000_1000_0001 }.encode(&mut input).unwrap();
        let header = RequestHeader {
            input_len: len,
            request_id,
            code: peerdrt_abi::ioctl::QUERY_INSTANCE,
            output_capacity: MAX_OUTPUT_CAPACITY,
        };
        [&header.encode()[..], &input[..len]].concat()
    }

    /// Sends a query and reads its answer: the status.
    fn served(client: &mut UnixStream, request_id: u64) -> u32 {
        client.write_all(&query(request_id)).unwrap();
        let mut header = [0u8; RESPONSE_HEADER_LEN];
        client.read_exact(&mut header).unwrap();
        let header = ResponseHeader::decode(&header).unwrap();
        let mut output = vec![0u8; header.information];
        client.read_exact(&mut output).unwrap();
        assert_eq!(header.request_id, request_id);
        header.status
    }

    /// Sends a query and reads its answer's status; `None` if the daemon closed the connection.
    fn try_served(client: &mut UnixStream, request_id: u64) -> Option<u32> {
        client.write_all(&query(request_id)).ok()?;
        let mut header = [0u8; RESPONSE_HEADER_LEN];
        client.read_exact(&mut header).ok()?;
        let header = ResponseHeader::decode(&header).ok()?;
        let mut output = vec![0u8; header.information];
        client.read_exact(&mut output).ok()?;
        Some(header.status)
    }

    fn daemon_in(dir: &Path) -> Daemon {
        let mut config = Config::with_socket(dir.join("d.sock"));
        config.addresses = vec![std::net::Ipv6Addr::LOCALHOST];
        Daemon::start(config).unwrap()
    }

    #[test]
    fn the_daemon_serves_max_connections_at_once_and_closes_one_more_until_one_leaves() {
        use server::MAX_CONNECTIONS;
        let dir = tempfile::tempdir().unwrap();
        let daemon = daemon_in(dir.path());
        let connect = || UnixStream::connect(daemon.socket_path()).unwrap();
        let mut clients: Vec<UnixStream> = (0..MAX_CONNECTIONS).map(|_| connect()).collect();
        let answer = served(&mut clients[0], 0);
        for (i, client) in clients.iter_mut().enumerate() {
            assert_eq!(try_served(client, 1), Some(answer), "connection {i}");
        }
        // One past: the socket takes it, the daemon closes it at once.
        let mut past = connect();
        past.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let closed = past.read(&mut [0u8; 1]);
        assert!(
            matches!(&closed, Ok(0))
                || closed.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "a connection past the limit was not closed: {closed:?}"
        );
        // Those it holds are served on.
        for (i, client) in clients.iter_mut().enumerate() {
            assert_eq!(try_served(client, 2), Some(answer), "connection {i}");
        }
        // Once one leaves, a new one is served (as soon as the daemon has closed the old one's
        // open; the deadline only turns a failure into a failed test rather than a hang).
        drop(clients.pop());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while try_served(&mut connect(), 3).is_none() {
            assert!(std::time::Instant::now() < deadline, "no connection was served after one left");
            std::thread::yield_now();
        }
        drop(clients);
        daemon.shutdown();
    }

    #[test]
    fn the_daemon_drops_a_client_that_stops_reading_after_the_write_timeout_and_serves_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_socket(dir.path().join("d.sock"));
        config.addresses = vec![std::net::Ipv6Addr::LOCALHOST];
        // Room in flight for more small answers than a socket buffer holds; a short timeout.
        let write_timeout = Duration::from_millis(200);
        let settings = server::ServerSettings { max_in_flight: 1 << 20, write_timeout };
        let daemon = Daemon::start_with(config, settings).unwrap();
        let mut other = UnixStream::connect(daemon.socket_path()).unwrap();
        let unknown_handle = served(&mut other, 1);
        assert_ne!(unknown_handle, status::SUCCESS);

        // The silent client sends requests and reads nothing: its answers (each written on
        // its own, each taking far more buffer than its 20 bytes) soon block the writer.
        let mut silent = UnixStream::connect(daemon.socket_path()).unwrap();
        // (Should the daemon stop reading it instead, the test fails rather than hangs.)
        silent.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        let started = std::time::Instant::now();
        // The other client is served all along; the silent one is dropped once a write to it
        // has blocked for the write timeout, after which its socket refuses what it sends.
        let mut sent = 0u64;
        let refused = loop {
            if let Err(e) = silent.write_all(&query(sent)) {
                break e;
            }
            sent += 1;
            if sent.is_multiple_of(256) {
                assert_eq!(served(&mut other, 1 + sent), unknown_handle);
            }
        };
        assert!(
            matches!(refused.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset),
            "{refused}"
        );
        assert!(started.elapsed() >= write_timeout);
        // What it can still read is part of its answers, then the end of the stream (or a
        // reset: the daemon closed with requests of it unread).
        let mut answers = 0;
        let mut buf = [0u8; 4096];
        loop {
            match silent.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answers += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(answers < sent as usize * RESPONSE_HEADER_LEN, "{answers} bytes");
        // And the daemon serves on: the other client, and a new one.
        assert_eq!(served(&mut other, 0), unknown_handle);
        let mut new = UnixStream::connect(daemon.socket_path()).unwrap();
        assert_eq!(served(&mut new, 0), unknown_handle);
        assert!(!daemon.worker_exited());
        drop((other, new));
        daemon.shutdown();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "off the worker thread")]
    fn entering_the_engine_off_the_worker_is_caught() {
        set_role(Role::Receive);
        assert_on_worker();
    }

    #[test]
    fn the_worker_thread_may_enter_the_engine() {
        std::thread::spawn(|| {
            set_role(Role::Worker);
            assert_on_worker();
        })
        .join()
        .unwrap();
    }
}
