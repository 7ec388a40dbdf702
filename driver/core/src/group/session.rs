//! Sealed traffic between two connected members: once the handshake ([`super::handshake`]) has
//! agreed a key per direction, every datagram between the two is encrypted and authenticated
//! with ChaCha20-Poly1305, so a third party on the path reads nothing of the records and can
//! neither alter, forge nor replay a message.
//!
//! ```text
//! sealed frame: magic "PG"(2) version(1) type 0x0e(1) group tag(8) counter(8)   (big-endian)
//!               ChaCha20-Poly1305(inner type(1) ‖ inner message id(4) ‖ body)  ‖  tag(16)
//! ```
//!
//! The 20-byte header is the associated data; the AEAD nonce is the direction's counter (four
//! zero bytes, then the counter), which the sender increments for every frame, retransmissions
//! included, so a nonce is never reused under a key. The group tag stays in the clear where it
//! always is (bytes 4..12) so the host routes a frame to its group without opening it. The
//! receiver keeps a window of the last [`REPLAY_WINDOW`] counters: a frame delayed and
//! reordered inside the window is accepted once, a repeat or anything older is refused.

use alloc::vec::Vec;
use core::fmt;

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce, Tag};

use super::id::GroupTag;
use super::limits::{MAX_MESSAGE_LEN, REPLAY_WINDOW};
use super::wire::{HEADER_LEN, MAGIC, VERSION};

/// The type byte of a sealed frame.
pub const SEALED_TYPE: u8 = 0x0e;
/// Length of a sealed frame's clear header (the associated data).
pub const SEALED_HEADER_LEN: usize = 2 + 1 + 1 + 8 + 8;
/// Length of the Poly1305 tag at the end of a sealed frame.
pub const AEAD_TAG_LEN: usize = 16;
/// Length of the sealed part of a frame that carries the inner message's type and ID.
const INNER_PREFIX_LEN: usize = 1 + 4;
/// Bytes a sealed frame adds to the clear message it carries: its header and tag, less the
/// clear header's magic, version and group tag, which the frame's header already holds.
pub const SEAL_OVERHEAD: usize = SEALED_HEADER_LEN + AEAD_TAG_LEN + INNER_PREFIX_LEN - HEADER_LEN;
/// Longest sealed frame: one carrying a clear message of [`MAX_MESSAGE_LEN`].
pub const MAX_SEALED_LEN: usize = MAX_MESSAGE_LEN + SEAL_OVERHEAD;
/// Length of one direction's key.
pub const KEY_LEN: usize = 32;

const _: () = assert!(REPLAY_WINDOW >= 1 && REPLAY_WINDOW <= 64, "the window is one u64 bitmap");

/// Why a sealed frame was refused. Every refusal leaves the session as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Longer than [`MAX_SEALED_LEN`].
    TooLong,
    /// Shorter than a header, the inner type and ID, and a tag.
    Truncated,
    /// Not "PG" of this version with the sealed type.
    NotSealed,
    /// The tag does not verify: another key, or a byte changed on the way.
    Unauthentic,
    /// This counter was already accepted.
    Replayed,
    /// The counter is [`REPLAY_WINDOW`] or more behind the newest accepted one.
    TooOld,
    /// The message to seal is not a clear group message of this session's group.
    NotAMessage,
    /// The sending counter is used up (after 2^64 frames; unreachable in practice).
    Exhausted,
}

/// A sealed frame's parts, borrowed from the datagram. Parsing checks only the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedFrame<'a> {
    /// The group it belongs to.
    pub tag: GroupTag,
    /// The sender's counter (the AEAD nonce).
    pub counter: u64,
    /// The clear header, authenticated as associated data.
    pub header: &'a [u8],
    /// The encrypted inner type, ID and body.
    pub ciphertext: &'a [u8],
    /// The Poly1305 tag.
    pub aead_tag: &'a [u8; AEAD_TAG_LEN],
}

impl<'a> SealedFrame<'a> {
    /// Whether `bytes` claim to be a sealed frame (magic, version and type); a datagram that does
    /// not is a clear group message or nothing.
    pub fn is_sealed(bytes: &[u8]) -> bool {
        bytes.len() >= 4 && bytes[..2] == MAGIC && bytes[2] == VERSION && bytes[3] == SEALED_TYPE
    }

    /// Splits a datagram into a sealed frame's parts; allocates nothing, never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, SealError> {
        if bytes.len() > MAX_SEALED_LEN {
            return Err(SealError::TooLong);
        }
        if bytes.len() < 4 {
            return Err(SealError::Truncated);
        }
        if !Self::is_sealed(bytes) {
            return Err(SealError::NotSealed);
        }
        if bytes.len() < SEALED_HEADER_LEN + INNER_PREFIX_LEN + AEAD_TAG_LEN {
            return Err(SealError::Truncated);
        }
        let (header, rest) = bytes.split_at(SEALED_HEADER_LEN);
        let (ciphertext, aead_tag) = rest.split_at(rest.len() - AEAD_TAG_LEN);
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&header[4..12]);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(&header[12..20]);
        let aead_tag = aead_tag.try_into().map_err(|_| SealError::Truncated)?;
        Ok(Self { tag: GroupTag(tag), counter: u64::from_be_bytes(counter), header, ciphertext, aead_tag })
    }
}

/// The receiving side's memory of counters: the newest accepted and a bitmap of the
/// [`REPLAY_WINDOW`] counters up to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayWindow {
    /// The newest accepted counter, if any was.
    newest: Option<u64>,
    /// Bit `i` set: counter `newest - i` was accepted.
    seen: u64,
}

impl ReplayWindow {
    /// Whether a frame with `counter` may be accepted (its tag still has to verify).
    pub fn check(&self, counter: u64) -> Result<(), SealError> {
        let Some(newest) = self.newest else { return Ok(()) };
        if counter > newest {
            return Ok(());
        }
        let behind = newest - counter;
        if behind >= REPLAY_WINDOW {
            return Err(SealError::TooOld);
        }
        if self.seen & (1 << behind) != 0 {
            return Err(SealError::Replayed);
        }
        Ok(())
    }

    /// Records `counter` as accepted (after [`ReplayWindow::check`] and the tag passed).
    pub fn accept(&mut self, counter: u64) {
        match self.newest {
            Some(newest) if counter <= newest => self.seen |= 1 << (newest - counter),
            Some(newest) => {
                let ahead = counter - newest;
                self.seen = if ahead >= 64 { 0 } else { self.seen << ahead };
                self.seen |= 1;
                self.newest = Some(counter);
            }
            None => {
                self.seen = 1;
                self.newest = Some(counter);
            }
        }
    }
}

/// The two keys of a connection, as one side sees them.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    /// The key of what this side sends.
    pub send: [u8; KEY_LEN],
    /// The key of what this side receives.
    pub receive: [u8; KEY_LEN],
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

/// Counts of datagrams refused by the sealing layer, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejects {
    /// Malformed sealed frames (truncated, too long).
    pub malformed: u64,
    /// Frames whose tag did not verify (wrong key, tampered).
    pub unauthentic: u64,
    /// Frames whose counter was already accepted.
    pub replayed: u64,
    /// Frames behind the replay window.
    pub too_old: u64,
    /// Clear messages from a member that must seal them.
    pub unsealed: u64,
}

impl Rejects {
    /// Counts one refusal.
    pub fn count(&mut self, error: SealError) {
        match error {
            SealError::Unauthentic => self.unauthentic += 1,
            SealError::Replayed => self.replayed += 1,
            SealError::TooOld => self.too_old += 1,
            SealError::TooLong | SealError::Truncated | SealError::NotSealed => self.malformed += 1,
            SealError::NotAMessage | SealError::Exhausted => {}
        }
    }
}

/// One connection's sealing state: a cipher per direction, the next counter to send, and the
/// replay window of what was received.
#[derive(Clone)]
pub struct Session {
    sender: ChaCha20Poly1305,
    receiver: ChaCha20Poly1305,
    next_counter: u64,
    window: ReplayWindow,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("next_counter", &self.next_counter)
            .field("window", &self.window)
            .finish()
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut nonce = Nonce::default();
    nonce[4..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

impl Session {
    /// A session with these keys, nothing sent or received yet.
    pub fn new(keys: &SessionKeys) -> Self {
        Self {
            sender: ChaCha20Poly1305::new(Key::from_slice(&keys.send)),
            receiver: ChaCha20Poly1305::new(Key::from_slice(&keys.receive)),
            next_counter: 0,
            window: ReplayWindow::default(),
        }
    }

    /// Seals an encoded clear group message (`wire::Message::encode`) into a frame.
    pub fn seal(&mut self, clear: &[u8]) -> Result<Vec<u8>, SealError> {
        if clear.len() < HEADER_LEN
            || clear.len() > MAX_MESSAGE_LEN
            || clear[..2] != MAGIC
            || clear[2] != VERSION
        {
            return Err(SealError::NotAMessage);
        }
        let counter = self.next_counter;
        let next = counter.checked_add(1).ok_or(SealError::Exhausted)?;
        let mut out = Vec::with_capacity(clear.len() + SEAL_OVERHEAD);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(SEALED_TYPE);
        out.extend_from_slice(&clear[4..12]);
        out.extend_from_slice(&counter.to_be_bytes());
        out.push(clear[3]);
        out.extend_from_slice(&clear[12..]);
        let (header, body) = out.split_at_mut(SEALED_HEADER_LEN);
        let tag = self
            .sender
            .encrypt_in_place_detached(&nonce(counter), header, body)
            .map_err(|_| SealError::TooLong)?;
        out.extend_from_slice(&tag);
        self.next_counter = next;
        Ok(out)
    }

    /// Opens a frame: checks the replay window and the tag, and returns the clear message it
    /// carries (as `wire::Message::encode` made it). On any error the session is unchanged.
    pub fn open(&mut self, frame: &SealedFrame<'_>) -> Result<Vec<u8>, SealError> {
        self.window.check(frame.counter)?;
        let mut inner = frame.ciphertext.to_vec();
        self.receiver
            .decrypt_in_place_detached(
                &nonce(frame.counter),
                frame.header,
                &mut inner,
                Tag::from_slice(frame.aead_tag),
            )
            .map_err(|_| SealError::Unauthentic)?;
        self.window.accept(frame.counter);
        // The ciphertext holds at least the inner type and ID (SealedFrame::decode checks it).
        let (kind, id_and_body) = inner.split_first().ok_or(SealError::Truncated)?;
        let mut clear = Vec::with_capacity(HEADER_LEN - INNER_PREFIX_LEN + inner.len());
        clear.extend_from_slice(&MAGIC);
        clear.push(VERSION);
        clear.push(*kind);
        clear.extend_from_slice(&frame.tag.0);
        clear.extend_from_slice(id_and_body);
        Ok(clear)
    }

    /// Frames sealed so far.
    pub fn sealed(&self) -> u64 {
        self.next_counter
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::group::wire::{Body, Message};

    const TAG: GroupTag = GroupTag([7; 8]);

    fn pair() -> (Session, Session) {
        let a = SessionKeys { send: [1; 32], receive: [2; 32] };
        let b = SessionKeys { send: [2; 32], receive: [1; 32] };
        (Session::new(&a), Session::new(&b))
    }

    fn message(id: u32) -> Vec<u8> {
        Message { tag: TAG, id, body: Body::Ack(id ^ 0xffff) }.encode()
    }

    fn open(session: &mut Session, bytes: &[u8]) -> Result<Vec<u8>, SealError> {
        session.open(&SealedFrame::decode(bytes)?)
    }

    #[test]
    fn a_sealed_message_opens_to_itself_on_the_other_side_only() {
        let (mut alice, mut bob) = pair();
        let clear = message(5);
        let sealed = alice.seal(&clear).unwrap();
        assert_eq!(sealed.len(), clear.len() + SEAL_OVERHEAD);
        assert!(SealedFrame::is_sealed(&sealed));
        assert_eq!(&sealed[4..12], &TAG.0, "the group tag stays where the host routes by it");
        assert_eq!(open(&mut bob, &sealed), Ok(clear.clone()));
        // Alice's own receiving key is the other direction's: she cannot open her own frame.
        assert_eq!(open(&mut alice, &sealed), Err(SealError::Unauthentic));
        let (_, mut stranger) = {
            let keys = SessionKeys { send: [9; 32], receive: [9; 32] };
            (0, Session::new(&keys))
        };
        assert_eq!(open(&mut stranger, &sealed), Err(SealError::Unauthentic), "a wrong key opens nothing");
    }

    #[test]
    fn every_altered_byte_is_refused_and_leaves_the_window_as_it_was() {
        let (mut alice, mut bob) = pair();
        let sealed = alice.seal(&message(1)).unwrap();
        for index in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            let result = open(&mut bob, &tampered);
            assert!(result.is_err(), "byte {index} changed and still accepted");
        }
        assert_eq!(
            open(&mut bob, &sealed),
            Ok(message(1)),
            "the genuine frame still opens after the forgeries"
        );
    }

    #[test]
    fn truncated_frames_are_refused() {
        let (mut alice, mut bob) = pair();
        let sealed = alice.seal(&message(1)).unwrap();
        for len in 0..sealed.len() {
            assert!(open(&mut bob, &sealed[..len]).is_err(), "a frame cut to {len} bytes was accepted");
        }
        assert_eq!(
            SealedFrame::decode(&sealed[..SEALED_HEADER_LEN + INNER_PREFIX_LEN + AEAD_TAG_LEN - 1]),
            Err(SealError::Truncated)
        );
        assert_eq!(SealedFrame::decode(&vec![0; MAX_SEALED_LEN + 1]), Err(SealError::TooLong));
        assert_eq!(open(&mut bob, &sealed), Ok(message(1)));
    }

    #[test]
    fn a_replay_is_refused_and_a_frame_reordered_within_the_window_is_accepted_once() {
        let (mut alice, mut bob) = pair();
        let frames: Vec<Vec<u8>> =
            (0..=REPLAY_WINDOW as u32 + 1).map(|i| alice.seal(&message(i)).unwrap()).collect();
        assert_eq!(open(&mut bob, &frames[1]), Ok(message(1)));
        assert_eq!(open(&mut bob, &frames[1]), Err(SealError::Replayed));
        assert_eq!(open(&mut bob, &frames[0]), Ok(message(0)), "an earlier frame that arrives late");
        assert_eq!(open(&mut bob, &frames[0]), Err(SealError::Replayed));

        // Newest accepted: REPLAY_WINDOW. Counter 1 is REPLAY_WINDOW - 1 behind (the window's
        // last slot, accepted once); counter 0 would be REPLAY_WINDOW behind (one past it).
        let (mut alice, mut bob) = pair();
        let frames: Vec<Vec<u8>> =
            (0..=REPLAY_WINDOW as u32).map(|i| alice.seal(&message(i)).unwrap()).collect();
        let newest = REPLAY_WINDOW as usize;
        assert_eq!(open(&mut bob, &frames[newest]), Ok(message(newest as u32)));
        assert_eq!(open(&mut bob, &frames[1]), Ok(message(1)), "at the window's edge");
        assert_eq!(open(&mut bob, &frames[1]), Err(SealError::Replayed));
        assert_eq!(open(&mut bob, &frames[0]), Err(SealError::TooOld), "one past the window's edge");
    }

    #[test]
    fn the_window_slides_with_the_newest_counter() {
        let mut window = ReplayWindow::default();
        assert_eq!(window.check(0), Ok(()));
        window.accept(0);
        window.accept(1000);
        assert_eq!(window.check(0), Err(SealError::TooOld));
        assert_eq!(window.check(1000), Err(SealError::Replayed));
        assert_eq!(window.check(1000 - REPLAY_WINDOW + 1), Ok(()));
        assert_eq!(window.check(1000 - REPLAY_WINDOW), Err(SealError::TooOld));
        window.accept(1001);
        assert_eq!(window.check(1000), Err(SealError::Replayed), "remembered after the slide");
    }

    #[test]
    fn rejects_are_counted_by_reason() {
        let mut rejects = Rejects::default();
        for error in [SealError::Unauthentic, SealError::Replayed, SealError::TooOld, SealError::Truncated] {
            rejects.count(error);
        }
        assert_eq!(rejects, Rejects { malformed: 1, unauthentic: 1, replayed: 1, too_old: 1, unsealed: 0 });
    }
}
