//! The group message codec: one message per datagram, in the spirit of [MS-PPGRH]'s
//! PEER_MESSAGE set (SOLICIT_HASH, ADVERTISE, REQUEST, FLOOD, ACK…), carried over the driver's
//! datagram path instead of TCP.
//!
//! ```text
//! header: magic "PG"(2) version(1) type(1) group tag(8) message id(4)     (big-endian)
//! ```
//!
//! Between connected members every message but the handshake's travels inside a sealed frame
//! (type 0x0e, [`super::session`]), which this codec does not decode: the member opens the frame
//! and decodes the clear message it carries.
//!
//! Decoding borrows from the datagram, never panics and allocates nothing; every count is
//! bounded by a named limit before anything is read.

use alloc::vec::Vec;

use super::handshake::{Ephemeral, Nonce, PROOF_LEN};
use super::id::{GroupTag, RecordId, SyncKey};
use super::limits::{MAX_ABSTRACTS, MAX_MESSAGE_LEN, MAX_RANGE_DEPTH, MAX_REQUEST_IDS, RANGE_FANOUT};
use super::membership::{CERTIFICATE_LEN, MembershipCertificate};
use super::password::{PASSWORD_PROOF_LEN, PasswordProof};
use super::range::{Range, RangeDigest};
use super::record::{RecordError, RecordView};
use super::time::PeerTime;

/// The first two bytes of every group message.
pub const MAGIC: [u8; 2] = *b"PG";
/// The protocol version byte (2: handshakes agree session keys and clocks, and connected
/// members seal every message, `session.rs`; 3: the WELCOME answers the HELLO, which is no
/// longer acknowledged, and is sent once per HELLO rather than retransmitted).
pub const VERSION: u8 = 3;
/// Length of the message header.
pub const HEADER_LEN: usize = 16;
/// Length of one encoded [`Abstract`].
pub const ABSTRACT_LEN: usize = 16 + 4 + 8;
/// Length of one encoded [`Range`].
pub const RANGE_LEN: usize = 1 + 16;
/// Length of one encoded [`RangeDigest`].
pub const DIGEST_LEN: usize = 16 + 4;

/// Why a datagram is not a group message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Longer than [`MAX_MESSAGE_LEN`].
    TooLong,
    /// Ends before a field does.
    Truncated,
    /// Not "PG" version 1.
    NotGroupMessage,
    /// An unknown message type.
    UnknownType(u8),
    /// A count over its limit.
    TooMany,
    /// A field with an impossible value.
    InvalidField,
    /// A record that does not decode.
    Record(RecordError),
    /// Bytes after the message.
    TrailingBytes,
}

/// Why a member refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    /// The certificate does not make the sender a member.
    NotMember = 1,
    /// The refusing member has [`super::limits::MAX_CONNECTIONS`] connections.
    Full = 2,
    /// A password proof did not hold (wrong password, stale challenge, too many failures).
    AuthenticationFailed = 3,
    /// The refusing member grants no password memberships (the group has no password
    /// authentication, or this member does not hold the root).
    NoPasswordAuthentication = 4,
    /// The two members' peer times differ by more than
    /// [`super::limits::MAX_CLOCK_SKEW`] (PEER_E_INVALID_TIME_PERIOD).
    ClockSkew = 5,
}

/// One record's place in the sync order: its ID, version and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Abstract {
    /// Record ID.
    pub id: RecordId,
    /// Version.
    pub version: u32,
    /// Last modification time.
    pub modified: PeerTime,
}

/// A checked run of encoded abstracts, borrowed from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abstracts<'a>(&'a [u8]);

impl<'a> Abstracts<'a> {
    /// Encodes `items` (at most [`MAX_ABSTRACTS`]; the caller bounds it).
    pub fn encode(items: &[Abstract]) -> Vec<u8> {
        let mut out = Vec::with_capacity(items.len() * ABSTRACT_LEN);
        for item in items {
            out.extend_from_slice(&item.id.0);
            out.extend_from_slice(&item.version.to_be_bytes());
            out.extend_from_slice(&item.modified.0.to_be_bytes());
        }
        out
    }

    /// Wraps encoded abstracts.
    pub fn from_encoded(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len().is_multiple_of(ABSTRACT_LEN) && bytes.len() / ABSTRACT_LEN <= MAX_ABSTRACTS)
            .then_some(Self(bytes))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len() / ABSTRACT_LEN
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The abstracts in order.
    pub fn iter(&self) -> impl Iterator<Item = Abstract> + 'a {
        self.0.chunks_exact(ABSTRACT_LEN).map(|c| {
            let mut r = Reader::new(c);
            // The chunk has exactly ABSTRACT_LEN bytes, so every read succeeds.
            let id = RecordId(r.array().unwrap_or_default());
            let version = r.u32().unwrap_or_default();
            let modified = PeerTime(r.u64().unwrap_or_default());
            Abstract { id, version, modified }
        })
    }
}

/// A checked run of encoded record IDs, borrowed from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids<'a>(&'a [u8]);

impl<'a> Ids<'a> {
    /// Encodes `ids` (at most [`MAX_REQUEST_IDS`]; the caller bounds it).
    pub fn encode(ids: &[RecordId]) -> Vec<u8> {
        ids.iter().flat_map(|id| id.0).collect()
    }

    /// Wraps encoded IDs.
    pub fn from_encoded(bytes: &'a [u8]) -> Option<Self> {
        (bytes.len().is_multiple_of(16) && bytes.len() / 16 <= MAX_REQUEST_IDS).then_some(Self(bytes))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len() / 16
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The IDs in order.
    pub fn iter(&self) -> impl Iterator<Item = RecordId> + 'a {
        self.0.chunks_exact(16).map(|c| RecordId(c.try_into().unwrap_or_default()))
    }
}

/// A checked run of encoded records, borrowed from a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Records<'a> {
    bytes: &'a [u8],
    count: usize,
}

impl<'a> Records<'a> {
    /// Wraps records encoded back to back; every one must decode.
    pub fn from_encoded(bytes: &'a [u8]) -> Result<Self, RecordError> {
        let mut rest = bytes;
        let mut count = 0;
        while !rest.is_empty() {
            rest = RecordView::decode(rest)?.1;
            count += 1;
        }
        Ok(Self { bytes, count })
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records in order.
    pub fn iter(&self) -> impl Iterator<Item = RecordView<'a>> + 'a {
        let mut rest = self.bytes;
        core::iter::from_fn(move || {
            let (view, after) = RecordView::decode(rest).ok()?;
            rest = after;
            Some(view)
        })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body<'a> {
    /// A member asks to connect, showing its certificate, a nonce, its ephemeral key and its
    /// peer time.
    Hello {
        /// The connecting member's certificate.
        certificate: MembershipCertificate,
        /// Its nonce (in the transcript both sides sign).
        nonce: Nonce,
        /// Its ephemeral X25519 public key.
        ephemeral: Ephemeral,
        /// Its peer time when it connected.
        clock: PeerTime,
    },
    /// The answer: the accepting member's certificate, nonce, ephemeral key, peer time, and its
    /// signature over the handshake's transcript.
    Welcome {
        /// The accepting member's certificate.
        certificate: MembershipCertificate,
        /// Its nonce.
        nonce: Nonce,
        /// Its ephemeral X25519 public key.
        ephemeral: Ephemeral,
        /// Its peer time when it answered.
        clock: PeerTime,
        /// Its signature over the transcript (`handshake::Transcript`).
        proof: [u8; PROOF_LEN],
    },
    /// The connecting member's signature over the transcript.
    Proof([u8; PROOF_LEN]),
    /// The connection is refused.
    Refuse(RefuseReason),
    /// The sender closes the connection.
    Disconnect,
    /// Acknowledges the reliable message with this ID.
    Ack(u32),
    /// SOLICIT_HASH: "send me your digests of the children of this range".
    SolicitHash(Range),
    /// The children's digests (hash and count) of a range.
    Hashes {
        /// The range whose children these are.
        range: Range,
        /// One digest per child, in order.
        children: [RangeDigest; RANGE_FANOUT],
    },
    /// "List me your records in this range."
    SolicitAbstracts(Range),
    /// ADVERTISE: the sender's records in a range.
    Advertise {
        /// The range.
        range: Range,
        /// Its records.
        abstracts: Abstracts<'a>,
    },
    /// REQUEST: send these records.
    Request(Ids<'a>),
    /// FLOOD: a new or changed record.
    Flood(RecordView<'a>),
    /// The answer to a REQUEST: the records that fit, and the IDs the sender no longer has.
    Records {
        /// Records.
        records: Records<'a>,
        /// IDs not held (expired meanwhile).
        gone: Ids<'a>,
    },
    /// A password joiner asks for a challenge (see [`super::password`]).
    PasswordHello {
        /// The joiner's member key.
        member: super::id::MemberKey,
        /// The joiner's nonce.
        nonce: Nonce,
    },
    /// The granting member's challenge for that HELLO.
    PasswordChallenge {
        /// The joiner's nonce, echoed.
        nonce: Nonce,
        /// The challenge to sign.
        challenge: Nonce,
    },
    /// The joiner's answer.
    PasswordProof(PasswordProof),
    /// The certificate the root issued for the joiner.
    PasswordGrant(MembershipCertificate),
}

impl Body<'_> {
    /// The message type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            Body::Hello { .. } => 0x01,
            Body::Welcome { .. } => 0x02,
            Body::Proof(_) => 0x0d,
            Body::Refuse(_) => 0x03,
            Body::Disconnect => 0x04,
            Body::Ack(_) => 0x05,
            Body::SolicitHash(_) => 0x06,
            Body::Hashes { .. } => 0x07,
            Body::SolicitAbstracts(_) => 0x08,
            Body::Advertise { .. } => 0x09,
            Body::Request(_) => 0x0a,
            Body::Flood(_) => 0x0b,
            Body::Records { .. } => 0x0c,
            // 0x0e is a sealed frame (`session.rs`).
            Body::PasswordHello { .. } => 0x0f,
            Body::PasswordChallenge { .. } => 0x10,
            Body::PasswordProof(_) => 0x11,
            Body::PasswordGrant(_) => 0x12,
        }
    }

    /// Whether the message travels in the clear: the handshake (HELLO, WELCOME, PROOF, REFUSE)
    /// and the password exchange (a joiner shares no keys yet; its messages are signed). Every
    /// other message between connected members is sealed.
    pub fn is_handshake(&self) -> bool {
        Self::is_handshake_type(self.type_byte())
    }

    /// [`Body::is_handshake`] by the type byte of an encoded message.
    pub fn is_handshake_type(kind: u8) -> bool {
        matches!(kind, 0x01 | 0x02 | 0x0d | 0x03 | 0x0f..=0x12)
    }

    /// Whether the message is acknowledged and retransmitted (everything but ACK, REFUSE,
    /// DISCONNECT and the password exchange, which the joiner repeats from its HELLO).
    pub fn is_reliable(&self) -> bool {
        !matches!(
            self,
            Body::Ack(_)
                | Body::Refuse(_)
                | Body::Disconnect
                | Body::PasswordHello { .. }
                | Body::PasswordChallenge { .. }
                | Body::PasswordProof(_)
                | Body::PasswordGrant(_)
        )
    }
}

/// A decoded group message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The group it belongs to.
    pub tag: GroupTag,
    /// Its ID (unique per sender and connection for reliable messages, 0 otherwise).
    pub id: u32,
    /// The body.
    pub body: Body<'a>,
}

impl<'a> Message<'a> {
    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 64);
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(self.body.type_byte());
        out.extend_from_slice(&self.tag.0);
        out.extend_from_slice(&self.id.to_be_bytes());
        match &self.body {
            Body::Hello { certificate, nonce, ephemeral, clock } => {
                out.extend_from_slice(&certificate.to_bytes());
                out.extend_from_slice(nonce);
                out.extend_from_slice(ephemeral);
                out.extend_from_slice(&clock.0.to_be_bytes());
            }
            Body::Welcome { certificate, nonce, ephemeral, clock, proof } => {
                out.extend_from_slice(&certificate.to_bytes());
                out.extend_from_slice(nonce);
                out.extend_from_slice(ephemeral);
                out.extend_from_slice(&clock.0.to_be_bytes());
                out.extend_from_slice(proof);
            }
            Body::Proof(proof) => out.extend_from_slice(proof),
            Body::Refuse(reason) => out.push(*reason as u8),
            Body::Disconnect => {}
            Body::Ack(id) => out.extend_from_slice(&id.to_be_bytes()),
            Body::SolicitHash(range) | Body::SolicitAbstracts(range) => range.encode(&mut out),
            Body::Hashes { range, children } => {
                range.encode(&mut out);
                for child in children {
                    out.extend_from_slice(&child.hash);
                    out.extend_from_slice(&child.count.to_be_bytes());
                }
            }
            Body::Advertise { range, abstracts } => {
                range.encode(&mut out);
                out.extend_from_slice(&(abstracts.len() as u16).to_be_bytes());
                out.extend_from_slice(abstracts.0);
            }
            Body::Request(ids) => {
                out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
                out.extend_from_slice(ids.0);
            }
            Body::Flood(record) => record.encode(&mut out),
            Body::Records { records, gone } => {
                out.extend_from_slice(&(records.len() as u16).to_be_bytes());
                out.extend_from_slice(records.bytes);
                out.extend_from_slice(&(gone.len() as u16).to_be_bytes());
                out.extend_from_slice(gone.0);
            }
            Body::PasswordHello { member, nonce } => {
                out.extend_from_slice(member);
                out.extend_from_slice(nonce);
            }
            Body::PasswordChallenge { nonce, challenge } => {
                out.extend_from_slice(nonce);
                out.extend_from_slice(challenge);
            }
            Body::PasswordProof(proof) => out.extend_from_slice(&proof.to_bytes()),
            Body::PasswordGrant(certificate) => out.extend_from_slice(&certificate.to_bytes()),
        }
        out
    }

    /// Decodes one datagram.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE_LEN {
            return Err(DecodeError::TooLong);
        }
        let mut r = Reader::new(bytes);
        if r.array::<2>()? != MAGIC || r.u8()? != VERSION {
            return Err(DecodeError::NotGroupMessage);
        }
        let kind = r.u8()?;
        let tag = GroupTag(r.array()?);
        let id = r.u32()?;
        let certificate = |r: &mut Reader<'a>| {
            MembershipCertificate::from_bytes(r.take(CERTIFICATE_LEN)?).map_err(|_| DecodeError::InvalidField)
        };
        let body = match kind {
            0x01 => Body::Hello {
                certificate: certificate(&mut r)?,
                nonce: r.array()?,
                ephemeral: r.array()?,
                clock: PeerTime(r.u64()?),
            },
            0x02 => Body::Welcome {
                certificate: certificate(&mut r)?,
                nonce: r.array()?,
                ephemeral: r.array()?,
                clock: PeerTime(r.u64()?),
                proof: r.array()?,
            },
            0x0d => Body::Proof(r.array()?),
            0x03 => Body::Refuse(match r.u8()? {
                1 => RefuseReason::NotMember,
                2 => RefuseReason::Full,
                3 => RefuseReason::AuthenticationFailed,
                4 => RefuseReason::NoPasswordAuthentication,
                5 => RefuseReason::ClockSkew,
                _ => return Err(DecodeError::InvalidField),
            }),
            0x04 => Body::Disconnect,
            0x05 => Body::Ack(r.u32()?),
            0x06 => Body::SolicitHash(Range::decode(&mut r)?),
            0x07 => {
                let range = Range::decode(&mut r)?;
                let mut children = [RangeDigest::EMPTY; RANGE_FANOUT];
                for child in &mut children {
                    child.hash = r.array()?;
                    child.count = r.u32()?;
                }
                Body::Hashes { range, children }
            }
            0x08 => Body::SolicitAbstracts(Range::decode(&mut r)?),
            0x09 => {
                let range = Range::decode(&mut r)?;
                let count = usize::from(r.u16()?);
                if count > MAX_ABSTRACTS {
                    return Err(DecodeError::TooMany);
                }
                Body::Advertise { range, abstracts: Abstracts(r.take(count * ABSTRACT_LEN)?) }
            }
            0x0a => Body::Request(ids(&mut r)?),
            0x0b => {
                let (record, rest) = RecordView::decode(r.rest()).map_err(DecodeError::Record)?;
                r = Reader::new(rest);
                Body::Flood(record)
            }
            0x0c => {
                let count = usize::from(r.u16()?);
                let start = r.rest();
                let mut rest = start;
                for _ in 0..count {
                    rest = RecordView::decode(rest).map_err(DecodeError::Record)?.1;
                }
                let used = start.len() - rest.len();
                let records = Records { bytes: &start[..used], count };
                r = Reader::new(rest);
                Body::Records { records, gone: ids(&mut r)? }
            }
            0x0f => Body::PasswordHello { member: r.array()?, nonce: r.array()? },
            0x10 => Body::PasswordChallenge { nonce: r.array()?, challenge: r.array()? },
            0x11 => Body::PasswordProof(PasswordProof::from_bytes(&r.array::<PASSWORD_PROOF_LEN>()?)),
            0x12 => Body::PasswordGrant(certificate(&mut r)?),
            other => return Err(DecodeError::UnknownType(other)),
        };
        if !r.rest().is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Ok(Self { tag, id, body })
    }
}

fn ids<'a>(r: &mut Reader<'a>) -> Result<Ids<'a>, DecodeError> {
    let count = usize::from(r.u16()?);
    if count > MAX_REQUEST_IDS {
        return Err(DecodeError::TooMany);
    }
    Ok(Ids(r.take(count * 16)?))
}

impl Range {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.depth());
        out.extend_from_slice(&self.prefix().0);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let depth = r.u8()?;
        let prefix = SyncKey(r.array()?);
        if depth > MAX_RANGE_DEPTH {
            return Err(DecodeError::InvalidField);
        }
        Range::new(depth, prefix).ok_or(DecodeError::InvalidField)
    }
}

/// A bounds-checked big-endian reader over borrowed bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `len` bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.rest.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A big-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// A big-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}
