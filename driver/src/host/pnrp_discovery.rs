//! Link-local PNRP clouds finding each other by multicast (peerdrt-core's
//! `pnrp::discovery` exchange over `[FF02::C%<interface>]:1900`).
//!
//! At start, a link-local cloud without configured seeds asks its link for nodes of that cloud
//! and bootstraps from those that answer ([`discover`]); while the daemon runs, a [`Responder`]
//! answers such searches with its clouds' ports, so nodes started later find it. Loopback
//! carries no multicast on Linux, so this works on real links only.

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peerdrt_abi::MAX_SEEDS;
use peerdrt_core::pnrp::discovery::{
    LINK_LOCAL_TARGET, MAX_MESSAGE, Message, SSDP_GROUP, SSDP_PORT, answer_to, port_in_answer,
};
use socket2::{Domain, Protocol, Socket, Type};

/// How long a start-up search waits for answers.
pub const DISCOVERY_WAIT: Duration = Duration::from_millis(1000);
/// How often the responder checks whether to stop.
const POLL: Duration = Duration::from_millis(200);

/// Asks the link with interface index `scope_id` for nodes of its link-local cloud; their
/// cloud endpoints (at most [`MAX_SEEDS`]). Nothing on a link without multicast.
pub fn discover(scope_id: u32, wait: Duration) -> Vec<SocketAddr> {
    let run = || -> io::Result<Vec<SocketAddr>> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())?;
        socket.set_multicast_if_v6(scope_id)?;
        socket.set_multicast_loop_v6(true)?;
        let socket: UdpSocket = socket.into();
        let search = Message::Search { target: LINK_LOCAL_TARGET }.encode();
        socket.send_to(&search, SocketAddrV6::new(SSDP_GROUP, SSDP_PORT, 0, scope_id))?;
        let deadline = Instant::now() + wait;
        let mut found = Vec::new();
        let mut buf = [0u8; MAX_MESSAGE];
        while let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) {
            socket.set_read_timeout(Some(left))?;
            let Ok((n, from)) = socket.recv_from(&mut buf) else { break };
            let (SocketAddr::V6(from), Some(port)) = (from, port_in_answer(&buf[..n], LINK_LOCAL_TARGET))
            else {
                continue;
            };
            let seed = SocketAddr::V6(SocketAddrV6::new(*from.ip(), port, 0, scope_id));
            if !found.contains(&seed) && found.len() < MAX_SEEDS {
                found.push(seed);
            }
        }
        Ok(found)
    };
    run().unwrap_or_else(|e| {
        tracing::debug!(scope_id, error = %e, "link-local discovery unavailable");
        Vec::new()
    })
}

/// Answers searches for this daemon's link-local clouds.
#[derive(Debug)]
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    /// Listens on `[::]:1900` (shared with other SSDP listeners) in the group of every cloud's
    /// interface; `clouds` maps interface index → cloud port.
    pub fn start(clouds: BTreeMap<u32, u16>) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_only_v6(true)?;
        socket.set_reuse_address(true)?;
        // Several daemons (and other SSDP listeners) on one host share the port.
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReusePort, &true)?;
        socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, SSDP_PORT)).into())?;
        for scope_id in clouds.keys() {
            socket.join_multicast_v6(&SSDP_GROUP, *scope_id)?;
        }
        socket.set_read_timeout(Some(POLL))?;
        let socket: UdpSocket = socket.into();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("peerdrt-pnrp-discovery".into()).spawn(move || {
            let mut buf = [0u8; MAX_MESSAGE];
            while !flag.load(Ordering::Acquire) {
                let Ok((n, SocketAddr::V6(from))) = socket.recv_from(&mut buf) else { continue };
                let Some(port) = clouds.get(&from.scope_id()) else { continue };
                if let Some(answer) = answer_to(&buf[..n], &[(LINK_LOCAL_TARGET, *port)]) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        })?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
