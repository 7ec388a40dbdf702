//! Group events for PeerGroupRegisterEvent / PeerGroupGetEventData: RECORD_CHANGED,
//! MEMBER_CHANGED and STATUS_CHANGED, queued per registration and signalled on its event handle.
//!
//! The device does not queue group events for WAIT_EVENT yet, so a registration watches its
//! group from the shim: a thread compares the group's status and its records' versions with the
//! previous look every [`POLL_INTERVAL`] and turns each difference into an event. The first look
//! is taken when the registration is made, so existing records raise nothing. A record that
//! changes twice between two looks raises one event. MEMBER_CHANGED reports a change in the
//! number of connected members (CONNECTED / DISCONNECTED) without naming the member: the device
//! reports counts, not identities.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerdrt_abi::group::GroupStatus;

use super::client::GroupHandle;
use super::types::{
    PEER_GROUP_EVENT_MEMBER_CHANGED, PEER_GROUP_EVENT_RECORD_CHANGED, PEER_GROUP_EVENT_STATUS_CHANGED,
    PEER_MEMBER_CONNECTED, PEER_MEMBER_DISCONNECTED, PEER_RECORD_ADDED, PEER_RECORD_DELETED,
    PEER_RECORD_UPDATED,
};
use crate::event::{Signal, lock};

/// How often a registration looks at its group.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Most events queued per registration; past it the oldest is dropped (an application that
/// does not drain its queue loses old events, not memory).
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// One event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEvent {
    /// The PEER_GROUP_STATUS flags changed.
    Status(u32),
    /// A record was added, updated or deleted (PEER_RECORD_*), with its ID and type.
    Record {
        /// PEER_RECORD_ADDED / UPDATED / DELETED.
        change: u32,
        /// The record's ID.
        id: [u8; 16],
        /// Its type.
        record_type: [u8; 16],
    },
    /// A member connected or disconnected (PEER_MEMBER_*).
    Member(u32),
}

/// What one registration asked for: an event type and, for RECORD_CHANGED, a record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// PEER_GROUP_EVENT_*.
    pub event_type: u32,
    /// Only records of this type (`pType`), if given.
    pub record_type: Option<[u8; 16]>,
}

/// The group as last seen.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Status flags.
    pub status: u32,
    /// Connected members.
    pub connections: u32,
    /// Live records: ID → (version, type).
    pub records: BTreeMap<[u8; 16], (u32, [u8; 16])>,
}

impl Snapshot {
    /// The events that lead from `self` to `next`, in order: status, members, records.
    pub fn changes_to(&self, next: &Snapshot) -> Vec<GroupEvent> {
        let mut out = Vec::new();
        if next.status != self.status {
            out.push(GroupEvent::Status(next.status));
        }
        let member = if next.connections > self.connections {
            PEER_MEMBER_CONNECTED
        } else {
            PEER_MEMBER_DISCONNECTED
        };
        for _ in 0..next.connections.abs_diff(self.connections) {
            out.push(GroupEvent::Member(member));
        }
        for (id, (version, record_type)) in &next.records {
            let change = match self.records.get(id) {
                None => PEER_RECORD_ADDED,
                Some((old, _)) if old != version => PEER_RECORD_UPDATED,
                Some(_) => continue,
            };
            out.push(GroupEvent::Record { change, id: *id, record_type: *record_type });
        }
        for (id, (_, record_type)) in &self.records {
            if !next.records.contains_key(id) {
                out.push(GroupEvent::Record {
                    change: PEER_RECORD_DELETED,
                    id: *id,
                    record_type: *record_type,
                });
            }
        }
        out
    }
}

/// Whether `interests` want `event`.
pub fn wanted(interests: &[Interest], event: &GroupEvent) -> bool {
    interests.iter().any(|i| match event {
        GroupEvent::Status(_) => i.event_type == PEER_GROUP_EVENT_STATUS_CHANGED,
        GroupEvent::Member(_) => i.event_type == PEER_GROUP_EVENT_MEMBER_CHANGED,
        GroupEvent::Record { record_type, .. } => {
            i.event_type == PEER_GROUP_EVENT_RECORD_CHANGED && i.record_type.is_none_or(|t| t == *record_type)
        }
    })
}

/// Looks at a group: its status, and its records when the database is ready.
fn look(group: &GroupHandle) -> Option<Snapshot> {
    let GroupStatus { status, ready, connections, .. } = group.status().ok()?;
    let mut records = BTreeMap::new();
    if ready {
        for r in group.records(None).ok()? {
            records.insert(r.id.0, (r.version, r.record_type));
        }
    }
    Some(Snapshot { status, connections, records })
}

/// A registration: its queue and the thread that fills it.
#[derive(Debug)]
pub struct Registration {
    queue: Arc<Mutex<VecDeque<GroupEvent>>>,
    stop: Arc<AtomicBool>,
}

impl Registration {
    /// Starts watching `group` for `interests`, signalling `signal` whenever events are queued.
    pub(crate) fn start(group: Arc<GroupHandle>, interests: Vec<Interest>, signal: Signal) -> Self {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut last = look(&group).unwrap_or_default();
        let (q, s) = (queue.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                std::thread::sleep(POLL_INTERVAL);
                if s.load(Ordering::Acquire) {
                    break;
                }
                let Some(next) = look(&group) else { continue };
                let events: Vec<GroupEvent> =
                    last.changes_to(&next).into_iter().filter(|e| wanted(&interests, e)).collect();
                last = next;
                if events.is_empty() {
                    continue;
                }
                {
                    let mut q = lock(&q);
                    for e in events {
                        if q.len() == MAX_QUEUED_EVENTS {
                            q.pop_front();
                        }
                        q.push_back(e);
                    }
                }
                signal.set().run();
            }
        });
        Self { queue, stop }
    }

    /// The next queued event, if any.
    pub fn next(&self) -> Option<GroupEvent> {
        lock(&self.queue).pop_front()
    }

    /// Stops the watching thread (it ends within one [`POLL_INTERVAL`]).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: [u8; 16] = [1; 16];

    fn snapshot(status: u32, connections: u32, records: &[(u8, u32)]) -> Snapshot {
        Snapshot {
            status,
            connections,
            records: records.iter().map(|(id, v)| ([*id; 16], (*v, T))).collect(),
        }
    }

    #[test]
    fn differences_become_events_in_order() {
        let before = snapshot(1, 0, &[(1, 1), (2, 1)]);
        let after = snapshot(3, 2, &[(1, 2), (3, 1)]);
        assert_eq!(
            before.changes_to(&after),
            vec![
                GroupEvent::Status(3),
                GroupEvent::Member(PEER_MEMBER_CONNECTED),
                GroupEvent::Member(PEER_MEMBER_CONNECTED),
                GroupEvent::Record { change: PEER_RECORD_UPDATED, id: [1; 16], record_type: T },
                GroupEvent::Record { change: PEER_RECORD_ADDED, id: [3; 16], record_type: T },
                GroupEvent::Record { change: PEER_RECORD_DELETED, id: [2; 16], record_type: T },
            ]
        );
        assert_eq!(after.changes_to(&after), vec![]);
        assert_eq!(
            after.changes_to(&snapshot(3, 1, &[(1, 2), (3, 1)])),
            vec![GroupEvent::Member(PEER_MEMBER_DISCONNECTED)]
        );
    }

    #[test]
    fn registrations_filter_by_event_type_and_record_type() {
        let record = GroupEvent::Record { change: PEER_RECORD_ADDED, id: [0; 16], record_type: T };
        let any = Interest { event_type: PEER_GROUP_EVENT_RECORD_CHANGED, record_type: None };
        let of_t = Interest { event_type: PEER_GROUP_EVENT_RECORD_CHANGED, record_type: Some(T) };
        let other = Interest { event_type: PEER_GROUP_EVENT_RECORD_CHANGED, record_type: Some([2; 16]) };
        let status = Interest { event_type: PEER_GROUP_EVENT_STATUS_CHANGED, record_type: None };
        assert!(wanted(&[any], &record) && wanted(&[of_t], &record));
        assert!(!wanted(&[other], &record) && !wanted(&[status], &record));
        assert!(wanted(&[status], &GroupEvent::Status(1)));
        assert!(!wanted(&[any], &GroupEvent::Member(PEER_MEMBER_CONNECTED)));
    }
}
