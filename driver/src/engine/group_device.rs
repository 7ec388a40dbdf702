//! The device's side of peer groups: the GROUP_* codes, the group socket and the peer clock.
//!
//! Decisions (see `docs/grouping.md`):
//! * **Peer time from the caller's UTC.** Every GROUP_* request carries the caller's UTC as a
//!   FILETIME; the device anchors its monotonic clock to the latest one, so timers and received
//!   datagrams between requests run on `utc + (now - anchor)`. The engine itself never reads a
//!   clock, and the kernel side needs no wall-clock call at DISPATCH_LEVEL.
//! * **One socket for all groups.** The first group opened binds a datagram socket on any port
//!   (global scope); every group of the device shares it (messages carry the group's tag) and
//!   CREATE / JOIN report its port. It stays bound while the device exists, so a group closed
//!   and reopened (one CLI command after another) keeps its address. A DRT instance's socket is
//!   not shared: a group must not depend on a cloud being open, and the DRT receive path stays as
//!   it is (datagrams of the group socket are routed before it).
//! * **Group events on the open's WAIT_EVENT queue.** While an open watches a group
//!   (GROUP_WATCH_EVENTS), every event of the group is queued, in order and none merged, on the
//!   open's queue as a [`GroupEventRecord`], beside any DRT events. At most
//!   [`GROUP_EVENT_QUEUE_DEPTH`] entries: when a group event finds the queue one short of it, it
//!   is dropped, and the last place holds an `EventsDropped` record whose count grows with
//!   every event dropped until the client reads and makes room. So the client keeps the oldest
//!   events and learns exactly how many followed them unseen.

use alloc::vec;

use peerdrt_abi::group::{self, GroupEventRecord, GroupRequest, MAX_GROUP_EVENT_LEN, status_of_hresult};
use peerdrt_abi::{Handle, status};
use peerdrt_core::group::member::Member;
use peerdrt_core::group::record::Record;
use peerdrt_core::group::time::PeerTime;
use peerdrt_core::time::Instant;
use peerdrt_core::wire::Endpoint;

use super::super::group::{GroupFailure, GroupTable};
use super::{Completion, Device, MAX_EVENTS_PER_OPEN, Outgoing, Platform, TransportId};
use crate::engine::OpenId;

/// DRT_GLOBAL_SCOPE: the group socket's scope.
const GROUP_SCOPE: u32 = 1;
/// Entries of an open's event queue that group events may fill, the last of them kept for the
/// `EventsDropped` record (see the module documentation).
pub const GROUP_EVENT_QUEUE_DEPTH: usize = group::EVENT_QUEUE_DEPTH;
const _: () = assert!(GROUP_EVENT_QUEUE_DEPTH <= MAX_EVENTS_PER_OPEN && GROUP_EVENT_QUEUE_DEPTH >= 2);

/// The device's groups.
#[derive(Debug, Default)]
pub(super) struct Groups {
    table: GroupTable,
    /// The group socket and its port, while any group is open.
    socket: Option<(TransportId, u16)>,
    /// The peer clock's anchor: a device instant and the caller's UTC at that instant.
    anchor: Option<(Instant, u64)>,
    /// Group events dropped for full queues, device-wide.
    events_dropped: u64,
}

impl Groups {
    /// Peer time at device instant `now`.
    fn peer_time(&self, now: Instant) -> PeerTime {
        let Some((at, utc)) = self.anchor else { return PeerTime(0) };
        let (now, at) = (now.as_millis(), at.as_millis());
        let ticks = |ms: u64| ms.saturating_mul(PeerTime::TICKS_PER_MILLI);
        if now >= at {
            PeerTime(utc.saturating_add(ticks(now - at)))
        } else {
            PeerTime(utc.saturating_sub(ticks(at - now)))
        }
    }

    /// The device instant at which peer time reaches `time` (rounded up).
    fn instant_of(&self, time: PeerTime) -> Option<Instant> {
        let (at, utc) = self.anchor?;
        let ahead = time.0.saturating_sub(utc).div_ceil(PeerTime::TICKS_PER_MILLI);
        Some(Instant::from_millis(at.as_millis().saturating_add(ahead)))
    }
}

fn failure_status(failure: GroupFailure) -> u32 {
    match failure {
        GroupFailure::Abi(e) => e.status(),
        GroupFailure::HResult(hr) => status_of_hresult(hr),
    }
}

impl Device {
    /// Runs a GROUP_* request: anchors the peer clock to the caller's `utc`, binds the group
    /// socket for the first group, runs the request and queues the datagrams it produced.
    pub(super) fn group_ioctl(
        &mut self,
        now: Instant,
        open: OpenId,
        utc: u64,
        request: &GroupRequest<'_>,
        output: &mut [u8],
        platform: &mut dyn Platform,
    ) -> Completion {
        if output.len() < group::output_needed(request.code()) {
            return Completion::fail(status::BUFFER_TOO_SMALL);
        }
        // The platform's clock when it has one: a caller's claimed time must not move the peer
        // clock other opens' groups run on.
        let utc = platform.utc_now().unwrap_or(utc);
        self.groups.anchor = Some((now, utc));
        let opens_group = matches!(
            request,
            GroupRequest::Create { .. } | GroupRequest::Join { .. } | GroupRequest::PasswordJoin { .. }
        );
        if opens_group && self.groups.socket.is_none() {
            match platform.bind(0, GROUP_SCOPE, 0) {
                Ok(bound) => {
                    self.groups.socket = Some((bound.id, bound.port));
                    self.groups.table.set_port(bound.port);
                }
                Err(status) => return Completion::fail(status),
            }
        }
        // All 32 bytes: they seed a new member's handshake entropy.
        let random = platform.random_seed();
        let peer = PeerTime(utc);
        let result = self.groups.table.execute(open, request, peer, &random, output);
        self.drain_groups(now);
        match result {
            Ok(information) => Completion::Complete { status: status::SUCCESS, information },
            Err(failure) => Completion::fail(failure_status(failure)),
        }
    }

    /// Routes a datagram of the group socket to the groups; `false` if `transport` is another
    /// socket (the datagram is the DRT's).
    pub(super) fn group_datagram(
        &mut self,
        now: Instant,
        transport: TransportId,
        from: Endpoint,
        bytes: &[u8],
    ) -> bool {
        if self.groups.socket.map(|(id, _)| id) != Some(transport) {
            return false;
        }
        let peer = self.groups.peer_time(now);
        self.groups.table.handle_datagram(from, bytes, peer);
        self.queue_group_datagrams(peer);
        true
    }

    /// Runs the groups' due timers.
    pub(super) fn group_timeout(&mut self, now: Instant) {
        if self.group_deadline().is_some_and(|d| d <= now) {
            let peer = self.groups.peer_time(now);
            self.groups.table.handle_timeout(peer);
            self.queue_group_datagrams(peer);
        }
    }

    /// When the groups next need [`Device::handle_timeout`].
    pub(super) fn group_deadline(&self) -> Option<Instant> {
        self.groups.table.next_deadline().and_then(|d| self.groups.instant_of(d))
    }

    /// Closes the groups of an open (its handle was cleaned up).
    pub(super) fn close_groups(&mut self, now: Instant, open: OpenId) {
        self.groups.table.close_open(open);
        self.drain_groups(now);
    }

    /// Queues the groups' datagrams.
    fn drain_groups(&mut self, now: Instant) {
        let peer = self.groups.peer_time(now);
        self.queue_group_datagrams(peer);
    }

    fn queue_group_datagrams(&mut self, peer: PeerTime) {
        self.queue_group_events();
        let Some((transport, _)) = self.groups.socket else {
            // No socket: nothing can be sent (and no group is open to want to).
            while self.groups.table.poll_transmit(peer).is_some() {}
            return;
        };
        while let Some(out) = self.groups.table.poll_transmit(peer) {
            self.push_outgoing(Outgoing { transport, destination: out.destination, payload: out.bytes });
        }
    }

    /// Moves the watched groups' events onto their opens' queues.
    fn queue_group_events(&mut self) {
        while let Some((open, notice)) = self.groups.table.poll_notice() {
            self.queue_group_event(open, &notice.record());
        }
    }

    /// Queues one group event on `open` under [`GROUP_EVENT_QUEUE_DEPTH`].
    fn queue_group_event(&mut self, open: OpenId, record: &GroupEventRecord<'_>) {
        let encode = |record: &GroupEventRecord<'_>| {
            let mut bytes = vec![0u8; MAX_GROUP_EVENT_LEN];
            let len = record.encode(&mut bytes).unwrap_or(0);
            bytes.truncate(len);
            bytes
        };
        let Some(o) = self.open_mut(open) else { return };
        // A pending wait means an empty queue: the event completes it.
        if !o.waits.is_empty() || o.events.len() < GROUP_EVENT_QUEUE_DEPTH - 1 {
            self.deliver(open, encode(record));
            return;
        }
        let dropped = |count| GroupEventRecord::EventsDropped { group: 0, count };
        let counted = match o.events.back().map(|last| GroupEventRecord::decode(last)) {
            Some(Ok(GroupEventRecord::EventsDropped { count, .. })) => Some(count.saturating_add(1)),
            _ => None,
        };
        match counted {
            Some(count) => {
                if let Some(last) = o.events.back_mut() {
                    *last = encode(&dropped(count));
                }
            }
            None if o.events.len() < GROUP_EVENT_QUEUE_DEPTH => o.events.push_back(encode(&dropped(1))),
            // The queue is full of other events: nowhere to count it but the device's counter.
            None => {}
        }
        self.groups.events_dropped += 1;
    }

    /// Group events dropped for full queues since the device started.
    pub fn group_events_dropped(&self) -> u64 {
        self.groups.events_dropped
    }

    /// The next record a group stored (added here or received) that the host must make durable;
    /// the host appends it to the group's log before it completes the request that produced it.
    pub fn poll_group_stored(&mut self) -> Option<(Handle, Record)> {
        self.groups.table.poll_stored()
    }

    /// The root key of group `group` of `open`, which names its durable log.
    pub fn group_root(&mut self, open: OpenId, group: Handle) -> Option<[u8; 32]> {
        self.groups.table.group_root(open, group)
    }

    /// The member of group `group` of `open`: whether it is synchronised, and its database (what
    /// the group's durable log is compacted from).
    pub fn group_member(&self, open: OpenId, group: Handle) -> Option<&Member<Endpoint>> {
        self.groups.table.member(open, group)
    }

    /// Restores a record replayed from the group's log; an HRESULT if it is refused.
    pub fn restore_group_record(
        &mut self,
        now: Instant,
        open: OpenId,
        group: Handle,
        record: &Record,
    ) -> Result<(), u32> {
        let peer = self.groups.peer_time(now);
        self.groups.table.restore(open, group, record, peer).map_err(|e| match e {
            GroupFailure::HResult(hr) => hr,
            GroupFailure::Abi(_) => group::hresult::E_INVALIDARG,
        })
    }

    /// Marks a group reopened from its durable log synchronised; `false` for a bad handle.
    pub fn mark_group_ready(&mut self, open: OpenId, group: Handle) -> bool {
        let ready = self.groups.table.mark_ready(open, group).is_ok();
        self.queue_group_events();
        ready
    }
}
