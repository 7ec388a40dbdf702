//! Group events for PeerGroupRegisterEvent / PeerGroupGetEventData, from the device.
//!
//! A registration asks the device to watch its group (GROUP_WATCH_EVENTS); from then on the
//! device queues every event of the group — each record change with its ID and type, each
//! member change with the member's key, each status change, each failed connection — on the
//! connection's WAIT_EVENT queue, in order and none merged. One [`EventHub`] per device
//! connection keeps one WAIT_EVENT outstanding and hands each event to the registrations of its
//! group whose interests want it; each registration queues it and signals its event handle.
//!
//! Bounds: the device's queue (`GROUP_EVENT_QUEUE_DEPTH`) ends in an `EventsDropped` count when
//! the hub falls behind; a registration holds at most [`MAX_QUEUED_EVENTS`]. Both keep their
//! oldest events and drop newer ones while full, counting them ([`Registration::dropped`]), so
//! what an application reads is always a gap-free prefix followed by the events after it made
//! room.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use peerdrt_abi::group::GroupEventRecord;
use peerdrt_abi::{MAX_EVENT_LEN, Request, ioctl, status};

use super::client::{GroupHandle, GroupResult};
use super::types::{
    PEER_GROUP_EVENT_AUTHENTICATION_FAILED, PEER_GROUP_EVENT_CONNECTION_FAILED,
    PEER_GROUP_EVENT_MEMBER_CHANGED, PEER_GROUP_EVENT_RECORD_CHANGED, PEER_GROUP_EVENT_STATUS_CHANGED,
};
use crate::device::{self, Device};
use crate::event::{Signal, lock};

/// Most events queued per registration; while it is full newer events are dropped and counted
/// (an application that does not drain its queue loses new events, not memory, and never
/// sees a gap inside what it reads).
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// One event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEvent {
    /// The PEER_GROUP_STATUS flags changed.
    Status(u32),
    /// A record was added, updated, deleted or expired (PEER_RECORD_*), with its ID and type.
    Record {
        /// PEER_RECORD_ADDED / UPDATED / DELETED / EXPIRED.
        change: u32,
        /// The record's ID.
        id: [u8; 16],
        /// Its type.
        record_type: [u8; 16],
    },
    /// A member connected, disconnected or joined (PEER_MEMBER_*), with its key.
    Member {
        /// PEER_MEMBER_CONNECTED / DISCONNECTED / JOINED.
        change: u32,
        /// The member's key.
        member: [u8; 32],
    },
    /// A connection this node started failed (hrConnectionFailedReason).
    ConnectionFailed(u32),
    /// A password proof failed, this node's or a joiner's (the reason, as
    /// hrConnectionFailedReason).
    AuthenticationFailed(u32),
}

impl GroupEvent {
    /// The event of a device record, with its group (`None` for the dropped-events count).
    fn of(record: &GroupEventRecord<'_>) -> Option<(u64, GroupEvent)> {
        Some(match *record {
            GroupEventRecord::RecordChanged { group, change, id, record_type } => {
                (group, GroupEvent::Record { change, id: *id, record_type: *record_type })
            }
            GroupEventRecord::MemberChanged { group, change, member } => {
                (group, GroupEvent::Member { change, member: *member })
            }
            GroupEventRecord::StatusChanged { group, status } => (group, GroupEvent::Status(status)),
            GroupEventRecord::ConnectionFailed { group, hresult } => {
                (group, GroupEvent::ConnectionFailed(hresult))
            }
            GroupEventRecord::AuthenticationFailed { group, hresult } => {
                (group, GroupEvent::AuthenticationFailed(hresult))
            }
            GroupEventRecord::EventsDropped { .. } => return None,
        })
    }
}

/// What one registration asked for: an event type and, for RECORD_CHANGED, a record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// PEER_GROUP_EVENT_*.
    pub event_type: u32,
    /// Only records of this type (`pType`), if given.
    pub record_type: Option<[u8; 16]>,
}

/// Whether `interests` want `event`.
pub fn wanted(interests: &[Interest], event: &GroupEvent) -> bool {
    interests.iter().any(|i| match event {
        GroupEvent::Status(_) => i.event_type == PEER_GROUP_EVENT_STATUS_CHANGED,
        GroupEvent::Member { .. } => i.event_type == PEER_GROUP_EVENT_MEMBER_CHANGED,
        GroupEvent::ConnectionFailed(_) => i.event_type == PEER_GROUP_EVENT_CONNECTION_FAILED,
        GroupEvent::AuthenticationFailed(_) => i.event_type == PEER_GROUP_EVENT_AUTHENTICATION_FAILED,
        GroupEvent::Record { record_type, .. } => {
            i.event_type == PEER_GROUP_EVENT_RECORD_CHANGED && i.record_type.is_none_or(|t| t == *record_type)
        }
    })
}

/// A registration's queue.
#[derive(Debug, Default)]
struct Queue {
    events: VecDeque<GroupEvent>,
    /// Events lost: dropped here while full, or reported dropped by the device.
    dropped: u64,
}

impl Queue {
    /// Queues `event` unless full; whether it was queued.
    fn push(&mut self, event: GroupEvent) -> bool {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.dropped += 1;
            return false;
        }
        self.events.push_back(event);
        true
    }
}

#[derive(Debug)]
struct Subscriber {
    id: usize,
    group: u64,
    interests: Vec<Interest>,
    queue: Arc<Mutex<Queue>>,
    signal: Signal,
}

/// The event pump of one device connection and the registrations it feeds.
#[derive(Debug)]
pub struct EventHub {
    subscribers: Mutex<Vec<Arc<Subscriber>>>,
    next_id: AtomicUsize,
}

impl EventHub {
    /// Starts the pump on `device`: one WAIT_EVENT outstanding until the connection closes or
    /// the hub is dropped (the pump then ends with the next event).
    pub fn start(device: Device) -> Arc<Self> {
        let hub = Arc::new(Self { subscribers: Mutex::new(Vec::new()), next_id: AtomicUsize::new(1) });
        let weak = Arc::downgrade(&hub);
        let spawned =
            std::thread::Builder::new().name("peerdrt-group-events".into()).spawn(move || pump(weak, device));
        if spawned.is_err() {
            // Without a pump no event is delivered; registrations still work, and stay empty.
        }
        hub
    }

    /// Hands one WAIT_EVENT reply to the registrations that want it.
    fn dispatch(&self, bytes: &[u8]) {
        let Ok(record) = GroupEventRecord::decode(bytes) else { return };
        let subscribers = lock(&self.subscribers).clone();
        let Some((group, event)) = GroupEvent::of(&record) else {
            // The device dropped events: every registration of this connection may have lost some.
            if let GroupEventRecord::EventsDropped { count, .. } = record {
                for s in &subscribers {
                    lock(&s.queue).dropped += u64::from(count);
                }
            }
            return;
        };
        for s in subscribers.iter().filter(|s| s.group == group && wanted(&s.interests, &event)) {
            if lock(&s.queue).push(event) {
                s.signal.set().run();
            }
        }
    }
}

/// The pump: one WAIT_EVENT outstanding at a time.
fn pump(hub: Weak<EventHub>, device: Device) {
    let Ok(input) = device::encode(&Request::WaitEvent) else { return };
    loop {
        let reply = device.ioctl(ioctl::WAIT_EVENT, &input, MAX_EVENT_LEN);
        let Some(hub) = hub.upgrade() else { return };
        match reply {
            Ok((status::SUCCESS, output)) => hub.dispatch(&output),
            Ok((status::INSUFFICIENT_RESOURCES, _)) => std::thread::sleep(Duration::from_millis(10)),
            _ => return,
        }
    }
}

/// A registration: its queue, fed by the hub while it lives.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<EventHub>,
    group: Arc<GroupHandle>,
    subscriber: Arc<Subscriber>,
}

impl Registration {
    /// Registers for `group`'s events of `interests` on `hub` (the pump of the group's
    /// connection), signalling `signal` whenever one is queued; the device starts watching the
    /// group if it was not.
    pub(crate) fn start(
        hub: &Arc<EventHub>,
        group: Arc<GroupHandle>,
        interests: Vec<Interest>,
        signal: Signal,
    ) -> GroupResult<Self> {
        let subscriber = Arc::new(Subscriber {
            id: hub.next_id.fetch_add(1, Ordering::Relaxed),
            group: group.handle,
            interests,
            queue: Arc::default(),
            signal,
        });
        lock(&hub.subscribers).push(subscriber.clone());
        let registration = Self { hub: hub.clone(), group, subscriber };
        registration.group.watch_events(true)?;
        Ok(registration)
    }

    /// The next queued event, if any.
    pub fn next(&self) -> Option<GroupEvent> {
        lock(&self.subscriber.queue).events.pop_front()
    }

    /// Events this registration lost to a full queue (its own or the device's).
    pub fn dropped(&self) -> u64 {
        lock(&self.subscriber.queue).dropped
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut subscribers = lock(&self.hub.subscribers);
        subscribers.retain(|s| s.id != self.subscriber.id);
        let last = !subscribers.iter().any(|s| s.group == self.group.handle);
        drop(subscribers);
        if last {
            // Best effort: a closed group or connection has stopped watching anyway.
            let _ = self.group.watch_events(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::types::{PEER_MEMBER_CONNECTED, PEER_RECORD_ADDED};

    const T: [u8; 16] = [1; 16];

    #[test]
    fn registrations_filter_by_event_type_and_record_type() {
        let record = GroupEvent::Record { change: PEER_RECORD_ADDED, id: [0; 16], record_type: T };
        let any = Interest { event_type: PEER_GROUP_EVENT_RECORD_CHANGED, record_type: None };
        let of_t = Interest { event_type: PEER_GROUP_EVENT_RECORD_CHANGED, record_type: Some(T) };
        let other = Interest { event_type: PEER_GROUP_EVENT_RECORD_CHANGED, record_type: Some([2; 16]) };
        let status = Interest { event_type: PEER_GROUP_EVENT_STATUS_CHANGED, record_type: None };
        let failed = Interest { event_type: PEER_GROUP_EVENT_CONNECTION_FAILED, record_type: None };
        assert!(wanted(&[any], &record) && wanted(&[of_t], &record));
        assert!(!wanted(&[other], &record) && !wanted(&[status], &record));
        assert!(wanted(&[status], &GroupEvent::Status(1)));
        assert!(!wanted(&[any], &GroupEvent::Member { change: PEER_MEMBER_CONNECTED, member: [0; 32] }));
        assert!(
            wanted(&[failed], &GroupEvent::ConnectionFailed(1)) && !wanted(&[failed], &GroupEvent::Status(1))
        );
    }

    #[test]
    fn a_full_registration_keeps_its_oldest_events_and_counts_the_rest() {
        let mut q = Queue::default();
        for n in 0..MAX_QUEUED_EVENTS {
            assert!(q.push(GroupEvent::Status(n as u32)), "event {n} fits");
        }
        assert_eq!(q.dropped, 0, "at the limit nothing is lost");
        assert!(!q.push(GroupEvent::Status(9999)), "one past the limit is dropped");
        assert_eq!((q.events.len(), q.dropped), (MAX_QUEUED_EVENTS, 1));
        assert_eq!(q.events.front(), Some(&GroupEvent::Status(0)));
        assert_eq!(q.events.back(), Some(&GroupEvent::Status(MAX_QUEUED_EVENTS as u32 - 1)));
        q.events.pop_front();
        assert!(q.push(GroupEvent::Status(10_000)), "room again");
    }

    #[test]
    fn device_records_become_events_of_their_group() {
        let record = GroupEventRecord::MemberChanged { group: 7, change: 2, member: &[5; 32] };
        assert_eq!(GroupEvent::of(&record), Some((7, GroupEvent::Member { change: 2, member: [5; 32] })));
        assert_eq!(GroupEvent::of(&GroupEventRecord::EventsDropped { group: 0, count: 3 }), None);
    }
}
