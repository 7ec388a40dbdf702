//! The worker: the one thread that owns the [`Device`] and enters it.
//!
//! It sleeps until the engine's next deadline or the next queued input, then runs, in order:
//! the queued commands (connects, IOCTLs, disconnects), the queued datagrams
//! ([`Device::handle_datagram`]) and the due timers ([`Device::handle_timeout`]); after each step
//! it sends what [`Device::poll_transmit`] yields on the right socket, closes sockets unbound in
//! the meantime, and answers the wait-for-event requests [`Device::poll_wait_completion`]
//! completed. This is the kernel driver's PASSIVE_LEVEL worker: receive threads (DISPATCH_LEVEL
//! callbacks there) only queue, and every engine entry happens here — `engine()` asserts it in
//! debug builds.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Sender, SyncSender};
use std::time::{Duration, Instant as StdInstant};

use peerdrt_abi::group::GroupRequest;
use peerdrt_abi::status;
use peerdrt_abi::{EventRecord, Handle, MAX_EVENT_LEN, Request, SecurityKind, drt_status};
use peerdrt_core::time::Instant;

use super::config::{Config, InstanceConfig, NodeKey, Security};
use super::queue::{Batch, WorkQueue};
use super::server::response_frame;
use super::udp::{UdpPlatform, endpoint_of};
use super::{Role, assert_on_worker, set_role};
use crate::engine::standing::{CloudSpec, NodeKey as StandingKey, StandingSpec, open_standing};
use crate::engine::{Completion, Device, DeviceStats, Irp, OpenId, Owner, WaitCompletion};
use crate::store::group_durability::{GroupDurability, Restored, state_dir};
use crate::store::group_store::StoreError;
use crate::store::std_file::StdDirectory;

/// Names a device connection.
pub(crate) type ConnId = u64;

/// The wait token of the daemon's own open (its standing instances' events).
const STANDING_WAIT: u64 = u64::MAX;
/// Datagrams handled between two flushes of the outbox.
const DATAGRAMS_PER_FLUSH: usize = 64;

/// For a connection's writer thread.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A response frame to write.
    Frame(Vec<u8>),
    /// The daemon is stopping: end the connection.
    Close,
}

/// Work for the worker.
#[derive(Debug)]
pub(crate) enum Command {
    /// A connection was accepted: open the device for it (`reply`: whether it could).
    Connect { conn: ConnId, owner: Owner, outbound: Sender<Outbound>, reply: SyncSender<bool> },
    /// One request frame.
    Ioctl { conn: ConnId, request_id: u64, code: u32, input: Vec<u8>, capacity: usize },
    /// The connection closed: clean up and close its open.
    Disconnect { conn: ConnId },
    /// Stop: close every open and instance, send their last datagrams, close the sockets.
    Shutdown,
}

#[derive(Debug)]
struct Conn {
    open: OpenId,
    outbound: Sender<Outbound>,
}

/// Counters reported when the worker stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerStats {
    /// The device's counters.
    pub device: DeviceStats,
    /// Datagrams dropped for a full receive queue.
    pub receive_dropped: u64,
    /// Datagrams that could not be sent.
    pub send_failures: u64,
}

pub(crate) struct Worker {
    device: Device,
    platform: UdpPlatform,
    queue: Arc<WorkQueue>,
    origin: StdInstant,
    conns: HashMap<ConnId, Conn>,
    by_open: HashMap<OpenId, ConnId>,
    /// The daemon's own open, holding the standing instances.
    standing: Option<OpenId>,
    standing_ports: Vec<(Handle, u16)>,
    /// The groups' logs: records are made durable before the request that stored them completes.
    groups: GroupDurability<StdDirectory>,
}

fn status_text(status: u32) -> String {
    let name = match status {
        status::ADDRESS_ALREADY_EXISTS => "port in use",
        status::ACCESS_DENIED => "access denied",
        status::INSUFFICIENT_RESOURCES => "out of resources",
        status::INVALID_PARAMETER => "invalid parameter",
        _ => "failed",
    };
    format!("{name} (NTSTATUS {status:#010x}, HRESULT {:#010x})", status::to_hresult(status))
}

fn status_name(s: u32) -> &'static str {
    match s {
        drt_status::ACTIVE => "ACTIVE",
        drt_status::ALONE => "ALONE",
        drt_status::NO_NETWORK => "NO_NETWORK",
        drt_status::FAULTED => "FAULTED",
        _ => "unknown",
    }
}

impl Worker {
    /// Runs on the worker thread: the device, the daemon's open and its standing instances.
    pub fn new(config: &Config, queue: Arc<WorkQueue>) -> Result<Self, String> {
        set_role(Role::Worker);
        let mut worker = Self {
            device: Device::new(),
            platform: UdpPlatform::new(config.addresses.clone(), queue.clone()),
            queue,
            origin: StdInstant::now(),
            conns: HashMap::new(),
            by_open: HashMap::new(),
            standing: None,
            standing_ports: Vec::new(),
            groups: GroupDurability::new(StdDirectory::new(state_dir(&config.socket).join("groups"))),
        };
        worker.device.set_flood_limits(config.flood_limits);
        worker.device.set_search_settings(config.search);
        if !config.instances.is_empty() {
            let owner = Owner { pid: std::process::id(), uid: nix::unistd::Uid::current().as_raw() };
            let open = worker.engine().0.open(owner).ok_or("the device has no free open")?;
            worker.standing = Some(open);
            for instance in &config.instances {
                if let Err(e) = worker.open_standing(open, instance, config.addresses.len()) {
                    worker.stop();
                    return Err(e);
                }
            }
            worker.arm_standing_wait();
            worker.flush();
        }
        Ok(worker)
    }

    /// The device and the platform, entered only on the worker thread (PASSIVE_LEVEL).
    fn engine(&mut self) -> (&mut Device, &mut UdpPlatform) {
        assert_on_worker();
        (&mut self.device, &mut self.platform)
    }

    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn to_std(&self, instant: Instant) -> StdInstant {
        self.origin.checked_add(Duration::from_millis(instant.as_millis())).unwrap_or_else(|| {
            // Centuries away: sleep "forever", in steps.
            StdInstant::now() + Duration::from_secs(3600)
        })
    }

    fn ioctl(&mut self, open: OpenId, request: &Request<'_>, output: &mut [u8], token: u64) -> Completion {
        let mut input = [0u8; 1024];
        let Ok(len) = request.encode(&mut input) else {
            return Completion::Complete { status: status::INVALID_PARAMETER, information: 0 };
        };
        let now = self.now();
        let (device, platform) = self.engine();
        device.ioctl(now, open, Irp { code: request.code(), input: &input[..len], output, token }, platform)
    }

    fn open_standing(&mut self, open: OpenId, c: &InstanceConfig, addresses: usize) -> Result<(), String> {
        let seeds: Vec<_> = c.seeds.iter().map(|s| endpoint_of(*s)).collect();
        let spec = StandingSpec {
            version: c.version,
            port: c.port,
            seeds: &seeds,
            security: match c.security {
                Security::Null => SecurityKind::Null,
            },
            key: match c.key {
                NodeKey::Random => StandingKey::Random,
                NodeKey::Fixed(key) => StandingKey::Fixed(key),
                NodeKey::None => StandingKey::None,
            },
            app_data: &c.app_data,
            cloud: c.cloud.as_ref().map(|cloud| CloudSpec {
                name: &cloud.name,
                scope: cloud.scope,
                scope_id: cloud.scope_id,
            }),
            max_addresses: addresses as u32,
        };
        let now = self.now();
        let (device, platform) = self.engine();
        let standing = open_standing(device, platform, now, open, &spec)
            .map_err(|e| format!("standing instance on port {}: {e}", c.port))?;
        self.standing_ports.push((standing.instance, standing.port));
        tracing::info!(
            port = standing.port,
            version = format!("{}.{}", c.version.0, c.version.1),
            seeds = ?c.seeds,
            "standing instance open"
        );
        if let Some(cloud) = &c.cloud {
            tracing::info!(cloud = %cloud.name, port = standing.port, "PNRP cloud published");
        }
        if let Some(key) = standing.key {
            tracing::info!(port = standing.port, key = %Hex(&key), "standing instance key registered");
        }
        Ok(())
    }

    /// Keeps one wait pending on the daemon's open, logging the events its instances report.
    fn arm_standing_wait(&mut self) {
        let Some(open) = self.standing else { return };
        loop {
            let mut output = vec![0u8; MAX_EVENT_LEN];
            match self.ioctl(open, &Request::WaitEvent, &mut output, STANDING_WAIT) {
                Completion::Pending => return,
                Completion::Complete { status: status::SUCCESS, information } => {
                    self.log_standing_event(&output[..information])
                }
                Completion::Complete { status, .. } => {
                    tracing::warn!(status = status_text(status), "standing instances: event wait refused");
                    return;
                }
            }
        }
    }

    fn log_standing_event(&self, bytes: &[u8]) {
        let port_of = |h: Handle| self.standing_ports.iter().find(|(i, _)| *i == h).map_or(0, |(_, p)| *p);
        match EventRecord::decode(bytes) {
            Ok(EventRecord::StatusChanged { instance, status, bootstrap }) => {
                let seeds: Vec<String> = bootstrap
                    .iter()
                    .map(|e| format!("[{}]:{}", std::net::Ipv6Addr::from(e.addr), e.port))
                    .collect();
                tracing::info!(
                    port = port_of(instance),
                    status = status_name(status),
                    ?seeds,
                    "standing instance status"
                );
            }
            Ok(EventRecord::LeafSetKeyChanged { instance, change, remote_key, .. }) => {
                tracing::debug!(
                    port = port_of(instance),
                    change = if change == 0 { "added" } else { "deleted" },
                    remote_key = %Hex(remote_key),
                    "standing instance leaf set"
                );
            }
            Ok(other) => tracing::debug!(event = ?other, "standing instance event"),
            Err(e) => tracing::warn!(error = %e, "undecodable event"),
        }
    }

    /// Sends the engine's datagrams, closes unbound sockets, answers completed waits.
    fn flush(&mut self) {
        // Records received from other members are made durable too (failures are logged).
        if let Err(e) = self.groups.persist(&mut self.device) {
            tracing::error!(error = %e, "group record not made durable");
        }
        loop {
            let (device, platform) = self.engine();
            let mut sent = false;
            while let Some(out) = device.poll_transmit() {
                platform.queue_send(out);
                sent = true;
            }
            platform.send_batch();
            for out in platform.take_sent() {
                device.recycle(out.transport, out.payload);
            }
            platform.reap();
            let mut completed = false;
            while let Some(c) = self.engine().0.poll_wait_completion() {
                self.deliver(c);
                completed = true;
            }
            if !sent && !completed {
                return;
            }
        }
    }

    fn deliver(&mut self, c: WaitCompletion) {
        if Some(c.open) == self.standing && c.token == STANDING_WAIT {
            if c.status == status::SUCCESS {
                self.log_standing_event(&c.output);
                self.arm_standing_wait();
            }
            return;
        }
        let Some(conn) = self.by_open.get(&c.open).and_then(|id| self.conns.get(id)) else { return };
        let _ = conn.outbound.send(Outbound::Frame(response_frame(c.token, c.status, &c.output)));
    }

    fn command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Connect { conn, owner, outbound, reply } => {
                let opened = self.engine().0.open(owner);
                if let Some(open) = opened {
                    tracing::debug!(conn, pid = owner.pid, uid = owner.uid, ?open, "device opened");
                    self.conns.insert(conn, Conn { open, outbound });
                    self.by_open.insert(open, conn);
                }
                let _ = reply.send(opened.is_some());
            }
            Command::Ioctl { conn, request_id, code, input, capacity } => {
                let Some(open) = self.conns.get(&conn).map(|c| c.open) else { return };
                let mut output = vec![0u8; capacity];
                let (device, platform) = self.engine();
                let completion = device.ioctl(
                    now,
                    open,
                    Irp { code, input: &input, output: &mut output, token: request_id },
                    platform,
                );
                let completion = match completion {
                    Completion::Complete { status, information } => {
                        let information = information.min(capacity);
                        if status == status::SUCCESS {
                            let opened =
                                self.groups.opened(&mut self.device, now, open, code, &output[..information]);
                            log_group_opened(opened);
                        }
                        // Durable before the reply: a record AddRecord reported survives a kill.
                        let persisted = self.groups.persist(&mut self.device);
                        if let Err(e) = &persisted {
                            tracing::error!(error = %e, "group record not made durable");
                        }
                        if status == status::SUCCESS
                            && let Ok(Request::Group { request: GroupRequest::Close { group }, .. }) =
                                Request::decode(code, &input)
                        {
                            self.groups.closed(group);
                        }
                        // PeerGroupDelete: the group's log goes before the reply.
                        let persisted = match Request::decode(code, &input) {
                            Ok(Request::Group { request: GroupRequest::Delete { root }, .. })
                                if status == status::SUCCESS =>
                            {
                                persisted.and(self.groups.deleted(root).map(|_| ()))
                            }
                            _ => persisted,
                        };
                        match persisted {
                            Ok(()) => Completion::Complete { status, information },
                            Err(_) => {
                                Completion::Complete { status: status::UNEXPECTED_IO_ERROR, information: 0 }
                            }
                        }
                    }
                    pending => pending,
                };
                if let Completion::Complete { status, information } = completion
                    && let Some(c) = self.conns.get(&conn)
                {
                    let _ = c.outbound.send(Outbound::Frame(response_frame(
                        request_id,
                        status,
                        &output[..information.min(capacity)],
                    )));
                }
            }
            Command::Disconnect { conn } => {
                let Some(c) = self.conns.remove(&conn) else { return };
                self.by_open.remove(&c.open);
                self.groups.open_closed(c.open);
                let (device, platform) = self.engine();
                device.close(now, c.open, platform);
                tracing::debug!(conn, open = ?c.open, "device closed");
            }
            Command::Shutdown => {}
        }
    }

    /// The worker loop; returns on [`Command::Shutdown`].
    pub fn run(mut self) -> WorkerStats {
        let mut last_timeout: Option<Instant> = None;
        // Reused by every take: the queue swaps its full queues for these emptied ones.
        let mut batch = Batch::default();
        loop {
            let deadline = self.engine().0.next_deadline().map(|d| match last_timeout {
                // Never spin on a deadline that handle_timeout just saw.
                Some(t) if d <= t => self.to_std(Instant::from_millis(t.as_millis() + 1)),
                _ => self.to_std(d),
            });
            self.queue.take(deadline, &mut batch);
            while let Some(command) = batch.commands.pop_front() {
                if let Command::Shutdown = command {
                    return self.stop();
                }
                self.command(command);
                self.flush();
            }
            for (i, d) in batch.datagrams.iter().enumerate() {
                let now = self.now();
                self.engine().0.handle_datagram(now, d.transport, d.from, &d.bytes);
                if i % DATAGRAMS_PER_FLUSH == DATAGRAMS_PER_FLUSH - 1 {
                    self.flush();
                }
            }
            let now = self.now();
            if self.engine().0.next_deadline().is_some_and(|d| d <= now) {
                self.engine().0.handle_timeout(now);
                last_timeout = Some(now);
            }
            self.flush();
        }
    }

    /// Closes every open (cancelling their waits, revoking their keys) and the standing
    /// instances, sends the last datagrams, closes the sockets.
    fn stop(&mut self) -> WorkerStats {
        let now = self.now();
        let opens: Vec<OpenId> = self.conns.values().map(|c| c.open).collect();
        for open in opens {
            let (device, platform) = self.engine();
            device.close(now, open, platform);
        }
        // Connections see their pending waits cancelled, then their stream end.
        self.flush();
        for (_, conn) in self.conns.drain() {
            let _ = conn.outbound.send(Outbound::Close);
        }
        self.by_open.clear();
        if let Some(open) = self.standing.take() {
            let (device, platform) = self.engine();
            device.close(now, open, platform);
        }
        self.flush();
        self.platform.close_all();
        let stats = WorkerStats {
            device: self.device.stats(),
            receive_dropped: self.queue.dropped(),
            send_failures: self.platform.send_failures,
        };
        tracing::info!(?stats, "worker stopped");
        stats
    }
}

struct Hex<'a>(&'a [u8]);

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Logs what [`GroupDurability::opened`] did.
fn log_group_opened(opened: Option<Result<Restored, StoreError>>) {
    match opened {
        Some(Ok(r)) => tracing::info!(
            log = %r.log,
            entries = r.entries,
            restored = r.restored,
            refused = r.refused,
            truncated = r.truncated,
            existed = r.existed,
            synchronised = r.synchronised,
            set_aside = ?r.set_aside,
            "group log replayed"
        ),
        Some(Err(e)) => tracing::error!(error = %e, "group log unusable; the group runs without durability"),
        None => {}
    }
}
