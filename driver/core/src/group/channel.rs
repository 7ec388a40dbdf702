//! Reliable delivery to one connected member over datagrams: a bounded send window, bounded
//! queue, acknowledgements, retransmission and duplicate suppression.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::limits::{DEDUP_WINDOW, MAX_IN_FLIGHT, MAX_QUEUED, MAX_TRANSMISSIONS, RETRANSMIT_INTERVAL};
use super::time::PeerTime;

/// The queue to a member is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

#[derive(Debug, Clone)]
struct InFlight {
    id: u32,
    bytes: Vec<u8>,
    sent_at: PeerTime,
    transmissions: u32,
}

/// One direction of reliable messages to a member, plus the IDs recently received from it.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    in_flight: VecDeque<InFlight>,
    queued: VecDeque<(u32, Vec<u8>)>,
    seen: VecDeque<u32>,
    retransmissions: u64,
}

/// What [`Channel::poll`] hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission {
    /// The encoded message.
    pub bytes: Vec<u8>,
    /// Whether it is a retransmission.
    pub retransmission: bool,
}

impl Channel {
    /// Queues an encoded reliable message with ID `id`.
    pub fn send(&mut self, id: u32, bytes: Vec<u8>) -> Result<(), Overflow> {
        if self.queued.len() >= MAX_QUEUED {
            return Err(Overflow);
        }
        self.queued.push_back((id, bytes));
        Ok(())
    }

    /// The member acknowledged message `id`.
    pub fn acknowledge(&mut self, id: u32) {
        self.in_flight.retain(|m| m.id != id);
    }

    /// The member acknowledged message `id` through a path that may only acknowledge some
    /// messages (a clear ACK only acknowledges a handshake message): `id` is acknowledged only if
    /// its encoding satisfies `may`. Whether it was.
    pub fn acknowledge_if(&mut self, id: u32, may: impl Fn(&[u8]) -> bool) -> bool {
        let before = self.in_flight.len();
        self.in_flight.retain(|m| m.id != id || !may(&m.bytes));
        self.in_flight.len() != before
    }

    /// Whether message `id` was received (and recorded by [`Channel::is_duplicate`]).
    pub fn was_seen(&self, id: u32) -> bool {
        self.seen.contains(&id)
    }

    /// Records a received message ID; `true` if it was already received (a retransmission).
    pub fn is_duplicate(&mut self, id: u32) -> bool {
        if self.seen.contains(&id) {
            return true;
        }
        if self.seen.len() == DEDUP_WINDOW {
            self.seen.pop_front();
        }
        self.seen.push_back(id);
        false
    }

    /// The next datagram to send at `now`: a queued message if the window has room, else a due
    /// retransmission.
    pub fn poll(&mut self, now: PeerTime) -> Option<Transmission> {
        if self.in_flight.len() < MAX_IN_FLIGHT
            && let Some((id, bytes)) = self.queued.pop_front()
        {
            self.in_flight.push_back(InFlight { id, bytes: bytes.clone(), sent_at: now, transmissions: 1 });
            return Some(Transmission { bytes, retransmission: false });
        }
        let due = self.in_flight.iter_mut().find(|m| {
            m.transmissions < MAX_TRANSMISSIONS && m.sent_at.plus_ticks(RETRANSMIT_INTERVAL) <= now
        })?;
        due.transmissions += 1;
        due.sent_at = now;
        self.retransmissions += 1;
        Some(Transmission { bytes: due.bytes.clone(), retransmission: true })
    }

    /// Whether a message went unacknowledged through all its transmissions: the member is gone.
    pub fn is_dead(&self, now: PeerTime) -> bool {
        self.in_flight
            .iter()
            .any(|m| m.transmissions >= MAX_TRANSMISSIONS && m.sent_at.plus_ticks(RETRANSMIT_INTERVAL) <= now)
    }

    /// When the channel next needs [`Channel::poll`] or [`Channel::is_dead`].
    pub fn next_timeout(&self) -> Option<PeerTime> {
        self.in_flight.iter().map(|m| m.sent_at.plus_ticks(RETRANSMIT_INTERVAL)).min()
    }

    /// Whether anything is waiting to be sent or acknowledged.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.queued.is_empty()
    }

    /// Messages waiting behind the in-flight window.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Retransmissions so far.
    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    const T0: PeerTime = PeerTime(1_000_000);

    #[test]
    fn a_message_is_retransmitted_until_acknowledged_then_the_member_is_declared_dead() {
        let mut channel = Channel::default();
        channel.send(1, vec![1]).unwrap();
        assert_eq!(channel.poll(T0), Some(Transmission { bytes: vec![1], retransmission: false }));
        assert_eq!(channel.poll(T0), None, "not due yet");
        let mut now = T0;
        for _ in 1..MAX_TRANSMISSIONS {
            now = now.plus_ticks(RETRANSMIT_INTERVAL);
            assert_eq!(channel.poll(now).map(|t| t.retransmission), Some(true));
            assert!(!channel.is_dead(now));
        }
        now = now.plus_ticks(RETRANSMIT_INTERVAL);
        assert_eq!(channel.poll(now), None, "no send past MAX_TRANSMISSIONS");
        assert!(channel.is_dead(now));
        channel.acknowledge(1);
        assert!(channel.is_idle() && !channel.is_dead(now));
    }

    #[test]
    fn the_window_and_the_queue_are_bounded() {
        let mut channel = Channel::default();
        for id in 0..(MAX_QUEUED as u32) {
            channel.send(id, vec![]).unwrap();
        }
        assert_eq!(channel.send(u32::MAX, vec![]), Err(Overflow));
        let sent = core::iter::from_fn(|| channel.poll(T0)).count();
        assert_eq!(sent, MAX_IN_FLIGHT);
        channel.acknowledge(0);
        assert!(channel.poll(T0).is_some(), "an acknowledgement opens the window");
        assert!(channel.send(u32::MAX, vec![]).is_ok());
    }

    #[test]
    fn a_restricted_acknowledgement_only_removes_what_it_may() {
        let mut channel = Channel::default();
        channel.send(1, vec![0xaa]).unwrap();
        channel.send(2, vec![0xbb]).unwrap();
        while channel.poll(T0).is_some() {}
        assert!(!channel.acknowledge_if(1, |bytes| bytes == [0xbb]), "message 1 may not be acknowledged so");
        assert!(channel.acknowledge_if(2, |bytes| bytes == [0xbb]));
        assert!(!channel.is_idle(), "message 1 is still in flight");
        channel.acknowledge(1);
        assert!(channel.is_idle());
    }

    #[test]
    fn duplicates_are_recognised_within_the_window() {
        let mut channel = Channel::default();
        assert!(!channel.is_duplicate(5));
        assert!(channel.is_duplicate(5));
        for id in 100..(100 + DEDUP_WINDOW as u32) {
            assert!(!channel.is_duplicate(id));
        }
        assert!(!channel.is_duplicate(5), "forgotten once DEDUP_WINDOW newer IDs arrived");
    }
}
