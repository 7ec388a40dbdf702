//! Typed errors of the datagram codec.

use core::fmt;

/// Why a datagram (or an AUTHORITY buffer) was rejected.
///
/// Every malformed input maps to one of these; the decoder never panics and never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends before the header, a field header or a field body it announces.
    Truncated,
    /// The datagram is longer than [`super::MAX_DATAGRAM_LEN`].
    TooLong,
    /// The 12-byte message header is not `0x0010 / 0x000C / 0x51`.
    BadHeader,
    /// The header's message type is not one of the eight [MC-DRT] messages.
    UnknownMessageType(u8),
    /// The header carries a protocol version other than the one the caller expects.
    VersionMismatch {
        /// Version major byte found in the header.
        major: u8,
        /// Version minor byte found in the header.
        minor: u8,
    },
    /// A field appeared where the message grammar has no place for it.
    UnexpectedField {
        /// Field id found.
        found: u16,
    },
    /// A mandatory field is absent.
    MissingField {
        /// Field id that was expected.
        expected: u16,
    },
    /// A field's length is outside what its layout allows.
    BadFieldLength {
        /// Field id.
        field: u16,
        /// Length found (field header included).
        length: u16,
    },
    /// A field's content breaks its layout (counts, element types, reserved values).
    BadFieldValue {
        /// Field id.
        field: u16,
    },
    /// A count is over its protocol limit (addresses per route entry, IDs per array...).
    TooManyEntries {
        /// Field id.
        field: u16,
    },
    /// Non-zero bytes follow the last field.
    TrailingBytes,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("datagram truncated"),
            Self::TooLong => f.write_str("datagram longer than the protocol allows"),
            Self::BadHeader => f.write_str("bad message header"),
            Self::UnknownMessageType(t) => write!(f, "unknown message type {t:#04x}"),
            Self::VersionMismatch { major, minor } => {
                write!(f, "unexpected protocol version {major}.{minor}")
            }
            Self::UnexpectedField { found } => write!(f, "unexpected field {found:#06x}"),
            Self::MissingField { expected } => write!(f, "missing field {expected:#06x}"),
            Self::BadFieldLength { field, length } => {
                write!(f, "field {field:#06x} has bad length {length}")
            }
            Self::BadFieldValue { field } => write!(f, "field {field:#06x} has a bad value"),
            Self::TooManyEntries { field } => write!(f, "field {field:#06x} has too many entries"),
            Self::TrailingBytes => f.write_str("bytes after the last field"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The caller's buffer is too small; `needed` bytes would have been written.
    BufferTooSmall {
        /// Bytes the whole encoding needs.
        needed: usize,
    },
    /// A value is outside what the wire format can carry (too many addresses, a field too long,
    /// an empty list where one entry is required...).
    InvalidValue {
        /// Field id of the offending field.
        field: u16,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => write!(f, "buffer too small: {needed} bytes needed"),
            Self::InvalidValue { field } => write!(f, "value for field {field:#06x} out of range"),
        }
    }
}

impl core::error::Error for EncodeError {}
