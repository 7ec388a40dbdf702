//! The checks behind the peerdrt-core fuzz targets, shared with the seed generator
//! (`examples/gen_seeds.rs`) so that every committed seed is known to pass them.
//!
//! * [`check_datagram`]: `Datagram::decode` on arbitrary bytes, then a semantic round trip.
//! * [`check_authority_buffer`] / [`check_request_body`]: the same for reassembled buffers, plus a
//!   trip through AUTHORITY fragments and a [`Reassembler`].
//! * [`reassembly`]: a [`Reassembler`] driven by an operation script, with its invariants checked
//!   after every step.
//! * [`shim`]: the shim's parsing of what the device sends back.
//! * [`group_log`]: a group's durability log opened and replayed from arbitrary file contents.

pub mod group_log;
pub mod shim;

use core::fmt::Debug;

use peerdrt_core::wire::fragment::{self, MAX_AUTHORITY_BUFFER_LEN};
use peerdrt_core::wire::{
    Authority, AuthorityBuffer, Datagram, EncodeError, MAX_DATAGRAM_LEN, Message, ProtocolVersion,
    Reassembled, Reassembler, Request, RequestBody,
};

/// Encodes `value` (decoded from `input_len` bytes) into a buffer of `capacity` bytes and returns
/// the encoding. Checks that a decoded value always re-encodes, that the canonical encoding is
/// never longer than what was decoded, and that a buffer one byte short reports the exact length.
fn reencode<T: Debug>(
    what: &str,
    value: &T,
    input_len: usize,
    capacity: usize,
    encode: impl Fn(&T, &mut [u8]) -> Result<usize, EncodeError>,
) -> Vec<u8> {
    let mut buf = vec![0u8; capacity];
    let len = match encode(value, &mut buf) {
        Ok(len) => len,
        Err(e) => panic!("decoded {what} does not re-encode: {e:?}\n{value:#?}"),
    };
    assert!(len <= input_len, "{what}: re-encoding is {len} bytes, decoded from {input_len}\n{value:#?}");
    buf.truncate(len);
    if let Some(short) = len.checked_sub(1) {
        let mut small = vec![0u8; short];
        assert_eq!(
            encode(value, &mut small),
            Err(EncodeError::BufferTooSmall { needed: len }),
            "{what}: a short buffer must report the exact length"
        );
    }
    buf
}

/// Decodes `data` as a datagram; if that succeeds, re-encodes it, decodes the result and checks
/// both decoded values are equal and that encoding is then stable. The fragment of a REQUEST or
/// AUTHORITY goes through [`check_request_body`] / [`check_authority_buffer`].
pub fn check_datagram(data: &[u8]) {
    let Ok(datagram) = Datagram::decode(data) else { return };
    let bytes = reencode("datagram", &datagram, data.len(), MAX_DATAGRAM_LEN, |d, buf| d.encode(buf));
    let again = match Datagram::decode(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("re-encoded datagram does not decode: {e:?}\n{datagram:#?}\n{bytes:02x?}"),
    };
    assert_eq!(again, datagram, "datagram changed through encode + decode");
    let mut stable = vec![0u8; bytes.len()];
    assert_eq!(again.encode(&mut stable), Ok(bytes.len()));
    assert_eq!(stable, bytes, "canonical encoding is not stable");

    match datagram.message {
        Message::Authority(Authority { fragment, .. }) => check_authority_buffer(fragment),
        Message::Request(Request::Fragment { fragment, .. }) => check_request_body(fragment),
        _ => {}
    }
}

/// Decodes `data` as an AUTHORITY_BUFFER; if that succeeds, checks the semantic round trip, then
/// sends the canonical encoding through AUTHORITY datagrams and a [`Reassembler`] and checks the
/// same bytes come out.
pub fn check_authority_buffer(data: &[u8]) {
    let Ok(buffer) = AuthorityBuffer::decode(data) else { return };
    let bytes =
        reencode("authority buffer", &buffer, data.len(), MAX_AUTHORITY_BUFFER_LEN, |b, buf| b.encode(buf));
    let again = match AuthorityBuffer::decode(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("re-encoded authority buffer does not decode: {e:?}\n{buffer:#?}"),
    };
    assert_eq!(again, buffer, "authority buffer changed through encode + decode");
    let mut stable = vec![0u8; bytes.len()];
    assert_eq!(again.encode(&mut stable), Ok(bytes.len()));
    assert_eq!(stable, bytes, "canonical encoding is not stable");

    // Through AUTHORITY datagrams and the reassembler, last fragment first.
    let pieces: Vec<_> = fragment::fragments(&bytes).expect("an encoded buffer can be split").collect();
    let mut reassembler = Reassembler::new();
    let mut whole = None;
    let mut datagram = vec![0u8; 1500];
    for (i, &(split, piece)) in pieces.iter().enumerate().rev() {
        let sent = Datagram {
            version: ProtocolVersion::PNRP,
            message_id: 0x5EED,
            message: Message::Authority(Authority { acked_id: 7, split, fragment: piece }),
        };
        let len = sent.encode(&mut datagram).expect("an AUTHORITY fragment encodes");
        let received = Datagram::decode(&datagram[..len]).expect("an AUTHORITY fragment decodes");
        assert_eq!(received, sent);
        let Message::Authority(a) = received.message else { unreachable!() };
        let time = peerdrt_core::time::Instant(0);
        match reassembler.accept(time, 1u8, received.message_id, a.split, a.fragment) {
            Ok(Reassembled::Whole(w)) => whole = Some(w.to_vec()),
            Ok(Reassembled::Complete(v)) => whole = Some(v),
            Ok(Reassembled::Pending) => assert!(i > 0, "the last fragment sent left the buffer pending"),
            Err(e) => panic!("fragment {i} of {} rejected: {e:?}", pieces.len()),
        }
    }
    assert_eq!(whole.as_deref(), Some(&bytes[..]), "reassembly changed the buffer");
    assert_eq!(reassembler.reserved_bytes(), 0);
    assert_eq!(reassembler.pending(), 0);
}

/// Decodes `data` as a whole REQUEST body; if that succeeds, checks the semantic round trip.
pub fn check_request_body(data: &[u8]) {
    let Ok(body) = RequestBody::decode(data) else { return };
    let bytes = reencode("request body", &body, data.len(), data.len() + 64, |b, buf| b.encode(buf));
    let again = match RequestBody::decode(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("re-encoded request body does not decode: {e:?}\n{body:#?}"),
    };
    assert_eq!(again, body, "request body changed through encode + decode");
    let mut stable = vec![0u8; bytes.len()];
    assert_eq!(again.encode(&mut stable), Ok(bytes.len()));
    assert_eq!(stable, bytes, "canonical encoding is not stable");
}

/// The operation script of the `reassembly` target.
pub mod reassembly {
    use core::time::Duration;

    use peerdrt_core::time::Instant;
    use peerdrt_core::wire::fragment::{
        FRAGMENT_LEN, MAX_AUTHORITY_BUFFER_LEN, MAX_FRAGMENTS, MAX_REASSEMBLIES,
        MAX_REASSEMBLY_BYTES_PER_PEER, MAX_REASSEMBLY_BYTES_TOTAL, REASSEMBLY_TIMEOUT,
    };
    use peerdrt_core::wire::{FragmentError, Reassembled, Reassembler, SplitControls};

    /// Bytes of one encoded operation.
    pub const OP_LEN: usize = 10;
    /// Milliseconds per unit of an operation's time step.
    pub const TIME_UNIT_MS: u64 = 50;
    /// Peers are the low bits of the peer byte.
    pub const PEERS: u8 = 16;
    /// Operations of a script that run; the rest is ignored. One more than it takes to fill
    /// every bound (`MAX_REASSEMBLIES` partial buffers, then one past), yet short: libFuzzer
    /// grows inputs towards 4 KiB, and unbounded scripts of 400 operations cut the target's
    /// speed threefold without reaching anything new.
    pub const MAX_OPS: usize = 2 * MAX_REASSEMBLIES + 1;

    /// What an operation does.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        /// Offer one fragment.
        Accept,
        /// Offer every fragment of the buffer from `offset`'s index to the end (or, `descending`,
        /// from the end down to it), each with the length its place requires.
        AcceptRun,
        /// `Reassembler::expire(now)`.
        Expire,
        /// `Reassembler::forget_peer(peer)`.
        ForgetPeer,
    }

    /// One operation, encoded in [`OP_LEN`] bytes:
    ///
    /// | byte | meaning |
    /// |------|---------|
    /// | 0    | bits 0–1 kind (0 accept, 1 accept run, 2 expire, 3 forget peer); bit 2 raw offset (else `offset` is a fragment index); bit 3 raw length (else the length the split requires); bit 4 descending run |
    /// | 1    | time step before the operation, in units of [`TIME_UNIT_MS`] |
    /// | 2    | peer (low 4 bits) |
    /// | 3    | message ID |
    /// | 4–5  | buffer size (big-endian) |
    /// | 6–7  | offset, or fragment index modulo [`MAX_FRAGMENTS`] (big-endian) |
    /// | 8–9  | fragment length when raw (big-endian) |
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Op {
        /// What to do.
        pub kind: Kind,
        /// Time step before the operation, in units of [`TIME_UNIT_MS`].
        pub step: u8,
        /// Sender.
        pub peer: u8,
        /// MessageID of the buffer.
        pub message_id: u8,
        /// Announced buffer size.
        pub size: u16,
        /// `offset` is a byte offset rather than a fragment index.
        pub raw_offset: bool,
        /// Byte offset or fragment index.
        pub offset: u16,
        /// Fragment length, when not the one the split requires.
        pub length: Option<u16>,
        /// Run from the end down.
        pub descending: bool,
    }

    impl Op {
        /// A single well-formed fragment: the `index`-th of a buffer of `size` bytes.
        pub fn fragment(step: u8, peer: u8, message_id: u8, size: u16, index: u16) -> Self {
            Self {
                kind: Kind::Accept,
                step,
                peer,
                message_id,
                size,
                raw_offset: false,
                offset: index,
                length: None,
                descending: false,
            }
        }

        /// Every fragment from `index` on, in order (or from the end down to it).
        pub fn run(step: u8, peer: u8, message_id: u8, size: u16, index: u16, descending: bool) -> Self {
            Self { kind: Kind::AcceptRun, descending, ..Self::fragment(step, peer, message_id, size, index) }
        }

        /// `expire` after `step` time units.
        pub fn expire(step: u8) -> Self {
            Self { kind: Kind::Expire, ..Self::fragment(step, 0, 0, 0, 0) }
        }

        /// `forget_peer(peer)`.
        pub fn forget(step: u8, peer: u8) -> Self {
            Self { kind: Kind::ForgetPeer, ..Self::fragment(step, peer, 0, 0, 0) }
        }

        /// Parses one operation.
        pub fn decode(b: &[u8; OP_LEN]) -> Self {
            let kind = match b[0] & 3 {
                0 => Kind::Accept,
                1 => Kind::AcceptRun,
                2 => Kind::Expire,
                _ => Kind::ForgetPeer,
            };
            let word = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
            Self {
                kind,
                step: b[1],
                peer: b[2] % PEERS,
                message_id: b[3],
                size: word(4),
                raw_offset: b[0] & 4 != 0,
                offset: word(6),
                length: (b[0] & 8 != 0).then(|| word(8)),
                descending: b[0] & 16 != 0,
            }
        }

        /// Encodes one operation ([`Op::decode`] gives it back).
        pub fn encode(&self) -> [u8; OP_LEN] {
            let kind = match self.kind {
                Kind::Accept => 0,
                Kind::AcceptRun => 1,
                Kind::Expire => 2,
                Kind::ForgetPeer => 3,
            };
            let flags = kind
                | if self.raw_offset { 4 } else { 0 }
                | if self.length.is_some() { 8 } else { 0 }
                | if self.descending { 16 } else { 0 };
            let [s0, s1] = self.size.to_be_bytes();
            let [o0, o1] = self.offset.to_be_bytes();
            let [l0, l1] = self.length.unwrap_or(0).to_be_bytes();
            [flags, self.step, self.peer, self.message_id, s0, s1, o0, o1, l0, l1]
        }

        fn byte_offset(&self) -> u16 {
            if self.raw_offset {
                self.offset
            } else {
                // At most 31 * 1188 = 36,828: fits.
                ((usize::from(self.offset) % MAX_FRAGMENTS) * FRAGMENT_LEN) as u16
            }
        }
    }

    /// Encodes a script.
    pub fn encode(ops: &[Op]) -> Vec<u8> {
        ops.iter().flat_map(|op| op.encode()).collect()
    }

    /// Positions a fragment can reach: a raw offset plus a raw length, each a u16.
    const MAX_POSITION: usize = 2 * u16::MAX as usize;
    /// Distinct starting points of the buffers of different (peer, message ID) pairs.
    const PATTERN_STARTS: usize = 1 << 16;

    /// One pseudo-random byte stream that every buffer is a window of (see [`content`]).
    fn pattern() -> &'static [u8] {
        static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        PATTERN.get_or_init(|| {
            (0..PATTERN_STARTS + MAX_POSITION)
                .map(|p| {
                    let x = (p as u32).wrapping_mul(0x9E37_79B1);
                    (x ^ (x >> 15) ^ (x >> 24)) as u8
                })
                .collect()
        })
    }

    /// Bytes `range` of the buffer `message_id` of `peer`: every fragment is cut from this
    /// content, so a reassembled buffer can be checked byte for byte. It is a window of one
    /// precomputed stream, so fragments are borrowed and buffers compared with `memcmp`, not
    /// built and checked byte by byte (which, with every byte's comparison instrumented, made
    /// this target run at ~2k executions per second).
    pub fn content(peer: u8, message_id: u32, range: core::ops::Range<usize>) -> &'static [u8] {
        let x = message_id.wrapping_mul(0x85EB_CA6B) ^ u32::from(peer).wrapping_mul(0xC2B2_AE35);
        let start = (x ^ (x >> 16)) as usize % PATTERN_STARTS;
        &pattern()[start + range.start..start + range.end]
    }

    struct Driver {
        reassembler: Reassembler<u8>,
        now: Instant,
    }

    impl Driver {
        fn check_invariants(&self) {
            let r = &self.reassembler;
            let (pending, reserved) = (r.pending(), r.reserved_bytes());
            assert!(reserved <= MAX_REASSEMBLY_BYTES_TOTAL, "{reserved} bytes reserved");
            assert!(pending <= MAX_REASSEMBLIES, "{pending} buffers pending");
            // A partial buffer has at least two fragments (one fragment is `Whole`).
            assert!(reserved >= pending * (FRAGMENT_LEN + 1), "{reserved} bytes for {pending} partials");
            assert!(
                reserved <= pending * MAX_AUTHORITY_BUFFER_LEN,
                "{reserved} bytes for {pending} partials"
            );
            match r.next_deadline() {
                None => assert_eq!(pending, 0),
                Some(deadline) => {
                    assert!(pending > 0);
                    assert!(deadline <= self.now.saturating_add(REASSEMBLY_TIMEOUT), "deadline too far");
                }
            }
        }

        fn accept(&mut self, peer: u8, message_id: u32, split: SplitControls, length: usize) {
            let offset = usize::from(split.offset);
            let fragment = content(peer, message_id, offset..offset + length);
            let valid = split.check_fragment(length).is_ok();
            let size = usize::from(split.size);
            let r = &mut self.reassembler;
            let before = (r.pending(), r.reserved_bytes());
            let outcome = r.accept(self.now, peer, message_id, split, fragment);
            let after = (r.pending(), r.reserved_bytes());
            match outcome {
                Ok(Reassembled::Whole(whole)) => {
                    assert!(valid && split.offset == 0 && length == size, "Whole for {split:?} / {length}");
                    assert!(core::ptr::eq(whole, fragment), "Whole must be the fragment itself");
                    assert_eq!(after, before, "a Whole fragment must not touch the reassembler");
                }
                Ok(Reassembled::Complete(buffer)) => {
                    assert!(valid, "Complete for an invalid fragment {split:?} / {length}");
                    assert_eq!(buffer.len(), size, "Complete buffer of the wrong size");
                    let expected = content(peer, message_id, 0..size);
                    if buffer != expected {
                        let p = (0..size).find(|&p| buffer[p] != expected[p]).unwrap_or(size);
                        panic!("Complete buffer of peer {peer} message {message_id} wrong at byte {p}");
                    }
                    // The buffer was pending before this, its last fragment (one fragment is `Whole`).
                    assert!(after.0 < before.0 && after.1 + size <= before.1, "{before:?} -> {after:?}");
                }
                Ok(Reassembled::Pending) => {
                    assert!(valid, "Pending for an invalid fragment {split:?} / {length}");
                    assert!(after.0 >= 1 && after.1 >= size, "Pending but nothing reserved: {after:?}");
                }
                Err(FragmentError::BadSize) => {
                    assert!(!valid, "BadSize for a valid fragment {split:?} / {length}");
                    assert_eq!(after, before, "a rejected fragment changed the reassembler");
                }
                Err(e) => {
                    assert!(valid, "{e:?} for an invalid fragment {split:?} / {length}");
                    // Only the expiry `accept` runs first may have freed something.
                    assert!(after.0 <= before.0 && after.1 <= before.1, "{e:?}: {before:?} -> {after:?}");
                }
            }
            self.check_invariants();
        }

        fn forget(&mut self, peer: u8) {
            let before = self.reassembler.reserved_bytes();
            self.reassembler.forget_peer(peer);
            let freed = before - self.reassembler.reserved_bytes();
            assert!(freed <= MAX_REASSEMBLY_BYTES_PER_PEER, "peer {peer} held {freed} bytes");
            self.check_invariants();
        }

        fn run(&mut self, op: Op) {
            let step = Duration::from_millis(u64::from(op.step) * TIME_UNIT_MS);
            self.now = self.now.saturating_add(step);
            let message_id = u32::from(op.message_id);
            let size = usize::from(op.size);
            match op.kind {
                Kind::Accept => {
                    let split = SplitControls { size: op.size, offset: op.byte_offset() };
                    let required = FRAGMENT_LEN.min(size.saturating_sub(usize::from(split.offset)));
                    let length = op.length.map_or(required, usize::from);
                    self.accept(op.peer, message_id, split, length);
                }
                Kind::AcceptRun => {
                    let count = size.div_ceil(FRAGMENT_LEN).clamp(1, MAX_FRAGMENTS);
                    let first = usize::from(op.byte_offset()) / FRAGMENT_LEN;
                    let mut indexes: Vec<usize> = (first..count).collect();
                    if op.descending {
                        indexes.reverse();
                    }
                    for index in indexes {
                        let offset = index * FRAGMENT_LEN;
                        let split = SplitControls { size: op.size, offset: offset as u16 };
                        self.accept(
                            op.peer,
                            message_id,
                            split,
                            FRAGMENT_LEN.min(size.saturating_sub(offset)),
                        );
                    }
                }
                Kind::Expire => {
                    self.reassembler.expire(self.now);
                    if let Some(deadline) = self.reassembler.next_deadline() {
                        assert!(deadline > self.now, "expire({:?}) kept a buffer due {deadline:?}", self.now);
                    }
                    self.check_invariants();
                }
                Kind::ForgetPeer => self.forget(op.peer),
            }
        }
    }

    /// Runs the script in `data` (whole [`OP_LEN`]-byte operations, at most [`MAX_OPS`]; a
    /// shorter tail is ignored),
    /// checking the reassembler's invariants after every step, then forgets every peer and
    /// checks nothing is left.
    pub fn check(data: &[u8]) {
        let mut driver = Driver { reassembler: Reassembler::new(), now: Instant(0) };
        for chunk in data.chunks_exact(OP_LEN).take(MAX_OPS) {
            driver.run(Op::decode(chunk.try_into().expect("chunks_exact")));
        }
        for peer in 0..PEERS {
            driver.forget(peer);
        }
        assert_eq!(driver.reassembler.reserved_bytes(), 0);
        assert_eq!(driver.reassembler.pending(), 0);
        assert_eq!(driver.reassembler.next_deadline(), None);
    }
}
