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
/// Spare datagram buffers kept for reuse. Every datagram in the queue or in the worker's hands
/// holds one, so this many cover the steady state: no allocation per datagram.
pub const BUFFER_POOL_LEN: usize = RECEIVE_QUEUE_LEN;
/// A pooled buffer that grew beyond this (a rare large datagram) is freed rather than kept, so
/// the pool stays small: typical datagrams are one fragment (about 1.2 KB).
pub const POOLED_BUFFER_CAPACITY: usize = 2048;

/// A received datagram. Its buffer comes from the queue's pool ([`WorkQueue::buffer`]) and goes
/// back there ([`WorkQueue::recycle`]) once handled.
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
    /// Spare buffers (at most [`BUFFER_POOL_LEN`]).
    pool: Vec<Vec<u8>>,
    /// Submitters waiting for room in the command queue.
    submitters_waiting: usize,
    /// The worker sleeps in [`WorkQueue::take`]: only then does a push signal `ready` (a futex
    /// wake is a system call; a busy worker needs none).
    worker_waiting: bool,
}

/// What one wake-up of the worker takes. The worker keeps one and passes it to every
/// [`WorkQueue::take`]: the two sides swap queues, so neither allocates in steady state.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub commands: VecDeque<Command>,
    pub datagrams: VecDeque<Datagram>,
}

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct WorkQueue {
    inner: Mutex<Inner>,
    /// Signalled when something is queued while the worker waits.
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
    #[cfg(test)]
    pub fn push_datagram(&self, datagram: Datagram) -> bool {
        let mut pending = vec![datagram];
        self.push_datagrams(&mut pending, &mut Vec::new(), 0) == 1
    }

    /// From a receive thread: queue `pending` (emptied) under one lock, dropping and counting
    /// what does not fit; then refill the thread's `spare` buffers from the pool up to
    /// `spare_len` (dropped datagrams' buffers go there too). Returns how many were queued.
    pub fn push_datagrams(
        &self,
        pending: &mut Vec<Datagram>,
        spare: &mut Vec<Vec<u8>>,
        spare_len: usize,
    ) -> usize {
        let mut inner = self.lock();
        let mut queued = 0;
        let dropped = pending.len().saturating_sub(RECEIVE_QUEUE_LEN.saturating_sub(inner.datagrams.len()));
        for d in pending.drain(..) {
            if inner.datagrams.len() < RECEIVE_QUEUE_LEN {
                inner.datagrams.push_back(d);
                queued += 1;
            } else {
                spare.push(d.bytes);
            }
        }
        while spare.len() < spare_len {
            match inner.pool.pop() {
                Some(buffer) => spare.push(buffer),
                None => break,
            }
        }
        let wake = queued > 0 && inner.worker_waiting;
        drop(inner);
        if dropped > 0 {
            self.dropped.fetch_add(dropped as u64, Ordering::Relaxed);
        }
        if wake {
            self.ready.notify_one();
        }
        queued
    }

    /// A new buffer for a received datagram, when the thread has no spare one (only until the
    /// pool has filled, or when a burst outgrows it).
    pub fn fresh_buffer() -> Vec<u8> {
        Vec::with_capacity(POOLED_BUFFER_CAPACITY)
    }

    /// From a connection thread (or the daemon): queue a command, waiting while the queue is full.
    pub fn push_command(&self, command: Command) {
        let mut inner = self.lock();
        while inner.commands.len() >= COMMAND_QUEUE_LEN {
            inner.submitters_waiting += 1;
            inner = self.space.wait(inner).unwrap_or_else(PoisonError::into_inner);
            inner.submitters_waiting -= 1;
        }
        inner.commands.push_back(command);
        let wake = inner.worker_waiting;
        drop(inner);
        if wake {
            self.ready.notify_one();
        }
    }

    /// From the worker: everything queued, waiting until something is or until `deadline`.
    /// `batch` holds what the previous call returned, handled: its datagrams' buffers go back to
    /// the pool, and its emptied queues are swapped in for the full ones (no allocation).
    pub fn take(&self, deadline: Option<StdInstant>, batch: &mut Batch) {
        let mut inner = self.lock();
        for d in batch.datagrams.drain(..) {
            if inner.pool.len() < BUFFER_POOL_LEN && d.bytes.capacity() <= POOLED_BUFFER_CAPACITY {
                inner.pool.push(d.bytes);
            }
        }
        batch.commands.clear();
        loop {
            if !inner.commands.is_empty() || !inner.datagrams.is_empty() {
                std::mem::swap(&mut inner.commands, &mut batch.commands);
                std::mem::swap(&mut inner.datagrams, &mut batch.datagrams);
                drop(inner);
                // Submitters wait for space only in the command queue.
                if !batch.commands.is_empty() {
                    self.space.notify_all();
                }
                return;
            }
            inner.worker_waiting = true;
            inner = match deadline {
                None => self.ready.wait(inner).unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = StdInstant::now();
                    if deadline <= now {
                        inner.worker_waiting = false;
                        return;
                    }
                    self.ready.wait_timeout(inner, deadline - now).unwrap_or_else(PoisonError::into_inner).0
                }
            };
            inner.worker_waiting = false;
        }
    }

    /// Spare buffers in the pool.
    #[cfg(test)]
    pub fn pooled(&self) -> usize {
        self.lock().pool.len()
    }

    /// Submitters waiting for room in the command queue.
    #[cfg(test)]
    pub fn submitters_waiting(&self) -> usize {
        self.lock().submitters_waiting
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
        let mut batch = Batch::default();
        q.take(None, &mut batch);
        assert_eq!(batch.datagrams.len(), RECEIVE_QUEUE_LEN);
        assert!(q.push_datagram(datagram(0)));
    }

    #[test]
    fn handled_buffers_return_to_the_pool_and_refill_a_receive_threads_spares() {
        let q = WorkQueue::default();
        let mut pending: Vec<Datagram> = (0..3).map(datagram).collect();
        let mut spare = Vec::new();
        assert_eq!(q.push_datagrams(&mut pending, &mut spare, 8), 3);
        assert!(pending.is_empty() && spare.is_empty());
        let mut batch = Batch::default();
        q.take(None, &mut batch);
        assert_eq!(batch.datagrams.len(), 3);
        // The next take gives the handled buffers back.
        assert!(q.push_datagram(datagram(9)));
        q.take(None, &mut batch);
        assert_eq!((batch.datagrams.len(), q.pooled()), (1, 3));
        q.push_datagrams(&mut Vec::new(), &mut spare, 2);
        assert_eq!((spare.len(), q.pooled()), (2, 1));
    }

    #[test]
    fn a_buffer_of_pooled_buffer_capacity_is_pooled_and_one_grown_past_it_freed() {
        for (capacity, pooled) in [(POOLED_BUFFER_CAPACITY, 1), (POOLED_BUFFER_CAPACITY + 1, 0)] {
            let q = WorkQueue::default();
            let mut d = datagram(0);
            d.bytes = Vec::with_capacity(capacity);
            assert_eq!(d.bytes.capacity(), capacity);
            assert!(q.push_datagram(d));
            let mut batch = Batch::default();
            q.take(None, &mut batch);
            q.take(Some(StdInstant::now()), &mut batch);
            assert_eq!(q.pooled(), pooled, "a buffer of {capacity} bytes");
        }
    }

    #[test]
    fn the_pool_keeps_buffer_pool_len_buffers_and_frees_the_next() {
        let q = WorkQueue::default();
        let mut batch = Batch::default();
        for i in 0..BUFFER_POOL_LEN {
            assert!(q.push_datagram(datagram(i as u8)));
        }
        q.take(None, &mut batch);
        // The next take gives those back: the pool is full.
        assert!(q.push_datagram(datagram(0)));
        q.take(None, &mut batch);
        assert_eq!(q.pooled(), BUFFER_POOL_LEN);
        // One more handled buffer is freed.
        q.take(Some(StdInstant::now()), &mut batch);
        assert_eq!(q.pooled(), BUFFER_POOL_LEN);
        // A receive thread's spares come out of the pool.
        let mut spare = Vec::new();
        q.push_datagrams(&mut Vec::new(), &mut spare, 1);
        assert_eq!((spare.len(), q.pooled()), (1, BUFFER_POOL_LEN - 1));
    }

    fn disconnect(conn: u64) -> Command {
        Command::Disconnect { conn }
    }

    #[test]
    fn command_queue_len_commands_queue_at_once_and_the_next_submitter_waits_for_the_worker() {
        let q = std::sync::Arc::new(WorkQueue::default());
        // Up to the edge, nobody waits.
        let filler = std::thread::spawn({
            let q = q.clone();
            move || (0..COMMAND_QUEUE_LEN as u64).for_each(|conn| q.push_command(disconnect(conn)))
        });
        while !filler.is_finished() {
            assert_eq!(q.submitters_waiting(), 0, "a submitter waited before the queue was full");
            std::thread::yield_now();
        }
        filler.join().unwrap();
        // One past: that submitter waits until the worker takes the queue.
        let (pushed_tx, pushed) = std::sync::mpsc::channel();
        let submitter = std::thread::spawn({
            let q = q.clone();
            move || {
                q.push_command(disconnect(COMMAND_QUEUE_LEN as u64));
                pushed_tx.send(()).unwrap();
            }
        });
        while q.submitters_waiting() == 0 {
            assert!(
                pushed.try_recv().is_err(),
                "command {} was queued into a full queue",
                COMMAND_QUEUE_LEN + 1
            );
            std::thread::yield_now();
        }
        assert!(pushed.try_recv().is_err());
        let mut batch = Batch::default();
        q.take(None, &mut batch);
        let taken: Vec<u64> = batch
            .commands
            .drain(..)
            .map(|c| match c {
                Command::Disconnect { conn } => conn,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(taken, (0..COMMAND_QUEUE_LEN as u64).collect::<Vec<_>>());
        pushed.recv().unwrap();
        submitter.join().unwrap();
        q.take(None, &mut batch);
        assert!(
            matches!(batch.commands.make_contiguous(), [Command::Disconnect { conn }] if *conn == COMMAND_QUEUE_LEN as u64)
        );
    }

    #[test]
    fn take_returns_at_the_deadline_when_nothing_arrives() {
        let q = WorkQueue::default();
        let start = StdInstant::now();
        let mut batch = Batch::default();
        q.take(Some(start + Duration::from_millis(30)), &mut batch);
        assert!(batch.datagrams.is_empty() && batch.commands.is_empty());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }
}
