//! The worker's input queue: datagrams from the receive threads (bounded; a full queue drops
//! and counts) and commands from the device connections (bounded; a full queue makes the
//! submitting connection thread wait, which is back-pressure on that client only).
//!
//! This is the Linux twin of the kernel's DISPATCH→PASSIVE hand-off: a WSK receive callback at
//! DISPATCH_LEVEL may only queue the datagram and signal the worker, and so a receive thread here
//! only pushes `(transport, source, bytes)` and never touches the engine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant as StdInstant;

use peerdrt_core::wire::Endpoint;

use super::worker::Command;
use crate::engine::TransportId;

/// Datagrams waiting for the worker, over all sockets; further ones are dropped and counted.
pub const RECEIVE_QUEUE_LEN: usize = 4096;
/// Commands (connects, IOCTLs, disconnects) waiting for the worker before submitters wait.
pub const COMMAND_QUEUE_LEN: usize = 1024;

/// A received datagram.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub transport: TransportId,
    pub from: Endpoint,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Inner {
    datagrams: VecDeque<Datagram>,
    commands: VecDeque<Command>,
}

/// What one wake-up of the worker takes.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub commands: VecDeque<Command>,
    pub datagrams: VecDeque<Datagram>,
}

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct WorkQueue {
    inner: Mutex<Inner>,
    /// Signalled when something is queued.
    ready: Condvar,
    /// Signalled when the worker took commands.
    space: Condvar,
    dropped: AtomicU64,
}

impl WorkQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking thread cannot leave the queues inconsistent (each operation is one push
        // or one swap), so a poisoned lock is still good.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From a receive thread: queue a datagram, or drop it if the queue is full.
    pub fn push_datagram(&self, datagram: Datagram) -> bool {
        let mut inner = self.lock();
        if inner.datagrams.len() >= RECEIVE_QUEUE_LEN {
            drop(inner);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        inner.datagrams.push_back(datagram);
        drop(inner);
        self.ready.notify_one();
        true
    }

    /// From a connection thread (or the daemon): queue a command, waiting while the queue is full.
    pub fn push_command(&self, command: Command) {
        let mut inner = self.lock();
        while inner.commands.len() >= COMMAND_QUEUE_LEN {
            inner = self.space.wait(inner).unwrap_or_else(PoisonError::into_inner);
        }
        inner.commands.push_back(command);
        drop(inner);
        self.ready.notify_one();
    }

    /// From the worker: everything queued, waiting until something is or until `deadline`.
    pub fn take(&self, deadline: Option<StdInstant>) -> Batch {
        let mut inner = self.lock();
        loop {
            if !inner.commands.is_empty() || !inner.datagrams.is_empty() {
                let batch = Batch {
                    commands: std::mem::take(&mut inner.commands),
                    datagrams: std::mem::take(&mut inner.datagrams),
                };
                drop(inner);
                self.space.notify_all();
                return batch;
            }
            inner = match deadline {
                None => self.ready.wait(inner).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = StdInstant::now();
                    if deadline <= now {
                        return Batch::default();
                    }
                    self.ready.wait_timeout(inner, deadline - now).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }

    /// Datagrams dropped for a full queue.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;
    use std::time::Duration;

    fn datagram(n: u8) -> Datagram {
        Datagram { transport: 1, from: Endpoint { addr: Ipv6Addr::LOCALHOST, port: 4000 }, bytes: vec![n] }
    }

    #[test]
    fn a_full_receive_queue_drops_and_counts() {
        let q = WorkQueue::default();
        for i in 0..RECEIVE_QUEUE_LEN {
            assert!(q.push_datagram(datagram(i as u8)));
        }
        assert!(!q.push_datagram(datagram(0)));
        assert_eq!(q.dropped(), 1);
        let batch = q.take(None);
        assert_eq!(batch.datagrams.len(), RECEIVE_QUEUE_LEN);
        assert!(q.push_datagram(datagram(0)));
    }

    #[test]
    fn take_returns_at_the_deadline_when_nothing_arrives() {
        let q = WorkQueue::default();
        let start = StdInstant::now();
        let batch = q.take(Some(start + Duration::from_millis(30)));
        assert!(batch.datagrams.is_empty() && batch.commands.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
