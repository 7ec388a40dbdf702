//! The 12-byte message header shared by PNRP v4 and [MC-DRT].

use super::error::DecodeError;
use super::field;
use super::tlv::Writer;

/// Length of the header field, field header included.
pub const HEADER_LEN: usize = 12;
/// The header's Identifier byte.
pub const HEADER_IDENTIFIER: u8 = 0x51;

/// Protocol version bytes carried in every header and route entry.
///
/// PNRP uses 4.0; a DRT instance carries its application's `bProtocolMajor/MinorVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolVersion {
    /// Major version byte.
    pub major: u8,
    /// Minor version byte.
    pub minor: u8,
}

impl ProtocolVersion {
    /// PNRP's fixed version, 4.0.
    pub const PNRP: Self = Self { major: 4, minor: 0 };

    /// A version from its two bytes.
    pub const fn new(major: u8, minor: u8) -> Self {
        Self { major, minor }
    }
}

/// The eight message types of PNRP v4 / [MC-DRT].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Ask a peer for cache entries (bootstrap, synchronisation).
    Solicit = 0x01,
    /// Answer a SOLICIT with a list of IDs.
    Advertise = 0x02,
    /// Ask for the route entries of advertised IDs.
    Request = 0x03,
    /// Deliver (or revoke) a route entry to a neighbour.
    Flood = 0x04,
    /// Ask a publisher for its record, or check it is alive.
    Inquire = 0x07,
    /// Answer an INQUIRE or a LOOKUP (possibly in fragments).
    Authority = 0x08,
    /// Acknowledge an ACK-tracked message.
    Ack = 0x09,
    /// One iterative step of a search.
    Lookup = 0x0B,
}

impl MessageType {
    /// All message types, in wire-value order.
    pub const ALL: [Self; 8] = [
        Self::Solicit,
        Self::Advertise,
        Self::Request,
        Self::Flood,
        Self::Inquire,
        Self::Authority,
        Self::Ack,
        Self::Lookup,
    ];

    /// The type for a wire value.
    pub fn from_u8(value: u8) -> Result<Self, DecodeError> {
        Self::ALL.into_iter().find(|t| *t as u8 == value).ok_or(DecodeError::UnknownMessageType(value))
    }
}

/// The decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Protocol version bytes.
    pub version: ProtocolVersion,
    /// Message type.
    pub message_type: MessageType,
    /// Message ID: random, unique within a round-trip window; echoed in PNRP_HEADER_ACKED.
    pub message_id: u32,
}

impl Header {
    /// Parses the first 12 bytes of a datagram.
    pub fn decode(input: &[u8]) -> Result<Self, DecodeError> {
        let head: &[u8; HEADER_LEN] =
            input.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(DecodeError::Truncated)?;
        let [f0, f1, l0, l1, ident, major, minor, kind, id @ ..] = *head;
        if u16::from_be_bytes([f0, f1]) != field::HEADER
            || usize::from(u16::from_be_bytes([l0, l1])) != HEADER_LEN
            || ident != HEADER_IDENTIFIER
        {
            return Err(DecodeError::BadHeader);
        }
        Ok(Self {
            version: ProtocolVersion::new(major, minor),
            message_type: MessageType::from_u8(kind)?,
            message_id: u32::from_be_bytes(id),
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer<'_>) {
        w.field(field::HEADER, |w| {
            w.u8(HEADER_IDENTIFIER);
            w.u8(self.version.major);
            w.u8(self.version.minor);
            w.u8(self.message_type as u8);
            w.u32(self.message_id);
        });
    }
}
