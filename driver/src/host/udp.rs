//! The UDP transports: one socket per DRT instance (the engine's [`Platform::bind`]), each with a
//! receive thread that only queues what arrives for the worker.
//!
//! Sockets are IPv6 dual-stack (`[::]:port` with `IPV6_V6ONLY` off), so IPv4 peers arrive as
//! `::ffff:a.b.c.d` — the form the engine and the wire use for IPv4. Where IPv6 is unavailable a
//! socket falls back to IPv4 (`0.0.0.0:port`) and speaks to IPv4-mapped destinations only.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use peerdrt_abi::status;
use peerdrt_core::wire::Endpoint;
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use super::queue::{Datagram, WorkQueue};
use super::{Role, set_role};
use crate::engine::{Bound, Outgoing, Platform, TransportId};

/// Largest UDP payload; the receive buffer's size.
pub const MAX_DATAGRAM: usize = 65_535;
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

fn receive_loop(id: TransportId, socket: Arc<UdpSocket>, stop: Arc<AtomicBool>, queue: Arc<WorkQueue>) {
    set_role(Role::Receive);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    while !stop.load(Ordering::Acquire) {
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                let datagram =
                    Datagram { transport: id, from: endpoint_of(from), bytes: buf[..len].to_vec() };
                if !queue.push_datagram(datagram) {
                    tracing::trace!(transport = id, "receive queue full; datagram dropped");
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                if stop.load(Ordering::Acquire) {
                    break;
                }
                // ICMP errors surfacing on the socket and the like: never fatal for the socket.
                tracing::debug!(transport = id, error = %e, "recv_from");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

impl UdpPlatform {
    pub fn new(addresses: Vec<Ipv6Addr>, queue: Arc<WorkQueue>) -> Self {
        Self {
            addresses,
            queue,
            transports: HashMap::new(),
            retiring: Vec::new(),
            next_id: 0,
            send_failures: 0,
        }
    }

    /// Sends one datagram the engine produced, without blocking (a full socket buffer drops it).
    pub fn send(&mut self, out: &Outgoing) {
        let Some(t) = self.transports.get(&out.transport) else {
            self.send_failures += 1;
            return;
        };
        let destination = if t.ipv6 {
            SocketAddr::V6(SocketAddrV6::new(out.destination.addr, out.destination.port, 0, 0))
        } else if let Some(v4) = out.destination.addr.to_ipv4_mapped() {
            SocketAddr::V4(SocketAddrV4::new(v4, out.destination.port))
        } else {
            self.send_failures += 1;
            return;
        };
        let flags = nix::libc::MSG_DONTWAIT;
        if let Err(e) = SockRef::from(&*t.socket).send_to_with_flags(&out.payload, &destination.into(), flags)
        {
            self.send_failures += 1;
            tracing::debug!(transport = out.transport, %destination, error = %e, "send_to");
        }
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
                move || receive_loop(id, socket, stop, queue)
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
        let batch = queue.take(Some(std::time::Instant::now() + Duration::from_secs(5)));
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
}
