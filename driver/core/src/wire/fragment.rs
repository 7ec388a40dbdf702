//! SPLIT_CONTROLS: AUTHORITY_BUFFER (and membership-mode REQUEST) fragmentation, and a
//! reassembler whose memory is bounded per peer and overall.
//!
//! A buffer of at most [`MAX_AUTHORITY_BUFFER_LEN`] bytes travels in fragments of
//! [`FRAGMENT_LEN`] bytes (the last one shorter), each at an offset that is a multiple of
//! [`FRAGMENT_LEN`]. Every fragment repeats the header and the MessageID, which together with the
//! sender's address identify the buffer being reassembled.

use alloc::vec::Vec;
use core::time::Duration;

use super::error::DecodeError;
use super::field;
use super::tlv::{RawField, Writer};
use crate::time::Instant;

/// Largest AUTHORITY_BUFFER: 0x91E4 bytes, room for a credential chain and the largest payload.
pub const MAX_AUTHORITY_BUFFER_LEN: usize = 0x91E4;
/// Fragment size; offsets are multiples of it.
pub const FRAGMENT_LEN: usize = 1188;
/// Most fragments one buffer can have (37,348 / 1,188, rounded up).
pub const MAX_FRAGMENTS: usize = MAX_AUTHORITY_BUFFER_LEN.div_ceil(FRAGMENT_LEN);
/// Most buffers under reassembly at once, over all peers.
pub const MAX_REASSEMBLIES: usize = 64;
/// Most bytes reserved for the buffers of one peer.
pub const MAX_REASSEMBLY_BYTES_PER_PEER: usize = 2 * MAX_AUTHORITY_BUFFER_LEN;
/// Most bytes reserved for all buffers under reassembly.
pub const MAX_REASSEMBLY_BYTES_TOTAL: usize = 16 * MAX_AUTHORITY_BUFFER_LEN;
/// How long a partial buffer waits for its missing fragments.
pub const REASSEMBLY_TIMEOUT: Duration = Duration::from_secs(5);

const _: () = assert!(MAX_FRAGMENTS <= u32::BITS as usize, "fragments are tracked in a u32 bitmap");

/// SPLIT_CONTROLS: the whole buffer's size and this fragment's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SplitControls {
    /// Size of the whole buffer.
    pub size: u16,
    /// Offset of this fragment (a multiple of [`FRAGMENT_LEN`]).
    pub offset: u16,
}

impl SplitControls {
    pub(crate) fn decode(raw: &RawField<'_>) -> Result<Self, DecodeError> {
        let [s0, s1, o0, o1] = *raw.fixed::<4>()?;
        Ok(Self { size: u16::from_be_bytes([s0, s1]), offset: u16::from_be_bytes([o0, o1]) })
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>, fragment_len: usize) {
        if self.check_fragment(fragment_len).is_err() {
            w.reject(field::SPLIT_CONTROLS);
        }
        w.field(field::SPLIT_CONTROLS, |w| {
            w.u16(self.size);
            w.u16(self.offset);
        });
    }

    /// Index of the fragment within its buffer.
    pub fn index(&self) -> usize {
        usize::from(self.offset) / FRAGMENT_LEN
    }

    /// Checks that a fragment of `len` bytes fits this split exactly: size within the limit,
    /// offset a multiple of the fragment size inside the buffer, and the fragment as long as
    /// the buffer has bytes at that offset (all but the last are full).
    pub fn check_fragment(&self, len: usize) -> Result<(), DecodeError> {
        let bad = DecodeError::BadFieldValue { field: field::SPLIT_CONTROLS };
        let (size, offset) = (usize::from(self.size), usize::from(self.offset));
        if size == 0 || size > MAX_AUTHORITY_BUFFER_LEN || offset % FRAGMENT_LEN != 0 || offset >= size {
            return Err(bad);
        }
        if len != FRAGMENT_LEN.min(size - offset) {
            return Err(bad);
        }
        Ok(())
    }
}

/// Splits `buffer` into `(split controls, fragment)` pairs, in order.
///
/// Fails if the buffer is empty or longer than [`MAX_AUTHORITY_BUFFER_LEN`].
pub fn fragments(buffer: &[u8]) -> Result<impl Iterator<Item = (SplitControls, &[u8])>, FragmentError> {
    if buffer.is_empty() || buffer.len() > MAX_AUTHORITY_BUFFER_LEN {
        return Err(FragmentError::BadSize);
    }
    let size = buffer.len() as u16;
    Ok(buffer
        .chunks(FRAGMENT_LEN)
        .enumerate()
        .map(move |(i, chunk)| (SplitControls { size, offset: (i * FRAGMENT_LEN) as u16 }, chunk)))
}

/// Why a fragment was not accepted. A rejected fragment changes nothing but the expiry of
/// partial buffers whose deadline had passed (a new buffer refused for budget first frees those).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FragmentError {
    /// Size over the limit, offset not on a fragment boundary or past the end, or a fragment
    /// whose length does not match its place.
    BadSize,
    /// The fragment's size disagrees with earlier fragments of the same buffer.
    Inconsistent,
    /// This fragment was already received.
    Duplicate,
    /// Accepting the buffer would exceed the sender's memory budget.
    PeerBudgetExceeded,
}

/// The outcome of an accepted fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Reassembled<'a> {
    /// The buffer came whole in one datagram: no copy was made.
    Whole(&'a [u8]),
    /// The last missing fragment arrived: the reassembled buffer.
    Complete(Vec<u8>),
    /// More fragments are needed.
    Pending,
}

#[derive(Debug)]
struct Partial<P> {
    peer: P,
    message_id: u32,
    received: u32,
    buffer: Vec<u8>,
    deadline: Instant,
}

impl<P> Partial<P> {
    fn expected(&self) -> u32 {
        let count = self.buffer.len().div_ceil(FRAGMENT_LEN) as u32;
        if count == u32::BITS { u32::MAX } else { (1 << count) - 1 }
    }
}

/// Reassembles fragmented buffers, keyed by sender and MessageID.
///
/// Memory is reserved when a buffer's first fragment arrives (its announced size), bounded by
/// [`MAX_REASSEMBLY_BYTES_PER_PEER`] per sender and [`MAX_REASSEMBLY_BYTES_TOTAL`] overall; when
/// the total or the count is full, the partial buffer closest to its deadline is dropped.
#[derive(Debug)]
pub struct Reassembler<P> {
    partials: Vec<Partial<P>>,
    bytes: usize,
}

impl<P> Default for Reassembler<P> {
    fn default() -> Self {
        Self { partials: Vec::new(), bytes: 0 }
    }
}

impl<P: Copy + Eq> Reassembler<P> {
    /// An empty reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes reserved by partial buffers.
    pub fn reserved_bytes(&self) -> usize {
        self.bytes
    }

    /// Partial buffers waiting for fragments.
    pub fn pending(&self) -> usize {
        self.partials.len()
    }

    /// The earliest deadline of a partial buffer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.partials.iter().map(|p| p.deadline).min()
    }

    /// Drops partial buffers whose deadline has passed.
    pub fn expire(&mut self, now: Instant) {
        let mut freed = 0;
        self.partials.retain(|p| {
            let keep = p.deadline > now;
            if !keep {
                freed += p.buffer.len();
            }
            keep
        });
        self.bytes -= freed;
    }

    /// Drops every partial buffer of `peer`.
    pub fn forget_peer(&mut self, peer: P) {
        let mut freed = 0;
        self.partials.retain(|p| {
            let keep = p.peer != peer;
            if !keep {
                freed += p.buffer.len();
            }
            keep
        });
        self.bytes -= freed;
    }

    /// Takes one fragment from `peer` for the buffer of `message_id`.
    pub fn accept<'f>(
        &mut self,
        now: Instant,
        peer: P,
        message_id: u32,
        split: SplitControls,
        fragment: &'f [u8],
    ) -> Result<Reassembled<'f>, FragmentError> {
        split.check_fragment(fragment.len()).map_err(|_| FragmentError::BadSize)?;
        let size = usize::from(split.size);
        if split.offset == 0 && fragment.len() == size {
            return Ok(Reassembled::Whole(fragment));
        }
        let bit = 1u32 << split.index();
        // Refuse duplicates and inconsistent sizes before anything changes.
        if let Some(partial) = self.partials.iter().find(|p| p.peer == peer && p.message_id == message_id) {
            if partial.buffer.len() != size {
                return Err(FragmentError::Inconsistent);
            }
            if partial.received & bit != 0 {
                return Err(FragmentError::Duplicate);
            }
        }
        self.expire(now);
        let position = self.partials.iter().position(|p| p.peer == peer && p.message_id == message_id);
        let index = match position {
            Some(i) => i,
            None => self.start(now, peer, message_id, size)?,
        };
        let partial = &mut self.partials[index];
        let offset = usize::from(split.offset);
        partial.buffer[offset..offset + fragment.len()].copy_from_slice(fragment);
        partial.received |= bit;
        if partial.received != partial.expected() {
            return Ok(Reassembled::Pending);
        }
        let done = self.partials.swap_remove(index);
        self.bytes -= done.buffer.len();
        Ok(Reassembled::Complete(done.buffer))
    }

    fn start(&mut self, now: Instant, peer: P, message_id: u32, size: usize) -> Result<usize, FragmentError> {
        let peer_bytes: usize = self.partials.iter().filter(|p| p.peer == peer).map(|p| p.buffer.len()).sum();
        if peer_bytes + size > MAX_REASSEMBLY_BYTES_PER_PEER {
            return Err(FragmentError::PeerBudgetExceeded);
        }
        while self.partials.len() >= MAX_REASSEMBLIES || self.bytes + size > MAX_REASSEMBLY_BYTES_TOTAL {
            let Some(oldest) =
                self.partials.iter().enumerate().min_by_key(|(_, p)| p.deadline).map(|(i, _)| i)
            else {
                break;
            };
            let dropped = self.partials.swap_remove(oldest);
            self.bytes -= dropped.buffer.len();
        }
        self.partials.push(Partial {
            peer,
            message_id,
            received: 0,
            buffer: alloc::vec![0; size],
            deadline: now.saturating_add(REASSEMBLY_TIMEOUT),
        });
        self.bytes += size;
        Ok(self.partials.len() - 1)
    }
}
