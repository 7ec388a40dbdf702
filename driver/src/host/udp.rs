//! The UDP transports: one socket per DRT instance (the engine's [`Platform::bind`]), each with a
//! receive thread that only queues what arrives for the worker.
//!
//! The datagram fast path moves datagrams in batches: a receive thread takes up to [`IO_BATCH`]
//! per `recvmmsg` and queues them under one lock; the worker sends up to [`IO_BATCH`] per
//! `sendmmsg` (the kernel driver's equivalent is `WskSendMessages`). Received bytes land in
//! buffers pooled by the [`WorkQueue`], so a steady stream allocates nothing here. Setting
//! [`BATCH_ENV`] to `0` falls back to one `recv_from` / `send_to` per datagram, which is how
//! the benchmarks measure what batching gains.
//!
//! Sockets are IPv6 dual-stack (`[::]:port` with `IPV6_V6ONLY` off), so IPv4 peers arrive as
//! `::ffff:a.b.c.d` — the form the engine and the wire use for IPv4. Where IPv6 is unavailable a
//! socket falls back to IPv4 (`0.0.0.0:port`) and speaks to IPv4-mapped destinations only.

use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use peerdrt_abi::status;
use peerdrt_core::wire::Endpoint;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use super::queue::{Datagram, WorkQueue};
use super::{Role, set_role};
use crate::engine::{Bound, Outgoing, Platform, TransportId};

/// Largest UDP payload; the receive buffer's size.
pub const MAX_DATAGRAM: usize = 65_535;
/// Datagrams one `recvmmsg` or `sendmmsg` call moves at most. A receive thread's buffer is
/// `IO_BATCH × MAX_DATAGRAM` bytes of address space, of which only the pages datagrams touch
/// are ever backed by memory.
pub const IO_BATCH: usize = 32;
/// Environment variable: `0` turns batching off (one system call per datagram), for the
/// benchmarks' with/without comparison. Read when the platform is created.
pub const BATCH_ENV: &str = "PEERDRT_UDP_BATCH";
/// How often a receive thread blocked in `recv_from` checks whether its socket was closed (a
/// fallback: closing also shuts the socket down, which wakes it at once on Linux).
pub const RECEIVE_POLL: Duration = Duration::from_millis(200);

/// The engine-facing side of the sockets. Lives on the worker thread.
#[derive(Debug)]
pub(crate) struct UdpPlatform {
    addresses: Vec<Ipv6Addr>,
    queue: Arc<WorkQueue>,
    transports: HashMap<TransportId, Transport>,
    /// Unbound transports whose socket stays open until the datagrams the engine queued for it
    /// before the unbind (a closing instance's revocations) have been sent.
    retiring: Vec<TransportId>,
    next_id: TransportId,
    /// recvmmsg / sendmmsg ([`BATCH_ENV`]).
    batched: bool,
    /// Datagrams the engine produced, waiting for the next [`UdpPlatform::send_batch`].
    outgoing: Vec<Outgoing>,
    /// Datagrams sent (or dropped), whose buffers go back to the engine ([`UdpPlatform::take_sent`]).
    sent: Vec<Outgoing>,
    /// sendmmsg's message headers, allocated once.
    send_headers: MultiHeaders<SockaddrStorage>,
    /// Datagrams that could not be sent (no such socket, an IPv6 destination on an IPv4 socket,
    /// a full socket buffer, a send error).
    pub send_failures: u64,
}

#[derive(Debug)]
struct Transport {
    socket: Arc<UdpSocket>,
    ipv6: bool,
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Transport {
    fn close(mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the receive thread out of recv_from (Linux); RECEIVE_POLL bounds the wait elsewhere.
        let _ = SockRef::from(&*self.socket).shutdown(std::net::Shutdown::Read);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn bind_socket(port: u16) -> io::Result<(UdpSocket, bool)> {
    let v6 = (|| {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_only_v6(false)?;
        socket.bind(&SockAddr::from(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)))?;
        Ok::<_, io::Error>(socket)
    })();
    match v6 {
        Ok(socket) => Ok((socket.into(), true)),
        // The port is taken, or not ours to take: IPv4 would say the same.
        Err(e) if matches!(e.kind(), io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied) => Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "IPv6 socket unavailable; binding IPv4");
            let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            socket.bind(&SockAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)))?;
            Ok((socket.into(), false))
        }
    }
}

/// The engine's form of a source address.
pub(crate) fn endpoint_of(addr: SocketAddr) -> Endpoint {
    match addr {
        SocketAddr::V6(a) => Endpoint { addr: *a.ip(), port: a.port() },
        SocketAddr::V4(a) => Endpoint { addr: a.ip().to_ipv6_mapped(), port: a.port() },
    }
}

/// The source address of a received datagram, as a socket address.
fn socket_addr_of(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(a) = addr.as_sockaddr_in6() {
        Some(SocketAddr::V6(SocketAddrV6::from(*a)))
    } else {
        addr.as_sockaddr_in().map(|a| SocketAddr::V4(SocketAddrV4::from(*a)))
    }
}

/// Whether a receive error is only the poll timeout or a signal.
fn is_quiet(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// A receive thread's reusable state: the receive buffer, the datagrams it is about to queue
/// and spare pooled buffers to copy them into.
struct Receiver {
    id: TransportId,
    queue: Arc<WorkQueue>,
    pending: Vec<Datagram>,
    spare: Vec<Vec<u8>>,
}

impl Receiver {
    /// Stages one datagram for the queue, in a pooled buffer.
    fn stage(&mut self, from: SocketAddr, bytes: &[u8]) {
        let mut buffer = self.spare.pop().unwrap_or_else(WorkQueue::fresh_buffer);
        buffer.clear();
        buffer.extend_from_slice(bytes);
        self.pending.push(Datagram { transport: self.id, from: endpoint_of(from), bytes: buffer });
    }

    /// Queues what was staged (one lock) and refills the spare buffers.
    fn flush(&mut self) {
        let staged = self.pending.len();
        let queued = self.queue.push_datagrams(&mut self.pending, &mut self.spare, IO_BATCH);
        if queued < staged {
            tracing::trace!(transport = self.id, dropped = staged - queued, "receive queue full");
        }
    }
}

fn receive_loop(
    id: TransportId,
    socket: Arc<UdpSocket>,
    stop: Arc<AtomicBool>,
    queue: Arc<WorkQueue>,
    batched: bool,
) {
    set_role(Role::Receive);
    let per_call = if batched { IO_BATCH } else { 1 };
    let mut rx = Receiver {
        id,
        queue,
        pending: Vec::with_capacity(per_call),
        spare: Vec::with_capacity(IO_BATCH * 2),
    };
    // Zeroed allocations this large are fresh pages: untouched ones cost no memory.
    let mut arena = vec![0u8; per_call * MAX_DATAGRAM];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(per_call, None);
    while !stop.load(Ordering::Acquire) {
        let received = if batched {
            receive_batch(&socket, &mut headers, &mut arena, &mut rx)
        } else {
            socket.recv_from(&mut arena).map(|(len, from)| rx.stage(from, &arena[..len]))
        };
        if stop.load(Ordering::Acquire) {
            break;
        }
        match received {
            Ok(()) => rx.flush(),
            Err(e) if is_quiet(&e) => {}
            Err(e) => {
                // ICMP errors surfacing on the socket and the like: never fatal for the socket.
                tracing::debug!(transport = id, error = %e, "receive");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// One `recvmmsg`: waits for a datagram (up to [`RECEIVE_POLL`]), then takes what else is
/// already there, up to [`IO_BATCH`].
fn receive_batch(
    socket: &UdpSocket,
    headers: &mut MultiHeaders<SockaddrStorage>,
    arena: &mut [u8],
    rx: &mut Receiver,
) -> io::Result<()> {
    let mut chunks = arena.chunks_exact_mut(MAX_DATAGRAM);
    let mut slices: [[IoSliceMut<'_>; 1]; IO_BATCH] =
        std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or(&mut []))]);
    let results = recvmmsg(socket.as_raw_fd(), headers, slices.iter_mut(), MsgFlags::MSG_WAITFORONE, None)
        .map_err(io::Error::from)?;
    for message in results {
        let (Some(from), Some(bytes)) =
            (message.address.as_ref().and_then(socket_addr_of), message.iovs().next())
        else {
            continue;
        };
        rx.stage(from, bytes);
    }
    Ok(())
}

impl UdpPlatform {
    pub fn new(addresses: Vec<Ipv6Addr>, queue: Arc<WorkQueue>) -> Self {
        Self {
            addresses,
            queue,
            transports: HashMap::new(),
            retiring: Vec::new(),
            next_id: 0,
            batched: std::env::var(BATCH_ENV).map_or(true, |v| v.trim() != "0"),
            outgoing: Vec::with_capacity(IO_BATCH),
            sent: Vec::with_capacity(IO_BATCH),
            send_headers: MultiHeaders::preallocate(IO_BATCH, None),
            send_failures: 0,
        }
    }

    /// Takes one datagram the engine produced; it goes out with the next
    /// [`UdpPlatform::send_batch`], or now if [`IO_BATCH`] are already waiting.
    pub fn queue_send(&mut self, out: Outgoing) {
        if self.outgoing.len() >= IO_BATCH {
            self.send_batch();
        }
        self.outgoing.push(out);
    }

    /// Sends the staged datagrams without blocking (a full socket buffer drops them): runs of
    /// datagrams for the same socket go out in one `sendmmsg`.
    pub fn send_batch(&mut self) {
        let mut outgoing = std::mem::take(&mut self.outgoing);
        let mut start = 0;
        while start < outgoing.len() {
            let transport = outgoing[start].transport;
            let run = outgoing[start..].iter().take_while(|o| o.transport == transport).count();
            self.send_run(&outgoing[start..start + run]);
            start += run;
        }
        // Keeps the payloads for the engine to reuse, and the capacity.
        self.sent.append(&mut outgoing);
        self.outgoing = outgoing;
    }

    /// The datagrams sent since the last call, for their buffers to be reused.
    pub fn take_sent(&mut self) -> std::vec::Drain<'_, Outgoing> {
        self.sent.drain(..)
    }

    /// Datagrams for one socket.
    fn send_run(&mut self, run: &[Outgoing]) {
        let Some(t) = self.transports.get(&run[0].transport) else {
            self.send_failures += run.len() as u64;
            return;
        };
        let destination = |out: &Outgoing| {
            if t.ipv6 {
                Some(SocketAddr::V6(SocketAddrV6::new(out.destination.addr, out.destination.port, 0, 0)))
            } else {
                out.destination
                    .addr
                    .to_ipv4_mapped()
                    .map(|v4| SocketAddr::V4(SocketAddrV4::new(v4, out.destination.port)))
            }
        };
        let mut failures = 0u64;
        if !self.batched {
            for out in run {
                let Some(to) = destination(out) else {
                    failures += 1;
                    continue;
                };
                let flags = nix::libc::MSG_DONTWAIT;
                if let Err(e) = SockRef::from(&*t.socket).send_to_with_flags(&out.payload, &to.into(), flags)
                {
                    failures += 1;
                    tracing::debug!(transport = out.transport, destination = %to, error = %e, "send_to");
                }
            }
            self.send_failures += failures;
            return;
        }
        // Unsendable destinations are left out of the batch (counted as failures).
        let mut addrs: [Option<SockaddrStorage>; IO_BATCH] = [None; IO_BATCH];
        let mut slices: [[IoSlice<'_>; 1]; IO_BATCH] = std::array::from_fn(|_| [IoSlice::new(&[])]);
        let mut n = 0;
        for out in run.iter().take(IO_BATCH) {
            match destination(out) {
                Some(to) => {
                    addrs[n] = Some(SockaddrStorage::from(to));
                    slices[n] = [IoSlice::new(&out.payload)];
                    n += 1;
                }
                None => failures += 1,
            }
        }
        let fd = t.socket.as_raw_fd();
        let mut sent = 0;
        while sent < n {
            let no_cmsgs: [ControlMessage<'_>; 0] = [];
            match sendmmsg(
                fd,
                &mut self.send_headers,
                &slices[sent..n],
                &addrs[sent..n],
                no_cmsgs,
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(results) => {
                    let k = results.count();
                    if k == 0 {
                        failures += (n - sent) as u64;
                        break;
                    }
                    sent += k;
                }
                // The first datagram of the rest failed (its destination unreachable, the
                // socket buffer full): count it and go on with the others.
                Err(e) => {
                    tracing::debug!(transport = run[0].transport, error = %e, "sendmmsg");
                    failures += 1;
                    sent += 1;
                }
            }
        }
        self.send_failures += failures;
    }

    /// Closes the sockets unbound since the last call (after their last datagrams went out).
    pub fn reap(&mut self) {
        for id in std::mem::take(&mut self.retiring) {
            if let Some(t) = self.transports.remove(&id) {
                tracing::debug!(transport = id, port = t.port, "socket closed");
                t.close();
            }
        }
    }

    /// Closes every socket.
    pub fn close_all(&mut self) {
        for (_, t) in self.transports.drain() {
            t.close();
        }
        self.retiring.clear();
    }

    /// Sockets open (including ones waiting to be reaped).
    #[cfg(test)]
    pub fn socket_count(&self) -> usize {
        self.transports.len()
    }
}

impl Platform for UdpPlatform {
    fn bind(&mut self, port: u16, scope: u32, _scope_id: u32) -> Result<Bound, u32> {
        let (socket, ipv6) = bind_socket(port).map_err(|e| {
            tracing::info!(port, error = %e, "cannot bind UDP port");
            match e.kind() {
                io::ErrorKind::AddrInUse => status::ADDRESS_ALREADY_EXISTS,
                io::ErrorKind::PermissionDenied => status::ACCESS_DENIED,
                _ => status::UNEXPECTED_IO_ERROR,
            }
        })?;
        let bound_port = socket.local_addr().map(|a| a.port()).map_err(|_| status::UNEXPECTED_IO_ERROR)?;
        socket.set_read_timeout(Some(RECEIVE_POLL)).map_err(|_| status::UNEXPECTED_IO_ERROR)?;
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        self.next_id = self.next_id.wrapping_add(1).max(1);
        while self.transports.contains_key(&self.next_id) {
            self.next_id = self.next_id.wrapping_add(1).max(1);
        }
        let id = self.next_id;
        let thread = std::thread::Builder::new()
            .name(format!("peerdrt-recv-{bound_port}"))
            .spawn({
                let (socket, stop, queue) = (socket.clone(), stop.clone(), self.queue.clone());
                let batched = self.batched;
                move || receive_loop(id, socket, stop, queue, batched)
            })
            .map_err(|_| status::INSUFFICIENT_RESOURCES)?;
        tracing::debug!(transport = id, port = bound_port, ipv6, scope, "socket bound");
        self.transports.insert(id, Transport { socket, ipv6, port: bound_port, stop, thread: Some(thread) });
        Ok(Bound { id, port: bound_port, addresses: self.addresses.clone() })
    }

    fn unbind(&mut self, id: TransportId) {
        if self.transports.contains_key(&id) && !self.retiring.contains(&id) {
            self.retiring.push(id);
        }
    }

    fn utc_now(&mut self) -> Option<u64> {
        // FILETIME: 100 ns units since 1601-01-01, 11,644,473,600 s before the Unix epoch.
        let since_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
        let ticks = since_unix.as_nanos() / 100 + 11_644_473_600 * 10_000_000;
        u64::try_from(ticks).ok()
    }

    fn random_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        if let Err(e) = getrandom::fill(&mut seed) {
            // getrandom(2) does not fail on a supported kernel; never run with a fixed seed.
            tracing::error!(error = %e, "getrandom failed");
            std::process::abort();
        }
        seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_dual_stack_and_its_port_is_taken_until_reaped() {
        let queue = Arc::new(WorkQueue::default());
        let mut p = UdpPlatform::new(vec![Ipv6Addr::LOCALHOST], queue.clone());
        let bound = p.bind(0, 1, 0).unwrap();
        assert_ne!(bound.port, 0);
        assert_eq!(p.bind(bound.port, 1, 0), Err(status::ADDRESS_ALREADY_EXISTS));
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"hello", ("127.0.0.1", bound.port)).unwrap();
        let mut batch = super::super::queue::Batch::default();
        queue.take(Some(std::time::Instant::now() + Duration::from_secs(5)), &mut batch);
        let d = &batch.datagrams[0];
        assert_eq!((d.transport, &d.bytes[..]), (bound.id, &b"hello"[..]));
        assert_eq!(d.from.addr, Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        p.unbind(bound.id);
        assert_eq!(p.socket_count(), 1);
        p.reap();
        assert_eq!(p.socket_count(), 0);
        let again = p.bind(bound.port, 1, 0).unwrap();
        assert_eq!(again.port, bound.port);
        p.close_all();
    }

    #[test]
    fn io_batch_datagrams_wait_for_one_send_and_one_more_sends_them() {
        let queue = Arc::new(WorkQueue::default());
        let mut p = UdpPlatform::new(vec![Ipv6Addr::LOCALHOST], queue);
        let bound = p.bind(0, 1, 0).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to =
            Endpoint { addr: Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port: peer.local_addr().unwrap().port() };
        let out = |i: usize| Outgoing { transport: bound.id, destination: to, payload: vec![i as u8] };
        for i in 0..IO_BATCH {
            p.queue_send(out(i));
        }
        assert_eq!(p.outgoing.len(), IO_BATCH, "staged, none sent");
        p.queue_send(out(IO_BATCH));
        assert_eq!(p.outgoing.len(), 1, "the batch went out to make room");
        let mut buf = [0u8; 16];
        for i in 0..IO_BATCH {
            let (len, _) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((len, buf[0]), (1, i as u8));
        }
        p.close_all();
    }

    #[test]
    fn the_largest_datagram_udp_carries_arrives_whole_batched_or_not() {
        // 65,507 bytes: IPv4's largest UDP payload; MAX_DATAGRAM holds any (no larger can exist).
        let largest = 65_535 - 20 - 8;
        assert!(largest <= MAX_DATAGRAM);
        for batched in [true, false] {
            let queue = Arc::new(WorkQueue::default());
            let mut p = UdpPlatform::new(vec![Ipv6Addr::LOCALHOST], queue.clone());
            p.batched = batched;
            let bound = p.bind(0, 1, 0).unwrap();
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            let payload: Vec<u8> = (0..largest).map(|i| i as u8).collect();
            sender.send_to(&payload, ("127.0.0.1", bound.port)).unwrap();
            sender.send_to(b"next", ("127.0.0.1", bound.port)).unwrap();
            let mut received = Vec::new();
            let mut batch = super::super::queue::Batch::default();
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while received.len() < 2 && std::time::Instant::now() < deadline {
                queue.take(Some(deadline), &mut batch);
                received.extend(batch.datagrams.iter().map(|d| d.bytes.clone()));
            }
            assert_eq!(received, [payload, b"next".to_vec()], "batched: {batched}");
            p.close_all();
        }
    }

    /// More than one batch each way: everything sent arrives, in order, from the right socket.
    #[test]
    fn batches_larger_than_one_system_call_are_all_sent_and_received() {
        let count = IO_BATCH * 2 + 5;
        let queue = Arc::new(WorkQueue::default());
        let mut p = UdpPlatform::new(vec![Ipv6Addr::LOCALHOST], queue.clone());
        let bound = p.bind(0, 1, 0).unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let to =
            Endpoint { addr: Ipv4Addr::LOCALHOST.to_ipv6_mapped(), port: peer.local_addr().unwrap().port() };
        for i in 0..count {
            p.queue_send(Outgoing { transport: bound.id, destination: to, payload: vec![i as u8; 1 + i] });
        }
        p.send_batch();
        let mut buf = [0u8; 512];
        for i in 0..count {
            let (len, from) = peer.recv_from(&mut buf).unwrap();
            assert_eq!((len, buf[0], from.port()), (1 + i, i as u8, bound.port));
            // Echo it back, so the receive side sees a burst too.
            peer.send_to(&buf[..len], from).unwrap();
        }
        let mut received = Vec::new();
        let mut batch = super::super::queue::Batch::default();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while received.len() < count && std::time::Instant::now() < deadline {
            queue.take(Some(deadline), &mut batch);
            received.extend(batch.datagrams.iter().map(|d| d.bytes.len()));
        }
        assert_eq!(received, (1..=count).collect::<Vec<_>>());
        assert_eq!(p.send_failures, 0);
        p.close_all();
    }
}
